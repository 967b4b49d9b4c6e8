# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""The shipping the user chose is the shipping Gelato receives; paid orders reach Gelato from any
user, at once; one Gelato quote per delivery step.

What Gelato received is read from what the simulator stored, never from our own fields.
Gelato's create-order page (https://dashboard.gelato.com/docs/orders/v4/create) says
`shipmentMethodUid` takes `normal`, `standard`, `express` or a shipmentMethodUid of the quote API
(https://dashboard.gelato.com/docs/orders/v4/quote/).
"""
from odoo import Command
from odoo.tests import tagged

from odoo.addons.gelato_connector.simulator import data as simulator_data
from odoo.addons.gelato_connector.tests.common import GelatoHttpCase


def method_type(uid):
    """The type (`normal`, `express`) of a shipmentMethodUid as the simulator's Gelato knows it."""
    if uid in simulator_data.GENERIC_METHODS:
        return simulator_data.GENERIC_METHODS[uid]
    return next(m[2] for m in simulator_data.SHIPMENT_METHODS if m[0] == uid)


@tagged('post_install', '-at_install')
class TestCheckout(GelatoHttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.website = cls.env['website'].get_current_website()
        cls.shopper = cls._portal_user('gelato_buyer', "Katherine Johnson",
                                       'katherine@example.com')
        cls.provider = cls._enable_demo_payment()

    def setUp(self):
        super().setUp()
        self.poster.write({'name': "Gelato Tour Poster", 'is_published': True})

    # --- helpers -------------------------------------------------------------------------------

    def _created_orders(self):
        """The create requests the simulator received."""
        return [r['json'] for r in self.simulator.requests
                if r['method'] == 'POST' and r['path'] == '/order/v4/orders']

    def _quote_calls(self, since=0):
        return [r for r in self.simulator.requests[since:] if r['path'].endswith(':quote')]

    def _cart_as_shopper(self, product=None):
        self.authenticate('gelato_buyer', 'gelato_buyer')
        self.make_jsonrpc_request('/shop/cart/add', {
            'product_template_id': self.poster.id, 'product_id': (product or self.small).id,
            'quantity': 1})
        return self.env['sale.order'].search(
            [('partner_id', '=', self.shopper.partner_id.id)], order='id desc', limit=1)

    def _pay(self, order, user):
        """Pay with the demo provider and post-process the payment as `user`'s request does."""
        if not self.provider or self.provider.code != 'demo':
            self.skipTest("payment_demo is not installed")
        tx = self.env['payment.transaction'].sudo().create({
            'provider_id': self.provider.id,
            'payment_method_id': self.env.ref('payment_demo.payment_method_demo').id,
            'amount': order.amount_total, 'currency_id': order.currency_id.id,
            'partner_id': order.partner_id.id, 'operation': 'online_direct',
            'reference': f'{order.name}-tx', 'sale_order_ids': [Command.set(order.ids)],
            'state': 'done',
        })
        # /payment/status/poll post-processes with sudo() in the visitor's environment.
        tx.with_user(user).sudo()._post_process()
        return tx

    # --- the method chosen ---------------------------------------------------------------------

    def test_shopper_who_keeps_standard_delivery_is_sent_standard(self):
        if not self.provider:
            self.skipTest("payment_demo is not installed")
        self.start_tour('/shop', 'gelato_shop_buy_standard', login='gelato_buyer', timeout=180)
        order = self.env['sale.order'].search(
            [('partner_id', '=', self.shopper.partner_id.id), ('state', '=', 'sale')])
        self.assertEqual(len(order), 1)
        self.assertEqual(order.carrier_id, self.carrier_normal)
        self.env.ref('gelato_connector.ir_cron_gelato_outbox').method_direct_trigger()
        sent = self._created_orders()
        self.assertEqual(len(sent), 1)
        self.assertEqual(method_type(sent[0]['shipmentMethodUid']), 'normal')
        stored = self._remote_orders_for(order)
        self.assertEqual(len(stored), 1)
        self.assertEqual(method_type(stored[0]['shipment']['shipmentMethodUid']), 'normal',
                         "Gelato ships it with a standard method")

    def test_a_public_visitor_buys_in_the_browser_and_the_order_reaches_gelato(self):
        if not self.provider:
            self.skipTest("payment_demo is not installed")
        before = self.env['sale.order'].search([]).ids
        self.start_tour('/shop', 'gelato_guest_buy', timeout=180)
        order = self.env['sale.order'].search([('id', 'not in', before), ('state', '=', 'sale')])
        self.assertEqual(len(order), 1)
        self.assertEqual(order.partner_id.name, "Guest Visitor")
        self.assertTrue(order._gelato_is_paid())
        self.env.ref('gelato_connector.ir_cron_gelato_outbox').method_direct_trigger()
        stored = self._remote_orders_for(order)
        self.assertEqual(len(stored), 1)
        self.assertEqual(stored[0]['shippingAddress']['country'], 'BE')
        self.assertEqual(method_type(stored[0]['shipment']['shipmentMethodUid']), 'normal')
        self.assertEqual(len([r for r in self.simulator.requests if r['path'].endswith(':quote')]),
                         1, "one quote for the delivery step")

    def test_rating_both_methods_changes_nothing_the_user_chose(self):
        order = self._order()
        order.set_delivery_line(self.carrier_normal, 5.0)
        chosen = order.gelato_shipment_method_uid
        self.carrier_normal.rate_shipment(order)
        self.carrier_express.rate_shipment(order)  # rated last: it used to win
        self.assertEqual(order.gelato_shipment_method_uid, chosen)
        self._confirm_and_send(order)
        self.assertEqual(method_type(self._created_orders()[0]['shipmentMethodUid']), 'normal')

    def test_switching_method_back_and_forth_sends_the_last_one_chosen(self):
        order = self._order()
        for carrier in (self.carrier_express, self.carrier_normal, self.carrier_express):
            order.set_delivery_line(carrier, 5.0)
        self.carrier_normal.rate_shipment(order)
        self._confirm_and_send(order)
        sent = self._created_orders()
        self.assertEqual(len(sent), 1)
        self.assertEqual(method_type(sent[0]['shipmentMethodUid']), 'express')

    def test_address_changed_after_the_rate_asks_gelato_again(self):
        order = self._order()
        order.set_delivery_line(self.carrier_normal, 5.0)
        self.assertEqual(self._quote_calls()[-1]['json']['recipient']['country'], 'DE')
        self.customer.write({'country_id': self.env.ref('base.us').id,
                             'state_id': self.env.ref('base.state_us_5').id,
                             'city': 'San Francisco', 'zip': '94016', 'street': '1 Market St'})
        before = len(self.simulator.requests)
        self._confirm_and_send(order)
        quotes = self._quote_calls(before)
        self.assertEqual(len(quotes), 1, "one new quote, for the new address")
        self.assertEqual(quotes[0]['json']['recipient']['country'], 'US')
        sent = self._created_orders()[0]['shipmentMethodUid']
        self.assertEqual(method_type(sent), 'normal')
        self.assertIn('US', next(m[6] for m in simulator_data.SHIPMENT_METHODS if m[0] == sent)
                      if sent not in simulator_data.GENERIC_METHODS else {'US'})
        self.assertTrue(self._remote_orders_for(order))

    # --- one quote per delivery step -----------------------------------------------------------

    def test_delivery_step_asks_gelato_once_for_both_methods(self):
        self._cart_as_shopper()
        before = len(self.simulator.requests)
        page = self.url_open('/shop/checkout')
        self.assertEqual(page.status_code, 200)
        for carrier in (self.carrier_normal, self.carrier_express, self.carrier_normal):
            rate = self.make_jsonrpc_request('/shop/get_delivery_rate', {'dm_id': carrier.id})
            self.assertTrue(rate['success'], rate)
        self.make_jsonrpc_request('/shop/set_delivery_method', {'dm_id': self.carrier_express.id})
        self.assertEqual(len(self._quote_calls(before)), 1)

    def test_cart_change_gets_a_new_quote(self):
        order = self._order()
        self.carrier_normal.rate_shipment(order)
        self.carrier_express.rate_shipment(order)
        self.assertEqual(len(self._quote_calls()), 1)
        order.order_line.product_uom_qty = 3
        self.carrier_normal.rate_shipment(order)
        self.assertEqual(len(self._quote_calls()), 2)
        self.assertEqual(self._quote_calls()[-1]['json']['products'][0]['quantity'], 3)

    def test_rate_for_an_address_gelato_cannot_ship_to_is_a_clear_message(self):
        self.customer.country_id = self.env.ref('base.aq')
        rate = self.carrier_express.rate_shipment(self._order())
        self.assertFalse(rate['success'])
        self.assertIn('does not offer', rate['error_message'])

    # --- paid orders reach Gelato, from any user -----------------------------------------------

    def _assert_sent_by_the_outbox_woken_at_commit(self, order):
        cron = self.env.ref('gelato_connector.ir_cron_gelato_outbox')
        self.assertTrue(self.env['ir.cron.trigger'].search([('cron_id', '=', cron.id)]),
                        "the commit wakes the outbox's scheduled action")
        self.assertFalse(self._remote_orders_for(order), "nothing is sent in the request")
        # What the cron worker does once woken: run the job as its own user (OdooBot).
        cron.method_direct_trigger()
        self.assertEqual(order.gelato_outbox_state, 'sent', order.gelato_last_error)
        self.assertEqual(len(self._remote_orders_for(order)), 1)
        self.assertEqual(cron.user_id, self.env.ref('base.user_root'))

    def test_order_paid_by_a_public_visitor_reaches_gelato(self):
        visitor = self.env['res.partner'].create({
            'name': "Anonymous Buyer", 'street': 'Rue de Rivoli 1', 'city': 'Paris',
            'zip': '75001', 'country_id': self.env.ref('base.fr').id,
            'email': 'buyer@example.com'})
        order = self._order(partner=visitor, carrier=self.carrier_normal)
        order.website_id = self.website
        self._pay(order, self.website.user_id)
        self.assertEqual(order.state, 'sale')
        self._assert_sent_by_the_outbox_woken_at_commit(order)

    def test_order_paid_by_a_portal_customer_reaches_gelato(self):
        order = self._cart_as_shopper()
        order.set_delivery_line(self.carrier_express, 9.0)
        self._pay(order, self.shopper)
        self.assertEqual(order.state, 'sale')
        self._assert_sent_by_the_outbox_woken_at_commit(order)
        self.assertEqual(method_type(self._created_orders()[0]['shipmentMethodUid']), 'express')

    def test_gelato_down_when_the_shopper_pays_loses_nothing(self):
        order = self._order(carrier=self.carrier_normal)
        order.website_id = self.website
        self.simulator.go_down()
        try:
            self._pay(order, self.website.user_id)
            self.env.ref('gelato_connector.ir_cron_gelato_outbox').method_direct_trigger()
        finally:
            self.simulator.come_up()
        self.assertEqual(order.state, 'sale')
        self.assertEqual(order.gelato_outbox_state, 'pending')
        self._run_outbox()
        self.assertEqual(len(self._remote_orders_for(order)), 1)

    def test_paying_twice_sends_the_order_once(self):
        order = self._order(carrier=self.carrier_normal)
        order.website_id = self.website
        first = self._pay(order, self.website.user_id)
        second = first.copy({'reference': f'{order.name}-tx2', 'state': 'done',
                             'sale_order_ids': [Command.set(order.ids)]})
        second.with_user(self.website.user_id).sudo()._post_process()
        self._run_outbox()
        self.assertEqual(len(order.gelato_order_ids), 1)
        self.assertEqual(len(self._remote_orders_for(order)), 1)
