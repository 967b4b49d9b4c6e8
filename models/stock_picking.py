# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import fields, models


class StockPicking(models.Model):
    _inherit = 'stock.picking'

    gelato_tracking_urls = fields.Text(
        string="Gelato Tracking URLs", copy=False, readonly=True,
        help="The tracking links Gelato sent, one per line (http and https only).",
    )

    # === BUSINESS METHODS === #

    def _gelato_add_tracking(self, tracking):
        """Add tracking codes and URLs to the pickings, keeping those already there.

        :param list tracking: `(code, url or None)` pairs.
        """
        for picking in self:
            codes = [c for c in (picking.carrier_tracking_ref or '').split(',') if c]
            urls = (picking.gelato_tracking_urls or '').split()
            for code, url in tracking:
                if code not in codes:
                    codes.append(code)
                if url and url not in urls:
                    urls.append(url)
            values = {'carrier_tracking_ref': ','.join(codes) or False,
                      'gelato_tracking_urls': '\n'.join(urls) or False}
            if any(picking[k] != v for k, v in values.items()):
                picking.write(values)

    def _gelato_mark_shipped(self, tracking, moves=None):
        """Validate the pickings (or only the given moves, leaving a backorder for the rest).

        The goods come from Gelato's supplier location: validating moves no on-hand stock.

        :param list tracking: `(code, url or None)` pairs to keep on the pickings.
        :param stock.move moves: The moves shipped, when only part of the order is.
        """
        for picking in self.filtered(lambda p: p.state not in ('done', 'cancel')):
            picking._gelato_add_tracking(tracking)
            shipped = (moves & picking.move_ids) if moves else picking.move_ids
            shipped = shipped.filtered(lambda m: m.state not in ('done', 'cancel'))
            if not shipped:
                continue
            for move in picking.move_ids.filtered(lambda m: m.state not in ('done', 'cancel')):
                move.quantity = move.product_uom_qty if move in shipped else 0
                move.picked = move in shipped
            # A partial shipment leaves a backorder for what Gelato has not shipped yet.
            picking.with_context(
                skip_backorder=True,
                picking_ids_not_to_backorder=[] if shipped != picking.move_ids else picking.ids,
                skip_sms=True,
            ).button_validate()
