# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""What a walk through the product found: margins, bills and deliveries that must agree with
Gelato, and a retry kept at the time it was promised.

Gelato's pages: receipts of an order (dashboard.gelato.com/docs/orders/v4/get, ReceiptObject:
`shippingPrice`, `packagingPrice`), cancel (dashboard.gelato.com/docs/orders/v4/cancel).
"""
import json
import logging

from odoo import Command, fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from odoo.addons.gelato_connector import upgrade_steps
from odoo.addons.gelato_connector.tests.common import PNG, GelatoHttpCase, GelatoOrderCase

_logger = logging.getLogger(__name__)


@tagged('post_install', '-at_install')
class TestWalkFindings(GelatoOrderCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not cls.env['account.journal'].search([('type', '=', 'purchase'),
                                                  ('company_id', '=', cls.company.id)]):
            cls.env['account.journal'].create({'name': "Bills", 'code': 'GWLK',
                                               'type': 'purchase', 'company_id': cls.company.id})

    def _sent(self, lines=None):
        order = self._confirm_and_send(self._order(lines, carrier=self.carrier_normal))
        return order, order.gelato_order_ids

    # --- the margin ---------------------------------------------------------------------------

    def test_the_margin_counts_what_gelato_charges_for_shipping_and_packaging(self):
        order, record = self._sent([(self.small, 2)])
        receipt = self.simulator.orders[record.gelato_id]['receipts'][0]
        self.assertEqual(receipt['currency'], order.currency_id.name)
        delivery = order.order_line.filtered('is_delivery')
        charged_shipping = receipt['shippingPrice'] + receipt['packagingPrice']
        self.assertGreater(charged_shipping, 0)
        self.assertAlmostEqual(delivery.purchase_price * delivery.product_uom_qty,
                               charged_shipping, delta=0.011)
        goods_cost = sum(line.purchase_price * line.product_uom_qty
                         for line in order.order_line - delivery)
        # Each line's cost is a unit price, rounded to the cent.
        self.assertAlmostEqual(goods_cost, receipt['productsPrice'], delta=0.011 * 2)
        # The sale's margin is the real result: what the customer pays (VAT excluded) minus
        # everything Gelato charged (VAT excluded).
        self.assertAlmostEqual(
            order.margin,
            order.amount_untaxed - receipt['productsPrice'] - charged_shipping, delta=0.035)
        _logger.info("Margin of %s: %.2f without Gelato's shipping and packaging, %.2f with them",
                     order.name, order.margin + delivery.purchase_price * delivery.product_uom_qty,
                     order.margin)

    # --- bills --------------------------------------------------------------------------------

    def test_a_draft_bill_is_withdrawn_when_gelato_cancels_the_order(self):
        order, record = self._sent()
        bill = record.bill_ids
        self.assertEqual(bill.state, 'draft')
        self.simulator.set_order_status(record.gelato_id, 'canceled')
        record._gelato_reconcile_one()
        self.assertEqual(record.status, 'canceled')
        self.assertEqual(bill.state, 'cancel')
        self.assertEqual(order.state, 'cancel')

    def test_a_day_bill_loses_only_the_canceled_orders_lines(self):
        self.company.gelato_bill_policy = 'day'
        _first, one = self._sent([(self.small, 1)])
        _second, two = self._sent([(self.medium, 1)])
        bill = one.bill_ids
        self.assertEqual(bill, two.bill_ids)
        self.simulator.set_order_status(one.gelato_id, 'canceled')
        one._gelato_reconcile_one()
        self.assertEqual(bill.state, 'draft')
        self.assertEqual(set(bill.invoice_line_ids.mapped('gelato_order_id')), {two})

    # --- deliveries ---------------------------------------------------------------------------

    def test_a_shipped_gelato_parcel_is_not_canceled_from_the_delivery(self):
        order, record = self._sent()
        self.simulator.set_order_status(record.gelato_id, 'shipped')
        record._gelato_reconcile_one()
        picking = order.picking_ids.filtered(lambda p: p.state == 'done')
        tracking = picking.carrier_tracking_ref
        self.assertTrue(tracking)
        with self.assertRaises(UserError):
            picking.cancel_shipment()
        self.assertEqual(picking.carrier_tracking_ref, tracking)
        self.assertFalse(picking.message_ids.filtered(lambda m: 'cancelled' in (m.body or '')),
                         "no 'Shipment cancelled' note")

    # --- the outbox ---------------------------------------------------------------------------

    def test_a_retry_is_woken_at_the_time_it_was_promised(self):
        order = self._order(carrier=self.carrier_normal)
        order.action_confirm()
        cron = self.env.ref('gelato_connector.ir_cron_gelato_outbox')
        self.simulator.go_down()
        try:
            self._run_outbox()
        finally:
            self.simulator.come_up()
        record = order.gelato_order_ids
        self.assertEqual(record.state, 'pending')
        self.assertGreater(record.next_attempt_at, fields.Datetime.now())
        triggers = self.env['ir.cron.trigger'].search([('cron_id', '=', cron.id)])
        self.assertIn(record.next_attempt_at, triggers.mapped('call_at'))

    # --- a Gelato quotation without shipping (point 6) ---------------------------------------

    def _seller(self):
        return self.env['res.users'].create({
            'name': "Sam Seller", 'login': 'walk_seller', 'email': 'sam@example.com',
            'group_ids': [Command.set([self.env.ref('sales_team.group_sale_salesman').id])],
        })

    def test_a_gelato_quotation_without_shipping_is_refused_saying_what_to_do(self):
        """Never an order whose shipping nobody chose or paid: the salesperson's *Confirm* says
        to press *Add shipping*; nothing is sent. Shipping chosen in Odoo's wizard, priced by
        Gelato's quote (docs/orders/v4/quote), the same click sends the order with that method
        (docs/orders/v4/create, shipmentMethodUid)."""
        seller = self._seller()
        order = self._order(carrier=False)
        order.user_id = seller
        with self.assertRaisesRegex(ValidationError, r'press "Add shipping" and pick a Gelato'):
            order.with_user(seller).action_confirm()
        self.assertEqual(order.state, 'draft')
        self.assertFalse(order.gelato_order_ids)
        self.assertFalse(self.simulator.orders)
        action = order.with_user(seller).action_open_delivery_wizard()
        wizard = self.env['choose.delivery.carrier'].with_user(seller).with_context(
            **action['context']).create({'order_id': order.id})
        self.assertEqual(wizard.carrier_id, self.carrier_normal, "Standard is proposed")
        wizard.update_price()  # "Get rate"
        self.assertGreater(wizard.delivery_price, 0)
        wizard.button_confirm()
        delivery = order.order_line.filtered('is_delivery')
        self.assertEqual(delivery.price_unit, wizard.delivery_price)
        order.with_user(seller).action_confirm()
        self._run_outbox()
        remote = self._remote(order)
        quoted = [m['shipmentMethodUid'] for q in order.sudo().gelato_quote
                  for m in q['shipmentMethods'] if m['type'] in ('normal', 'standard')]
        self.assertIn(remote['shipment']['shipmentMethodUid'], quoted)

    def test_a_quotation_shipped_by_another_carrier_is_refused_naming_it(self):
        other = self.env['delivery.carrier'].create({
            'name': "Own Van", 'delivery_type': 'fixed', 'fixed_price': 4.0,
            'product_id': self.env['product.product'].create({
                'name': "Van", 'type': 'service'}).id,
        })
        order = self._order(carrier=False)
        order.set_delivery_line(other, 4.0)
        with self.assertRaisesRegex(ValidationError, 'replace the delivery method Own Van'):
            order.action_confirm()
        self.assertFalse(self.simulator.orders)

    def test_a_paid_order_without_shipping_waits_for_the_salesperson(self):
        """The customer paid: the order is confirmed (nothing may refuse a payment) and waits in
        *Needs attention* saying why, never sent with a method nobody chose."""
        order = self._order(carrier=False)
        self._paid_transaction(order)._post_process()
        self.assertEqual(order.state, 'sale')
        record = order.gelato_order_ids
        self.assertEqual(record.state, 'attention')
        self.assertIn('Add shipping', record.last_error)
        self._run_outbox()
        self.assertFalse(self.simulator.orders)

    def test_event_types_are_shown_in_words(self):
        events = self.env['gelato.event'].create([{
            'company_id': self.company.id, 'event_id': f'words-{n}', 'event_type': kind,
            'payload': '{}'} for n, kind in enumerate(
                ('order_item_tracking_code_updated', 'some_new_event'))])
        self.assertEqual(events.mapped('event_label'),
                         ["Tracking code updated", "Some new event"])


@tagged('post_install', '-at_install')
class TestSignedWithoutShipping(GelatoHttpCase):
    """Point 6, the customer's side: a quotation signed in the portal is never refused to the
    customer (they cannot add shipping there): it is confirmed and waits for the salesperson."""

    def test_a_quotation_signed_in_the_portal_without_shipping_waits_for_the_salesperson(self):
        order = self._order(carrier=False)
        order.write({'require_signature': True, 'require_payment': False})
        order.action_quotation_sent()
        token = order._portal_ensure_token()
        response = self.url_open(
            f'/my/orders/{order.id}/accept?access_token={token}',
            data=json.dumps({'jsonrpc': '2.0', 'method': 'call', 'params': {
                'name': "Ada Lovelace", 'signature': PNG}}),
            headers={'Content-Type': 'application/json'})
        self.assertEqual(response.status_code, 200)
        answer = response.json()
        self.assertNotIn('error', answer, response.text)
        self.assertNotIn('error', answer.get('result') or {}, response.text)
        self.assertEqual(order.state, 'sale')
        self.assertEqual(order.gelato_outbox_state, 'attention')
        self.assertIn('Add shipping', order.gelato_last_error)
        self._run_outbox()
        self.assertFalse(self.simulator.orders, "nothing sent with a method nobody chose")


@tagged('post_install', '-at_install')
class TestVariantOverrides(GelatoHttpCase):
    """A variant's print image override, added as the web client saves the variant's form."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        groups = ('sales_team.group_sale_salesman', 'product.group_product_manager')
        cls.product_manager = cls.env['res.users'].create({
            'name': "Pia Products", 'login': 'gelato_pm', 'password': 'gelato_pm',
            'group_ids': [Command.set([cls.env.ref(g).id for g in groups])],
        })

    def test_an_override_added_on_the_variant_form_is_kept_as_the_variants(self):
        self.env.flush_all()
        self.authenticate('gelato_pm', 'gelato_pm')
        self.make_jsonrpc_request('/web/dataset/call_kw', {
            'model': 'product.product', 'method': 'web_save',
            'args': [[self.medium.id], {'gelato_image_ids': [
                [0, 'virtual_1', {'name': 'default', 'datas': PNG}]]}],
            'kwargs': {'specification': {'gelato_image_ids': {'fields': {'name': {}}}}},
        })
        self.env.invalidate_all()
        override = self.medium.gelato_image_ids
        self.assertEqual(len(override), 1, "the override did not vanish")
        self.assertEqual((override.res_model, override.is_gelato, override.name),
                         ('product.product', True, 'default'))
        self.assertEqual(self.medium._gelato_print_images()['default'], override)
        self.assertNotEqual(self.small._gelato_print_images()['default'], override)
        # The product manager can open and remove it again.
        self.assertTrue(override.with_user(self.product_manager).datas)
        override.with_user(self.product_manager).unlink()
        self.assertFalse(self.medium.gelato_image_ids)

    def test_overrides_lost_by_the_old_form_are_repaired(self):
        lost = self.env['product.document'].create({
            'name': 'front', 'datas': PNG, 'res_id': self.medium.id, 'res_model': False,
        })
        self.assertFalse(self.medium.gelato_image_ids)
        repaired = upgrade_steps.repair_lost_variant_overrides(self.env)
        self.assertEqual(repaired, lost)
        self.assertEqual(self.medium.gelato_image_ids, lost)
        self.assertEqual(lost.name, 'default')

    def test_the_variant_form_of_the_variants_button_has_the_gelato_section(self):
        view = self.env.ref('product.product_variant_easy_edit_view')
        arch = self.env['product.product'].with_user(self.product_manager).get_view(
            view.id, 'form')['arch']
        self.assertIn('gelato_image_ids', arch)
        self.assertIn('gelato_product_uid', arch)
