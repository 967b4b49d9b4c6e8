# Part of gelato_connector. See LICENSE file for full copyright and licensing details.


from odoo.tests import tagged
from odoo.tests.common import JsonRpcException

from odoo.addons.gelato_connector.tests.common import WEBHOOK_SECRET, GelatoHttpCase


@tagged('post_install', '-at_install')
class TestWebshop(GelatoHttpCase):
    """The webshop over real HTTP, and in a real browser (headless Chromium)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.website = cls.env['website'].get_current_website()
        cls.shopper = cls._portal_user('gelato_shopper', "Grace Hopper", 'grace@example.com')
        cls.regular_product.product_tmpl_id.write({
            'name': "Studio Mug", 'is_published': True, 'website_sequence': 1,
        })
        cls._enable_demo_payment()

    def setUp(self):
        super().setUp()
        self.poster.write({'name': "Gelato Tour Poster", 'is_published': True})

    # --- helpers ------------------------------------------------------------------------------

    def _shopper_orders(self):
        return self.env['sale.order'].search([('partner_id', '=', self.shopper.partner_id.id)])

    def _add_to_cart(self, product):
        return self.make_jsonrpc_request('/shop/cart/add', {
            'product_template_id': product.product_tmpl_id.id, 'product_id': product.id,
            'quantity': 1,
        })

    # --- over HTTP ------------------------------------------------------------------------------

    def test_adding_a_gelato_product_to_a_cart_of_other_goods_says_why(self):
        self.authenticate('gelato_shopper', 'gelato_shopper')
        self._add_to_cart(self.regular_product)
        answer = self._add_to_cart(self.small)
        self.assertEqual(answer['quantity'], 0)
        self.assertIn("Gelato Tour Poster", answer['notification_info']['warning'])
        self.assertIn("check out your current cart first", answer['notification_info']['warning'])
        self.assertEqual(self._shopper_orders().order_line.product_id, self.regular_product)

    def test_checkout_rates_are_gelatos_live_rates_for_the_address(self):
        self.authenticate('gelato_shopper', 'gelato_shopper')
        self._add_to_cart(self.small)
        before = len(self.simulator.requests)
        rate = self.make_jsonrpc_request('/shop/get_delivery_rate',
                                         {'dm_id': self.carrier_express.id})
        self.assertTrue(rate['success'], rate)
        quotes = [r for r in self.simulator.requests[before:] if r['path'].endswith(':quote')]
        self.assertTrue(quotes, "the rate comes from Gelato")
        self.assertEqual(quotes[-1]['json']['recipient']['country'], 'DE')
        self.assertGreater(rate['price'], 0)

    def test_a_non_gelato_delivery_method_is_refused_for_a_gelato_cart(self):
        self.authenticate('gelato_shopper', 'gelato_shopper')
        self._add_to_cart(self.small)
        other = self.env['delivery.carrier'].search([('delivery_type', '!=', 'gelato')], limit=1)
        other.is_published = True
        self.env.flush_all()
        with self.assertRaisesRegex(JsonRpcException, 'UserError'):
            self.make_jsonrpc_request('/shop/get_delivery_rate', {'dm_id': other.id})

    def test_product_page_says_which_variants_cannot_be_delivered_to_the_shopper(self):
        self.simulator.stock_overrides[(self.medium.gelato_product_uid, 'EU')] = 'out-of-stock'
        self.poster.action_gelato_check_availability()
        self.authenticate('gelato_shopper', 'gelato_shopper')
        page = self.url_open(self.poster.website_url)
        self.assertEqual(page.status_code, 200)
        self.assertIn('o_gelato_unavailable', page.text)
        self.assertIn('Out of stock for delivery to Germany', page.text)
        self.assertIn('M', page.text.split('Out of stock for delivery to Germany')[1][:200])
        self._screenshot(self.poster.website_url, 'product_page', login='gelato_shopper')

    def test_anonymous_visitor_sees_the_product_page_and_cart(self):
        self.simulator.stock_overrides[(self.medium.gelato_product_uid, 'EU')] = 'out-of-stock'
        self.poster.action_gelato_check_availability()
        self.authenticate(None, None)
        self.assertEqual(self.url_open(self.poster.website_url).status_code, 200)
        answer = self._add_to_cart(self.medium)  # no address yet: the check waits for one
        self.assertEqual(answer['quantity'], 1)
        self.assertEqual(self.url_open('/shop/cart').status_code, 200)

    def test_cart_flags_a_line_out_of_stock_where_the_shopper_is(self):
        self.authenticate('gelato_shopper', 'gelato_shopper')
        self._add_to_cart(self.medium)
        self.simulator.stock_overrides[(self.medium.gelato_product_uid, 'EU')] = 'out-of-stock'
        self.poster.action_gelato_check_availability()
        self.env.flush_all()
        page = self.url_open('/shop/cart')
        self.assertIn('o_gelato_line_unavailable', page.text)
        self.assertIn('Out of stock for delivery to Germany', page.text)

    def test_payment_step_says_why_gelato_cannot_fulfill_the_cart(self):
        self.authenticate('gelato_shopper', 'gelato_shopper')
        self._add_to_cart(self.medium)
        self.make_jsonrpc_request('/shop/set_delivery_method', {'dm_id': self.carrier_normal.id})
        self.simulator.stock_overrides[(self.medium.gelato_product_uid, 'EU')] = 'out-of-stock'
        self.poster.action_gelato_check_availability()
        self.env.flush_all()
        page = self.url_open('/shop/payment')
        self.assertEqual(page.status_code, 200)
        self.assertIn('cannot be printed and shipped yet', page.text)
        self.assertIn('out of stock at Gelato for the region EU', page.text)

    def test_portal_shows_gelato_status_estimate_and_tracking(self):
        order = self._confirm_and_send(self._order(partner=self.shopper.partner_id))
        with self._gelato_calls_in():
            self.simulator.drive_order(order.gelato_order_id, self._webhook_url(),
                                       WEBHOOK_SECRET, retry_delay=0.1)
        self.assertEqual(order.gelato_status, 'delivered')
        self.authenticate('gelato_shopper', 'gelato_shopper')
        listing = self.url_open('/my/orders')
        self.assertIn('o_gelato_followup', listing.text)
        self.assertIn('o_gelato_tracking_link', listing.text)
        self.assertIn(order.picking_ids.carrier_tracking_ref.split(',')[0], listing.text)
        detail = self.url_open(f'/my/orders/{order.id}')
        self.assertIn('gelato_followup', detail.text)

    # --- in the browser -------------------------------------------------------------------------

    def test_shopper_buys_a_gelato_product_and_follows_it_to_delivery(self):
        if not self.env.ref('payment.payment_provider_demo', raise_if_not_found=False):
            self.skipTest("payment_demo is not installed")
        self.start_tour('/shop', 'gelato_shop_buy', login='gelato_shopper', timeout=180)
        order = self._shopper_orders().filtered(lambda o: o.state == 'sale')
        self.assertEqual(len(order), 1)
        self.assertEqual(order.carrier_id, self.carrier_express)
        self.assertTrue(order._gelato_is_paid())
        # Confirmation queued the order; the outbox sends it (at once after a real commit).
        self.env['gelato.order']._cron_send_pending()
        self.assertEqual(order.gelato_outbox_state, 'sent')
        remote = self._remote_orders_for(order)
        self.assertEqual(len(remote), 1, "sent once")
        self.assertEqual(remote[0]['shipment']['shipmentMethodUid'],
                         order.gelato_shipment_method_uid, "the method the shopper paid for")
        with self._gelato_calls_in():
            results = self.simulator.drive_order(order.gelato_order_id, self._webhook_url(),
                                                 WEBHOOK_SECRET, retry_delay=0.1)
        self.assertTrue(all(codes[-1] == 200 for codes in results), results)
        self.assertEqual(order.gelato_status, 'delivered')
        self.start_tour('/my/orders', 'gelato_portal_tracking', login='gelato_shopper')
        self._screenshot(f'/my/orders/{order.id}', 'portal_order', login='gelato_shopper')

    def test_mixed_cart_is_refused_in_the_browser(self):
        self.start_tour('/shop', 'gelato_mixed_cart', login='gelato_shopper', timeout=120)
        self.assertEqual(self._shopper_orders().order_line.product_id, self.regular_product)
        # The same refusal, left on the cart page for the README's screenshot.
        self.authenticate('gelato_shopper', 'gelato_shopper')
        self._add_to_cart(self.small)
        self._screenshot('/shop/cart', 'cart_refusal', login='gelato_shopper')
