# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""Contract tests on Gelato's own examples (`tests/data/gelato/*.json`, each from the page it
names in `source`).

- Answers: the simulator gives Gelato's documented answer (a canned answer, or the example stored
  as one of its orders or templates), the addon asks for it through its own code, and the tests
  check what the addon read from it. Ids in the examples are pointed at the records of the test
  where the addon must recognise them (item references, order references); nothing else changes.
- Requests: every request the addon sends is read back from what the simulator received and
  validated against the JSON schema of its endpoint (`simulator/schemas/`, written from Gelato's
  tables), with `jsonschema` directly.
- Every example of the folder is used by a test (checked by
  `test_every_documented_example_is_used_by_a_test`).
"""
import copy
import json
import os
import re
from datetime import date, timedelta

import jsonschema
import requests

from odoo import fields
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from odoo.addons.gelato_connector.tests.common import (
    API_KEY,
    PNG,
    WEBHOOK_SECRET,
    GelatoHttpCase,
    GelatoOrderCase,
    capture_logs,
)

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES_DIR = os.path.join(HERE, 'data', 'gelato')
SCHEMAS_DIR = os.path.join(os.path.dirname(HERE), 'simulator', 'schemas')
# The test modules that use the examples (an example is used when a module names it).
EXAMPLE_USERS = ('test_gelato_contract.py', 'test_simulator.py')
# The examples read during this run (a registry, for whoever wants to know; the completeness
# test reads the sources, so that it does not depend on the order tests run in).
USED_EXAMPLES = set()

# Request path (as the simulator sees it) -> the schema of its body or query.
REQUEST_SCHEMAS = (
    ('POST', r'/order/v4/orders', 'order_create'),
    ('POST', r'/order/v4/orders:quote', 'order_quote'),
    ('POST', r'/order/v4/orders:search', 'order_search'),
    ('PATCH', r'/order/v4/orders/[^/:]+', 'order_patch'),
    ('GET', r'/product/v3/products/[^/]+/prices', 'product_prices_query'),
    ('POST', r'/product/v3/stock/region-availability', 'stock_region_availability'),
    ('POST', r'/shipment/v1/prices:search', 'shipment_prices'),
)
CONNECTED_ID = '2b8b2b0d-1383-44ac-a650-17619b30a0dc'  # the other part of the split example


def example(name):
    """One of Gelato's documented examples: `{source, endpoint, kind, note, body}`."""
    name = name[:-5] if name.endswith('.json') else name
    USED_EXAMPLES.add(name)
    with open(os.path.join(EXAMPLES_DIR, f'{name}.json'), encoding='utf-8') as file:
        return json.load(file)


def validator(schema):
    with open(os.path.join(SCHEMAS_DIR, f'{schema}.schema.json'), encoding='utf-8') as file:
        return jsonschema.Draft202012Validator(json.load(file))


class ContractMixin:

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        states = cls.env['res.country.state']
        cls.us_customer = cls.env['res.partner'].create({
            'name': "Paul Smith", 'street': '451 Clarkson Ave', 'street2': 'Brooklyn',
            'city': 'New York', 'zip': '11203', 'country_id': cls.env.ref('base.us').id,
            'state_id': states.search([('country_id.code', '=', 'US'), ('code', '=', 'NY')]).id,
            'email': 'paul@example.com', 'phone': '+1 212 555 0100',
        })
        brazil = {
            'street': 'Av. Paulista 1000', 'city': 'São Paulo', 'zip': '01310-100',
            'country_id': cls.env.ref('base.br').id,
            'state_id': states.search([('country_id.code', '=', 'BR'), ('code', '=', 'SP')]).id,
        }
        cls.br_person = cls.env['res.partner'].create({
            'name': "Ana Souza", 'email': 'ana@example.com', 'vat': '123.456.789-09', **brazil,
        })
        cls.br_company = cls.env['res.partner'].create({
            'name': "Loja Exemplo Ltda", 'is_company': True, 'email': 'loja@example.com',
            'vat': '12.345.678/0001-95', 'gelato_state_tax_id': '123.456.789.112', **brazil,
        })

    # --- helpers -------------------------------------------------------------------------------

    def _line(self, order, product):
        return order.order_line.filtered(lambda line: line.product_id == product)[:1]

    def _requests(self, since=0, method=None, path=None):
        return [r for r in self.simulator.requests[since:]
                if (method is None or r['method'] == method)
                and (path is None or re.fullmatch(path, r['path']))]

    def _product_with_uids(self, ref, uids, areas=('front',)):
        """A product synchronized from a template whose variants are Gelato's product UIDs."""
        self.simulator.add_template({'id': ref, 'title': f"Template {ref}", 'variants': [{
            'productUid': uid,
            'variantOptions': [{'name': 'Model', 'value': f'M{n}'}] if len(uids) > 1 else [],
            'imagePlaceholders': [{'name': f'Image{a}', 'printArea': area, 'height': 100.0,
                                   'width': 100.0} for a, area in enumerate(areas)],
        } for n, uid in enumerate(uids)]})
        product = self._product(ref, list_price=30.0)
        params = self._sync(product)
        self.assertNotEqual(params['type'], 'danger', params['message'])
        for image in product.gelato_image_ids:
            image.datas = PNG
        return product

    def _by_uid(self, product):
        return {v.gelato_product_uid: v for v in product.product_variant_ids}

    def _send_with_answer(self, order, body):
        """Confirm the order and send it, Gelato answering the create request with `body`."""
        order.action_confirm()
        self.simulator.set_canned('POST', r'/order/v4/orders', 200, body)
        self.env['gelato.order']._cron_send_pending()
        self.simulator.clear_canned()
        return order.gelato_order_ids.sorted('id')

    def _assert_valid_requests(self, since=0):
        """Every request sent since `since` validates against the schema of its endpoint; GET
        paths carry no query. Returns the schemas checked."""
        checked = set()
        for request in self.simulator.requests[since:]:
            schema = next((name for method, path, name in REQUEST_SCHEMAS
                           if method == request['method'] and re.fullmatch(path, request['path'])),
                          None)
            if schema is None:
                if request['method'] == 'GET' and not request['path'].endswith('/prices'):
                    self.assertEqual(request['query'], {}, request['path'])
                continue
            instance = request['json']
            if schema == 'product_prices_query':
                instance = {key: int(value) if key == 'pageCount' and value.isdigit() else value
                            for key, value in request['query'].items()}
            errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
                      for e in validator(schema).iter_errors(instance)]
            self.assertFalse(errors, f"{request['method']} {request['path']} against {schema}: "
                                     f"{errors}\n{json.dumps(instance)[:2000]}")
            checked.add(schema)
        return checked


