# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import Command
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from odoo.addons.gelato_connector.tests.common import PNG, GelatoOrderCase


@tagged('post_install', '-at_install')
class TestWebshopPublishing(GelatoOrderCase):
    """What the webshop shows of a Gelato product: published only when Gelato can print it."""

    def test_publishing_a_product_without_print_images_is_refused(self):
        product = self._gelato_product('tpl-unprinted', [('Size', ['S'])], images=False)
        with self.assertRaisesRegex(ValidationError, r'(?s)cannot be published yet.*default'):
            product.is_published = True

    def test_a_product_with_every_print_image_can_be_published(self):
        self.poster.is_published = True
        self.assertTrue(self.poster.is_published)

    def test_removing_a_print_image_of_a_published_product_is_refused(self):
        self.poster.is_published = True
        with self.assertRaisesRegex(ValidationError, 'unpublish it first'):
            self.poster.gelato_image_ids[:1].datas = False

    def test_resync_adding_a_print_area_unpublishes_the_product(self):
        self.poster.is_published = True
        self.simulator.make_template('tpl-poster', [('Size', ['S', 'M', 'L'])],
                                     print_areas=('front', 'back'))
        action = self.poster.action_sync_gelato_template_info()
        self.assertFalse(self.poster.is_published)
        self.assertEqual(action['params']['type'], 'warning')
        self.assertIn('unpublished', action['params']['message'])
        self.assertIn('back', self.poster.gelato_missing_image_names)

    def test_resync_without_new_print_areas_keeps_the_product_published(self):
        self.poster.is_published = True
        self.poster.action_sync_gelato_template_info()
        self.assertTrue(self.poster.is_published)

    def test_synchronize_fills_the_webshop_description_sanitized(self):
        self.simulator.make_template(
            'tpl-described', [('Size', ['S'])],
            description='<p onclick="steal()">Museum-quality <b>poster</b></p>'
                        '<script>alert(1)</script>')
        product = self._product('tpl-described')
        self._sync(product)
        description = str(product.description_ecommerce)
        self.assertIn('Museum-quality <b>poster</b>', description)
        self.assertNotIn('script', description)
        self.assertNotIn('onclick', description)

    def test_plain_text_description_keeps_its_paragraphs(self):
        self.simulator.make_template('tpl-plain', [('Size', ['S'])],
                                     description='First & best.\n\nSecond line')
        product = self._product('tpl-plain')
        self._sync(product)
        self.assertEqual(str(product.description_ecommerce),
                         '<p>First &amp; best.</p><p>Second line</p>')

    def test_the_users_own_webshop_description_survives_a_resync(self):
        self.simulator.make_template('tpl-own-text', [('Size', ['S'])], description='<p>Gelato</p>')
        product = self._product('tpl-own-text')
        self._sync(product)
        product.description_ecommerce = '<p>Our own words</p>'
        self.simulator.make_template('tpl-own-text', [('Size', ['S'])],
                                     description='<p>Gelato, updated</p>')
        self._sync(product)
        self.assertEqual(str(product.description_ecommerce), '<p>Our own words</p>')

    def test_gelatos_updated_description_replaces_the_one_it_set(self):
        self.simulator.make_template('tpl-upd', [('Size', ['S'])], description='<p>Old</p>')
        product = self._product('tpl-upd')
        self._sync(product)
        self.simulator.make_template('tpl-upd', [('Size', ['S'])], description='<p>New</p>')
        params = self._sync(product)
        self.assertEqual(str(product.description_ecommerce), '<p>New</p>')
        self.assertIn('webshop description updated', params['message'])
        again = self._sync(product)
        self.assertNotIn('description', again['message'])


