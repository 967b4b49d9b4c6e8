# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""The simulator is never more lenient than Gelato, and answers in Gelato's shapes.

Each refusal below is one Gelato documents, with the page that says so. The simulator must still
accept Gelato's own request examples (`tests/data/gelato/*_request.json`), only their product
UIDs changed to ones its catalog knows, and its answers must carry the fields of Gelato's own
answer examples. Requests go over real HTTP, as the addon's do.
"""
import copy
import re

import requests

from odoo.tests import TransactionCase, tagged

from odoo.addons.gelato_connector.simulator import SEED_TEMPLATE_IDS
from odoo.addons.gelato_connector.simulator import api as sim_api
from odoo.addons.gelato_connector.simulator import data as sim_data
from odoo.addons.gelato_connector.tests.common import API_KEY, start_simulator
from odoo.addons.gelato_connector.tests.test_gelato_contract import example

CREATE = 'https://dashboard.gelato.com/docs/orders/v4/create'
QUOTE = 'https://dashboard.gelato.com/docs/orders/v4/quote/'
SEARCH = 'https://dashboard.gelato.com/docs/orders/v4/search'
PATCH = 'https://dashboard.gelato.com/docs/orders/v4/patch'
STOCK = 'https://dashboard.gelato.com/docs/products/stock/region-availability/'
PRICES = 'https://dashboard.gelato.com/docs/products/prices'


@tagged('post_install', '-at_install')
class TestSimulator(TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.simulator = start_simulator(cls)

    def setUp(self):
        super().setUp()
        self.simulator.reset()
        templates = self.simulator.templates
        self.tshirt = templates[SEED_TEMPLATE_IDS['tshirt']]['variants'][0]['productUid']
        self.poster = templates[SEED_TEMPLATE_IDS['poster']]['variants'][0]['productUid']
        self.mug = templates[SEED_TEMPLATE_IDS['mug']]['variants'][0]['productUid']

    # --- helpers -------------------------------------------------------------------------------

    def _call(self, method, path, body=None, params=None, key=API_KEY):
        return requests.request(method, self.simulator.url + path, json=body, params=params,
                                headers={'X-API-KEY': key}, timeout=10)

    def _ok(self, method, path, body=None, params=None):
        response = self._call(method, path, body, params)
        self.assertEqual(response.status_code, 200, response.text)
        return response.json()

    def _refused(self, method, path, body, *expected, params=None,
                 code='validation_error', status=400):
        """The simulator refuses in Gelato's error shape, naming each field at fault."""
        response = self._call(method, path, body, params)
        self.assertEqual(response.status_code, status, response.text)
        answer = response.json()
        self.assertEqual(set(answer), {'code', 'message'}, "Gelato's documented error shape")
        self.assertEqual(answer['code'], code)
        for text in expected:
            self.assertIn(text, answer['message'])
        return answer['message']

    def _order_body(self):
        """Gelato's own create example (its t-shirt is one the simulator sells)."""
        body = example('order_create_request')['body']
        self.assertEqual(body['items'][0]['productUid'], self.tshirt)
        return body

    def _create(self, body):
        return self._ok('POST', '/order/v4/orders', body)

    def _refuse_create(self, body, *expected):
        before = len(self.simulator.orders)
        message = self._refused('POST', '/order/v4/orders', body, *expected)
        self.assertEqual(len(self.simulator.orders), before, "nothing was created")
        return message

    def _quote_body(self):
        body = example('order_quote_request')['body']
        body['products'][0]['productUid'] = self.tshirt
        body['products'][1]['productUid'] = self.poster
        return body

    @staticmethod
    def _keys(value):
        return set(value) if isinstance(value, dict) else set()

    def _assert_shape(self, ours, documented, where, ignore=()):
        """Our answer carries every field of Gelato's example, nested objects and lists too
        (the first entry of a list). `ignore` names fields left out: `name` anywhere, or
        `where.path.name` at one place."""
        if isinstance(documented, dict):
            self.assertIsInstance(ours, dict, where)
            skipped = {key for key in documented
                       if key in ignore or f'{where}.{key}' in ignore}
            missing = self._keys(documented) - self._keys(ours) - skipped
            self.assertFalse(missing, f"{where}: fields of Gelato's example missing: {missing}")
            for key, value in documented.items():
                if key in ours and key not in skipped and isinstance(value, (dict, list)) \
                        and value:
                    self._assert_shape(ours[key], value, f'{where}.{key}', ignore)
        elif isinstance(documented, list) and documented and isinstance(documented[0], dict):
            self.assertIsInstance(ours, list, where)
            if ours:  # An empty list (no packages yet) has no entry to compare.
                self._assert_shape(ours[0], documented[0], f'{where}[0]', ignore)

    # --- Gelato's own requests are accepted --------------------------------------------------

    def test_gelatos_create_example_is_accepted(self):
        """https://dashboard.gelato.com/docs/orders/v4/create: the request example."""
        answer = self._create(self._order_body())
        stored = self.simulator.orders[answer['id']]
        self.assertEqual(stored['shipment']['shipmentMethodUid'], 'fedex_2day',
                         "shipmentMethodUid 'express': the cheapest express method to the US")
        self.assertEqual(stored['metadata'], self._order_body()['metadata'])
        self.assertEqual([f['type'] for f in stored['items'][0]['files']], ['default', 'back'])

    def test_gelatos_split_order_example_is_accepted(self):
        """https://dashboard.gelato.com/docs/orders/order_details/: the split-order request,
        its products made the simulator's; `standard` picks the cheapest normal method."""
        body = example('order_create_split_request')['body']
        for item, uid in zip(body['items'], (self.poster, self.tshirt, self.mug), strict=True):
            item['productUid'] = uid
        answer = self._create(body)
        self.assertEqual(answer['shipment']['shipmentMethodUid'], 'ups_surepost')
        self.assertEqual(len(answer['items']), 3)

    def test_gelatos_quote_example_is_accepted(self):
        """https://dashboard.gelato.com/docs/orders/v4/quote/: the request example (with
        `allowMultipleQuotes: false`, one quote)."""
        answer = self._ok('POST', '/order/v4/orders:quote', self._quote_body())
        self.assertEqual(len(answer['quotes']), 1)
        self.assertEqual(answer['orderReferenceId'], '{{myOrderId}}')

    def test_quotes_are_split_only_where_orders_would_be(self):
        """Issue 24, point 10: Gelato's quote example answers one quote for two products
        (https://dashboard.gelato.com/docs/orders/v3/quote, `itemReferenceIds`); quotes are
        one per production site, as connected orders (docs/orders/order_details/)."""
        body = self._quote_body()
        body['allowMultipleQuotes'] = True
        self.assertGreater(len(body['products']), 1)
        self.assertEqual(len(self._ok('POST', '/order/v4/orders:quote', body)['quotes']), 1)
        self.simulator.split_mode = 'product'
        answer = self._ok('POST', '/order/v4/orders:quote', body)
        self.assertEqual(len(answer['quotes']), len({p['productUid'] for p in body['products']}))

    def test_gelatos_search_example_is_accepted(self):
        """https://dashboard.gelato.com/docs/orders/v4/search: the request example."""
        self._create(self._order_body())
        answer = self._ok('POST', '/order/v4/orders:search',
                          example('order_search_request')['body'])
        self.assertEqual(len(answer['orders']), 1)

    def test_gelatos_stock_example_is_accepted_and_an_unknown_product_is_not_supported(self):
        """https://dashboard.gelato.com/docs/products/stock/region-availability/: the request
        example; `not-supported` for the product Gelato does not know."""
        body = example('stock_region_availability_request')['body']
        known = body['products'][:2]
        self.simulator.add_template({'id': 'tpl-stockable', 'variants': [
            {'productUid': uid, 'variantOptions': [{'name': 'Kind', 'value': str(n)}]}
            for n, uid in enumerate(known)]})
        self.simulator.stock_overrides[(known[0], 'EU')] = 'out-of-stock-replenishable'
        answer = self._ok('POST', '/product/v3/stock/region-availability', body)
        rows = {row['productUid']: {a['stockRegionUid']: a for a in row['availability']}
                for row in answer['productsAvailability']}
        self.assertEqual(set(rows['non-existing-product-uid']), set(sim_data.STOCK_REGIONS))
        self.assertEqual({a['status'] for a in rows['non-existing-product-uid'].values()},
                         {'not-supported'})
        self.assertEqual(rows[known[0]]['EU']['status'], 'out-of-stock-replenishable')
        self.assertRegex(rows[known[0]]['EU']['replenishmentDate'], r'^\d{4}-\d{2}-\d{2}$')
        self.assertIsNone(rows[known[0]]['US-CA']['replenishmentDate'])
        self._assert_shape(answer, example('stock_region_availability_response')['body'],
                           'stock')

    def test_a_product_made_to_order_is_non_stockable(self):
        """https://dashboard.gelato.com/docs/products/stock/region-availability/: `non-stockable`
        for products such as mugs and posters; product GET says `isStockable: false`
        (https://dashboard.gelato.com/docs/products/product/get/)."""
        self.simulator.non_stockable.add(self.mug)
        answer = self._ok('POST', '/product/v3/stock/region-availability',
                          {'products': [self.mug, self.poster]})
        statuses = {row['productUid']: {a['status'] for a in row['availability']}
                    for row in answer['productsAvailability']}
        self.assertEqual(statuses, {self.mug: {'non-stockable'}, self.poster: {'in-stock'}})
        self.assertFalse(self._ok('GET', f'/product/v3/products/{self.mug}')['isStockable'])
        self.assertTrue(self._ok('GET', f'/product/v3/products/{self.poster}')['isStockable'])

    def test_gelatos_patch_examples_are_accepted(self):
        """https://dashboard.gelato.com/docs/orders/v4/patch: both request examples, on a draft
        of two items; an item listed with its id alone stays as it is."""
        body = self._order_body()
        body['orderType'] = 'draft'
        body['items'].append(dict(copy.deepcopy(body['items'][0]), itemReferenceId='second'))
        for item in body['items']:
            item.pop('files')
        draft = self._create(body)
        first, second = (item['id'] for item in draft['items'])
        patch = example('order_patch_draft_files_request')['body']
        patch['items'][0]['id'], patch['items'][1]['id'] = first, second
        # The second item keeps its files: give it some first, as a draft may lack them.
        self.simulator.orders[draft['id']]['items'][1]['files'] = [
            {'type': 'default', 'url': 'https://example.com/second.pdf'}]
        answer = self._ok('PATCH', f"/order/v4/orders/{draft['id']}", patch)
        self.assertEqual(answer['orderType'], 'order')
        self.assertEqual([f['url'] for f in answer['items'][0]['files']],
                         [f['url'] for f in patch['items'][0]['files']])
        self.assertEqual(answer['items'][1]['files'][0]['url'], 'https://example.com/second.pdf')
        self._assert_shape(answer, example('order_patch_draft_response')['body'], 'patch',
                           ignore=('fileUrl', 'options', 'billingEntity'))

        body['orderType'] = 'draft'
        body['items'] = body['items'][:1]
        body['items'][0]['files'] = [{'type': 'default', 'url': 'https://example.com/a.png'}]
        draft = self._create(body)
        answer = self._ok('PATCH', f"/order/v4/orders/{draft['id']}",
                          example('order_patch_draft_request')['body'])
        self.assertEqual(answer['fulfillmentStatus'], 'created')

    def test_a_draft_is_never_produced_and_only_a_draft_is_deleted(self):
        """docs/orders/v4/create (orderType draft: not sent to production), docs/orders/v4/patch
        (only drafts can be patched), docs/orders/v4/delete (a draft order is deleted)."""
        body = self._order_body()
        body['orderType'] = 'draft'
        draft = self._create(body)
        self.assertEqual(draft['fulfillmentStatus'], 'draft')
        self.assertIsNone(draft['orderedAt'], "a draft is not ordered")
        order = self._create(self._order_body())
        response = self._call('DELETE', f"/order/v4/orders/{order['id']}")
        self.assertEqual(response.status_code, 409, response.text)
        self.assertIn(order['id'], self.simulator.orders)
        response = self._call('PATCH', f"/order/v4/orders/{order['id']}", {'orderType': 'order'})
        self.assertEqual(response.status_code, 409, response.text)
        response = self._call('DELETE', f"/order/v4/orders/{draft['id']}")
        self.assertEqual(response.status_code, 204, response.text)
        self.assertNotIn(draft['id'], self.simulator.orders)

    def test_numeric_references_are_accepted_and_answered_as_strings(self):
        """docs/get-started/ (Order structure): customerReferenceId, orderReferenceId and
        itemReferenceId "must be a string or numeric value" (Odoo's sale_gelato sends numbers);
        Gelato's answers show them as strings (docs/orders/v4/get/ example)."""
        body = self._order_body()
        body.update(orderReferenceId=4242, customerReferenceId=17)
        body['items'][0]['itemReferenceId'] = 7
        answer = self._create(body)
        self.assertEqual((answer['orderReferenceId'], answer['customerReferenceId'],
                          answer['items'][0]['itemReferenceId']), ('4242', '17', '7'))
        found = self._ok('POST', '/order/v4/orders:search', {'orderReferenceIds': ['4242']})
        self.assertEqual([o['id'] for o in found['orders']], [answer['id']])
        body['items'][0]['itemReferenceId'] = True
        self._refuse_create(body, 'itemReferenceId')

    def test_gelatos_shipment_prices_example_is_accepted(self):
        """https://dashboard.gelato.com/docs/shipment/price/: the request example, answered in
        the shape of the answer example."""
        body = example('shipment_prices_request')['body']
        body['products'][0]['productUid'] = self.tshirt
        body['products'][1]['productUid'] = self.poster
        answer = self._ok('POST', '/shipment/v1/prices:search', body)
        self.assertEqual([p['productUid'] for p in answer['prices']], [self.tshirt, self.poster])
        self.assertEqual([q['quantity'] for q in answer['prices'][1]['quantities']], [1, 5])
        self._assert_shape(answer, example('shipment_prices_response')['body'], 'prices')

    def test_print_links_without_extension_are_accepted(self):
        """https://dashboard.gelato.com/docs/orders/v4/create: Gelato lists the formats it
        prints (PDF, PNG, TIFF, SVG, JPEG) but documents no refusal of a link by its name; the
        addon's links are Odoo's `/web/content/<id>?access_token=...`."""
        body = self._order_body()
        body['items'][0]['files'] = [
            {'type': 'default', 'url': 'http://127.0.0.1:8069/web/content/42?access_token=ab-c'}]
        self._create(body)

    # --- Gelato's answers, in Gelato's shapes -----------------------------------------------

    def test_answers_carry_the_fields_of_gelatos_answer_examples(self):
        """Every answer of the simulator has the fields of Gelato's answer example of the same
        endpoint (docs/orders/v4/create, get, search, quote; docs/products/prices,
        product/get; docs/ecommerce/templates/get; docs/shipment/methods). Oddities of the
        examples that Gelato's tables contradict are left out: the v3 `fileUrl`, the envelope
        `options`, `billingEntity` (no billing entity for an API key)."""
        ignore = ('fileUrl', 'options', 'billingEntity')
        created = self._create(self._order_body())
        self._assert_shape(created, example('order_create_response')['body'], 'create',
                           ignore + ('create.returnAddress.lastName',))
        self.simulator.set_order_status(created['id'], 'shipped')
        fetched = self._ok('GET', f"/order/v4/orders/{created['id']}")
        self._assert_shape(fetched, example('order_get_response')['body'], 'get', ignore)
        found = self._ok('POST', '/order/v4/orders:search', {})
        self._assert_shape(found, example('order_search_response')['body'], 'search')
        quote = self._ok('POST', '/order/v4/orders:quote', self._quote_body())
        self._assert_shape(quote, example('order_quote_response')['body'], 'quote')
        prices = self._ok('GET', f'/product/v3/products/{self.poster}/prices')
        self._assert_shape(prices, example('product_prices_response')['body'], 'prices')
        self.simulator.make_template('tpl-book', [('Cover', ['Soft'])], page_counts=[24, 48])
        book = self.simulator.templates['tpl-book']['variants'][0]['productUid']
        product = self._ok('GET', f'/product/v3/products/{book}')
        self._assert_shape(product, example('product_get_response')['body'], 'product',
                           ignore=('attributes',))
        self.assertEqual(product['validPageCounts'], [24, 48])
        template = self._ok('GET', f"/ecommerce/v1/templates/{SEED_TEMPLATE_IDS['tshirt']}")
        self._assert_shape(template, example('template_get_response')['body'], 'template',
                           ignore=('productType', 'vendor'))
        methods = self._ok('GET', '/shipment/v1/shipment-methods', params={'country': 'US'})
        self._assert_shape(methods, example('shipment_methods_response')['body'], 'methods')

    def test_webhook_payloads_carry_the_fields_of_gelatos_examples(self):
        """https://dashboard.gelato.com/docs/webhooks/: each event the simulator sends has the
        fields of Gelato's example of that event, in the example's names (`productAvailability`,
        `production*` of the tracking event)."""
        order = self._create(self._order_body())
        self.simulator.set_order_status(order['id'], 'shipped')
        tshirt = SEED_TEMPLATE_IDS['tshirt']
        for name, order_id in (
                ('webhook_order_status_updated', order['id']),
                ('webhook_order_item_status_updated', order['id']),
                ('webhook_order_item_tracking_code_updated', order['id']),
                ('webhook_order_delivery_estimate_updated', order['id']),
                ('webhook_catalog_product_stock_availability_updated', order['id']),
                ('webhook_store_product_created', None), ('webhook_store_product_updated', None),
                ('webhook_store_product_deleted', None),
                ('webhook_store_product_template_created', None),
                ('webhook_store_product_template_updated', None),
                ('webhook_store_product_template_deleted', None)):
            with self.subTest(example=name):
                documented = example(name)['body']
                payload = self.simulator.build_event(documented['event'], order_id,
                                                     template_id=tshirt)
                self._assert_shape(payload, documented, documented['event'])
                if documented['event'] == 'order_item_tracking_code_updated':
                    self.assertNotIn('fulfillmentCountry', payload)
                if documented['event'].startswith('catalog_'):
                    self.assertNotIn('productsAvailability', payload)

    def test_too_many_products_is_gelatos_own_error_answer(self):
        """https://dashboard.gelato.com/docs/products/stock/region-availability/: the error
        example, word for word, for 273 products."""
        response = self._call('POST', '/product/v3/stock/region-availability',
                              {'products': [f'uid-{n}' for n in range(273)]})
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.json(), example('error_response')['body'])

    def test_refusals_of_the_api_key_use_gelatos_code(self):
        """https://dashboard.gelato.com/docs/products/stock/region-availability/: 401
        `invalid_api_key_provided`."""
        response = self._call('POST', '/product/v3/stock/region-availability',
                              {'products': [self.mug]}, key='wrong')
        self.assertEqual(response.status_code, 401)
        self.assertEqual(response.json()['code'], 'invalid_api_key_provided')

    # --- canned answers ------------------------------------------------------------------------

    def test_canned_answer_replaces_the_simulators_own_until_cleared(self):
        """A test hook: one documented answer for a route, set in Python or through the control
        API, the request still recorded and its API key still checked."""
        body = example('order_quote_response')['body']
        self.simulator.canned[('POST', r'/order/v4/orders:quote')] = (200, body)
        self.assertEqual(self._ok('POST', '/order/v4/orders:quote', {'any': 'thing'}), body)
        self.assertEqual(self._call('POST', '/order/v4/orders:quote', {}, key='bad').status_code,
                         401)
        self.assertEqual(self.simulator.requests[-1]['json'], {})
        self.simulator.clear_canned()
        self._refused('POST', '/order/v4/orders:quote', {'any': 'thing'}, 'recipient')

        control = self.simulator.url + '/_simulator/canned'
        response = requests.post(control, json={
            'method': 'GET', 'path': r'/order/v4/orders/[^/]+', 'status': 500, 'raw': ''},
            timeout=10)
        self.assertEqual(response.status_code, 200, response.text)
        answer = self._call('GET', '/order/v4/orders/whatever')
        self.assertEqual((answer.status_code, answer.content), (500, b''))
        requests.delete(control, timeout=10)
        self.assertEqual(self._call('GET', '/order/v4/orders/whatever').status_code, 404)
        self.simulator.set_canned('GET', '/order/v4/orders/x', 200, {'id': 'x'})
        self.simulator.reset()
        self.assertFalse(self.simulator.canned, "a reset forgets canned answers")

    # --- create: refusals ------------------------------------------------------------------

    def test_state_is_required_for_au_ca_and_us(self):
        """https://dashboard.gelato.com/docs/orders/v4/create, ShippingAddressObject.state:
        "Required for requests if the address is in one of these countries: Australia, Canada
        or United States"."""
        for country in ('US', 'CA', 'AU'):
            for state in (None, ''):
                with self.subTest(country=country, state=state):
                    body = self._order_body()
                    body['shippingAddress']['country'] = country
                    if state is None:
                        del body['shippingAddress']['state']
                    else:
                        body['shippingAddress']['state'] = state
                    expected = 'is required' if state is None else 'must not be empty'
                    self._refuse_create(body, f'shippingAddress.state: {expected} for {country}')
        body = self._order_body()
        body['shippingAddress'].update(country='DE', postCode='10117', city='Berlin')
        del body['shippingAddress']['state']
        body['returnAddress'].update(country='DE', state='')
        del body['returnAddress']['state']
        self._create(body)

    def test_return_address_in_the_us_needs_its_state(self):
        """https://dashboard.gelato.com/docs/orders/v4/create, ReturnAddressObject.state: the same
        rule as the shipping address's."""
        body = self._order_body()
        del body['returnAddress']['state']
        self._refuse_create(body, 'returnAddress.state: is required for US')

    def test_brazil_needs_the_federal_tax_id_and_a_company_its_state_ids(self):
        """https://dashboard.gelato.com/docs/orders/v4/create, ShippingAddressObject:
        federalTaxId "Mandatory for Brazil"; isBusiness, stateTaxId and registrationStateCode
        "Mandatory for Brazil if recipient is a company"; stateTaxId and registrationStateCode:
        "In order to supply this field, set isBusiness field to true"."""
        body = self._order_body()
        body['shippingAddress'].update(country='BR', state='SP', postCode='01310-100',
                                       city='Sao Paulo')
        self._refuse_create(body, 'shippingAddress.federalTaxId: is required for BR')
        body['shippingAddress']['federalTaxId'] = ''
        self._refuse_create(body, 'shippingAddress.federalTaxId: must not be empty for BR')
        body['shippingAddress'].update(federalTaxId='12.345.678/0001-95', isBusiness=True)
        message = self._refuse_create(body)
        self.assertIn('shippingAddress.stateTaxId: is required for BR when isBusiness is true',
                      message)
        self.assertIn('shippingAddress.registrationStateCode: is required for BR when '
                      'isBusiness is true', message)
        body['shippingAddress'].update(isBusiness=False, stateTaxId='123.456.789.112',
                                       registrationStateCode='SP')
        self._refuse_create(body, 'shippingAddress.isBusiness: must be true when stateTaxId is '
                                  'given')
        body['shippingAddress']['isBusiness'] = True
        self._create(body)
        person = self._order_body()
        person['shippingAddress'].update(country='BR', state='SP', postCode='01310-100',
                                         federalTaxId='123.456.789-09')
        self._create(person)

    def test_file_type_must_be_one_of_gelatos(self):
        """https://dashboard.gelato.com/docs/orders/v4/create, FileType: default, front, back,
        neck-inner, ... wrist-right-embroidery."""
        body = self._order_body()
        body['items'][0]['files'][1]['type'] = 'poster-front'
        self._refuse_create(body, 'items[0].files[1].type: "poster-front" is not one of default')

    def test_file_link_must_be_an_http_url(self):
        """https://dashboard.gelato.com/docs/orders/v4/create, File.url: "Url of the file" that
        Gelato downloads; a file needs a url or an id."""
        for url in ('ftp://example.com/a.png', '/web/content/42', 'file:///etc/passwd', ''):
            with self.subTest(url=url):
                body = self._order_body()
                body['items'][0]['files'][0]['url'] = url
                self._refuse_create(body, 'items[0].files[0].url: must be an http(s) URL')
        body = self._order_body()
        del body['items'][0]['files'][0]['url']
        self._refuse_create(body, 'items[0].files[0]: needs url or id')

    def test_printable_items_need_a_file(self):
        """https://dashboard.gelato.com/docs/orders/v4/create, ItemObject.files: "Files are
        required for printable products only" (every product of the simulator is printed)."""
        body = self._order_body()
        body['items'][0]['files'] = []
        self._refuse_create(body, 'items[0].files: at least one print file is required')

    def test_field_lengths_and_formats_are_gelatos(self):
        """https://dashboard.gelato.com/docs/orders/v4/create, ShippingAddressObject: first and
        last name 25, company 60, address lines 35, city 30, post code 15, state 35, phone 25;
        country `^[A-Z]{2}$` ("United Kingdom is GB, not UK"); e-mail an address."""
        body = self._order_body()
        address = body['shippingAddress']
        address.update(firstName='F' * 26, lastName='L' * 26, companyName='C' * 61,
                       addressLine1='A' * 36, addressLine2='B' * 36, city='C' * 31,
                       postCode='P' * 16, state='S' * 36, phone='1' * 26)
        message = self._refuse_create(body)
        for field, length in (('firstName', 25), ('lastName', 25), ('companyName', 60),
                              ('addressLine1', 35), ('addressLine2', 35), ('city', 30),
                              ('postCode', 15), ('state', 35), ('phone', 25)):
            self.assertIn(f'shippingAddress.{field}: must be at most {length} characters',
                          message)
        for country, text in (('UK', "'UK' is not an ISO 3166-1 alpha-2 code (the United "
                                     "Kingdom is GB)"),
                              ('us', '"us" is not a two-letter ISO 3166-1 code'),
                              ('USA', '"USA" is not a two-letter ISO 3166-1 code')):
            with self.subTest(country=country):
                body = self._order_body()
                body['shippingAddress']['country'] = country
                self._refuse_create(body, f'shippingAddress.country: {text}')
        body = self._order_body()
        body['shippingAddress']['email'] = 'not an address'
        self._refuse_create(body, 'shippingAddress.email: is not a valid email address')

    def test_required_fields_must_be_given_and_not_blank(self):
        """https://dashboard.gelato.com/docs/orders/v4/create: orderReferenceId,
        customerReferenceId, currency, items, shippingAddress (firstName, lastName,
        addressLine1, city, postCode, country, email) are required."""
        body = self._order_body()
        del body['currency'], body['customerReferenceId']
        body['shippingAddress'].update(firstName=' ', city='')
        del body['shippingAddress']['email']
        message = self._refuse_create(body)
        for text in ('currency: is required', 'customerReferenceId: is required',
                     'shippingAddress.firstName: is required', 'shippingAddress.city: is required',
                     'shippingAddress.email: is required'):
            self.assertIn(text, message)

    def test_currency_must_be_one_of_gelatos_35(self):
        """https://dashboard.gelato.com/docs/orders/v4/create and
        https://dashboard.gelato.com/docs/orders/v4/quote/, currency: "Supported currencies:
        EUR, USD, JPY, BGN, CZK, ... CLP, AED"."""
        body = self._order_body()
        body['currency'] = 'XAF'
        self._refuse_create(body, 'currency: "XAF" is not one of EUR, USD')
        quote = self._quote_body()
        quote['currency'] = 'XAF'
        self._refused('POST', '/order/v4/orders:quote', quote, 'currency: "XAF" is not one of')
        for currency in ('CZK', 'AED', 'CLP', 'HUF'):
            body['currency'] = currency
            self.assertEqual(self._create(body)['currency'], currency)

    def test_metadata_is_at_most_20_entries_of_100_characters(self):
        """https://dashboard.gelato.com/docs/orders/v4/create, MetadataObject: key and value
        required, "Max length: 100"; metadata "Max number of entries: 20"."""
        body = self._order_body()
        body['metadata'] = [{'key': f'k{n}', 'value': 'v'} for n in range(21)]
        self._refuse_create(body, 'metadata: must have at most 20 entries')
        body['metadata'] = [{'key': 'k' * 101, 'value': 'v' * 101}, {'key': 'only'}]
        message = self._refuse_create(body)
        self.assertIn('metadata[0].key: must be at most 100 characters', message)
        self.assertIn('metadata[0].value: must be at most 100 characters', message)
        self.assertIn('metadata[1].value: is required', message)
        body['metadata'] = [{'key': f'k{n}', 'value': 'v' * 100} for n in range(20)]
        self._create(body)

    def test_items_need_known_products_unique_references_and_whole_quantities(self):
        """https://dashboard.gelato.com/docs/orders/v4/create, ItemObject: itemReferenceId "Must
        be unique within your order", productUid of the catalog, quantity "The minimum value is
        1"."""
        body = self._order_body()
        second = copy.deepcopy(body['items'][0])
        second.update(productUid='no-such-product', quantity=0)
        body['items'].append(second)
        message = self._refuse_create(body)
        self.assertIn('items[1].itemReferenceId: must be unique within the order', message)
        self.assertIn("items[1].productUid: product 'no-such-product' is not available", message)
        self.assertIn('items[1].quantity: must be at least 1', message)
        body['items'] = []
        self._refuse_create(body, 'items: must have at least 1 entry')

    def test_multi_page_products_need_a_page_count_gelato_offers(self):
        """https://dashboard.gelato.com/docs/orders/v4/create, ItemObject.pageCount; the valid
        counts are the product's `validPageCounts`
        (https://dashboard.gelato.com/docs/products/product/get/); the prices query's pageCount
        "is mandatory for multi-page products" (https://dashboard.gelato.com/docs/products/prices).
        """
        self.simulator.make_template('tpl-book', [('Cover', ['Soft'])], page_counts=[24, 48])
        book = self.simulator.templates['tpl-book']['variants'][0]['productUid']
        body = self._order_body()
        body['items'][0]['productUid'] = book
        self._refuse_create(body, f'items[0].pageCount: is required for the multi-page product '
                                  f'{book}')
        body['items'][0]['pageCount'] = 30
        self._refuse_create(body, 'items[0].pageCount: must be one of [24, 48]')
        body['items'][0]['pageCount'] = '24'
        self._refuse_create(body, 'items[0].pageCount: must be an integer')
        quote = self._quote_body()
        quote['products'][0]['productUid'] = book
        self._refused('POST', '/order/v4/orders:quote', quote,
                      'products[0].pageCount: is required')
        self._refused('GET', f'/product/v3/products/{book}/prices', None, 'pageCount: is required')
        self._refused('GET', f'/product/v3/products/{book}/prices', None,
                      'pageCount: must be an integer', params={'pageCount': 'many'})
        body['items'][0]['pageCount'] = 48
        created = self._create(body)
        self.assertEqual(self.simulator.orders[created['id']]['items'][0]['pageCount'], 48)
        rows = self._ok('GET', f'/product/v3/products/{book}/prices', params={'pageCount': 24})
        self.assertEqual({row['pageCount'] for row in rows}, {24})

    # --- shipment methods ------------------------------------------------------------------

    def test_shipment_method_values_and_the_cheapest_match(self):
        """https://dashboard.gelato.com/docs/orders/v4/create, shipmentMethodUid: "normal,
        standard, express, or a shipmentMethodUid value returned in the Quote API. You can also
        pass multiple values separated by commas. If multiple values are passed, the cheapest
        matching shipping method will be chosen by default. If no value is provided, the system
        will select the cheapest available shipping method." (`cheapest` is not a value.)"""
        cases = (('express, normal', 'ups_surepost'), ('fedex_2day,ups_ground', 'ups_ground'),
                 ('express', 'fedex_2day'), ('standard', 'ups_surepost'), (None, 'ups_surepost'),
                 ('dhl_express_worldwide,fedex_2day', 'fedex_2day'))
        for value, chosen in cases:
            with self.subTest(value=value):
                body = self._order_body()
                if value is None:
                    del body['shipmentMethodUid']
                else:
                    body['shipmentMethodUid'] = value
                answer = self._create(body)
                self.assertEqual(answer['shipment']['shipmentMethodUid'], chosen)
        for value, text in (('cheapest', "unknown shipment method 'cheapest'"),
                            ('normal,,express', 'holds an empty value'),
                            ('royal_mail_tracked_48', "does not ship to US"),
                            (['normal'], 'shipmentMethodUid: must be a string')):
            with self.subTest(value=value):
                body = self._order_body()
                body['shipmentMethodUid'] = value
                self._refuse_create(body, text)

    # --- quote, search, stock, prices: refusals ---------------------------------------------

    def test_quote_recipient_is_a_complete_address(self):
        """https://dashboard.gelato.com/docs/orders/v4/quote/, RecipientObject: firstName,
        lastName, addressLine1, city, postCode, country and email are required, state for AU,
        CA and US."""
        body = self._quote_body()
        body['recipient'] = {'country': 'US'}
        message = self._refused('POST', '/order/v4/orders:quote', body)
        for field in ('firstName', 'lastName', 'addressLine1', 'city', 'postCode', 'email'):
            self.assertIn(f'recipient.{field}: is required', message)
        self.assertIn('recipient.state: is required for US', message)
        body = self._quote_body()
        del body['currency']
        self._refused('POST', '/order/v4/orders:quote', body, 'currency: is required')

    def test_search_body_is_gelatos(self):
        """https://dashboard.gelato.com/docs/orders/v4/search: limit "Max value is 100", the
        documented parameters only."""
        self._refused('POST', '/order/v4/orders:search', {'limit': 101},
                      'limit: must be at most 100')
        self._refused('POST', '/order/v4/orders:search', {'limit': 0},
                      'limit: must be at least 1')
        self._refused('POST', '/order/v4/orders:search', {'reference': 'x'},
                      "reference: is not a field Gelato's table documents")
        self._refused('POST', '/order/v4/orders:search', {'orderReferenceIds': 'S0001'},
                      'orderReferenceIds: must be a list')
        self._refused('POST', '/order/v4/orders:search', {'fulfillmentStatuses': ['sent']},
                      'fulfillmentStatuses[0]: "sent" is not one of')
        self._ok('POST', '/order/v4/orders:search', {'limit': 100, 'offset': 0})

    def test_stock_body_takes_1_to_250_products(self):
        """https://dashboard.gelato.com/docs/products/stock/region-availability/: 400
        `invalid_request_too_many_products` over 250, `invalid_request_products_not_provided`
        without products."""
        path = '/product/v3/stock/region-availability'
        self._refused('POST', path, {'products': ['x'] * 251},
                      'Too many products requested: 251 of maximum 250.',
                      code='invalid_request_too_many_products')
        for body in ({'products': []}, {}):
            with self.subTest(body=body):
                self._refused('POST', path, body, code='invalid_request_products_not_provided')
        self._refused('POST', path, {'products': [42]}, 'products[0]: must be a string')
        self._refused('POST', path, {'products': ['x'], 'regions': ['EU']},
                      "regions: is not a field Gelato's table documents")
        self._ok('POST', path, {'products': ['x'] * 250})

    def test_prices_query_is_gelatos(self):
        """https://dashboard.gelato.com/docs/products/prices: country, currency (ISO codes) and
        pageCount only."""
        path = f'/product/v3/products/{self.poster}/prices'
        self._refused('GET', path, None, 'country: "usa" is not a two-letter ISO 3166-1 code',
                      params={'country': 'usa'})
        self._refused('GET', path, None, "country: 'UK' is not an ISO 3166-1 alpha-2 code",
                      params={'country': 'UK'})
        self._refused('GET', path, None, "quantity: is not a field Gelato's table documents",
                      params={'quantity': 5})
        self._refused('GET', path, None, 'currency: must match', params={'currency': 'usd'})
        rows = self._ok('GET', path, params={'country': 'US', 'currency': 'CZK'})
        self.assertEqual({row['currency'] for row in rows}, {'CZK'})

    def test_patch_is_for_drafts_and_their_items(self):
        """https://dashboard.gelato.com/docs/orders/v4/patch: orderType "order" is required,
        item ids are the draft's, only drafts can be patched."""
        body = self._order_body()
        body['orderType'] = 'draft'
        draft = self._create(body)
        path = f"/order/v4/orders/{draft['id']}"
        self._refused('PATCH', path, {}, 'orderType: is required')
        self._refused('PATCH', path, {'orderType': 'draft'}, 'orderType: must be "order"')
        self._refused('PATCH', path, {'orderType': 'order', 'items': [{'id': 'nope'}]},
                      'items[0].id: unknown order item id')
        self._ok('PATCH', path, {'orderType': 'order'})
        self._refused('PATCH', path, {'orderType': 'order'}, 'draft', code='conflict',
                      status=409)

    def test_error_messages_name_at_most_25_faults(self):
        """Gelato's error body is one `message` (docs/products/stock/region-availability/): it
        stays readable when a request has many faults."""
        body = self._order_body()
        body['metadata'] = [{'key': 'k' * 101, 'value': 'v'} for _n in range(20)]
        body['items'][0]['files'] = [{'type': 'nope', 'url': 'https://x.test/a.png'}] * 10
        message = self._refuse_create(body)
        self.assertEqual(len(re.findall(r'; ', message)), 25)
        self.assertRegex(message, r'and \d+ more$')

    def test_item_previews_are_rendered_from_the_print_file(self):
        """https://dashboard.gelato.com/docs/orders/v4/get: each item has `previews`,
        `[{"type": "preview_default", "url": ...}]`, Gelato's picture of the item with its file;
        after a PATCH with other files, the preview is the new file's."""
        body = self._order_body()
        good = self.simulator.preview_url(SEED_TEMPLATE_IDS['poster'])
        body['items'] = body['items'][:1]
        body['items'][0]['files'] = [{'type': 'default', 'url': good}]
        body['orderType'] = 'draft'
        order = self._create(body)
        previews = order['items'][0]['previews']
        self.assertEqual([p['type'] for p in previews], ['preview_default'])
        picture = requests.get(previews[0]['url'], timeout=10)
        self.assertEqual(picture.status_code, 200)
        self.assertTrue(picture.content.startswith(b'\x89PNG'))
        broken = self.simulator.preview_url(SEED_TEMPLATE_IDS['poster'], 'broken')
        patched = self._ok('PATCH', f"/order/v4/orders/{order['id']}", {
            'orderType': 'order',
            'items': [{'id': order['items'][0]['id'], 'files': [{'type': 'default',
                                                                  'url': broken}]}]})
        self.assertNotEqual(patched['items'][0]['previews'][0]['url'], previews[0]['url'])
        self.assertEqual(requests.get(patched['items'][0]['previews'][0]['url'],
                                      timeout=10).status_code, 404, "no preview of a bad file")

    def test_files_gelato_cannot_print_fail_the_order_at_upload(self):
        """apisupport.gelato.com 360010311840: an order goes to "Passed" when its files are
        right, to "Failed" when there is an issue with a file."""
        body = self._order_body()
        body['items'] = body['items'][:1]
        poster = SEED_TEMPLATE_IDS['poster']
        body['items'][0]['files'] = [{'type': 'default',
                                      'url': self.simulator.preview_url(poster)}]
        good = self._create(body)
        self.assertEqual(self.simulator.print_file_problems(good['id']), [])
        for kind in ('broken', 'html'):
            body['items'][0]['files'] = [{'type': 'default',
                                          'url': self.simulator.preview_url(poster, kind)}]
            bad = self._create(body)
            problems = self.simulator.print_file_problems(bad['id'])
            self.assertEqual(len(problems), 1, kind)
            self.assertIn('is not a PDF, PNG, TIFF, SVG or JPEG', problems[0])
        body['items'][0]['files'] = [{'type': 'default', 'url': 'http://127.0.0.1:9/x.png'}]
        unreachable = self._create(body)
        self.assertIn('could not be downloaded',
                      self.simulator.print_file_problems(unreachable['id'])[0])

    # --- issue 24, point 10: nothing Gelato does not name --------------------------------------

    def test_a_property_gelatos_tables_do_not_name_is_refused(self):
        """The create and quote tables (docs/orders/v4/create, docs/orders/v4/quote/) list every
        property of an order, an item, a file and an address: another one is refused, named."""
        for where, change in (
                ('giftMessage', lambda b: b.update(giftMessage="Happy birthday")),
                ('items[0].colour', lambda b: b['items'][0].update(colour='red')),
                ('items[0].files[0].dpi', lambda b: b['items'][0]['files'][0].update(dpi=300)),
                ('shippingAddress.houseNumber',
                 lambda b: b['shippingAddress'].update(houseNumber='451'))):
            body = self._order_body()
            change(body)
            self._refuse_create(body, f"{where}: is not a field Gelato's table documents")
        body = self._quote_body()
        body['recipient']['street'] = 'Clarkson Ave'
        self._refused('POST', '/order/v4/orders:quote', body,
                      "recipient.street: is not a field Gelato's table documents")
        self._ok('POST', '/order/v4/orders:quote', self._quote_body())

    def test_thread_colors_are_at_most_six_hex_codes(self):
        """docs/orders/v4/create, File.threadColors: "hex color codes specifically for embroidery
        products. You can input up to six colors"; docs/guides/embroidery writes them "#a57742"."""
        body = self._order_body()
        body['items'][0]['files'][0]['threadColors'] = ['#000000', '#cb3265']
        self._create(body)
        for colors, text in ((['red'], "items[0].files[0].threadColors[0]"),
                             (['#12345'], "items[0].files[0].threadColors[0]"),
                             (['#000000'] * 7, "items[0].files[0].threadColors")):
            body['orderReferenceId'] = f'threads-{len(colors)}-{colors[0]}'
            body['items'][0]['files'][0]['threadColors'] = colors
            self._refuse_create(body, text)

    def test_a_state_is_one_of_its_countrys_iso_codes(self):
        """apisupport.gelato.com 360013540520: "State codes are based on the ISO 3166-2 standard
        by omitting the country code part of the code" (its lists for AU, CA and US)."""
        body = self._order_body()
        body['shippingAddress']['state'] = 'New York'
        self._refuse_create(body, "shippingAddress.state: 'New York' is not a state code of US")
        body['shippingAddress']['state'] = 'AE'  # USPS armed forces, not ISO 3166-2
        self._refuse_create(body, "'AE' is not a state code of US")
        body['shippingAddress']['state'] = 'NY'
        self._create(body)

    def test_only_statuses_and_codes_gelato_documents_or_marked_unknown_are_answered(self):
        """https://dashboard.gelato.com/docs/ (Errors) lists the statuses; the simulator answers no
        other (a method an endpoint does not take is a 404, Gelato's table has no 405), and every
        code it answers is either one a Gelato page shows or marked as the simulator's own."""
        self.assertEqual(sim_api.ERROR_CODES['invalid_request_too_many_products'], STOCK)
        self.assertIsNone(sim_api.ERROR_CODES['validation_error'], "marked as not Gelato's")
        documented = {s for s, page in sim_api.ERROR_STATUSES.items() if page}
        self.assertEqual(documented, {400, 401, 404, 409, 429, 500, 503})
        with self.assertRaises(ValueError):
            sim_api.ApiError(418, 'not_found', "never")
        with self.assertRaises(ValueError):
            sim_api.ApiError(400, 'made_up_code', "never")
        response = self._call('DELETE', '/order/v4/orders:quote', {})
        self.assertEqual(response.status_code, 404, response.text)
        self.assertEqual(set(response.json()), {'code', 'message'})