# === Gelato's answers, read by the addon ======================================================


@tagged('post_install', '-at_install')
class TestGelatoAnswerExamples(ContractMixin, GelatoOrderCase):

    def test_every_documented_example_is_used_by_a_test(self):
        """Every file of `tests/data/gelato/` is Gelato's documented example, and some test
        reads it."""
        files = {name[:-5] for name in os.listdir(EXAMPLES_DIR) if name.endswith('.json')}
        sources = ''
        for module in EXAMPLE_USERS:
            with open(os.path.join(HERE, module), encoding='utf-8') as file:
                sources += file.read()
        named = set(re.findall(r"'([\w-]+)'", sources))
        self.assertFalse(sorted(files - named), "examples no test uses")
        called = set(re.findall(r"example\(\s*'([\w.-]+?)(?:\.json)?'\s*\)", sources))
        self.assertFalse(sorted(called - files), "examples the tests read but the folder lacks")
        for name in sorted(files):
            with self.subTest(example=name):
                document = example(name)
                self.assertEqual(set(document), {'source', 'endpoint', 'kind', 'note', 'body'})
                self.assertRegex(document['source'], r'^https://dashboard\.gelato\.com/docs/')

    def test_create_answer_example_is_read(self):
        """https://dashboard.gelato.com/docs/orders/v4/create, response example: Gelato's id,
        status, item ids, the package with its tracking and items, the receipt's costs, the
        shipment method and the delivery estimate."""
        order = self._order([(self.small, 1)])
        body = example('order_create_response')['body']
        body['items'][0]['itemReferenceId'] = str(self._line(order, self.small).id)
        record = self._send_with_answer(order, body)
        self.assertEqual(record.state, 'sent', record.last_error)
        self.assertEqual(record.gelato_id, '37365096-6628-4538-a9c2-fbf9892deb85')
        self.assertEqual(order.gelato_order_id, record.gelato_id)
        self.assertEqual(record.status, 'printed')
        self.assertEqual(record.item_ids.gelato_item_id, '0549170c-bd7d-4d43-b7a1-34c855e6aefb')
        self.assertEqual(record.item_ids.sale_line_id, self._line(order, self.small))
        package = record.package_ids
        self.assertEqual((package.package_ref, package.tracking_code, package.tracking_url),
                         ('4a771ca0-7de4-4f0b-a7d4-9c952093af6c', '12345678990',
                          'http://test.tracking.url'))
        # The package also names 13c165fe-..., an item the example does not list: left out.
        self.assertEqual(package.item_ids, record.item_ids)
        self.assertFalse(package.picking_id, "printed, not shipped yet")
        self.assertEqual(record.cost_currency_id.name, 'USD')
        self.assertEqual(
            (record.cost_products, record.cost_packaging, record.cost_shipping,
             record.cost_discount, record.cost_vat, record.cost_total),
            (24.94, 1.7, 4.91, 0.0, 1.9, 33.45))
        self.assertEqual((record.shipment_method_uid, record.shipment_method_name),
                         ('ups_surepost', 'UPS Surepost'))
        self.assertEqual((record.min_delivery_date, record.max_delivery_date),
                         (date(2019, 8, 29), date(2019, 8, 30)))
        self.assertFalse(record.connected_gelato_ids)

    def test_split_create_answer_example_makes_one_record_per_connected_order(self):
        """https://dashboard.gelato.com/docs/orders/order_details/, "Example of split orders":
        the create answer is one of the parts, its `connectedOrderIds` lists both ids, its own
        included; the other part is read with GET and adopted."""
        order = self._order([(self.small, 1), (self.medium, 1), (self.large, 1)])
        small, medium, large = (self._line(order, p) for p in (self.small, self.medium,
                                                                self.large))
        order.action_confirm()
        main = order.gelato_order_ids
        body = example('order_create_split_response')['body']
        body['orderReferenceId'] = main.reference
        body['items'][0]['itemReferenceId'] = str(small.id)
        other = copy.deepcopy(body)
        other.update(id=CONNECTED_ID, metadata=main._gelato_metadata())
        other['items'] = [dict(copy.deepcopy(body['items'][0]), id=f'item-{line.id}',
                               itemReferenceId=str(line.id),
                               productUid=line.product_id.gelato_product_uid)
                          for line in (medium, large)]
        # Its receipt bills its own items (the example's receipt is the poster part's).
        receipt = copy.deepcopy(body['receipts'][0])
        receipt.update(id='receipt-of-the-connected-order', orderId=CONNECTED_ID)
        product_row = next(row for row in receipt['items'] if row['type'] == 'product')
        receipt['items'] = [dict(product_row, id=f"row-{item['id']}", referenceId=item['id'])
                            for item in other['items']] + \
            [row for row in receipt['items'] if row['type'] != 'product']
        other['receipts'] = [receipt]
        self.simulator.orders[CONNECTED_ID] = other
        self.simulator.set_canned('POST', r'/order/v4/orders', 200, body)
        # Both parts come to be with the create request: before it, a search finds neither.
        self.simulator.set_canned('POST', r'/order/v4/orders:search', 200, {'orders': []})
        self.env['gelato.order']._cron_send_pending()
        main, connected = order.gelato_order_ids.sorted('id')
        self.assertEqual(main.gelato_id, 'c3c8f7f5-a0e8-4014-a3fb-38a5375d2af8')
        self.assertEqual(main.connected_gelato_ids, CONNECTED_ID, "its own id is not connected")
        self.assertEqual((connected.gelato_id, connected.origin, connected.parent_id),
                         (CONNECTED_ID, 'connected', main))
        self.assertEqual(main.sale_line_ids, small)
        self.assertEqual(connected.sale_line_ids, medium | large)
        self.assertEqual((main.status, connected.status), ('created', 'created'))
        self.assertEqual(
            (main.cost_products, main.cost_shipping, main.cost_discount, main.cost_vat,
             main.cost_total), (5.56, 3.0, 1.28, 0.76, 9.32))
        self.assertEqual((main.shipment_method_uid, main.shipment_method_name),
                         ('fed_ex_smart_post', 'SmartPost'))
        self.assertEqual(main.max_delivery_date, date(2022, 11, 10))
        self.assertEqual(
            [r['path'] for r in self._requests(method='GET', path=r'/order/v4/orders/.+')],
            [f'/order/v4/orders/{CONNECTED_ID}'])

    def test_get_answer_example_is_read_by_ask_gelato_now(self):
        """https://dashboard.gelato.com/docs/orders/v4/get/, response example (as stored by the
        simulator for the order): status, Gelato's item ids and quantities, the package of
        `shipment.packages` with both items, the receipt's costs."""
        order = self._confirm_and_send(self._order([(self.small, 1), (self.medium, 1)]))
        record = order.gelato_order_ids
        body = example('order_get_response')['body']
        body.update(id=record.gelato_id, orderReferenceId=record.reference)
        body['items'][0]['itemReferenceId'] = str(self._line(order, self.small).id)
        body['items'][1]['itemReferenceId'] = str(self._line(order, self.medium).id)
        self.simulator.orders[record.gelato_id] = body
        action = order.action_gelato_refresh()
        self.assertIn('Printed', action['params']['message'])
        self.assertIn('1 new package', action['params']['message'])
        self.assertEqual(record.status, 'printed')
        items = record.item_ids.sorted(lambda i: i.sale_line_id.id)
        self.assertEqual(items.mapped('gelato_item_id'),
                         ['0549170c-bd7d-4d43-b7a1-34c855e6aefb',
                          '13c165fe-de51-4ea9-86e6-98503ae14486'])
        self.assertEqual(items.mapped('quantity'), [100, 100])
        self.assertEqual(record.package_ids.tracking_code, '12345678990')
        self.assertEqual(record.package_ids.item_ids, record.item_ids)
        self.assertEqual((record.cost_total, record.cost_vat, record.cost_packaging),
                         (33.45, 1.9, 1.7))

    def test_search_answer_example_finds_the_order_instead_of_creating_it(self):
        """https://dashboard.gelato.com/docs/orders/v4/search, response example: summaries. The
        summary carrying the order's reference is read (then the order itself with GET) and the
        order is not created again; the other summary is left alone."""
        order = self._order()
        order.action_confirm()
        record = order.gelato_order_ids
        created = self.company._gelato_request('order', 'POST', '/v4/orders',
                                               json=order._gelato_prepare_order_payload(record))
        body = example('order_search_response')['body']
        found_id = body['orders'][0]['id']
        self.simulator.orders[found_id] = dict(self.simulator.orders.pop(created['id']),
                                               id=found_id)
        body['orders'][0]['orderReferenceId'] = record.reference
        self.simulator.set_canned('POST', r'/order/v4/orders:search', 200, body)
        before = len(self.simulator.requests)
        self.env['gelato.order']._cron_send_pending()
        self.assertEqual((record.state, record.gelato_id), ('sent', found_id))
        self.assertFalse(self._requests(before, 'POST', r'/order/v4/orders'), "not sent twice")
        self.assertEqual([r['path'] for r in self._requests(before, 'GET')],
                         [f'/order/v4/orders/{found_id}'])

    def test_quote_answer_example_prices_both_delivery_methods(self):
        """https://dashboard.gelato.com/docs/orders/v4/quote/, response example: the rate is the
        cheapest method of the carrier's type, converted from the quote's currency (EUR); the
        cheapest standard method is the one sent with the order."""
        order = self._order([(self.small, 1)], partner=self.us_customer, carrier=False)
        self.simulator.set_canned('POST', r'/order/v4/orders:quote', 200,
                                  example('order_quote_response')['body'])
        eur = self.env.ref('base.EUR')

        def converted(amount):
            return eur._convert(amount, order.currency_id, order.company_id,
                                order.date_order or fields.Date.today())

        normal = self.carrier_normal.rate_shipment(order)
        express = self.carrier_express.rate_shipment(order)
        self.assertTrue(normal['success'], normal.get('error_message'))
        self.assertAlmostEqual(normal['price'], converted(5.11), places=2)
        self.assertAlmostEqual(express['price'], converted(25.11), places=2)
        order.set_delivery_line(self.carrier_normal, normal['price'])
        self.assertEqual(order.gelato_shipment_method_uid, 'ups_surepost')
        self._confirm_and_send(order)
        self.assertEqual(self._requests(method='POST', path=r'/order/v4/orders')[-1]['json']
                         ['shipmentMethodUid'], 'ups_surepost')
        self.assertEqual(self._remote(order)['shipment']['shipmentMethodUid'], 'ups_surepost')

    def test_price_tiers_example_gives_the_unit_cost(self):
        """https://dashboard.gelato.com/docs/products/prices, response example: tiers for 700,
        20 and 400 units, none for one: the unit cost is the smallest tier's price divided by
        its quantity, in USD converted to the company's currency."""
        self.simulator.set_canned('GET', r'/product/v3/products/[^/]+/prices', 200,
                                  example('product_prices_response')['body'])
        action = self.poster.action_gelato_fetch_costs()
        self.assertEqual(action['params']['type'], 'success', action['params']['message'])
        company = self.company
        expected = company.currency_id.round(self.env.ref('base.USD')._convert(
            87.883871 / 20, company.currency_id, company, fields.Date.today()))
        for variant in self.poster.product_variant_ids:
            self.assertAlmostEqual(variant.standard_price, expected)

    def test_template_example_synchronizes_variants_options_and_print_areas(self):
        """https://dashboard.gelato.com/docs/ecommerce/templates/get/, response example, stored
        as a template of the simulator (its preview link made the simulator's, to stay off the
        internet): one variant per Gelato variant with its product UID and size, one print
        image for the `front` area (named `default`), the description."""
        body = example('template_get_response')['body']
        body['previewUrl'] = self.simulator.preview_url(body['id'])
        self.simulator.templates[body['id']] = body
        product = self._product(body['id'])
        params = self._sync(product)
        self.assertNotEqual(params['type'], 'danger', params['message'])
        variants = self._by_uid(product)
        self.assertEqual(set(variants), {v['productUid'] for v in body['variants']})
        for documented in body['variants']:
            values = variants[documented['productUid']].product_template_attribute_value_ids
            self.assertEqual({(v.attribute_id.name, v.name) for v in values},
                             {(o['name'], o['value']) for o in documented['variantOptions']})
        self.assertEqual(product.gelato_image_ids.mapped('name'), ['default'])
        self.assertIn('A classic unisex t-shirt', product.description_ecommerce)
        self.assertFalse(product.gelato_valid_page_counts)

    def test_product_example_gives_the_valid_page_counts(self):
        """https://dashboard.gelato.com/docs/products/product/get/, response example:
        `validPageCounts` [5, 10, 20, 30] become the product's page counts, the smallest is
        ordered (`pageCount` of the item the simulator stored)."""
        body = example('product_get_response')['body']
        uid = body['productUid']
        self.simulator.page_counts[uid] = list(body['validPageCounts'])
        self.simulator.set_canned('GET', '/product/v3/products/' + re.escape(uid), 200, body)
        product = self._product_with_uids('tpl-leaflet', [uid])
        self.assertEqual(product.gelato_valid_page_counts, '5,10,20,30')
        self.assertEqual(product.gelato_page_count, 5)
        order = self._confirm_and_send(self._order([(product.product_variant_id, 1)]))
        self.assertEqual(self._remote(order)['items'][0]['pageCount'], 5)

    def test_stock_example_stores_gelatos_regions_and_skips_unknown_statuses(self):
        """https://dashboard.gelato.com/docs/products/stock/region-availability/, response
        example: a status per region (`US-CA`, `EU`, ...), the typo status `in-of-stock` of
        every `UK` row skipped, the product Odoo does not sell ignored."""
        body = example('stock_region_availability_response')['body']
        hanger, frame = (row['productUid'] for row in body['productsAvailability'][:2])
        product = self._product_with_uids('tpl-stockable', [hanger, frame])
        self.simulator.set_canned('POST', r'/product/v3/stock/region-availability', 200, body)
        action = product.action_gelato_check_availability()
        self.assertEqual(action['params']['type'], 'success', action['params']['message'])
        variants = self._by_uid(product)
        stored = {(a.product_id.gelato_product_uid, a.region): a.status
                  for a in product.product_variant_ids.gelato_availability_ids}
        documented = {(row['productUid'], a['stockRegionUid']): a['status']
                      for row in body['productsAvailability'] for a in row['availability']
                      if row['productUid'] in variants and a['stockRegionUid'] != 'UK'}
        self.assertEqual(stored, documented)
        self.assertEqual(stored[(hanger, 'EU')], 'out-of-stock-replenishable')
        self.assertEqual(stored[(frame, 'SA')], 'out-of-stock')
        self.assertNotIn((hanger, 'UK'), stored, "in-of-stock is no status Gelato documents")
        self.assertEqual(variants[hanger]._gelato_availability_in('US-CA'), 'in-stock')
        # Where Gelato says out of stock (AS for the hanger), the order is refused.
        japan = self.customer.copy({'country_id': self.env.ref('base.jp').id, 'zip': '100-0001',
                                    'city': 'Tokyo'})
        with self.assertRaisesRegex(ValidationError, 'out of stock at Gelato for the region AS'):
            self._order([(variants[hanger], 1)], partner=japan).action_confirm()

    def test_error_example_is_shown_with_gelatos_words(self):
        """https://dashboard.gelato.com/docs/products/stock/region-availability/, error example
        `{"code", "message"}`: `_gelato_parse_error` shows Gelato's message; Check availability
        says it and stores nothing."""
        body = example('error_response')['body']
        self.simulator.set_canned('POST', r'/product/v3/stock/region-availability', 400, body)
        with capture_logs() as logs:
            action = self.poster.action_gelato_check_availability()
        self.assertEqual(action['params']['type'], 'danger')
        self.assertIn(f"Gelato says: {body['message']}", action['params']['message'])
        self.assertFalse(self.poster.product_variant_ids.gelato_availability_ids)
        self.assertNotIn(API_KEY, logs.text)
        response = requests.post(f'{self.simulator.url}/product/v3/stock/region-availability',
                                 json={'products': ['x']}, headers={'X-API-KEY': API_KEY},
                                 timeout=10)
        error = self.env['gelato.api.mixin']._gelato_parse_error(response)
        self.assertEqual((error.status, error.transient), (400, False))
        self.assertIn(body['message'], error.args[0])
        self.assertEqual(error.body, body)


