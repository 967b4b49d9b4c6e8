# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import http.client
import json
import logging
import os
import socket
import threading
import time
from urllib.parse import urlsplit

import psycopg2

from odoo.orm.environments import Transaction
from odoo.tests import TransactionCase, tagged
from odoo.tests.common import TEST_CURSOR_COOKIE_NAME
from odoo.tools import mute_logger

from odoo.addons.gelato_connector import utils
from odoo.addons.gelato_connector.tests.common import (
    WEBHOOK_SECRET,
    GelatoHttpCase,
    capture_logs,
)


@tagged('post_install', '-at_install')
class TestWebhook(GelatoHttpCase):

    def setUp(self):
        super().setUp()
        self.order = self._confirm_and_send(self._order([(self.small, 1), (self.medium, 2)]))
        self.small_line, self.medium_line = self.order.order_line.filtered(
            lambda line: line.product_id.gelato_product_uid).sorted('id')

    # --- helpers -------------------------------------------------------------------------------

    def _post(self, payload=None, signature=WEBHOOK_SECRET, raw=None):
        headers = {'Content-Type': 'application/json'}
        if signature is not None:
            headers['signature'] = signature
        body = raw if raw is not None else json.dumps(payload)
        return self.url_open('/gelato/webhook', data=body, headers=headers)

    def _event(self, event_type, **overrides):
        return self.simulator.build_event(event_type, self.order.gelato_order_id, **overrides)

    def _send(self, event_type, **overrides):
        payload = self._event(event_type, **overrides)
        response = self._post(payload)
        self.assertEqual(response.status_code, 200, response.text)
        return self.env['gelato.event'].search([('event_id', '=', str(payload['id'])),
                                                ('state', '!=', 'duplicate')])

    def _status(self, status, **overrides):
        self.simulator.set_order_status(self.order.gelato_order_id, status)
        return self._send('order_status_updated', **overrides)

    def _chatter(self):
        """Every message of the order, newest first, as one text."""
        return '\n'.join(self.order.message_ids.mapped('body'))

    def _events(self):
        return self.env['gelato.event'].search([])

    def _customer_emails(self):
        return self.env['mail.message'].search([
            ('model', '=', 'sale.order'), ('res_id', '=', self.order.id),
            ('message_type', '=', 'comment'), ('partner_ids', 'in', self.customer.ids),
        ])

    # --- the door ------------------------------------------------------------------------------

    def test_missing_signature_is_401_and_nothing_is_stored(self):
        response = self._post(self._event('order_status_updated'), signature=None)
        self.assertEqual(response.status_code, 401)
        self.assertFalse(self._events())

    def test_unknown_signature_is_401(self):
        for signature in ('wrong', WEBHOOK_SECRET + 'x', WEBHOOK_SECRET[:-1], ''):
            with self.subTest(signature=signature):
                self.assertEqual(self._post({'id': 'a', 'event': 'x'}, signature).status_code, 401)
        self.assertFalse(self._events())

    def test_company_without_gelato_is_not_a_door(self):
        self.company.gelato_enabled = False
        self.assertEqual(self._post({'id': 'a', 'event': 'x'}).status_code, 401)

    def test_body_over_one_mib_is_413(self):
        response = self._post(raw=json.dumps({'id': 'big', 'event': 'x', 'pad': 'x' * 1100000}))
        self.assertEqual(response.status_code, 413)
        self.assertFalse(self._events())

    def test_a_form_body_over_one_mib_is_refused_before_odoo_parses_it(self):
        """Issue 24, point 13: Odoo parses a form or multipart body into the request's
        parameters before the controller runs; the route's own `max_content_length` (Odoo 19)
        bounds it there, so 1 MiB is the most Odoo ever reads or parses for this route."""
        rule = next(r for r in self.env['ir.http'].routing_map().iter_rules()
                    if r.rule == '/gelato/webhook')
        self.assertEqual(rule.endpoint.routing['max_content_length'], 1024 * 1024)
        for files in (None, {'upload': ('big.bin', b'x' * 1100000)}):
            with self.subTest(multipart=bool(files)):
                response = self.url_open(
                    '/gelato/webhook', data=None if files else {'pad': 'x' * 1100000},
                    files=files, headers={'signature': WEBHOOK_SECRET})
                self.assertEqual(response.status_code, 413)
        self.assertFalse(self._events())

    def test_a_query_string_is_ignored_without_a_warning_per_request(self):
        """Issue 24, point 13: a sender's query string (`?source=gelato`) is not the event and
        logs nothing; the JSON body is the event."""
        with self.assertNoLogs('odoo.http', level='WARNING'):
            response = self.url_open(
                '/gelato/webhook?source=gelato&retry=1',
                data=json.dumps({'id': 'query-1', 'event': 'order_status_updated'}),
                headers={'Content-Type': 'application/json', 'signature': WEBHOOK_SECRET})
        self.assertEqual(response.status_code, 200, response.text)
        self.assertTrue(self._events().filtered(lambda e: e.event_id == 'query-1'))

    def test_bodies_that_are_not_events_are_400_with_a_short_json_error(self):
        for raw in ('not json', '[1, 2]', '"text"', '{}', '{"id": "x"}', '{"event": "x"}',
                    '{"id": null, "event": "x"}', '{"id": {"a": 1}, "event": "x"}',
                    '{"id": "x", "event": ["order_status_updated"]}', '{"id": true, "event": "x"}',
                    '\xff\xfe'):
            with self.subTest(raw=raw):
                response = self._post(raw=raw)
                self.assertEqual(response.status_code, 400)
                self.assertIn('error', response.json())
        self.assertFalse(self._events())

    def test_event_is_recorded_with_its_payload_type_and_order(self):
        event = self._status('passed')
        self.assertEqual(event.state, 'processed')
        self.assertEqual(event.event_type, 'order_status_updated')
        self.assertEqual(event.sale_order_id, self.order)
        self.assertEqual(event.company_id, self.company)
        self.assertEqual(json.loads(event.payload)['orderId'], self.order.gelato_order_id)
        self.assertEqual(self.order.gelato_status, 'passed')
        self.assertEqual(self.order.gelato_event_count, 1)

    def test_unknown_event_type_is_recorded_as_ignored(self):
        response = self._post({'id': 'evt-unknown', 'event': 'something_new'})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self._events().state, 'ignored')

    # --- idempotency ---------------------------------------------------------------------------

    def test_replayed_event_changes_nothing(self):
        self.simulator.set_order_status(self.order.gelato_order_id, 'shipped')
        payload = self._event('order_status_updated')
        for _delivery in range(3):
            self.assertEqual(self._post(payload).status_code, 200)
        self.assertEqual(len(self._customer_emails()), 1)
        events = self._events()
        self.assertEqual(sorted(events.mapped('state')), ['duplicate', 'duplicate', 'processed'])

    # --- order_status_updated ------------------------------------------------------------------

    def test_shipped_validates_the_picking_with_tracking_and_emails_the_customer(self):
        event = self._status('shipped')
        self.assertEqual(event.state, 'processed', event.error)
        picking = self.order.picking_ids
        self.assertEqual(picking.state, 'done')
        codes = picking.carrier_tracking_ref.split(',')
        remote_codes = {p['trackingCode']
                        for p in self._remote(self.order)['shipment']['packages']}
        self.assertEqual(set(codes), remote_codes)
        self.assertTrue(picking.gelato_package_ids.tracking_url)
        self.assertEqual(picking.carrier_id, self.order.carrier_id or picking.carrier_id)
        emails = self._customer_emails()
        self.assertEqual(len(emails), 1)
        self.assertIn(codes[0], emails.body)
        self.assertIn('href=', emails.body)

    def test_in_transit_after_shipped_sends_no_second_email(self):
        self._status('shipped')
        self._status('in_transit')
        self.assertEqual(self.order.gelato_status, 'in_transit')
        self.assertEqual(len(self._customer_emails()), 1)

    def test_delivered_sends_a_delivered_email(self):
        self._status('shipped')
        self._status('delivered')
        self.assertEqual(self.order.gelato_status, 'delivered')
        emails = self._customer_emails()
        self.assertEqual(len(emails), 2)
        self.assertIn('delivered', emails[0].body)

    def test_canceled_by_gelato_cancels_the_order_and_picking(self):
        self._status('canceled')
        self.assertEqual(self.order.state, 'cancel')
        self.assertEqual(self.order.picking_ids.state, 'cancel')
        self.assertIn('Gelato canceled', self._chatter())

    def test_failed_posts_gelatos_reason_and_gives_an_activity(self):
        # order_status_updated carries no reason; the item event before it does
        # (https://dashboard.gelato.com/docs/webhooks/: only order_item_status_updated has one).
        self._send('order_item_status_updated', itemReferenceId=str(self.small_line.id),
                   status='failed', comment="Print file could not be downloaded")
        self._status('failed')
        self.assertEqual(self.order.gelato_status, 'failed')
        self.assertIn('could not be downloaded', self._chatter())
        self.assertTrue(self.order.activity_ids)

    def test_returned_posts_a_note_and_gives_an_activity(self):
        self._status('shipped')
        self._status('returned')
        self.assertEqual(self.order.gelato_status, 'returned')
        self.assertTrue(self.order.activity_ids)

    def test_late_event_never_moves_the_order_backwards(self):
        self._status('delivered')
        shipped = self._send('order_status_updated', fulfillmentStatus='shipped')
        self.assertEqual(shipped.state, 'ignored', "recorded, with why it changed nothing")
        self.assertIn('Late or out-of-order', shipped.error)
        self.assertEqual(self.order.gelato_status, 'delivered')
        self.assertEqual(len(self._customer_emails()), 1)
        self._send('order_status_updated', fulfillmentStatus='passed')
        self.assertEqual(self.order.gelato_status, 'delivered')

    # --- item events ---------------------------------------------------------------------------

    def test_item_status_is_kept_on_its_line(self):
        self._send('order_item_status_updated', itemReferenceId=str(self.small_line.id),
                   status='printed')
        self.assertEqual(self.small_line.gelato_item_status, 'printed')
        self.assertEqual(self.medium_line.gelato_item_status, 'created',
                         "as Gelato's create answer said, untouched by the other item's event")
        self._send('order_item_status_updated', itemReferenceId=str(self.small_line.id),
                   status='passed')
        self.assertEqual(self.small_line.gelato_item_status, 'printed', "never backwards")

    def test_failed_item_gives_an_activity_with_gelatos_comment(self):
        self._send('order_item_status_updated', itemReferenceId=str(self.medium_line.id),
                   status='failed', comment="Low resolution image")
        self.assertEqual(self.medium_line.gelato_item_status, 'failed')
        self.assertIn('Low resolution image', self.order.activity_ids.note)

    def test_item_tracking_ships_that_line_and_leaves_a_backorder(self):
        event = self._send('order_item_tracking_code_updated',
                           itemReferenceId=str(self.small_line.id), trackingCode='PART-1',
                           trackingUrl='https://track.example/PART-1')
        self.assertEqual(event.state, 'processed', event.error)
        done = self.order.picking_ids.filtered(lambda p: p.state == 'done')
        open_ = self.order.picking_ids.filtered(lambda p: p.state not in ('done', 'cancel'))
        self.assertEqual(done.move_ids.product_id, self.small)
        self.assertEqual(done.carrier_tracking_ref, 'PART-1')
        self.assertEqual(open_.move_ids.product_id, self.medium, "the backorder")
        self._status('shipped')
        self.assertFalse(
            self.order.picking_ids.filtered(lambda p: p.state not in ('done', 'cancel')))

    def test_delivery_estimate_is_kept_and_a_later_one_is_noted(self):
        self._send('order_delivery_estimate_updated', minDeliveryDate='2030-01-10',
                   maxDeliveryDate='2030-01-12')
        self.assertEqual(str(self.order.gelato_max_delivery_date), '2030-01-12')
        self._send('order_delivery_estimate_updated', minDeliveryDate='2030-01-14',
                   maxDeliveryDate='2030-01-16')
        self.assertEqual(str(self.order.gelato_min_delivery_date), '2030-01-14')
        self.assertIn('later', self._chatter())

    # --- catalog events ------------------------------------------------------------------------

    def test_stock_availability_is_kept_under_either_list_name(self):
        for key, status in (('productsAvailability', 'out-of-stock'),
                            ('productAvailability', 'in-stock')):
            with self.subTest(key=key):
                event = self._send('catalog_product_stock_availability_updated', **{
                    'productsAvailability': None, 'productAvailability': None,
                    key: [{'productUid': self.small.gelato_product_uid,
                           'availability': [{'stockRegionUid': 'EU', 'status': status}]}],
                })
                self.assertEqual(event.state, 'processed', event.error)
                self.assertEqual(self.small._gelato_availability_in('EU'), status)

    def test_template_updated_is_resynchronized_in_the_background(self):
        self.simulator.make_template('tpl-poster', [('Size', ['S', 'M', 'L', 'XL'])])
        event = self._send('store_product_template_updated', storeProductTemplateId='tpl-poster')
        self.assertEqual(event.state, 'processed', event.error)
        self.assertEqual(event.product_tmpl_ids, self.poster)
        self.assertEqual(self.poster.gelato_template_state, 'update_pending')
        self.env['product.template']._cron_gelato_template_sync()
        self.assertEqual(self.poster.product_variant_count, 4)
        self.assertEqual(self.poster.gelato_template_state, 'synced')

    def test_template_deleted_archives_the_product_with_a_note(self):
        self._send('store_product_template_deleted', storeProductTemplateId='tpl-poster')
        self.assertFalse(self.poster.active)
        self.assertEqual(self.poster.gelato_template_state, 'deleted')
        self.assertIn('deleted', self.poster.message_ids[0].body)

    def test_every_store_event_for_an_unknown_id_is_ignored(self):
        for event_type in ('store_product_created', 'store_product_updated',
                           'store_product_deleted', 'store_product_template_created',
                           'store_product_template_updated', 'store_product_template_deleted'):
            with self.subTest(event=event_type):
                event = self._send(event_type, storeProductId='nope',
                                   storeProductTemplateId='nope')
                self.assertEqual(event.state, 'ignored')

    # --- nothing lost --------------------------------------------------------------------------

    def test_processing_failure_is_kept_and_retried(self):
        # A serial-tracked variant cannot be validated without serial numbers: the event fails.
        self.poster.tracking = 'serial'
        event = self._status('shipped')
        self.assertEqual(event.state, 'failed')
        self.assertTrue(event.error)
        self.assertTrue(event.next_retry_at)
        self.assertEqual(self.order.gelato_status, 'created', "the failed processing rolled back")
        self.poster.tracking = 'none'
        event.next_retry_at = '2000-01-01 00:00:00'
        self.env['gelato.event']._cron_gelato_events()
        self.assertEqual(event.state, 'processed', event.error)
        self.assertEqual(self.order.gelato_status, 'shipped')
        self.assertEqual(event.attempts, 2)

    def test_failed_event_can_be_processed_again_by_hand(self):
        self.poster.tracking = 'serial'
        event = self._status('shipped')
        self.poster.tracking = 'none'
        event.action_process_again()
        self.assertEqual(event.state, 'processed')

    def test_a_failing_delivery_keeps_nothing_of_its_processing(self):
        """The processing fails after the status was written (the delivery cannot be validated):
        the delivery's transaction is rolled back, and only the failed event is kept, linked
        to its order, with its next retry."""
        gelato_order = self.order.gelato_order_ids
        status_before = gelato_order.status
        self.poster.tracking = 'serial'
        with mute_logger('odoo.addons.gelato_connector.models.gelato_event'):
            event = self._status('shipped')
        self.env.invalidate_all()  # read what the request left in the database
        self.assertRecordValues(event, [{
            'state': 'failed', 'attempts': 1, 'order_id': gelato_order.id,
            'sale_order_id': self.order.id,
        }])
        self.assertIn('Lot/Serial', event.error)
        self.assertTrue(event.next_retry_at)
        self.assertEqual(gelato_order.status, status_before)
        self.assertNotEqual(self.order.picking_ids.state, 'done')
        self.assertNotIn('Gelato shipped', self._chatter())

    def test_dashboard_test_notifications_are_ignored(self):
        payload = {
            'id': 'os_test', 'event': 'order_status_updated', 'orderId': '{{MyOrderId}}',
            'orderReferenceId': '{{MyOrderId}}', 'fulfillmentStatus': 'shipped',
            'items': [{'itemReferenceId': '{{MyItemId}}', 'fulfillmentStatus': 'shipped'}],
        }
        self.assertEqual(self._post(payload).status_code, 200)
        self.assertEqual(self._events().state, 'ignored')

    def test_hostile_payloads_never_get_a_5xx(self):
        hostile = [
            {'fulfillmentStatus': 42, 'items': 'nope', 'orderId': ['x']},
            {'fulfillmentStatus': None, 'items': [None, 1, 'x', {'fulfillments': 'x'}]},
            {'fulfillmentStatus': 'shipped', 'items': [{'itemReferenceId': 10**40,
                                                        'fulfillments': [None, {}]}]},
            {'orderId': 10**40, 'orderReferenceId': {'a': 1}},
            {'fulfillmentStatus': 'shipped', 'items': [{'fulfillments': [
                {'trackingCode': {'x': 1}, 'trackingUrl': 7}]}]},
        ]
        events = ['order_status_updated', 'order_item_status_updated',
                  'order_item_tracking_code_updated', 'order_delivery_estimate_updated',
                  'catalog_product_stock_availability_updated', 'store_product_deleted']
        count = 0
        for event_type in events:
            for index, fields_ in enumerate(hostile):
                count += 1
                payload = {'id': f'hostile-{event_type}-{index}', 'event': event_type,
                           'orderId': self.order.gelato_order_id, 'itemReferenceId': 10**40,
                           'status': ['x'], 'minDeliveryDate': 'not a date',
                           'maxDeliveryDate': 20300101, 'productsAvailability': 'x',
                           'storeProductId': None, **fields_}
                response = self._post(payload)
                self.assertEqual(response.status_code, 200, (event_type, fields_, response.text))
        self.assertEqual(len(self._events()), count)

    def test_payload_values_are_escaped_and_only_http_links_are_links(self):
        self._send('order_item_status_updated', itemReferenceId=str(self.small_line.id),
                   status='failed', comment='<img src=x onerror=alert(1)><b>bold</b> &lt;i&gt;')
        self._status('failed')
        note = self._chatter()
        self.assertNotIn('<img', note)
        self.assertNotIn('<b>bold', note)
        self.assertIn('bold', note)
        self.order.gelato_order_ids.status = 'printed'
        self.simulator.set_order_status(self.order.gelato_order_id, 'shipped')
        payload = self._event('order_status_updated')
        for item in payload['items']:
            item['fulfillments'] = [
                {'trackingCode': '<script>x</script>', 'trackingUrl': 'javascript:alert(1)'}]
        self.assertEqual(self._post(payload).status_code, 200)
        email = self._customer_emails()[:1]
        self.assertNotIn('javascript:', email.body)
        self.assertNotIn('<script>', email.body)
        self.assertFalse(self.order.picking_ids.gelato_package_ids.filtered('tracking_url'))

    # --- the simulator drives an order ---------------------------------------------------------

    def test_simulator_drives_an_order_to_delivered_through_the_webhook(self):
        with self._gelato_calls_in():
            results = self.simulator.drive_order(
                self.order.gelato_order_id, self._webhook_url(), WEBHOOK_SECRET, retry_delay=0.1)
        self.assertTrue(all(codes[-1] == 200 for codes in results), results)
        events = self._events()
        self.assertEqual(set(events.mapped('state')), {'processed'},
                         events.mapped(lambda e: (e.state, e.error, e.payload[:300])))
        self.assertEqual(self.order.gelato_status, 'delivered')
        self.assertEqual(self.order.picking_ids.state, 'done')
        self.assertTrue(self.order.picking_ids.carrier_tracking_ref)
        self.assertEqual(len(self._customer_emails()), 2)

    def test_gelato_gives_up_after_three_tries(self):
        payload = self._event('order_status_updated')
        with self._gelato_calls_in():
            codes = self.simulator.send_webhook(self._webhook_url(), 'not-the-secret', payload,
                                                tries=3, retry_delay=0.05)
        self.assertEqual(codes, [401, 401, 401])

    # --- hostile input: never a 5xx, before and after authentication -------------------------

    def _raw(self, head, body=b'', timeout=10):
        """Send a request to Odoo byte for byte (`head`: the header lines after the request
        line, `body`: what follows them) and return the status of the answer, or None when
        none came within `timeout` seconds."""
        url = urlsplit(self.base_url())
        with self.allow_requests(), \
                socket.create_connection((url.hostname, url.port), timeout=timeout) as sock:
            # The cookie that lets a request into the test's transaction, as `url_open` sends.
            cookie = self.opener.cookies.get(TEST_CURSOR_COOKIE_NAME)
            lines = ['POST /gelato/webhook HTTP/1.1', f'Host: {url.netloc}', 'Connection: close',
                     *head, f'Cookie: {TEST_CURSOR_COOKIE_NAME}={cookie}']
            sock.sendall(('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1') + body)
            response = http.client.HTTPResponse(sock, method='POST')
            try:
                response.begin()
                response.read()
            except (TimeoutError, ConnectionError, http.client.HTTPException):
                return None
            return response.status

    def _post_everywhere(self, raw, expected, content_type='application/json'):
        """POST a body without a signature, with a wrong one and with the right one: the first
        two are 401, the last one `expected`; never a 5xx. :return: the last answer."""
        for signature, status in ((None, 401), ('wrong', 401), (WEBHOOK_SECRET, expected)):
            headers = {'Content-Type': content_type}
            if signature is not None:
                headers['signature'] = signature
            response = self.url_open('/gelato/webhook', data=raw, headers=headers)
            self.assertEqual(response.status_code, status, (signature, raw[:200], response.text))
        return response

    def _stored(self, event_id):
        return self.env['gelato.event'].search([('event_id', '=', event_id),
                                                ('state', '!=', 'duplicate')])

    def test_deeply_nested_bodies_are_400_never_5xx(self):
        deep = '[' * 100000 + ']' * 100000
        for raw in (deep, '{"a": ' * 100000 + '1' + '}' * 100000,
                    '{"id": "deep-1", "event": "order_status_updated", "items": ' + deep + '}',
                    '{"id": "deep-2", "event": "x", "a": ' + '[' * 200 + ']' * 200 + '}'):
            with self.subTest(raw=raw[:40]):
                response = self._post_everywhere(raw, 400)
                self.assertIn('error', response.json())
        self.assertFalse(self._events())
        # Gelato's events nest a few levels: a little deeper is still an event.
        self._post_everywhere(json.dumps({'id': 'nested-ok', 'event': 'something_new',
                                          'a': [[[[[[[[[[{'b': [1]}]]]]]]]]]]}), 200)
        self.assertEqual(self._stored('nested-ok').state, 'ignored')

    def test_nul_and_control_characters_are_stored_and_never_get_a_5xx(self):
        order_id, line_ref = self.order.gelato_order_id, str(self.small_line.id)
        payloads = [
            {'id': 'nul-\x00-id', 'event': 'order_status_updated', 'orderId': order_id,
             'fulfillmentStatus': 'passed'},
            {'id': 'nul-event', 'event': 'order_status_\x00updated\x01', 'orderId': order_id},
            {'id': 'nul-order', 'event': 'order_status_updated', 'orderId': order_id + '\x00',
             'orderReferenceId': '\x00', 'fulfillmentStatus': 'pass\x00ed'},
            {'id': 'nul-status', 'event': 'order_status_updated', 'orderId': order_id,
             'fulfillmentStatus': 'passed\x00',
             'items': [{'itemReferenceId': '\x00', 'fulfillments': [{'trackingCode': '\x00'}]}]},
            {'id': 'nul-tracking', 'event': 'order_item_tracking_code_updated', 'orderId': order_id,
             'itemReferenceId': line_ref, 'trackingCode': 'TR\x00CK\x1f',
             'trackingUrl': 'https://track.example/\x00'},
            {'id': 'nul-item', 'event': 'order_item_status_updated', 'orderId': order_id,
             'itemReferenceId': line_ref + '\x00', 'status': 'failed\x00',
             'comment': 'bad\x00 file\x07'},
            {'id': 'nul-comment', 'event': 'order_item_status_updated', 'orderId': order_id,
             'itemReferenceId': line_ref, 'status': 'failed', 'comment': 'bad\x00 file\x07'},
            {'id': 'nul-estimate', 'event': 'order_delivery_estimate_updated', 'orderId': order_id,
             'minDeliveryDate': '2030-01-10\x00', 'maxDeliveryDate': '\x002030-01-12'},
            {'id': 'nul-stock', 'event': 'catalog_product_stock_availability_updated',
             'productsAvailability': [
                 {'productUid': self.small.gelato_product_uid + '\x00',
                  'availability': [{'stockRegionUid': 'EU\x00', 'status': 'in-stock\x00'}]},
                 {'productUid': self.small.gelato_product_uid,
                  'availability': [{'stockRegionUid': 'EU', 'status': 'in-stock\x00'}]}]},
            {'id': 'nul-template', 'event': 'store_product_template_updated',
             'storeProductTemplateId': 'tpl-poster\x00'},
            {'id': 'nul-key', 'event': 'something_new', '\x00key': {'\x00': ['\x00']}},
        ]
        for payload in payloads:
            with self.subTest(id=payload['id']):
                self._post_everywhere(json.dumps(payload), 200)
                event = self.env['gelato.event'].search([('id', '=', max(self._events().ids))])
                self.assertNotIn('\x00', event.event_id + event.event_type)
                self.assertEqual(event.event_id, payload['id'].replace('\x00', ''))
                self.assertEqual(json.loads(event.payload), payload, "stored as received")
                self.assertNotIn('\x00', (event.error or '') + (event.summary or ''))
                self.assertTrue(event.payload_pretty)
        self.assertEqual(len(self._events()), len(payloads))
        # Processing them again (by hand, or by the retries) reads the stored payload: no 5xx
        # there either.
        self._events().filtered(lambda e: e.state in ('failed', 'ignored')).action_process_again()
        # NUL bytes themselves are not JSON, nor is JSON in UTF-16 (whose ASCII has NUL bytes).
        for raw in (b'{"id": "raw\x00", "event": "x"}', b'{"id": "a", "event": "x"}\x00',
                    b'\x00{"id": "a", "event": "x"}', b'\x00',
                    '{"id": "utf16", "event": "x"}'.encode('utf-16'),
                    '{"id": "utf16be", "event": "x"}'.encode('utf-16-be')):
            with self.subTest(raw=raw):
                self._post_everywhere(raw, 400)
        self.assertEqual(len(self._events()), len(payloads))

    def test_invalid_unicode_never_gets_a_5xx(self):
        order_id = self.order.gelato_order_id
        payloads = [
            {'id': 'surrogate-\ud800', 'event': 'order_status_updated', 'orderId': order_id,
             'fulfillmentStatus': 'passed'},
            {'id': 'surrogate-event', 'event': 'order_status_updated\udfff', 'orderId': order_id},
            {'id': 'surrogate-fields', 'event': 'order_status_updated',
             'orderId': order_id + '\udc80', 'orderReferenceId': '\ud800\ud800',
             'fulfillmentStatus': '\udfffshipped'},
            {'id': 'surrogate-tracking', 'event': 'order_item_tracking_code_updated',
             'orderId': order_id, 'itemReferenceId': str(self.small_line.id),
             'trackingCode': 'TRACK\ud83d', 'trackingUrl': 'https://track.example/\ude00'},
            {'id': 'surrogate-comment', 'event': 'order_item_status_updated',
             'orderId': order_id, 'itemReferenceId': str(self.small_line.id),
             'status': 'failed', 'comment': 'Low \udbff resolution'},
            {'id': 'surrogate-key', 'event': 'something_new', '\ud800': '\ud800'},
        ]
        for payload in payloads:
            with self.subTest(id=payload['id']):
                self._post_everywhere(json.dumps(payload), 200)
                event = self.env['gelato.event'].search([('id', '=', max(self._events().ids))])
                self.assertEqual(json.loads(event.payload), payload, "stored as received")
                event.event_id.encode()  # storable, readable text
                self.assertTrue(event.payload_pretty)
        self._events().filtered(lambda e: e.state in ('failed', 'ignored')).action_process_again()
        # Bytes that are not UTF-8 (JSON's encoding) are not JSON.
        for raw in (b'{"id": "\xff", "event": "x"}', b'{"id": "\xed\xa0\x80", "event": "x"}',
                    b'{"id": "\xc0\xaf", "event": "x"}',
                    b'{"id": "a", "event": "\xf4\x90\x80\x80"}'):
            with self.subTest(raw=raw):
                self._post_everywhere(raw, 400)
        self.assertEqual(len(self._events()), len(payloads))

    def test_long_strings_and_odd_numbers_never_get_a_5xx(self):
        order_id, line_ref, long = self.order.gelato_order_id, str(self.small_line.id), 'x' * 60000
        payloads = [
            {'id': 'long-' + long, 'event': 'order_status_updated' + long, 'orderId': order_id},
            {'id': 'long-order', 'event': 'order_status_updated', 'orderId': order_id + long,
             'orderReferenceId': long, 'fulfillmentStatus': long},
            {'id': 'long-status', 'event': 'order_status_updated', 'orderId': order_id,
             'fulfillmentStatus': 'passed' + long,
             'items': [{'itemReferenceId': long, 'fulfillmentStatus': long,
                        'fulfillments': [{'trackingCode': long, 'trackingUrl': long}]}]},
            {'id': 'long-tracking', 'event': 'order_item_tracking_code_updated',
             'orderId': order_id, 'itemReferenceId': line_ref, 'trackingCode': 'T' + long,
             'trackingUrl': 'https://track.example/' + long},
            {'id': 'long-item', 'event': 'order_item_status_updated', 'orderId': order_id,
             'itemReferenceId': line_ref, 'status': 'failed', 'comment': '\U0001f600' * 60000},
            {'id': 'long-estimate', 'event': 'order_delivery_estimate_updated',
             'orderId': order_id, 'minDeliveryDate': '2030-01-10' + long,
             'maxDeliveryDate': long},
            {'id': 'long-stock', 'event': 'catalog_product_stock_availability_updated',
             'productsAvailability': [{'productUid': long, 'availability': [
                 {'stockRegionUid': long, 'status': long}]}]},
            {'id': 'long-template', 'event': 'store_product_template_updated',
             'storeProductTemplateId': long, 'storeProductId': long},
        ]
        for payload in payloads:
            with self.subTest(id=payload['id'][:20]):
                self._post_everywhere(json.dumps(payload), 200)
        # Numbers of any size: JSON has no limit, Python's int() of a string has one.
        raws = (
            ('{"id": "num-N", "event": "order_status_updated", "orderId": 1e400, '
             '"fulfillmentStatus": -1e400, "items": [{"itemReferenceId": 1e-400}]}', 200),
            ('{"id": DIGITS, "event": "something_new"}', 200),
            ('{"id": "num-N", "event": "order_item_status_updated", "orderId": "ORDER", '
             '"itemReferenceId": DIGITS, "status": "failed"}', 200),
            ('{"id": "num-N", "event": "order_item_tracking_code_updated", "orderId": "ORDER", '
             '"itemReferenceId": -DIGITS, "trackingCode": DIGITS}', 200),
            ('{"id": "num-N", "event": "order_delivery_estimate_updated", "orderId": "ORDER", '
             '"minDeliveryDate": DIGITS, "maxDeliveryDate": 1e400}', 200),
            ('{"id": "num-N", "event": "catalog_product_stock_availability_updated", '
             '"productsAvailability": [{"productUid": DIGITS, "availability": '
             '[{"stockRegionUid": 1e400, "status": DIGITS}]}]}', 200),
            ('{"id": 1e400, "event": "something_new"}', 200),
            # NaN and Infinity are Python's, not JSON's.
            ('{"id": "num-N", "event": "something_new", "a": NaN}', 400),
            ('{"id": "num-N", "event": "something_new", "a": [Infinity, -Infinity]}', 400),
            ('{"id": NaN, "event": "something_new"}', 400),
        )
        for index, (raw, expected) in enumerate(raws):
            raw = raw.replace('num-N', f'num-{index}').replace('DIGITS', '9' * 5000) \
                .replace('ORDER', order_id)
            with self.subTest(raw=raw[:120]):
                self._post_everywhere(raw, expected)
        self._events().filtered(lambda e: e.state in ('failed', 'ignored')).action_process_again()
        self.assertTrue(all(len(e.event_id) <= 255 and len(e.event_type) <= 255
                            for e in self._events()))

    def test_chunked_body_is_held_to_one_mib(self):
        chunked = ['Content-Type: application/json', 'Transfer-Encoding: chunked']
        # A chunked body with no end in sight: answered 413 once 1 MiB + 1 byte has arrived,
        # without waiting for (or reading) the rest.
        piece = b'x' * 65536
        endless = b''.join(b'%x\r\n%s\r\n' % (len(c), c) for c in [piece] * 16 + [b'x'])
        self.assertEqual(self._raw([*chunked, f'signature: {WEBHOOK_SECRET}'], endless,
                                   timeout=4), 413)
        # Without the right signature nothing is read: 401 at once.
        for signature in ([], ['signature: wrong']):
            self.assertEqual(self._raw([*chunked, *signature], b'5\r\n{"id"\r\n', timeout=4),
                             401)
        # A complete chunked body under the limit is an event like another.
        body = json.dumps({'id': 'chunked-ok', 'event': 'something_new'}).encode()
        message = b''.join(b'%x\r\n%s\r\n' % (len(body[i:i + 7]), body[i:i + 7])
                           for i in range(0, len(body), 7)) + b'0\r\n\r\n'
        self.assertEqual(self._raw([*chunked, f'signature: {WEBHOOK_SECRET}'], message), 200)
        self.assertEqual(self._stored('chunked-ok').state, 'ignored')
        self.assertEqual(len(self._events()), 1)

    def test_a_storm_of_refused_requests_logs_one_warning_with_a_count(self):
        with capture_logs('odoo.addons.gelato_connector') as logs:
            for index in range(30):
                self._post({'id': f'storm-{index}', 'event': 'x'},
                           signature=None if index % 2 else 'wrong')
        warnings = [r for r in logs.records if r.levelno >= logging.WARNING]
        self.assertLessEqual(len(warnings), 1, [r.getMessage() for r in warnings])
        self.assertFalse(self._events())
        # One warning per interval, saying how many requests were refused since the last one.
        now = [1000.0]
        logger = logging.getLogger('odoo.addons.gelato_connector.tests.storm')
        warning = utils.RateLimitedWarning(logger, "%s refused", interval=60,
                                           clock=lambda: now[0])
        with self.assertLogs(logger, logging.WARNING) as logged:
            for _index in range(30):
                warning()
                now[0] += 1
            now[0] += 31
            warning()
            warning()
        self.assertEqual([r.getMessage() for r in logged.records], ['1 refused', '30 refused'])


