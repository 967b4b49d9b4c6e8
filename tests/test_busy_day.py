# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""A big merchant's busiest day (issue 25): one request budget for every worker and server of a
database, bulk work that yields to shoppers and orders, a 429 that slows everyone down, a burst
of template events that makes one synchronization, and a checkout that keeps its price.

Gelato answers 429 to a client that sends too many requests and asks it to back off
exponentially; it publishes no figure (https://dashboard.gelato.com/docs/, "Rate limits").
"""
import json
import threading
import time
import uuid
from datetime import timedelta

from odoo import SUPERUSER_ID, fields, sql_db
from odoo.orm.environments import Transaction
from odoo.tests import TransactionCase, tagged

from odoo.addons.gelato_connector import const
from odoo.addons.gelato_connector.exceptions import GelatoError
from odoo.addons.gelato_connector.models.gelato_rate_budget import GelatoRateBudget
from odoo.addons.gelato_connector.tests.common import (
    API_KEY,
    GelatoOrderCase,
    forget_budget,
    start_simulator,
)


def _budget_row(dbname, account):
    """The budget as every worker sees it (committed), read in a transaction of its own."""
    with sql_db.db_connect(dbname).cursor() as cr:
        cr.execute("""SELECT tokens, paused_until_epoch - extract(epoch from clock_timestamp()),
                             strikes, throttled_count
                        FROM gelato_rate_budget WHERE account = %s""", (account,))
        return cr.fetchone()


@tagged('post_install', '-at_install')
class TestRequestBudget(TransactionCase):
    """The budget itself: a row of PostgreSQL that workers take requests from, each in a
    transaction of its own."""

    def setUp(self):
        super().setUp()
        self.company = self.env.company
        # An account of its own: this test's budget is no other test's.
        self.api_key = f'budget-test-{uuid.uuid4().hex}'
        self.account = GelatoRateBudget._gelato_account(self.api_key)
        self.addCleanup(self._forget)

    def _forget(self):
        with sql_db.db_connect(self.env.cr.dbname).cursor() as cr:
            cr.execute("DELETE FROM gelato_rate_budget WHERE account = %s", (self.account,))

    def _budget(self, priority, rate=0.01, burst=8):
        """The budget a caller of `priority` gets, as `_gelato_prepare_call` builds it."""
        params = self.env['ir.config_parameter'].sudo()
        params.set_param(const.RATE_LIMIT_PARAM, str(rate))
        params.set_param(const.RATE_BURST_PARAM, str(burst))
        budget = self.company.with_context(gelato_priority=priority)._gelato_budget(self.api_key)
        self.assertEqual(budget['account'], self.account)
        self.assertNotIn(self.api_key, json.dumps(budget), "the key itself is stored nowhere")
        return budget

    def _take_all(self, budget):
        """Take requests until the budget refuses; return how many were granted."""
        granted = 0
        while GelatoRateBudget._gelato_try_take(budget) == 0:
            granted += 1
            self.assertLess(granted, 100)
        return granted

    def test_two_workers_take_from_one_budget(self):
        """Two workers (threads, each with its own database connection) share one allowance:
        together they get the burst, not a burst each."""
        budget = self._budget('interactive', rate=0.01, burst=6)
        granted, errors = [], []

        def worker():
            try:
                for _attempt in range(10):
                    granted.append(GelatoRateBudget._gelato_try_take(budget) == 0)
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=worker) for _i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        self.assertFalse(errors)
        self.assertEqual(len(granted), 20)
        self.assertEqual(sum(granted), 6, "six requests for the two workers together")
        self.assertLess(_budget_row(self.env.cr.dbname, self.account)[0], 1)

    def test_the_budget_refills_at_the_allowed_rate(self):
        budget = self._budget('interactive', rate=20, burst=2)
        self.assertEqual(self._take_all(budget), 2)
        wait = GelatoRateBudget._gelato_try_take(budget)
        self.assertGreater(wait, 0)
        self.assertLessEqual(wait, 1 / 20 + 0.01, "one request is free again within 1/rate")
        budget['wait'] = 2
        started = time.monotonic()
        self.assertEqual(GelatoRateBudget._gelato_take(budget), 0, "waited for it, then took it")
        self.assertLess(time.monotonic() - started, 1)

    def test_bulk_work_yields_to_follow_ups_orders_and_shoppers(self):
        """Priorities: each caller leaves its reserve to those before it (const.RATE_PRIORITIES).
        With a burst of 8: costs and syncs stop at 4 left, follow-ups at 2, orders at 1, and a
        shopper takes the last one."""
        budgets = {p: self._budget(p) for p in ('bulk', 'followup', 'order', 'checkout')}
        self.assertEqual(self._take_all(budgets['bulk']), 4)
        self.assertEqual(self._take_all(budgets['followup']), 2)
        self.assertEqual(self._take_all(budgets['order']), 1)
        self.assertEqual(self._take_all(budgets['checkout']), 1)
        for priority, budget in budgets.items():
            with self.subTest(priority=priority):
                self.assertGreater(GelatoRateBudget._gelato_try_take(budget), 0)
        # A caller that may not wait that long is told how long it would be, at once.
        started = time.monotonic()
        self.assertGreater(GelatoRateBudget._gelato_take(budgets['bulk']), 5)
        self.assertLess(time.monotonic() - started, 1)

    def test_a_429_pauses_every_worker_for_what_gelato_asks_and_longer_in_a_row(self):
        order, bulk = self._budget('order', rate=50), self._budget('bulk', rate=50)
        self.assertEqual(GelatoRateBudget._gelato_try_take(order), 0)
        self.assertEqual(GelatoRateBudget._gelato_throttled(order, retry_after=3), 3)
        for budget in (order, bulk):
            wait = GelatoRateBudget._gelato_try_take(budget)
            self.assertGreater(wait, 2.5, "paused for whoever asks")
            self.assertLessEqual(wait, 3)
        # Without Retry-After, each 429 in a row doubles the pause (exponential backoff).
        self.assertEqual(GelatoRateBudget._gelato_throttled(bulk), 1.0)
        self.assertEqual(GelatoRateBudget._gelato_throttled(bulk), 2.0)
        self.assertEqual(GelatoRateBudget._gelato_throttled(bulk), 4.0)
        # A Retry-After of an hour is cut to the cap.
        self.assertEqual(GelatoRateBudget._gelato_throttled(bulk, retry_after=3600),
                         const.RATE_PAUSE_MAX_SECONDS)
        _tokens, paused, strikes, count = _budget_row(self.env.cr.dbname, self.account)
        self.assertEqual((strikes, count), (5, 5))
        self.assertGreater(paused, const.RATE_PAUSE_MAX_SECONDS - 5)

    def test_the_budget_can_be_turned_off(self):
        self.assertIsNone(self._budget_off())
        self.assertEqual(GelatoRateBudget._gelato_take(None), 0)

    def _budget_off(self):
        self.env['ir.config_parameter'].sudo().set_param(const.RATE_LIMIT_PARAM, '0')
        return self.company._gelato_budget(self.api_key)


@tagged('post_install', '-at_install')
class TestBusyDay(GelatoOrderCase):
    """What each kind of work does when Gelato or the budget asks it to wait."""

    def _pause_budget(self, seconds):
        """Gelato answered 429 with `Retry-After: seconds` to some worker of this database."""
        budget = self.company._gelato_budget(API_KEY)
        GelatoRateBudget._gelato_try_take(budget)  # the account's budget exists
        GelatoRateBudget._gelato_throttled(budget, retry_after=seconds)
        return budget

    def _triggers(self, xmlid, since):
        cron = self.env.ref(f'gelato_connector.{xmlid}')
        return self.env['ir.cron.trigger'].sudo().search(
            [('cron_id', '=', cron.id), ('call_at', '>=', since)]).mapped('call_at')

    def test_a_call_gelato_slows_down_is_sent_again_after_the_shared_pause(self):
        self.simulator.set_fault('429', times=1)
        self.simulator.clear_requests()
        started = time.monotonic()
        self.company._gelato_request('shipment', 'GET', '/v1/shipment-methods')
        self.assertGreaterEqual(time.monotonic() - started, const.RATE_BACKOFF_SECONDS - 0.05,
                                "it waited the backoff before asking again")
        self.assertEqual(len(self.simulator.requests), 2)
        _tokens, _paused, strikes, count = _budget_row(
            self.env.cr.dbname, GelatoRateBudget._gelato_account(API_KEY))
        self.assertEqual((strikes, count), (1, 1), "every worker heard of it")

    def test_an_order_waits_for_the_pause_not_for_minutes_and_is_sent_once(self):
        order = self._order()
        order.action_confirm()
        self._pause_budget(45)
        self.simulator.clear_requests()
        before = fields.Datetime.now()
        started = time.monotonic()
        self._run_outbox()
        self.assertLess(time.monotonic() - started, 5, "no worker sits out a long pause")
        self.assertFalse(self.simulator.requests, "nothing was sent while Gelato asked to wait")
        record = order.gelato_order_ids
        self.assertEqual(record.state, 'pending')
        self.assertEqual(record.send_attempts, 0, "not a failed attempt: no alert, no backoff")
        self.assertIn("slow down", record.last_error)
        self.assertIn("nothing to do", record.last_error)
        due_in = (record.next_attempt_at - before).total_seconds()
        self.assertTrue(40 <= due_in <= 50, due_in)
        for lane in const.OUTBOX_LANES:
            with self.subTest(lane=lane):
                self.assertIn(record.next_attempt_at, self._triggers(lane, before),
                              "every lane is woken when the pause is over")
        self.assertFalse(order.activity_ids)
        forget_budget(self.env.cr.dbname, API_KEY)
        self._run_outbox()
        self.assertEqual(record.state, 'sent')
        self.assertEqual(len(self._remote_orders_for(order)), 1)

    def test_the_cost_refresh_yields_stops_and_resumes_where_it_stopped(self):
        variants = self.env['product.product'].search([('gelato_product_uid', '!=', False)])
        variants.gelato_costs_checked_at = False
        self._pause_budget(20)
        self.simulator.clear_requests()
        before = fields.Datetime.now()
        self.env['product.product']._cron_gelato_refresh_costs()
        self.assertFalse([r for r in self.simulator.requests if r['path'].endswith('/prices')])
        self.assertFalse(any(variants.mapped('gelato_costs_checked_at')),
                         "nothing asked is marked refreshed: it is all still due")
        self.assertTrue(self._triggers('ir_cron_gelato_costs', before), "it runs again later")
        settings = self.env['res.config.settings'].create({})
        self.assertIn(f"0 of {len(variants)}", settings.gelato_busy_progress)
        forget_budget(self.env.cr.dbname, API_KEY)
        # Resumed in batches: two variants per transaction here.
        self.env['product.product']._cron_gelato_refresh_costs(limit=2)
        self.assertTrue(all(variants.mapped('gelato_costs_checked_at')))
        settings = self.env['res.config.settings'].create({})
        self.assertIn(f"{len(variants)} of {len(variants)}", settings.gelato_busy_progress)
        self.simulator.clear_requests()
        self.env['product.product']._cron_gelato_refresh_costs()
        self.assertFalse(self.simulator.requests, "refreshed today: not asked again")

    def _template_event(self, number):
        payload = {'id': f'evt-tpl-burst-{number}', 'event': 'store_product_template_updated',
                   'storeProductTemplateId': 'tpl-poster'}
        return self.env['gelato.event']._gelato_receive(
            self.company, payload, json.dumps(payload))

    def test_a_burst_of_template_events_makes_one_synchronization(self):
        self.simulator.make_template('tpl-poster', [('Size', ['S', 'M', 'L', 'XL'])])
        before = fields.Datetime.now()
        states = [self._template_event(n) for n in range(5)]
        self.assertEqual(states, ['processed'] * 5)
        self.assertEqual(self.poster.gelato_template_state, 'update_pending')
        triggers = self._triggers('ir_cron_gelato_template_sync', before)
        self.assertEqual(len(triggers), 1, "one wake-up for the whole burst")
        self.assertGreaterEqual((triggers[0] - before).total_seconds(),
                                const.DEFAULT_TEMPLATE_SYNC_DELAY - 1,
                                "after the burst's window, not at its first event")
        self.simulator.clear_requests()
        self.env['product.template']._cron_gelato_template_sync()
        fetched = [r for r in self.simulator.requests
                   if r['path'] == '/ecommerce/v1/templates/tpl-poster']
        self.assertEqual(len(fetched), 1, "one synchronization")
        self.assertEqual(self.poster.product_variant_count, 4)
        self.assertEqual(self.poster.gelato_template_state, 'synced')

    def test_a_template_sync_gelato_cannot_answer_now_waits_instead_of_failing(self):
        self.poster._gelato_schedule_resync()
        self._pause_budget(20)
        before = fields.Datetime.now()
        self.env['product.template']._cron_gelato_template_sync()
        self.assertEqual(self.poster.gelato_template_state, 'update_pending',
                         "still waiting, not marked failed")
        self.assertFalse(self.poster.gelato_sync_error)
        self.assertTrue(self._triggers('ir_cron_gelato_template_sync', before))

    def test_the_checkout_keeps_its_price_within_a_short_wait(self):
        """Issue 25, point 4 (and issue 24, point 11): a shopper never waits long on the budget;
        the last quote for the same cart and address is shown, else a clear message."""
        order = self._order()
        shopper = order.with_context(gelato_priority='checkout')
        quotes = shopper._gelato_quote()
        order.gelato_quote_at = fields.Datetime.now() - timedelta(hours=1)  # no longer fresh
        self._pause_budget(30)
        self.simulator.clear_requests()
        started = time.monotonic()
        self.assertEqual(shopper._gelato_quote(), quotes, "the last quote for the same cart")
        self.assertLess(time.monotonic() - started, 1.5)
        self.assertFalse(self.simulator.requests)
        order.order_line.product_uom_qty = 5  # another cart: no earlier price for it
        started = time.monotonic()
        with self.assertRaises(GelatoError) as refusal:
            shopper._gelato_quote()
        self.assertLess(time.monotonic() - started, 1.5)
        self.assertTrue(refusal.exception.transient)
        self.assertEqual(refusal.exception.args[0], "Shipping prices cannot be fetched right "
                                                    "now. Please try again in a moment.")
        self.assertFalse(self.simulator.requests, "the shopper's wait ended before the pause")


@tagged('post_install', '-at_install')
class TestOutboxLanes(TransactionCase):
    """Several workers send the outbox side by side (the lanes of const.OUTBOX_LANES, on every
    server): each order is claimed by one of them. The orders are committed, and each worker
    runs in a transaction of its own, as Odoo's cron workers do."""

    ORDERS = 12

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.simulator = start_simulator(cls)

    def _committed(self, work):
        with self.registry.cursor() as cr:
            # The test holds the registry lock: hand the registry over directly.
            cr.transaction = Transaction(self.registry)
            return work(self.env(cr=cr, user=SUPERUSER_ID))

    def _prepare(self, env):
        company = env['res.company'].browse(self.company_id)
        params = env['ir.config_parameter'].sudo()
        saved = ({'gelato_enabled': company.gelato_enabled,
                  'gelato_api_key': company.sudo().gelato_api_key},
                 params.get_param(const.API_URL_TEMPLATE_PARAM))
        params.set_param(const.API_URL_TEMPLATE_PARAM, self.simulator.api_url_template)
        company.write({'gelato_enabled': True, 'gelato_api_key': API_KEY})
        partners = env['res.partner']
        records = env['gelato.order']
        for number in range(self.ORDERS):
            # A customer each: the two workers share no record but the outbox's.
            partners |= env['res.partner'].create({'name': f"Lane Customer {number}"})
            sale = env['sale.order'].create({'partner_id': partners[-1].id, 'state': 'sale'})
            records |= env['gelato.order'].create({
                'sale_order_id': sale.id, 'reference': f'lane-{uuid.uuid4().hex[:8]}-{number}',
                'state': 'pending',
            })
        return saved, partners.ids, records.ids, records.mapped('reference')

    def _cleanup(self, saved, partner_ids, order_ids):
        def clean(env):
            company_values, url = saved
            env['res.company'].browse(self.company_id).write(company_values)
            env['ir.config_parameter'].sudo().set_param(const.API_URL_TEMPLATE_PARAM, url or '')
            env.cr.execute("SELECT sale_order_id FROM gelato_order WHERE id = ANY(%s)",
                           [order_ids])
            sale_ids = [row[0] for row in env.cr.fetchall()]
            env.cr.execute("DELETE FROM gelato_order WHERE id = ANY(%s)", [order_ids])
            env.cr.execute("DELETE FROM sale_order WHERE id = ANY(%s)", [sale_ids])
            env.cr.execute("DELETE FROM res_partner WHERE id = ANY(%s)", [partner_ids])
        self._committed(clean)
        forget_budget(self.env.cr.dbname, API_KEY)

    def test_two_workers_send_the_outbox_side_by_side_and_no_order_twice(self):
        self.company_id = self.env.company.id
        saved, partner_ids, order_ids, references = self._committed(self._prepare)
        self.addCleanup(self._cleanup, saved, partner_ids, order_ids)
        # Each call takes a little while, so that both workers are at work at the same time.
        self.simulator.set_fault('slow', delay=0.05)
        claimed, errors = {}, []
        # Neither commits before both are done, as each cron worker's transaction ends with its
        # order's (what one worker committed is no longer locked for the other).
        both_done = threading.Barrier(2, timeout=90)

        def worker(name):
            try:
                with self.registry.cursor() as cr:
                    cr.transaction = Transaction(self.registry)
                    env = self.env(cr=cr, user=SUPERUSER_ID)
                    env['gelato.order']._cron_send_pending()
                    env.flush_all()
                    # What this worker did, read before either commits.
                    cr.execute("SELECT id FROM gelato_order WHERE id = ANY(%s) AND "
                               "send_attempts > 0", [order_ids])
                    claimed[name] = {row[0] for row in cr.fetchall()}
                    both_done.wait()
            except Exception as error:  # noqa: BLE001 - reported by the assertions
                errors.append(error)

        threads = [threading.Thread(target=worker, args=(name,)) for name in ('a', 'b')]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(180)
        self.simulator.clear_faults()
        self.assertFalse(errors)
        self.assertTrue(claimed['a'] and claimed['b'], "both workers sent orders")
        self.assertFalse(claimed['a'] & claimed['b'], "no order was claimed by both")
        self.assertEqual(claimed['a'] | claimed['b'], set(order_ids), "every order was sent")
        # What Gelato received: each order's reference asked for exactly once (the search
        # before creating it, https://dashboard.gelato.com/docs/orders/v4/search).
        asked = [reference for request in self.simulator.requests
                 if request['path'] == '/order/v4/orders:search'
                 for reference in (request['json'] or {}).get('orderReferenceIds', [])]
        self.assertEqual(sorted(asked), sorted(references))

        def attempts(env):
            env.cr.execute("SELECT send_attempts FROM gelato_order WHERE id = ANY(%s)",
                           [order_ids])
            return [row[0] for row in env.cr.fetchall()]
        self.assertEqual(self._committed(attempts), [1] * self.ORDERS)