# === The requests the addon builds ============================================================


@tagged('post_install', '-at_install')
class TestGelatoRequestTables(ContractMixin, GelatoOrderCase):

    def test_every_request_of_an_order_follows_gelatos_tables(self):
        """Synchronize (GET template, GET product), Fetch costs (prices query), Check
        availability (stock), the rate (quote), sending (search, create) and cancelling: each
        request the simulator received validates against its schema (docs/orders/v4/create,
        quote, search; docs/products/prices; docs/products/stock/region-availability/)."""
        self._product_with_uids('tpl-contract', ['contract_uid_a', 'contract_uid_b'])
        self.poster.action_gelato_fetch_costs()
        self.poster.action_gelato_check_availability()
        order = self._order([(self.small, 2), (self.medium, 1)], carrier=self.carrier_normal)
        self._confirm_and_send(order)
        order._action_cancel()
        checked = self._assert_valid_requests()
        self.assertEqual(checked, {'order_create', 'order_quote', 'order_search',
                                   'product_prices_query', 'stock_region_availability'})
        paths = [r['path'] for r in self.simulator.requests if r['method'] == 'GET']
        self.assertIn('/ecommerce/v1/templates/tpl-contract', paths)
        self.assertIn('/product/v3/products/contract_uid_a', paths)
        cancel = self._requests(method='POST', path=r'/order/v4/orders/[^/]+:cancel')
        self.assertEqual([(r['path'], r['json']) for r in cancel],
                         [(f'/order/v4/orders/{order.gelato_order_id}:cancel', None)])

    def test_us_customer_requests_carry_the_state(self):
        """https://dashboard.gelato.com/docs/orders/v4/create and /quote/: the state is required
        for the United States."""
        order = self._order(partner=self.us_customer, carrier=self.carrier_express)
        self._confirm_and_send(order)
        self._assert_valid_requests()
        quote = self._requests(method='POST', path=r'/order/v4/orders:quote')[-1]['json']
        self.assertEqual((quote['recipient']['country'], quote['recipient']['state']),
                         ('US', 'NY'))
        stored = self._remote(order)['shippingAddress']
        self.assertEqual((stored['country'], stored['state']), ('US', 'NY'))

    def test_brazilian_customers_send_their_tax_ids(self):
        """https://dashboard.gelato.com/docs/orders/v4/create, ShippingAddressObject:
        federalTaxId (CPF, or CNPJ with isBusiness) for Brazil; a company also sends its state
        tax id (IE) and registration state."""
        person = self._confirm_and_send(self._order(partner=self.br_person))
        company = self._confirm_and_send(self._order(partner=self.br_company))
        self.assertIn('order_create', self._assert_valid_requests())
        address = self._remote(person)['shippingAddress']
        self.assertEqual((address['federalTaxId'], address['isBusiness']),
                         ('123.456.789-09', False))
        self.assertNotIn('stateTaxId', address)
        address = self._remote(company)['shippingAddress']
        self.assertEqual(
            (address['federalTaxId'], address['isBusiness'], address['stateTaxId'],
             address['registrationStateCode']),
            ('12.345.678/0001-95', True, '123.456.789.112', 'SP'))

    def test_multi_page_product_sends_its_page_count_everywhere(self):
        """https://dashboard.gelato.com/docs/products/product/get/ (`validPageCounts`),
        https://dashboard.gelato.com/docs/orders/v4/create (ItemObject.pageCount) and
        https://dashboard.gelato.com/docs/products/prices ("mandatory for multi-page
        products"): Synchronize reads the counts, prices, quotes and orders carry one."""
        self.simulator.make_template('tpl-book', [('Cover', ['Soft', 'Hard'])],
                                     page_counts=[48, 24])
        book = self._product('tpl-book', list_price=40.0)
        self._sync(book)
        self.assertEqual((book.gelato_valid_page_counts, book.gelato_page_count), ('24,48', 24))
        for image in book.gelato_image_ids:
            image.datas = PNG
        book.action_gelato_fetch_costs()
        soft = book.product_variant_ids[0]
        order = self._confirm_and_send(self._order([(soft, 3)], carrier=self.carrier_normal))
        self._assert_valid_requests()
        prices = self._requests(method='GET', path=r'/product/v3/products/[^/]+/prices')
        self.assertEqual({r['query'].get('pageCount') for r in prices}, {'24'})
        quote = self._requests(method='POST', path=r'/order/v4/orders:quote')[-1]['json']
        self.assertEqual(quote['products'][0]['pageCount'], 24)
        self.assertEqual(self._remote(order)['items'][0]['pageCount'], 24)


