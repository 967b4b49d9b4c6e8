"""Gelato endpoint handlers and request validation, mixed into GelatoSimulator.

Every request is checked twice, and refused (400, Gelato's `{"code", "message"}` shape, the
message naming each field at fault) when either check fails:

- against the JSON schema of its endpoint (`schemas/`, written from the tables of Gelato's
  docs): types, required fields, formats, lengths, Gelato's lists (file types, currencies),
  the fields that depend on the country (state, Brazil's tax ids), metadata and search limits;
- against what needs state or judgement: known product UIDs, page counts of multi-page
  products among the catalog's, unique item references, shipment methods that ship to the
  country, http(s) file links, real ISO country codes, blank required values.
"""
import copy
import json
import re
import threading
import uuid
from datetime import date, datetime, timedelta, timezone

from werkzeug.wrappers import Response

from . import data, schemas
from .webhooks import now_iso

_EMAIL = re.compile(r'[^@\s]+@[^@\s]+\.[^@\s]+')
_HTTP_URL = re.compile(r'https?://[^\s/?#]+\S*', re.IGNORECASE)
_SEARCH_FILTERS = {
    'ids': 'id', 'orderReferenceIds': 'orderReferenceId', 'orderTypes': 'orderType',
    'fulfillmentStatuses': 'fulfillmentStatus', 'financialStatuses': 'financialStatus',
    'currencies': 'currency', 'channels': 'channel', 'storeIds': 'storeId',
}
# At most this many faults are named in one error message.
_MAX_FAULTS = 25


# What the simulator answers when it refuses, each with where Gelato documents it; UNDOCUMENTED
# marks what Gelato's pages do not show (Odoo must not rely on it: the addon reads the HTTP status
# and the message only). Gelato's error table (https://dashboard.gelato.com/docs/, Errors) gives
# the statuses and no code; its one `{code, message}` body is on the stock page.
UNDOCUMENTED = None
STOCK_PAGE = 'https://dashboard.gelato.com/docs/products/stock/region-availability/'
ERROR_STATUSES = {
    400: 'https://dashboard.gelato.com/docs/ (Errors: Bad Request)',
    401: 'https://dashboard.gelato.com/docs/ (Errors: Unauthorized, no valid API key provided)',
    # Not in Gelato's table: a key the simulator is told to refuse for every resource, which
    # Odoo reports as such; Gelato may answer it 401.
    403: UNDOCUMENTED,
    404: 'https://dashboard.gelato.com/docs/ (Errors: Not Found)',
    409: 'https://dashboard.gelato.com/docs/orders/v4/cancel (409: the order cannot be canceled)',
    429: 'https://dashboard.gelato.com/docs/ (Errors: Too Many Requests)',
    500: 'https://dashboard.gelato.com/docs/ (Errors: Internal Server Error)',
    503: 'https://dashboard.gelato.com/docs/ (Errors: Server Errors 502, 503, 504)',
}
ERROR_CODES = {
    'invalid_request_too_many_products': STOCK_PAGE,
    'invalid_request_products_not_provided': STOCK_PAGE,
    'invalid_api_key_provided': STOCK_PAGE,
    # Gelato names no code for these: the simulator's own words for each case.
    'validation_error': UNDOCUMENTED, 'invalid_request': UNDOCUMENTED,
    'invalid_json': UNDOCUMENTED, 'not_found': UNDOCUMENTED, 'conflict': UNDOCUMENTED,
    'forbidden': UNDOCUMENTED, 'too_many_requests': UNDOCUMENTED,
    'internal_server_error': UNDOCUMENTED, 'service_unavailable': UNDOCUMENTED,
}
# Headers of the answers beyond Content-Type: Gelato documents none. `Retry-After` (RFC 9110) is
# sent with a 429 because Gelato's table asks for a backoff without saying how long; Odoo
# honours it when present and backs off exponentially when not.
ERROR_HEADERS = {'Retry-After': UNDOCUMENTED}


