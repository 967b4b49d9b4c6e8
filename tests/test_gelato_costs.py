# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""What Gelato really charged (its receipts become vendor bills and the sale's margin), and orders
that stall found before the customer asks.

Receipts are Gelato's `receipts` of a GET order (https://dashboard.gelato.com/docs/orders/v4/get/,
ReceiptObject: `items[]` of type product / packaging / shipment, each with `price`, `vat`,
`amount`; `transactionType` purchase or refund). They come with answers the addon already
receives (create, reconciliation): no extra call.
"""
import copy
from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from odoo.addons.gelato_connector import const
from odoo.addons.gelato_connector.tests.common import GelatoHttpCase, GelatoOrderCase


@tagged('post_install', '-at_install')
class TestGelatoCosts(GelatoOrderCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tax_25 = cls.env['account.tax'].create({
            'name': "Purchase VAT 25%", 'amount': 25, 'amount_type': 'percent',
            'type_tax_use': 'purchase', 'company_id': cls.company.id,
        })
        if not cls.env['account.journal'].search([('type', '=', 'purchase'),
                                                  ('company_id', '=', cls.company.id)]):
            cls.env['account.journal'].create({'name': "Bills", 'code': 'GBIL',
                                               'type': 'purchase', 'company_id': cls.company.id})

    def setUp(self):
        super().setUp()
        self.simulator.vat_rate = 0.25

    def _shipped(self, lines=None):
        order = self._confirm_and_send(self._order(lines or [(self.small, 2), (self.medium, 1)]))
        record = order.gelato_order_ids
        self.simulator.set_order_status(record.gelato_id, 'shipped')
        record._gelato_reconcile_one()
        return order, record

    def _receipt(self, record):
        return self.simulator.orders[record.gelato_id]['receipts'][0]

    def _bills(self):
        return self.env['account.move'].search([
            ('partner_id', '=', self.env.ref('gelato_connector.partner_gelato').id)])

    # --- vendor bills --------------------------------------------------------------------------

    def test_a_shipped_orders_receipt_becomes_one_draft_vendor_bill_with_its_lines(self):
        order, record = self._shipped()
        receipt = self._receipt(record)
        bill = record.bill_ids
        self.assertEqual(len(bill), 1)
        self.assertEqual(bill, self._bills())
        self.assertEqual((bill.state, bill.move_type), ('draft', 'in_invoice'))
        self.assertEqual(bill.currency_id.name, receipt['currency'])
        self.assertEqual(bill.invoice_origin, order.name)
        lines = bill.invoice_line_ids
        by_product = {line.product_id: line for line in lines}
        for item in receipt['items']:
            if item['type'] == 'product':
                gelato_item = record.item_ids.filtered(
                    lambda i, ref=item['referenceId']: i.gelato_item_id == ref)
                line = by_product[gelato_item.product_id]
                self.assertIn(line.quantity, (item['amount'], 1))
                self.assertTrue(line.name.startswith(
                    f"{record.reference}: {gelato_item.product_id.display_name}"),
                    "labelled with the product's name, not its product UID")
            else:
                line = by_product[self.env.ref('gelato_connector.product_gelato_shipping_cost')]
            self.assertAlmostEqual(line.price_subtotal, item['price'], places=2)
            self.assertEqual(line.tax_ids, self.tax_25, "the receipt's VAT rate, matched")
        self.assertAlmostEqual(bill.amount_untaxed, receipt['total'], places=2)
        self.assertAlmostEqual(bill.amount_total, receipt['totalInclVat'], places=1)

    def test_the_margin_uses_gelatos_price(self):
        order, record = self._shipped()
        receipt = self._receipt(record)
        for item in (i for i in receipt['items'] if i['type'] == 'product'):
            gelato_item = record.item_ids.filtered(
                lambda i, ref=item['referenceId']: i.gelato_item_id == ref)
            line = gelato_item.sale_line_id
            expected = record.cost_currency_id._convert(
                item['price'] / item['amount'], order.currency_id, order.company_id,
                order.date_order)
            self.assertAlmostEqual(line.purchase_price, expected, places=2)
            self.assertAlmostEqual(
                line.margin, line.price_subtotal - expected * line.product_uom_qty, places=1)
        self.assertAlmostEqual(order.gelato_cost_total, record.cost_currency_id._convert(
            receipt['totalInclVat'], order.currency_id, order.company_id, order.date_order),
            places=1)

    def test_a_second_delivery_of_the_same_receipt_changes_nothing(self):
        _order, record = self._shipped()
        bill = record.bill_ids
        lines = bill.invoice_line_ids
        record._gelato_reconcile_one()
        record._gelato_apply_remote(copy.deepcopy(self.simulator.orders[record.gelato_id]))
        self.assertEqual(self._bills(), bill)
        self.assertEqual(bill.invoice_line_ids, lines, "the same lines, not rewritten")

    def test_a_newer_receipt_updates_the_draft_bill_but_never_a_posted_one(self):
        _order, record = self._shipped([(self.small, 1)])
        bill = record.bill_ids
        receipt = self._receipt(record)
        shipping = next(i for i in receipt['items'] if i['type'] == 'shipment')
        shipping['price'] += 1.0
        receipt['total'] += 1.0
        record._gelato_reconcile_one()
        self.assertEqual(record.bill_ids, bill)
        ship_line = bill.invoice_line_ids.filtered(
            lambda line: line.product_id == self.env.ref(
                'gelato_connector.product_gelato_shipping_cost'))
        self.assertAlmostEqual(ship_line.price_subtotal, shipping['price'], places=2)
        bill.write({'invoice_date': fields.Date.today()})
        bill.action_post()
        shipping['price'] += 5.0
        record._gelato_reconcile_one()
        self.assertEqual(self._bills(), bill, "no second bill")
        self.assertEqual(bill.state, 'posted')
        self.assertNotAlmostEqual(ship_line.price_subtotal, shipping['price'], places=2)

    def test_one_bill_per_day_gathers_the_days_orders(self):
        self.company.gelato_bill_policy = 'day'
        _first, one = self._shipped([(self.small, 1)])
        _second, two = self._shipped([(self.medium, 1)])
        self.assertEqual(one.bill_ids, two.bill_ids)
        self.assertEqual(len(self._bills()), 1)
        self.assertEqual(set(self._bills().invoice_line_ids.mapped('gelato_order_id')), {one, two})

    def test_receipts_gelato_could_send_wrong_are_kept_and_explained_never_billed_twice(self):
        order = self._confirm_and_send(self._order([(self.small, 1)]))
        record = order.gelato_order_ids
        remote = copy.deepcopy(self.simulator.orders[record.gelato_id])
        good = remote['receipts'][0]
        cases = {
            'unknown currency': dict(good, id='r-cur', currency='XQQ'),
            'negative amount': dict(good, id='r-neg', items=[dict(good['items'][0], price=-5)]),
            'missing amount': dict(good, id='r-miss', items=[
                {k: v for k, v in good['items'][0].items() if k != 'price'}]),
        }
        for reason, receipt in cases.items():
            with self.subTest(reason=reason):
                remote['receipts'] = [good, receipt]
                bills_before = self._bills()
                record._gelato_apply_remote(remote)
                self.assertEqual(record.receipts, remote['receipts'], "kept as received")
                self.assertIn(receipt['id'], record.bill_error)
                self.assertEqual(self._bills(), bills_before, "the good one billed once")
        remote['receipts'] = [good, good]
        record._gelato_apply_remote(remote)
        self.assertEqual(len(self._bills()), 1)
        self.assertEqual(len(self._bills().invoice_line_ids.filtered(
            lambda line: line.gelato_receipt_ref == good['id'])), len(good['items']))

    def test_receipts_add_no_call_to_gelato(self):
        order = self._order()
        order.action_confirm()
        self.simulator.clear_requests()
        self._run_outbox()
        paths = [r['path'] for r in self.simulator.requests]
        self.assertEqual(paths, ['/order/v4/orders:search', '/order/v4/orders'])
        self.assertTrue(order.gelato_order_ids.bill_ids)

    # --- stuck orders --------------------------------------------------------------------------

    def test_an_order_stuck_in_passed_gets_one_activity_done_when_it_moves(self):
        order = self._confirm_and_send(self._order())
        record = order.gelato_order_ids
        record._gelato_set_status('passed')
        limit = const.STUCK_HOURS['passed']
        record.status_since = fields.Datetime.now() - timedelta(hours=limit - 1)
        self.env['gelato.order']._cron_check_stuck()
        self.assertFalse(record.is_stuck, "not beyond its limit yet")
        record.status_since = fields.Datetime.now() - timedelta(hours=limit + 1)
        self.env['gelato.order']._cron_check_stuck()
        self.env['gelato.order']._cron_check_stuck()
        self.assertTrue(record.is_stuck)
        activity = record.stuck_activity_id
        self.assertEqual(order.activity_ids, activity, "one activity")
        self.assertIn("Not in production yet", activity.note)
        self.assertIn(record, self.env['gelato.order'].search([('is_stuck', '=', True)]))
        record._gelato_set_status('in_production')
        self.assertFalse(record.is_stuck)
        self.assertFalse(activity.exists() and activity.active,
                         "done: it left the open activities")
        self.assertFalse(order.activity_ids)
        self.assertIn('moved the order on', order.message_ids[0].body)

    def test_a_failed_order_is_stuck_at_once(self):
        order = self._confirm_and_send(self._order())
        record = order.gelato_order_ids
        record._gelato_set_status('failed')
        self.assertTrue(record.is_stuck)
        self.assertEqual(len(order.activity_ids), 1)
        self.assertIn('reorder', record.stuck_advice)

    def test_stuck_hours_are_configurable_per_status(self):
        self.env['ir.config_parameter'].set_param(const.STUCK_HOURS_PARAM, '{"passed": 1}')
        record = self._confirm_and_send(self._order()).gelato_order_ids
        record._gelato_set_status('passed')
        record.status_since = fields.Datetime.now() - timedelta(hours=2)
        self.env['gelato.order']._cron_check_stuck()
        self.assertTrue(record.is_stuck)


@tagged('post_install', '-at_install')
class TestGelatoCostsScreens(GelatoHttpCase):
    """The README's screenshots of a Gelato order that stalls, and of a bill of what Gelato
    charged, as the salesperson and the accountant see them."""

    def test_screenshots_of_a_stuck_order_and_of_gelatos_bill(self):
        self.simulator.vat_rate = 0.25
        group = self.env['account.tax.group'].create({'name': "VAT 25%",
                                                      'company_id': self.company.id})
        self.env['account.tax'].create({
            'name': "Purchase VAT 25%", 'amount': 25, 'amount_type': 'percent',
            'type_tax_use': 'purchase', 'company_id': self.company.id,
            'tax_group_id': group.id,
        })
        if not self.env['account.journal'].search([('type', '=', 'purchase'),
                                                   ('company_id', '=', self.company.id)]):
            self.env['account.journal'].create({'name': "Bills", 'code': 'GBIL',
                                                'type': 'purchase', 'company_id': self.company.id})
        order = self._confirm_and_send(self._order([(self.small, 2), (self.medium, 1)]))
        record = order.gelato_order_ids
        record._gelato_set_status('passed')
        record.status_since = fields.Datetime.now() - timedelta(days=3)
        self.env['gelato.order']._cron_check_stuck()
        self.assertTrue(record.is_stuck)
        self.assertTrue(record.bill_ids)
        self._screenshot(
            f'/odoo/action-gelato_connector.action_gelato_order/{record.id}', 'gelato_order_stuck',
            login='admin', ready="!!document.querySelector('.o_form_view .alert-warning')")
        self._screenshot(
            f'/odoo/action-account.action_move_in_invoice_type/{record.bill_ids[:1].id}',
            'gelato_vendor_bill', login='admin',
            ready="document.querySelectorAll('.o_field_one2many tr.o_data_row').length >= 3")
