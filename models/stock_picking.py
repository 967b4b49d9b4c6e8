# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import api, fields, models


class StockPicking(models.Model):
    _inherit = 'stock.picking'

    gelato_package_ids = fields.One2many(
        'gelato.order.package', 'picking_id', string="Gelato Packages", readonly=True,
    )
    # A replacement's delivery is not the sale's (`sale_id`): Odoo would link its moves to the
    # sale's lines when it is done (`sale_stock`'s `_action_done`), counting the goods delivered
    # twice. It is found from the claim, the replacement's Gelato order and its origin.
    gelato_replacement_id = fields.Many2one(
        'gelato.order', string="Gelato Replacement", readonly=True, index='btree_not_null',
        help="The replacement Gelato order this delivery ships; the sale's delivered quantities "
             "stay what was ordered.")

    # === BUSINESS METHODS === #

    @api.model
    def _gelato_ship_lines(self, lines, tracking):
        """Validate the Gelato moves of sale order lines that Gelato shipped.

        The goods come from Gelato's supplier location: validating moves no on-hand stock. What
        else the delivery holds stays in a backorder for a later package.

        :param sale.order.line lines: The lines that left Gelato.
        :param list tracking: `(code, url or None)` pairs of the parcel; codes are added to the
                              delivery's tracking reference.
        :return: The delivery validated (empty when nothing was left to ship).
        :rtype: stock.picking
        """
        moves = lines.move_ids.filtered(
            lambda m: m.state not in ('done', 'cancel') and m.location_id.usage == 'supplier')
        done = self.browse()
        for picking in moves.picking_id:
            shipped = moves & picking.move_ids
            picking._gelato_add_tracking(tracking)
            for move in picking.move_ids.filtered(lambda m: m.state not in ('done', 'cancel')):
                move.quantity = move.product_uom_qty if move in shipped else 0
                move.picked = move in shipped
            partial = bool(picking.move_ids.filtered(
                lambda m, s=shipped: m.state not in ('done', 'cancel') and m not in s))
            picking.with_context(
                skip_backorder=True, skip_sms=True,
                picking_ids_not_to_backorder=[] if partial else picking.ids,
            ).button_validate()
            done |= picking
        if not moves:
            # Already shipped: keep the (possibly new) tracking code on the delivery it left with.
            lines.move_ids.picking_id.filtered(lambda p: p.state == 'done')._gelato_add_tracking(
                tracking)
        return done

    @api.model
    def _gelato_replacement_picking(self, replacement, quantities):
        """The delivery of a replacement: from Gelato's supplier location to the customer, one
        move per line with the claim's quantity.

        :param gelato.order replacement: The replacement's Gelato order.
        :param dict quantities: sale line -> quantity.
        :rtype: stock.picking
        """
        sale = replacement.sale_order_id
        warehouse = sale.warehouse_id
        self.env['stock.route']._gelato_pod_route(warehouse)
        source = self.env.ref('gelato_connector.stock_location_gelato')
        destination = sale.partner_shipping_id.property_stock_customer \
            or self.env.ref('stock.stock_location_customers')
        picking = self.sudo().create({
            'picking_type_id': warehouse.out_type_id.id,
            'location_id': source.id, 'location_dest_id': destination.id,
            'partner_id': sale.partner_shipping_id.id,
            'origin': f"{sale.name} ({replacement.reference})",
            'carrier_id': sale.carrier_id.id,
            'company_id': sale.company_id.id,
            'gelato_replacement_id': replacement.id,
            'move_ids': [fields.Command.create({
                'product_id': line.product_id.id, 'product_uom_qty': quantity,
                'product_uom': line.product_uom_id.id, 'location_id': source.id,
                'location_dest_id': destination.id, 'company_id': sale.company_id.id,
            }) for line, quantity in quantities.items()],
        })
        picking.action_confirm()
        return picking

    def _gelato_ship_replacement(self, tracking, everything=False):
        """Validate a replacement's delivery once Gelato shipped it, with its tracking codes.

        :param list tracking: `(code, url or None)` pairs of the parcels shipped.
        :param bool everything: Whether the whole replacement shipped (else only when a package
                                names it).
        """
        for picking in self.filtered(lambda p: p.state not in ('done', 'cancel')):
            if not tracking and not everything:
                continue
            picking._gelato_add_tracking(tracking)
            for move in picking.move_ids.filtered(lambda m: m.state not in ('done', 'cancel')):
                move.quantity = move.product_uom_qty
                move.picked = True
            picking.with_context(skip_backorder=True, skip_sms=True,
                                 picking_ids_not_to_backorder=picking.ids).button_validate()
        self.filtered(lambda p: p.state == 'done')._gelato_add_tracking(tracking)

    def _gelato_add_tracking(self, tracking):
        """Add tracking codes to the deliveries, keeping those already there.

        :param list tracking: `(code, url or None)` pairs.
        """
        for picking in self:
            codes = [c for c in (picking.carrier_tracking_ref or '').split(',') if c]
            for code, _url in tracking:
                if code and code not in codes:
                    codes.append(code)
            value = ','.join(codes) or False
            if picking.carrier_tracking_ref != value:
                picking.carrier_tracking_ref = value
