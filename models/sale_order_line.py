# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import api, fields, models

from odoo.addons.gelato_connector import const, utils


class SaleOrderLine(models.Model):
    _inherit = 'sale.order.line'

    gelato_item_ids = fields.One2many(
        'gelato.order.item', 'sale_line_id', string="Gelato Items", readonly=True, copy=False,
    )
    gelato_item_status = fields.Selection(
        string="Gelato Item Status", selection=const.ORDER_STATUSES,
        compute='_compute_gelato_item_status',
        help="The status of the line's item in its current Gelato order.",
    )
    gelato_availability_warning = fields.Char(compute='_compute_gelato_availability_warning')

    # === COMPUTE METHODS === #

    @api.depends('gelato_item_ids.status', 'gelato_item_ids.gelato_order_id.state')
    def _compute_gelato_item_status(self):
        for line in self:
            items = line.gelato_item_ids.filtered(
                lambda i: i.gelato_order_id.state not in ('replaced', 'cancel'))
            line.gelato_item_status = items.sorted('id', reverse=True)[:1].status or False

    @api.depends('product_id', 'order_id.partner_shipping_id.country_id')
    def _compute_gelato_availability_warning(self):
        for line in self:
            line.gelato_availability_warning = line._gelato_out_of_stock_message() or False

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        lines = super().create(vals_list)
        lines.order_id._gelato_check_no_mixing(changed_lines=lines)
        return lines

    def write(self, vals):
        res = super().write(vals)
        if 'product_id' in vals or 'display_type' in vals:
            self.order_id._gelato_check_no_mixing(changed_lines=self)
        if {'product_id', 'product_uom_qty'} & set(vals):
            # Other goods for a held order: Gelato's draft is replaced.
            self.order_id.gelato_order_ids.sudo().filtered(
                lambda o: o.is_held and o.state == 'sent')._gelato_replace_held()
        return res

    # === ONCHANGE METHODS === #

    @api.onchange('product_id')
    def _onchange_gelato_availability(self):
        if message := self._gelato_out_of_stock_message():
            return {'warning': {'title': self.env._("Out of stock at Gelato"), 'message': message}}
        return None

    # === BUSINESS METHODS === #

    def _gelato_out_of_stock_message(self):
        """Say when the line's variant is out of stock at Gelato where the order ships.

        :rtype: str | None
        """
        self.ensure_one()
        product = self.product_id
        if not product.gelato_product_uid:
            return None
        country = self.order_id.partner_shipping_id.country_id
        region = utils.stock_region(country.code)
        if not product._gelato_out_of_stock_in_region(region):
            return None
        if country:
            return self.env._(
                "%(product)s is out of stock at Gelato for %(country)s (region %(region)s): the "
                "order cannot be confirmed with it.",
                product=product.display_name, country=country.name, region=region,
            )
        return self.env._(
            "%(product)s is out of stock at Gelato for the region %(region)s: the order cannot "
            "be confirmed with it.", product=product.display_name, region=region,
        )

    def _gelato_cart_warning(self):
        """The webshop's warning for a cart line that cannot be bought where the shopper is."""
        self.ensure_one()
        if not self.product_id.gelato_product_uid:
            return None
        country = self.order_id._gelato_shopper_country()
        if not country or not self.product_id._gelato_out_of_stock_in(country):
            return None
        return self.env._(
            "Out of stock for delivery to %(country)s: please remove it from your cart or "
            "choose another option.", country=country.name,
        )

    def _prepare_procurement_values(self):
        """Override of `sale_stock` to route Gelato goods through the print-on-demand route: one
        outgoing picking from Gelato's supplier location straight to the customer."""
        values = super()._prepare_procurement_values()
        if self.product_id.gelato_product_uid:
            route = self.env['stock.route']._gelato_pod_route(self.warehouse_id)
            values['route_ids'] = route
        return values