# === "Done when" ==============================================================================


@tagged('post_install', '-at_install')
class TestGelatoDoneWhen(ContractMixin, GelatoOrderCase):

    def test_us_customer_is_refused_a_variant_out_of_stock_in_us_ca(self):
        """https://dashboard.gelato.com/docs/products/stock/region-availability/: the United
        States and Canada are the region `US-CA`. Once Check availability stored Gelato's
        `out-of-stock` there, the cart refuses the variant to a US shopper and the quotation
        cannot be confirmed; a German customer (region EU) still can."""
        self.simulator.stock_overrides[(self.small.gelato_product_uid, 'US-CA')] = 'out-of-stock'
        self.poster.action_gelato_check_availability()
        self.assertEqual(self.small._gelato_availability_in('US-CA'), 'out-of-stock')
        cart = self.env['sale.order'].create({'partner_id': self.us_customer.id})
        quantity, message = cart._verify_updated_quantity(
            self.env['sale.order.line'], self.small.id, 1, self.small.uom_id.id)
        self.assertEqual(quantity, 0)
        self.assertIn(self.small.display_name, message)
        self.assertIn('out of stock', message)
        self.assertEqual(cart._verify_updated_quantity(
            self.env['sale.order.line'], self.medium.id, 1, self.medium.uom_id.id)[0], 1)
        order = self._order([(self.small, 1)], partner=self.us_customer)
        with self.assertRaisesRegex(ValidationError, 'out of stock at Gelato for the region US-CA'):
            order.action_confirm()
        self.assertFalse(self._requests(method='POST', path=r'/order/v4/orders'))
        self._confirm_and_send(self._order([(self.small, 1)]))  # Berlin: region EU

    def test_reconciled_shipped_order_carries_the_tracking_of_its_packages(self):
        """https://dashboard.gelato.com/docs/orders/v4/get/: tracking lives in
        `shipment.packages`. Gelato's GET example, shipped: the reconciliation validates the
        delivery with its tracking code, shown on the portal with its link."""
        order = self._confirm_and_send(self._order([(self.small, 1), (self.medium, 1)]))
        record = order.gelato_order_ids
        body = example('order_get_response')['body']
        body.update(id=record.gelato_id, orderReferenceId=record.reference,
                    fulfillmentStatus='shipped')
        for item, product in zip(body['items'], (self.small, self.medium), strict=True):
            item.update(itemReferenceId=str(self._line(order, product).id),
                        fulfillmentStatus='shipped')
        self.simulator.orders[record.gelato_id] = body
        record.last_update_at = fields.Datetime.now() - timedelta(hours=7)  # quiet: reconciled
        self.env['gelato.order']._cron_reconcile()
        self.assertEqual(record.status, 'shipped')
        picking = order.picking_ids
        self.assertEqual(picking.state, 'done')
        self.assertEqual(picking.carrier_tracking_ref, '12345678990')
        self.assertEqual(order._gelato_portal_tracking(),
                         [('12345678990', 'http://test.tracking.url')])

    def test_us_quotation_without_state_is_refused_naming_the_field(self):
        """https://dashboard.gelato.com/docs/orders/v4/create, ShippingAddressObject.state:
        required for the United States; the confirmation says which field is missing, and
        nothing reaches Gelato."""
        self.us_customer.state_id = False
        order = self._order(partner=self.us_customer)
        with self.assertRaisesRegex(ValidationError, r'lacks: .*State'):
            order.action_confirm()
        self.assertEqual(order.state, 'draft')
        self.assertFalse(self._requests(method='POST', path=r'/order/v4/orders'))

    def test_multi_page_order_carries_its_page_count(self):
        """https://dashboard.gelato.com/docs/orders/v4/create, ItemObject.pageCount ("only
        needed for multi-page products"), among the product's `validPageCounts`
        (https://dashboard.gelato.com/docs/products/product/get/): read from the order the
        simulator stored."""
        self.simulator.make_template('tpl-notebook', [], page_counts=[116, 232])
        notebook = self._product('tpl-notebook')
        self._sync(notebook)
        notebook.gelato_page_count = 232
        for image in notebook.gelato_image_ids:
            image.datas = PNG
        order = self._confirm_and_send(self._order([(notebook.product_variant_id, 1)]))
        self.assertEqual(order.gelato_order_ids.state, 'sent', order.gelato_last_error)
        self.assertEqual(self._remote(order)['items'][0]['pageCount'], 232)


