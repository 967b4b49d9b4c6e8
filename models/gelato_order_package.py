# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import fields, models


class GelatoOrderPackage(models.Model):
    """One parcel of a Gelato order: its tracking code and link, and the items it holds, kept
    together (Gelato's `shipment.packages[]` of a GET order, or the item `fulfillments` of an
    `order_status_updated` event)."""
    _name = 'gelato.order.package'
    _description = "Gelato Package"
    _order = 'gelato_order_id, id'
    _rec_name = 'tracking_code'

    gelato_order_id = fields.Many2one(
        'gelato.order', string="Gelato Order", required=True, ondelete='cascade', index=True,
    )
    company_id = fields.Many2one(related='gelato_order_id.company_id', store=True)
    package_ref = fields.Char(
        string="Package", readonly=True,
        help="Gelato's package id, or the tracking code when only a webhook described it.",
    )
    tracking_code = fields.Char(readonly=True)
    tracking_url = fields.Char(string="Tracking Link", readonly=True)
    item_ids = fields.Many2many(
        'gelato.order.item', string="Items", readonly=True,
        relation='gelato_order_package_item_rel',
    )
    picking_id = fields.Many2one(
        'stock.picking', string="Delivery", readonly=True, ondelete='set null', index=True,
        help="The delivery validated when this package shipped.",
    )

    _package_unique = models.UniqueIndex(
        "(gelato_order_id, package_ref)", "A Gelato order lists each package once.",
    )
