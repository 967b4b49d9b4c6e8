# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo.addons.website_sale.controllers.main import WebsiteSale


class GelatoWebsiteSale(WebsiteSale):

    def _get_shop_payment_errors(self, order):
        """Override of `website_sale` to show, on the payment step and before any payment, why
        Gelato could not fulfill the cart (the rules live on `sale.order`)."""
        return super()._get_shop_payment_errors(order) + order._gelato_shop_payment_errors()
