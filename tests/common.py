# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import base64
import contextlib
import json
import logging
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urljoin

from odoo import Command, fields, sql_db
from odoo.tests import HttpCase, TransactionCase
from odoo.tests.common import ChromeBrowser

from odoo.addons.gelato_connector import const
from odoo.addons.gelato_connector.models.gelato_rate_budget import GelatoRateBudget
from odoo.addons.gelato_connector.simulator import GelatoSimulator

API_KEY = 'sim-key-0123456789abcdef'
# Where the screenshots are written: $GELATO_SCREENSHOT_DIR, else a temporary directory, so that
# a test run never rewrites a file of the repository. `scripts/dev.sh screenshots` points it at
# static/description/screenshots to renew the README's pictures.
SCREENSHOT_DIR = Path(
    os.environ.get('GELATO_SCREENSHOT_DIR')
    or Path(tempfile.gettempdir()) / 'gelato_screenshots')
WEBHOOK_SECRET = 'sim-webhook-secret-fedcba9876543210'
FORBIDDEN_KEY = 'sim-key-without-access'


def start_simulator(test_class):
    """Start a Gelato simulator for a test class, on a free loopback port, over real HTTP.

    :return: The running simulator; it is stopped when the class is torn down.
    """
    simulator = GelatoSimulator(api_keys=(API_KEY,), forbidden_keys=(FORBIDDEN_KEY,)).start()
    test_class.addClassCleanup(simulator.stop)
    return simulator


def forget_budget(dbname, api_key):
    """Remove the request budget of an API key, in a transaction of its own."""
    account = GelatoRateBudget._gelato_account(api_key)
    with sql_db.db_connect(dbname).cursor() as cr:
        cr.execute("DELETE FROM gelato_rate_budget WHERE account = %s", (account,))


class GelatoSetupMixin:
    """Tests that talk to Gelato: a simulator, and a company configured for it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.simulator = start_simulator(cls)
        cls.env['ir.config_parameter'].sudo().set_param(
            const.API_URL_TEMPLATE_PARAM, cls.simulator.api_url_template,
        )
        cls.company = cls.env.company
        cls.company.write({
            'gelato_enabled': True,
            'gelato_api_key': API_KEY,
            'gelato_webhook_secret': WEBHOOK_SECRET,
        })

    def setUp(self):
        super().setUp()
        self.simulator.reset()
        # The request budget is shared through its own committed transactions (as every worker
        # shares it): each test starts with a full one, whatever a 429 of another test left.
        forget_budget(self.env.cr.dbname, API_KEY)

    def _product(self, ref, **values):
        """A product linked to the Gelato template `ref`, not synchronized yet."""
        return self.env['product.template'].create({
            'name': f"Product {ref}", 'type': 'consu', 'gelato_template_ref': ref, **values,
        })

    def _sync(self, product):
        """Click Synchronize; return the notification's parameters."""
        action = product.action_sync_gelato_template_info()
        self.assertEqual(action['tag'], 'display_notification')
        return action['params']


class capture_logs:
    """Capture every record, down to DEBUG, of the named loggers without printing them.

    Used to prove that no secret reaches a log line: the records are kept in `records` and
    their formatted text in `text`.
    """

    def __init__(self, *names):
        self.names = names or ('odoo.addons.gelato_connector', 'urllib3', 'requests')
        self.records = []
        self._saved = []

    def __enter__(self):
        handler = _ListHandler(self.records)
        for name in self.names:
            logger = logging.getLogger(name)
            self._saved.append((logger, logger.level, logger.propagate))
            logger.setLevel(logging.DEBUG)
            logger.propagate = False
            logger.addHandler(handler)
        self._handler = handler
        return self

    def __exit__(self, *exc):
        for logger, level, propagate in self._saved:
            logger.removeHandler(self._handler)
            logger.setLevel(level)
            logger.propagate = propagate
        return False

    @property
    def text(self):
        return '\n'.join(
            f'{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ""}' for r in self.records
        )


class _ListHandler(logging.Handler):

    def __init__(self, records):
        super().__init__(logging.DEBUG)
        self._records = records

    def emit(self, record):
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        self._records.append(record)


PNG = (
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg=='
)


class GelatoCase(GelatoSetupMixin, TransactionCase):
    """Base for tests that talk to Gelato."""


