# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""The customer's own pictures: uploaded on the product page, proofed and replaced on the order
page. The rules live on `sale.order` (`_gelato_store_artwork`, `_gelato_customer_approve`)."""

from odoo import http
from odoo.exceptions import AccessError, MissingError, UserError
from odoo.http import request

from odoo.addons.portal.controllers.portal import CustomerPortal

PORTAL_MESSAGE_KEY = 'gelato_connector.portal_message'


class GelatoArtworkController(CustomerPortal):

    @http.route('/shop/gelato/artwork', type='http', auth='public', methods=['POST'],
                website=True, sitemap=False)
    def gelato_cart_artwork(self, product_id, area, ufile, **kwargs):
        """Check and keep a shopper's picture for a print area, before *Add to cart*.

        :return: JSON: `id` of the kept file (null when refused), `error`, `warnings`.
        """
        product = request.env['product.product'].browse(int(product_id)).exists() \
            if str(product_id).isdigit() else None
        try:
            allowed = bool(product) and product._is_add_to_cart_allowed()
        except AccessError:  # A product the visitor may not see: as if it did not exist.
            allowed = False
        if not allowed:
            return request.make_json_response({'error': "Unknown product."}, status=404)
        cart = request.cart or request.website._create_cart()
        try:
            result = cart._gelato_store_artwork(
                product.sudo(), area, ufile.read(), ufile.filename)
        except UserError as error:
            return request.make_json_response({'id': None, 'warnings': [],
                                               'error': error.args[0]}, status=400)
        return request.make_json_response(result)

    @http.route('/my/orders/<int:order_id>/gelato/approve', type='http', auth='public',
                methods=['POST'], website=True, sitemap=False)
    def gelato_portal_approve(self, order_id, access_token=None, **kwargs):
        """The customer approves Gelato's proof of their personalised order."""
        order = self._gelato_portal_order(order_id, access_token)
        try:
            order._gelato_customer_approve()
            message = ('success', request.env._(
                "Thank you: your order goes to print within a few minutes."))
        except UserError as error:
            message = ('warning', error.args[0])
        return self._gelato_back_to(order, message, access_token)

    @http.route('/my/orders/<int:order_id>/gelato/artwork', type='http', auth='public',
                methods=['POST'], website=True, sitemap=False)
    def gelato_portal_replace_artwork(self, order_id, line_id, area, ufile=None,
                                      access_token=None, **kwargs):
        """The customer replaces their picture of a print area while the order waits for their
        approval: checked again, and Gelato makes a new proof."""
        order = self._gelato_portal_order(order_id, access_token)
        line = order.order_line.filtered(lambda ln: str(ln.id) == str(line_id))
        if not line or not order._gelato_held_proofs().filtered(lambda o: not o.approve_at):
            message = ('warning', request.env._(
                "Your order is no longer waiting for your approval: its picture cannot be "
                "changed."))
            return self._gelato_back_to(order, message, access_token)
        try:
            result = order._gelato_store_artwork(
                line.product_id, area, ufile.read() if ufile else b'',
                ufile.filename if ufile else '', line=line)
        except UserError as error:
            result = {'error': error.args[0], 'warnings': []}
        if result['error']:
            message = ('danger', result['error'])
        else:
            message = ('warning' if result['warnings'] else 'success', ' '.join(
                [request.env._("Your picture was replaced: Gelato makes a new proof, shown "
                               "here in a few minutes.")] + result['warnings']))
        return self._gelato_back_to(order, message, access_token)

    def _gelato_portal_order(self, order_id, access_token):
        """The customer's order (sudo), after checking they may see it."""
        try:
            return self._document_check_access('sale.order', order_id, access_token)
        except (AccessError, MissingError):
            raise request.not_found() from None

    @staticmethod
    def _gelato_back_to(order, message, access_token):
        request.session[PORTAL_MESSAGE_KEY] = message
        url = order.get_portal_url()
        if access_token and 'access_token=' not in url:
            url += ('&' if '?' in url else '?') + f'access_token={access_token}'
        return request.redirect(url + '#gelato_proofs')
