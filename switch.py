# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""The switch from Odoo's own Gelato modules (`sale_gelato`, `sale_gelato_stock`,
`website_sale_gelato`) to this addon, run by `odoo-bin gelato_switch -d DB` (`cli/`).

How a module's data is handed to another, the way Odoo does it: a record (a field, a selection
value, a carrier) owned by the external ids of two modules is kept when one of them is
uninstalled (`ir.model.data._module_data_uninstall` deletes only what no other module's
external id holds). So the switch is one module operation:

1. `mark`: this addon `to install` and Odoo's three modules `to remove`, in one transaction,
   after `preflight` found nothing that forbids it (the exclusion between them is lifted for
   that one `button_install`, and put back before the commit);
2. Odoo's registry update installs this addon while Odoo's modules are still loaded: this
   addon declares the same fields (`gelato_template_ref`, `gelato_product_uid`,
   `gelato_image_ids`, `is_gelato`, `gelato_api_key`, `gelato_webhook_secret`,
   `gelato_shipping_service_type`, the `gelato` delivery type), so their columns and values
   become shared; its `post_init_hook` runs `hand_over` (carriers, companies, products, the
   orders in flight); then the same update uninstalls Odoo's modules, which takes away only
   what was theirs alone (views, their mail template, their Python code);
3. `finish`, on the registry without Odoo's modules: the adopted orders' delivery pickings,
   the checks that everything handed over is still there, and the report.