class GelatoOrderMixin(GelatoSetupMixin):
    """Base for order tests: a synchronized Gelato product with its print images, a customer
    with a complete address, and a company address for the return address."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.partner_id.write({
            'street': 'Skovvej 1', 'city': 'Copenhagen', 'zip': '2100',
            'country_id': cls.env.ref('base.dk').id, 'email': 'shop@example.com',
        })
        cls.customer = cls.env['res.partner'].create({
            'name': "Ada Lovelace", 'street': 'Unter den Linden 5', 'city': 'Berlin',
            'zip': '10117', 'country_id': cls.env.ref('base.de').id,
            'email': 'ada@example.com', 'phone': '+49 30 1234567',
        })
        cls.regular_product = cls.env['product.product'].create({
            'name': "Regular Mug", 'type': 'consu', 'list_price': 10.0,
        })
        cls.service = cls.env['product.product'].create({
            'name': "Gift wrapping", 'type': 'service', 'list_price': 2.0,
        })
        cls.carrier_normal = cls.env.ref('gelato_connector.delivery_carrier_gelato_standard')
        cls.carrier_express = cls.env.ref('gelato_connector.delivery_carrier_gelato_express')

    def setUp(self):
        super().setUp()
        self.poster = self._gelato_product('tpl-poster', [('Size', ['S', 'M', 'L'])])
        self.small, self.medium, self.large = self.poster.product_variant_ids.sorted(
            lambda p: ['S', 'M', 'L'].index(p.product_template_attribute_value_ids.name))

    @classmethod
    def _portal_user(cls, login, name, email):
        """A portal customer (password = login) with a complete address in Berlin."""
        user = cls.env['res.users'].create({
            'name': name, 'login': login, 'password': login, 'email': email,
            'group_ids': [(6, 0, [cls.env.ref('base.group_portal').id])],
        })
        user.partner_id.write({
            'street': 'Unter den Linden 5', 'city': 'Berlin', 'zip': '10117',
            'country_id': cls.env.ref('base.de').id, 'phone': '+49 30 1234567',
        })
        return user

    @classmethod
    def _enable_demo_payment(cls):
        """Odoo's demo payment provider, published for the company (None when not installed)."""
        provider = cls.env.ref('payment.payment_provider_demo', raise_if_not_found=False)
        if provider:
            provider.sudo().write({'state': 'test', 'is_published': True,
                                   'company_id': cls.company.id})
        return provider

    def _paid_transaction(self, order):
        """A done online payment of the whole order by Odoo's demo provider (not yet post-
        processed); the test is skipped when payment_demo is not installed."""
        provider = self._enable_demo_payment()
        if not provider:
            self.skipTest("payment_demo is not installed")
        return self.env['payment.transaction'].sudo().create({
            'provider_id': provider.id,
            'payment_method_id': self.env.ref('payment_demo.payment_method_demo').id,
            'amount': order.amount_total, 'currency_id': order.currency_id.id,
            'partner_id': order.partner_id.id, 'operation': 'online_direct',
            'reference': f'{order.name}-tx', 'sale_order_ids': [Command.set(order.ids)],
            'state': 'done',
        })

    def _gelato_product(self, ref, options, areas=('front',), images=True):
        self.simulator.make_template(ref, options, print_areas=areas)
        product = self.env['product.template'].create({
            'name': f"Gelato {ref}", 'type': 'consu', 'gelato_template_ref': ref,
            'list_price': 30.0,
        })
        result = product.action_sync_gelato_template_info()
        assert result['params']['type'] != 'danger', result['params']['message']
        if images:
            for image in product.gelato_image_ids:
                image.datas = PNG
        return product

    def _order(self, lines=None, partner=None, carrier=None):
        """A quotation for `lines`, shipped by Gelato's Standard Delivery priced by Gelato (a
        Gelato order is only confirmed with its shipping chosen); `carrier=False`: none."""
        lines = lines or [(self.small, 2)]
        implicit = carrier is None
        if implicit:
            carrier = self.carrier_normal if any(
                p.gelato_product_uid for p, _q in lines) else False
        order = self.env['sale.order'].create({
            'partner_id': (partner or self.customer).id,
            'order_line': [(0, 0, {'product_id': p.id, 'product_uom_qty': q}) for p, q in lines],
        })
        if carrier:
            rate = carrier.rate_shipment(order)
            if implicit and not rate['success']:
                # What the test checks stops Gelato from quoting (an address, a file): the
                # method is still chosen, as the salesperson would, before confirming.
                order.set_delivery_line(carrier, 0.0)
                return order
            assert rate['success'], rate['error_message']
            order.set_delivery_line(carrier, rate['price'])
        return order

    def _confirm_and_send(self, order):
        order.action_confirm()
        self.env['gelato.order']._cron_send_pending()
        return order

    def _remote(self, order):
        return self.simulator.orders[order.gelato_order_id]

    def _remote_orders_for(self, order):
        """The orders the simulator holds for a sale order (every reference it was sent with)."""
        references = set(order.gelato_order_ids.mapped('reference'))
        return [o for o in self.simulator.orders.values()
                if o.get('orderReferenceId') in references]

    def _run_outbox(self):
        """Run the outbox action as if every waiting order were due."""
        self.env['gelato.order'].search([('state', '=', 'pending')]).write(
            {'next_attempt_at': fields.Datetime.now() - timedelta(seconds=1)})
        self.env['gelato.order']._cron_send_pending()


