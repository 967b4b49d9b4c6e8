"""Benchmark: Synchronize a Gelato template of 20, 60, 200 and 1,000 variants, against the floor.

The floor, measured in the same run and database: creating the same product template with its
attribute lines in one `create`, then writing each variant's Gelato product UID. Targets: at 200
and at 1,000 variants, the sync stays within 1.3x the floor in wall time AND in SQL queries; the
peak-memory ratio (sync / floor, tracemalloc) stays level as variants grow.

`--profile` also prints, for the largest template, the wall time and SQL queries of each phase
of the sync (the methods of `product.template` it goes through, and the flushes between them)
and the top functions of a cProfile run: where the time goes when a target is missed.

Run it through `scripts/dev.sh bench` (which prepares a database and the Python environment), or
directly: python benchmarks/bench_product_sync.py -d DB --addons-path PATHS [--profile]
Nothing is committed: every measurement is rolled back.
"""
import argparse
import cProfile
import functools
import os
import statistics
import sys
import time
import tracemalloc

from bench_common import profile_lines

SIZES = {20: (4, 5), 60: (6, 10), 200: (10, 20), 1000: (25, 40)}  # variants -> Color x Size
TARGET_SIZES = (200, 1000)
TARGET_RATIO = 1.3
# "Level": from the smallest target size to the largest, the memory ratio grows by at most this.
MEMORY_LEVEL_TOLERANCE = 1.2
# Rounds per size: each round measures the floor and the sync back to back, and the time ratio
# is the median of the rounds' ratios, which a change of load on the machine weighs on least.
ROUNDS = {20: 3, 60: 3, 200: 5, 1000: 5}
# The phases of a sync reported by --profile, in the order they run.
PHASES = ('_gelato_fetch_template', '_gelato_prepare_preview', '_gelato_parse_template',
          '_gelato_resolve_attribute_values', '_gelato_set_attribute_lines',
          '_gelato_match_variants', '_gelato_sync_print_images', '_gelato_sync_description',
          '_gelato_apply_preview')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('-d', '--database', required=True)
    parser.add_argument('--addons-path', required=True)
    parser.add_argument('--profile', action='store_true',
                        help='also profile the sync of the largest template, phase by phase')
    parser.add_argument('--sizes', default=','.join(map(str, SIZES)),
                        help=f"comma-separated variant counts among {', '.join(map(str, SIZES))}")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(',')]

    import odoo  # noqa: PLC0415
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415

    config.parse_config(['-d', args.database, '--addons-path', args.addons_path,
                         '--http-interface', '127.0.0.1', '--log-level', 'warn'])
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from simulator import GelatoSimulator  # noqa: PLC0415

    simulator = GelatoSimulator(api_keys=('bench-key',)).start()
    registry = Registry(args.database)
    rows, profile_text = [], None
    try:
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            env['ir.config_parameter'].set_param(
                'gelato_connector.api_url_template', simulator.api_url_template)
            env.company.write({'gelato_enabled': True, 'gelato_api_key': 'bench-key'})
            env.flush_all()
            for size in sizes:
                colors, values = SIZES[size]
                options = [('Color', [f'Color {i}' for i in range(colors)]),
                           ('Size', [f'Size {i}' for i in range(values)])]
                template = simulator.make_template(f'bench-{size}', options)
                # A first, unmeasured sync creates the attributes and values the floor uses.
                env['product.template'].create({
                    'name': 'Warm-up', 'type': 'consu', 'gelato_template_ref': f'bench-{size}',
                }).action_sync_gelato_template_info()
                # Rounds alternate floor and sync, so that a change of load on the machine
                # weighs on both alike; the table shows the fastest round of each.
                floors, syncs = [], []
                for _round in range(ROUNDS[size]):
                    floors.append(measure_floor(env, cr, template, options))
                    syncs.append(measure_sync(env, cr, f'bench-{size}'))
                floor = min(floors, key=lambda r: r[0])
                ours = min(syncs, key=lambda r: r[0])
                paired = statistics.median(
                    [s[0] / f[0] for f, s in zip(floors, syncs, strict=True)])
                peak = measure_sync(env, cr, f'bench-{size}', trace_memory=True)[2]
                floor_peak = measure_floor(env, cr, template, options, trace_memory=True)[2]
                rows.append((size, floor[:2] + (floor_peak,), ours[:2] + (peak,), paired))
            if args.profile:
                profile_text = profile_sync(env, cr, f'bench-{sizes[-1]}', sizes[-1])
            cr.rollback()
    finally:
        simulator.stop()

    print(f"{'variants':>8} | {'floor s':>8} {'floor q':>8} {'flr MiB':>8} | {'sync s':>8} "
          f"{'sync q':>8} {'peak MiB':>8} | {'time x':>6} {'query x':>7} {'mem x':>6}")
    ratios = {}
    for size, floor, ours, paired in rows:
        ratios[size] = (paired, ours[1] / floor[1], ours[2] / floor[2])
        print(f"{size:>8} | {floor[0]:>8.3f} {floor[1]:>8} {floor[2] / 2**20:>8.1f} | "
              f"{ours[0]:>8.3f} {ours[1]:>8} {ours[2] / 2**20:>8.1f} | "
              f"{ratios[size][0]:>6.2f} {ratios[size][1]:>7.2f} {ratios[size][2]:>6.2f}")
    print(f"seconds: the fastest of {'/'.join(map(str, ROUNDS.values()))} rounds; 'time x': the "
          f"median of the rounds' ratios (floor and sync measured back to back); memory: peak "
          f"traced allocations (tracemalloc) of one run; 'mem x' staying level as variants grow "
          f"means the sync's memory grows like Odoo's own creation, no faster")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end")
    if profile_text:
        print(profile_text)
    targets = [s for s in TARGET_SIZES if s in ratios]
    if not targets:
        print(f"targets: not measured (sizes {args.sizes})")
        return 0
    all_met = True
    for size in targets:
        time_x, query_x, _mem_x = ratios[size]
        met = time_x <= TARGET_RATIO and query_x <= TARGET_RATIO
        all_met &= met
        print(f"target for {size} variants: within {TARGET_RATIO}x the floor in time "
              f"({time_x:.2f}x) and queries ({query_x:.2f}x): {'MET' if met else 'MISSED'}")
    first, last = targets[0], targets[-1]
    level = ratios[last][2] <= MEMORY_LEVEL_TOLERANCE * ratios[first][2]
    all_met &= level
    print(f"target memory ratio level from {first} to {last} variants "
          f"({ratios[first][2]:.2f}x -> {ratios[last][2]:.2f}x, at most "
          f"{MEMORY_LEVEL_TOLERANCE}x growth): {'MET' if level else 'MISSED'}")
    print(f"product sync targets: {'MET' if all_met else 'MISSED'}")
    return 0


