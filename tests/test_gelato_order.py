# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""Gelato orders as records: connected orders, reorders, packages, identity, the list to act on.

Gelato's behaviour tested here is the one its docs describe
(https://dashboard.gelato.com/docs/orders/order_details/): one create request may become several
connected orders, each with its own status and packages, all under the same orderReferenceId,
and a failed order may be replaced by a reorder under the same reference; tracking of a GET
order lives in `shipment.packages[]` (https://dashboard.gelato.com/docs/orders/v4/get/).
"""
import copy
from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from odoo.addons.gelato_connector import const, upgrade_steps
from odoo.addons.gelato_connector.tests.common import GelatoHttpCase, GelatoOrderCase


class GelatoOrderTestMixin:

    def _split_order(self):
        """A sale of two variants that Gelato produces in two hubs: two connected orders."""
        self.simulator.split_mode = 'product'
        order = self._confirm_and_send(self._order([(self.small, 1), (self.medium, 2)]))
        self.assertEqual(len(order.gelato_order_ids), 2, order.gelato_last_error)
        return order

    def _records(self, order):
        return order.gelato_order_ids.sorted('id')

    def _create_at_gelato(self, order, reference, database):
        """An order created at Gelato by someone else (another database, a copy, Odoo's own
        module) for the same customer and goods; returns Gelato's id."""
        record = order.gelato_order_ids[:1] or order._gelato_enqueue()
        payload = order._gelato_prepare_order_payload(record)
        payload['orderReferenceId'] = reference
        payload['metadata'] = [{'key': const.METADATA_DATABASE_KEY, 'value': database}]
        return self.company._gelato_request('order', 'POST', '/v4/orders', json=payload)['id']


@tagged('post_install', '-at_install')
class TestGelatoOrder(GelatoOrderTestMixin, GelatoOrderCase):

    # --- identity ------------------------------------------------------------------------------

    def test_reference_is_the_sale_name_and_a_token_of_this_database(self):
        order = self._confirm_and_send(self._order())
        record = order.gelato_order_ids
        token = self.env['ir.config_parameter'].get_param('database.uuid').replace('-', '')[:8]
        self.assertEqual(record.reference, f"{order.name}-{token}")
        remote = self._remote(order)
        self.assertEqual(remote['orderReferenceId'], record.reference)
        metadata = {m['key']: m['value'] for m in remote['metadata']}
        self.assertEqual(metadata[const.METADATA_DATABASE_KEY],
                         self.env['ir.config_parameter'].get_param('database.uuid'))
        self.assertEqual(metadata[const.METADATA_SALE_ORDER_KEY], str(order.id))

    def test_lost_answer_of_another_database_is_not_adopted(self):
        """Before creating, Gelato is searched by reference; an order found there that another
        database created (its metadata names that database) is not taken as ours."""
        order = self._order()
        order.action_confirm()
        record = order.gelato_order_ids
        foreign = self._create_at_gelato(order, record.reference, 'another-database')
        self._run_outbox()
        self.assertEqual(record.state, 'sent')
        self.assertNotEqual(record.gelato_id, foreign)
        self.assertEqual(self.simulator.orders[foreign]['fulfillmentStatus'], 'created')

    # --- connected orders ----------------------------------------------------------------------

    def test_split_order_becomes_one_record_per_connected_order_with_its_lines(self):
        order = self._split_order()
        main, connected = self._records(order)
        self.assertEqual((main.origin, connected.origin), ('sent', 'connected'))
        self.assertEqual(connected.parent_id, main)
        self.assertEqual(main.reference, connected.reference)
        remote_ids = {o['id'] for o in self._remote_orders_for(order)}
        self.assertEqual({main.gelato_id, connected.gelato_id}, remote_ids)
        small_line, medium_line = order._gelato_lines().sorted('id')
        self.assertEqual(main.sale_line_ids, small_line)
        self.assertEqual(connected.sale_line_ids, medium_line)
        # What Gelato stored for each part is what each record carries.
        for record in (main, connected):
            remote = self.simulator.orders[record.gelato_id]
            self.assertEqual({i['itemReferenceId'] for i in remote['items']},
                             {str(line.id) for line in record.sale_line_ids})
            self.assertEqual({i['id'] for i in remote['items']},
                             set(record.item_ids.mapped('gelato_item_id')))
        self.assertEqual(order.gelato_order_id, main.gelato_id)
        self.assertEqual(order.gelato_status, 'created')

    def test_cancel_cancels_every_connected_order(self):
        order = self._split_order()
        order._action_cancel()
        self.assertEqual(order.state, 'cancel')
        for remote in self._remote_orders_for(order):
            self.assertEqual(remote['fulfillmentStatus'], 'canceled')
        self.assertEqual(set(order.gelato_order_ids.mapped('status')), {'canceled'})

    def test_cancel_stops_with_gelatos_words_when_one_part_is_in_production(self):
        order = self._split_order()
        main, connected = self._records(order)
        self.simulator.set_order_status(connected.gelato_id, 'in_production')
        connected._gelato_reconcile_one()
        with self.assertRaisesRegex(UserError, 'cannot cancel'):
            order._action_cancel()
        self.assertEqual(order.state, 'sale')
        self.assertNotEqual(self.simulator.orders[main.gelato_id]['fulfillmentStatus'],
                            'canceled', "all or none: no call left Odoo")

    def test_cancel_refused_by_gelato_is_reported_with_its_words(self):
        order = self._split_order()
        connected = self._records(order)[1]
        # Gelato moved on without telling Odoo yet: Gelato itself refuses.
        self.simulator.set_order_status(connected.gelato_id, 'printed')
        # assertRaises rolls back as the request would: Odoo cancels the sale before asking
        # Gelato, and the refusal undoes it.
        with self.assertRaises(UserError) as refusal:
            order._action_cancel()
        # Said in words, from the order's status at Gelato (issue 24, point 16): no raw status
        # code, no HTTP code.
        message = refusal.exception.args[0]
        self.assertIn("it is already printed", message)
        self.assertIn("stays confirmed", message)
        self.assertNotIn("409", message)
        self.assertNotIn("'printed'", message)
        self.assertEqual(order.state, 'sale')

    def test_connected_id_gelato_does_not_know_is_noted_and_nothing_else_changes(self):
        order = self._order([(self.small, 1)])
        order.action_confirm()
        record = order.gelato_order_ids
        self._run_outbox()
        remote = copy.deepcopy(self.simulator.orders[record.gelato_id])
        remote['connectedOrderIds'] = [record.gelato_id, '00000000-dead-beef-0000-000000000000']
        unknown = record._gelato_apply_remote(remote, adopt_connected=True)
        self.assertEqual(unknown, ['00000000-dead-beef-0000-000000000000'])
        self.assertEqual(len(order.gelato_order_ids), 1)
        self.assertIn('could not return it', order.message_ids[0].body)
        self.assertEqual(record.status, 'created')

    def test_package_listing_items_of_another_order_keeps_only_its_own(self):
        order = self._split_order()
        main, connected = self._records(order)
        remote = copy.deepcopy(self.simulator.orders[main.gelato_id])
        other_items = [i['id'] for i in self.simulator.orders[connected.gelato_id]['items']]
        remote['fulfillmentStatus'] = 'printed'
        remote['shipment']['packages'] = [{
            'id': 'pkg-1', 'trackingCode': 'MIX-1', 'trackingUrl': 'https://t.example/MIX-1',
            'orderItemIds': [remote['items'][0]['id'], *other_items]}]
        main._gelato_apply_remote(remote)
        self.assertEqual(main.package_ids.item_ids, main.item_ids)
        self.assertFalse(connected.package_ids)

    # --- statuses ------------------------------------------------------------------------------

    def test_failed_order_moves_on_when_gelato_fixes_it(self):
        record = self._confirm_and_send(self._order()).gelato_order_ids
        self.assertTrue(record._gelato_set_status('failed'))
        self.assertTrue(record._gelato_set_status('passed'), "Gelato fixed it")
        self.assertFalse(record._gelato_set_status('created'), "never backwards")
        self.assertTrue(record._gelato_set_status('failed'))
        self.assertTrue(record._gelato_set_status('canceled'), "canceled after failed")
        self.assertEqual(record.sale_order_id.state, 'cancel')
        self.assertFalse(record._gelato_set_status('passed'), "canceled is final")

    def test_every_documented_status_exists_and_has_transitions(self):
        documented = {'created', 'uploading', 'passed', 'in_production', 'printed', 'draft',
                      'failed', 'canceled', 'pending_approval', 'pending_personalization',
                      'digitizing', 'not_connected', 'on_hold', 'shipped', 'in_transit',
                      'delivered', 'returned'}  # docs/orders/order_details/, "Order statuses"
        self.assertEqual({key for key, _label in const.ORDER_STATUSES}, documented)
        self.assertEqual(set(const.STATUS_TRANSITIONS) - {False}, documented)
        for targets in const.STATUS_TRANSITIONS.values():
            self.assertLessEqual(targets, documented)

    def test_sale_summary_shows_the_part_that_needs_attention_then_the_slowest(self):
        order = self._split_order()
        main, connected = self._records(order)
        main._gelato_set_status('printed')
        connected._gelato_set_status('passed')
        self.assertEqual(order.gelato_status, 'passed')
        connected._gelato_set_status('on_hold')
        self.assertEqual(order.gelato_status, 'on_hold')
        connected._gelato_set_status('shipped')
        main._gelato_set_status('shipped')
        self.assertEqual(order.gelato_status, 'shipped')

    # --- reorders ------------------------------------------------------------------------------

    def test_reorder_found_by_reconciliation_replaces_the_failed_order(self):
        order = self._confirm_and_send(self._order())
        old = order.gelato_order_ids
        self.simulator.set_order_status(old.gelato_id, 'failed')
        new_id = self.simulator.reorder(old.gelato_id)
        old.last_update_at = fields.Datetime.now() - timedelta(days=1)
        self.env['gelato.order']._cron_reconcile()
        self.assertEqual(old.status, 'failed')
        new = order.gelato_order_ids - old
        self.assertEqual(new.gelato_id, new_id)
        self.assertEqual((new.origin, new.parent_id, old.state), ('reorder', old, 'replaced'))
        self.assertEqual(new.sale_line_ids, old.sale_line_ids)
        self.assertEqual(order.gelato_order_id, new_id)
        self.assertEqual(order.gelato_status, 'created', "the failed one no longer counts")

    # --- reconciliation ------------------------------------------------------------------------

    def test_reconciled_shipped_order_carries_its_tracking_from_shipment_packages(self):
        self.simulator.package_mode = 'per_item'
        order = self._confirm_and_send(self._order([(self.small, 1), (self.medium, 1)]))
        record = order.gelato_order_ids
        self.simulator.set_order_status(record.gelato_id, 'shipped')
        remote = self.simulator.orders[record.gelato_id]
        self.assertNotIn('fulfillments', self._get_as_gelato_answers(record)['items'][0],
                         "GET order has no item fulfillments: only webhooks do")
        record.last_update_at = fields.Datetime.now() - timedelta(days=1)
        self.env['gelato.order']._cron_reconcile()
        codes = {p['trackingCode'] for p in remote['shipment']['packages']}
        self.assertEqual(len(codes), 2)
        self.assertEqual(set(record.package_ids.mapped('tracking_code')), codes)
        self.assertEqual(set(order.picking_ids.filtered(lambda p: p.state == 'done')
                             .mapped('carrier_tracking_ref')), codes)
        for package in record.package_ids:
            self.assertEqual(package.item_ids.sale_line_id.move_ids.picking_id, package.picking_id)

    def _get_as_gelato_answers(self, record):
        return self.company._gelato_request('order', 'GET', f'/v4/orders/{record.gelato_id}')

    def test_reconciliation_of_many_orders_survives_one_that_fails(self):
        orders = [self._confirm_and_send(self._order()) for _i in range(3)]
        records = self.env['gelato.order'].browse([o.gelato_order_ids.id for o in orders])
        records.last_update_at = fields.Datetime.now() - timedelta(days=1)
        for record in records:
            self.simulator.set_order_status(record.gelato_id, 'passed')
        del self.simulator.orders[records[1].gelato_id]  # Gelato answers 404 for this one.
        self.env['gelato.order']._cron_reconcile()
        self.assertEqual(records.mapped('status'), ['passed', 'created', 'passed'])
        self.assertGreater(records[1].last_update_at, fields.Datetime.now() - timedelta(hours=1),
                           "rotated behind the others")

    def test_costs_of_the_receipt_are_kept_on_the_record(self):
        self.simulator.vat_rate = 0.25
        order = self._confirm_and_send(self._order([(self.small, 2)]))
        record = order.gelato_order_ids
        receipt = self.simulator.orders[record.gelato_id]['receipts'][0]
        self.assertEqual(record.cost_currency_id.name, receipt['currency'])
        self.assertAlmostEqual(record.cost_products, receipt['productsPrice'])
        self.assertAlmostEqual(record.cost_shipping, receipt['shippingPrice'])
        self.assertAlmostEqual(record.cost_vat, receipt['totalVat'])
        self.assertAlmostEqual(record.cost_total, receipt['totalInclVat'])

    # --- the list to act on --------------------------------------------------------------------

    def test_ask_gelato_now_says_what_changed(self):
        order = self._confirm_and_send(self._order())
        self.simulator.set_order_status(order.gelato_order_id, 'printed')
        action = order.action_gelato_refresh()
        self.assertIn('Created → Printed', action['params']['message'])
        again = order.action_gelato_refresh()
        self.assertIn('nothing new', again['params']['message'])

    def test_list_filters_find_orders_needing_attention(self):
        order = self._confirm_and_send(self._order())
        order.gelato_order_ids._gelato_set_status('failed')
        action = self.env.ref('gelato_connector.action_gelato_order')
        self.assertTrue(action)
        view = self.env.ref('gelato_connector.view_gelato_order_search')
        domain = next(f for f in view.arch_db.split('<filter') if 'name="needs_attention"' in f)
        self.assertIn("('needs_attention', '=', True)", domain)
        self.assertTrue(order.gelato_order_ids.needs_attention)
        self.assertIn(order.gelato_order_ids, self.env['gelato.order'].search(
            [('needs_attention', '=', True)]))
        # Replaced by a reorder: it no longer needs anyone.
        order.gelato_order_ids._gelato_set_state('replaced')
        self.assertFalse(order.gelato_order_ids.needs_attention)

    def test_reconfirming_a_cancelled_order_starts_its_gelato_life_afresh(self):
        order = self._confirm_and_send(self._order())
        first = order.gelato_order_ids
        order._action_cancel()
        order.action_draft()
        self._confirm_and_send(order)
        second = order.gelato_order_ids - first
        self.assertEqual(second.state, 'sent', second.last_error)
        self.assertEqual(second.reference, f"{first.reference}-2")
        self.assertEqual(order.gelato_status, 'created')
        self.assertEqual(order.gelato_order_id, second.gelato_id)

    # --- the upgrade from 19.0.1 ---------------------------------------------------------------

    def test_upgrade_turns_an_order_sent_by_the_previous_version_into_one_record(self):
        order = self._order([(self.small, 1), (self.medium, 1)])
        order.action_confirm()
        order.gelato_order_ids.unlink()  # As the previous version left it: no record.
        picking = order.picking_ids
        cr = self.env.cr
        # The columns the previous version kept on the sale order, copied aside by pre-migrate.
        cr.execute(f"""
            CREATE TABLE {upgrade_steps.LEGACY_ORDERS} (
                id int, gelato_order_id varchar, gelato_status varchar,
                gelato_min_delivery_date date, gelato_max_delivery_date date,
                gelato_shipment_method_uid varchar, gelato_outbox_state varchar,
                gelato_send_attempts int, gelato_next_attempt_at timestamp,
                gelato_last_error text, gelato_last_update_at timestamp)
        """)
        cr.execute(f"""INSERT INTO {upgrade_steps.LEGACY_ORDERS} VALUES
            (%s, 'legacy-gelato-id', 'shipped', '2030-01-02', '2030-01-05', 'dhl_parcel_europe',
             'sent', 1, NULL, NULL, now())""", (order.id,))
        small_line = order.order_line.sorted('id')[0]
        cr.execute(f"CREATE TABLE {upgrade_steps.LEGACY_LINES} AS SELECT %s AS id, %s AS order_id,"
                   f" 'shipped'::varchar AS gelato_item_status", (small_line.id, order.id))
        cr.execute(f"CREATE TABLE {upgrade_steps.LEGACY_PICKINGS} AS SELECT %s AS id, "
                   f"'OLD-1'::varchar AS carrier_tracking_ref, "
                   f"'https://track.example/OLD-1'::text AS gelato_tracking_urls", (picking.id,))
        records = upgrade_steps.migrate_legacy_orders(self.env)
        self.assertEqual(len(records), 1)
        self.assertEqual(records.sale_order_id, order)
        self.assertEqual((records.gelato_id, records.reference, records.origin, records.state),
                         ('legacy-gelato-id', order.name, 'migrated', 'sent'))
        self.assertEqual(records.status, 'shipped')
        self.assertEqual(str(records.max_delivery_date), '2030-01-05')
        self.assertEqual(records.sale_line_ids, order._gelato_lines())
        self.assertEqual(small_line.gelato_item_status, 'shipped')
        self.assertEqual(records.package_ids.tracking_url, 'https://track.example/OLD-1')
        self.assertEqual(order.gelato_order_id, 'legacy-gelato-id')
        self.assertEqual(order.gelato_status, 'shipped')
        self.assertEqual(self.env.ref('gelato_connector.ir_cron_gelato_outbox').model_id.model,
                         'gelato.order')
        self.assertFalse(upgrade_steps.migrate_legacy_orders(self.env), "safe to run twice")


@tagged('post_install', '-at_install')
class TestGelatoOrderWebhook(GelatoOrderTestMixin, GelatoHttpCase):
    """What Gelato sends about connected orders and reorders, through Odoo's webhook."""

    def test_each_connected_order_ships_with_its_own_tracking_and_a_backorder_between(self):
        order = self._split_order()
        main, connected = self._records(order)
        picking = order.picking_ids
        self.assertEqual(picking.carrier_id, order.carrier_id or picking.carrier_id)
        event = self._gelato_status(main.gelato_id, 'shipped')
        self.assertEqual(event.state, 'processed', event.error)
        self.assertEqual(event.order_id, main)
        first = self.simulator.orders[main.gelato_id]['shipment']['packages'][0]
        self.assertEqual(picking.state, 'done')
        self.assertEqual(picking.move_ids.sale_line_id, main.sale_line_ids)
        self.assertEqual(picking.carrier_tracking_ref, first['trackingCode'])
        backorder = order.picking_ids - picking
        self.assertEqual(backorder.state, 'assigned')
        self.assertEqual(backorder.move_ids.sale_line_id, connected.sale_line_ids)
        self.assertEqual(order.gelato_status, 'created', "the sale waits for its slowest part")
        event = self._gelato_status(connected.gelato_id, 'shipped')
        self.assertEqual(event.order_id, connected)
        second = self.simulator.orders[connected.gelato_id]['shipment']['packages'][0]
        self.assertEqual(backorder.state, 'done')
        self.assertEqual(backorder.carrier_tracking_ref, second['trackingCode'])
        self.assertNotEqual(first['trackingCode'], second['trackingCode'])
        for record in (main, connected):
            self._gelato_status(record.gelato_id, 'delivered')
        self.assertEqual(order.gelato_status, 'delivered')
        self.assertEqual(set(order._gelato_all_tracking()),
                         {(p['trackingCode'], p['trackingUrl']) for p in (first, second)})

    def test_automatic_validation_is_authored_by_odoobot(self):
        order = self._confirm_and_send(self._order())
        self._gelato_status(order.gelato_order_id, 'shipped')
        picking = order.picking_ids
        self.assertEqual(picking.state, 'done')
        authors = picking.message_ids.author_id | order.message_ids.author_id
        self.assertIn(self.env.ref('base.partner_root'), authors)
        self.assertNotIn(self.env.ref('base.public_partner'), authors)
        self.assertEqual(picking.write_uid, self.env.ref('base.user_root'))

    def test_failed_order_followed_by_a_reorder_that_ships(self):
        order = self._confirm_and_send(self._order())
        old = order.gelato_order_ids
        self._gelato_event('order_item_status_updated', old.gelato_id,
                           itemReferenceId=str(order._gelato_lines().id), status='failed',
                           comment="The file could not be downloaded")
        self._gelato_status(old.gelato_id, 'failed')
        self.assertEqual(order.gelato_status, 'failed')
        self.assertIn('could not be downloaded', old.status_reason)
        new_id = self.simulator.reorder(old.gelato_id)
        event = self._gelato_status(new_id, 'passed')
        self.assertEqual(event.state, 'processed', event.error)
        new = order.gelato_order_ids - old
        self.assertEqual((new.gelato_id, new.origin, old.state), (new_id, 'reorder', 'replaced'))
        self.assertEqual(event.order_id, new)
        self.assertEqual(order.gelato_status, 'passed')
        self._gelato_status(new_id, 'shipped')
        self.assertEqual(order.picking_ids.state, 'done')
        self.assertEqual(order.gelato_status, 'shipped')

    def test_two_reorders_are_each_recorded_once(self):
        order = self._confirm_and_send(self._order())
        old = order.gelato_order_ids
        self._gelato_status(old.gelato_id, 'failed')
        first, second = self.simulator.reorder(old.gelato_id), self.simulator.reorder(old.gelato_id)
        for gelato_id in (first, second, first):
            event = self._gelato_status(gelato_id, 'passed')
            self.assertIn(event.state, ('processed', 'ignored'), event.error)
        self.assertEqual(sorted(order.gelato_order_ids.mapped('gelato_id')),
                         sorted([old.gelato_id, first, second]))

    def test_order_another_database_created_under_the_same_reference_is_left_untouched(self):
        order = self._confirm_and_send(self._order())
        record = order.gelato_order_ids
        foreign = self._create_at_gelato(order, record.reference, 'a-copy-of-this-database')
        event = self._gelato_status(foreign, 'shipped')
        self.assertEqual(event.state, 'ignored')
        self.assertIn('not created by this database', event.error)
        self.assertEqual(order.gelato_order_ids, record)
        self.assertEqual(order.picking_ids.state, 'assigned')

    def test_order_of_another_database_with_the_same_sale_name_is_left_untouched(self):
        """Odoo's own module, or another database, sends the same sale name as reference."""
        order = self._confirm_and_send(self._order())
        for reference in (order.name, f"{order.name}-0000beef", str(order.id)):
            foreign = self._create_at_gelato(order, reference, 'another-database')
            event = self._gelato_status(foreign, 'canceled')
            self.assertEqual(event.state, 'ignored', reference)
            self.assertIn('did not send', event.error)
        self.assertEqual(order.state, 'sale')
        self.assertEqual(order.gelato_status, 'created')

    def test_event_of_a_connected_order_before_the_create_answer_is_stored_is_retried(self):
        self.simulator.split_mode = 'product'
        order = self._order([(self.small, 1), (self.medium, 1)])
        order.action_confirm()
        record = order.gelato_order_ids
        # Gelato created the orders, but Odoo's transaction has not stored the answer yet.
        payload = order._gelato_prepare_order_payload(record)
        created = self.company._gelato_request('order', 'POST', '/v4/orders', json=payload)
        connected_id = next(i for i in created['connectedOrderIds'] if i != created['id'])
        event = self._gelato_status(connected_id, 'passed')
        self.assertEqual(event.state, 'failed')
        self.assertIn('being sent', event.error)
        self.assertTrue(event.next_retry_at)
        self._run_outbox()  # the search finds the order created above: adopted, not sent twice
        self.assertEqual(len(self._remote_orders_for(order)), 2)
        event.next_retry_at = fields.Datetime.now() - timedelta(seconds=1)
        self.env['gelato.event']._cron_gelato_events()
        self.assertEqual(event.state, 'processed', event.error)
        self.assertEqual(event.order_id.gelato_id, connected_id)
        self.assertEqual(event.order_id.status, 'passed')

    def test_undocumented_status_is_logged_and_changes_nothing(self):
        order = self._confirm_and_send(self._order())
        event = self._gelato_event('order_status_updated', order.gelato_order_id,
                                   fulfillmentStatus='teleported')
        self.assertEqual(event.state, 'ignored')
        self.assertIn('teleported', event.error)
        self.assertEqual(order.gelato_status, 'created')
