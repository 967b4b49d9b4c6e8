"""Benchmark: the webhook against Odoo's /web/health, and under concurrent load.

Against a running Odoo server (started by `scripts/dev.sh bench` with 2 workers):
1. sequential latency of `order_status_updated` deliveries (each moves a real Gelato order
   forward), next to `/web/health` measured in the same run, alternately: target median
   <= 1.5x /web/health;
2. a concurrent run: 4 clients, 1,000 deliveries of which a fifth are duplicates: no 5xx, every
   event recorded and processed exactly once (one record that is not a duplicate, one processing
   attempt, processed, or ignored as a late status), one duplicate record per duplicate delivery,
   every order at its most advanced status, and the events per second.

When the latency target is missed (or with --profile), the deliveries are also profiled in this
process, without HTTP: `gelato.event._gelato_receive` for fresh events of other orders, with the
SQL queries per delivery (and the slowest of them) and a cProfile of the calls: where the time
goes beside the HTTP layer.

Usage: python benchmarks/bench_webhook.py -d DB --addons-path PATHS --url http://127.0.0.1:8269
The database is prepared (Gelato orders, secret) and committed before the measurements.
"""
import argparse
import collections
import cProfile
import json
import os
import random
import re
import statistics
import sys
import threading
import time
import traceback
import uuid

import requests
from bench_common import profile_lines

SECRET = 'bench-webhook-secret'
SEQUENTIAL = 300
CONCURRENT_CLIENTS = 4
CONCURRENT_DELIVERIES = 1000
CONCURRENT_ORDERS = 200
DUPLICATE_SHARE = 0.2
PROFILED = 200
TARGET_RATIO = 1.5


def setup_odoo(database, addons_path):
    from odoo.tools import config  # noqa: PLC0415
    config.parse_config(['-d', database, '--addons-path', addons_path,
                         '--http-interface', '127.0.0.1', '--log-level', 'warn'])


def prepare(database, orders_needed):
    """Create confirmed sale orders, each with its Gelato order as if sent to Gelato (state
    `sent`, a Gelato id, status `created`), and set the webhook secret. Committed.

    :return: `(gelato_id, reference)` of each Gelato order.
    """
    import odoo  # noqa: PLC0415
    from odoo import fields  # noqa: PLC0415
    from odoo.modules.registry import Registry  # noqa: PLC0415

    registry = Registry(database)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env.company.write({'gelato_enabled': True, 'gelato_api_key': 'bench-key',
                           'gelato_webhook_secret': SECRET})
        product = env['product.product'].search([('default_code', '=', 'BENCH-GELATO')], limit=1)
        if not product:
            product = env['product.product'].create({
                'name': 'Bench Poster', 'type': 'consu', 'default_code': 'BENCH-GELATO',
                'gelato_product_uid': 'bench_poster_uid',
            })
        partner = env['res.partner'].create({
            'name': 'Bench Customer', 'street': 'Main Street 1', 'city': 'Berlin', 'zip': '10117',
            'country_id': env.ref('base.de').id, 'email': 'bench@example.com',
        })
        orders = env['sale.order'].create([{
            'partner_id': partner.id,
            'order_line': [(0, 0, {'product_id': product.id, 'product_uom_qty': 1})],
        } for _i in range(orders_needed)])
        # Confirmed without action_confirm: neither the delivery nor the outbox is under test.
        orders.write({'state': 'sale'})
        GelatoOrder = env['gelato.order']
        now = fields.Datetime.now()
        records = GelatoOrder.create([{
            'sale_order_id': order.id,
            'reference': GelatoOrder._gelato_new_reference(order),
            'sale_line_ids': [fields.Command.set(order.order_line.ids)],
            'gelato_id': str(uuid.uuid4()),
            'state': 'sent',
            'status': 'created',
            'last_update_at': now,
        } for order in orders])
        cr.commit()
        result = [(record.gelato_id, record.reference) for record in records]
    # The company's write cleared the cached webhook secrets: tell the server's workers.
    registry.signal_changes()
    return result


def event(gelato_id, reference, status, event_id=None):
    return {
        'id': event_id or f'os_{uuid.uuid4().hex}', 'event': 'order_status_updated',
        'orderId': gelato_id, 'storeId': None, 'orderReferenceId': reference,
        'fulfillmentStatus': status, 'items': [],
    }


def post(session, url, payload):
    started = time.perf_counter()
    response = session.post(f'{url}/gelato/webhook', data=json.dumps(payload),
                            headers={'signature': SECRET, 'Content-Type': 'application/json'})
    return time.perf_counter() - started, response.status_code


