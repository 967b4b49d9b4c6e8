# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""Upgrade steps between versions, called by the scripts in `migrations/` (and by the tests).

19.0.2.0.0: a sale order's Gelato order moved from columns of `sale_order` to records of
`gelato.order`. Before the new code loads, the old columns are copied aside
(`snapshot_legacy_orders`); once it is loaded, each order sent by the previous version becomes
one record (`migrate_legacy_orders`).

19.0.2.1.0: the sending state `error` of `gelato.order` is renamed `attention`
(`rename_attention_state`), and an event's text `gelato_order_id` is `remote_order_id`
(`rename_event_order_id`); print image overrides a variant's form lost are repaired
(`repair_lost_variant_overrides`).
"""
import logging

from odoo import fields
from odoo.tools import SQL

from odoo.addons.gelato_connector import utils

_logger = logging.getLogger(__name__)

LEGACY_ORDERS = 'gelato_legacy_sale_order'
LEGACY_LINES = 'gelato_legacy_sale_line'
LEGACY_PICKINGS = 'gelato_legacy_picking'

_ORDER_COLUMNS = ('gelato_order_id', 'gelato_status', 'gelato_min_delivery_date',
                  'gelato_max_delivery_date', 'gelato_shipment_method_uid', 'gelato_outbox_state',
                  'gelato_send_attempts', 'gelato_next_attempt_at', 'gelato_last_error',
                  'gelato_last_update_at')


def _columns(cr, table):
    cr.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s",
               (table,))
    return {row[0] for row in cr.fetchall()}


def _drop_legacy_tables(cr):
    cr.execute(SQL("DROP TABLE IF EXISTS %s", SQL(', ').join(
        map(SQL.identifier, (LEGACY_ORDERS, LEGACY_LINES, LEGACY_PICKINGS)))))


def rename_attention_state(cr):
    """19.0.2.1.0: the sending state "Needs attention" has the key `attention` (it was `error`,
    which said less than its label)."""
    cr.execute("SELECT 1 FROM information_schema.tables WHERE table_name = 'gelato_order'")
    if not cr.fetchone():
        return  # Upgraded from 19.0.1: the Gelato orders are made from the sales afterwards.
    cr.execute("UPDATE gelato_order SET state = 'attention' WHERE state = 'error'")
    _logger.info("Gelato orders needing attention renamed: %s", cr.rowcount)


def rename_event_order_id(cr):
    """19.0.2.1.0: an event's Gelato order id, text, is `remote_order_id` (`gelato_order_id` is
    a link to a Gelato order on the other models)."""
    columns = _columns(cr, 'gelato_event')
    if 'gelato_order_id' in columns and 'remote_order_id' not in columns:
        cr.execute("ALTER TABLE gelato_event RENAME COLUMN gelato_order_id TO remote_order_id")


def repair_lost_variant_overrides(env):
    """19.0.2.1.0: a print image override added on a variant's form was saved without its
    model (the form sends only the area and the file), so it vanished from the variant and no
    one could open it. Each such document, attached to no model but to the id of a Gelato
    variant, becomes that variant's override of its area, as the user meant.

    :return: The documents repaired.
    """
    env.cr.execute("""
        SELECT doc.id FROM product_document doc
          JOIN ir_attachment att ON att.id = doc.ir_attachment_id
          JOIN product_product variant ON variant.id = att.res_id
         WHERE att.res_model IS NULL AND NOT COALESCE(doc.is_gelato, FALSE)
           AND variant.gelato_product_uid IS NOT NULL
    """)
    documents = env['product.document'].browse([row[0] for row in env.cr.fetchall()])
    for document in documents:
        document.write({'res_model': 'product.product', 'is_gelato': True,
                        'name': utils.normalize_print_area(document.name or 'default')})
    if documents:
        _logger.info("Gelato print image overrides repaired: %s", documents.ids)
    return documents


def drop_event_id_index(cr):
    """An event is now unique by company, type and id (Gelato's examples reuse ids across
    types): the previous index, on company and id only, goes."""
    cr.execute("DROP INDEX IF EXISTS gelato_event__event_unique")


def mark_templates_for_resync(env):
    """Have every Gelato product synchronized again in the background, so that the sizes of
    their print areas (new in 19.0.2) are known to the print checks."""
    products = env['product.template'].with_context(active_test=False).search([
        ('gelato_template_ref', '!=', False), ('gelato_template_state', '=', 'synced')])
    products.write({'gelato_template_state': 'update_pending'})
    return products


def snapshot_legacy_orders(cr):
    """Copy the previous version's Gelato columns aside, before the new code loads."""
    columns = _columns(cr, 'sale_order')
    if 'gelato_outbox_state' not in columns or 'gelato_send_attempts' not in columns:
        return  # Not the previous version's schema.
    _drop_legacy_tables(cr)
    cr.execute(SQL(
        "CREATE TABLE %s AS SELECT id, %s FROM sale_order "
        "WHERE gelato_order_id IS NOT NULL OR gelato_outbox_state IS NOT NULL",
        SQL.identifier(LEGACY_ORDERS), SQL(', ').join(map(SQL.identifier, _ORDER_COLUMNS)),
    ))
    if 'gelato_item_status' in _columns(cr, 'sale_order_line'):
        cr.execute(SQL(
            "CREATE TABLE %s AS SELECT l.id, l.order_id, l.gelato_item_status "
            "FROM sale_order_line l JOIN %s o ON o.id = l.order_id",
            SQL.identifier(LEGACY_LINES), SQL.identifier(LEGACY_ORDERS),
        ))
    if 'gelato_tracking_urls' in _columns(cr, 'stock_picking'):
        cr.execute(SQL(
            "CREATE TABLE %s AS SELECT id, carrier_tracking_ref, gelato_tracking_urls "
            "FROM stock_picking "
            "WHERE gelato_tracking_urls IS NOT NULL OR carrier_tracking_ref IS NOT NULL",
            SQL.identifier(LEGACY_PICKINGS),
        ))
    cr.execute(SQL("SELECT count(*) FROM %s", SQL.identifier(LEGACY_ORDERS)))
    _logger.info("Gelato upgrade: %s sale orders to move to Gelato order records",
                 cr.fetchone()[0])


