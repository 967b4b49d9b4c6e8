# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import _, api, fields, models

from odoo.addons.gelato_connector import const, utils
from odoo.addons.gelato_connector.exceptions import GelatoError
from odoo.addons.gelato_connector.models.gelato_rate_budget import GelatoRateBudget


class ResConfigSettings(models.TransientModel):
    _inherit = 'res.config.settings'

    gelato_enabled = fields.Boolean(
        string="Gelato Connector", related='company_id.gelato_enabled', readonly=False,
    )
    gelato_api_key = fields.Char(
        related='company_id.gelato_api_key', readonly=False, groups='base.group_system',
    )
    gelato_webhook_secret = fields.Char(
        related='company_id.gelato_webhook_secret', readonly=False, groups='base.group_system',
    )
    gelato_bill_policy = fields.Selection(related='company_id.gelato_bill_policy', readonly=False)
    gelato_approval_mode = fields.Selection(
        related='company_id.gelato_approval_mode', readonly=False)
    gelato_approval_delay_hours = fields.Integer(
        related='company_id.gelato_approval_delay_hours', readonly=False)
    gelato_artwork_retention_days = fields.Integer(
        related='company_id.gelato_artwork_retention_days', readonly=False)
    gelato_vendor_id = fields.Many2one(related='company_id.gelato_vendor_id', readonly=False)
    gelato_responsible_id = fields.Many2one(
        related='company_id.gelato_responsible_id', readonly=False,
    )
    gelato_webhook_url = fields.Char(
        string="Gelato Webhook URL", compute='_compute_gelato_webhook_url',
    )

    gelato_busy_progress = fields.Char(
        string="Gelato Background Work", compute='_compute_gelato_busy_progress',
        help="Where the bulk work with Gelato stands: the daily cost refresh, the products "
             "waiting for a synchronization, and the times Gelato asked Odoo to slow down.",
    )

    # === COMPUTE METHODS === #

    @api.depends('company_id')
    def _compute_gelato_busy_progress(self):
        for settings in self:
            company = settings.company_id
            Product = self.env['product.product'].sudo().with_company(company)
            scope = [('gelato_product_uid', '!=', False), ('company_id', 'in', [False, company.id])]
            total = Product.search_count(scope)
            left = Product.search_count(Product._gelato_costs_due_domain(company))
            waiting = self.env['product.template'].sudo().search_count([
                ('gelato_template_state', '=', 'update_pending'),
                ('company_id', 'in', [False, company.id])])
            api_key = company.sudo().gelato_api_key
            budget = self.env['gelato.rate.budget'].sudo().search([
                ('account', '=', GelatoRateBudget._gelato_account(api_key))], limit=1) \
                if api_key else self.env['gelato.rate.budget']
            settings.gelato_busy_progress = _(
                "Costs refreshed in the last day: %(done)s of %(total)s variants. Products "
                "waiting for a synchronization: %(waiting)s. Gelato asked Odoo to slow down "
                "(429): %(throttled)s times.",
                done=total - left, total=total, waiting=waiting,
                throttled=budget.throttled_count)

    @api.depends('company_id')
    def _compute_gelato_webhook_url(self):
        for settings in self:
            settings.gelato_webhook_url = settings.company_id.get_base_url() + const.WEBHOOK_ROUTE

    # === ACTION METHODS === #

    def action_gelato_test_connection(self):
        """Make one cheap authenticated call to Gelato and say whether the API key works.

        :return: A notification action.
        :rtype: dict
        """
        self.ensure_one()
        company = self.company_id
        service, method, path = const.CONNECTION_TEST_ENDPOINT
        try:
            company._gelato_request(service, method, path, params={'country': 'US'})
        except GelatoError as error:
            return utils.notification(
                'danger', _("Gelato connection failed"), str(error), sticky=True,
            )
        return utils.notification(
            'success', _("Gelato connection works"),
            _("The API key of %(company)s is accepted by Gelato.", company=company.name),
        )
