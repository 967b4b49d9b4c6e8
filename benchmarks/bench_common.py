"""What the benchmark scripts share: a synchronized Gelato product ready to sell, and a cProfile
printout. Imported by the scripts of this folder (run as `python benchmarks/<script>.py`)."""
import io
import pstats

# A 1x1 PNG, the print image of the benchmarks' products.
PNG = ('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJRU5E'
       'rkJggg==')


def synced_product(env, simulator, ref, options, name=None):
    """The product of the simulator's template `ref` (made with `options`), synchronized, with
    every print image: ready to be ordered."""
    simulator.make_template(ref, options)
    product = env['product.template'].search([('gelato_template_ref', '=', ref)], limit=1) \
        or env['product.template'].create({
            'name': name or f'Bench {ref}', 'type': 'consu', 'gelato_template_ref': ref,
            'list_price': 30.0})
    result = product.action_sync_gelato_template_info()
    if result['params']['type'] == 'danger':
        raise RuntimeError(result['params']['message'])
    for image in product.gelato_image_ids.filtered(lambda i: not i.file_size):
        image.datas = PNG
    return product


def profile_lines(profiler, title, top, indent='  '):
    """A cProfile's `top` functions by cumulative time, as indented lines under `title`."""
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats('cumulative').print_stats(top)
    return [f"{indent}{title} (top {top} by cumulative time):"] + [
        f"{indent}  {line}" for line in out.getvalue().splitlines() if line.strip()]
