# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""After the parcel: damaged, misprinted, lost and returned orders, replaced and claimed.

Gelato's process (apisupport.gelato.com "What if a product is damaged?": place a reorder, then
reach out to Gelato's support with the original and the resubmitted order numbers, a
description and photos; "What if an order is lost in the mail?"; support.gelato.com "Getting
started with Gelato customer service": within 30 days of delivery). The replacement is a new
order (docs/orders/v4/create) followed by Gelato's webhooks like any other; Gelato's refund is
a receipt whose `transactionType` is `refund` (docs/orders/v4/get/, ReceiptObject). Each test
reads what the simulator stored and what reached Odoo over HTTP.
"""
from datetime import timedelta

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from odoo.addons.gelato_connector.tests.common import WEBHOOK_SECRET, GelatoHttpCase


class ClaimMixin:

    def _delivered(self, partner=None, status='delivered'):
        """A two-item order Gelato delivered, through its webhooks."""
        order = self._confirm_and_send(self._order([(self.small, 1), (self.medium, 2)],
                                                   partner=partner, carrier=self.carrier_normal))
        statuses = ('passed', 'in_production', 'printed', 'shipped', status)
        self._drive(order.gelato_order_id, statuses)
        self.assertEqual(order.gelato_order_ids.status, status)
        return order

    def _drive(self, gelato_id, statuses):
        with self._gelato_calls_in():
            results = self.simulator.drive_order(gelato_id, self._webhook_url(), WEBHOOK_SECRET,
                                                 statuses, retry_delay=0.1)
        self.assertTrue(all(codes[-1] == 200 for codes in results), results)

    def _claim(self, order, reason='damaged', quantities=None, user=None):
        """Report a problem as the button does; `quantities`: product -> quantity."""
        record = order.gelato_order_ids.filtered(lambda o: not o.claim_id)
        action = (record.with_user(user) if user else record).action_report_problem()
        context = dict(action['context'])
        if quantities is not None:
            context['default_line_ids'] = [Command.create({
                'item_id': item.id, 'quantity': quantities[item.product_id]})
                for item in record.item_ids if item.product_id in quantities]
        Claim = self.env['gelato.claim'].with_context(**context)
        return (Claim.with_user(user) if user else Claim).create({'reason': reason})

    def _replacements(self, order):
        return [o for o in self.simulator.orders.values()
                if o['orderReferenceId'].startswith(order.gelato_order_ids[-1:].reference + '-R')]


@tagged('post_install', '-at_install')
class TestClaims(ClaimMixin, GelatoHttpCase):

    def test_a_damaged_item_is_replaced_alone_and_followed_to_a_second_delivery(self):
        order = self._delivered()
        first_picking = order.picking_ids
        self.assertEqual(first_picking.state, 'done')
        tracking_before = first_picking.carrier_tracking_ref
        claim = self._claim(order, quantities={self.medium: 1})
        self.assertEqual(claim.deadline, claim.delivered_on + timedelta(days=30))
        claim.action_send_replacement()
        self._run_outbox()
        remote = self._replacements(order)
        self.assertEqual(len(remote), 1, "one new order at Gelato")
        self.assertEqual([(i['productUid'], i['quantity']) for i in remote[0]['items']],
                         [(self.medium.gelato_product_uid, 1)], "that item only")
        self.assertTrue(remote[0]['orderReferenceId'].endswith('-R1'))
        replacement = claim.replacement_id
        self.assertEqual(replacement.gelato_id, remote[0]['id'])
        self.assertEqual(replacement.sale_order_id, order)
        self._drive(replacement.gelato_id, ('passed', 'printed', 'shipped', 'delivered'))
        self.assertEqual(claim.replacement_status, 'delivered')
        second = claim.replacement_picking_id
        self.assertEqual(second.state, 'done')
        self.assertNotEqual(second, first_picking, "a second delivery")
        self.assertEqual(second.partner_id, order.partner_shipping_id)
        self.assertIn(order.name, second.origin)
        self.assertEqual(second.move_ids.mapped('quantity'), [1.0])
        self.assertEqual(first_picking.state, 'done')
        self.assertEqual(first_picking.carrier_tracking_ref, tracking_before,
                         "the first delivery is left as it was")
        self.assertTrue(second.carrier_tracking_ref)
        self.assertEqual(order.order_line.filtered('product_id.gelato_product_uid').mapped(
            'qty_delivered'), [1.0, 2.0], "delivered quantities stay what was ordered")
        mails = self.env['mail.message'].search([('model', '=', 'sale.order'),
                                                 ('res_id', '=', order.id),
                                                 ('message_type', '=', 'comment')])
        self.assertTrue(any('a replacement is on its way' in (m.subject or '') for m in mails))

    def test_pressing_replace_twice_sends_one_order_and_two_claims_send_two(self):
        order = self._delivered()
        claim = self._claim(order, quantities={self.small: 1})
        claim.action_send_replacement()
        again = claim.action_send_replacement()
        self.assertIn("already has its replacement", again['params']['message'])
        self._run_outbox()
        self.assertEqual(len(self._replacements(order)), 1)
        other = self._claim(order, reason='misprint', quantities={self.medium: 2})
        other.action_send_replacement()
        self._run_outbox()
        remote = self._replacements(order)
        self.assertEqual(len(remote), 2, "two claims, two replacements")
        self.assertEqual(sorted(o['orderReferenceId'][-3:] for o in remote), ['-R1', '-R2'])

    def test_a_returned_order_is_reshipped_to_the_corrected_address(self):
        order = self._delivered(status='returned')
        self.customer.write({'street': 'Friedrichstrasse 100', 'zip': '10117'})
        claim = self._claim(order, reason='returned')
        self.assertEqual(claim.reason, 'returned')
        claim.action_send_replacement()
        self._run_outbox()
        remote = self._replacements(order)
        self.assertEqual(len(remote), 1)
        self.assertEqual(remote[0]['shippingAddress']['addressLine1'], 'Friedrichstrasse 100')
        self.assertEqual(sorted(i['quantity'] for i in remote[0]['items']), [1, 2],
                         "the whole parcel again")

    def test_a_refund_receipt_closes_the_claim_with_a_credit_note(self):
        order = self._delivered()
        claim = self._claim(order, quantities={self.medium: 1})
        claim.action_send_replacement()
        self._run_outbox()
        original = order.gelato_order_ids.filtered(lambda o: not o.claim_id)
        item = [i for i in self.simulator.orders[original.gelato_id]['items']
                if i['productUid'] == self.medium.gelato_product_uid]
        refund = self.simulator.refund(original.gelato_id, [item[0]['id']])
        original.action_refresh()
        self.assertEqual(claim.state, 'refunded')
        self.assertEqual(claim.refund_receipt_ref, refund['id'])
        self.assertAlmostEqual(claim.refunded_amount, refund['totalInclVat'])
        self.assertEqual(claim.refund_move_id.move_type, 'in_refund')
        self.assertAlmostEqual(claim.refund_move_id.amount_total, refund['totalInclVat'],
                               places=2)
        original.action_refresh()
        self.assertEqual(self.env['account.move'].search_count(
            [('line_ids.gelato_receipt_ref', '=', refund['id'])]), 1, "refunded once")

    def test_the_message_for_gelato_names_both_orders_and_sending_it_files_the_claim(self):
        order = self._delivered()
        claim = self._claim(order, quantities={self.small: 1})
        claim.attachment_ids = [Command.create({'name': 'box.png', 'raw': b'photo',
                                                'res_model': 'gelato.claim',
                                                'res_id': claim.id})]
        claim.action_send_replacement()
        self._run_outbox()
        original = order.gelato_order_ids.filtered(lambda o: not o.claim_id)
        self.assertIn(original.gelato_id, claim.support_message)
        self.assertIn(claim.replacement_id.gelato_id, claim.support_message)
        self.assertIn("1 photo(s) attached", claim.support_message)
        action = claim.action_email_gelato_support()
        composer = self.env['mail.compose.message'].with_context(**action['context']).create({})
        self.assertIn(original.gelato_id, composer.body)
        self.assertEqual(composer.attachment_ids, claim.attachment_ids)
        composer._action_send_mail()
        self.assertEqual(claim.state, 'filed')

    def test_a_claim_whose_deadline_nears_gets_a_todo(self):
        order = self._delivered()
        claim = self._claim(order, quantities={self.small: 1})
        self.env['gelato.claim']._cron_gelato_claim_deadlines()
        self.assertFalse(claim.activity_ids, "30 days ahead: nothing yet")
        order.gelato_order_ids.status_since = fields.Datetime.now() - timedelta(days=27)
        claim._gelato_set_deadline()
        self.assertEqual(claim.deadline, fields.Date.today() + timedelta(days=3))
        self.env['gelato.claim']._cron_gelato_claim_deadlines()
        self.env['gelato.claim']._cron_gelato_claim_deadlines()
        self.assertEqual(claim.activity_ids.mapped('summary'), ["File the Gelato claim"])

    def test_no_claim_before_gelato_shipped_and_none_on_anothers_sale(self):
        order = self._confirm_and_send(self._order(carrier=self.carrier_normal))
        with self.assertRaises(UserError):
            order.gelato_order_ids.action_report_problem()
        delivered = self._delivered()
        delivered.user_id = self.env.ref('base.user_admin')
        seller = self.env['res.users'].create({
            'name': "Own Seller", 'login': 'claim_seller', 'password': 'claim_seller',
            'group_ids': [Command.set([self.env.ref('sales_team.group_sale_salesman').id])]})
        with self.assertRaises(AccessError):
            self._claim(delivered, quantities={self.small: 1}, user=seller)
        claim = self._claim(delivered, quantities={self.small: 1})
        with self.assertRaises(AccessError):
            claim.with_user(seller).action_send_replacement()
        self.assertFalse(claim.replacement_id)
        self.assertFalse(self._replacements(delivered), "no request left")

    def test_a_portal_customer_sees_the_replacement(self):
        shopper = self._portal_user('claim_shopper', "Ida Wells", 'ida@example.com')
        order = self._delivered(partner=shopper.partner_id)
        self._claim(order, quantities={self.small: 1}).action_send_replacement()
        self._run_outbox()
        self.authenticate('claim_shopper', 'claim_shopper')
        page = self.url_open(f'/my/orders/{order.id}')
        self.assertEqual(page.status_code, 200)
        self.assertIn('o_gelato_replacement', page.text)
        self.assertIn('Replacement on its way', page.text)

    def test_salesperson_files_a_claim_and_replaces_from_the_backend(self):
        seller = self.env['res.users'].create({
            'name': "Tour Seller", 'login': 'claim_tour', 'password': 'claim_tour',
            'group_ids': [Command.set([self.env.ref('sales_team.group_sale_salesman').id])]})
        order = self._delivered()
        order.user_id = seller
        record = order.gelato_order_ids
        self.start_tour(f'/odoo/action-gelato_connector.action_gelato_order/{record.id}',
                        'gelato_backend_claim', login='claim_tour', timeout=120)
        self.env.invalidate_all()
        claim = record.claim_ids
        self.assertEqual(len(claim), 1)
        self.assertEqual(claim.reason, 'misprint')
        self.assertTrue(claim.replacement_id, "replaced from the form")
        self._run_outbox()
        self.assertEqual(len(self._replacements(order)), 1)
        self._screenshot(f'/odoo/action-gelato_connector.action_gelato_claim/{claim.id}',
                         'claim_form', login='claim_tour',
                         ready="!!document.querySelector('.o_form_view .o_statusbar_status')")