def measure_floor(env, cr, template, options, trace_memory=False):
    """Create the template with its attribute lines in one create and write the UIDs."""
    from odoo.fields import Command  # noqa: PLC0415
    attributes = env['product.attribute'].search([('name', 'in', [n for n, _v in options])])
    values = {
        (a.name, v.name): v for a in attributes for v in a.value_ids
    }
    uids = {
        frozenset((o['name'], o['value']) for o in variant['variantOptions']):
            variant['productUid']
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
        key = frozenset((v.attribute_id.name, v.name)
                        for v in variant.product_template_attribute_value_ids)
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


def profile_sync(env, cr, ref, size):
    """Time and count the queries of each phase of one sync (wrapping the template's methods
    for the duration of the run, then restoring them), then cProfile another sync."""
    cls = type(env['product.template'])
    stats = {}
    saved = {}

    def wrap(name, method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            started, queries = time.perf_counter(), cr.sql_log_count
            try:
                return method(self, *args, **kwargs)
            finally:
                entry = stats.setdefault(name, [0, 0.0, 0])
                entry[0] += cr.sql_log_count - queries
                entry[1] += time.perf_counter() - started
                entry[2] += 1
        return wrapper

    for name in PHASES:
        saved[name] = cls.__dict__.get(name)
        setattr(cls, name, wrap(name, getattr(cls, name)))
    try:
        cr.execute('SAVEPOINT bench')
        product = env['product.template'].create(
            {'name': 'Synced', 'type': 'consu', 'gelato_template_ref': ref})
        env.flush_all()
        env.invalidate_all()
        started, queries = time.perf_counter(), cr.sql_log_count
        product.action_sync_gelato_template_info()
        sync_total = (cr.sql_log_count - queries, time.perf_counter() - started)
        started, queries = time.perf_counter(), cr.sql_log_count
        env.flush_all()
        final_flush = (cr.sql_log_count - queries, time.perf_counter() - started)
        cr.execute('ROLLBACK TO SAVEPOINT bench')
        env.invalidate_all()
    finally:
        for name, method in saved.items():
            if method is None:
                delattr(cls, name)
            else:
                setattr(cls, name, method)

    lines = [f"profile of the sync of {size} variants, by phase (nested phases are included in "
             f"their caller; 'rest of apply' is what _gelato_apply_template does itself: "
             f"reactivating, writing UIDs, removing extras):"]
    lines.append(f"  {'phase':<36} {'queries':>8} {'seconds':>8}")
    for name in PHASES:
        if name in stats:
            count, seconds, _calls = stats[name]
            lines.append(f"  {name:<36} {count:>8} {seconds:>8.3f}")
    # _gelato_apply_template is not wrapped (it is called inside a savepoint by the action):
    # what is left of the action once its phases are taken out.
    phased = [stats[n] for n in PHASES if n in stats]
    rest_q = sync_total[0] - sum(s[0] for s in phased)
    rest_s = sync_total[1] - sum(s[1] for s in phased)
    lines.append(f"  {'rest of apply (UIDs, extras...)':<36} {rest_q:>8} {rest_s:>8.3f}")
    lines.append(f"  {'final flush':<36} {final_flush[0]:>8} {final_flush[1]:>8.3f}")
    lines.append(f"  {'total':<36} {sync_total[0] + final_flush[0]:>8} "
                 f"{sync_total[1] + final_flush[1]:>8.3f}")

    cr.execute('SAVEPOINT bench')
    product = env['product.template'].create(
        {'name': 'Synced', 'type': 'consu', 'gelato_template_ref': ref})
    env.flush_all()
    env.invalidate_all()
    profiler = cProfile.Profile()
    profiler.enable()
    product.action_sync_gelato_template_info()
    env.flush_all()
    profiler.disable()
    cr.execute('ROLLBACK TO SAVEPOINT bench')
    env.invalidate_all()
    lines.extend(profile_lines(profiler, f"cProfile of the sync of {size} variants", 35,
                               indent=''))
    return '\n'.join(lines)


if __name__ == '__main__':
    sys.exit(main())
