"""Benchmark: Synchronize a Gelato template of 20, 60 and 200 variants, against the floor.

The floor, measured in the same run and database: creating the same product template with its
attribute lines in one `create`, then writing each variant's Gelato product UID. The target for
200 variants is to stay within 2x the floor in wall time and in SQL queries.

Run it through `scripts/dev.sh bench` (which prepares a database and the Python environment), or
directly: python benchmarks/bench_product_sync.py -d DB --addons-path PATHS
Nothing is committed: every measurement is rolled back.
"""
import argparse
import os
import sys
import time
import tracemalloc

SIZES = {20: (4, 5), 60: (6, 10), 200: (10, 20)}  # variants -> values of Color x Size
TARGET_RATIO = 2.0
ROUNDS = 3


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('-d', '--database', required=True)
    parser.add_argument('--addons-path', required=True)
    args = parser.parse_args()

    import odoo  # noqa: PLC0415
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415

    config.parse_config(['-d', args.database, '--addons-path', args.addons_path,
                         '--http-interface', '127.0.0.1', '--log-level', 'warn'])
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from simulator import GelatoSimulator  # noqa: PLC0415

    simulator = GelatoSimulator(api_keys=('bench-key',)).start()
    registry = Registry(args.database)
    rows = []
    try:
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            env['ir.config_parameter'].set_param(
                'gelato_connector.api_url_template', simulator.api_url_template)
            env.company.write({'gelato_enabled': True, 'gelato_api_key': 'bench-key'})
            env.flush_all()
            for size, (colors, sizes) in SIZES.items():
                options = [('Color', [f'Color {i}' for i in range(colors)]),
                           ('Size', [f'Size {i}' for i in range(sizes)])]
                template = simulator.make_template(f'bench-{size}', options)
                # A first, unmeasured sync creates the attributes and values the floor uses.
                env['product.template'].create({
                    'name': 'Warm-up', 'type': 'consu', 'gelato_template_ref': f'bench-{size}',
                }).action_sync_gelato_template_info()
                floor = best_of(lambda t=template, o=options: measure_floor(env, cr, t, o))
                ours = best_of(lambda s=size: measure_sync(env, cr, f'bench-{s}'))
                peak = measure_sync(env, cr, f'bench-{size}', trace_memory=True)[2]
                floor_peak = measure_floor(env, cr, template, options, trace_memory=True)[2]
                rows.append((size, floor[:2] + (floor_peak,), ours[:2] + (peak,)))
            cr.rollback()
    finally:
        simulator.stop()

    print(f"{'variants':>8} | {'floor s':>8} {'floor q':>8} {'flr MiB':>8} | {'sync s':>8} "
          f"{'sync q':>8} {'peak MiB':>8} | {'time x':>6} {'query x':>7} {'mem x':>6}")
    for size, floor, ours in rows:
        print(f"{size:>8} | {floor[0]:>8.3f} {floor[1]:>8} {floor[2] / 2**20:>8.1f} | "
              f"{ours[0]:>8.3f} {ours[1]:>8} {ours[2] / 2**20:>8.1f} | "
              f"{ours[0] / floor[0]:>6.2f} {ours[1] / floor[1]:>7.2f} {ours[2] / floor[2]:>6.2f}")
    print("memory: peak traced allocations (tracemalloc) of one run; 'mem x' staying level as "
          "variants grow means the sync's memory grows like Odoo's own creation, no faster")
    size, floor, ours = rows[-1]
    met = ours[0] <= TARGET_RATIO * floor[0] and ours[1] <= TARGET_RATIO * floor[1]
    print(f"target for {size} variants: within {TARGET_RATIO}x the floor in time and queries: "
          f"{'MET' if met else 'NOT MET'}")
    return 0 if met else 1


def best_of(measure):
    """Run a measurement ROUNDS times and keep the fastest (queries are the same each time)."""
    results = [measure() for _round in range(ROUNDS)]
    return min(results, key=lambda r: r[0])


def measure_floor(env, cr, template, options, trace_memory=False):
    """Create the template with its attribute lines in one create and write the UIDs."""
    from odoo.fields import Command  # noqa: PLC0415
    attributes = env['product.attribute'].search([('name', 'in', [n for n, _v in options])])
    values = {
        (a.name, v.name): v for a in attributes for v in a.value_ids
    }
    uids = {
        tuple(o['value'] for o in variant['variantOptions']): variant['productUid']
        for variant in template['variants']
    }
    cr.execute('SAVEPOINT bench')
    env.flush_all()
    env.invalidate_all()
    if trace_memory:
        tracemalloc.start()
    started, queries = time.perf_counter(), cr.sql_log_count
    product = env['product.template'].create({
        'name': 'Floor', 'type': 'consu',
        'attribute_line_ids': [Command.create({
            'attribute_id': attributes.filtered(lambda a, n=name: a.name == n).id,
            'value_ids': [Command.set([values[(name, v)].id for v in names])],
        }) for name, names in options],
    })
    for variant in product.product_variant_ids:
        key = tuple(v.name for v in variant.product_template_attribute_value_ids)
        variant.gelato_product_uid = uids[key]
    env.flush_all()
    elapsed, count = time.perf_counter() - started, cr.sql_log_count - queries
    peak = 0
    if trace_memory:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    cr.execute('ROLLBACK TO SAVEPOINT bench')
    env.invalidate_all()
    return elapsed, count, peak


def measure_sync(env, cr, ref, trace_memory=False):
    """Synchronize a fresh product from the simulator's template.

    Memory is traced in a run of its own: tracing slows everything down.
    """
    cr.execute('SAVEPOINT bench')
    product = env['product.template'].create(
        {'name': 'Synced', 'type': 'consu', 'gelato_template_ref': ref})
    env.flush_all()
    env.invalidate_all()
    if trace_memory:
        tracemalloc.start()
    started, queries = time.perf_counter(), cr.sql_log_count
    result = product.action_sync_gelato_template_info()
    env.flush_all()
    elapsed, count = time.perf_counter() - started, cr.sql_log_count - queries
    peak = 0
    if trace_memory:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    if result['params']['type'] == 'danger':
        raise RuntimeError(result['params']['message'])
    cr.execute('ROLLBACK TO SAVEPOINT bench')
    env.invalidate_all()
    return elapsed, count, peak


if __name__ == '__main__':
    sys.exit(main())
