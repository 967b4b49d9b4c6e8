# Run by `scripts/dev.sh run` inside `odoo-bin shell` (which provides `env`), after a line
# defining SIMULATOR_URL: points the company at the Gelato simulator and loads demo products.
# Safe to run again: it only fills what is missing.
import base64  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import urllib.request  # noqa: E402

from PIL import Image, ImageDraw  # noqa: E402

from odoo.addons.gelato_connector import print_check  # noqa: E402

# A 1x1 PNG, the print image of demo products without a picture.
DEMO_PNG = (b'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4'
            b'nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg==')

env['ir.config_parameter'].set_param(  # noqa: F821
    'gelato_connector.api_url_template', SIMULATOR_URL + '/{service}')  # noqa: F821
company = env.company  # noqa: F821
company.write({
    'gelato_enabled': True,
    'gelato_api_key': 'dev-gelato-key',
    'gelato_webhook_secret': 'dev-gelato-secret',
})
if not company.partner_id.street:
    company.partner_id.write({
        'street': 'Skovvej 1', 'city': 'Copenhagen', 'zip': '2100',
        'country_id': env.ref('base.dk').id, 'email': 'shop@example.com',  # noqa: F821
    })



def print_file(size_mm, color):
    """A print file of a print area's size at the resolution Gelato recommends (a coloured
    field with a frame), base64: demo orders then pass the print checks."""
    width, height = (max(1, round(mm / 25.4 * print_check.RECOMMENDED_DPI)) for mm in size_mm)
    picture = Image.new('RGB', (width, height), color)
    ImageDraw.Draw(picture).rectangle(
        (width // 20, height // 20, width - width // 20, height - height // 20),
        outline=(255, 255, 255), width=max(4, width // 100))
    out = io.BytesIO()
    picture.save(out, format='PNG', optimize=True)
    return base64.b64encode(out.getvalue())


COLORS = [(201, 72, 58), (52, 101, 164), (78, 154, 6), (117, 80, 123)]

with urllib.request.urlopen(SIMULATOR_URL + '/_simulator/state', timeout=10) as answer:  # noqa: F821,S310
    state = json.load(answer)
for n, ref in enumerate(state.get('templates') or []):
    request = urllib.request.Request(
        f'{SIMULATOR_URL}/ecommerce/v1/templates/{ref}',  # noqa: F821
        headers={'X-API-KEY': 'dev-gelato-key'})
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        title = json.load(answer).get('title')
    Product = env['product.template']  # noqa: F821
    product = Product.search([('gelato_template_ref', '=', ref)], limit=1)
    if not product:
        product = Product.create({
            'name': title or ref, 'type': 'consu', 'gelato_template_ref': ref,
            'list_price': 25.0,
        })
    result = product.action_sync_gelato_template_info()
    print(f"{product.name}: {result['params']['message']}")  # noqa: T201
    # Demo print images sized for each print area, so that the product can be sold on /shop and
    # its orders print well: the product's image for its largest variant, and an override for
    # each variant whose area is of another size.
    color = COLORS[n % len(COLORS)]
    sizes = {}
    for variant in product.product_variant_ids:
        for area, size in (variant.gelato_print_area_sizes or {}).items():
            sizes.setdefault(area, {})[variant] = tuple(size)
    for image in product.gelato_image_ids.filtered(lambda i: not i.datas):
        by_variant = sizes.get(image.name) or {}
        if not by_variant:
            image.datas = product.image_1920 or DEMO_PNG
            continue
        largest = max(by_variant.values(), key=lambda wh: wh[0] * wh[1])
        image.datas = print_file(largest, color)
        for variant, size in by_variant.items():
            if size != largest and not variant.gelato_image_ids.filtered(
                    lambda i, a=image.name: i.name == a):
                variant.gelato_image_ids = [(0, 0, {'name': image.name,
                                                    'datas': print_file(size, color)})]
    if not product.is_published:
        product.is_published = True
# A payment provider that works offline, so that a visitor can complete a purchase.
provider = env.ref('payment.payment_provider_demo', raise_if_not_found=False)  # noqa: F821
if provider and provider.state == 'disabled':
    provider.write({'state': 'test', 'is_published': True, 'company_id': company.id})
    print(f"Payment: {provider.name} enabled (test mode)")  # noqa: T201
env.cr.commit()  # noqa: F821
