# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import api, fields, models

from odoo.addons.gelato_connector import const


class GelatoOrderItem(models.Model):
    """One item of a Gelato order: Gelato's item id, the sale order line it carries, and its own
    status (Gelato moves items one by one: `order_item_status_updated`)."""
    _name = 'gelato.order.item'
    _description = "Gelato Order Item"
    _order = 'gelato_order_id, id'
    _rec_name = 'item_reference'

    gelato_order_id = fields.Many2one(
        'gelato.order', string="Gelato Order", required=True, ondelete='cascade', index=True,
    )
    company_id = fields.Many2one(related='gelato_order_id.company_id', store=True)
    gelato_item_id = fields.Char(string="Gelato Item ID", readonly=True, index='btree_not_null')
    item_reference = fields.Char(
        string="Item Reference", readonly=True, help="The itemReferenceId sent to Gelato.",
    )
    sale_line_id = fields.Many2one(
        'sale.order.line', string="Order Line", readonly=True, ondelete='set null', index=True,
    )
    product_id = fields.Many2one(related='sale_line_id.product_id')
    quantity = fields.Integer(readonly=True)
    status = fields.Selection(
        string="Status", selection=const.ORDER_STATUSES, readonly=True, copy=False,
    )
    preview_url = fields.Char(
        string="Gelato's Preview", readonly=True,
        help="The picture Gelato rendered of the item with its print files (the proof the "
             "customer of a personalised product approves).",
    )
    status_comment = fields.Char(
        string="Gelato's Comment", readonly=True,
        help="Gelato's reason for the item's last status change (failures, holds).",
    )

    # === COMPUTE METHODS === #

    @api.depends('product_id', 'quantity', 'item_reference')
    def _compute_display_name(self):
        for item in self:
            item.display_name = item.product_id.display_name and \
                f"{item.product_id.display_name} × {item.quantity}" or item.item_reference

    # === BUSINESS METHODS === #

    def _gelato_set_status(self, status, comment=None):
        """Move the item to a Gelato status along the allowed transitions.

        :param str status: Gelato's status code.
        :param str comment: Gelato's reason, when it gave one.
        :return: Whether the item changed.
        :rtype: bool
        """
        self.ensure_one()
        if status not in const.STATUS_TRANSITIONS.get(self.status or False, ()):
            return False
        self.write({'status': status, 'status_comment': comment or False})
        return True