@tagged('post_install', '-at_install')
class TestWebshopOrders(GelatoOrderCase):
    """Carts and paid webshop orders, in the models."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.website = cls.env['website'].get_current_website()
        cls.provider = cls.env.ref('payment.payment_provider_demo', raise_if_not_found=False)

    def _cart(self, lines=None):
        order = self._order(lines)
        order.website_id = self.website
        return order

    def _pay(self, order):
        if not self.provider or self.provider.code != 'demo':
            self.skipTest("payment_demo is not installed")
        tx = self.env['payment.transaction'].sudo().create({
            'provider_id': self.provider.id,
            'payment_method_id': self.env.ref('payment_demo.payment_method_demo').id,
            'amount': order.amount_total,
            'currency_id': order.currency_id.id,
            'partner_id': order.partner_id.id,
            'operation': 'online_direct',
            'reference': f'{order.name}-tx',
            'sale_order_ids': [Command.set(order.ids)],
            'state': 'done',
        })
        tx._post_process()
        return tx

    def test_gelato_cart_offers_only_gelato_delivery_methods(self):
        methods = self._cart()._get_delivery_methods()
        self.assertTrue(methods)
        self.assertEqual(set(methods.mapped('delivery_type')), {'gelato'})

    def test_other_carts_are_not_offered_gelato_delivery(self):
        methods = self._cart([(self.regular_product, 1)])._get_delivery_methods()
        self.assertNotIn('gelato', methods.mapped('delivery_type'))

    def test_a_gelato_product_is_refused_in_a_cart_of_other_goods(self):
        cart = self._cart([(self.regular_product, 1)])
        qty, warning = cart._verify_updated_quantity(
            self.env['sale.order.line'], self.small.id, 1, self.small.uom_id.id)
        self.assertEqual(qty, 0)
        self.assertIn(self.small.display_name, warning)
        self.assertIn('check out your current cart first', warning)

    def test_other_goods_are_refused_in_a_gelato_cart(self):
        cart = self._cart()
        qty, warning = cart._verify_updated_quantity(
            self.env['sale.order.line'], self.regular_product.id, 1,
            self.regular_product.uom_id.id)
        self.assertEqual(qty, 0)
        self.assertIn('Regular Mug', warning)

    def test_services_join_any_cart(self):
        cart = self._cart()
        qty, warning = cart._verify_updated_quantity(
            self.env['sale.order.line'], self.service.id, 1, self.service.uom_id.id)
        self.assertEqual((qty, warning), (1, ''))

    def test_a_variant_out_of_stock_where_the_cart_ships_is_refused(self):
        self.simulator.stock_overrides[(self.medium.gelato_product_uid, 'EU')] = 'out-of-stock'
        self.poster.action_gelato_check_availability()
        cart = self._cart()
        qty, warning = cart._verify_updated_quantity(
            self.env['sale.order.line'], self.medium.id, 1, self.medium.uom_id.id)
        self.assertEqual(qty, 0)
        self.assertIn('cannot be delivered to Germany', warning)

    def test_a_cart_gelato_cannot_fulfill_cannot_be_paid(self):
        cart = self._cart([(self.medium, 1)])
        cart.set_delivery_line(self.carrier_normal, 5.0)
        self.simulator.stock_overrides[(self.medium.gelato_product_uid, 'EU')] = 'out-of-stock'
        self.poster.action_gelato_check_availability()
        with self.assertRaisesRegex(ValidationError, 'out of stock'):
            cart._check_cart_is_ready_to_be_paid()

    def test_paid_order_is_confirmed_and_sent_to_gelato_once(self):
        order = self._cart()
        rate = self.carrier_normal.rate_shipment(order)
        order.set_delivery_line(self.carrier_normal, rate['price'])
        tx = self._pay(order)
        self.assertEqual(order.state, 'sale')
        self.assertEqual(order.gelato_outbox_state, 'pending')
        self.env['gelato.order']._cron_send_pending()
        self.env['gelato.order']._cron_send_pending()
        tx._post_process()  # a replayed payment notification
        self.env['gelato.order']._cron_send_pending()
        self.assertEqual(order.gelato_outbox_state, 'sent')
        self.assertEqual(len(self._remote_orders_for(order)), 1)

    def test_paid_order_gelato_cannot_take_yet_is_confirmed_and_kept_for_the_salesperson(self):
        order = self._cart()
        order.set_delivery_line(self.carrier_normal, 5.0)
        self.poster.gelato_image_ids[:1].datas = False  # not published: allowed
        self._pay(order)
        self.assertEqual(order.state, 'sale', "a paid order is never lost")
        self.assertEqual(order.gelato_outbox_state, 'attention')
        self.assertIn('print image', order.gelato_last_error)
        self.assertTrue(order.activity_ids)
        self.env['gelato.order']._cron_send_pending()
        self.assertFalse(self._remote_orders_for(order))
        self.poster.gelato_image_ids[:1].datas = PNG
        order.action_gelato_send()
        self.env['gelato.order']._cron_send_pending()
        self.assertEqual(order.gelato_outbox_state, 'sent')
        self.assertEqual(len(self._remote_orders_for(order)), 1)