def migrate_legacy_orders(env):
    """Make one `gelato.order` per sale order the previous version sent (or was sending), with
    its status, delivery estimate, shipment method, outbox state, items and packages; then point
    the scheduled actions at the new model. Safe to run twice.

    :return: The records created.
    :rtype: gelato.order
    """
    cr = env.cr
    cr.execute("SELECT to_regclass(%s)", (LEGACY_ORDERS,))
    if not cr.fetchone()[0]:
        return env['gelato.order']
    cr.execute(SQL("SELECT %s FROM %s ORDER BY id",
                   SQL(', ').join(map(SQL.identifier, ('id', *_ORDER_COLUMNS))),
                   SQL.identifier(LEGACY_ORDERS)))
    rows = cr.dictfetchall()
    item_status = {}
    cr.execute("SELECT to_regclass(%s)", (LEGACY_LINES,))
    if cr.fetchone()[0]:
        cr.execute(SQL("SELECT id, gelato_item_status FROM %s", SQL.identifier(LEGACY_LINES)))
        item_status = dict(cr.fetchall())
    tracking_urls = {}
    cr.execute("SELECT to_regclass(%s)", (LEGACY_PICKINGS,))
    if cr.fetchone()[0]:
        cr.execute(SQL("SELECT id, carrier_tracking_ref, gelato_tracking_urls FROM %s",
                       SQL.identifier(LEGACY_PICKINGS)))
        tracking_urls = {pid: (ref, urls) for pid, ref, urls in cr.fetchall()}
    GelatoOrder = env['gelato.order'].sudo()
    created = GelatoOrder
    states = {'sent': 'sent', 'pending': 'pending', 'error': 'attention'}
    for row in rows:
        sale = env['sale.order'].browse(row['id']).exists()
        if not sale or GelatoOrder.search_count([('sale_order_id', '=', sale.id)]):
            continue
        lines = sale.order_line.filtered(lambda line: line.product_id.gelato_product_uid)
        state = 'sent' if row['gelato_order_id'] else states.get(row['gelato_outbox_state'],
                                                                  'pending')
        record = GelatoOrder.create({
            'sale_order_id': sale.id,
            # What the previous version sent as orderReferenceId: the sale order's name.
            'reference': sale.name,
            'origin': 'migrated',
            'gelato_id': row['gelato_order_id'] or False,
            'state': state,
            'status': row['gelato_status'] or False,
            'min_delivery_date': row['gelato_min_delivery_date'],
            'max_delivery_date': row['gelato_max_delivery_date'],
            'shipment_method_uid': row['gelato_shipment_method_uid'] or False,
            'send_attempts': row['gelato_send_attempts'] or 0,
            'next_attempt_at': row['gelato_next_attempt_at'],
            'last_error': row['gelato_last_error'] or False,
            'last_update_at': row['gelato_last_update_at'],
            'sale_line_ids': [fields.Command.set(lines.ids)],
            'item_ids': [fields.Command.create({
                'item_reference': str(line.id), 'sale_line_id': line.id,
                'quantity': int(line.product_uom_qty), 'status': item_status.get(line.id) or False,
            }) for line in lines],
        })
        for picking in sale.picking_ids.filtered(lambda p: p.id in tracking_urls):
            codes = [c for c in (tracking_urls[picking.id][0] or '').split(',') if c]
            urls = (tracking_urls[picking.id][1] or '').split()
            moved = picking.move_ids.sale_line_id
            for index, code in enumerate(codes):
                env['gelato.order.package'].sudo().create({
                    'gelato_order_id': record.id, 'package_ref': code, 'tracking_code': code,
                    'tracking_url': urls[index] if index < len(urls) else False,
                    'item_ids': [fields.Command.set(
                        record.item_ids.filtered(lambda i, m=moved: i.sale_line_id in m).ids)],
                    'picking_id': picking.id if picking.state == 'done' else False,
                })
        created |= record
    for xmlid, code in (('gelato_connector.ir_cron_gelato_outbox', 'model._cron_send_pending()'),
                        ('gelato_connector.ir_cron_gelato_reconcile', 'model._cron_reconcile()')):
        cron = env.ref(xmlid, raise_if_not_found=False)
        if cron and cron.code != code:
            cron.sudo().write({'model_id': env['ir.model']._get_id('gelato.order'), 'code': code})
    outbox = env.ref('gelato_connector.ir_cron_gelato_outbox', raise_if_not_found=False)
    if outbox:
        outbox.sudo().priority = 1
    # Stuck orders are measured from the last status change: the migrated ones from the last
    # time Gelato was heard of.
    created.filtered(lambda o: not o.status_since).write({'status_since': fields.Datetime.now()})
    _drop_legacy_tables(cr)
    _logger.info("Gelato upgrade: %s Gelato order records created", len(created))
    return created


def rename_gelato_carriers(env):
    """Name the Gelato delivery methods so that a salesperson knows they are Gelato's, unless
    someone renamed them already."""
    for xmlid, old, new in (
        ('gelato_connector.delivery_carrier_gelato_standard', "Standard Delivery",
         "Gelato Standard Delivery"),
        ('gelato_connector.delivery_carrier_gelato_express', "Express Delivery",
         "Gelato Express Delivery"),
    ):
        carrier = env.ref(xmlid, raise_if_not_found=False)
        if carrier and carrier.with_context(lang='en_US').name == old:
            carrier.with_context(lang='en_US').name = new
