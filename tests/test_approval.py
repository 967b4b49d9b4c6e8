# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""Holding orders before Gelato prints them: instant, delayed and manual approval.

Gelato's documentation: an order created with `orderType: draft` is not produced
(docs/orders/v4/create, orderType); `PATCH /v4/orders/{id}` turns a draft into an order and may
replace its items' files, and only drafts can be patched (docs/orders/v4/patch); a draft is
deleted with `DELETE /v4/orders/{id}` (docs/orders/v4/delete). Each test reads what the
simulator stored and which requests it received.
"""
import base64
import json
from datetime import timedelta

from odoo import Command, fields
from odoo.tests import tagged

from odoo.addons.gelato_connector.simulator import data as sim_data
from odoo.addons.gelato_connector.tests.common import GelatoHttpCase, GelatoOrderCase


class ApprovalMixin:

    def _held_order(self, mode='manual', **values):
        self.company.sudo().write({'gelato_approval_mode': mode, **values})
        sale = self._confirm_and_send(self._order(carrier=self.carrier_normal))
        return sale, sale.gelato_order_ids

    def _requests(self, method, suffix=''):
        return [r for r in self.simulator.requests
                if r['method'] == method and r['path'].startswith('/order/v4/orders')
                and r['path'].endswith(suffix)]

    def _due(self, record):
        """The approval time has come (as if the delay had passed)."""
        record.sudo().approve_at = fields.Datetime.now() - timedelta(seconds=1)


@tagged('post_install', '-at_install')
class TestApproval(ApprovalMixin, GelatoOrderCase):

    def test_instant_mode_sends_an_order_at_once(self):
        sale, record = self._held_order('instant')
        self.assertEqual(self.simulator.orders[record.gelato_id]['orderType'], 'order')
        self.assertRecordValues(record, [{'approval_mode': 'instant', 'is_held': False,
                                          'status': 'created'}])
        self.assertFalse(self._requests('PATCH'))

    def test_delayed_mode_creates_a_draft_approved_by_the_scheduled_action_when_due(self):
        before = fields.Datetime.now()
        sale, record = self._held_order('delayed', gelato_approval_delay_hours=6)
        remote = self.simulator.orders[record.gelato_id]
        self.assertEqual(remote['orderType'], 'draft')
        self.assertEqual(remote['fulfillmentStatus'], 'draft')
        self.assertRecordValues(record, [{'approval_mode': 'delayed', 'is_held': True,
                                          'status': 'draft'}])
        self.assertGreaterEqual(record.approve_at, before + timedelta(hours=6))
        self.assertTrue(sale.gelato_is_held)
        self.env['gelato.order']._cron_approve_due()
        self.assertFalse(self._requests('PATCH'), "not due yet: nothing is approved")
        self._due(record)
        self.env['gelato.order']._cron_approve_due()
        patches = self._requests('PATCH')
        self.assertEqual(len(patches), 1)
        self.assertEqual(patches[0]['json']['orderType'], 'order')
        self.assertEqual(self.simulator.orders[record.gelato_id]['orderType'], 'order')
        self.assertRecordValues(record, [{'is_held': False, 'status': 'created',
                                          'approve_at': False}])
        self.assertTrue(record.approved_at)
        self.env['gelato.order']._cron_approve_due()
        self.assertEqual(len(self._requests('PATCH')), 1, "approved exactly once")

    def test_manual_mode_waits_with_a_todo_and_approve_now_sends_one_patch(self):
        sale, record = self._held_order('manual')
        self.assertRecordValues(record, [{'is_held': True, 'approve_at': False}])
        self.assertIn("Approve Gelato order", sale.activity_ids.mapped('summary')[0])
        self._due(record)  # a manual order has no approval time: the action ignores it
        record.sudo().approve_at = False
        self.env['gelato.order']._cron_approve_due()
        self.assertFalse(self._requests('PATCH'))
        salesman = self.env['res.users'].create({
            'name': "Sally Sales", 'login': 'sally_approval', 'email': 'sally@example.com',
            'group_ids': [Command.set(
                [self.env.ref('sales_team.group_sale_salesman_all_leads').id])],
        })
        record.with_user(salesman).action_approve()
        self.env['gelato.order']._cron_approve_due()
        self.assertEqual(len(self._requests('PATCH')), 1)
        self.assertEqual(self.simulator.orders[record.gelato_id]['orderType'], 'order')
        self.assertFalse(record.is_held)

    def test_a_product_marked_for_manual_approval_holds_in_instant_mode(self):
        self.poster.gelato_manual_approval = True
        _sale, record = self._held_order('instant')
        self.assertEqual(self.simulator.orders[record.gelato_id]['orderType'], 'draft')
        self.assertRecordValues(record, [{'approval_mode': 'manual', 'is_held': True}])

    def test_hold_makes_a_delayed_order_wait_for_a_person(self):
        _sale, record = self._held_order('delayed')
        record.action_hold()
        self.assertRecordValues(record, [{'approval_mode': 'manual', 'approve_at': False,
                                          'is_held': True}])

    def test_a_print_file_replaced_while_held_arrives_with_the_approval(self):
        _sale, record = self._held_order('manual')
        old_url = self.simulator.orders[record.gelato_id]['items'][0]['files'][0]['url']
        self.poster.gelato_image_ids[0].datas = base64.b64encode(
            sim_data.png(1200, 1600, (10, 200, 90)))
        record.action_approve()
        self.env['gelato.order']._cron_approve_due()
        stored = self.simulator.orders[record.gelato_id]['items'][0]['files'][0]['url']
        self.assertNotEqual(stored, old_url)
        image = self.poster.gelato_image_ids[0]
        self.assertEqual(stored, image._gelato_prepare_file_payload()['url'])

    def test_an_address_changed_while_held_replaces_the_draft(self):
        sale, record = self._held_order('manual')
        old_id = record.gelato_id
        self.customer.street = 'Friedrichstrasse 10'
        self.assertNotIn(old_id, self.simulator.orders, "the draft is deleted at Gelato")
        self.assertEqual(record.state, 'replaced')
        self.env['gelato.order']._cron_send_pending()
        current = sale._gelato_active_orders()
        self.assertEqual(len(current), 1)
        remote = self.simulator.orders[current.gelato_id]
        self.assertEqual(remote['orderType'], 'draft')
        self.assertEqual(remote['shippingAddress']['addressLine1'], 'Friedrichstrasse 10')
        self.assertTrue(current.is_held)
        live = [o for o in self.simulator.orders.values()
                if o['orderReferenceId'] in sale.gelato_order_ids.mapped('reference')]
        self.assertEqual(len(live), 1, "never two live orders")

    def test_cancel_while_held_deletes_the_draft_without_a_cancel_call(self):
        sale, record = self._held_order('delayed')
        gelato_id = record.gelato_id
        sale.action_cancel()
        self.assertEqual(sale.state, 'cancel')
        self.assertNotIn(gelato_id, self.simulator.orders)
        self.assertEqual(len(self._requests('DELETE', gelato_id)), 1)
        self.assertFalse(self._requests('POST', ':cancel'))

    def test_gelato_down_at_approval_retries_without_a_second_order(self):
        _sale, record = self._held_order('manual')
        record.action_approve()
        self.simulator.set_fault('503', times=5, path_prefix=f'/order/v4/orders/{record.gelato_id}')
        self.env['gelato.order']._cron_approve_due()
        self.assertTrue(record.is_held)
        self.assertTrue(record.last_error)
        self.assertGreater(record.approve_at, fields.Datetime.now())
        self.simulator.clear_faults()
        self._due(record)
        self.env['gelato.order']._cron_approve_due()
        self.assertFalse(record.is_held)
        orders = [o for o in self.simulator.orders.values()
                  if o['orderReferenceId'] == record.reference]
        self.assertEqual(len(orders), 1)
        self.assertEqual(orders[0]['orderType'], 'order')

    def test_an_approval_already_done_at_gelato_is_read_not_repeated(self):
        _sale, record = self._held_order('manual')
        # Approved meanwhile in Gelato's dashboard: the PATCH is refused (409), the order read.
        self.simulator.orders[record.gelato_id]['orderType'] = 'order'
        record.action_approve()
        self.env['gelato.order']._cron_approve_due()
        self.assertFalse(record.is_held)
        self.assertTrue(record.approved_at)

    def test_the_list_approves_several_held_orders_at_once(self):
        first, second = (self._held_order('manual')[1] for _index in range(2))
        action = self.env.ref('gelato_connector.action_gelato_order_approve')
        held = self.env['gelato.order'].search([('is_held', '=', True)])
        self.assertEqual(held, first | second, "the filter Awaiting approval lists them")
        action.with_context(active_model='gelato.order', active_ids=held.ids).run()
        self.env['gelato.order']._cron_approve_due()
        self.assertEqual(len(self._requests('PATCH')), 2)
        self.assertFalse((first | second).filtered('is_held'))

    def test_a_held_draft_is_never_stuck(self):
        _sale, record = self._held_order('manual')
        record.sudo().status_since = fields.Datetime.now() - timedelta(days=30)
        record._gelato_check_stuck()
        self.assertFalse(record.is_stuck)


@tagged('post_install', '-at_install')
class TestApprovalRights(ApprovalMixin, GelatoHttpCase):

    def test_approve_now_over_rpc_as_a_salesperson_and_refused_to_a_portal_user(self):
        sale, record = self._held_order('manual')
        salesman = self.env['res.users'].create({
            'name': "Sam Sales", 'login': 'sam_approval', 'password': 'sam_approval',
            'email': 'sam@example.com',
            'group_ids': [Command.set(
                [self.env.ref('sales_team.group_sale_salesman_all_leads').id])],
        })
        portal = self._portal_user('pat_approval', "Pat Portal", 'pat@example.com')
        for user, ok in ((portal, False), (salesman, True)):
            self.env.flush_all()
            self.authenticate(user.login, user.login)
            answer = self.url_open('/web/dataset/call_kw', data=json.dumps({
                'id': 0, 'jsonrpc': '2.0', 'method': 'call', 'params': {
                    'model': 'gelato.order', 'method': 'action_approve', 'args': [record.ids],
                    'kwargs': {}}}), headers={'Content-Type': 'application/json'}).json()
            self.env.invalidate_all()
            self.assertEqual('error' not in answer, ok, answer)
        self.assertTrue(record.approve_at)
        self.assertFalse(self._requests('PATCH'), "nothing leaves inside the user's request")
