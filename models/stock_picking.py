# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import api, fields, models


class StockPicking(models.Model):
    _inherit = 'stock.picking'

    gelato_package_ids = fields.One2many(
        'gelato.order.package', 'picking_id', string="Gelato Packages", readonly=True,
    )

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