@tagged('post_install', '-at_install')
class TestWebhookConcurrency(TransactionCase):
    """Workers receive events at the same moment, each in its own transaction."""

    def setUp(self):
        super().setUp()
        self.company_id = self.env.company.id  # read here: the workers run in other threads

    def _receive_in_a_worker(self, payload, outcomes, errors, hold=0):
        """Receive `payload` in a transaction of its own, as an Odoo worker does: a
        serialization failure rolls back and replays the request. Each attempt's outcome is
        appended to `outcomes` (`replayed`, then the event's state); `hold` keeps the
        transaction open that many seconds before it commits."""
        try:
            with self.registry.cursor() as cr:
                for _attempt in range(5):
                    # The test holds the registry lock: hand the registry over directly.
                    cr.transaction = Transaction(self.registry)
                    env = self.env(cr=cr)
                    try:
                        company = env['res.company'].browse(self.company_id)
                        state = env['gelato.event']._gelato_receive(
                            company, payload, json.dumps(payload))
                        env.flush_all()
                    except psycopg2.errors.SerializationFailure:
                        outcomes.append('replayed')
                        cr.rollback()
                        continue
                    time.sleep(hold)
                    outcomes.append(state)
                    break
        except Exception as error:  # noqa: BLE001 - reported by the tests' assertions
            errors.append(error)

    def test_same_event_on_two_workers_is_processed_once(self):
        payload = {'id': 'evt-concurrent-1', 'event': 'order_status_updated',
                   'orderId': 'unknown-order', 'fulfillmentStatus': 'shipped'}
        outcomes, errors = [], []
        # The first worker keeps its transaction open a while; the second arrives meanwhile.
        first = threading.Thread(target=self._receive_in_a_worker,
                                 args=(payload, outcomes, errors, 0.5))
        second = threading.Thread(target=self._receive_in_a_worker,
                                  args=(payload, outcomes, errors))
        first.start()
        time.sleep(0.1)
        second.start()
        first.join()
        second.join()
        states = [o for o in outcomes if o != 'replayed']
        try:
            self.assertFalse(errors)
            self.assertEqual(sorted(states), ['duplicate', 'ignored'])
            with self.registry.cursor() as cr:
                cr.execute("SELECT state FROM gelato_event WHERE event_id = %s ORDER BY state",
                           (payload['id'],))
                self.assertEqual([row[0] for row in cr.fetchall()], ['duplicate', 'ignored'])
        finally:
            with self.registry.cursor() as cr:
                cr.execute("DELETE FROM gelato_event WHERE event_id = %s", (payload['id'],))

    def test_an_order_changed_by_another_worker_meanwhile_replays_the_event(self):
        """A worker processing an event finds the order changed by a concurrent transaction:
        the event is not recorded as failed; the request is replayed, as Odoo's HTTP layer
        does, and processed once."""
        with self.registry.cursor() as cr:
            env = self.env(cr=cr)
            partner = env['res.partner'].create({'name': "Concurrent Customer"})
            order = env['sale.order'].create({'partner_id': partner.id, 'state': 'sale'})
            env['gelato.order'].create({
                'sale_order_id': order.id, 'reference': 'conc-ref-1', 'state': 'sent',
                'gelato_id': 'conc-order-1', 'status': 'created',
            })
            order_id, partner_id = order.id, partner.id
        payload = {'id': 'evt-conc-order-1', 'event': 'order_status_updated',
                   'orderId': 'conc-order-1', 'fulfillmentStatus': 'printed'}
        attempts, errors = [], []

        try:
            with self.registry.cursor() as other, mute_logger('odoo.sql_db'):
                # Another worker holds the order row, changed but not committed yet; the
                # serialization failure it causes is expected (and logged by the ORM's flush).
                other.execute("UPDATE gelato_order SET last_error = 'other worker' "
                              "WHERE sale_order_id = %s", (order_id,))
                thread = threading.Thread(target=self._receive_in_a_worker,
                                          args=(payload, attempts, errors))
                thread.start()
                time.sleep(0.5)  # the event worker is now waiting for the order row
                other.commit()
                thread.join(30)
            self.assertFalse(errors)
            self.assertEqual(attempts, ['replayed', 'processed'])
            with self.registry.cursor() as cr:
                cr.execute("SELECT state FROM gelato_event WHERE event_id = %s",
                           (payload['id'],))
                self.assertEqual([row[0] for row in cr.fetchall()], ['processed'])
                cr.execute("SELECT status FROM gelato_order WHERE sale_order_id = %s", (order_id,))
                self.assertEqual(cr.fetchone()[0], 'printed')
        finally:
            with self.registry.cursor() as cr:
                cr.execute("DELETE FROM gelato_event WHERE event_id = %s", (payload['id'],))
                cr.execute("DELETE FROM gelato_order WHERE sale_order_id = %s", (order_id,))
                cr.execute("DELETE FROM sale_order WHERE id = %s", (order_id,))
                cr.execute("DELETE FROM res_partner WHERE id = %s", (partner_id,))


