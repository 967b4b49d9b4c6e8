# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""People, not robots; what the screens say; what a salesperson may do."""
import json

from odoo import Command
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged
from odoo.tests.common import JsonRpcException

from odoo.addons.gelato_connector.tests.common import PNG, GelatoHttpCase, GelatoOrderCase


@tagged('post_install', '-at_install')
class TestFollowup(GelatoOrderCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.salesman = cls.env['res.users'].create({
            'name': "Sam Seller", 'login': 'gelato_seller',
            'group_ids': [Command.set([cls.env.ref('sales_team.group_sale_salesman').id])],
        })
        cls.leader = cls.env['res.users'].create({
            'name': "Lea Leader", 'login': 'gelato_leader',
            'group_ids': [Command.set([cls.env.ref('sales_team.group_sale_manager').id])],
        })
        cls.responsible = cls.env['res.users'].create({
            'name': "Rita Responsible", 'login': 'gelato_responsible',
            'group_ids': [Command.set([cls.env.ref('sales_team.group_sale_manager').id])],
        })

    def _failed_order(self, **values):
        order = self._order()
        order.write(values)
        self._confirm_and_send(order)
        order.gelato_order_ids._gelato_set_status('failed')
        return order

    # --- people ----------------------------------------------------------------------------

    def test_activity_goes_to_the_salesperson(self):
        order = self._failed_order(user_id=self.salesman.id)
        self.assertEqual(order.activity_ids.user_id, self.salesman)

    def test_without_salesperson_the_team_leader_gets_it(self):
        team = self.env['crm.team'].create({'name': "Print", 'user_id': self.leader.id})
        order = self._failed_order(user_id=False, team_id=team.id)
        self.assertEqual(order.activity_ids.user_id, self.leader)

    def test_without_anyone_the_responsible_of_the_settings_gets_it(self):
        self.company.gelato_responsible_id = self.responsible
        team = self.env['crm.team'].create({'name': "Nobody's", 'user_id': False})
        order = self._failed_order(user_id=False, team_id=team.id)
        self.assertEqual(order.activity_ids.user_id, self.responsible)

    def test_never_the_public_user_nor_odoobot(self):
        public = self.env.ref('base.public_user')
        order = self._failed_order(user_id=self.env.ref('base.user_root').id)
        self.assertNotIn(order.activity_ids.user_id, public | self.env.ref('base.user_root'))
        self.assertTrue(order.activity_ids.user_id._is_internal())

    def test_one_activity_for_the_same_problem(self):
        order = self._failed_order(user_id=self.salesman.id)
        record = order.gelato_order_ids
        record._gelato_set_status('passed')
        record._gelato_set_status('failed')
        self.assertEqual(len(order.activity_ids), 1)

    # --- what a salesperson may do -----------------------------------------------------------

    def test_salespeople_who_see_check_availability_can_use_it(self):
        action = self.poster.with_user(self.salesman).action_gelato_check_availability()
        self.assertEqual(action['params']['type'], 'success', action['params']['message'])
        self.assertTrue(self.small.gelato_availability_ids)

    def test_variants_feature_is_switched_on_by_a_template_with_variants(self):
        group = self.env.ref('product.group_product_variant')
        employees = self.env.ref('base.group_user')
        employees.implied_ids -= group
        self.assertNotIn(group, employees.implied_ids)
        self._gelato_product('tpl-variants', [('Size', ['S', 'M'])])
        self.assertIn(group, employees.implied_ids)

    # --- background synchronization ------------------------------------------------------------

    def test_failed_background_sync_is_shown_as_failed_with_the_reason(self):
        self.poster._gelato_schedule_resync()
        self.simulator.remove_template('tpl-poster')
        self.env['product.template']._cron_gelato_template_sync()
        self.assertEqual(self.poster.gelato_template_state, 'sync_failed')
        self.assertIn('no template', self.poster.gelato_sync_error)
        self.simulator.make_template('tpl-poster', [('Size', ['S', 'M', 'L'])])
        self._sync(self.poster)
        self.assertEqual(self.poster.gelato_template_state, 'synced')
        self.assertFalse(self.poster.gelato_sync_error)

    # --- what Gelato requires -----------------------------------------------------------------

    def test_brazilian_customer_needs_a_tax_id_and_it_is_sent_as_federal_tax_id(self):
        self.customer.write({
            'country_id': self.env.ref('base.br').id,
            'state_id': self.env.ref('base.state_br_sp').id,
            'city': 'São Paulo', 'zip': '01310-100', 'street': 'Av. Paulista 1000', 'vat': False,
        })
        order = self._order()
        with self.assertRaisesRegex(ValidationError, 'Tax ID'):
            order.action_confirm()
        self.customer.vat = '123.456.789-09'
        self._confirm_and_send(order)
        address = self._remote(order)['shippingAddress']
        self.assertEqual(address['federalTaxId'], '123.456.789-09')
        self.assertFalse(address['isBusiness'])

    def test_order_in_a_currency_gelato_does_not_take_is_refused_before_confirmation(self):
        currency = self.env.ref('base.XAF')
        currency.active = True
        pricelist = self.env['product.pricelist'].create(
            {'name': "XAF", 'currency_id': currency.id})
        order = self._order()
        order.pricelist_id = pricelist
        with self.assertRaisesRegex(ValidationError, 'does not take orders in XAF'):
            order.action_confirm()
        rate = self.carrier_normal.rate_shipment(order)
        self.assertFalse(rate['success'])
        self.assertIn('XAF', rate['error_message'])

    def test_unit_cost_comes_from_the_smallest_price_tier_when_there_is_no_one_unit_row(self):
        # https://dashboard.gelato.com/docs/products/prices: tiers by quantity, none for one.
        self.simulator.price_quantities = (700, 20, 400)
        self.poster.action_gelato_fetch_costs()
        rows = self.company._gelato_request(
            'product', 'GET', f'/v3/products/{self.small.gelato_product_uid}/prices',
            params={'currency': self.company.currency_id.name, 'country': 'DK'})
        twenty = next(r for r in rows if r['quantity'] == 20)
        self.assertAlmostEqual(self.small.standard_price, twenty['price'] / 20, places=2)

    def test_multi_page_product_needs_its_page_count(self):
        # docs/products/product/get/: validPageCounts, for multi-page products only.
        self.simulator.make_template('tpl-book', [('Cover', ['Hard', 'Soft'])],
                                     page_counts=[24, 36])
        book = self._product('tpl-book')
        self._sync(book)
        book.gelato_image_ids.datas = PNG
        self.assertEqual(book.gelato_valid_page_counts, '24,36')
        self.assertEqual(book.gelato_page_count, 24)
        book.gelato_page_count = 30
        order = self._order([(book.product_variant_ids[:1], 1)])
        with self.assertRaisesRegex(ValidationError, 'number of pages'):
            order.action_confirm()
        book.gelato_page_count = 36
        self._confirm_and_send(order)
        self.assertTrue(self._remote(order), order.gelato_last_error)
        created = [r['json'] for r in self.simulator.requests if r['path'] == '/order/v4/orders'
                   and r['method'] == 'POST']
        self.assertEqual(created[-1]['items'][0]['pageCount'], 36)

    # --- what the screens say ------------------------------------------------------------------

    def test_gelato_carriers_are_named_as_gelatos(self):
        self.assertIn('Gelato', self.carrier_normal.name)
        self.assertIn('Gelato', self.carrier_express.name)

    def test_shipment_method_is_shown_by_name(self):
        order = self._order(carrier=self.carrier_express)
        self.assertEqual(order.gelato_shipment_method_name, self.carrier_express.name)
        self._confirm_and_send(order)
        remote = self._remote(order)
        self.assertEqual(order.gelato_shipment_method_name,
                         remote['shipment']['shipmentMethodName'])

    def test_event_list_says_what_each_event_carried(self):
        event = self.env['gelato.event']
        self.assertEqual(event._gelato_summary({'fulfillmentStatus': 'shipped'}), 'shipped')
        self.assertEqual(event._gelato_summary({'itemReferenceId': '7', 'trackingCode': 'T1'}),
                         '7: T1')
        self.assertEqual(event._gelato_summary({'itemReferenceId': '7', 'status': 'printed'}),
                         '7: printed')
        self.assertIn('2030-01-01', event._gelato_summary({'minDeliveryDate': '2030-01-01'}))
        self.assertEqual(event._gelato_summary({'storeProductTemplateId': 'tpl'}), 'tpl')

    def test_customer_email_dates_are_in_the_customers_language(self):
        self.env['res.lang']._activate_lang('fr_FR')
        self.customer.lang = 'fr_FR'
        order = self._confirm_and_send(self._order())
        record = order.gelato_order_ids
        record.write({'min_delivery_date': '2030-03-01', 'max_delivery_date': '2030-03-05'})
        self.simulator.orders[record.gelato_id]['shipment'].update(
            minDeliveryDate='2030-03-01', maxDeliveryDate='2030-03-05')
        self.simulator.set_order_status(record.gelato_id, 'shipped')
        record._gelato_reconcile_one()
        mail = order.message_ids.filtered(lambda m: self.customer in m.partner_ids)[:1]
        self.assertIn('05/03/2030', mail.body)

    def test_store_product_events_are_recorded_as_ignored_with_why(self):
        event = self.env['gelato.event'].create({
            'company_id': self.company.id, 'event_id': 'spu-1',
            'event_type': 'store_product_updated',
            'payload': json.dumps({'id': 'spu-1', 'event': 'store_product_updated',
                                   'storeProductId': 'sp-1'}),
        })
        event._gelato_process()
        self.assertEqual(event.state, 'ignored')
        self.assertIn('not a template', event.error)


@tagged('post_install', '-at_install')
class TestRights(GelatoHttpCase):
    """Buttons can be called over JSON-RPC: each checks the caller's rights before any call to
    Gelato or any download leaves Odoo."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.portal = cls._portal_user('gelato_portal', "Pat Portal", 'pat@example.com')

    def test_portal_user_rpc_to_each_action_makes_no_request_to_gelato(self):
        order = self._confirm_and_send(self._order(partner=self.portal.partner_id))
        self.env.flush_all()
        self.authenticate('gelato_portal', 'gelato_portal')
        calls = [
            ('product.template', self.poster.id, 'action_sync_gelato_template_info'),
            ('product.template', self.poster.id, 'action_gelato_fetch_costs'),
            ('product.template', self.poster.id, 'action_gelato_use_preview'),
            ('product.template', self.poster.id, 'action_gelato_check_availability'),
            ('sale.order', order.id, 'action_gelato_refresh'),
            ('sale.order', order.id, 'action_gelato_send'),
            ('gelato.order', order.gelato_order_ids.id, 'action_refresh'),
            ('gelato.order', order.gelato_order_ids.id, 'action_cancel_at_gelato'),
        ]
        for model, record_id, method in calls:
            with self.subTest(method=method):
                self.simulator.clear_requests()
                with self.assertRaises(JsonRpcException):
                    self.make_jsonrpc_request('/web/dataset/call_kw', {
                        'model': model, 'method': method, 'args': [[record_id]], 'kwargs': {}})
                self.assertEqual(self.simulator.requests, [], f"{method} reached Gelato")

    def test_salesperson_cannot_write_the_gelato_order_id(self):
        salesman = self.env['res.users'].create({
            'name': "Sid Seller", 'login': 'gelato_sid', 'password': 'gelato_sid',
            'group_ids': [Command.set([self.env.ref('sales_team.group_sale_salesman').id])],
        })
        order = self._confirm_and_send(self._order())
        gelato_id = order.gelato_order_id
        with self.assertRaises(AccessError):
            order.gelato_order_ids.with_user(salesman).write({'gelato_id': '../../etc'})
        self.authenticate('gelato_sid', 'gelato_sid')
        try:
            self.make_jsonrpc_request('/web/dataset/call_kw', {
                'model': 'sale.order', 'method': 'write',
                'args': [[order.id], {'gelato_order_id': '../../etc'}], 'kwargs': {}})
        except Exception:  # noqa: BLE001 - refused is fine too
            pass
        order.invalidate_recordset()
        self.assertEqual(order.gelato_order_id, gelato_id)
