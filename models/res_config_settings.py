# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import _, api, fields, models

from odoo.addons.gelato_connector import const, utils
from odoo.addons.gelato_connector.exceptions import GelatoError


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

    # === COMPUTE METHODS === #

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
