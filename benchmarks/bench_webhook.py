"""Benchmark: the webhook against Odoo's /web/health, and under concurrent load.

Against a running Odoo server (started by `scripts/dev.sh bench` with 2 workers):
1. sequential latency of `order_status_updated` deliveries (each moves a real order forward),
   next to `/web/health` measured in the same run: target median <= 2.0x /web/health;
2. a concurrent run: 4 clients, 1,000 deliveries of which a fifth are duplicates: no 5xx, every
   event processed exactly once, and the events per second.

Usage: python benchmarks/bench_webhook.py -d DB --addons-path PATHS --url http://127.0.0.1:8269
The database is prepared (orders, secret) and committed before the measurements.
"""
import argparse
import json
import random
import statistics
import sys
import threading
import time
import uuid

import requests

SECRET = 'bench-webhook-secret'
SEQUENTIAL = 300
CONCURRENT_CLIENTS = 4
CONCURRENT_DELIVERIES = 1000
DUPLICATE_SHARE = 0.2
TARGET_RATIO = 2.0


def prepare(database, addons_path, orders_needed):
    """Create confirmed Gelato orders with Gelato ids, and set the webhook secret."""
    import odoo  # noqa: PLC0415
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415

    config.parse_config(['-d', database, '--addons-path', addons_path,
                         '--http-interface', '127.0.0.1', '--log-level', 'warn'])
    with Registry(database).cursor() as cr:
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
        # As if sent to Gelato: the outbox is not under test here.
        for order in orders:
            order.write({'state': 'sale', 'gelato_order_id': str(uuid.uuid4()),
                         'gelato_status': 'created', 'gelato_outbox_state': 'sent'})
        cr.commit()
        return [(order.gelato_order_id, order.name) for order in orders]


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
    session = requests.Session()
    health, webhook = [], []
    for _warm in range(20):
        session.get(f'{url}/web/health')
    for index in range(SEQUENTIAL):
        started = time.perf_counter()
        assert session.get(f'{url}/web/health').status_code == 200
        health.append(time.perf_counter() - started)
        gelato_id, reference = orders[index]
        elapsed, status = post(session, url, event(gelato_id, reference, 'passed'))
        assert status == 200, status
        webhook.append(elapsed)
    return statistics.median(health), statistics.median(webhook)


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
    return codes, {p['id'] for p in payloads}, elapsed


def check_exactly_once(database, event_ids):
    """Every event id has exactly one non-duplicate record, processed."""
    from odoo.modules.registry import Registry  # noqa: PLC0415
    with Registry(database).cursor() as cr:
        cr.execute("""
            SELECT event_id, count(*) FILTER (WHERE state != 'duplicate'),
                   bool_and(state IN ('processed', 'duplicate'))
              FROM gelato_event WHERE event_id = ANY(%s) GROUP BY event_id
        """, (list(event_ids),))
        rows = cr.fetchall()
    once = all(count == 1 and ok for _id, count, ok in rows) and len(rows) == len(event_ids)
    return once, len(rows)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('-d', '--database', required=True)
    parser.add_argument('--addons-path', required=True)
    parser.add_argument('--url', required=True)
    args = parser.parse_args()

    orders = prepare(args.database, args.addons_path, SEQUENTIAL + 200)
    health, webhook = sequential(args.url, orders)
    ratio = webhook / health
    print(f"sequential, {SEQUENTIAL} deliveries: /web/health median {health * 1000:.2f} ms, "
          f"/gelato/webhook median {webhook * 1000:.2f} ms, ratio {ratio:.2f}x "
          f"(target <= {TARGET_RATIO}x): {'MET' if ratio <= TARGET_RATIO else 'NOT MET'}")

    codes, event_ids, elapsed = concurrent(args.url, orders[SEQUENTIAL:])
    errors = sum(1 for code in codes if code >= 500)
    once, recorded = check_exactly_once(args.database, event_ids)
    print(f"concurrent, {CONCURRENT_CLIENTS} clients, {len(codes)} deliveries "
          f"({len(codes) - len(event_ids)} duplicates): {errors} answers 5xx, "
          f"{recorded} distinct events recorded, each processed exactly once: {once}, "
          f"{len(codes) / elapsed:.0f} events/s")
    met = ratio <= TARGET_RATIO and errors == 0 and once
    print(f"targets: {'MET' if met else 'NOT MET'}")
    return 0 if met else 1


if __name__ == '__main__':
    sys.exit(main())