class GelatoOrderCase(GelatoOrderMixin, TransactionCase):
    """Order tests in a transaction."""


class GelatoHttpCase(GelatoOrderMixin, HttpCase):
    """Order tests over real HTTP: Odoo serves the webhook, the simulator calls it."""

    def _webhook_url(self):
        return f'{self.base_url()}/gelato/webhook'

    def _screenshot(self, url_path, name, login=None, ready=None, actions=(), focus=None):
        """Save a screenshot of a page as `login` sees it, for the README.

        :param str ready: A JavaScript expression true once the page shows what matters.
        :param actions: `(expression, ready expression)` pairs run in turn (clicks, tabs).
        :param str focus: A CSS selector scrolled into view before the shot.
        """
        browser = ChromeBrowser(self)
        with self.allow_requests(browser=browser):
            try:
                self.authenticate(login, login, browser=browser)
                self.env.flush_all()
                browser.navigate_to(urljoin(self.base_url(), url_path), wait_stop=True)
                self.assertTrue(browser._wait_ready(ready), f"{url_path} did not load")
                for expression, done in actions:
                    browser._websocket_request('Runtime.evaluate',
                                               params={'expression': expression})
                    self.assertTrue(browser._wait_ready(done), f"{expression} did nothing")
                self._wait_network_idle(browser)
                if focus:
                    browser._websocket_request('Runtime.evaluate', params={
                        'expression': f"document.querySelector({json.dumps(focus)})"
                                      ".scrollIntoView({block: 'center'})"})
                    time.sleep(0.5)
                shot = browser._websocket_request('Page.captureScreenshot',
                                                  params={'format': 'png'}, timeout=30)
            finally:
                # As `browser_js` does: the browser first, then the requests it left running.
                browser.stop()
                self._wait_remaining_requests()
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        (SCREENSHOT_DIR / f'{name}.png').write_bytes(base64.b64decode(shot['data']))

    @staticmethod
    def _wait_network_idle(browser, quiet=2.0, limit=20.0):
        """Wait until the page has loaded no new resource for `quiet` seconds (lazy bundles
        such as the portal chatter load after the page itself)."""
        expression = "performance.getEntriesByType('resource').length"
        deadline, last, since = time.monotonic() + limit, None, time.monotonic()
        while time.monotonic() < deadline:
            answer = browser._websocket_request('Runtime.evaluate', params={
                'expression': expression, 'returnByValue': True})
            count = answer['result'].get('value')
            if count != last:
                last, since = count, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            time.sleep(0.2)

    def _post_webhook(self, payload, signature=WEBHOOK_SECRET):
        """POST an event to Odoo's webhook as Gelato does; return the stored event."""
        response = self.url_open('/gelato/webhook', data=json.dumps(payload),
                                 headers={'Content-Type': 'application/json',
                                          'signature': signature})
        self.assertEqual(response.status_code, 200, response.text)
        return self.env['gelato.event'].search([('event_id', '=', str(payload['id'])),
                                                ('state', '!=', 'duplicate')])

    def _gelato_event(self, event_type, gelato_id, **overrides):
        """Send the simulator's event about one of its orders to Odoo's webhook."""
        return self._post_webhook(self.simulator.build_event(event_type, gelato_id, **overrides))

    def _gelato_status(self, gelato_id, status, **overrides):
        """Move a simulator order to a status and tell Odoo, as Gelato does."""
        self.simulator.set_order_status(gelato_id, status)
        return self._gelato_event('order_status_updated', gelato_id, **overrides)

    @contextlib.contextmanager
    def _gelato_calls_in(self):
        """Let the simulator call Odoo (it carries no test cookie), as `url_open` would: what
        the test wrote is flushed first, and what the requests wrote is read afresh after."""
        self.env.flush_all()
        with self.allow_requests(all_requests=True):
            yield
        self.env.invalidate_all()

    @contextlib.contextmanager
    def _gelato_calls_in_tour(self):
        """Let the simulator call Odoo during a browser tour (which already allows the
        browser's requests): e.g. Gelato downloading a print file to render a preview the page
        shows."""
        self.env.flush_all()
        previous, self.http_request_allow_all = self.http_request_allow_all, True
        try:
            yield
        finally:
            self.http_request_allow_all = previous
            self.env.invalidate_all()
