# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import api, fields, models

from odoo.addons.gelato_connector import const


class GelatoProductAvailability(models.Model):
    """Gelato's stock status of a variant in one stock region."""
    _name = 'gelato.product.availability'
    _description = "Gelato Regional Availability"
    _order = 'product_id, region'

    product_id = fields.Many2one(
        'product.product', string="Variant", required=True, ondelete='cascade', index=True,
    )
    company_id = fields.Many2one(related='product_id.company_id', store=True, index=True)
    region = fields.Char(string="Stock Region", required=True, help="Gelato's stockRegionUid.")
    status = fields.Selection(const.STOCK_STATUSES, required=True)
    checked_at = fields.Datetime(string="Updated", default=fields.Datetime.now, required=True)

    _product_region_unique = models.Constraint(
        'UNIQUE(product_id, region)', "A variant has one availability per stock region.",
    )

    # === BUSINESS METHODS === #

    @api.model
    def _gelato_store(self, entries, company=None):
        """Record Gelato's availability statuses, replacing older ones.

        :param list entries: Gelato's `productsAvailability` list: `{productUid, availability:
                             [{stockRegionUid, status}]}`; malformed entries are skipped.
        :param res.company company: When given, only that company's (and shared) products.
        :return: The number of statuses stored and the product UIDs Odoo does not know.
        :rtype: tuple[int, list[str]]
        """
        valid_statuses = dict(const.STOCK_STATUSES)
        wanted = {}
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict) or not isinstance(entry.get('productUid'), str):
                continue
            for item in entry.get('availability') or []:
                if isinstance(item, dict) and isinstance(item.get('stockRegionUid'), str) \
                        and item.get('status') in valid_statuses:
                    wanted[(entry['productUid'], item['stockRegionUid'][:32])] = item['status']
        uids = {uid for uid, _region in wanted}
        domain = [('gelato_product_uid', 'in', list(uids))]
        if company:
            domain.append(('company_id', 'in', [False, company.id]))
        products = self.env['product.product'].with_context(active_test=False).search(
            domain) if uids else self.env['product.product']
        # Gelato's stock is per productUid: every variant printed on that base product (a second
        # design of the same poster, say) gets the status.
        by_uid = {}
        for product in products:
            by_uid.setdefault(product.gelato_product_uid, self.env['product.product'])
            by_uid[product.gelato_product_uid] |= product
        existing = {
            (record.product_id.id, record.region): record
            for record in self.search([('product_id', 'in', products.ids)])
        }
        to_create, stored, now = [], 0, fields.Datetime.now()
        for (uid, region), status in wanted.items():
            for product in by_uid.get(uid, ()):
                record = existing.get((product.id, region))
                if record:
                    if record.status != status:
                        record.write({'status': status, 'checked_at': now})
                else:
                    to_create.append({'product_id': product.id, 'region': region,
                                      'status': status})
                stored += 1
        self.create(to_create)
        return stored, sorted(uids - set(by_uid))
