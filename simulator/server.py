"""GelatoSimulator: a threaded werkzeug server imitating Gelato's REST API, for tests and demos.

API paths are served under `/<service>/...` (service: order, product, ecommerce, shipment), so
the client's URL template is `http://host:port/{service}`. A control API lives under
`/_simulator/`. State is per instance and guarded by one lock.

Rate limit: with `rate_limit` (requests per second), each API key has a token bucket holding at
most `rate_burst` requests (default: `rate_limit`, at least 1); an API request that finds it
empty is answered 429 `too_many_requests` (the '429' fault's answer) with a `Retry-After` of
the whole seconds until a token is back (at least 1), is still recorded in `requests`, and is
counted in `throttled`. Gelato answers 429 to a client that sends too many requests and asks it
to back off exponentially, without publishing a figure (https://dashboard.gelato.com/docs/).
Control routes (`/_simulator/...`) and preview downloads are never limited.
"""
import copy
import functools
import json
import logging
import math
import re
import socket
import threading
import time
import uuid
import zlib
from urllib.parse import quote

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from . import data
from .api import ApiError, ApiHandlers, json_response, public_order
from .webhooks import build_event, fulfillment, now_iso, send_webhook

_logger = logging.getLogger(__name__)

FAULT_KINDS = ('down', 'slow', '429', '500', '503', 'garbage', 'no_id')
PREVIEW_KINDS = ('ok', 'broken', 'html', 'huge', 'redirect_private', 'redirect_scheme', 'drip',
                 'gzip_bomb')
HUGE_PREVIEW_SIZE = 11 * 1024 * 1024
# What Gelato answers a client over its rate limit (also the '429' fault's answer).
TOO_MANY_REQUESTS = (429, 'too_many_requests', 'Too many requests, please retry later')
# `drip`: a valid picture sent one byte at a time, this many seconds apart.
DRIP_INTERVAL = 0.2
PRINT_FILE_MAX_BYTES = 64 * 1024 * 1024  # What the item previews download at most.
# `gzip_bomb`: a small gzip body (about 130 KB) that inflates to this many bytes.
GZIP_BOMB_SIZE = 128 * 1024 * 1024


class _DropConnection(ConnectionError):
    """Raised from the WSGI app: werkzeug then drops the connection without a response."""


class _QuietHandler(WSGIRequestHandler):
    """Keeps connections alive, as Gelato's API does: a client may send many calls over one
    connection. werkzeug's development server (2.2, pinned by Odoo 19) closes every connection
    ("Connection: close" on every answer) because it cannot drain a request body the application
    left unread; the simulator reads every body in full, so the header is left out. The socket is
    set to TCP_NODELAY: on a connection that stays open, Nagle's algorithm would hold the body
    until the client acknowledges the headers (about 40 ms a call)."""
    protocol_version = 'HTTP/1.1'

    def setup(self):
        result = super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        counter = getattr(self.server, 'connection_count', None)
        if counter is not None:
            counter.append(1)
        return result

    def send_header(self, keyword, value):
        if keyword.lower() == 'connection' and value.strip().lower() == 'close':
            return
        super().send_header(keyword, value)

    def log_request(self, code='-', size='-'):
        pass


def _parse_body(request):
    raw = request.get_data(cache=True)
    if not raw.strip():
        return None, False
    try:
        return json.loads(raw), False
    except ValueError:
        return None, True


def _drop(request):
    sock = request.environ.get('werkzeug.socket')
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    raise _DropConnection('connection dropped by the simulator')


def _too_many_requests(retry_after):
    """Gelato's 429 in its error shape, with `Retry-After` in whole seconds."""
    return ApiError(*TOO_MANY_REQUESTS).response({'Retry-After': str(int(retry_after))})


def _huge_body():
    yield b'\x89PNG\r\n\x1a\n'
    chunk, sent = b'\0' * 65536, 8
    while sent < HUGE_PREVIEW_SIZE:
        yield chunk
        sent += len(chunk)


