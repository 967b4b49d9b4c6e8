"""Benchmark: reconciliation of 1,000 quiet Gelato orders against the simulator.

1,000 sale orders are sent to a Gelato simulator (port 8370 by default) through the outbox
(`gelato.order._gelato_send_pending`, one transaction per order, the payload the addon builds);
Gelato then moves some of them on (in production, printed, shipped with a package) without any
webhook, and every Gelato order is made quiet (nothing heard for 7 hours). Then:

1. `gelato.order._cron_reconcile(limit=BATCH)` runs again and again until no quiet order is left:
   the total time, the time per order, the batches, the SQL commits (one transaction per order is
   expected: the commits are counted, and each order's `write_date`, the time its transaction
   started, must be its own), the calls to Gelato per order and the calls per TCP connection;
   every order must end with the status Gelato has.
2. The orders are made quiet again and the scheduled action runs once as the cron worker runs it
   (`ir.cron.method_direct_trigger`): how many orders one run of the scheduled action reconciles,
   and when it runs next: how long 1,000 quiet orders wait with the action as configured.

Usage: python benchmarks/bench_reconcile.py -d DB --addons-path PATHS [--orders 1000] [--batch 100]
What it creates is committed (the reconciliation commits by design).
"""
import argparse
import logging
import os
import sys
import time
from datetime import timedelta

from bench_common import synced_product

