# Run by `scripts/dev.sh run` inside `odoo-bin shell` (which provides `env`), after a line
# defining SIMULATOR_URL: points the company at the Gelato simulator and loads demo products.
# Safe to run again: it only fills what is missing.
import json  # noqa: E402
import urllib.request  # noqa: E402

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

with urllib.request.urlopen(SIMULATOR_URL + '/_simulator/state', timeout=10) as answer:  # noqa: F821,S310
    state = json.load(answer)
for ref in state.get('templates') or []:
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
    # Demo print images (the product's picture), so that the product can be sold on /shop.
    for image in product.gelato_image_ids.filtered(lambda i: not i.datas):
        image.datas = product.image_1920 or DEMO_PNG
    if not product.is_published:
        product.is_published = True
# A payment provider that works offline, so that a visitor can complete a purchase.
provider = env.ref('payment.payment_provider_demo', raise_if_not_found=False)  # noqa: F821
if provider and provider.state == 'disabled':
    provider.write({'state': 'test', 'is_published': True, 'company_id': company.id})
    print(f"Payment: {provider.name} enabled (test mode)")  # noqa: T201
env.cr.commit()  # noqa: F821