Each step knows where the previous run stopped (`stage`): a second run changes nothing.
"""
import json
import logging
import re

from odoo import fields
from odoo.modules.module import get_manifest, get_module_path
from odoo.tools import html2plaintext
from odoo.tools.translate import code_translations

_logger = logging.getLogger(__name__)

MODULE = 'gelato_connector'
ODOO_MODULES = ('sale_gelato', 'sale_gelato_stock', 'website_sale_gelato')
STATE_PARAM = 'gelato_connector.switch_state'  # 'handed_over', then 'done'
REPORT_PARAM = 'gelato_connector.switch_report'
# Odoo's records this addon takes over: (Odoo's external id, this addon's).
CARRIERS = (
    ('sale_gelato.standard_delivery', 'gelato_connector.delivery_carrier_gelato_standard'),
    ('sale_gelato.express_delivery', 'gelato_connector.delivery_carrier_gelato_express'),
)
PRODUCTS = (
    ('sale_gelato.standard_delivery_product',
     'gelato_connector.product_gelato_standard_delivery'),
    ('sale_gelato.express_delivery_product', 'gelato_connector.product_gelato_express_delivery'),
)
# What Odoo's module wrote in the chatter (`sale_gelato/models/sale_order.py` and
# `controlers/main.py`), read in every installed language.
_UNCONFIRMED = "Unable to confirm the order %s on Gelato."
_RETURNED = "Gelato has returned order %(reference)s."


# === WHERE THE SWITCH STANDS === #

def stage(env):
    """Return where the database stands: `start` (Odoo's modules installed, this addon not),
    `interrupted` (a switch was marked but its module operation did not run), `finish`
    (handed over, the last step to do), `done` (switched, or this addon installed without
    Odoo's modules), or `none` (neither is installed).

    :rtype: str
    """
    states = _states(env)
    ours, theirs = states.get(MODULE), {states.get(name) for name in ODOO_MODULES} - {None}
    if ours == 'to install' and theirs <= {'to remove', 'uninstalled', 'uninstallable'}:
        return 'interrupted'
    if ours == 'installed' and not theirs & {'installed', 'to upgrade', 'to remove'}:
        state = env['ir.config_parameter'].sudo().get_param(STATE_PARAM)
        return 'finish' if state == 'handed_over' else 'done'
    if 'installed' in theirs and ours in (None, 'uninstalled', 'uninstallable'):
        return 'start'
    if ours == 'installed' and 'installed' in theirs:
        return 'both'
    return 'none'


def _states(env):
    env.cr.execute("SELECT name, state FROM ir_module_module WHERE name IN %s",
                   ((MODULE, *ODOO_MODULES),))
    return dict(env.cr.fetchall())


def preflight(env):
    """Return why this database cannot be switched, as sentences (empty: it can). Reads only.

    :rtype: list[str]
    """
    problems = []
    if not get_module_path(MODULE):
        problems.append(f"{MODULE} is not in the addons path: add its parent folder to "
                        "--addons-path.")
    else:
        version = (get_manifest(MODULE) or {}).get('version', '')
        if not version.startswith('19.0'):
            problems.append(f"{MODULE} {version} is not a version for Odoo 19.")
    Module = env['ir.module.module'].sudo()
    busy = Module.search([('state', 'in', ('to install', 'to upgrade', 'to remove'))])
    if busy:
        problems.append("Another module operation is pending ({}): finish or cancel it "
                        "first (Apps).".format(', '.join(sorted(busy.mapped('name')))))
    old = Module.search([('name', 'in', ODOO_MODULES), ('state', '=', 'installed')])
    for module in old:
        if not (module.latest_version or '').startswith('19.0'):
            problems.append(f"{module.name} {module.latest_version} is not Odoo 19's: upgrade "
                            "the database to Odoo 19 first.")
    dependents = old.downstream_dependencies().filtered(
        lambda m: m.name not in ODOO_MODULES and m.state != 'uninstalled')
    if dependents:
        problems.append(
            "These modules depend on Odoo's Gelato modules and would be uninstalled with them: "
            "{}. Uninstall or adapt them first.".format(', '.join(sorted(dependents.mapped(
                'name')))))
    env.cr.execute("""
        SELECT gelato_webhook_secret, array_agg(name ORDER BY id)
          FROM res_company WHERE COALESCE(gelato_webhook_secret, '') != ''
         GROUP BY gelato_webhook_secret HAVING count(*) > 1
    """)
    for _secret, names in env.cr.fetchall():
        problems.append(
            "The companies {} share one Gelato webhook secret: this addon finds the company "
            "of each webhook by its secret. Give each company its own (Gelato > Developer > "
            "Webhooks, and Settings) first.".format(', '.join(names)))
    return problems


def mark(env):
    """Mark this addon to install and Odoo's modules to remove, in the current transaction.

    `button_install` refuses modules that exclude each other; the exclusion is lifted for that
    call only and put back before anything is committed.
    """
    Module = env['ir.module.module'].sudo()
    Module.update_list()
    ours = Module.search([('name', '=', MODULE)])
    excluded = ours.exclusion_ids.mapped('name')
    ours._update_exclusions([])
    ours.button_install()
    ours._update_exclusions(excluded)
    Module.search([('name', 'in', ODOO_MODULES), ('state', '=', 'installed')]).button_uninstall()
    env['ir.config_parameter'].sudo().set_param(STATE_PARAM, False)


def cancel_interrupted(env):
    """Put back the module states a switch marked whose module operation never ran."""
    Module = env['ir.module.module'].sudo()
    Module.search([('name', '=', MODULE), ('state', '=', 'to install')]).button_install_cancel()
    Module.search([('name', 'in', ODOO_MODULES), ('state', '=', 'to remove')]) \
        .button_uninstall_cancel()


def is_switching(env):
    """Whether this addon is being installed by a switch (Odoo's modules marked to remove)."""
    return bool(env['ir.module.module'].sudo().search_count(
        [('name', 'in', ODOO_MODULES), ('state', '=', 'to remove')]))


# === HAND-OVER (this addon installed, Odoo's modules still loaded) === #

def hand_over(env):
    """Take over what Odoo's modules hold: carriers, companies, products, orders in flight.
    Safe to run twice. The report is kept for `finish`.

    :return: The report.
    :rtype: dict
    """
    report = {'kept': {}, 'not_kept': [], 'adopted': [], 'notes': []}
    _hand_over_carriers(env, report)
    _hand_over_companies(env, report)
    _hand_over_products(env, report)
    _adopt_orders(env, report)
    ICP = env['ir.config_parameter'].sudo()
    ICP.set_param(REPORT_PARAM, json.dumps(report))
    ICP.set_param(STATE_PARAM, 'handed_over')
    _logger.info("Gelato switch: handed over %s", report['kept'])
    return report


def _hand_over_carriers(env, report):
    """Odoo's Standard/Express Delivery (used by past orders) become this addon's carriers,
    with their names, prices and settings; the ones this addon's data just created go."""
    kept = []
    for pairs in (CARRIERS, PRODUCTS):  # a carrier holds its product: carriers first
        for theirs_xmlid, ours_xmlid in pairs:
            theirs = env.ref(theirs_xmlid, raise_if_not_found=False)
            ours = env.ref(ours_xmlid, raise_if_not_found=False)
            if not theirs:
                report['notes'].append(
                    f"{theirs_xmlid} was deleted before the switch: this addon's own is used.")
                continue
            if ours == theirs:
                kept.append(theirs.id)
                continue
            module, name = ours_xmlid.split('.')
            data = env['ir.model.data'].sudo().search([('module', '=', module),
                                                       ('name', '=', name)])
            data.write({'res_id': theirs.id, 'noupdate': True})
            if ours and theirs._name == 'delivery.carrier':
                ours.sudo().unlink()
            elif ours and not env['sale.order.line'].sudo().search_count(
                    [('product_id', '=', ours.id)], limit=1):
                ours.sudo().with_context(active_test=False).product_tmpl_id.unlink()
            kept.append(theirs.id)
    carriers = env['delivery.carrier'].sudo().with_context(active_test=False).search(
        [('delivery_type', '=', 'gelato')])
    report['kept']['carriers'] = carriers.ids


def _hand_over_companies(env, report):
    companies = env['res.company'].sudo().with_context(active_test=False).search(
        [('gelato_api_key', '!=', False)])
    companies.filtered(lambda c: not c.gelato_enabled).write({'gelato_enabled': True})
    report['kept']['api_keys'] = companies.ids
    report['kept']['webhook_secrets'] = companies.filtered('gelato_webhook_secret').ids
    for company in companies.filtered(lambda c: not c.gelato_webhook_secret):
        report['not_kept'].append(
            f"{company.name}: no webhook secret was set; Gelato's events are refused until one "
            "is (Settings > Gelato).")


def _hand_over_products(env, report):
    """The products keep their links and print images (shared columns); each is synchronized
    again in the background so that what this addon knows more (print area sizes, costs,
    regional availability) is filled in."""
    Template = env['product.template'].sudo().with_context(active_test=False)
    templates = Template.search([('gelato_template_ref', '!=', False)])
    variants = env['product.product'].sudo().with_context(active_test=False).search(
        [('gelato_product_uid', '!=', False)])
    images = env['product.document'].sudo().search([('is_gelato', '=', True)])
    report['kept']['templates'] = templates.ids
    report['kept']['variants'] = variants.ids
    report['kept']['images'] = images.ids
    report['kept']['images_with_file'] = images.filtered('datas').ids
    unsynced = variants.product_tmpl_id - templates
    for template in unsynced:
        report['notes'].append(
            f"{template.display_name} has Gelato product UIDs but no template reference: it "
            "is sold as is, and cannot be synchronized.")
    templates.filtered(lambda t: t.gelato_template_state != 'update_pending').write(
        {'gelato_template_state': 'update_pending'})


def _chatter_phrases(env, source, module='sale_gelato'):
    """The sentence `source` of Odoo's module in every installed language, as regexes whose
    group is what the placeholder held."""
    texts = {source}
    for code, _name in env['res.lang'].get_installed():
        translated = code_translations.get_python_translations(module, code).get(source)
        if translated:
            texts.add(translated)
    patterns = []
    for text in texts:
        pattern = re.escape(text)
        pattern = re.sub(r'%(\\\(\w+\\\))?s', '(.+?)', pattern)
        patterns.append(re.compile(pattern))
    return patterns


def _delivered_phrases(env):
    """The "has been delivered" sentence of Odoo's status mail, in every installed language."""
    template = env.ref('sale_gelato.order_status_update', raise_if_not_found=False)
    phrases = set()
    for code, _name in env['res.lang'].get_installed() if template else ():
        body = template.with_context(lang=code).body_html or ''
        match = re.search(r"order_delivered'\)\">(.*?)<br", body, re.S)
        if match and (text := ' '.join(html2plaintext(match[1]).split())):
            phrases.add(text)
    return phrases


def _adopt_orders(env, report):
    """Each confirmed order Odoo's module sent that Gelato has not delivered, returned or
    canceled becomes a `gelato.order` (`origin` switched) under the reference Odoo's module
    sent (the sale order's id), with Gelato's id when Odoo's module wrote it in the chatter.
    The next webhook or the reconciliation finds it at Gelato by that reference and checks its
    items before following it (`gelato.order._gelato_take_over`)."""
    GelatoOrder = env['gelato.order'].sudo()
    root = env.ref('base.partner_root')
    unconfirmed = _chatter_phrases(env, _UNCONFIRMED)
    returned = _chatter_phrases(env, _RETURNED, module='sale_gelato')
    delivered = _delivered_phrases(env)
    sales = env['sale.order'].sudo().search([('state', '=', 'sale')], order='id')
    skipped = {'delivered': [], 'returned': []}
    for sale in sales:
        lines = sale.order_line.filtered(lambda line: line.product_id.gelato_product_uid)
        if not lines or GelatoOrder.search_count([('sale_order_id', '=', sale.id)]):
            continue
        if not sale.company_id.gelato_api_key:
            report['not_kept'].append(
                f"{sale.name}: its company has no Gelato API key, so Odoo's module did not send "
                "it; not followed.")
            continue
        notes = [' '.join(html2plaintext(message.body or '').split())
                 for message in sale.message_ids if message.author_id == root]
        if any(phrase in note for phrase in delivered for note in notes):
            skipped['delivered'].append(sale.name)
            continue
        if any(pattern.search(note) for pattern in returned for note in notes):
            skipped['returned'].append(sale.name)
            continue
        gelato_id = False
        for note in notes:
            for pattern in unconfirmed:
                if (match := pattern.search(note)) and re.fullmatch(r'[\w-]+', match[1]):
                    gelato_id = match[1]
        delivery = sale.order_line.filtered(
            lambda line: line.is_delivery and line.product_id.default_code in ('normal',
                                                                               'express'))
        record = GelatoOrder.create({
            'sale_order_id': sale.id,
            # Odoo's module's orderReferenceId (`sale_gelato`: `_create_order_on_gelato`).
            'reference': str(sale.id),
            'origin': 'switched',
            'gelato_id': gelato_id,
            'state': 'sent',
            'shipment_method_uid': delivery[:1].product_id.default_code or 'cheapest',
            'sale_line_ids': [fields.Command.set(lines.ids)],
            'item_ids': [fields.Command.create({
                # Odoo's module's itemReferenceId: the product's id.
                'item_reference': str(line.product_id.id), 'sale_line_id': line.id,
                'quantity': int(line.product_uom_qty),
            }) for line in lines],
            'status_since': fields.Datetime.now(),
        })
        sale._gelato_note(env._(
            "Followed by the Gelato connector from now on (sent by Odoo's Gelato module, "
            "reference %s).", record.reference))
        report['adopted'].append({'sale': sale.name, 'sale_id': sale.id, 'order_id': record.id,
                                  'gelato_id': gelato_id or None})
        if gelato_id:
            report['notes'].append(
                f"{sale.name}: Odoo's module could not confirm its draft {gelato_id} at Gelato; "
                "it is followed, and stays a draft until approved in Gelato's dashboard.")
    for why, names in skipped.items():
        if names:
            report['notes'].append(
                "Already {} (Odoo's module told the customer), not followed: {}.".format(
                    why, ', '.join(names)))


# === FINISH (Odoo's modules uninstalled) === #

def finish(env):
    """Give the adopted orders their delivery picking (Odoo's `sale_gelato_stock` made none for
    Gelato goods), check that what was handed over is still there, and close the switch.

    :return: The report, with `checks` (what was found after the uninstall).
    :rtype: dict
    """
    ICP = env['ir.config_parameter'].sudo()
    report = json.loads(ICP.get_param(REPORT_PARAM) or '{}')
    kept = report.get('kept', {})
    pickings = 0
    for adopted in report.get('adopted', []):
        order = env['gelato.order'].sudo().browse(adopted['order_id']).exists()
        sale = order.sale_order_id
        if sale and not sale.picking_ids.filtered(lambda p: p.state != 'cancel'):
            order.sale_line_ids._action_launch_stock_rule()
            pickings += len(sale.picking_ids)
    report['pickings_created'] = pickings
    report['checks'] = verify(env, kept)
    ICP.set_param(STATE_PARAM, 'done')
    ICP.set_param(REPORT_PARAM, json.dumps(report))
    return report


def verify(env, kept):
    """Count what is still there of what was handed over: {name: (found, expected)}."""
    def alive(model, ids, domain):
        return env[model].sudo().with_context(active_test=False).search_count(
            [('id', 'in', ids or [])] + domain)

    return {
        'templates': (alive('product.template', kept.get('templates'),
                            [('gelato_template_ref', '!=', False)]),
                      len(kept.get('templates', []))),
        'variants': (alive('product.product', kept.get('variants'),
                           [('gelato_product_uid', '!=', False)]), len(kept.get('variants', []))),
        'images': (alive('product.document', kept.get('images'), [('is_gelato', '=', True)]),
                   len(kept.get('images', []))),
        'images_with_file': (alive('product.document', kept.get('images_with_file'),
                                   [('checksum', '!=', False)]),
                             len(kept.get('images_with_file', []))),
        'carriers': (alive('delivery.carrier', kept.get('carriers'),
                           [('delivery_type', '=', 'gelato')]), len(kept.get('carriers', []))),
        'api_keys': (alive('res.company', kept.get('api_keys'), [('gelato_api_key', '!=', False)]),
                     len(kept.get('api_keys', []))),
        'webhook_secrets': (alive('res.company', kept.get('webhook_secrets'),
                                  [('gelato_webhook_secret', '!=', False)]),
                            len(kept.get('webhook_secrets', []))),
    }


def describe(report):
    """The report as lines for the terminal."""
    lines = []
    labels = {
        'templates': "products with a Gelato template reference",
        'variants': "variants with a Gelato product UID",
        'images': "print images",
        'images_with_file': "print images with their file",
        'carriers': "Gelato delivery methods",
        'api_keys': "company API keys",
        'webhook_secrets': "company webhook secrets",
    }
    for key, (found, expected) in (report.get('checks') or {}).items():
        mark_ = 'kept' if found == expected else 'LOST'
        lines.append(f"  {mark_}: {found} of {expected} {labels.get(key, key)}")
    adopted = report.get('adopted', [])
    lines.append(f"  orders in flight adopted: {len(adopted)}"
                 + (" ({})".format(', '.join(a['sale'] for a in adopted)) if adopted else ''))
    lines.append(f"  delivery pickings created for them: {report.get('pickings_created', 0)}")
    for text in report.get('not_kept', []):
        lines.append(f"  not kept: {text}")
    for text in report.get('notes', []):
        lines.append(f"  note: {text}")
    return lines
