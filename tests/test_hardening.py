# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""Hardening: database copies that send nothing, company walls, identifiers fit for URLs, queues
no record can block, and what Gelato's words may carry."""
import json
from datetime import timedelta

from odoo import Command, fields
from odoo.modules.neutralize import get_neutralization_queries
from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.gelato_connector import const
from odoo.addons.gelato_connector.tests.common import (
    API_KEY,
    WEBHOOK_SECRET,
    GelatoHttpCase,
    GelatoOrderCase,
    capture_logs,
)


@tagged('post_install', '-at_install')
class TestHardening(GelatoOrderCase):

    # --- database copies -----------------------------------------------------------------------

    def test_a_neutralized_copy_keeps_no_secret_and_sends_nothing(self):
        for query in get_neutralization_queries(['gelato_connector']):
            self.env.cr.execute(query)
        self.env.invalidate_all()
        self.env.registry.clear_cache()
        company = self.company.sudo()
        self.assertFalse(company.gelato_api_key)
        self.assertFalse(company.gelato_webhook_secret)
        self.assertFalse(company.gelato_enabled)
        # Whatever someone puts back by hand, nothing leaves a neutralized copy.
        company.write({'gelato_api_key': API_KEY, 'gelato_enabled': True})
        self.env['ir.config_parameter'].set_param(const.API_URL_TEMPLATE_PARAM,
                                                  self.simulator.api_url_template)
        self.simulator.clear_requests()
        order = self._order()
        order.action_confirm()
        self._run_outbox()
        self.assertEqual(order.state, 'sale')
        self.assertEqual(order.gelato_outbox_state, 'attention')
        self.assertIn('neutralized', order.gelato_last_error)
        self.assertEqual(self.simulator.requests, [])
        self.assertFalse(self.carrier_normal.rate_shipment(order)['success'])
        self.assertEqual(self.simulator.requests, [])

    # --- company walls -------------------------------------------------------------------------

    def test_people_of_one_company_see_only_their_companys_gelato_records(self):
        other = self.env['res.company'].create({'name': "Other Print Co"})
        order = self._confirm_and_send(self._order())
        seller = self.env['res.users'].create({
            'name': "Other Seller", 'login': 'gelato_other_seller',
            'company_id': other.id, 'company_ids': [Command.set(other.ids)],
            'group_ids': [Command.set([self.env.ref('sales_team.group_sale_manager').id])],
        })
        self.env['gelato.event'].create({'company_id': self.company.id, 'event_id': 'e-wall',
                                         'event_type': 'x', 'state': 'ignored'})
        for model in ('gelato.order', 'gelato.order.item', 'gelato.event'):
            self.assertTrue(self.env[model].search([]), model)
            self.assertFalse(self.env[model].with_user(seller).search([]), model)
        self.assertTrue(order.gelato_order_ids)

    def test_a_webhook_of_one_company_never_changes_anothers_products(self):
        other = self.env['res.company'].create({'name': "Other Print Co"})
        self.poster.company_id = other
        event = self.env['gelato.event'].create({
            'company_id': self.company.id, 'event_id': 'e-stock',
            'event_type': 'catalog_product_stock_availability_updated',
            'payload': json.dumps({'productsAvailability': [{
                'productUid': self.small.gelato_product_uid,
                'availability': [{'stockRegionUid': 'EU', 'status': 'out-of-stock'}]}]}),
        })
        event._gelato_process()
        self.assertEqual(event.state, 'ignored')
        self.assertFalse(self.small.gelato_availability_ids)
        deleted = self.env['gelato.event'].create({
            'company_id': self.company.id, 'event_id': 'e-del',
            'event_type': 'store_product_template_deleted',
            'payload': '{"storeProductTemplateId": "tpl-poster"}',
        })
        deleted._gelato_process()
        self.assertEqual(deleted.state, 'ignored')
        self.assertTrue(self.poster.active)

    # --- identifiers into URLs -----------------------------------------------------------------

    def test_a_template_reference_that_is_not_an_id_never_reaches_a_url(self):
        for ref in ('../../v4/orders', 'tpl-poster/../x', 'a b', 'tpl?x=1', '%2e%2e'):
            with self.subTest(ref=ref):
                product = self._product(ref)
                self.simulator.clear_requests()
                params = self._sync(product)
                self.assertEqual(params['type'], 'danger')
                self.assertIn('not a Gelato template id', params['message'])
                self.assertEqual(self.simulator.requests, [])

    def test_a_gelato_order_id_that_is_not_an_id_is_not_adopted(self):
        order = self._confirm_and_send(self._order())
        event = self.env['gelato.event'].create({
            'company_id': self.company.id, 'event_id': 'e-path',
            'event_type': 'order_status_updated',
            'payload': json.dumps({'orderId': '../../v4/orders',
                                   'orderReferenceId': order.gelato_order_ids.reference,
                                   'fulfillmentStatus': 'passed'}),
        })
        self.simulator.clear_requests()
        event._gelato_process()
        self.assertEqual(self.simulator.requests, [])
        self.assertEqual(order.gelato_status, 'created')

    # --- queues no record can block ------------------------------------------------------------

    def test_a_poisoned_order_in_the_outbox_leaves_the_others_sent(self):
        orders = [self._order() for _i in range(3)]
        for order in orders:
            order.action_confirm()
        # The second cannot be expressed for Gelato any more (its street became too long).
        orders[1].partner_shipping_id = self.env['res.partner'].create({
            'name': "Poisoned", 'street': 'x' * 80, 'city': 'Berlin', 'zip': '10117',
            'country_id': self.env.ref('base.de').id, 'email': 'p@example.com'})
        self._run_outbox()
        self.assertEqual([o.gelato_outbox_state for o in orders], ['sent', 'attention', 'sent'])
        self.assertIn('too long', orders[1].gelato_last_error)

    def test_an_order_that_always_fails_rotates_behind_the_others(self):
        first, second = self._order(), self._order()
        first.action_confirm()
        second.action_confirm()
        # Answers 500 to the first order's search and to each of its retries.
        self.simulator.set_fault('500', times=const.RETRY_TOTAL + 1,
                                 path_prefix='/order/v4/orders:search')
        self.env['gelato.order']._cron_send_pending(limit=1)
        record = first.gelato_order_ids
        self.assertEqual(record.state, 'pending')
        self.assertGreater(record.next_attempt_at, fields.Datetime.now())
        self.env['gelato.order']._cron_send_pending(limit=1)
        self.assertEqual(second.gelato_outbox_state, 'sent', "the failing one waits its turn")

    def test_a_poisoned_event_leaves_the_other_retries_processed(self):
        order = self._confirm_and_send(self._order())
        self.poster.tracking = 'serial'  # the delivery of this order cannot be validated
        gelato_id, reference = order.gelato_order_id, order.gelato_order_ids.reference
        events = self.env['gelato.event'].create([{
            'company_id': self.company.id, 'event_id': f'e-retry-{n}', 'event_type': event_type,
            'payload': payload, 'state': 'failed', 'attempts': 1,
            'next_retry_at': fields.Datetime.now() - timedelta(minutes=1),
        } for n, (event_type, payload) in enumerate([
            ('order_status_updated', json.dumps({
                'orderId': gelato_id, 'orderReferenceId': reference,
                'fulfillmentStatus': 'shipped'})),
            ('order_delivery_estimate_updated', json.dumps({
                'orderId': gelato_id, 'minDeliveryDate': '2031-01-01',
                'maxDeliveryDate': '2031-01-03'})),
            ('order_status_updated', '{not json'),
        ])])
        with mute_logger('odoo.addons.gelato_connector.models.gelato_event'):
            self.env['gelato.event']._cron_gelato_events()
        self.assertEqual(events.mapped('state'), ['failed', 'processed', 'ignored'])
        self.assertTrue(events[0].next_retry_at, "retried later")
        self.assertEqual(str(order.gelato_max_delivery_date), '2031-01-03')

    def test_a_poisoned_template_leaves_the_others_synchronized(self):
        mug = self._gelato_product('tpl-mug', [('Size', ['11oz', '15oz'])])
        (self.poster | mug)._gelato_schedule_resync()
        self.simulator.remove_template('tpl-poster')  # Gelato answers 404 for this one
        self.simulator.make_template('tpl-mug', [('Size', ['11oz', '15oz', '20oz'])])
        self.env['product.template']._cron_gelato_template_sync()
        self.assertEqual(self.poster.gelato_template_state, 'sync_failed')
        self.assertEqual(mug.gelato_template_state, 'synced')
        self.assertEqual(mug.product_variant_count, 3)

    def test_a_poisoned_variant_leaves_the_other_costs_refreshed(self):
        (self.small | self.medium | self.large).standard_price = 0
        self.small.gelato_product_uid = 'sim_unknown_to_gelato'  # Gelato answers 404
        with capture_logs() as logs:
            self.env['product.product']._cron_gelato_refresh_costs()
        self.assertEqual(self.small.standard_price, 0)
        self.assertGreater(self.medium.standard_price, 0)
        self.assertGreater(self.large.standard_price, 0)
        self.assertIn('1 errors', logs.text)

    def test_a_company_with_gelato_ticked_but_no_key_is_skipped_not_an_abort(self):
        other = self.env['res.company'].create({'name': "Keyless Co", 'gelato_enabled': True})
        self.assertFalse(other.sudo().gelato_api_key)
        self.small.standard_price = 0
        with capture_logs() as logs:
            self.env['product.product']._cron_gelato_refresh_costs()
        self.assertIn('Keyless Co skipped', logs.text)
        self.assertGreater(self.small.standard_price, 0, "the configured company still went on")

    def test_reconciliation_survives_an_order_whose_processing_fails(self):
        mug = self._gelato_product('tpl-mug', [('Size', ['11oz'])])
        orders = [self._confirm_and_send(self._order()),
                  self._confirm_and_send(self._order([(mug.product_variant_ids, 1)]))]
        records = orders[0].gelato_order_ids | orders[1].gelato_order_ids
        records.last_update_at = fields.Datetime.now() - timedelta(days=1)
        for record in records:
            self.simulator.set_order_status(record.gelato_id, 'shipped')
        self.poster.tracking = 'serial'  # the first delivery cannot be validated
        with mute_logger('odoo.addons.gelato_connector.models.gelato_order'):
            self.env['gelato.order']._cron_reconcile()
        self.assertEqual(records.mapped('status'), ['created', 'shipped'])
        self.assertGreater(records[0].last_update_at, fields.Datetime.now() - timedelta(hours=1),
                           "rotated behind the others")

    # --- what Gelato's words may carry ---------------------------------------------------------

    def test_links_and_images_in_gelatos_comments_are_shown_as_text_in_activities(self):
        """Issue 24, point 13: Gelato's words are escaped, not stripped: the salesperson reads
        what Gelato wrote, and no picture loads and no link is made from it."""
        order = self._confirm_and_send(self._order())
        record = order.gelato_order_ids
        record._gelato_apply_item_status(
            str(order._gelato_lines().id), 'failed',
            comment='Bad file <img src="https://evil.example/x.png"> see https://evil.example/fix')
        note = order.activity_ids.note or ''
        self.assertIn('Bad file &lt;img src=', note)
        self.assertIn('see https://evil.example/fix', note)
        self.assertNotIn('<img', note)
        self.assertNotIn('<a ', note)
        self.assertIn('Bad file <img', record.item_ids.status_comment or '',
                      "kept as Gelato wrote it")

    def test_print_file_links_are_never_logged_and_can_be_revoked(self):
        with capture_logs() as logs:
            order = self._confirm_and_send(self._order())
        url = self._remote(order)['items'][0]['files'][0]['url']
        token = url.split('access_token=')[1]
        self.assertNotIn(token, logs.text)
        self.poster.action_gelato_revoke_print_links()
        attachment = self.poster.gelato_image_ids.ir_attachment_id
        self.assertNotEqual(attachment.access_token, token)

    def test_no_list_of_sensitive_keys_that_masks_nothing(self):
        self.assertFalse(hasattr(const, 'SENSITIVE_KEYS'))


@tagged('post_install', '-at_install')
class TestHardeningWebhook(GelatoHttpCase):

    def test_a_webhook_of_one_company_never_changes_anothers_orders(self):
        order = self._confirm_and_send(self._order())
        other = self.env['res.company'].create({
            'name': "Other Print Co", 'gelato_enabled': True,
            'gelato_webhook_secret': 'other-company-secret'})
        self.assertTrue(other)
        event = self._post_webhook(
            self.simulator.build_event('order_status_updated', order.gelato_order_id,
                                       fulfillmentStatus='canceled'),
            signature='other-company-secret')
        self.assertEqual(event.company_id, other)
        self.assertEqual(event.state, 'ignored')
        self.assertEqual(order.state, 'sale')
        self.assertEqual(order.gelato_status, 'created')
        self.assertTrue(WEBHOOK_SECRET)
