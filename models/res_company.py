# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import hmac

from odoo import api, fields, models, tools
from odoo.exceptions import ValidationError

from odoo.addons.gelato_connector import const


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
    # When Gelato may print a confirmed order (support.gelato.com, "What is our default order
    # approval workflow?": instant, delayed, manual): held orders wait at Gelato as drafts.
    gelato_approval_mode = fields.Selection(
        string="Gelato Order Approval",
        selection=[('instant', "Instant: printed at once"),
                   ('delayed', "Delayed: approved automatically after a delay"),
                   ('manual', "Manual: someone approves each order")],
        default='instant', required=True,
        help="A held order waits at Gelato as a draft: nothing is printed or charged until it is "
             "approved.",
    )
    gelato_approval_delay_hours = fields.Integer(
        string="Approval Delay (hours)", default=24,
        help="Delayed approval: how long after confirmation an order is approved.",
    )
    gelato_artwork_retention_days = fields.Integer(
        string="Keep Customer Artwork (days)", default=const.ARTWORK_RETENTION_DAYS,
        help="How long the customers' own pictures are kept after their order was delivered "
             "(personal data); 0 keeps them.",
    )
    gelato_bill_policy = fields.Selection(
        string="Gelato Bills",
        selection=[('order', "One draft bill per Gelato order"), ('day', "One draft bill per day")],
        default='order', required=True,
        help="How what Gelato charged (its receipts) becomes draft vendor bills.",
    )
    gelato_vendor_id = fields.Many2one(
        'res.partner', string="Gelato Vendor",
        help="The vendor of Gelato's bills; the partner \"Gelato\" the connector created when "
             "empty.",
    )
    gelato_responsible_id = fields.Many2one(
        'res.users', string="Gelato Responsible",
        domain="[('share', '=', False), ('company_ids', 'in', id)]",
        help="Who gets the to-dos about Gelato orders that have no salesperson and no sales "
             "team leader.",
    )

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        companies = super().create(vals_list)
        if any(vals.get('gelato_webhook_secret') for vals in vals_list):
            self.env.registry.clear_cache()  # The webhook secrets are cached.
        return companies

    def write(self, vals):
        res = super().write(vals)
        if {'gelato_webhook_secret', 'gelato_enabled', 'active'} & set(vals):
            self.env.registry.clear_cache()  # The webhook secrets are cached.
        return res

    # === BUSINESS METHODS === #

    @api.constrains('gelato_approval_delay_hours')
    def _check_gelato_approval_delay(self):
        for company in self:
            if not 1 <= company.gelato_approval_delay_hours <= const.APPROVAL_DELAY_MAX_HOURS:
                raise ValidationError(self.env._(
                    "The Gelato approval delay is between 1 and %s hours.",
                    const.APPROVAL_DELAY_MAX_HOURS))

    @api.constrains('gelato_artwork_retention_days')
    def _check_gelato_artwork_retention(self):
        for company in self:
            if company.gelato_artwork_retention_days < 0:
                raise ValidationError(self.env._(
                    "The days the customers' artwork is kept after delivery cannot be negative "
                    "(0 keeps it)."))

    @api.constrains('gelato_webhook_secret')
    def _check_gelato_webhook_secret_unique(self):
        """One webhook secret, one company: the webhook finds the company by the secret Gelato
        signs with, so two companies sharing one would receive each other's events."""
        for company in self.sudo().filtered('gelato_webhook_secret'):
            if self.sudo().search_count([('id', '!=', company.id),
                                         ('gelato_webhook_secret', '=',
                                          company.gelato_webhook_secret)], limit=1):
                raise ValidationError(self.env._(
                    "Another company already uses this Gelato webhook secret: each company "
                    "needs its own (Gelato > Developer > Webhooks > Generate key)."))

    def _gelato_vendor(self):
        """The vendor of Gelato's bills for this company."""
        self.ensure_one()
        return self.gelato_vendor_id or self.env.ref('gelato_connector.partner_gelato')

    @api.model
    def _gelato_company_for_signature(self, signature):
        """Return the company whose webhook secret equals the `signature` header.

        Every secret is compared, in constant time, so that the answer time says nothing about
        which secret came close.

        :param str signature: The header's value.
        :return: The company, or an empty recordset.
        :rtype: res.company
        """
        if not isinstance(signature, str) or not signature:
            return self.browse()
        given = signature.encode()
        match = None
        for company_id, secret in self._gelato_webhook_secrets():
            if hmac.compare_digest(secret.encode(), given) and match is None:
                match = company_id
        return self.browse(match)

    @api.model
    @tools.ormcache()
    def _gelato_webhook_secrets(self):
        """The `(company id, webhook secret)` pairs of the companies that use Gelato (cached)."""
        self.env.cr.execute("""
            SELECT id, gelato_webhook_secret FROM res_company
             WHERE gelato_enabled AND active AND COALESCE(gelato_webhook_secret, '') != ''
        """)
        return tuple(self.env.cr.fetchall())