class ApiError(Exception):
    """An error in Gelato's documented JSON shape: `{"code": ..., "message": ...}` (the only
    error body Gelato's docs show, docs/products/stock/region-availability/); the fields at fault
    are named in the message. Only the statuses, codes and headers listed above are answered."""

    def __init__(self, status, code, message, details=()):
        if status not in ERROR_STATUSES or code not in ERROR_CODES:
            raise ValueError(f'{status} {code}: not an answer the simulator knows Gelato for')
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, list(details)

    def response(self, headers=None):
        unknown = set(headers or ()) - set(ERROR_HEADERS)
        if unknown:
            raise ValueError(f'{sorted(unknown)}: not a header the simulator sends')
        return json_response({'code': self.code, 'message': self.message}, self.status, headers)


def json_response(payload, status=200, headers=None):
    return Response(json.dumps(payload), status=status, headers=headers,
                    mimetype='application/json')


def public_order(order):
    """An order as Gelato's GET answers it: tracking lives in `shipment.packages`; the item
    `fulfillments` exist only in webhook payloads (docs/orders/v4/get/)."""
    order = copy.deepcopy(order)
    for item in order.get('items') or []:
        for key in [k for k in item if k.startswith('_')]:
            del item[key]
    return order


def order_summary(order):
    """An order as Gelato's search answers it: a summary without items, shipment or tracking
    (docs/orders/v4/search)."""
    address = order.get('shippingAddress') or {}
    total = sum((-1 if r.get('transactionType') == 'refund' else 1) * (r.get('totalInclVat') or 0)
                for r in order.get('receipts') or [])
    return {
        'id': order['id'], 'orderType': order['orderType'],
        'orderReferenceId': order['orderReferenceId'],
        'customerReferenceId': order['customerReferenceId'],
        'fulfillmentStatus': order['fulfillmentStatus'],
        'financialStatus': order['financialStatus'], 'currency': order['currency'],
        'channel': order['channel'], 'storeId': order['storeId'],
        'connectedOrderIds': list(order.get('connectedOrderIds') or []),
        'country': address.get('country'), 'firstName': address.get('firstName'),
        'lastName': address.get('lastName'), 'itemsCount': len(order['items']),
        'totalInclVat': f'{total:.2f}', 'createdAt': order['createdAt'],
        'updatedAt': order['updatedAt'], 'orderedAt': order['orderedAt'],
    }


def _invalid(errors, code='validation_error'):
    shown = list(errors[:_MAX_FAULTS])
    text = '; '.join(f'{ref}: {msg}' for ref, msg in shown)
    if len(errors) > len(shown):
        text += f'; and {len(errors) - len(shown)} more'
    return ApiError(400, code, f'Request validation failed: {text}', [])


def _validated(schema, instance, checks=()):
    """Raise the 400 of a request: the schema's faults, then those of the other checks on
    fields the schema did not already name."""
    errors = schemas.errors(schema, instance)
    named = {ref for ref, _msg in errors}
    errors += [(ref, msg) for ref, msg in checks if ref not in named]
    if errors:
        raise _invalid(errors)


def _object(body):
    if not isinstance(body, dict):
        raise ApiError(400, 'invalid_request', 'The request body must be a JSON object')
    return body


def _blank(value):
    return value is None or (isinstance(value, str) and not value.strip())


def _check_required(container, keys, ref, errors):
    """Required values must be there and not blank (types and lengths are the schema's)."""
    for key in keys:
        if _blank(container.get(key)):
            errors.append((f'{ref}.{key}' if ref else key, 'is required'))


