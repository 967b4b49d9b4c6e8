# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import api, fields, models
from odoo.exceptions import ValidationError


class GelatoClaimLine(models.Model):
    """An item of a claim: which item of the Gelato order, and how many of it."""
    _name = 'gelato.claim.line'
    _description = "Gelato Claim Item"
    _order = 'claim_id, id'

    claim_id = fields.Many2one('gelato.claim', required=True, ondelete='cascade', index=True)
    company_id = fields.Many2one(related='claim_id.company_id', store=True)
    item_id = fields.Many2one(
        'gelato.order.item', string="Item", required=True, ondelete='cascade',
        domain="[('gelato_order_id', '=', parent.gelato_order_id)]")
    sale_line_id = fields.Many2one(related='item_id.sale_line_id', store=True)
    product_id = fields.Many2one(related='item_id.product_id', store=True, string="Product")
    reason = fields.Selection(related='claim_id.reason', store=True)
    quantity = fields.Integer(string="Quantity", default=1, required=True)
    ordered_quantity = fields.Integer(related='item_id.quantity', string="In the Order")

    @api.constrains('quantity', 'item_id')
    def _check_quantity(self):
        for line in self:
            if line.quantity < 0 or line.quantity > line.item_id.quantity:
                raise ValidationError(self.env._(
                    "%(product)s: the claim is about 0 to %(max)s of it (the quantity Gelato "
                    "shipped).", product=line.product_id.display_name,
                    max=line.item_id.quantity))
