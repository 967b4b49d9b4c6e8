# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import fields, models
from odoo.exceptions import UserError

from odoo.addons.gelato_connector import const


class DeliveryCarrier(models.Model):
    _inherit = 'delivery.carrier'

    delivery_type = fields.Selection(
        selection_add=[('gelato', "Gelato")], ondelete={'gelato': 'set default'},
    )
    gelato_shipping_service_type = fields.Selection(
        string="Gelato Shipping Service Type",
        selection=[('normal', "Standard Delivery"), ('express', "Express Delivery")],
        default='normal',
    )

    # === BUSINESS METHODS === #

    def _is_available_for_order(self, order):
        """Override of `delivery` to offer Gelato methods to Gelato orders only, and only them."""
        if not self._gelato_fits(order._gelato_is_gelato_order()):
            return False
        return super()._is_available_for_order(order)

    def available_carriers(self, partner, source):
        """Override of `delivery` to keep Gelato methods for Gelato orders and pickings only."""
        carriers = super().available_carriers(partner, source)
        if source._name == 'sale.order':
            is_gelato = source._gelato_is_gelato_order()
        elif source._name == 'stock.picking':
            is_gelato = any(source.move_ids.product_id.mapped('gelato_product_uid'))
        else:
            return carriers
        return carriers.filtered(lambda c: c._gelato_fits(is_gelato))

    def _gelato_fits(self, is_gelato):
        """The one carrier exclusivity rule: Gelato's methods for Gelato goods, and only them."""
        self.ensure_one()
        return (self.delivery_type == 'gelato') == bool(is_gelato)

    def gelato_rate_shipment(self, order):
        """Price the shipping of the order with this service type, from Gelato's quote.

        Called by `delivery`'s `rate_shipment`. The price is the sum, over Gelato's quotes (one per
        production site), of the cheapest method of this type, in the order's currency. One quote
        of Gelato serves both Gelato delivery methods (`sale.order._gelato_quote`); rating writes
        nothing else on the order: the shipment method is fixed when a delivery method is set.

        :param sale.order order: The order to ship.
        :return: `{'success', 'price', 'error_message', 'warning_message'}`
        :rtype: dict
        """
        self.ensure_one()
        if not order._gelato_lines():
            return self._gelato_rate_failure(self.env._("The order has no Gelato product."))
        if problems := order._gelato_address_problems():
            return self._gelato_rate_failure(' '.join(problems))
        if problem := order._gelato_express_phone_problem(self):
            return self._gelato_rate_failure(problem)
        if problem := order._gelato_currency_problem():
            return self._gelato_rate_failure(problem)
        try:
            quotes = order._gelato_quote()
        except UserError as error:  # Gelato's refusal, or an address that cannot be sent.
            return self._gelato_rate_failure(error.args[0])
        total = 0.0
        for entry in quotes:
            methods = [
                m for m in (entry.get('shipmentMethods') or []) if isinstance(m, dict)
                and m.get('type') in const.QUOTE_METHOD_TYPES[self.gelato_shipping_service_type]
                and isinstance(m.get('price'), (int, float))
            ]
            if not methods:
                return self._gelato_rate_failure(self.env._(
                    "Gelato does not offer %(service)s to %(country)s for this order.",
                    service=dict(self._fields['gelato_shipping_service_type']._description_selection(
                        self.env))[self.gelato_shipping_service_type],
                    country=order.partner_shipping_id.country_id.name,
                ))
            cheapest = min(methods, key=lambda m: m['price'])
            try:
                total += order._gelato_convert_amount(cheapest['price'], cheapest.get('currency'))
            except UserError as error:
                return self._gelato_rate_failure(error.args[0])
        return {'success': True, 'price': total, 'error_message': False, 'warning_message': False}

    def gelato_send_shipping(self, pickings):
        """Gelato ships the parcels itself: nothing to book. Called by `delivery`."""
        return [{'exact_price': 0.0, 'tracking_number': picking.carrier_tracking_ref or False}
                for picking in pickings]

    def gelato_get_tracking_link(self, picking):
        """Return the tracking link of the Gelato package the delivery left with. Called by
        `delivery` for the delivery's Tracking button."""
        urls = picking.sudo().gelato_package_ids.filtered('tracking_url').mapped('tracking_url')
        return urls[0] if urls else False

    def gelato_cancel_shipment(self, pickings):
        """Refuse to cancel a parcel Gelato shipped: nothing can be canceled at Gelato once it
        left the hub, so Odoo keeps the delivery and its tracking as they are. Called by
        `delivery` (the delivery's Cancel link, hidden for Gelato deliveries).

        :raise UserError: Saying what to do instead.
        """
        raise UserError(self.env._(
            "A parcel Gelato has shipped cannot be canceled: the delivery and its tracking stay "
            "as they are. Before production, cancel the sales order (Gelato is asked first); "
            "for a damaged or lost parcel, contact Gelato's support."))

    @staticmethod
    def _gelato_rate_failure(message):
        return {'success': False, 'price': 0.0, 'error_message': message,
                'warning_message': False}
