# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from odoo.addons.gelato_connector.tests.common import GelatoOrderCase


@tagged('post_install', '-at_install')
class TestSaleOrder(GelatoOrderCase):

    # --- delivery methods ----------------------------------------------------------------------

    def test_standard_and_express_delivery_exist_after_install(self):
        self.assertEqual(self.carrier_normal.delivery_type, 'gelato')
        self.assertEqual(self.carrier_normal.gelato_shipping_service_type, 'normal')
        self.assertEqual(self.carrier_express.gelato_shipping_service_type, 'express')
        self.assertEqual(self.carrier_express.integration_level, 'rate')

    def test_rate_is_the_sum_of_the_cheapest_method_of_each_quote(self):
        self.simulator.split_mode = 'product'  # Two production sites, as for connected orders.
        order = self._order([(self.small, 1), (self.medium, 2)])
        quote = self.company._gelato_request(
            'order', 'POST', '/v4/orders:quote', json=order._gelato_prepare_quote_payload())
        self.assertGreater(len(quote['quotes']), 1, "the simulator splits this order in two")
        expected = sum(
            min(m['price'] for m in q['shipmentMethods'] if m['type'] == 'normal')
            for q in quote['quotes']
        )
        rate = self.carrier_normal.rate_shipment(order)
        self.assertTrue(rate['success'], rate.get('error_message'))
        self.assertAlmostEqual(rate['price'], expected, places=2)

    def test_express_rate_is_dearer_than_standard(self):
        order = self._order()
        normal = self.carrier_normal.rate_shipment(order)['price']
        express = self.carrier_express.rate_shipment(order)['price']
        self.assertGreater(express, normal)

    def test_rate_with_incomplete_address_says_what_is_missing(self):
        self.customer.write({'zip': False, 'street': False})
        rate = self.carrier_normal.rate_shipment(self._order())
        self.assertFalse(rate['success'])
        self.assertIn('Street', rate['error_message'])
        self.assertIn('Zip', rate['error_message'])

    def test_rate_for_a_type_not_offered_says_so(self):
        self.customer.country_id = self.env.ref('base.aq')
        rate = self.carrier_express.rate_shipment(self._order())
        self.assertFalse(rate['success'])
        self.assertIn('does not offer', rate['error_message'])

    def test_rate_when_gelato_is_down_is_a_clear_message(self):
        order = self._order(carrier=False)
        self.simulator.go_down()
        try:
            rate = self.carrier_normal.rate_shipment(order)
        finally:
            self.simulator.come_up()
        self.assertFalse(rate['success'])
        self.assertIn('Could not reach Gelato', rate['error_message'])

    # --- separation ----------------------------------------------------------------------------

    def test_gelato_order_offers_only_gelato_delivery_methods(self):
        gelato_order = self._order()
        regular_order = self._order([(self.regular_product, 1)])
        carriers = self.env['delivery.carrier'].search([])
        for_gelato = carriers.available_carriers(self.customer, gelato_order)
        for_regular = carriers.available_carriers(self.customer, regular_order)
        self.assertTrue(for_gelato)
        self.assertEqual(set(for_gelato.mapped('delivery_type')), {'gelato'})
        self.assertNotIn('gelato', for_regular.mapped('delivery_type'))

    def test_adding_regular_goods_to_a_gelato_order_names_the_product(self):
        order = self._order()
        with self.assertRaisesRegex(ValidationError, 'Regular Mug'):
            order.order_line = [(0, 0, {'product_id': self.regular_product.id})]

    def test_adding_gelato_goods_to_a_regular_order_names_the_product(self):
        order = self._order([(self.regular_product, 1)])
        with self.assertRaisesRegex(ValidationError, 'Gelato tpl-poster'):
            self.env['sale.order.line'].create({'order_id': order.id, 'product_id': self.small.id})

    def test_changing_a_line_product_is_checked_too(self):
        order = self._order([(self.small, 1), (self.service, 1)])
        with self.assertRaisesRegex(ValidationError, 'Regular Mug'):
            order.order_line.filtered(lambda line: line.product_id == self.service).product_id = \
                self.regular_product

    def test_services_and_notes_may_join_a_gelato_order(self):
        order = self._order([(self.small, 1), (self.service, 1)], carrier=False)
        order.order_line = [(0, 0, {'display_type': 'line_note', 'name': "Handle with care"})]
        self.assertEqual(len(order.order_line), 3)

    def test_imported_lines_are_checked(self):
        order = self._order()
        result = self.env['sale.order.line'].load(
            ['order_id/.id', 'product_id/.id', 'product_uom_qty'],
            [[str(order.id), str(self.regular_product.id), '1']],
        )
        self.assertTrue(result['messages'])
        self.assertIn('Regular Mug', result['messages'][0]['message'])

    # --- confirmation --------------------------------------------------------------------------

    def test_confirm_reports_every_problem_at_once(self):
        self.customer.write({'zip': False, 'email': False})
        self.poster.gelato_image_ids.datas = False
        order = self._order([(self.small, 1.5)])
        with self.assertRaises(ValidationError) as caught:
            order.action_confirm()
        message = str(caught.exception)
        for expected in ('Zip', 'Email', 'whole quantities', 'print image', 'default'):
            self.assertIn(expected, message)
        self.assertEqual(order.state, 'draft')
        self.assertFalse(self.simulator.orders)

    def test_postal_code_is_not_required_where_gelato_does_not_need_one(self):
        self.customer.write({'zip': False, 'country_id': self.env.ref('base.ie').id})
        order = self._confirm_and_send(self._order())
        self.assertTrue(order.gelato_order_id)

    def test_out_of_stock_variant_refuses_confirmation_naming_product_and_region(self):
        self.env['gelato.product.availability']._gelato_store([{
            'productUid': self.small.gelato_product_uid,
            'availability': [{'stockRegionUid': 'EU', 'status': 'out-of-stock'}],
        }])
        order = self._order()
        self.assertIn('out of stock', order._gelato_lines().gelato_availability_warning)
        with self.assertRaisesRegex(ValidationError, r'(?s)Gelato tpl-poster.*out of stock.*EU'):
            order.action_confirm()

    def test_confirmed_order_is_sent_with_its_lines_files_and_addresses(self):
        order = self._order([(self.small, 2), (self.medium, 1)], carrier=self.carrier_normal)
        order.action_confirm()
        self.assertEqual(order.state, 'sale')
        self.assertEqual(order.gelato_outbox_state, 'pending', "sent after the commit")
        self.env['gelato.order']._cron_send_pending()
        self.assertEqual(order.gelato_outbox_state, 'sent')
        self.assertEqual(order.gelato_status, 'created')
        remote = self._remote(order)
        self.assertEqual(remote['orderReferenceId'], order.gelato_order_ids.reference)
        self.assertTrue(remote['orderReferenceId'].startswith(order.name))
        self.assertEqual(self.simulator.requests[-1]['json'] and
                         [r for r in self.simulator.requests if r['path'] == '/order/v4/orders'
                          ][0]['json']['shipmentMethodUid'], order.gelato_shipment_method_uid)
        self.assertTrue(order.gelato_min_delivery_date and order.gelato_max_delivery_date)
        lines = {str(line.id): line for line in order._gelato_lines()}
        self.assertEqual({i['itemReferenceId'] for i in remote['items']}, set(lines))
        for item in remote['items']:
            line = lines[item['itemReferenceId']]
            self.assertEqual(item['productUid'], line.product_id.gelato_product_uid)
            self.assertEqual(item['quantity'], int(line.product_uom_qty))
            self.assertEqual(item['files'][0]['type'], 'default')
            self.assertIn('access_token=', item['files'][0]['url'])
        address = remote['shippingAddress']
        self.assertEqual((address['firstName'], address['lastName']), ("Ada", "Lovelace"))
        self.assertEqual(address['country'], 'DE')
        self.assertEqual(remote['returnAddress']['companyName'], self.company.name)
        self.assertTrue(order.gelato_dashboard_url.endswith(order.gelato_order_id))

    def test_print_file_url_downloads_the_image(self):
        order = self._confirm_and_send(self._order())
        url = self._remote(order)['items'][0]['files'][0]['url']
        attachment_id = int(url.split('/web/content/')[1].split('?')[0])
        token = url.split('access_token=')[1]
        attachment = self.env['ir.attachment'].browse(attachment_id)
        self.assertEqual(attachment.access_token, token)
        self.assertTrue(attachment.datas)

    def test_long_street_moves_to_the_second_line_without_losing_characters(self):
        street = "Very Long Street Name Of The Old Town Quarter 123"
        # In Denmark, street 2 has Gelato's 35 characters (25 in Germany: test_second_reading).
        self.customer.write({'street': street, 'street2': "Building B", 'city': 'Copenhagen',
                             'zip': '2100', 'country_id': self.env.ref('base.dk').id})
        order = self._confirm_and_send(self._order())
        address = self._remote(order)['shippingAddress']
        self.assertLessEqual(len(address['addressLine1']), 35)
        self.assertLessEqual(len(address['addressLine2']), 35)
        joined = f"{address['addressLine1']} {address['addressLine2']}"
        self.assertEqual(joined, f"{street} Building B")

    def test_names_of_any_shape_reach_gelato(self):
        for name in ("Cher", "Ö" * 80, "山田 太郎"):
            with self.subTest(name=name):
                self.customer.name = name
                order = self._confirm_and_send(self._order())
                self.assertTrue(order.gelato_order_id, order.gelato_last_error)
                address = self._remote(order)['shippingAddress']
                self.assertTrue(address['firstName'] and address['lastName'])
                self.assertLessEqual(len(address['firstName']), 25)

    def test_order_without_gelato_lines_is_not_sent(self):
        order = self._order([(self.regular_product, 1)])
        order.action_confirm()
        self.assertFalse(order.gelato_outbox_state)
        self.env['gelato.order']._cron_send_pending()
        self.assertFalse(self.simulator.orders)

    # --- never lost, never twice ---------------------------------------------------------------

    def test_gelato_down_at_confirmation_then_up_gives_exactly_one_order(self):
        order = self._order()
        self.simulator.go_down()
        try:
            order.action_confirm()
            self._run_outbox()
        finally:
            self.simulator.come_up()
        self.assertEqual(order.state, 'sale')
        self.assertEqual(order.gelato_outbox_state, 'pending')
        self.assertIn('Could not reach Gelato', order.gelato_last_error)
        self.assertGreater(order.gelato_order_ids.next_attempt_at, fields.Datetime.now())
        self._run_outbox()
        self._run_outbox()
        self.assertEqual(order.gelato_outbox_state, 'sent')
        self.assertEqual(len(self._remote_orders_for(order)), 1)

    def test_errors_that_may_pass_are_retried(self):
        for fault in ('500', 'garbage', 'no_id', '429'):
            with self.subTest(fault=fault):
                order = self._order()
                order.action_confirm()
                self.simulator.set_fault(fault, path_prefix='/order/v4/orders')
                self._run_outbox()
                self.assertEqual(order.gelato_outbox_state, 'pending', fault)
                self.assertTrue(order.gelato_last_error)
                self.simulator.clear_faults()
                self._run_outbox()
                self.assertEqual(order.gelato_outbox_state, 'sent', order.gelato_last_error)
                self.assertEqual(len(self._remote_orders_for(order)), 1)

    def test_an_answer_lost_after_gelato_created_the_order_is_not_sent_twice(self):
        order = self._order()
        order.action_confirm()
        # Gelato creates the order, then our transaction dies before it is committed.
        with self.assertRaises(RuntimeError), self.env.cr.savepoint():
            self.env['gelato.order']._cron_send_pending()
            self.assertTrue(order.gelato_order_id)
            raise RuntimeError("crash before commit")
        order.invalidate_recordset()
        self.assertFalse(order.gelato_order_id)
        self.assertEqual(len(self._remote_orders_for(order)), 1)
        self._run_outbox()
        self.assertEqual(order.gelato_outbox_state, 'sent')
        self.assertEqual(len(self._remote_orders_for(order)), 1)
        self.assertEqual(order.gelato_order_id, self._remote_orders_for(order)[0]['id'])

    def test_order_already_sent_is_skipped_by_a_second_run(self):
        order = self._confirm_and_send(self._order())
        # As if a second worker had picked it up late.
        order.gelato_order_ids.write({'state': 'pending', 'gelato_id': False})
        self._run_outbox()
        self.assertEqual(len(self._remote_orders_for(order)), 1)

    def test_gelato_validation_error_is_shown_and_can_be_sent_again(self):
        order = self._order()
        self.small.gelato_product_uid = 'not_a_gelato_product'
        order.action_confirm()
        self._run_outbox()
        self.assertEqual(order.gelato_outbox_state, 'attention')
        self.assertIn('productUid', order.gelato_last_error)
        self.assertTrue(order.activity_ids)
        self.assertIn('productUid', order.message_ids[0].body)
        self.small.gelato_product_uid = self.medium.gelato_product_uid.replace('_m', '_s')
        self.simulator.clear_requests()
        order.action_gelato_send()
        # Handed over to the outbox: nothing is sent inside the user's request.
        self.assertEqual(order.gelato_outbox_state, 'pending')
        self.assertEqual(self.simulator.requests, [])
        self.env['gelato.order']._cron_send_pending()
        self.assertEqual(order.gelato_outbox_state, 'sent', order.gelato_last_error)

    def test_repeated_outages_give_the_salesperson_an_activity(self):
        order = self._order()
        order.action_confirm()
        self.simulator.go_down()
        try:
            for _attempt in range(3):
                self._run_outbox()
        finally:
            self.simulator.come_up()
        self.assertEqual(order.gelato_order_ids.send_attempts, 3)
        self.assertEqual(order.gelato_outbox_state, 'pending')
        self.assertEqual(len(order.activity_ids), 1)

    def test_outbox_cron_exists(self):
        cron = self.env.ref('gelato_connector.ir_cron_gelato_outbox')
        self.assertTrue(cron.active)

    # --- cancellation --------------------------------------------------------------------------

    def test_cancelling_the_order_cancels_it_on_gelato(self):
        order = self._confirm_and_send(self._order())
        order._action_cancel()
        self.assertEqual(order.state, 'cancel')
        self.assertEqual(order.gelato_status, 'canceled')
        self.assertEqual(self._remote(order)['fulfillmentStatus'], 'canceled')

    def test_cancellation_refused_by_gelato_leaves_the_order_confirmed(self):
        order = self._confirm_and_send(self._order())
        self.simulator.set_order_status(order.gelato_order_id, 'in_production')
        with self.assertRaises(UserError) as refusal:  # rolled back, as the request would be
            order._action_cancel()
        self.assertIn('stays confirmed', refusal.exception.args[0])
        self.assertIn('it is already in production', refusal.exception.args[0])
        self.assertNotIn("'in_production'", refusal.exception.args[0])
        self.assertEqual(order.state, 'sale')
        self.assertNotEqual(self._remote(order)['fulfillmentStatus'], 'canceled')

    def test_cancelling_an_order_not_sent_yet_stops_it(self):
        order = self._order()
        self.simulator.go_down()
        try:
            order.action_confirm()
            self._run_outbox()
        finally:
            self.simulator.come_up()
        order._action_cancel()
        self.assertEqual(order.state, 'cancel')
        self._run_outbox()
        self.assertFalse(self._remote_orders_for(order))

    # --- the delivery picking ------------------------------------------------------------------

    def test_picking_comes_from_gelato_without_touching_on_hand_stock(self):
        self.poster.is_storable = True
        on_hand_before = self.small.qty_available
        order = self._confirm_and_send(self._order([(self.small, 2), (self.medium, 1)]))
        self.assertEqual(len(order.picking_ids), 1)
        picking = order.picking_ids
        self.assertNotEqual(picking.location_id.usage, 'internal')
        self.assertEqual(picking.location_id,
                         self.env.ref('gelato_connector.stock_location_gelato'))
        self.assertEqual(picking.location_dest_id.usage, 'customer')
        self.assertEqual(picking.state, 'assigned')
        self.simulator.set_order_status(order.gelato_order_id, 'shipped')
        order.gelato_order_ids._gelato_reconcile_one()
        self.assertEqual(picking.state, 'done')
        code = self._remote(order)['shipment']['packages'][0]['trackingCode']
        self.assertEqual(picking.carrier_tracking_ref, code)
        self.small.invalidate_recordset()
        self.assertEqual(self.small.qty_available, on_hand_before)

    def test_picking_is_cancelled_with_the_order(self):
        order = self._confirm_and_send(self._order())
        order._action_cancel()
        self.assertEqual(order.picking_ids.state, 'cancel')

    # --- reconciliation ------------------------------------------------------------------------

    def test_reconciliation_applies_what_gelato_knows(self):
        order = self._confirm_and_send(self._order())
        self.simulator.set_order_status(order.gelato_order_id, 'shipped')
        order.gelato_order_ids.last_update_at = fields.Datetime.now() - timedelta(days=1)
        self.env['gelato.order']._cron_reconcile()
        self.assertEqual(order.gelato_status, 'shipped')
        self.assertEqual(order.picking_ids.state, 'done')
        self.assertTrue(order.picking_ids.carrier_tracking_ref)

    def test_reconciliation_leaves_recently_heard_orders_alone(self):
        order = self._confirm_and_send(self._order())
        self.simulator.set_order_status(order.gelato_order_id, 'shipped')
        self.env['gelato.order']._cron_reconcile()
        self.assertEqual(order.gelato_status, 'created')

    def test_status_never_moves_backwards(self):
        order = self._confirm_and_send(self._order())
        record = order.gelato_order_ids
        self.assertTrue(record._gelato_set_status('delivered'))
        self.assertFalse(record._gelato_set_status('shipped'))
        self.assertEqual(order.gelato_status, 'delivered')
