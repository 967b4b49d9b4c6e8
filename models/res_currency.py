# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import api, models

from odoo.addons.gelato_connector import utils


class ResCurrency(models.Model):
    _inherit = 'res.currency'

    @api.model
    def _gelato_from_code(self, code):
        """The one look-up of a currency Gelato names (prices, quotes, receipts): by its ISO
        code, active or not (Gelato may bill in a currency the company never activated).

        :param str code: The code Gelato sent; anything else finds nothing.
        :return: The currency, or an empty recordset when Odoo does not know it.
        :rtype: res.currency
        """
        code = utils.clean_str(code, 3)
        if not code:
            return self.browse()
        return self.with_context(active_test=False).search([('name', '=', code)], limit=1)