@tagged('post_install', '-at_install')
class TestWebhookStatements(TransactionCase):
    """What one delivery costs the database: Gelato waits for each webhook request."""

    @staticmethod
    def _gelato_example(name):
        """Gelato's own example of an event (tests/data/gelato/, with the page it is from)."""
        path = os.path.join(os.path.dirname(__file__), 'data', 'gelato', f'{name}.json')
        with open(path, encoding='utf-8') as file:
            return json.load(file)['body']

    def test_a_delivery_is_stored_with_its_order_in_one_statement_and_applied_in_one(self):
        """Gelato's `order_status_updated` example (https://dashboard.gelato.com/docs/webhooks/),
        about an order this database sent, moving it to `passed`."""
        partner = self.env['res.partner'].create({'name': "Statement Customer"})
        sale = self.env['sale.order'].create({'partner_id': partner.id, 'state': 'sale'})
        order = self.env['gelato.order'].create({
            'sale_order_id': sale.id, 'reference': 'stmt-ref-1', 'state': 'sent',
            'gelato_id': 'stmt-order-1', 'status': 'created',
        })
        payload = dict(self._gelato_example('webhook_order_status_updated'),
                       id='evt-stmt-1', orderId='stmt-order-1', orderReferenceId='stmt-ref-1',
                       fulfillmentStatus='passed', items=[])
        # Read once and cached, as in a running server: the transaction's time (by the ORM, once
        # per transaction) and the stuck-order settings (once per server).
        self.env.cr.now()
        self.env['gelato.order']._gelato_stuck_hours()
        self.env.invalidate_all()
        # The event is inserted, with the order read in the same statement; the order's new
        # status is the second: no savepoint, no second write of the event.
        with self.assertQueryCount(2):
            state = self.env['gelato.event']._gelato_receive(
                self.env.company, payload, json.dumps(payload))
            self.env.flush_all()
        self.assertEqual(state, 'processed')
        self.env.invalidate_all()
        event = self.env['gelato.event'].search([('event_id', '=', 'evt-stmt-1')])
        self.assertRecordValues(event, [{
            'state': 'processed', 'attempts': 1, 'order_id': order.id, 'sale_order_id': sale.id,
            'remote_order_id': 'stmt-order-1', 'summary': 'passed', 'error': False,
        }])
        self.assertTrue(event.processed_at)
        self.assertEqual(order.status, 'passed')

    def test_a_delivery_for_an_order_never_sent_is_written_with_why(self):
        payload = dict(self._gelato_example('webhook_order_status_updated'),
                       id='evt-stmt-2', orderId='stmt-unknown',
                       orderReferenceId='stmt-unknown-ref', fulfillmentStatus='passed')
        state = self.env['gelato.event']._gelato_receive(
            self.env.company, payload, json.dumps(payload))
        self.assertEqual(state, 'ignored')
        event = self.env['gelato.event'].search([('event_id', '=', 'evt-stmt-2')])
        self.assertRecordValues(event, [{
            'state': 'ignored', 'attempts': 1, 'order_id': False, 'sale_order_id': False,
            'remote_order_id': 'stmt-unknown',
        }])
        self.assertIn('did not send', event.error)