@functools.cache
def _gzip_bomb():
    """A PNG signature and zeros, `GZIP_BOMB_SIZE` bytes in all, gzip-compressed (made once)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts, zeros = [compressor.compress(b'\x89PNG\r\n\x1a\n')], b'\0' * (1024 * 1024)
    for _index in range(GZIP_BOMB_SIZE // len(zeros)):
        parts.append(compressor.compress(zeros))
    parts.append(compressor.flush())
    return b''.join(parts)


class GelatoSimulator(ApiHandlers):
    """Fake Gelato API. `start()` serves it in a daemon thread; see the module docstring."""

    def __init__(self, api_keys=('sim-key',), host='127.0.0.1', port=0, forbidden_keys=(),
                 webhook_url=None, webhook_secret=None, auto_advance=None, rate_limit=None,
                 rate_burst=None):
        self.api_keys = frozenset(api_keys)
        self.forbidden_keys = frozenset(forbidden_keys)
        self.host, self.port = host, port
        self.webhook_url, self.webhook_secret = webhook_url, webhook_secret
        self.auto_advance = auto_advance
        self.stock_overrides = {}  # (productUid, stockRegionUid) -> status
        # How Gelato splits an order: None (one order), or 'product' (one connected order per
        # product UID, as when items are produced in different hubs).
        self.split_mode = None
        # How a shipped order is packed: 'single' (one package holds every item) or 'per_item'.
        self.package_mode = 'single'
        # VAT Gelato adds on its receipts (0.25 = 25 %).
        self.vat_rate = 0.0
        # productUid -> the page counts Gelato's catalog allows (multi-page products only).
        self.page_counts = {}
        # The quantities the Prices API answers tiers for, in the order it answers them.
        self.price_quantities = data.PRICE_QUANTITIES
        # Product UIDs made to order: the Stock API says `non-stockable` for them in every
        # region, and product GET `isStockable: false` (docs/products/stock/region-availability/).
        self.non_stockable = set()
        # Documented answers to give instead of the simulator's own (see `canned`).
        self._canned = {}
        self._lock = threading.RLock()
        self._templates, self._orders, self._faults, self._requests = {}, {}, [], []
        self._connections = []  # one entry per TCP connection accepted
        self._auto_due = {}  # order id -> time.monotonic() of its next automatic step
        self._seeded = self._down = False
        self._server = self._thread = self._auto_thread = None
        self._stopping = threading.Event()
        # The rate limit (see the module docstring): API key -> [tokens, time.monotonic()].
        self.rate_limit = self.rate_burst = None
        self._buckets = {}
        self.throttled = 0  # API requests answered 429 by the rate limit (not by faults)
        self._clock = time.monotonic
        self.set_rate_limit(rate_limit, rate_burst)
        oid = r'(?P<order_id>[^/:]+)'
        routes = (
            ('GET', r'/ecommerce/v1/templates/(?P<template_id>[^/]+)', self._get_template),
            ('POST', r'/order/v4/orders', self._create_order),
            ('POST', r'/order/v4/orders:search', self._search_orders),
            ('POST', r'/order/v4/orders:quote', self._quote),
            ('GET', rf'/order/v4/orders/{oid}', self._get_order),
            ('PATCH', rf'/order/v4/orders/{oid}', self._patch_order),
            ('DELETE', rf'/order/v4/orders/{oid}', self._delete_order),
            ('POST', rf'/order/v4/orders/{oid}:cancel', self._cancel_order),
            ('GET', r'/product/v3/products/(?P<uid>[^/]+)/prices', self._prices),
            ('GET', r'/product/v3/products/(?P<uid>[^/]+)', self._product),
            ('POST', r'/product/v3/stock/region-availability', self._stock),
            ('GET', r'/shipment/v1/shipment-methods', self._shipment_methods),
            ('POST', r'/shipment/v1/prices:search', self._shipment_prices),
        )
        self._routes = [(method, re.compile(path), handler) for method, path, handler in routes]

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def url(self):
        return f'http://{self.host}:{self.port}' if self.port else None

    @property
    def api_url_template(self):
        return f'{self.url}/{{service}}' if self.port else None

    def start(self):
        """Bind (port 0 picks a free one) and serve in a daemon thread; returns self."""
        if self._server is None:
            self._stopping.clear()
            self._bind()
            with self._lock:
                if not self._seeded:
                    self._seed()
                for tid, template in self._templates.items():
                    if isinstance(template, dict) and not template.get('previewUrl'):
                        template['previewUrl'] = self.preview_url(tid)
            if self.auto_advance and self.webhook_url and self._auto_thread is None:
                self._auto_thread = threading.Thread(
                    target=self._auto_loop, name=f'gelato-sim-auto-{self.port}', daemon=True)
                self._auto_thread.start()
        return self

    def stop(self):
        """Stop serving; open keep-alive connections are dropped too."""
        self._stopping.set()
        self._down = True
        self._unbind()
        if self._auto_thread is not None:
            self._auto_thread.join(timeout=5)
            self._auto_thread = None

    def go_down(self):
        """Close the listening socket: new connections are refused, open ones dropped."""
        self._down = True
        self._unbind()

    def come_up(self):
        """Listen again on the same port."""
        if self._server is None:
            self._bind()
        self._down = False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _bind(self):
        server = make_server(self.host, self.port, self.wsgi_app, threaded=True,
                             request_handler=_QuietHandler)
        server.connection_count = self._connections
        self.port = server.socket.getsockname()[1]
        self._server, self._down = server, False
        self._thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05},
                                        name=f'gelato-sim-{self.port}', daemon=True)
        self._thread.start()

    def _unbind(self):
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            self._thread.join(timeout=5)

    # --- state ------------------------------------------------------------------------------

    @property
    def templates(self):
        """The live dict id -> template: assigning into it stores a template as is, unchecked."""
        return self._templates

    @property
    def orders(self):
        """The live dict Gelato order id -> stored order (copy it before iterating while
        requests are in flight)."""
        return self._orders

    @property
    def requests(self):
        """Every API/preview request received: {method, path, query, json, has_api_key}."""
        with self._lock:
            return [dict(entry) for entry in self._requests]

    @property
    def canned(self):
        """The live dict `(method, path_regex) -> (status, body[, headers])` of answers given
        instead of the simulator's own, until removed: a request whose method is `method` and
        whose path (`/<service>/<api path>`, e.g. `/order/v4/orders:quote`) fully matches
        `path_regex` gets `status` with `body` (a dict or list is sent as JSON, str or bytes as
        they are, None as an empty body), once its API key is checked. Meant for Gelato's own
        documented answers: the request is still recorded in `requests`."""
        return self._canned

    def set_canned(self, method, path_regex, status, body=None, headers=None):
        """Answer `method path_regex` with `status` and `body` until `clear_canned()`."""
        if not isinstance(method, str) or not isinstance(path_regex, str):
            raise ValueError('method and path must be strings')
        try:
            re.compile(path_regex)
        except re.error as error:
            raise ValueError(f'path is not a regular expression: {error}') from None
        status = int(status)
        if not 100 <= status <= 599:
            raise ValueError('status must be an HTTP status code')
        with self._lock:
            self._canned[(method.upper(), path_regex)] = (status, copy.deepcopy(body), headers)

    def clear_canned(self):
        with self._lock:
            self._canned.clear()

    def _canned_response(self, method, path):
        with self._lock:
            entries = list(self._canned.items())
        for (canned_method, pattern), answer in entries:
            if canned_method.upper() == method and re.fullmatch(pattern, path):
                status, body, headers = (tuple(answer) + (None, None))[:3]
                if body is None:
                    return Response(b'', status=status, headers=headers,
                                    mimetype='application/json')
                if isinstance(body, (bytes, str)):
                    return Response(body, status=status, headers=headers,
                                    mimetype='application/json')
                return json_response(copy.deepcopy(body), status, headers)
        return None

    @property
    def faults(self):
        with self._lock:
            return [dict(fault) for fault in self._faults]

    @property
    def connection_count(self):
        """How many TCP connections the simulator accepted (keep-alive reuses them)."""
        return len(self._connections)

    def clear_requests(self):
        with self._lock:
            self._requests.clear()
            self._connections.clear()

    def reset(self):
        """Back to seed state: seed templates only, no orders/faults/stock overrides/requests."""
        with self._lock:
            for store in (self._templates, self._orders, self._faults, self._requests,
                          self._auto_due, self.stock_overrides):
                store.clear()
            self.split_mode, self.package_mode, self.vat_rate = None, 'single', 0.0
            self.page_counts.clear()
            self.price_quantities = data.PRICE_QUANTITIES
            self.non_stockable.clear()
            self._canned.clear()
            self._buckets.clear()
            self.throttled = 0
            self._seed()

    def state(self):
        with self._lock:
            return {'url': self.url, 'apiUrlTemplate': self.api_url_template,
                    'templates': list(self._templates), 'orders': copy.deepcopy(self._orders),
                    'faults': self.faults, 'requestCount': len(self._requests),
                    'connectionCount': len(self._connections), 'rateLimit': self.rate_limit,
                    'rateBurst': self.rate_burst, 'throttled': self.throttled}

    def _seed(self):
        self._templates.update(data.seed_templates(self._preview_or_none, now_iso()))
        self._seeded = True

    def _preview_or_none(self, template_id):
        return self.preview_url(template_id) if self.port else None

    def preview_url(self, template_id, kind='ok'):
        if kind not in PREVIEW_KINDS:
            raise ValueError(f'Unknown preview kind {kind!r}; one of {PREVIEW_KINDS}')
        return f'{self.url}/_simulator/previews/{quote(str(template_id), safe="")}/{kind}'

    def add_template(self, template):
        """Store (or replace) a template in Gelato's ecommerce shape; returns a copy."""
        if not isinstance(template, dict) or not isinstance(template.get('id'), str) \
                or not template['id'] or not isinstance(template.get('variants'), list):
            raise ValueError('A template needs a string "id" and a "variants" list')
        template, now = copy.deepcopy(template), now_iso()
        tid = template['id']
        template.setdefault('templateName', template.get('title') or tid)
        template.setdefault('title', template['templateName'])
        template.setdefault('description', '')
        template.setdefault('productType', 'Printable Material')
        template.setdefault('vendor', 'Gelato')
        template.setdefault('createdAt', now)
        template.setdefault('updatedAt', now)
        if not template.get('previewUrl'):
            template['previewUrl'] = self._preview_or_none(tid)
        for variant in template['variants']:
            if not isinstance(variant, dict) or not variant.get('productUid'):
                raise ValueError('Each variant needs a productUid')
            variant_key = f"{tid}/{variant['productUid']}"
            variant.setdefault('id', str(uuid.uuid5(data.NAMESPACE, variant_key)))
            variant.setdefault('title', variant['productUid'])
            for key in ('variantOptions', 'imagePlaceholders', 'textPlaceholders'):
                variant.setdefault(key, [])
        with self._lock:
            self._templates[tid] = template
        return copy.deepcopy(template)

    def make_template(self, template_id, options, print_areas=('front',), title=None,
                      description=None, page_counts=None):
        """Synthetic template with one variant per combination of option values; with
        `page_counts`, a multi-page product (photo book...) allowing those page counts."""
        if not isinstance(template_id, str) or not template_id:
            raise ValueError('template_id must be a non-empty string')
        prefix = f'sim_{data.slug(template_id)}'
        variants = [(combo, prefix + ''.join(f'_{data.slug(value)}' for _name, value in combo))
                    for combo in data.option_combinations(options)]
        template = data.build_template(
            template_id, title or f'Template {template_id}', variants, tuple(print_areas),
            self._preview_or_none(template_id), description or '', now_iso())
        with self._lock:
            self._templates[template_id] = template
            for variant in template['variants']:
                if page_counts:
                    self.page_counts[variant['productUid']] = sorted(page_counts)
                else:
                    self.page_counts.pop(variant['productUid'], None)
        return copy.deepcopy(template)

    def remove_template(self, template_id):
        """Remove a template; returns it, or None when unknown."""
        with self._lock:
            return self._templates.pop(template_id, None)

    def set_rate_limit(self, rate_limit=None, rate_burst=None):
        """Limit each API key to `rate_limit` requests per second, `rate_burst` at once
        (default: `rate_limit`, at least 1); `rate_limit=None` (or 0) lifts the limit, whatever
        `rate_burst`. The buckets start full."""
        if rate_limit is not None and (isinstance(rate_limit, bool) or float(rate_limit) < 0):
            raise ValueError('rate_limit must be a number of requests per second, or None')
        rate = float(rate_limit) if rate_limit else None
        burst = None
        if rate:
            burst = float(rate_burst) if rate_burst is not None else max(rate, 1.0)
            if burst < 1:
                raise ValueError('rate_burst must be at least 1 (one request)')
        with self._lock:
            self.rate_limit, self.rate_burst = rate, burst
            self._buckets.clear()

    def _take_token(self, key):
        """Take a request from the API key's bucket: 0 when taken, else the seconds until one
        is back."""
        with self._lock:
            rate, burst = self.rate_limit, self.rate_burst
            if not rate:
                return 0.0
            now = self._clock()
            tokens, then = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + max(0.0, now - then) * rate)
            if tokens >= 1:
                self._buckets[key] = [tokens - 1, now]
                return 0.0
            self._buckets[key] = [tokens, now]
            self.throttled += 1
            return (1 - tokens) / rate

    def set_fault(self, kind, times=None, path_prefix=None, delay=None):
        """Inject a fault; `times=None` lasts until clear_faults(). Faults without a path_prefix
        hit API paths only, not previews. 'no_id' only affects order creation."""
        if kind not in FAULT_KINDS:
            raise ValueError(f'Unknown fault {kind!r}; one of {FAULT_KINDS}')
        if times is not None and int(times) < 1:
            raise ValueError('times must be at least 1 (or None for "until cleared")')
        if path_prefix is not None and not isinstance(path_prefix, str):
            raise ValueError('path_prefix must be a string')
        fault = {'kind': kind, 'times': None if times is None else int(times),
                 'path_prefix': path_prefix,
                 'delay': float(5.0 if delay is None else delay) if kind == 'slow' else delay}
        with self._lock:
            self._faults.append(fault)
        return dict(fault)

    def clear_faults(self):
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path, kinds, api=True):
        with self._lock:
            for fault in self._faults:
                prefix = fault['path_prefix']
                if fault['kind'] not in kinds or (prefix is None and not api) \
                        or (prefix and not path.startswith(prefix)):
                    continue
                if fault['times'] is not None:
                    fault['times'] -= 1
                    if fault['times'] <= 0:
                        self._faults.remove(fault)
                return dict(fault)
        return None

    # --- order lifecycle and webhooks -------------------------------------------------------

    def set_order_status(self, order_id, status):
        """Change an order's (and its items') status without any webhook; returns a copy."""
        if status not in data.ORDER_STATUSES:
            raise ValueError(f'Unknown order status {status!r}')
        with self._lock:
            order = self._orders[order_id]
            self._apply_status(order, status)
            return copy.deepcopy(order)

    def _apply_status(self, order, status):
        order['fulfillmentStatus'] = status
        order['financialStatus'] = data.FINANCIAL_STATUS.get(status, 'paid')
        order['updatedAt'] = now_iso()
        for item in order['items']:
            item['fulfillmentStatus'] = status
        if status in data.SHIPPED and not order['shipment']['packages']:
            self._pack(order)

    def _pack(self, order):
        """Put the shipped order's items in packages (one, or one per item), each with its
        tracking; the items' fulfillments (webhook payloads only) name their package's code."""
        groups = [order['items']] if self.package_mode == 'single' \
            else [[item] for item in order['items']]
        track = fulfillment(order)
        for number, items in enumerate(groups, start=1):
            code = track['trackingCode'] + (f'-{number}' if len(groups) > 1 else '')
            url = f'https://tracking.example.com/track?code={code}'
            order['shipment']['packages'].append({
                'id': str(uuid.uuid5(data.NAMESPACE, f"package/{order['id']}/{number}")),
                'orderItemIds': [item['id'] for item in items],
                'trackingCode': code, 'trackingUrl': url})
            for item in items:
                item['_fulfillments'] = [dict(track, trackingCode=code, trackingUrl=url)]
        order['shipment']['packagesCount'] = len(groups)

    def refund(self, order_id, item_ids=None):
        """What Gelato does when it accepts a claim: a refund receipt on the order (a receipt
        whose `transactionType` is `refund`, docs/orders/v4/get/, ReceiptObject), for the given
        items (default: all), shipping not included; returns the receipt."""
        with self._lock:
            order = self._orders[order_id]
            items = [item for item in order['items'] if not item_ids or item['id'] in item_ids]
            products = round(sum(data.product_price(i['productUid'], i['quantity'],
                                                    order['currency']) for i in items), 2)
            count = sum(1 for r in order.get('receipts', ()) if r['transactionType'] == 'refund')
            refund = data.receipt(order_id, order['currency'], items, products, 0.0,
                                  self.vat_rate)
            refund.update(id=str(uuid.uuid5(data.NAMESPACE, f'refund/{order_id}/{count + 1}')),
                          transactionType='refund')
            for row in refund['items']:
                row.update(id=str(uuid.uuid5(data.NAMESPACE, f"{row['id']}/refund/{count}")),
                           receiptId=refund['id'])
            order.setdefault('receipts', []).append(refund)
            order['updatedAt'] = now_iso()
            return copy.deepcopy(refund)

    def reorder(self, order_id, status='created'):
        """What Gelato's support does for a failed order: a new order under the same reference
        (and metadata), with the same items; returns its id."""
        with self._lock:
            old = self._orders[order_id]
            new = copy.deepcopy(old)
            new_id = str(uuid.uuid4())
            now = now_iso()
            new.update(id=new_id, createdAt=now, updatedAt=now, orderedAt=now,
                       connectedOrderIds=[])
            new['shipment'] = dict(new['shipment'], id=str(uuid.uuid4()), packages=[])
            for item in new['items']:
                item['id'] = str(uuid.uuid4())
                item['_fulfillments'] = []
            new['receipts'] = [data.receipt(
                new_id, new['currency'], new['items'],
                old['receipts'][0]['productsPrice'], old['receipts'][0]['shippingPrice'],
                self.vat_rate)]
            self._apply_status(new, status)
            self._orders[new_id] = new
            self._schedule(new_id)
            return new_id

    def build_event(self, event_type, order_id=None, template_id=None, **overrides):
        """A realistic webhook payload (fresh unique id). Order events need `order_id`; store
        events use `template_id`, else the template of the order's first product, else the
        seed poster."""
        with self._lock:
            order = copy.deepcopy(self._orders[order_id]) if order_id is not None else None
            if template_id is None and order is not None:
                template = self._uid_index().get(order['items'][0]['productUid'])
                template_id = template and template.get('id')
            template_id = template_id or data.SEED_TEMPLATE_IDS['poster']
            template = copy.deepcopy(self._templates.get(template_id)) \
                or {'id': template_id, 'variants': []}
            stock = dict(self.stock_overrides)
        return build_event(event_type, order, template, stock, **overrides)

    def send_webhook(self, webhook_url, secret, payload, tries=3, retry_delay=5.0):
        """POST with header `signature: secret`; returns each attempt's status (None: no reply)."""
        return send_webhook(webhook_url, secret, payload, tries, retry_delay)

    def advance_order(self, order_id, status, webhook_url=None, secret=None, tries=3,
                      retry_delay=5.0):
        """Set the status (tracking added once shipped) and, with a webhook_url, send the
        order_status_updated event. Returns the delivery attempts' status codes."""
        self.set_order_status(order_id, status)
        if not webhook_url:
            return []
        event = self.build_event('order_status_updated', order_id)
        return send_webhook(webhook_url, secret, event, tries, retry_delay)

    def drive_order(self, order_id, webhook_url, secret, statuses=data.PROGRESS[1:], delay=0.0,
                    tries=3, retry_delay=5.0):
        """advance_order through `statuses`, `delay` seconds apart; returns attempts per step."""
        attempts = []
        for n, status in enumerate(statuses):
            if n and delay:
                time.sleep(delay)
            attempts.append(self.advance_order(order_id, status, webhook_url, secret, tries,
                                               retry_delay))
        return attempts

    def _schedule(self, order_id):
        if self.auto_advance and self.webhook_url:
            self._auto_due[order_id] = time.monotonic() + self.auto_advance

    def _notify(self, order_id):
        try:
            event = self.build_event('order_status_updated', order_id)
        except KeyError:
            return
        send_webhook(self.webhook_url, self.webhook_secret, event, sleep=self._stopping.wait)

    def _auto_loop(self):
        while not self._stopping.wait(0.05):
            now = time.monotonic()
            with self._lock:
                due = [oid for oid, when in self._auto_due.items() if when <= now]
            for order_id in due:
                with self._lock:
                    order = self._orders.get(order_id)
                    current = order['fulfillmentStatus'] if order else None
                if current == 'created' and self.print_file_problems(order_id):
                    with self._lock:  # Gelato's upload step refuses the files.
                        self._apply_status(self._orders[order_id], 'failed')
                        self._auto_due.pop(order_id, None)
                    self._notify(order_id)
                    continue
                with self._lock:
                    order = self._orders.get(order_id)
                    current = order['fulfillmentStatus'] if order else None
                    if current not in data.PROGRESS[:-1]:
                        self._auto_due.pop(order_id, None)
                        continue
                    self._apply_status(order, data.PROGRESS[data.PROGRESS.index(current) + 1])
                self._notify(order_id)
                with self._lock:
                    if order_id in self._auto_due:
                        self._auto_due[order_id] = time.monotonic() + self.auto_advance

    # --- WSGI -------------------------------------------------------------------------------

    def wsgi_app(self, environ, start_response):
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except ApiError as exc:
            response = exc.response()
        except _DropConnection:
            raise
        except Exception:
            _logger.exception('Gelato simulator failed on %s %s', request.method, request.path)
            response = ApiError(500, 'internal_server_error', 'Simulator error').response()
        return response(environ, start_response)

    def _dispatch(self, request):
        if self._down:
            _drop(request)
        path = request.path.rstrip('/') or '/'
        is_preview = path.startswith(('/_simulator/previews/', '/_simulator/item-previews/'))
        if path.startswith('/_simulator/') and not is_preview:
            return self._control(request, path)
        body, malformed = _parse_body(request)
        with self._lock:
            self._requests.append({
                'method': request.method, 'path': path, 'query': request.args.to_dict(),
                'json': body, 'has_api_key': bool(request.headers.get('X-API-KEY'))})
        if not is_preview:
            wait = self._take_token(request.headers.get('X-API-KEY', ''))
            if wait > 0:
                # Retry-After is in whole seconds (RFC 9110): rounded up, at least 1.
                return _too_many_requests(max(1, math.ceil(wait - 1e-9)))
        fault = self._take_fault(path, FAULT_KINDS[:-1], api=not is_preview)
        if fault:
            response = self._fault_response(fault, request)
            if response is not None:
                return response
        if is_preview:
            return self._preview(path)
        key = request.headers.get('X-API-KEY', '')
        if key in self.forbidden_keys:
            raise ApiError(403, 'forbidden', 'This API key is not allowed to use this resource')
        if key not in self.api_keys:
            # Gelato's code for it (docs/products/stock/region-availability/, errors).
            raise ApiError(401, 'invalid_api_key_provided',
                           'Missing or invalid API key (X-API-KEY header)')
        canned = self._canned_response(request.method, path)
        if canned is not None:
            return canned
        if malformed:
            raise ApiError(400, 'invalid_json', 'The request body is not valid JSON')
        allowed = False
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and method == request.method:
                with self._lock:
                    return handler(body, request.args, **match.groupdict())
            allowed = allowed or bool(match)
        if allowed:
            # Gelato's table has no 405: the resource does not exist for that method.
            raise ApiError(404, 'not_found', f'{request.method} is not allowed on {path}')
        raise ApiError(404, 'not_found', f'No such endpoint: {request.method} {path}')

    def _fault_response(self, fault, request):
        kind = fault['kind']
        if kind == 'down':
            _drop(request)
        if kind == 'slow':
            self._stopping.wait(fault['delay'] or 0)
            if self._down:
                _drop(request)
            return None
        if kind == 'garbage':
            return Response(b'<html><body>502 Bad Gateway</body></html>', 200,
                            mimetype='application/json')
        if kind == '429':
            return _too_many_requests(0)
        status, code, message = {
            '500': (500, 'internal_server_error', 'Internal server error'),
            '503': (503, 'service_unavailable', 'Service temporarily unavailable'),
        }[kind]
        return ApiError(status, code, message).response()

    def item_preview_url(self, order_id, item_id, version=None):
        """Where the preview of an order item is rendered (Gelato's are on its own storage)."""
        suffix = f'?v={quote(str(version), safe="")}' if version else ''
        return f'{self.url}/_simulator/item-previews/{order_id}/{item_id}{suffix}'

    def _item_preview(self, order_id, item_id):
        """Render the preview of an order item from its print file, as Gelato does: the file is
        downloaded from its URL and made a small picture. A file that cannot be downloaded or
        is not a picture Gelato prints has no preview."""
        with self._lock:
            order = self._orders.get(order_id) or {}
            item = next((i for i in order.get('items', ()) if i['id'] == item_id), None)
            files = copy.deepcopy(item['files']) if item else []
        files.sort(key=lambda f: f.get('type') not in ('default', 'front'))
        if not files:
            raise ApiError(404, 'not_found', 'Unknown order item')
        try:
            picture = data.render_preview(self._download(files[0]['url']))
        except (OSError, ValueError) as exc:
            raise ApiError(404, 'not_found', f'No preview: the print file could not be used '
                                             f'({exc})') from None
        return Response(picture, mimetype='image/png')

    @staticmethod
    def _download(url, limit=PRINT_FILE_MAX_BYTES):
        """The bytes of a print file, as Gelato fetches it (ValueError when too large)."""
        import requests  # noqa: PLC0415 - only the item previews need it
        with requests.get(url, timeout=10, stream=True) as response:
            if response.status_code != 200:
                raise ValueError(f'HTTP {response.status_code}')
            chunks, size = [], 0
            for chunk in response.iter_content(65536):
                size += len(chunk)
                if size > limit:
                    raise ValueError('too large')
                chunks.append(chunk)
        return b''.join(chunks)

    def print_file_problems(self, order_id):
        """What Gelato refuses in an order's print files when it uploads them: the order goes
        to "Passed" when the files are right and to "Failed" when there is an issue with a file
        (apisupport.gelato.com 360010311840, "What is the typical flow of an order"): a file
        that cannot be downloaded, or is not a PDF, PNG, TIFF, SVG or JPEG that can be read.

        :return: One sentence per refused file.
        :rtype: list[str]
        """
        with self._lock:
            files = [(item['itemReferenceId'], file.get('type') or 'default', file.get('url'))
                     for item in self._orders[order_id]['items'] for file in item['files']]
        problems = []
        for reference, area, url in files:
            try:
                content = self._download(url)
            except (OSError, ValueError) as exc:
                problems.append(f'Item {reference}, {area}: the file could not be downloaded '
                                f'({exc})')
                continue
            if not data.print_file_format(content):
                problems.append(f'Item {reference}, {area}: the file is not a PDF, PNG, TIFF, '
                                f'SVG or JPEG that can be read')
        return problems

    def _preview(self, path):
        item = re.fullmatch(r'/_simulator/item-previews/([^/]+)/([^/]+)', path)
        if item:
            return self._item_preview(*item.groups())
        match = re.fullmatch(r'/_simulator/previews/([^/]+)/([^/]+)', path)
        if not match or match[2] not in PREVIEW_KINDS:
            raise ApiError(404, 'not_found', 'Unknown preview')
        template_id, kind = match.groups()
        if kind == 'ok':
            return Response(data.preview_png(template_id), mimetype='image/png')
        if kind == 'broken':
            return Response(b'This is not an image.\n' * 16, mimetype='image/png')
        if kind == 'html':
            return Response('<!DOCTYPE html><html><body><h1>Not an image</h1></body></html>',
                            mimetype='text/html')
        if kind == 'huge':
            return Response(_huge_body(), mimetype='image/png', direct_passthrough=True)
        if kind == 'drip':
            picture, stopping = data.preview_png(template_id), self._stopping

            def drip():
                for index in range(len(picture)):
                    if index and stopping.wait(DRIP_INTERVAL):
                        return
                    yield picture[index:index + 1]

            return Response(drip(), mimetype='image/png', direct_passthrough=True,
                            headers={'Content-Length': str(len(picture))})
        if kind == 'gzip_bomb':
            return Response(_gzip_bomb(), mimetype='image/png',
                            headers={'Content-Encoding': 'gzip'})
        location = 'http://10.0.0.1/x.png' if kind == 'redirect_private' else \
            'ftp://example.com/x.png'
        return Response(b'', 302, headers={'Location': location})

    def _control(self, request, path):
        body, malformed = _parse_body(request)
        if malformed:
            raise ApiError(400, 'invalid_json', 'The request body is not valid JSON')
        body = body if isinstance(body, dict) else {}
        method, name = request.method, path[len('/_simulator/'):]
        ok = {'ok': True}
        advance = re.fullmatch(r'orders/([^/]+)/advance', name)
        try:
            if (method, name) == ('GET', 'state'):
                return json_response(self.state())
            if (method, name) == ('POST', 'reset'):
                self.reset()
                return json_response(ok)
            if (method, name) == ('POST', 'templates'):
                return json_response(self.add_template(body))
            if (method, name) == ('POST', 'templates:make'):
                return json_response(self.make_template(
                    body.get('id'), body.get('options') or [],
                    tuple(body.get('print_areas') or ('front',)), body.get('title'),
                    body.get('description')))
            if method == 'DELETE' and name.startswith('templates/'):
                if self.remove_template(name[len('templates/'):]) is None:
                    raise KeyError(name)
                return json_response(ok)
            if (method, name) == ('POST', 'faults'):
                return json_response(self.set_fault(body.get('kind'), body.get('times'),
                                                    body.get('path_prefix'), body.get('delay')))
            if (method, name) == ('DELETE', 'faults'):
                self.clear_faults()
                return json_response(ok)
            if (method, name) == ('POST', 'settings'):
                for key in ('split_mode', 'package_mode', 'vat_rate', 'price_quantities'):
                    if key in body:
                        setattr(self, key, body[key])
                if 'non_stockable' in body:
                    self.non_stockable = set(body['non_stockable'] or ())
                if 'rate_limit' in body or 'rate_burst' in body:
                    self.set_rate_limit(body.get('rate_limit'), body.get('rate_burst'))
                return json_response(ok)
            if (method, name) == ('POST', 'canned'):
                self.set_canned(body.get('method'), body.get('path'), body.get('status', 200),
                                body.get('raw', body.get('body')), body.get('headers'))
                return json_response(ok)
            if (method, name) == ('DELETE', 'canned'):
                self.clear_canned()
                return json_response(ok)
            refund = re.fullmatch(r'orders/([^/]+)/refund', name)
            if method == 'POST' and refund:
                return json_response(self.refund(refund[1], body.get('item_ids')))
            reorder = re.fullmatch(r'orders/([^/]+)/reorder', name)
            if method == 'POST' and reorder:
                return json_response({'id': self.reorder(reorder[1], body.get('status',
                                                                               'created'))})
            if method == 'POST' and advance:
                attempts = self.advance_order(
                    advance[1], body.get('status'), body.get('webhook_url'), body.get('secret'),
                    body.get('tries', 3), body.get('retry_delay', 5.0))
                return json_response({'order': public_order(self.orders[advance[1]]),
                                      'attempts': attempts})
        except KeyError as exc:
            raise ApiError(404, 'not_found', f'Not found: {exc}') from None
        except (TypeError, ValueError) as exc:
            raise ApiError(400, 'invalid_request', str(exc)) from None
        raise ApiError(404, 'not_found', f'No such control endpoint: {method} {path}')
