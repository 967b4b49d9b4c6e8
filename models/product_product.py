# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import logging

from odoo import api, fields, models, modules

from odoo.addons.gelato_connector import const, utils
from odoo.addons.gelato_connector.exceptions import GelatoError

_logger = logging.getLogger(__name__)


class ProductProduct(models.Model):
    _name = 'product.product'
    _inherit = ['product.product', 'gelato.api.mixin']

    gelato_product_uid = fields.Char(
        string="Gelato Product UID", readonly=True, copy=False, index='btree_not_null',
    )
    gelato_image_ids = fields.One2many(
        string="Print Image Overrides",
        comodel_name='product.document',
        inverse_name='res_id',
        domain=[('res_model', '=', 'product.product'), ('is_gelato', '=', True)],
        copy=False,
        help="Print images of this variant that replace the product's image of the same area.",
    )
    gelato_availability_ids = fields.One2many(
        string="Gelato Availability", comodel_name='gelato.product.availability',
        inverse_name='product_id', readonly=True,
    )

    # === BUSINESS METHODS === #

    def _gelato_print_images(self):
        """Return the print image to send for each print area of this variant.

        A variant's own image of an area replaces the product's.

        :return: print area -> product.document (possibly without a file).
        :rtype: dict
        """
        self.ensure_one()
        images = {image.name: image for image in self.product_tmpl_id.gelato_image_ids}
        for override in self.gelato_image_ids.filtered('datas'):
            if override.name in images:
                images[override.name] = override
        return images

    def _gelato_page_count(self):
        """The page count to send with this variant, or None for a product Gelato prints with a
        fixed number of pages."""
        self.ensure_one()
        template = self.product_tmpl_id
        return template.gelato_page_count or None if template.gelato_valid_page_counts else None

    def _gelato_print_file_problems(self):
        """What in this variant's print files stops Gelato from printing it (a file that is not
        a picture Gelato takes), one sentence each. See `_gelato_print_file_warnings` for what
        only may print badly.

        :rtype: list[str]
        """
        self.ensure_one()
        return []

    def _gelato_print_file_warnings(self):
        """What in this variant's print files may print badly (resolution below Gelato's
        recommendation, another shape than the print area), one sentence each.

        :rtype: list[str]
        """
        self.ensure_one()
        return []

    def _gelato_missing_print_areas(self):
        """Return the print areas of this variant that have no file, neither its own nor the
        product's.

        :rtype: list[str]
        """
        return [area for area, image in self._gelato_print_images().items() if not image.datas]

    def _gelato_availability_in(self, region):
        """Return Gelato's last known stock status of the variant in a stock region, or None."""
        self.ensure_one()
        record = self.gelato_availability_ids.filtered(lambda a: a.region == region)[:1]
        return record.status or None

    def _gelato_out_of_stock_in(self, country):
        """Return whether Gelato last said the variant is out of stock for the stock region of a
        country (False for goods that are not Gelato's)."""
        self.ensure_one()
        return bool(self.gelato_product_uid) and self._gelato_availability_in(
            utils.stock_region(country.code)) == 'out-of-stock'

    # === BUSINESS METHODS: COSTS === #

    def _gelato_fetch_costs(self, per_record=False):
        """Set each variant's cost to Gelato's base price for one unit.

        Prices are asked in the company currency; when Gelato does not price in it, in EUR,
        converted with Odoo's rates. The calls run in parallel, at most
        `const.COST_FETCH_WORKERS` at a time.

        :param bool per_record: Whether to commit each variant's cost on its own (scheduled
                                action); otherwise each is written in a savepoint.
        :return: The number of costs updated and the errors, one sentence per variant.
        :rtype: tuple[int, list[str]]
        """
        products = self.filtered('gelato_product_uid')
        if not products:
            return 0, []
        company = self.env.company
        country = company.country_id.code or 'US'
        currencies = [company.currency_id.name]
        if 'EUR' not in currencies:
            currencies.append('EUR')
        updated, errors, pending = 0, [], products
        for currency_code in currencies:
            if not pending:
                break
            results = self._gelato_request_many([{
                'service': 'product', 'method': 'GET',
                'path': f'/v3/products/{product.gelato_product_uid}/prices',
                'params': {'currency': currency_code, 'country': country,
                           **({'pageCount': product._gelato_page_count()}
                              if product._gelato_page_count() else {})},
            } for product in pending], max_workers=const.COST_FETCH_WORKERS)
            retry = self.browse()
            for product, result in zip(pending, results, strict=True):
                if isinstance(result, GelatoError):
                    if result.status == 400 and currency_code != currencies[-1]:
                        retry |= product  # Gelato does not price in this currency.
                    else:
                        errors.append(f"{product.display_name}: {result.args[0]}")
                    continue
                price = product._gelato_unit_price(result, currency_code, company)
                if price is None:
                    errors.append(self.env._("%s: Gelato sent no usable price.",
                                             product.display_name))
                    continue
                try:
                    with self.env.cr.savepoint():
                        if product.with_company(company).standard_price != price:
                            product.with_company(company).standard_price = price
                except Exception as error:  # noqa: BLE001 - kept as this variant's error
                    if isinstance(error, const.RETRYABLE_DB_ERRORS):
                        raise
                    errors.append(f"{product.display_name}: {error}")
                    continue
                if per_record:
                    self.env.cr.commit()
                updated += 1
            pending = retry
        return updated, errors

    def _gelato_unit_price(self, rows, currency_code, company):
        """Return the price of one unit from Gelato's price rows, in the company currency.

        Gelato answers price tiers by quantity, in no particular order, each `price` being the
        price of that quantity (https://dashboard.gelato.com/docs/products/prices: the example
        has rows for 700, 20 and 400 units and none for one). The tier for one unit is used when
        there is one, else the tier of the smallest quantity, divided by its quantity.
        """
        if not isinstance(rows, list):
            return None
        tiers = [r for r in rows if isinstance(r, dict)
                 and isinstance(r.get('quantity'), (int, float)) and r['quantity'] >= 1
                 and not isinstance(r.get('quantity'), bool)
                 and isinstance(r.get('price'), (int, float)) and not isinstance(r['price'], bool)
                 and r['price'] >= 0]
        if not tiers:
            return None
        tier = min(tiers, key=lambda r: r['quantity'])
        price = float(tier['price']) / tier['quantity']
        code = tier.get('currency') or currency_code
        if code != company.currency_id.name:
            source = self.env['res.currency'].with_context(active_test=False).search(
                [('name', '=', code)], limit=1)
            if not source:
                return None
            price = source._convert(price, company.currency_id, company, fields.Date.today())
        return company.currency_id.round(price)

    @api.model
    def _cron_gelato_refresh_costs(self, batch=200):
        """Refresh the Gelato costs of every company using Gelato, a batch per company, the
        least recently refreshed first; a company without an API key is skipped with a message,
        and a product whose cost cannot be written never stops the others."""
        auto_commit = not modules.module.current_test
        for company in self.env['res.company'].sudo().search([('gelato_enabled', '=', True)]):
            if not company.gelato_api_key:
                _logger.warning("Gelato costs of %s skipped: Gelato is ticked but has no API key.",
                                company.name)
                continue
            products = self.with_company(company).search([
                ('gelato_product_uid', '!=', False),
                ('company_id', 'in', [False, company.id]),
            ], limit=batch, order='write_date, id')
            try:
                updated, errors = products._gelato_fetch_costs(per_record=auto_commit)
            except GelatoError as error:  # e.g. the key Gelato refuses: the next company goes on.
                updated, errors = 0, [error.args[0]]
            _logger.info("Gelato costs of %s: %s updated, %s errors", company.name, updated,
                         len(errors))
            if auto_commit:
                self.env['ir.cron']._commit_progress(len(products))

    # === BUSINESS METHODS: AVAILABILITY === #

    def _gelato_check_availability(self):
        """Ask Gelato's Stock API for the variants' availability in every stock region.

        :return: The number of statuses stored.
        :rtype: int
        """
        uids = list(dict.fromkeys(self.filtered('gelato_product_uid').mapped('gelato_product_uid')))
        stored = 0
        for start in range(0, len(uids), const.STOCK_CHECK_BATCH):
            answer = self._gelato_request(
                'product', 'POST', '/v3/stock/region-availability', safe=True,
                json={'products': uids[start:start + const.STOCK_CHECK_BATCH]},
            )
            entries = answer.get('productsAvailability') if isinstance(answer, dict) else None
            # Gelato's stock data, kept for everyone who sells: stored as superuser once the
            # caller's rights on the products were checked.
            stored += self.env['gelato.product.availability'].sudo()._gelato_store(entries)[0]
        return stored