# === Bad answers from Gelato ==================================================================


@tagged('post_install', '-at_install')
class TestGelatoBadAnswers(ContractMixin, GelatoOrderCase):
    """What Gelato may send that its docs do not promise: a clear message, the product or order
    kept as it was, and no secret in any log line."""

    def _assert_no_secret(self, logs):
        self.assertNotIn(API_KEY, logs.text)
        self.assertNotIn(WEBHOOK_SECRET, logs.text)

    def test_documented_error_shape_on_create_is_kept_with_gelatos_words(self):
        """`{"code", "message"}` (https://dashboard.gelato.com/docs/products/stock/region-
        availability/) on POST /v4/orders: the order needs attention, with Gelato's words."""
        order = self._order()
        order.action_confirm()
        self.simulator.set_canned('POST', r'/order/v4/orders', 400, {
            'code': 'validation_error', 'message': 'shippingAddress.postCode: is invalid'})
        with capture_logs() as logs:
            self.env['gelato.order']._cron_send_pending()
        record = order.gelato_order_ids
        self.assertEqual((record.state, record.gelato_id), ('attention', False))
        self.assertIn('Gelato says: shippingAddress.postCode: is invalid', record.last_error)
        self.assertEqual(order.state, 'sale')
        self._assert_no_secret(logs)

    def test_undocumented_error_shape_gives_a_plain_message(self):
        """An error body Gelato does not document (`{"error": {"detail": ...}}`): the status
        is said, nothing is invented."""
        order = self._order()
        order.action_confirm()
        self.simulator.set_canned('POST', r'/order/v4/orders', 400, {'error': {'detail': 'x'}})
        with capture_logs() as logs:
            self.env['gelato.order']._cron_send_pending()
        record = order.gelato_order_ids
        self.assertEqual(record.state, 'attention')
        self.assertIn('Gelato refused the request (400)', record.last_error)
        self.assertNotIn('Gelato says', record.last_error)
        self._assert_no_secret(logs)

    def test_empty_500_keeps_the_product_and_the_order_waiting(self):
        """An empty body with a 500: Synchronize leaves the product as it was (the safe GET is
        retried first); the order stays in the outbox to be retried."""
        uids = sorted(self.poster.product_variant_ids.mapped('gelato_product_uid'))
        self.simulator.set_canned('GET', r'/ecommerce/v1/templates/.+', 500, None)
        with capture_logs() as logs:
            params = self._sync(self.poster)
        self.assertEqual(params['type'], 'danger')
        self.assertIn('left unchanged', params['message'])
        self.assertIn('Gelato', params['message'])
        self.assertEqual(sorted(self.poster.product_variant_ids.mapped('gelato_product_uid')),
                         uids)
        self.assertEqual(self.poster.gelato_template_state, 'synced')
        self.simulator.clear_canned()
        order = self._order()
        order.action_confirm()
        self.simulator.set_canned('POST', r'/order/v4/orders', 500, b'')
        with capture_logs() as more:
            self.env['gelato.order']._cron_send_pending()
        record = order.gelato_order_ids
        self.assertEqual(record.state, 'pending')
        self.assertIn('internal error (500)', record.last_error)
        self._assert_no_secret(logs)
        self._assert_no_secret(more)

    def test_price_list_without_a_usable_tier_changes_no_cost(self):
        """Price rows Gelato's table does not allow (https://dashboard.gelato.com/docs/products/
        prices: quantity int, price float): none, negative, strings, not a list."""
        self.poster.product_variant_ids.standard_price = 7.0
        for rows in ([], [{'productUid': 'x', 'quantity': 1, 'price': -3.0, 'currency': 'USD'}],
                     [{'quantity': '1', 'price': '4.50', 'currency': 'USD'}],
                     [{'quantity': 0, 'price': 4.5}], {'prices': []}):
            with self.subTest(rows=rows):
                self.simulator.set_canned('GET', r'/product/v3/products/[^/]+/prices', 200, rows)
                with capture_logs() as logs:
                    action = self.poster.action_gelato_fetch_costs()
                self.assertEqual(action['params']['type'], 'danger')
                self.assertRegex(action['params']['message'], r'sent no (usable )?price')
                self.assertEqual(set(self.poster.product_variant_ids.mapped('standard_price')),
                                 {7.0})
                self._assert_no_secret(logs)

    def test_a_stock_region_the_addon_does_not_know_is_kept_and_breaks_nothing(self):
        """A `stockRegionUid` outside Gelato's list (docs/products/stock/region-availability/):
        stored as given, next to the known ones; it concerns no customer's region, so orders
        are not refused for it."""
        uid = self.small.gelato_product_uid
        self.simulator.set_canned('POST', r'/product/v3/stock/region-availability', 200, {
            'productsAvailability': [{'productUid': uid, 'availability': [
                {'stockRegionUid': 'MARS', 'status': 'out-of-stock', 'replenishmentDate': None},
                {'stockRegionUid': 'EU', 'status': 'in-stock', 'replenishmentDate': None},
                {'stockRegionUid': 'US-CA', 'status': 'no-idea', 'replenishmentDate': None},
            ]}]})
        with capture_logs() as logs:
            action = self.poster.action_gelato_check_availability()
        self.assertEqual(action['params']['type'], 'success', action['params']['message'])
        self.assertEqual({(a.region, a.status) for a in self.small.gelato_availability_ids},
                         {('MARS', 'out-of-stock'), ('EU', 'in-stock')})
        self.simulator.clear_canned()
        self._confirm_and_send(self._order([(self.small, 1)]))
        self._confirm_and_send(self._order([(self.small, 1)], partner=self.us_customer))
        self._assert_no_secret(logs)


