# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""Every Gelato button pressed by the people who see it, through the JSON-RPC route the web
client uses (`/web/dataset/call_kw`), never as the superuser the other tests run as.

The simulator records every request Odoo makes: an allowed action makes exactly the requests it
should (and Odoo and the simulator agree afterwards), a refused one makes none. Gelato's pages
for the calls: GET order (dashboard.gelato.com/docs/orders/v4/get), cancel
(dashboard.gelato.com/docs/orders/v4/cancel), create (dashboard.gelato.com/docs/orders/v4/create),
stock (dashboard.gelato.com/docs/products/stock/region-availability).
"""
import json
from datetime import timedelta

from odoo import Command, fields
from odoo.exceptions import AccessError
from odoo.tests import tagged

from odoo.addons.gelato_connector.tests.common import GelatoHttpCase


@tagged('post_install', '-at_install')
class TestPersonas(GelatoHttpCase):
    """Salespeople (own documents, all documents), a Sales Administrator and `admin`."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()

        def user(login, name, *groups):
            return cls.env['res.users'].create({
                'name': name, 'login': login, 'password': login,
                'email': f'{login}@example.com',
                'group_ids': [Command.set([cls.env.ref(g).id for g in groups])],
            })

        cls.own = user('gelato_own', "Olga Own", 'sales_team.group_sale_salesman')
        cls.other_own = user('gelato_own2', "Oscar Own", 'sales_team.group_sale_salesman')
        cls.all_docs = user('gelato_all', "Alma All", 'sales_team.group_sale_salesman_all_leads')
        cls.sales_admin = user('gelato_sadmin', "Sam Admin", 'sales_team.group_sale_manager')
        # A Sales Administrator who may also create and edit products (Inventory/Sales
        # settings give it with "Products: Create").
        cls.product_admin = user('gelato_padmin', "Pia Products", 'sales_team.group_sale_manager',
                                 'product.group_product_manager')
        cls.admin = cls.env.ref('base.user_admin')
        cls.admin.password = 'admin'
        cls.salespeople = (cls.own, cls.all_docs, cls.sales_admin, cls.admin)

    # --- helpers ------------------------------------------------------------------------------

    def _press(self, user, model, method, record_ids):
        """Press a button as `user`, as the web client does: `(True, result)` or `(False, the
        error's message)`."""
        self.env.flush_all()
        self.authenticate(user.login, user.login)
        response = self.url_open('/web/dataset/call_kw', data=json.dumps({
            'id': 0, 'jsonrpc': '2.0', 'method': 'call', 'params': {
                'model': model, 'method': method, 'args': [list(record_ids)], 'kwargs': {}},
        }), headers={'Content-Type': 'application/json'})
        self.env.invalidate_all()
        answer = response.json()
        if 'error' in answer:
            data = answer['error']['data']
            return False, f"{data['name']}: {data['message']}"
        return True, answer.get('result')

    def _sent_order(self, user, carrier=None):
        """A confirmed sale of `user`, at Gelato."""
        order = self._order(carrier=carrier or self.carrier_normal)
        order.user_id = user
        return self._confirm_and_send(order)

    def _requests(self, method=None, suffix=''):
        return [r for r in self.simulator.requests
                if (method is None or r['method'] == method) and r['path'].endswith(suffix)]

    # --- sale order and Gelato order buttons ------------------------------------------------

    def test_ask_gelato_now_works_for_every_salesperson_once_items_moved(self):
        for person in self.salespeople:
            with self.subTest(person=person.login):
                order = self._sent_order(person)
                gelato_id = order.gelato_order_id
                self.simulator.set_order_status(gelato_id, 'printed')
                self.simulator.clear_requests()
                ok, answer = self._press(person, 'sale.order', 'action_gelato_refresh',
                                         order.ids)
                self.assertTrue(ok, answer)
                self.assertEqual(answer['params']['title'], "Gelato says")
                self.assertEqual([r['path'] for r in self.simulator.requests],
                                 [f'/order/v4/orders/{gelato_id}'])
                self.assertEqual(order.gelato_order_ids.status, 'printed')
                self.assertEqual(set(order.gelato_order_ids.item_ids.mapped('status')),
                                 {'printed'})

    def test_ask_gelato_now_on_the_gelato_order_works_for_a_salesperson(self):
        order = self._sent_order(self.all_docs)
        self.simulator.set_order_status(order.gelato_order_id, 'shipped')
        ok, answer = self._press(self.all_docs, 'gelato.order', 'action_refresh',
                                 order.gelato_order_ids.ids)
        self.assertTrue(ok, answer)
        self.assertEqual(order.gelato_order_ids.status, 'shipped')
        self.assertEqual(order.picking_ids.state, 'done', "the delivery follows Gelato")

    def test_salesperson_cancel_cancels_at_gelato_and_in_odoo(self):
        for person in (self.own, self.all_docs):
            with self.subTest(person=person.login):
                order = self._sent_order(person)
                gelato_id = order.gelato_order_id
                self.simulator.clear_requests()
                ok, answer = self._press(person, 'sale.order', 'action_cancel', order.ids)
                self.assertTrue(ok, answer)
                self.assertEqual([r['path'] for r in self.simulator.requests],
                                 [f'/order/v4/orders/{gelato_id}:cancel'])
                self.assertEqual(self.simulator.orders[gelato_id]['fulfillmentStatus'],
                                 'canceled')
                self.assertEqual(order.state, 'cancel')
                self.assertEqual(order.gelato_order_ids.status, 'canceled')
                self.assertEqual(order.gelato_status, 'canceled')
                self.assertEqual(set(order.picking_ids.mapped('state')), {'cancel'})

    def test_cancel_refused_by_gelato_leaves_both_sides_confirmed(self):
        order = self._sent_order(self.own)
        self.simulator.set_order_status(order.gelato_order_id, 'in_production')
        self.env['gelato.order'].search([]).invalidate_recordset()
        order.gelato_order_ids._gelato_reconcile_one()
        self.simulator.clear_requests()
        ok, message = self._press(self.own, 'sale.order', 'action_cancel', order.ids)
        self.assertFalse(ok)
        self.assertIn("cannot cancel", message)
        self.assertEqual(self.simulator.requests, [], "refused before any request")
        self.assertEqual(order.state, 'sale')
        self.assertEqual(
            self.simulator.orders[order.gelato_order_id]['fulfillmentStatus'], 'in_production')

    def test_cancel_at_gelato_cancels_the_sale_and_its_delivery(self):
        order = self._sent_order(self.all_docs)
        gelato_id = order.gelato_order_id
        ok, answer = self._press(self.all_docs, 'gelato.order', 'action_cancel_at_gelato',
                                 order.gelato_order_ids.ids)
        self.assertTrue(ok, answer)
        self.assertEqual(self.simulator.orders[gelato_id]['fulfillmentStatus'], 'canceled')
        self.assertEqual(order.gelato_order_ids.status, 'canceled')
        self.assertEqual(order.state, 'cancel')
        self.assertEqual(set(order.picking_ids.mapped('state')), {'cancel'})

    def test_stuck_order_canceled_from_odoo_is_no_longer_stuck_and_its_todo_done(self):
        order = self._sent_order(self.own)
        record = order.gelato_order_ids
        record.status_since = fields.Datetime.now() - timedelta(days=30)
        record._gelato_check_stuck()
        self.assertTrue(record.is_stuck)
        activity = record.stuck_activity_id
        self.assertTrue(activity)
        ok, answer = self._press(self.own, 'sale.order', 'action_cancel', order.ids)
        self.assertTrue(ok, answer)
        self.assertEqual(record.status, 'canceled')
        self.assertFalse(record.is_stuck)
        self.assertFalse(activity.with_context(active_test=False).active, "the to-do is done")
        self.assertTrue(activity.with_context(active_test=False).date_done)

    def test_send_again_after_an_outage_hands_over_to_the_outbox(self):
        for person in (self.own, self.all_docs):
            with self.subTest(person=person.login):
                order = self._order(carrier=self.carrier_normal)
                order.user_id = person
                order.action_confirm()
                self.simulator.go_down()
                try:
                    self._run_outbox()
                finally:
                    self.simulator.come_up()
                self.assertEqual(order.gelato_outbox_state, 'pending')
                self.simulator.clear_requests()
                ok, answer = self._press(person, 'gelato.order', 'action_send_again',
                                         order.gelato_order_ids.ids)
                self.assertTrue(ok, answer)
                self.assertEqual(self.simulator.requests, [],
                                 "nothing is sent inside the user's request")
                self._run_outbox()
                self.assertEqual(order.gelato_outbox_state, 'sent')
                self.assertEqual(len(self._requests('POST', '/v4/orders')), 1)
                ok, answer = self._press(person, 'sale.order', 'action_gelato_send', order.ids)
                self.assertTrue(ok, answer)
                self.assertEqual(len(self._remote_orders_for(order)), 1, "never twice")

    def test_approve_now_and_hold_work_for_every_salesperson_on_their_held_orders(self):
        self.company.sudo().gelato_approval_mode = 'delayed'
        for person in self.salespeople:
            with self.subTest(person=person.login):
                order = self._order(carrier=self.carrier_normal)
                order.user_id = person
                order.action_confirm()
                self._run_outbox()
                record = order.gelato_order_ids
                self.assertTrue(record.is_held)
                ok, answer = self._press(person, 'gelato.order', 'action_hold', record.ids)
                self.assertTrue(ok, answer)
                self.assertEqual(record.approval_mode, 'manual')
                self.simulator.clear_requests()
                ok, answer = self._press(person, 'gelato.order', 'action_approve', record.ids)
                self.assertTrue(ok, answer)
                self.assertEqual(self.simulator.requests, [],
                                 "nothing is sent inside the user's request")
                self.env['gelato.order']._cron_approve_due()
                self.assertEqual(len(self._requests('PATCH', record.gelato_id)), 1)
                self.assertFalse(record.is_held)
        order = self._order(carrier=self.carrier_normal)
        order.user_id = self.other_own
        order.action_confirm()
        self._run_outbox()
        for method in ('action_approve', 'action_hold'):
            ok, answer = self._press(self.own, 'gelato.order', method, order.gelato_order_ids.ids)
            self.assertFalse(ok, f"{method} on another's order")
        self.assertTrue(order.gelato_order_ids.is_held)

    def test_own_documents_salesperson_is_refused_on_others_orders_before_any_request(self):
        order = self._sent_order(self.other_own)
        record = order.gelato_order_ids
        calls = [
            ('sale.order', order.ids, 'action_gelato_refresh'),
            ('sale.order', order.ids, 'action_gelato_send'),
            ('sale.order', order.ids, 'action_cancel'),
            ('sale.order', order.ids, 'action_view_gelato_orders'),
            ('gelato.order', record.ids, 'action_refresh'),
            ('gelato.order', record.ids, 'action_send_again'),
            ('gelato.order', record.ids, 'action_cancel_at_gelato'),
        ]
        for model, ids, method in calls:
            with self.subTest(method=f'{model}.{method}'):
                self.simulator.clear_requests()
                ok, message = self._press(self.own, model, method, ids)
                self.assertFalse(ok, f"{method} was allowed")
                self.assertIn("AccessError", message)
                self.assertEqual(self.simulator.requests, [], f"{method} reached Gelato")
        self.assertEqual(order.state, 'sale')
        self.assertEqual(self.simulator.orders[order.gelato_order_id]['fulfillmentStatus'],
                         'created')
        # Nor can they see the Gelato side of others' sales.
        self.assertFalse(self.env['gelato.order'].with_user(self.own).search(
            [('id', '=', record.id)]))

    def test_gelato_orders_and_events_buttons_open_for_salespeople(self):
        order = self._sent_order(self.own)
        for method in ('action_view_gelato_orders', 'action_view_gelato_events'):
            with self.subTest(method=method):
                ok, action = self._press(self.own, 'sale.order', method, order.ids)
                self.assertTrue(ok, action)
                self.assertEqual(action['type'], 'ir.actions.act_window')
        self.assertEqual(self.env['gelato.order'].with_user(self.own).search(
            [('sale_order_id', '=', order.id)]), order.gelato_order_ids)

    def test_confirm_as_a_salesperson_sends_the_order_through_the_outbox(self):
        order = self._order(carrier=self.carrier_normal)
        order.user_id = self.own
        self.simulator.clear_requests()
        ok, answer = self._press(self.own, 'sale.order', 'action_confirm', order.ids)
        self.assertTrue(ok, answer)
        self.assertEqual(order.state, 'sale')
        self.assertEqual(self._requests('POST', '/v4/orders'), [], "sent after the commit")
        self.env['gelato.order']._cron_send_pending()
        self.assertEqual(order.gelato_outbox_state, 'sent')
        remote = self._remote(order)
        self.assertEqual(remote['orderReferenceId'], order.gelato_order_ids.reference)

    # --- the shopper ----------------------------------------------------------------------------

    def test_paid_order_not_sendable_yet_confirms_for_the_public_user(self):
        order = self._order(carrier=self.carrier_normal)
        self.poster.gelato_image_ids[:1].datas = False
        tx = self._paid_transaction(order)
        # As /payment/status/poll does: the transaction as superuser, for the public user.
        tx.with_user(self.env.ref('base.public_user')).sudo()._post_process()
        self.assertEqual(order.state, 'sale', "a paid order is never lost")
        self.assertEqual(order.gelato_outbox_state, 'attention')
        self.assertIn('print image', order.gelato_last_error)

    # --- products -----------------------------------------------------------------------------

    def test_product_buttons_need_the_rights_their_work_needs(self):
        self.poster.is_published = False
        expected = {
            # button: the personas it works for (the others are refused before any request)
            'action_sync_gelato_template_info': {'gelato_padmin', 'admin'},
            'action_gelato_use_preview': {'gelato_padmin', 'admin'},
            'action_gelato_fetch_costs': {'gelato_padmin', 'admin'},
            'action_gelato_revoke_print_links': {'gelato_padmin', 'admin'},
            'action_gelato_check_availability': {'gelato_own', 'gelato_all', 'gelato_sadmin',
                                                 'gelato_padmin', 'admin'},
        }
        for method, allowed in expected.items():
            for person in (*self.salespeople, self.product_admin):
                with self.subTest(method=method, person=person.login):
                    self.simulator.clear_requests()
                    ok, answer = self._press(person, 'product.template', method,
                                             self.poster.ids)
                    if person.login in allowed:
                        self.assertTrue(ok, answer)
                        self.assertNotEqual(answer.get('params', {}).get('type'), 'danger',
                                            answer)
                    else:
                        self.assertFalse(ok, f"{method} was allowed to {person.login}")
                        self.assertEqual(self.simulator.requests, [],
                                         f"{method} reached Gelato for {person.login}")

    # --- settings and events ------------------------------------------------------------------

    def test_test_connection_is_for_settings_administrators_only(self):
        self.simulator.clear_requests()
        settings = self.env['res.config.settings'].with_user(self.admin).create({})
        ok, answer = self._press(self.admin, 'res.config.settings',
                                 'action_gelato_test_connection', settings.ids)
        self.assertTrue(ok, answer)
        self.assertEqual(answer['params']['type'], 'success', answer)
        self.assertTrue(self.simulator.requests)
        self.simulator.clear_requests()
        for person in (self.own, self.sales_admin):
            with self.subTest(person=person.login):
                ok, _message = self._press(person, 'res.config.settings',
                                           'action_gelato_test_connection', settings.ids)
                self.assertFalse(ok)
                self.assertEqual(self.simulator.requests, [])

    def test_events_are_read_not_edited_and_process_again_is_for_sales_administrators(self):
        order = self._sent_order(self.all_docs)
        other = self.env['res.company'].create({'name': "Other Gelato Shop"})
        self.sales_admin.company_ids = [Command.link(other.id)]
        event = self.env['gelato.event'].create({
            'company_id': self.company.id, 'event_id': 'persona-1',
            'event_type': 'order_status_updated', 'state': 'failed',
            'payload': json.dumps({'id': 'persona-1', 'event': 'order_status_updated',
                                   'orderId': order.gelato_order_id,
                                   'fulfillmentStatus': 'printed'}),
        })
        for values in ({'company_id': other.id}, {'payload': '{}'}, {'state': 'processed'}):
            with self.subTest(values=values), self.assertRaises(AccessError):
                event.with_user(self.sales_admin).write(values)
        ok, _message = self._press(self.all_docs, 'gelato.event', 'action_process_again',
                                   event.ids)
        self.assertFalse(ok, "salespeople read events, they do not process them")
        self.assertEqual(event.state, 'failed')
        ok, answer = self._press(self.sales_admin, 'gelato.event', 'action_process_again',
                                 event.ids)
        self.assertTrue(ok, answer)
        self.assertEqual(event.state, 'processed', event.error)
        self.assertEqual(event.company_id, self.company)
        self.assertEqual(order.gelato_order_ids.status, 'printed')
