# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import fields, models


class AccountMoveLine(models.Model):
    _inherit = 'account.move.line'

    gelato_receipt_ref = fields.Char(
        string="Gelato Receipt", readonly=True, copy=False, index='btree_not_null',
        help="The Gelato receipt this bill line comes from: a receipt is billed once.",
    )
    gelato_receipt_hash = fields.Char(readonly=True, copy=False)
    gelato_order_id = fields.Many2one(
        'gelato.order', string="Gelato Order", readonly=True, copy=False, index='btree_not_null',
        ondelete='set null',
    )
    gelato_receipt_total = fields.Float(
        string="Gelato Receipt Total", readonly=True, copy=False,
        help="What Gelato's receipt charged in all, VAT included (`totalInclVat`), in the bill's "
             "currency: the bill is checked against it.",
    )
