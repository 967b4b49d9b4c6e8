# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""The orders the switch from Odoo's Gelato modules adopts (`switch._adopt_orders`), and how
this addon finds them at Gelato afterwards. The switch itself (module install and uninstall,
which a test cursor cannot do) is tested on a real database by `scripts/test_switch.py`."""
from odoo.tests import tagged

from odoo.addons.gelato_connector import switch
from odoo.addons.gelato_connector.tests.common import GelatoHttpCase, GelatoOrderCase


class SwitchedOrderMixin:

    def _sent_by_odoos_module(self, items=None):
        """A confirmed sale that Odoo's module sent: the order Gelato holds (created as
        `sale_gelato` creates it: orderReferenceId the sale order's id and itemReferenceId the
        product's id, both numbers, which docs/get-started/ allows: "a string or numeric
        value"), and the sale adopted by the switch."""
        # Odoo's Standard Delivery product has the code Odoo's module sends as shipmentMethodUid.
        self.carrier_normal.product_id.default_code = 'normal'
        sale = self._order(carrier=self.carrier_normal)
        sale.action_confirm()
        sale.gelato_order_ids.sudo().unlink()  # Odoo's module kept no record of its own.
        line = sale.order_line.filtered(lambda sl: sl.product_id.gelato_product_uid)
        remote = self.company._gelato_request('order', 'POST', '/v4/orders', json={
            'orderType': 'order', 'orderReferenceId': sale.id,
            'customerReferenceId': f'Odoo Partner #{sale.partner_id.id}', 'currency': 'EUR',
            'items': items or [{
                'itemReferenceId': line.product_id.id,
                'productUid': line.product_id.gelato_product_uid,
                'files': [{'type': 'default', 'url': 'https://example.com/poster.png'}],
                'quantity': int(line.product_uom_qty)}],
            'shipmentMethodUid': 'normal',
            'shippingAddress': {
                'firstName': 'Ada', 'lastName': 'Lovelace', 'addressLine1': 'Unter den Linden 5',
                'city': 'Berlin', 'postCode': '10117', 'country': 'DE',
                'email': 'ada@example.com', 'phone': '+49 30 1234567'},
        })
        report = {'kept': {}, 'not_kept': [], 'adopted': [], 'notes': []}
        switch._adopt_orders(self.env, report)
        return sale, remote, report


@tagged('post_install', '-at_install')
class TestSwitchedOrders(SwitchedOrderMixin, GelatoOrderCase):

    def test_the_simulator_stores_numeric_references_as_gelato_answers_them(self):
        # docs/get-started/ ("Order structure"): the three references "must be a string or
        # numeric value"; docs/orders/v4/get/ answers them as strings.
        sale, remote, _report = self._sent_by_odoos_module()
        stored = self.simulator.orders[remote['id']]
        self.assertEqual(stored['orderReferenceId'], str(sale.id))
        self.assertEqual(stored['items'][0]['itemReferenceId'],
                         str(sale.order_line.product_id.filtered('gelato_product_uid').id))

    def test_adopted_order_keeps_odoos_reference_and_waits_for_its_gelato_id(self):
        sale, _remote, report = self._sent_by_odoos_module()
        record = sale.gelato_order_ids
        self.assertRecordValues(record, [{
            'reference': str(sale.id), 'origin': 'switched', 'state': 'sent',
            'gelato_id': False, 'status': False, 'shipment_method_uid': 'normal',
        }])
        self.assertEqual(record.item_ids.mapped('item_reference'),
                         [str(sale.order_line.product_id.filtered('gelato_product_uid').id)])
        self.assertEqual([a['sale'] for a in report['adopted']], [sale.name])

    def test_adopting_twice_adopts_nothing_more(self):
        sale, _remote, _report = self._sent_by_odoos_module()
        report = {'kept': {}, 'not_kept': [], 'adopted': [], 'notes': []}
        switch._adopt_orders(self.env, report)
        self.assertEqual(report['adopted'], [])
        self.assertEqual(len(sale.gelato_order_ids), 1)

    def test_reconciliation_finds_it_at_gelato_by_its_reference(self):
        sale, remote, _report = self._sent_by_odoos_module()
        self.env['gelato.order']._cron_reconcile()
        record = sale.gelato_order_ids
        self.assertEqual(record.gelato_id, remote['id'])
        self.assertEqual(record.status, 'created')
        # What it asked: the search by reference (docs/orders/v4/search/), then the order.
        searches = [r for r in self.simulator.requests if r['path'].endswith('orders:search')]
        self.assertEqual(searches[-1]['json']['orderReferenceIds'], [str(sale.id)])

    def test_an_order_under_its_reference_with_other_items_is_not_taken(self):
        other = self.medium
        sale, remote, _report = self._sent_by_odoos_module(items=[{
            'itemReferenceId': other.id, 'productUid': other.gelato_product_uid,
            'files': [{'type': 'default', 'url': 'https://example.com/poster.png'}],
            'quantity': 1}])
        self.env['gelato.order']._cron_reconcile()
        self.assertFalse(sale.gelato_order_ids.gelato_id)
        found, why = self.env['gelato.order']._gelato_find(self.company, remote['id'],
                                                            str(sale.id))
        self.assertFalse(found)
        self.assertIn("not its items", why)

    def test_the_gelato_id_odoos_module_wrote_in_the_chatter_is_kept(self):
        sale = self._order(carrier=self.carrier_normal)
        sale.action_confirm()
        sale.gelato_order_ids.sudo().unlink()
        sale.message_post(body="Unable to confirm the order 0b6c5f2e-aaaa-4bbb-8ccc-1234567890ab "
                               "on Gelato.", author_id=self.env.ref('base.partner_root').id)
        report = {'kept': {}, 'not_kept': [], 'adopted': [], 'notes': []}
        switch._adopt_orders(self.env, report)
        self.assertEqual(sale.gelato_order_ids.gelato_id, '0b6c5f2e-aaaa-4bbb-8ccc-1234567890ab')
        self.assertIn("stays a draft", report['notes'][0])

    def test_an_order_without_api_key_is_not_adopted_and_said_why(self):
        sale = self._order(carrier=self.carrier_normal)
        sale.action_confirm()
        sale.gelato_order_ids.sudo().unlink()
        self.company.sudo().gelato_api_key = False
        report = {'kept': {}, 'not_kept': [], 'adopted': [], 'notes': []}
        switch._adopt_orders(self.env, report)
        self.assertFalse(sale.gelato_order_ids)
        self.assertIn("no Gelato API key", report['not_kept'][0])

    def test_a_database_without_odoos_modules_has_nothing_to_switch(self):
        self.assertEqual(switch.stage(self.env), 'done')


@tagged('post_install', '-at_install')
class TestSwitchedOrderWebhook(SwitchedOrderMixin, GelatoHttpCase):

    def test_first_webhook_takes_gelatos_id_and_moves_the_order(self):
        sale, remote, _report = self._sent_by_odoos_module()
        event = self._gelato_status(remote['id'], 'passed')
        record = sale.gelato_order_ids
        self.assertEqual(event.state, 'processed', event.error)
        self.assertRecordValues(record, [{'gelato_id': remote['id'], 'status': 'passed',
                                          'origin': 'switched'}])
        # Once known by its id, the next event finds it by the id.
        self.assertEqual(self._gelato_status(remote['id'], 'in_production').state, 'processed')
        self.assertEqual(record.status, 'in_production')
