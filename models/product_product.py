# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import logging
from datetime import timedelta

from markupsafe import Markup

from odoo import api, fields, models

from odoo.addons.gelato_connector import batch, const, print_check, utils
from odoo.addons.gelato_connector.exceptions import GelatoError

_logger = logging.getLogger(__name__)


class ProductProduct(models.Model):
    _inherit = 'product.product'

    gelato_product_uid = fields.Char(
        string="Gelato Product UID", readonly=True, copy=False, index='btree_not_null',
    )
    gelato_image_ids = fields.One2many(
        string="Print Image Overrides",
        comodel_name='product.document',
        inverse_name='res_id',
        domain=[('res_model', '=', 'product.product'), ('is_gelato', '=', True)],
        # What makes a line added on the form an override of this variant: the form sends only
        # the area and the file (res_model and is_gelato are not on it).
        context={'default_res_model': 'product.product', 'default_is_gelato': True},
        copy=False,
        help="Print images of this variant that replace the product's image of the same area.",
    )
    gelato_availability_ids = fields.One2many(
        string="Gelato Availability", comodel_name='gelato.product.availability',
        inverse_name='product_id', readonly=True,
    )
    gelato_costs_checked_at = fields.Datetime(
        string="Gelato Costs Checked", readonly=True, copy=False,
        help="When the daily cost refresh last asked Gelato for this variant's price (each "
             "variant in turn).")
    gelato_valid_page_counts = fields.Char(
        string="Page Counts Gelato Offers", readonly=True, copy=False,
        help="The page counts Gelato's catalog allows for this variant's product (empty: not a "
             "multi-page product).",
    )
    gelato_print_area_sizes = fields.Json(
        string="Print Area Sizes", readonly=True, copy=False,
        help="The size of each print area of this variant in its Gelato template, as "
             "{area: [width, height]} in millimetres, as of the last Synchronize.",
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
        # `file_size`, not `datas`: whether there is a file, without reading it.
        for override in self.gelato_image_ids.filtered('file_size'):
            if override.name in images:
                images[override.name] = override
        return images

    def _gelato_valid_page_counts(self):
        """The page counts Gelato allows for this variant (its own product's; the product's
        for a variant synchronized before they were kept per variant), empty for a product
        printed with a fixed number of pages.

        :rtype: list[int]
        """
        self.ensure_one()
        raw = self.gelato_valid_page_counts or self.product_tmpl_id.gelato_valid_page_counts
        return [int(c) for c in (raw or '').split(',') if c.isdigit()]

    def _gelato_page_count(self):
        """The page count to send with this variant, or None for a product Gelato prints with a
        fixed number of pages."""
        self.ensure_one()
        return self.product_tmpl_id.gelato_page_count or None \
            if self._gelato_valid_page_counts() else None

    def _gelato_page_count_problem(self):
        """Say why this variant cannot be ordered with the product's page count, or None."""
        self.ensure_one()
        valid = self._gelato_valid_page_counts()
        if not valid or self.product_tmpl_id.gelato_page_count in valid:
            return None
        return self.env._(
            "%(product)s: Gelato prints it with %(counts)s pages, not %(count)s: set another "
            "number of pages on the product.", product=self.display_name,
            counts=', '.join(map(str, valid)), count=self.product_tmpl_id.gelato_page_count)

    def _gelato_print_file_problems(self, images=None):
        """What in this variant's print files stops Gelato from printing it (a file that is not
        a picture Gelato takes), one sentence each. See `_gelato_print_file_warnings` for what
        only may print badly.

        Read from the measurements stored with each file: nothing is downloaded or decoded.

        :rtype: list[str]
        """
        self.ensure_one()
        return [self.env._(
            "%(product)s: the print image for the area \"%(area)s\" cannot be printed by "
            "Gelato: %(reason)s", product=self.display_name, area=check['area'],
            reason=check['image']._gelato_file_problem(),
        ) for check in self._gelato_print_file_checks(images)
            if check['result']['reason'] == 'error']

    def _gelato_print_file_warnings(self, images=None):
        """What in this variant's print files may print badly (resolution below Gelato's
        recommendation, another shape than the print area), one sentence each.

        :rtype: list[str]
        """
        self.ensure_one()
        warnings = []
        for check in self._gelato_print_file_checks(images):
            if text := self._gelato_print_file_warning(check):
                warnings.append(self.env._(
                    "%(product)s: the print image for the area \"%(area)s\" %(warning)s",
                    product=self.display_name, area=check['area'], warning=text))
        return warnings

    def _gelato_print_file_checks(self, images=None):
        """Compare each print file of this variant with the size of its print area.

        :param dict images: print area -> product.document to check; default: the variant's
                            (`_gelato_print_images`); an order line gives its own (the
                            customer's files).
        :return: One dict per print area that has a file: `area`, `image` (product.document),
                 `size` (`(width, height)` in mm, or None when Gelato gave none) and `result`
                 (what `print_check.assess` says).
        :rtype: list[dict]
        """
        self.ensure_one()
        sizes = self.gelato_print_area_sizes if isinstance(self.gelato_print_area_sizes,
                                                           dict) else {}
        checks = []
        images = self._gelato_print_images() if images is None else images
        for area, image in images.items():
            if not image.checksum:
                continue  # Missing: said by `_gelato_missing_print_areas`.
            size = sizes.get(area)
            size = tuple(size) if isinstance(size, list) and len(size) == 2 else None
            checks.append({'area': area, 'image': image, 'size': size,
                           'result': print_check.assess(image._gelato_measurement(), size)})
        return checks

    def _gelato_print_file_warning(self, check):
        """Say what may print badly in a print file at its print size (the end of a sentence
        that starts with the print area), or return None.

        :param dict check: One entry of `_gelato_print_file_checks`.
        :rtype: str | None
        """
        result, image = check['result'], check['image']
        if not result['checked']:
            return None
        width_mm, height_mm = (f'{mm:g}' for mm in check['size'])
        parts = []
        if result['low_resolution']:
            parts.append(self.env._(
                "is %(dpi)s dpi at %(width)s × %(height)s mm, below the %(min)s dpi Gelato "
                "recommends: use a picture of at least %(px_width)s × %(px_height)s pixels",
                dpi=round(result['dpi']), width=width_mm, height=height_mm,
                min=print_check.RECOMMENDED_DPI, px_width=result['needed_pixels'][0],
                px_height=result['needed_pixels'][1]))
        if result['other_shape']:
            parts.append(self.env._(
                "(%(px_width)s × %(px_height)s pixels) has another shape than the print area "
                "(%(width)s × %(height)s mm, %(off)s %% off): Gelato may crop it or leave "
                "margins", px_width=image.gelato_pixel_width, px_height=image.gelato_pixel_height,
                width=width_mm, height=height_mm, off=round(result['shape_off'] * 100)))
        return (self.env._("; it ").join(parts) + '.') if parts else None

    @api.model
    def _gelato_placeholder_size(self, placeholder):
        """Return the `(width, height)` in mm of an image placeholder of a Gelato template, or
        None when Gelato gives none that can be used."""
        return print_check.placeholder_size(placeholder)

    def _gelato_set_print_area_sizes(self, sizes):
        """Keep the size of each print area of the variants, writing only those that changed.

        :param dict sizes: Gelato product UID -> {area: [width, height]} in mm; a variant whose
                           UID is absent has no known size.
        """
        changed = {}
        for product in self.filtered('gelato_product_uid'):
            wanted = sizes.get(product.gelato_product_uid) or {}
            if (product.gelato_print_area_sizes or {}) != wanted:
                key = tuple(sorted((area, tuple(size)) for area, size in wanted.items()))
                changed.setdefault(key, [wanted, self.browse()])[1] |= product
        for wanted, products in changed.values():
            products.gelato_print_area_sizes = wanted or False

    def _gelato_print_check_report(self):
        """What the product form says about the print files of these variants: the files that
        Gelato cannot print, those below its recommended resolution or of another shape than
        their print area, and those that could not be checked, with what to do; variants with
        the same outcome share a line.

        :return: The report as HTML (None when no print file is stored) and its level:
                 `danger`, `warning`, `info` or `success`.
        :rtype: tuple
        """
        rows, fine, variants = {}, 0, self.filtered('gelato_product_uid')
        for variant in variants:
            for check in variant._gelato_print_file_checks():
                outcome = variant._gelato_print_check_outcome(check)
                if not outcome:
                    fine += 1
                    continue
                key = (check['area'], check['image'].id, check['size'], outcome)
                rows.setdefault(key, [check, self.browse()])[1] |= variant
        if not rows and not fine:
            return None, False
        link = Markup('<a href="%s" target="_blank" rel="noopener">%s</a>') % (
            print_check.RECOMMENDED_DPI_SOURCE, self.env._("Gelato's design requirements"))
        if not rows:
            text = Markup('<strong>%s</strong> %s') % (self.env._("Print files:"), self.env._(
                "every one is at least %(dpi)s dpi at its print size and has the shape of its "
                "print area (%(link)s).", dpi=print_check.RECOMMENDED_DPI, link=link))
            return Markup('<div class="alert alert-success mb-2" role="status">%s</div>') % text, \
                'success'
        levels = ['info', 'warning', 'danger']
        level = max((outcome[0] for _a, _i, _s, outcome in rows), key=levels.index)
        intro = Markup('<strong>%s</strong> %s') % (self.env._("Print files:"), self.env._(
            "checked against the %(dpi)s dpi Gelato recommends (%(link)s) and the shape of each "
            "print area. A refused file stops the confirmation of orders; a warning is noted on "
            "the order, which is printed as it is.", dpi=print_check.RECOMMENDED_DPI, link=link))
        head = Markup('').join(Markup('<th>%s</th>') % title for title in (
            self.env._("Print area"), self.env._("Print file"), self.env._("Variants"),
            self.env._("Print size"), self.env._("Result"), self.env._("What to do")))
        body = Markup('')
        order = {name: index for index, name in enumerate(levels[::-1])}
        for (area, _image_id, size, outcome), (check, products) in sorted(
                rows.items(), key=lambda item: (order[item[0][3][0]], item[0][0])):
            row_level, result, todo = outcome
            cells = (area, self._gelato_print_file_label(check['image']),
                     self._gelato_variant_names(products, variants),
                     self.env._("%(width)s × %(height)s mm", width=f'{size[0]:g}',
                                height=f'{size[1]:g}') if size else self.env._("unknown"),
                     result, todo)
            body += Markup('<tr class="%s">%s</tr>') % (
                {'danger': 'text-danger', 'warning': 'text-body', 'info': 'text-muted'}[row_level],
                Markup('').join(Markup('<td class="%s">%s</td>') % (
                    'text-nowrap' if index in (0, 3) else '', cell)
                    for index, cell in enumerate(cells)))
        return Markup(
            '<div class="alert alert-%s mb-2" role="alert"><p class="mb-2">%s</p>'
            '<div class="table-responsive"><table class="table table-sm mb-0 bg-transparent '
            'o_gelato_print_check_table"><thead><tr>%s</tr></thead><tbody>%s</tbody></table>'
            '</div></div>') % (level, intro, head, body), level

    def _gelato_print_check_outcome(self, check):
        """Say what the product form shows for one print file of this variant.

        :param dict check: One entry of `_gelato_print_file_checks`.
        :return: `(level, result, what to do)`, or None when the file is fine.
        :rtype: tuple | None
        """
        result, image, size = check['result'], check['image'], check['size']
        dpi = print_check.RECOMMENDED_DPI
        needed = print_check.needed_pixels(size) if size else None
        at_size = self.env._(
            "Export it at %(dpi)s dpi for the print size: %(width)s × %(height)s pixels.",
            dpi=dpi, width=needed[0], height=needed[1]) if needed else self.env._(
            "Export it at %(dpi)s dpi for the print size.", dpi=dpi)
        if result['reason'] == 'error':
            error = image.gelato_file_error
            if error == 'format':
                return ('danger', self.env._(
                    "Refused: %(format)s is not a format Gelato prints.",
                    format=image.gelato_file_format or self.env._("this file")),
                    self.env._("Upload it as PNG, JPEG, TIFF, PDF or SVG."))
            if error == 'corrupt':
                return ('danger', self.env._(
                    "Refused: it could not be read as a %(format)s picture (damaged or "
                    "incomplete file).", format=image.gelato_file_format),
                    self.env._("Export it again and upload it."))
            return ('danger', self.env._(
                "Refused: too large to be checked safely (more than %(max)s pixels).",
                max=f'{print_check.max_pixels():,}'), at_size)
        if result['reason'] == 'vector':
            return ('info', self.env._("%(format)s: resolution not checked for PDF/SVG.",
                                       format=image.gelato_file_format),
                    self.env._("Make sure the pictures in it are at least %(dpi)s dpi at the "
                               "print size.", dpi=dpi))
        if result['reason'] == 'unmeasured':
            return ('info', self.env._("Not measured: not checked."), self.env._(
                "Upload the file again to have it measured."))
        if result['reason'] == 'no_size':
            return ('info', self.env._("Print size unknown: not checked."), self.env._(
                "Gelato's template gave no size for this print area: Synchronize again, and make "
                "sure the picture is %(dpi)s dpi at the print size.", dpi=dpi))
        findings, todo = [], []
        if result['low_resolution']:
            findings.append(self.env._("%(dpi)s dpi, below the %(min)s dpi Gelato recommends.",
                                       dpi=round(result['dpi']), min=dpi))
            todo.append(self.env._("Use a picture of at least %(width)s × %(height)s pixels.",
                                   width=needed[0], height=needed[1]))
        if result['other_shape']:
            findings.append(self.env._(
                "Another shape than the print area (%(off)s %% off): Gelato may crop it or leave "
                "margins.", off=round(result['shape_off'] * 100)))
            todo.append(self.env._("Crop or extend it to the proportions of the print area."))
        if not findings:
            return None
        return 'warning', ' '.join(findings), ' '.join(todo)

    def _gelato_print_file_label(self, image):
        """Name a print file in the report: its format, its size in pixels, whose it is."""
        label = image.gelato_file_format or self.env._("Unknown format")
        if image.gelato_pixel_width and not image.gelato_file_error:
            label = self.env._("%(format)s, %(width)s × %(height)s px", format=label,
                               width=image.gelato_pixel_width, height=image.gelato_pixel_height)
        if image.res_model == 'product.product':
            label = self.env._("%s (the variant's own)", label)
        return label

    def _gelato_variant_names(self, products, variants):
        """Name variants in the report: "All variants", or their attribute values."""
        if len(variants) > 1 and products == variants:
            return self.env._("All variants")
        names = [p.product_template_attribute_value_ids._get_combination_name() or p.display_name
                 for p in products]
        if len(names) > 12:
            return self.env._("%(names)s and %(count)s more", names=', '.join(names[:10]),
                              count=len(names) - 10)
        return ', '.join(names)

    def _gelato_missing_print_areas(self, images=None):
        """Return the print areas of this variant that have no file, neither its own nor the
        product's (nor, with `images` of an order line, the customer's).

        :rtype: list[str]
        """
        images = self._gelato_print_images() if images is None else images
        return [area for area, image in images.items() if not image.file_size]

    def _gelato_availability_in(self, region):
        """Return Gelato's last known stock status of the variant in a stock region, or None."""
        self.ensure_one()
        record = self.gelato_availability_ids.filtered(lambda a: a.region == region)[:1]
        return record.status or None

    def _gelato_out_of_stock_in(self, country):
        """Return whether Gelato last said the variant is out of stock for the stock region of a
        country (False for goods that are not Gelato's)."""
        return self._gelato_out_of_stock_in_region(utils.stock_region(country.code))

    def _gelato_out_of_stock_in_region(self, region):
        """The one "out of stock" rule: Gelato last said the variant is out of stock in that
        stock region (False for goods that are not Gelato's)."""
        self.ensure_one()
        return bool(self.gelato_product_uid) and \
            self._gelato_availability_in(region) == 'out-of-stock'

    # === BUSINESS METHODS: COSTS === #

    def _gelato_fetch_costs(self):
        """Set each variant's cost to Gelato's base price for one unit.

        Prices are asked in the company currency; when Gelato does not price in it, in EUR,
        converted with Odoo's rates. The calls run in parallel, at most
        `const.COST_FETCH_WORKERS` at a time.

        :return: The number of costs updated and the errors, one sentence per variant.
        :rtype: tuple[int, list[str]]
        """
        updated, errors, _unanswered = self._gelato_fetch_costs_answered()
        return updated, errors

    def _gelato_fetch_costs_answered(self):
        """`_gelato_fetch_costs`, also telling which variants Gelato could not be asked about
        for now (down, 429, the request budget spent): those are asked again later.

        :return: The number of costs updated, the errors, and the variants not answered.
        :rtype: tuple[int, list[str], product.product]
        """
        products = self.filtered('gelato_product_uid')
        unanswered = self.browse()
        if not products:
            return 0, [], unanswered
        company = self.env.company
        country = company.country_id.code or 'US'
        currencies = [company.currency_id.name]
        if 'EUR' not in currencies:
            currencies.append('EUR')
        updated, errors, pending = 0, [], products
        for currency_code in currencies:
            if not pending:
                break
            results = company._gelato_request_many([{
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
                    elif result.transient:
                        unanswered |= product
                        errors.append(f"{product.display_name}: {result.args[0]}")
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
                updated += 1
            pending = retry
        return updated, errors, unanswered

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
            source = self.env['res.currency']._gelato_from_code(code)
            if not source:
                return None
            price = source._convert(price, company.currency_id, company, fields.Date.today())
        return company.currency_id.round(price)

    @api.model
    def _gelato_costs_due_domain(self, company):
        """The variants of `company` whose cost was not refreshed in the last day."""
        since = fields.Datetime.now() - timedelta(hours=const.COST_REFRESH_HOURS)
        return [
            ('gelato_product_uid', '!=', False),
            ('company_id', 'in', [False, company.id]),
            '|', ('gelato_costs_checked_at', '=', False), ('gelato_costs_checked_at', '<', since),
        ]

    @api.model
    def _cron_gelato_refresh_costs(self, limit=const.COST_REFRESH_BATCH):
        """Refresh the Gelato costs of every company using Gelato: the variants not refreshed
        in the last day, the least recently refreshed first, `limit` per transaction
        (`batch.run_batch`), each a few seconds of the request budget, so that a cron worker's
        time limit never loses more than one batch: the run goes on batch after batch, resumes
        where it stopped after a restart, and its progress is shown in Sales settings.

        Bulk work: its calls yield to shoppers and orders in the shared request budget; when
        Gelato or the budget asks to wait, the variants not answered stay due and the run stops,
        to go on a little later. A company without an API key is skipped with a message, and a
        product whose cost cannot be written never stops the others."""
        self = self.with_context(gelato_priority='bulk')
        cron = self.env.ref('gelato_connector.ir_cron_gelato_costs')
        companies = self.env['res.company'].sudo().search([('gelato_enabled', '=', True)])
        due = {company: self.with_company(company).search_count(
            self._gelato_costs_due_domain(company)) for company in companies}
        # One unit of work per batch of `limit` variants of a company.
        work = [company for company in companies for _batch in range(
            -(-due[company] // limit) if company.gelato_api_key else 1)]

        def refresh(company):
            if not company.gelato_api_key:
                _logger.warning("Gelato costs of %s skipped: Gelato is ticked but has no API key.",
                                company.name)
                return None
            products = self.with_company(company).search(
                self._gelato_costs_due_domain(company), limit=limit,
                order='gelato_costs_checked_at ASC NULLS FIRST, id')
            if not products:
                return None
            try:
                updated, errors, unanswered = products._gelato_fetch_costs_answered()
            except GelatoError as error:  # e.g. the key Gelato refuses: the next company goes on.
                updated, errors, unanswered = 0, [error.args[0]], products.browse()
                if error.transient:
                    unanswered = products
            # Asked and answered, whatever the answer: the next batch takes the next variants (a
            # cost that did not change writes nothing else, so the write date cannot tell).
            (products - unanswered).sudo().write({'gelato_costs_checked_at': fields.Datetime.now()})
            _logger.info("Gelato costs of %s: %s updated, %s errors", company.name, updated,
                         len(errors))
            if unanswered:
                # Gelato cannot be asked now: the rest waits, and the run goes on later.
                cron.sudo()._trigger(at=fields.Datetime.now() + timedelta(
                    seconds=const.RATE_BULK_RETRY_SECONDS))
                return batch.STOP
            return None

        if work:
            batch.run_batch(self.env['res.company'].sudo().browse(c.id for c in work), refresh)

    # === BUSINESS METHODS: AVAILABILITY === #

    def _gelato_check_availability(self):
        """Ask Gelato's Stock API for the variants' availability in every stock region.

        :return: The number of statuses stored.
        :rtype: int
        """
        uids = list(dict.fromkeys(self.filtered('gelato_product_uid').mapped('gelato_product_uid')))
        stored = 0
        for start in range(0, len(uids), const.STOCK_CHECK_BATCH):
            answer = self.env.company._gelato_request(
                'product', 'POST', '/v3/stock/region-availability', safe=True,
                json={'products': uids[start:start + const.STOCK_CHECK_BATCH]},
            )
            entries = answer.get('productsAvailability') if isinstance(answer, dict) else None
            # Gelato's stock data, kept for everyone who sells: stored as superuser once the
            # caller's rights on the products were checked.
            stored += self.env['gelato.product.availability'].sudo()._gelato_store(entries)[0]
        return stored