ORDERS = 1000
BATCH = 100
API_KEY = 'bench-reconcile-key'
TEMPLATE = 'bench-reconcile'
# What Gelato did meanwhile, by share of the orders (the rest stays `created`).
MOVED = (('in_production', 0.3), ('printed', 0.2), ('shipped', 0.1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('-d', '--database', required=True)
    parser.add_argument('--addons-path', required=True)
    parser.add_argument('--port', type=int, default=8370, help="the simulator's port")
    parser.add_argument('--orders', type=int, default=ORDERS)
    parser.add_argument('--batch', type=int, default=BATCH, help="_cron_reconcile's limit")
    args = parser.parse_args()

    import odoo
    from odoo.modules.registry import Registry
    from odoo.tools import config

    config.parse_config(['-d', args.database, '--addons-path', args.addons_path,
                         '--http-interface', '127.0.0.1', '--log-level', 'warn'])
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from simulator import GelatoSimulator

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    warned = WarningCounter()
    logging.getLogger('py.warnings').addFilter(warned)
    simulator = GelatoSimulator(api_keys=(API_KEY,), port=args.port).start()
    registry = Registry(args.database)
    try:
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            records, prep = prepare(env, simulator, args.orders)
            print(f"prepared {len(records)} Gelato orders: sent through the outbox in "
                  f"{prep['send']:.1f} s ({prep['send'] / len(records) * 1000:.1f} ms per order), "
                  f"then moved on at Gelato: {prep['moved']}; {prep['others']} other open orders "
                  f"of the database set aside (not quiet)")
            batches(env, cr, simulator, records, args.batch)
            scheduled(env, cr, simulator, records)
    finally:
        simulator.stop()
    if warned.count:
        print(f"note: the addon raised {warned.count} Python warnings meanwhile (not printed), "
              f"e.g. {warned.first}")
    return 0


class WarningCounter(logging.Filter):
    """Count the Python warnings Odoo logs (one per reconciled order would flood the output),
    keep the first, print none."""

    def __init__(self):
        super().__init__()
        self.count, self.first = 0, None

    def filter(self, record):
        self.count += 1
        if self.first is None:
            message = record.getMessage().strip().splitlines()
            self.first = message[0] if message else ''
            self.first = self.first.split('gelato_connector/', 1)[-1]
        return False


def prepare(env, simulator, count):
    """Sale orders sent to the simulator through the outbox, moved on there, made quiet."""
    from odoo import fields
    cr = env.cr
    env['ir.config_parameter'].set_param('gelato_connector.api_url_template',
                                         simulator.api_url_template)
    company = env.company
    company.write({'gelato_enabled': True, 'gelato_api_key': API_KEY})
    if not company.partner_id.street:
        company.partner_id.write({
            'street': 'Skovvej 1', 'city': 'Copenhagen', 'zip': '2100',
            'country_id': env.ref('base.dk').id, 'email': 'shop@example.com',
        })
    product = synced_product(env, simulator, TEMPLATE, [('Size', ['S', 'M', 'L'])],
                             name='Bench Reconcile Poster')
    variant = product.product_variant_ids[0]
    customer = env['res.partner'].create({
        'name': 'Reconcile Customer', 'street': 'Unter den Linden 5', 'city': 'Berlin',
        'zip': '10117', 'country_id': env.ref('base.de').id, 'email': 'reconcile@example.com',
        'phone': '+49 30 1234567',
    })
    sales = env['sale.order'].create([{
        'partner_id': customer.id,
        'order_line': [(0, 0, {'product_id': variant.id, 'product_uom_qty': 1})],
    } for _i in range(count)])
    # Confirmed without action_confirm (no delivery pickings: their validation is not measured
    # here), then sent through the outbox like a confirmation does.
    sales.write({'state': 'sale'})
    GelatoOrder = env['gelato.order']
    records = GelatoOrder.create([{
        'sale_order_id': sale.id, 'reference': GelatoOrder._gelato_new_reference(sale),
        'sale_line_ids': [fields.Command.set(sale.order_line.ids)],
        'shipment_method_uid': 'normal', 'state': 'pending',
        'next_attempt_at': fields.Datetime.now(),
    } for sale in sales])
    cr.commit()
    started = time.perf_counter()
    records._gelato_send_pending()
    send = time.perf_counter() - started
    env.invalidate_all()
    unsent = records.filtered(lambda r: r.state != 'sent' or not r.gelato_id)
    if unsent:
        raise RuntimeError(f"{len(unsent)} orders were not sent: {unsent[:1].last_error}")
    moved, start = {}, 0
    ordered = records.sorted('id')
    for status, share in MOVED:
        end = start + int(round(share * count))
        for record in ordered[start:end]:
            simulator.set_order_status(record.gelato_id, status)
        moved[status] = end - start
        start = end
    moved['created'] = count - start
    quiet = fields.Datetime.now() - timedelta(hours=7)
    records.write({'last_update_at': quiet})
    # Other open orders of the database (other benchmarks) are not this benchmark's.
    others = GelatoOrder.search([('id', 'not in', records.ids), ('state', '=', 'sent'),
                                 ('gelato_id', '!=', False)])
    others.write({'last_update_at': fields.Datetime.now() + timedelta(days=1)})
    cr.commit()
    return records, {'send': send, 'moved': moved, 'others': len(others)}


def quiet_left(cr, records, since):
    cr.execute("SELECT count(*) FROM gelato_order WHERE id = ANY(%s) AND last_update_at < %s",
               (records.ids, since))
    return cr.fetchone()[0]


def batches(env, cr, simulator, records, batch):
    """Run _cron_reconcile in bounded batches until no quiet order is left."""
    from odoo import fields
    from odoo.sql_db import Cursor

    commits, other_commits = [0], [0]
    original = Cursor.commit

    def counting_commit(self):
        if self is cr:
            commits[0] += 1
        else:  # another cursor (e.g. one opened by a mail or bus notification)
            other_commits[0] += 1
            if os.environ.get('BENCH_TRACE_COMMITS'):
                import traceback
                traceback.print_stack(limit=12)
        return original(self)

    # The reconciliation sets `last_update_at` to now (second precision): wait for the next
    # second, so that "reconciled by this run" is `last_update_at >= since`.
    time.sleep(1.0 - time.time() % 1.0 + 0.01)
    since = fields.Datetime.now()
    requests_before, connections_before = len(simulator.requests), simulator.connection_count
    GelatoOrder = env['gelato.order']
    runs, per_batch = 0, []
    # Time of each order by the status Gelato moved it to (a wrapper around the per-order
    # method, for the duration of the run).
    cls = type(GelatoOrder)
    reconcile_one = cls._gelato_reconcile_one
    own = cls.__dict__.get('_gelato_reconcile_one')
    by_new_status = {}

    def timed_reconcile_one(self):
        before, order_started = self.status, time.perf_counter()
        try:
            return reconcile_one(self)
        finally:
            key = self.status if self.status != before else 'unchanged'
            entry = by_new_status.setdefault(key, [0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - order_started

    Cursor.commit = counting_commit
    cls._gelato_reconcile_one = timed_reconcile_one
    started = time.perf_counter()
    try:
        while quiet_left(cr, records, since) and runs < 3 * len(records) // batch + 3:
            batch_started = time.perf_counter()
            GelatoOrder._cron_reconcile(limit=batch)
            per_batch.append(time.perf_counter() - batch_started)
            runs += 1
    finally:
        elapsed = time.perf_counter() - started
        Cursor.commit = original
        if own:
            cls._gelato_reconcile_one = own
        else:
            del cls._gelato_reconcile_one
    left = quiet_left(cr, records, since)
    calls = simulator.requests[requests_before:]
    connections = simulator.connection_count - connections_before
    env.invalidate_all()
    cr.execute("""
        SELECT count(*), count(DISTINCT write_date) FROM gelato_order
         WHERE id = ANY(%s) AND last_update_at >= %s
    """, (records.ids, since))
    reconciled, transactions = cr.fetchone()
    remote = {oid: order['fulfillmentStatus'] for oid, order in dict(simulator.orders).items()}
    wrong = [r for r in records if r.status != remote.get(r.gelato_id)]
    by_status = {}
    for record in records:
        by_status[record.status] = by_status.get(record.status, 0) + 1
    kinds = {}
    for call in calls:
        key = f"{call['method']} {call['path'].split('/')[-1] if ':' in call['path'] else ''}"
        key = 'GET order' if call['method'] == 'GET' else key.strip()
        kinds[key] = kinds.get(key, 0) + 1
    once = commits[0] == reconciled and transactions == reconciled
    print(f"reconciliation of {len(records)} quiet orders with _cron_reconcile(limit={batch}), "
          f"{runs} batches: {elapsed:.2f} s in all, {elapsed / max(reconciled, 1) * 1000:.1f} ms "
          f"per order (batches: {min(per_batch):.2f}-{max(per_batch):.2f} s)")
    print(f"  reconciled {reconciled}, still quiet {left}; {commits[0]} commits of the "
          f"reconciling cursor and {transactions} distinct transaction timestamps (write_date) "
          f"for {reconciled} orders: one transaction per order: {'yes' if once else 'NO'} "
          f"({other_commits[0]} commits of other cursors meanwhile)")
    print("  per order, by what Gelato said (before the commit): " + ', '.join(
        f"{key} {n} x {total / n * 1000:.1f} ms" for key, (n, total) in by_new_status.items()))
    print(f"  statuses now {by_status}, each as Gelato has it: "
          f"{'yes' if not wrong else f'NO ({len(wrong)} differ)'}")
    served = 'keeping connections alive, as Gelato'
    over = f"over {connections} new TCP connection(s), " + (
        f"{len(calls) / connections:.0f} calls per connection" if connections else
        "all of them over the connection opened before (when the orders were sent)")
    print(f"  calls to Gelato: {len(calls)} ({kinds}), {len(calls) / max(reconciled, 1):.2f} per "
          f"order, {over} (simulator {served})")
    print(f"reconcile batches: {'MET' if once and not wrong and not left else 'MISSED'} "
          f"(one transaction per order, every order reconciled and right)")


def scheduled(env, cr, simulator, records):
    """Make the orders quiet again and run the scheduled action once, as the cron worker does."""
    from odoo import fields
    records.write({'last_update_at': fields.Datetime.now() - timedelta(hours=7)})
    cron = env.ref('gelato_connector.ir_cron_gelato_reconcile')
    cr.commit()
    time.sleep(1.0 - time.time() % 1.0 + 0.01)
    since = fields.Datetime.now()
    started = time.perf_counter()
    cron.method_direct_trigger()
    elapsed = time.perf_counter() - started
    cr.commit()
    env.invalidate_all()
    done = len(records) - quiet_left(cr, records, since)
    interval = f"{cron.interval_number} {cron.interval_type}"
    seconds = cron.interval_number * {'minutes': 60, 'hours': 3600, 'days': 86400,
                                      'weeks': 604800, 'months': 2592000}[cron.interval_type]
    delay = (cron.nextcall - fields.Datetime.now()).total_seconds()
    # A run that leaves work reports it (`_commit_progress(remaining=...)`): ir.cron then adds a
    # trigger to run the job again at once, after the other due jobs.
    cr.execute("SELECT count(*) FROM ir_cron_trigger WHERE cron_id = %s AND call_at <= now() "
               "at time zone 'UTC' + interval '1 minute'", (cron.id,))
    asap = cr.fetchone()[0]
    runs = -(-len(records) // max(done, 1))
    print(f"the scheduled action '{cron.name}' (every {interval}), run once as the cron worker "
          f"runs it: {done} of {len(records)} quiet orders reconciled in {elapsed:.1f} s; next "
          f"run {'at once (it reported what remains)' if asap else f'in {delay / 60:.0f} min'}")
    if done < len(records) and not asap:
        print(f"  at that pace, {len(records)} quiet orders take {runs} runs, the last one "
              f"{(runs - 1) * seconds / 3600:.0f} h after the first: the run reported no "
              f"remaining work to ir.cron, so the job waits for its interval")
    # Leave nothing quiet behind for the benchmarks that follow.
    records.write({'last_update_at': fields.Datetime.now()})
    cr.commit()


if __name__ == '__main__':
    sys.exit(main())