def sequential(url, orders):
    """Alternate /web/health, an authenticated webhook request that stops before any processing
    (a body without `id`: 400) and a real delivery; return the three series of timings.

    The middle one is what Odoo's HTTP layer costs for a route on the database (registry check,
    cursor, public user, dispatch, commit) on top of /web/health, which touches no database.
    """
    session = requests.Session()
    health, noop, webhook = [], [], []
    for _warm in range(20):
        session.get(f'{url}/web/health')
    for gelato_id, reference in orders[:5]:  # warm both workers' caches, not measured
        post(session, url, event(gelato_id, reference, 'uploading'))
        post(session, url, {'event': 'order_status_updated'})
    for gelato_id, reference in orders[5:SEQUENTIAL + 5]:
        started = time.perf_counter()
        assert session.get(f'{url}/web/health').status_code == 200
        health.append(time.perf_counter() - started)
        elapsed, status = post(session, url, {'event': 'order_status_updated'})
        assert status == 400, status
        noop.append(elapsed)
        elapsed, status = post(session, url, event(gelato_id, reference, 'passed'))
        assert status == 200, status
        webhook.append(elapsed)
    return health, noop, webhook


def concurrent(url, orders):
    unique_count = int(CONCURRENT_DELIVERIES * (1 - DUPLICATE_SHARE))
    statuses = ('in_production', 'printed')
    payloads = [event(*orders[i % len(orders)], statuses[i // len(orders) % 2])
                for i in range(unique_count)]
    deliveries = payloads + [random.choice(payloads)
                             for _i in range(CONCURRENT_DELIVERIES - unique_count)]
    random.shuffle(deliveries)
    codes, lock, queue = [], threading.Lock(), list(deliveries)

    def client():
        session = requests.Session()
        while True:
            with lock:
                if not queue:
                    return
                payload = queue.pop()
            _elapsed, status = post(session, url, payload)
            with lock:
                codes.append(status)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _i in range(CONCURRENT_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return codes, {p['id'] for p in payloads}, len(deliveries) - unique_count, elapsed


def check_exactly_once(database, event_ids, duplicates, gelato_ids):
    """Every event id has exactly one record that is not a duplicate, processed once (state
    processed, or ignored as a late status); each duplicate delivery left one duplicate record;
    every order ends at its most advanced status (`printed`)."""
    from odoo.modules.registry import Registry  # noqa: PLC0415
    with Registry(database).cursor() as cr:
        cr.execute("""
            SELECT event_id,
                   count(*) FILTER (WHERE state != 'duplicate'),
                   count(*) FILTER (WHERE state = 'duplicate'),
                   bool_and(state IN ('processed', 'duplicate')
                            OR (state = 'ignored' AND error LIKE 'Late or out-of-order%%')),
                   max(attempts) FILTER (WHERE state != 'duplicate')
              FROM gelato_event WHERE event_id = ANY(%s) GROUP BY event_id
        """, (list(event_ids),))
        rows = cr.fetchall()
        cr.execute("SELECT state, count(*) FROM gelato_event WHERE event_id = ANY(%s) "
                   "GROUP BY state ORDER BY state", (list(event_ids),))
        states = dict(cr.fetchall())
        cr.execute("SELECT status, count(*) FROM gelato_order WHERE gelato_id = ANY(%s) "
                   "GROUP BY status", (list(gelato_ids),))
        final = dict(cr.fetchall())
    once = len(rows) == len(event_ids) and all(
        count == 1 and ok and attempts == 1 for _id, count, _dup, ok, attempts in rows)
    duplicate_records = sum(dup for _id, _count, dup, _ok, _attempts in rows)
    return {
        'once': once, 'recorded': len(rows), 'states': states,
        'duplicates_ok': duplicate_records == duplicates, 'duplicate_records': duplicate_records,
        'final': final, 'final_ok': final == {'printed': len(gelato_ids)},
    }


def profile_receive(database, orders):
    """Process deliveries in this process (no HTTP): queries and time per delivery, the
    queries by kind, then a cProfile. Rolled back."""
    import odoo  # noqa: PLC0415
    from odoo import SUPERUSER_ID  # noqa: PLC0415
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.sql_db import Cursor  # noqa: PLC0415

    registry = Registry(database)
    lines = []
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, SUPERUSER_ID, {})
        company = env.company
        Event = env['gelato.event']

        def receive(gelato_id, reference, status):
            payload = event(gelato_id, reference, status)
            raw = json.dumps(payload)
            # What the controller does: find the company by its secret, then receive as OdooBot.
            found = env['res.company'].sudo()._gelato_company_for_signature(SECRET)
            assert found == company
            state = Event.with_user(SUPERUSER_ID).with_company(found) \
                ._gelato_receive(found, payload, raw)
            env.flush_all()
            return state

        half = len(orders) // 2
        # The queries of each delivery, grouped by the statement's first words.
        kinds = collections.Counter()
        kind_time = collections.Counter()
        original = Cursor.execute

        def counting(self, query, params=None, log_exceptions=True):
            started = time.perf_counter()
            try:
                return original(self, query, params, log_exceptions)
            finally:
                text = query.code if hasattr(query, 'code') else str(query)
                key = statement_kind(text)
                kinds[key] += 1
                kind_time[key] += time.perf_counter() - started

        env.invalidate_all()
        receive(*orders[0], 'uploading')  # warm the caches
        Cursor.execute = counting
        try:
            started, queries = time.perf_counter(), cr.sql_log_count
            states = collections.Counter(receive(g, r, 'passed') for g, r in orders[1:half - 1])
            elapsed, count = time.perf_counter() - started, cr.sql_log_count - queries
        finally:
            Cursor.execute = original
        # One more delivery, each statement with the line of the addon that issued it.
        traced = []
        # The addon as Python imported it (through the addons path's link, not its real path).
        addon_dir = os.path.dirname(sys.modules['odoo.addons.gelato_connector'].__file__)

        def tracing(self, query, params=None, log_exceptions=True):
            text = ' '.join((query.code if hasattr(query, 'code') else str(query)).split())
            origin = next((f'{frame.filename[len(addon_dir) + 1:]}:{frame.lineno} {frame.name}'
                           for frame in reversed(traceback.extract_stack()[:-1])
                           if frame.filename.startswith(addon_dir + '/')
                           and '/benchmarks/' not in frame.filename), '-')
            traced.append((text, origin))
            return original(self, query, params, log_exceptions)

        Cursor.execute = tracing
        try:
            receive(*orders[half - 1], 'passed')
        finally:
            Cursor.execute = original
        n = half - 2
        lines.append(f"profile without HTTP, {n} deliveries through gelato.event._gelato_receive "
                     f"(as the controller calls it, flush included): "
                     f"{elapsed / n * 1000:.2f} ms and {count / n:.1f} SQL queries per delivery "
                     f"(states: {dict(states)})")
        lines.append("  queries per delivery, by statement (count, ms per delivery):")
        for key, number in kinds.most_common(25):
            lines.append(f"    {number / n:>5.1f} {kind_time[key] / n * 1000:>6.2f}  {key}")

        lines.append("  the statements of one delivery, in order, with the addon's line that "
                     "issued them (the innermost frame in gelato_connector):")
        for text, origin in traced:
            lines.append(f"    {text[:110]:<110}  <- {origin}")
        profiler = cProfile.Profile()
        profiler.enable()
        for gelato_id, reference in orders[half:]:
            receive(gelato_id, reference, 'passed')
        profiler.disable()
        lines.extend(profile_lines(profiler, f"cProfile of {len(orders) - half} deliveries", 30))
        cr.rollback()
    return '\n'.join(lines)


def statement_kind(text):
    """`SELECT <first column> ... FROM table`, `UPDATE table`... of a query, to group them."""
    text = ' '.join(text.split())
    match = re.match(r'(SELECT)\s+(\S+).*?\bFROM\s+"?(\w+)"?', text)
    if match:
        return f'SELECT {match.group(2)[:40]} ... FROM {match.group(3)}'
    match = re.match(r'(RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT|SAVEPOINT)\b', text)
    if match:
        return match.group(1)
    match = re.match(r'(INSERT INTO|UPDATE|DELETE FROM)\s+"?(\w+)"?', text)
    if match:
        return f'{match.group(1)} {match.group(2)}'
    return text[:70]


def profile_http(database, orders):
    """Serve requests through Odoo's own WSGI application in this process (werkzeug's test
    client instead of a socket): SQL queries and time per request of each kind, the queries of
    a delivery by statement, and a cProfile of deliveries with Odoo's HTTP layer included."""
    from werkzeug.test import Client  # noqa: PLC0415

    from odoo.http import root  # noqa: PLC0415
    from odoo.sql_db import Cursor  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415

    config['dbfilter'] = f'^{re.escape(database)}$'
    client = Client(root)
    headers = {'signature': SECRET, 'Content-Type': 'application/json'}
    log = []
    original = Cursor.execute

    def counting(self, query, params=None, log_exceptions=True):
        log.append(query.code if hasattr(query, 'code') else str(query))
        return original(self, query, params, log_exceptions)

    def health():
        assert client.get('/web/health').status_code == 200

    def noop():
        response = client.post('/gelato/webhook', headers=headers,
                               data=json.dumps({'event': 'order_status_updated'}))
        assert response.status_code == 400, response.status_code

    pending = list(orders)

    def delivery():
        gelato_id, reference = pending.pop()
        response = client.post('/gelato/webhook', headers=headers,
                               data=json.dumps(event(gelato_id, reference, 'passed')))
        assert response.status_code == 200, response.status_code

    for warm in (health, noop, delivery):
        warm()
    rounds = (len(pending) - 1) // 2
    lines = [f"profile with Odoo's HTTP layer, in process (werkzeug test client, no socket), "
             f"{rounds} requests of each kind:"]
    Cursor.execute = counting
    try:
        delivery_queries = collections.Counter()
        for label, call in (('/web/health', health), ('webhook 400, nothing processed', noop),
                            ('webhook 200, a delivery', delivery)):
            log.clear()
            started = time.perf_counter()
            for _i in range(rounds):
                call()
            elapsed = time.perf_counter() - started
            lines.append(f"  {label:<32} {elapsed / rounds * 1000:>6.2f} ms, "
                         f"{len(log) / rounds:>5.1f} SQL queries per request")
            if call is delivery:
                delivery_queries.update(statement_kind(q) for q in log)
            else:
                kinds = collections.Counter(statement_kind(q) for q in log)
                lines.append('      ' + '; '.join(f'{n / rounds:.1f} x {k}' for k, n in
                                                  kinds.most_common()))
                if call is noop:
                    noop_queries = kinds
    finally:
        Cursor.execute = original
    lines.append("  SQL statements of a delivery request (per request; * = also in the no-op "
                 "request, i.e. Odoo's HTTP layer):")
    for key, number in delivery_queries.most_common():
        mark = '*' if key in noop_queries else ' '
        lines.append(f"    {number / rounds:>5.1f} {mark} {key}")
    profiled = len(pending)
    profiler = cProfile.Profile()
    profiler.enable()
    while pending:
        delivery()
    profiler.disable()
    lines.extend(profile_lines(profiler, f"cProfile of {profiled} delivery requests", 40))
    return '\n'.join(lines)


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('-d', '--database', required=True)
    parser.add_argument('--addons-path', required=True)
    parser.add_argument('--url', required=True)
    parser.add_argument('--profile', action='store_true',
                        help='profile the deliveries even when the latency target is met')
    args = parser.parse_args()

    setup_odoo(args.database, args.addons_path)
    orders = prepare(args.database, SEQUENTIAL + 5 + CONCURRENT_ORDERS + PROFILED)
    health, noop, webhook = sequential(args.url, orders)
    health_median, webhook_median = statistics.median(health), statistics.median(webhook)
    noop_median = statistics.median(noop)
    ratio = webhook_median / health_median
    latency_met = ratio <= TARGET_RATIO
    print(f"sequential, {SEQUENTIAL} deliveries alternating with /web/health and an "
          f"authenticated no-op webhook request (400):")
    for label, values in (('/web/health', health),
                          ('/gelato/webhook 400, nothing processed', noop),
                          ('/gelato/webhook 200, a delivery', webhook)):
        print(f"  {label:<40} median {statistics.median(values) * 1000:>6.2f} ms, "
              f"p95 {percentile(values, 0.95) * 1000:>6.2f} ms, "
              f"{statistics.median(values) / health_median:.2f}x /web/health")
    print(f"  Odoo's request on a database costs {(noop_median - health_median) * 1000:.2f} ms "
          f"over /web/health; processing the delivery {(webhook_median - noop_median) * 1000:.2f}"
          f" ms more")
    print(f"webhook median latency {ratio:.2f}x /web/health (target <= {TARGET_RATIO}x): "
          f"{'MET' if latency_met else 'MISSED'}")

    first = SEQUENTIAL + 5
    concurrent_orders = orders[first:first + CONCURRENT_ORDERS]
    codes, event_ids, duplicates, elapsed = concurrent(args.url, concurrent_orders)
    errors = sum(1 for code in codes if code >= 500)
    check = check_exactly_once(args.database, event_ids, duplicates,
                               [g for g, _r in concurrent_orders])
    concurrent_met = errors == 0 and check['once'] and check['duplicates_ok'] \
        and check['final_ok']
    print(f"concurrent, {CONCURRENT_CLIENTS} clients, {len(codes)} deliveries "
          f"({duplicates} duplicates) for {CONCURRENT_ORDERS} orders: {errors} answers 5xx "
          f"(codes {dict(collections.Counter(codes))}), {check['recorded']} distinct events "
          f"recorded, each processed exactly once: {check['once']} (states {check['states']}), "
          f"{check['duplicate_records']} duplicate records for {duplicates} duplicate "
          f"deliveries, final statuses {check['final']}, {len(codes) / elapsed:.0f} events/s: "
          f"{'MET' if concurrent_met else 'MISSED'}")
    print(f"webhook targets: {'MET' if latency_met and concurrent_met else 'MISSED'}")
    if not latency_met or args.profile:
        rest = orders[first + CONCURRENT_ORDERS:]
        print(profile_receive(args.database, rest[:PROFILED // 2]))
        print(profile_http(args.database, rest[PROFILED // 2:]))
    return 0


if __name__ == '__main__':
    sys.exit(main())
