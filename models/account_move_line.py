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