def _check_address(address, ref, errors, required):
    if not isinstance(address, dict):
        return  # The schema names it.
    country = address.get('country')
    if 'postCode' in required and _member(country, data.COUNTRIES_WITHOUT_POSTCODE):
        required = tuple(k for k in required if k != 'postCode')
    _check_required(address, required, ref, errors)
    if isinstance(country, str) and re.fullmatch('[A-Z]{2}', country) \
            and country not in data.ISO_COUNTRIES:
        hint = ' (the United Kingdom is GB)' if country == 'UK' else ''
        errors.append((f'{ref}.country', f'{country!r} is not an ISO 3166-1 alpha-2 code{hint}'))
    state = address.get('state')
    codes = data.STATE_CODES.get(country) if isinstance(country, str) else None
    if codes and isinstance(state, str) and state.strip() and state not in codes:
        errors.append((f'{ref}.state', f'{state!r} is not a state code of {country} (ISO 3166-2 '
                                       'without the country part)'))
    email = address.get('email')
    if isinstance(email, str) and email.strip() and not _EMAIL.fullmatch(email.strip()):
        errors.append((f'{ref}.email', 'is not a valid email address'))


def _check_files(files, ref, errors, required):
    """Print files: at least one where required ("Files are required for printable products
    only", docs/orders/v4/create), each link an http(s) URL. Gelato lists the formats it prints
    (PDF, PNG, TIFF, SVG, JPEG) but documents no refusal of a link by its name: a link without
    extension, as Odoo's `/web/content/<id>?access_token=...`, is accepted."""
    if files is None or files == []:
        if required:
            errors.append((ref, 'at least one print file is required'))
        return
    for n, file in enumerate(files if isinstance(files, list) else ()):
        if not isinstance(file, dict) or 'url' not in file:
            continue  # The schema names a file that is not an object or has neither url nor id.
        url = file['url']
        if isinstance(url, str) and not _HTTP_URL.fullmatch(url.strip()):
            errors.append((f'{ref}[{n}].url', 'must be an http(s) URL'))


def _member(value, collection):
    """`value in collection`, False for unhashable JSON values (lists, objects)."""
    return isinstance(value, str) and value in collection


