# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import fields, models


class ResCompany(models.Model):
    _name = 'res.company'
    _inherit = ['res.company', 'gelato.api.mixin']

    gelato_enabled = fields.Boolean(
        string="Gelato", help="Sell Gelato print-on-demand products from this company.",
    )
    gelato_api_key = fields.Char(
        string="Gelato API Key", groups='base.group_system', copy=False,
    )
    gelato_webhook_secret = fields.Char(
        string="Gelato Webhook Secret", groups='base.group_system', copy=False,
        help="The value of the `signature` header Gelato sends with each webhook.",
    )
