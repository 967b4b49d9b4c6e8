# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import api, models


class StockRoute(models.Model):
    _inherit = 'stock.route'

    # === BUSINESS METHODS === #

    @api.model
    def _gelato_pod_route(self, warehouse):
        """Return the print-on-demand route, with a rule for the warehouse's deliveries.

        The rule pulls Gelato goods from the Gelato supplier location straight to the customer:
        one outgoing picking that tracks the shipment without touching on-hand stock.

        :param stock.warehouse warehouse: The warehouse of the order.
        :return: The route.
        :rtype: stock.route
        """
        route = self.env.ref('gelato_connector.route_gelato_pod').sudo()
        rule = route.rule_ids.filtered(lambda r: r.picking_type_id == warehouse.out_type_id)
        if rule and not all(rule.mapped('propagate_carrier')):
            # The delivery carries the sale's Gelato delivery method: Odoo's tracking link works.
            rule.propagate_carrier = True
        if warehouse and not rule:
            # Rules are created on demand: one per warehouse, in the warehouse's company.
            self.env['stock.rule'].sudo().create({
                'name': f"{warehouse.code}: Gelato → Customers",
                'route_id': route.id,
                'action': 'pull',
                'procure_method': 'make_to_stock',
                'location_src_id': self.env.ref('gelato_connector.stock_location_gelato').id,
                'location_dest_id': self.env.ref('stock.stock_location_customers').id,
                'picking_type_id': warehouse.out_type_id.id,
                'propagate_carrier': True,
                'warehouse_id': warehouse.id,
                'company_id': warehouse.company_id.id,
            })
        return route