def _parse_date(value, ref, errors):
    if value is None or not isinstance(value, str):
        return None  # The schema names a date that is not a string.
    try:
        parsed = datetime.fromisoformat(value.replace('Z', '+00:00'))
    except ValueError:
        errors.append((ref, 'must be an ISO 8601 date-time'))
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _int(value):
    """An integer of a JSON body (not a boolean), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class ApiHandlers:
    """Handlers of the Gelato endpoints, called by GelatoSimulator with its lock held. They use
    the host's _templates, _orders, stock_overrides, non_stockable, page_counts, webhook_url,
    _take_fault, _schedule and _notify."""

    def _uid_index(self):
        """productUid -> template, skipping malformed templates stored through `templates`."""
        return {v['productUid']: t for t in self._templates.values() if isinstance(t, dict)
                for v in t.get('variants') or () if isinstance(v, dict) and v.get('productUid')}

    def _order(self, order_id):
        order = self._orders.get(order_id)
        if order is None:
            raise ApiError(404, 'not_found', f'Order {order_id} not found')
        return order

    def _get_template(self, body, args, template_id):
        template = self._templates.get(template_id)
        if template is None:
            raise ApiError(404, 'not_found', f'Template {template_id} not found')
        return json_response(template)

    # --- checks that need state -------------------------------------------------------------

    def _check_items(self, items, errors, files_required, ref='items'):
        """Items of an order (or products of a quote): references unique, products known,
        page counts of multi-page products, print files."""
        if not isinstance(items, list):
            return  # The schema names it.
        known, seen = self._uid_index(), set()
        for n, item in enumerate(items):
            where = f'{ref}[{n}]'
            if not isinstance(item, dict):
                continue
            reference = item.get('itemReferenceId')
            if _blank(reference):
                errors.append((f'{where}.itemReferenceId', 'is required'))
            elif isinstance(reference, (str, int)) and not isinstance(reference, bool):
                reference = str(reference)  # docs/get-started/: a string or numeric value
                if reference in seen:
                    errors.append((f'{where}.itemReferenceId', 'must be unique within the order'))
                seen.add(reference)
            uid = item.get('productUid')
            if isinstance(uid, str) and uid not in known:
                errors.append((f'{where}.productUid', f'product {uid!r} is not available'))
            self._check_page_count(uid, item.get('pageCount'), f'{where}.pageCount', errors)
            _check_files(item.get('files'), f'{where}.files', errors, files_required)

    def _check_page_count(self, uid, page_count, ref, errors):
        """`pageCount` is required for multi-page products, among the counts the catalog
        allows (docs/orders/v4/create, ItemObject.pageCount; docs/products/product/get/)."""
        valid = self.page_counts.get(uid) if isinstance(uid, str) else None
        if not valid:
            return
        if page_count is None:
            errors.append((ref, f'is required for the multi-page product {uid}'))
        elif _int(page_count) is not None and page_count not in valid:
            errors.append((ref, f'must be one of {valid} for {uid}'))

    def _pick_method(self, value, country, errors):
        """The shipment method of a new order: "normal, standard, express, or a
        shipmentMethodUid value returned in the Quote API. You can also pass multiple values
        separated by commas. If multiple values are passed, the cheapest matching shipping
        method will be chosen by default. If no value is provided, the system will select the
        cheapest available shipping method." (docs/orders/v4/create)"""
        methods = data.methods_for(country)
        if value is None:
            candidates = methods
        elif not isinstance(value, str):
            return None  # The schema names it.
        else:
            candidates = []
            for uid in (part.strip() for part in value.split(',')):
                if not uid:
                    errors.append(('shipmentMethodUid', f'{value!r} holds an empty value'))
                elif uid in data.GENERIC_METHODS:
                    candidates += [m for m in methods if m[2] == data.GENERIC_METHODS[uid]]
                elif uid in data.METHOD_UIDS:
                    candidates += [m for m in methods if m[0] == uid]
                else:
                    errors.append(('shipmentMethodUid', f'unknown shipment method {uid!r}: '
                                   'use normal, standard, express or a shipmentMethodUid of '
                                   'the Quote API'))
        if errors:
            return None
        if not candidates:
            errors.append(('shipmentMethodUid',
                           f'shipment method {value!r} does not ship to {country}'))
            return None
        return min(candidates, key=lambda m: m[9])

    # --- product catalog --------------------------------------------------------------------

    def _product(self, body, args, uid):
        """GET a product of the catalog (docs/products/product/get/): `validPageCounts` only
        for multi-page products."""
        template = self._uid_index().get(uid)
        if template is None:
            raise ApiError(404, 'not_found', f'Product {uid} not found')
        product = {
            'productUid': uid, 'attributes': {'ProductStatus': 'activated'},
            'weight': {'value': 300.0, 'measureUnit': 'grams'},
            'supportedCountries': sorted(data.ISO_COUNTRIES),
            'notSupportedCountries': [], 'isStockable': uid not in self.non_stockable,
            'isPrintable': True,
        }
        if self.page_counts.get(uid):
            product['validPageCounts'] = list(self.page_counts[uid])
        return json_response(product)

    def _prices(self, body, args, uid):
        """GET the price tiers of a product (docs/products/prices): a bare array, one row per
        quantity, `price` being the price of that quantity."""
        if uid not in self._uid_index():
            raise ApiError(404, 'not_found', f'Product {uid} not found')
        query = args.to_dict()
        page_count = query.get('pageCount')
        if isinstance(page_count, str) and re.fullmatch('[0-9]{1,9}', page_count):
            query['pageCount'] = page_count = int(page_count)
        errors = []
        currency = query.get('currency') or 'EUR'
        if isinstance(currency, str) and re.fullmatch('[A-Z]{3}', currency) \
                and currency not in data.CURRENCY_RATES:
            errors.append(('currency', f'unsupported currency {currency!r}'))
        country = query.get('country') or None
        if isinstance(country, str) and re.fullmatch('[A-Z]{2}', country) \
                and country not in data.ISO_COUNTRIES:
            errors.append(('country', f'{country!r} is not an ISO 3166-1 alpha-2 code'))
        # "pageCount ... is mandatory for multi-page products" (docs/products/prices).
        self._check_page_count(uid, page_count, 'pageCount', errors)
        _validated('product_prices_query', query, errors)
        return json_response([{'productUid': uid, 'country': country, 'quantity': quantity,
                               'price': data.product_price(uid, quantity, currency),
                               'currency': currency, 'pageCount': page_count}
                              for quantity in self.price_quantities])

    def _stock(self, body, args):
        """POST the stock of products per region (docs/products/stock/region-availability/):
        1 to 250 product UIDs, refused with Gelato's own error codes."""
        body = _object(body)
        products = body.get('products')
        if products is None or products == []:
            raise ApiError(400, 'invalid_request_products_not_provided',
                           'Products are not provided.')
        if isinstance(products, list) and len(products) > data.STOCK_MAX_PRODUCTS:
            raise ApiError(400, 'invalid_request_too_many_products',
                           f'Too many products requested: {len(products)} of maximum '
                           f'{data.STOCK_MAX_PRODUCTS}.')
        _validated('stock_region_availability', body)
        known = self._uid_index()
        return json_response({'productsAvailability': [
            {'productUid': uid, 'availability': [
                self._stock_row(uid, region, uid in known) for region in data.STOCK_REGIONS]}
            for uid in products]})

    def _stock_row(self, uid, region, known):
        """One region's status: `not-supported` for a product Gelato does not know,
        `non-stockable` for a product made to order, else its stock (in stock unless told
        otherwise through `stock_overrides`); a replenishable product says when."""
        if not known:
            status = 'not-supported'
        elif uid in self.non_stockable:
            status = 'non-stockable'
        else:
            status = self.stock_overrides.get((uid, region), 'in-stock')
        replenished = (date.today() + timedelta(days=14)).isoformat() \
            if status == 'out-of-stock-replenishable' else None
        return {'stockRegionUid': region, 'status': status, 'replenishmentDate': replenished}

    # --- shipment ---------------------------------------------------------------------------

    def _shipment_methods(self, body, args):
        country = args.get('country')
        if country is not None and country not in data.ISO_COUNTRIES:
            raise _invalid([('country', f'{country!r} is not an ISO 3166-1 alpha-2 code')])
        methods = [data.method_json(m) for m in data.methods_for(country)]
        return json_response({'shipmentMethods': methods})

    def _shipment_prices(self, body, args):
        """POST shipment prices of products and quantities (docs/shipment/price/)."""
        body, errors = _object(body), []
        country, currency = body.get('country'), body.get('currency')
        if isinstance(country, str) and re.fullmatch('[A-Z]{2}', country) \
                and country not in data.ISO_COUNTRIES:
            errors.append(('country', f'{country!r} is not an ISO 3166-1 alpha-2 code'))
        if isinstance(currency, str) and re.fullmatch('[A-Z]{3}', currency) \
                and currency not in data.CURRENCY_RATES:
            errors.append(('currency', f'unsupported currency {currency!r}'))
        known = self._uid_index()
        products = body.get('products')
        for n, product in enumerate(products if isinstance(products, list) else ()):
            uid = product.get('productUid') if isinstance(product, dict) else None
            if isinstance(uid, str) and uid not in known:
                errors.append((f'products[{n}].productUid', f'product {uid!r} is not available'))
            elif isinstance(uid, str):
                self._check_page_count(uid, product.get('pageCount'),
                                       f'products[{n}].pageCount', errors)
        _validated('shipment_prices', body, errors)
        methods = [m for m in data.methods_for(country)
                   if all(m[index] for key, index in (('isBusiness', 3), ('isPrivate', 4),
                                                       ('hasTracking', 5)) if body.get(key))]
        return json_response({'prices': [{
            'productUid': product['productUid'],
            'quantities': [{
                'quantity': quantity, 'pageCount': product.get('pageCount'),
                'methods': [{
                    'shipmentMethodUid': m[0], 'type': m[2],
                    'minPrice': data.shipping_price(m, quantity, currency),
                    'avgPrice': data.shipping_price(m, quantity, currency),
                    'minDays': m[7], 'maxDays': m[8], 'hasFlatRate': False,
                } for m in methods],
            } for quantity in product['quantities']],
        } for product in products]})

    # --- orders -----------------------------------------------------------------------------

    def _create_order(self, body, args):
        body, errors = _object(body), []
        order_type = body.get('orderType', 'order')
        _check_required(body, ('orderReferenceId', 'customerReferenceId'), '', errors)
        self._check_items(body.get('items'), errors, files_required=order_type != 'draft')
        _check_address(body.get('shippingAddress'), 'shippingAddress', errors,
                       data.ADDRESS_REQUIRED + ('postCode',))
        if body.get('returnAddress') is not None:
            _check_address(body['returnAddress'], 'returnAddress', errors, ())
        address = body.get('shippingAddress')
        country = address.get('country') if isinstance(address, dict) else None
        method = None
        if _member(country, data.ISO_COUNTRIES):
            method = self._pick_method(body.get('shipmentMethodUid'), country, errors)
        _validated('order_create', body, errors)
        parts = self._new_orders(body, order_type, method)
        order = parts[0]
        if self._take_fault('/order/v4/orders', ('no_id',)):
            return json_response({key: value for key, value in public_order(order).items()
                                  if key != 'id'})
        for part in parts:
            self._orders[part['id']] = part
            if order_type == 'order':
                self._schedule(part['id'])
        return json_response(public_order(order))

    def _new_orders(self, body, order_type, method):
        """The order, or its connected orders when the simulator splits orders: Gelato answers
        the create request with one of them, whose `connectedOrderIds` lists every part, its own
        id included (docs/orders/order_details/, "Orders being split")."""
        items = body['items']
        if self.split_mode == 'product':
            groups = {}
            for item in items:
                groups.setdefault(item['productUid'], []).append(item)
            groups = list(groups.values())
        else:
            groups = [items]
        parts = [self._new_order(dict(body, items=group), order_type, method) for group in groups]
        if len(parts) > 1:
            ids = [part['id'] for part in parts]
            for part in parts:
                part['connectedOrderIds'] = list(ids)
        return parts

    def _new_order(self, body, order_type, method):
        now, draft = now_iso(), order_type == 'draft'
        status, currency = 'draft' if draft else 'created', body['currency']
        index, address = self._uid_index(), body['shippingAddress']
        order_id = str(uuid.uuid4())
        items = []
        for item in body['items']:
            item_id = str(uuid.uuid4())
            files = [{'type': f.get('type') or 'default', 'url': f.get('url')}
                     for f in item.get('files') or []]
            stored = {
                'id': item_id, 'itemReferenceId': str(item['itemReferenceId']),
                'productUid': item['productUid'], 'quantity': item['quantity'],
                'files': files,
                'processedFileUrl': None, 'options': copy.deepcopy(item.get('options') or []),
                'fulfillmentStatus': status, '_fulfillments': [],
                # Gelato renders a preview of the item with its files (docs/orders/v4/get/,
                # items[].previews); the template's picture stands for an item without files.
                'previews': [{'type': 'preview_default',
                              'url': self.item_preview_url(order_id, item_id) if files
                              else index[item['productUid']].get('previewUrl')}],
            }
            if item.get('pageCount') is not None:
                stored['pageCount'] = item['pageCount']
            items.append(stored)
        quantity = sum(item['quantity'] for item in items)
        products_price = round(sum(data.product_price(i['productUid'], i['quantity'], currency)
                                   for i in items), 2)
        shipping_price = data.shipping_price(method, quantity, currency)
        return {
            'id': order_id, 'orderType': order_type,
            # Answered as strings, whatever was sent (docs/orders/v4/get/ example).
            'orderReferenceId': str(body['orderReferenceId']),
            'customerReferenceId': str(body['customerReferenceId']),
            'fulfillmentStatus': status, 'financialStatus': data.FINANCIAL_STATUS[status],
            'currency': currency, 'channel': 'api', 'storeId': None,
            'createdAt': now, 'updatedAt': now, 'orderedAt': None if draft else now,
            'items': items,
            'shipment': {
                'id': str(uuid.uuid4()), 'shipmentMethodName': method[1],
                'shipmentMethodUid': method[0],
                'fulfillmentCountry': data.fulfillment_country(address['country']),
                'packagesCount': 1, 'packages': [], 'totalWeight': 300 * quantity,
                **data.delivery(method)},
            'shippingAddress': dict(copy.deepcopy(address), id=str(uuid.uuid4()),
                                    orderId=order_id),
            'returnAddress': dict(copy.deepcopy(body['returnAddress']), id=str(uuid.uuid4()),
                                  orderId=order_id) if body.get('returnAddress') else None,
            'metadata': copy.deepcopy(body.get('metadata') or []),
            'connectedOrderIds': [],
            'receipts': [data.receipt(order_id, currency, items, products_price,
                                      shipping_price, self.vat_rate)],
        }

    def _get_order(self, body, args, order_id):
        return json_response(public_order(self._order(order_id)))

    def _patch_order(self, body, args, order_id):
        """PATCH a draft into an order (docs/orders/v4/patch): with `items`, the items not
        listed are removed, an item listed with its `id` alone stays as it is."""
        order, body, errors = self._order(order_id), _object(body), []
        if order['orderType'] != 'draft':
            raise ApiError(409, 'conflict', 'Only orders with orderType draft can be patched')
        items = {item['id']: item for item in order['items']}
        patches = body.get('items')
        listed, files = [], {}
        for n, patch in enumerate(patches if isinstance(patches, list) else ()):
            if not isinstance(patch, dict):
                continue
            if isinstance(patch.get('id'), str) and patch['id'] not in items:
                errors.append((f'items[{n}].id', 'unknown order item id'))
            elif isinstance(patch.get('id'), str):
                listed.append(patch['id'])
                if 'files' in patch:
                    _check_files(patch['files'], f'items[{n}].files', errors, True)
                    files[patch['id']] = patch['files']
        kept = listed if isinstance(patches, list) else list(items)
        if isinstance(patches, list) and not kept:
            errors.append(('items', 'an order keeps at least one item'))
        for n, item_id in enumerate(kept):
            if not files.get(item_id, items[item_id]['files']):
                errors.append((f'items[{n}].files', 'at least one print file is required'))
        _validated('order_patch', body, errors)
        order['items'] = [items[item_id] for item_id in kept]
        for item_id, new_files in files.items():
            items[item_id]['files'] = [{'type': f.get('type') or 'default', 'url': f.get('url')}
                                       for f in new_files]
            items[item_id]['previews'] = [{'type': 'preview_default', 'url': self.item_preview_url(
                order_id, item_id, version=order['updatedAt'])}]
        order['orderType'], order['orderedAt'] = 'order', now_iso()
        self._apply_status(order, 'created')
        self._schedule(order_id)
        order['updatedAt'] = now_iso()
        return json_response(public_order(order))

    def _delete_order(self, body, args, order_id):
        if self._order(order_id)['orderType'] != 'draft':
            raise ApiError(409, 'conflict', 'Only draft orders can be deleted')
        del self._orders[order_id]
        return Response(status=204)

    def _cancel_order(self, body, args, order_id):
        order = self._order(order_id)
        status = order['fulfillmentStatus']
        if status != 'canceled':
            if status not in data.CANCELABLE:
                raise ApiError(409, 'conflict', 'The order cannot be canceled, because at least '
                                                f"one of the items is in '{status}' status.")
            self._apply_status(order, 'canceled')
            self._auto_due.pop(order_id, None)
            if self.webhook_url:
                threading.Thread(target=self._notify, args=(order_id,), daemon=True).start()
        return Response(status=200)

    def _search_orders(self, body, args):
        """POST a search (docs/orders/v4/search): summaries of the orders that match every
        filter given, newest first."""
        body, errors, filters = _object(body if body is not None else {}), [], []
        for key, field in _SEARCH_FILTERS.items():
            values = body.get(key)
            if isinstance(values, list):
                filters.append((field, {v for v in values if isinstance(v, str)}))
        if isinstance(body.get('orderReferenceId'), str):
            filters.append(('orderReferenceId', {body['orderReferenceId']}))
        countries = body.get('countries') if isinstance(body.get('countries'), list) else None
        start = _parse_date(body.get('startDate'), 'startDate', errors)
        end = _parse_date(body.get('endDate'), 'endDate', errors)
        _validated('order_search', body, errors)
        limit, offset = body.get('limit', 50), body.get('offset', 0)
        search = str(body.get('search') or '').lower()
        found = []
        for order in reversed(list(self._orders.values())):
            created = datetime.fromisoformat(order['createdAt'])
            address = order.get('shippingAddress') or {}
            searched = f"{order['orderReferenceId']} {address.get('firstName') or ''} " \
                       f"{address.get('lastName') or ''}".lower()
            if any(order.get(field) not in values for field, values in filters) \
                    or (countries is not None and address.get('country') not in countries) \
                    or (search and search not in searched) \
                    or (start and created < start) or (end and created > end):
                continue
            found.append(order_summary(order))
        return json_response({'orders': found[offset:offset + limit]})

    def _quote(self, body, args):
        """POST a quote (docs/orders/v4/quote/): the recipient as complete as a shipping
        address, the products known."""
        body, errors = _object(body), []
        _check_required(body, ('orderReferenceId', 'customerReferenceId'), '', errors)
        _check_address(body.get('recipient'), 'recipient', errors,
                       data.ADDRESS_REQUIRED + ('postCode',))
        products = body.get('products')
        # "Files are required for printable products only" (docs/orders/v4/quote, ProductObject):
        # every product of the catalog here is printed.
        self._check_items(products, errors, files_required=True, ref='products')
        _validated('order_quote', body, errors)
        country, currency = body['recipient']['country'], body['currency']
        # One quote per production site, as the order would be split: Gelato's quote example
        # answers one quote for two products (docs/orders/v3/quote, its itemReferenceIds), and
        # orders are split only where hubs differ (docs/orders/order_details/). The simulator
        # splits by product when it splits orders so, and never otherwise.
        groups = [products]
        if body.get('allowMultipleQuotes', True) and len(products) > 1 \
                and self.split_mode == 'product':
            by_uid = {}
            for product in products:
                by_uid.setdefault(product['productUid'], []).append(product)
            groups = list(by_uid.values())
        home = data.fulfillment_country(country)
        quotes = []
        for n, group in enumerate(groups):
            quantity = sum(p['quantity'] for p in group)
            quotes.append({
                'id': str(uuid.uuid4()),
                'itemReferenceIds': [str(p['itemReferenceId']) for p in group],
                'fulfillmentCountry': home if n == 0 else ('DE' if home == 'US' else 'US'),
                'shipmentMethods': [{
                    'name': m[1], 'shipmentMethodUid': m[0],
                    'price': data.shipping_price(m, quantity, currency), 'currency': currency,
                    **data.delivery(m, 2 * n), 'type': m[2], 'isPrivate': m[4],
                    'isBusiness': m[3], 'totalWeight': 300 * quantity, 'numberOfParcels': 1,
                    'incoTerms': 'DDP',
                } for m in data.methods_for(country)],
                'products': [{
                    'itemReferenceId': str(p['itemReferenceId']), 'productUid': p['productUid'],
                    'pageCount': p.get('pageCount'), 'quantity': p['quantity'],
                    'currency': currency,
                    'price': data.product_price(p['productUid'], p['quantity'], currency),
                } for p in group],
            })
        return json_response({'orderReferenceId': str(body['orderReferenceId']), 'quotes': quotes})
