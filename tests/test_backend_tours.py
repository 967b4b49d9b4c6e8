# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import Command
from odoo.tests import tagged

from odoo.addons.gelato_connector.tests.common import GelatoHttpCase


@tagged('post_install', '-at_install')
class TestBackendTours(GelatoHttpCase):
    """The backend in a real browser (headless Chromium), as a salesperson, not the admin."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.salesperson = cls.env['res.users'].create({
            'name': "Sally Sales", 'login': 'gelato_salesperson',
            'password': 'gelato_salesperson', 'email': 'sally@example.com',
            'group_ids': [Command.set([
                cls.env.ref('sales_team.group_sale_salesman_all_leads').id,
            ])],
        })

    def setUp(self):
        super().setUp()
        self.poster.name = "Gelato Backend Poster"
        # The size M costs more: the tour chooses it and sees its price before confirming.
        self.medium.product_template_attribute_value_ids.price_extra = 5.0

    def _requests(self, method, suffix):
        return [r for r in self.simulator.requests
                if r['method'] == method and r['path'].endswith(suffix)]

    def test_salesperson_quotes_confirms_asks_gelato_and_cancels(self):
        self.assertFalse(self.salesperson._is_admin())
        # Tour 1: the quotation, with Gelato's standard delivery, confirmed.
        self.start_tour('/odoo', 'gelato_backend_quotation', login='gelato_salesperson',
                        timeout=180)
        sale = self.env['sale.order'].search([('partner_id', '=', self.customer.id)])
        self.assertEqual(len(sale), 1)
        self.assertEqual(sale.state, 'sale')
        self.assertEqual(sale.user_id, self.salesperson)
        self.assertEqual(sale.carrier_id, self.carrier_normal)
        self.assertEqual(sale._gelato_lines().product_id, self.medium, "the size chosen")
        self.assertEqual(sale._gelato_lines().price_unit, 35.0)
        self.assertTrue(self._requests('POST', ':quote'), "the rate came from Gelato")
        self.assertEqual(sale.gelato_outbox_state, 'pending')
        self.assertFalse(self._requests('POST', '/orders'), "nothing sent before the commit")

        # The outbox runs after the confirmation's commit: never inside a test.
        self._run_outbox()
        self.assertEqual(sale.gelato_outbox_state, 'sent')
        gelato_id = sale.gelato_order_id
        self.assertIn(gelato_id, self.simulator.orders)
        self.assertEqual(self.simulator.orders[gelato_id]['shipment']['shipmentMethodUid'],
                         sale.gelato_shipment_method_uid)

        # Tour 2: "Ask Gelato now", then Cancel.
        before = len(self.simulator.requests)
        self.start_tour(f'/odoo/sales/{sale.id}', 'gelato_backend_ask_and_cancel',
                        login='gelato_salesperson', timeout=120)
        self.env.invalidate_all()
        asked = [r for r in self.simulator.requests[before:]
                 if r['method'] == 'GET' and gelato_id in r['path']]
        self.assertTrue(asked, "Ask Gelato now asked Gelato")
        self.assertEqual(sale.state, 'cancel')
        self.assertEqual(sale.gelato_order_ids.mapped('status'), ['canceled'])
        self.assertEqual(self.simulator.orders[gelato_id]['fulfillmentStatus'], 'canceled')
        cancels = self._requests('POST', ':cancel')
        self.assertEqual(len(cancels), 1, "canceled at Gelato once")
        self.assertIn(gelato_id, cancels[0]['path'])

    def test_salesperson_approves_a_held_order_from_the_backend(self):
        self.company.sudo().gelato_approval_mode = 'manual'
        sale = self._order(carrier=self.carrier_normal)
        sale.user_id = self.salesperson
        self._confirm_and_send(sale)
        record = sale.gelato_order_ids
        self.assertTrue(record.is_held)
        self.assertEqual(self.simulator.orders[record.gelato_id]['orderType'], 'draft')
        self.start_tour(f'/odoo/action-gelato_connector.action_gelato_order/{record.id}',
                        'gelato_backend_approve', login='gelato_salesperson', timeout=120)
        self.env.invalidate_all()
        self.assertTrue(record.approve_at, "approved by the salesperson")
        self.assertFalse(self._requests('PATCH', record.gelato_id), "sent after the commit")
        # The approval's scheduled action runs after that commit: never inside a test.
        self.env['gelato.order']._cron_approve_due()
        patches = self._requests('PATCH', record.gelato_id)
        self.assertEqual(len(patches), 1)
        self.assertEqual(self.simulator.orders[record.gelato_id]['orderType'], 'order')
        self.assertFalse(record.is_held)

    def test_an_uploaded_print_image_shows_on_the_product_form_at_once(self):
        """Issue 26, point 7: the product form followed an upload only once reloaded."""
        manager = self.env['res.users'].create({
            'name': "Pia Products", 'login': 'gelato_product_manager',
            'password': 'gelato_product_manager',
            'group_ids': [Command.set([self.env.ref('sales_team.group_sale_manager').id,
                                       self.env.ref('product.group_product_manager').id])],
        })
        product = self._gelato_product('tpl-upload', [('Size', ['S'])], images=False)
        self.assertTrue(product.gelato_missing_images)
        self.start_tour(f'/odoo/action-product.product_template_action/{product.id}',
                        'gelato_backend_print_image', login=manager.login, timeout=120)
        self.env.invalidate_all()
        self.assertFalse(product.gelato_missing_images)
        self.assertTrue(product.gelato_image_ids.file_size)