# === Gelato's webhook examples ================================================================


@tagged('post_install', '-at_install')
class TestGelatoWebhookExamples(ContractMixin, GelatoHttpCase):
    """https://dashboard.gelato.com/docs/webhooks/ and
    https://dashboard.gelato.com/docs/orders/order_details/: each documented event, posted to
    `/gelato/webhook` with the company's secret, its order ids pointed at an order Odoo sent."""

    def _sent(self, lines=None):
        order = self._confirm_and_send(self._order(lines or [(self.small, 1)]))
        return order, order.gelato_order_ids.sorted('id')

    def _aimed(self, name, record):
        payload = example(name)['body']
        payload.update(orderId=record.gelato_id, orderReferenceId=record.reference)
        return payload

    def test_order_status_updated_example_ships_with_both_tracking_codes(self):
        """webhook_order_status_updated: `shipped` with two fulfillments: two packages, the
        delivery validated with both codes."""
        order, record = self._sent()
        payload = self._aimed('webhook_order_status_updated', record)
        payload['items'][0]['itemReferenceId'] = str(self._line(order, self.small).id)
        event = self._post_webhook(payload)
        self.assertEqual(event.state, 'processed', event.error)
        self.assertEqual(event.order_id, record)
        self.assertEqual(record.status, 'shipped')
        self.assertEqual({(p.tracking_code, p.tracking_url) for p in record.package_ids},
                         {('code123', 'http://example.com/tracking?code=code123'),
                          ('code234', 'http://example.com/tracking?code=code234')})
        self.assertEqual(order.picking_ids.state, 'done')
        self.assertEqual(set(order.picking_ids.carrier_tracking_ref.split(',')),
                         {'code123', 'code234'})

    def test_order_item_status_updated_example_moves_the_item(self):
        """webhook_order_item_status_updated: `status` (not fulfillmentStatus) of one item."""
        order, record = self._sent()
        payload = self._aimed('webhook_order_item_status_updated', record)
        payload['itemReferenceId'] = str(self._line(order, self.small).id)
        event = self._post_webhook(payload)
        self.assertEqual(event.state, 'processed', event.error)
        self.assertEqual(record.item_ids.status, 'passed')

    def test_order_item_tracking_code_updated_example_ships_the_item(self):
        """webhook_order_item_tracking_code_updated: the item leaves in package `code123`
        (the example's production* fields instead of the table's fulfillment* do not matter)."""
        order, record = self._sent([(self.small, 1), (self.medium, 1)])
        payload = self._aimed('webhook_order_item_tracking_code_updated', record)
        payload['itemReferenceId'] = str(self._line(order, self.small).id)
        event = self._post_webhook(payload)
        self.assertEqual(event.state, 'processed', event.error)
        package = record.package_ids
        self.assertEqual((package.tracking_code, package.tracking_url),
                         ('code123', 'http://example.com/tracking?code=code123'))
        self.assertEqual(package.item_ids.sale_line_id, self._line(order, self.small))
        self.assertEqual(package.picking_id.state, 'done')
        self.assertEqual(package.picking_id.carrier_tracking_ref, 'code123')
        self.assertNotIn('done', self._line(order, self.medium).move_ids.mapped('state'))

    def test_order_delivery_estimate_updated_example_sets_the_dates(self):
        """webhook_order_delivery_estimate_updated (beta): the new estimate is kept."""
        _order, record = self._sent()
        event = self._post_webhook(self._aimed('webhook_order_delivery_estimate_updated', record))
        self.assertEqual(event.state, 'processed', event.error)
        self.assertEqual((record.min_delivery_date, record.max_delivery_date),
                         (date(2022, 11, 3), date(2022, 11, 5)))

    def _split(self):
        """The split example's order: a poster produced alone, a phone case and a mug together
        (here: the small poster alone, two lines of the medium one together)."""
        self.simulator.split_mode = 'product'
        order, records = self._sent([(self.small, 1), (self.medium, 1), (self.medium, 2)])
        self.assertEqual(len(records), 2, order.gelato_last_error)
        poster = self._line(order, self.small)
        phone, mug = order.order_line.filtered(
            lambda line: line.product_id == self.medium).sorted('id')
        return order, records, {'poster-13x18': poster, 'phone-case': phone, 'mug-15-oz': mug}

    def test_split_order_status_examples_move_each_connected_order(self):
        """webhook_order_status_updated_split_part1/part2: one event per Gelato order, same
        orderReferenceId, each with its own items."""
        _order, (main, connected), lines = self._split()
        for name, record in (('webhook_order_status_updated_split_part1', main),
                             ('webhook_order_status_updated_split_part2', connected)):
            payload = self._aimed(name, record)
            for item in payload['items']:
                item['itemReferenceId'] = str(lines[item['itemReferenceId']].id)
            event = self._post_webhook(payload)
            self.assertEqual(event.state, 'processed', event.error)
            self.assertEqual(event.order_id, record)
        self.assertEqual((main.status, connected.status), ('passed', 'passed'))
        self.assertEqual(set((main | connected).item_ids.mapped('status')), {'passed'})

    def test_split_order_item_examples_move_each_item(self):
        """webhook_order_item_status_updated_split_poster/phone_case/mug: item events of both
        connected orders."""
        _order, (main, connected), lines = self._split()
        for name, record in (('webhook_order_item_status_updated_split_poster', main),
                             ('webhook_order_item_status_updated_split_phone_case', connected),
                             ('webhook_order_item_status_updated_split_mug', connected)):
            payload = self._aimed(name, record)
            line = lines[payload['itemReferenceId']]
            payload['itemReferenceId'] = str(line.id)
            event = self._post_webhook(payload)
            self.assertEqual(event.state, 'processed', event.error)
            item = record.item_ids.filtered(lambda i, ln=line: i.sale_line_id == ln)
            self.assertEqual(item.status, 'passed')

    def test_stock_availability_example_stores_the_regions(self):
        """webhook_catalog_product_stock_availability_updated: the example's key is
        `productAvailability` (the table says productsAvailability)."""
        payload = example('webhook_catalog_product_stock_availability_updated')['body']
        uids = [entry['productUid'] for entry in payload['productAvailability']]
        product = self._product_with_uids('tpl-frames', uids)
        event = self._post_webhook(payload)
        self.assertEqual(event.state, 'processed', event.error)
        self.assertEqual(event.product_tmpl_ids, product)
        stored = {(a.product_id.gelato_product_uid, a.region): a.status
                  for a in product.product_variant_ids.gelato_availability_ids}
        self.assertEqual(stored, {(uids[0], 'EU'): 'out-of-stock',
                                  (uids[0], 'ROW'): 'out-of-stock-replenishable',
                                  (uids[1], 'US-CA'): 'in-stock'})

    def test_store_product_examples_are_recorded_and_ignored_with_why(self):
        """webhook_store_product_created/updated/deleted: about store products, which name no
        template; recorded, ignored, with the reason."""
        for name in ('webhook_store_product_created', 'webhook_store_product_updated',
                     'webhook_store_product_deleted'):
            with self.subTest(example=name):
                payload = example(name)['body']
                event = self._post_webhook(payload)
                self.assertEqual(event.state, 'ignored')
                self.assertIn(payload['storeProductId'], event.error)

    def test_template_changed_examples_resynchronize_the_product(self):
        """webhook_store_product_template_created/updated: the product of that template is
        marked for a synchronization in the background."""
        product = self._product('62b20586-e4c4-46e7-8d0d-9e203b02b2ea')
        for name in ('webhook_store_product_template_created',
                     'webhook_store_product_template_updated'):
            with self.subTest(example=name):
                payload = example(name)['body']
                self.assertEqual(payload['storeProductTemplateId'], product.gelato_template_ref)
                product.gelato_template_state = 'synced'
                event = self._post_webhook(payload)
                self.assertEqual(event.state, 'processed', event.error)
                self.assertEqual(event.product_tmpl_ids, product)
                self.assertEqual(product.gelato_template_state, 'update_pending')

    def test_template_deleted_example_archives_the_product(self):
        """webhook_store_product_template_deleted: the product of that template is archived."""
        payload = example('webhook_store_product_template_deleted')['body']
        product = self._product(payload['storeProductTemplateId'])
        event = self._post_webhook(payload)
        self.assertEqual(event.state, 'processed', event.error)
        self.assertFalse(product.active)
        self.assertEqual(product.gelato_template_state, 'deleted')
