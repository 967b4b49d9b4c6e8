# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import base64
import hashlib
import logging
from datetime import timedelta

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.api import NewId
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.fields import Command, Domain
from odoo.http import request
from odoo.tools import html_sanitize, is_html_empty

from odoo.addons.gelato_connector import batch, const, picture_download, utils
from odoo.addons.gelato_connector.exceptions import GelatoError, GelatoImageError

_logger = logging.getLogger(__name__)


class ProductTemplate(models.Model):
    _inherit = 'product.template'

    gelato_template_ref = fields.Char(
        string="Gelato Template Reference", copy=False, index='btree_not_null',
        help="The id of the template in Gelato (Templates > ⋮ > Copy Template ID); "
             "Synchronize fetches its variants.",
    )
    gelato_product_uid = fields.Char(
        string="Gelato Product UID",
        compute='_compute_gelato_product_uid',
        inverse='_inverse_gelato_product_uid',
        search='_search_gelato_product_uid',
    )
    gelato_image_ids = fields.One2many(
        string="Print Images",
        comodel_name='product.document',
        inverse_name='res_id',
        domain=[('res_model', '=', 'product.template'), ('is_gelato', '=', True)],
        context={'default_res_model': 'product.template', 'default_is_gelato': True},
        copy=False,
    )
    gelato_missing_image_names = fields.Char(
        string="Missing Print Images", compute='_compute_gelato_missing_image_names',
    )
    gelato_missing_images = fields.Boolean(
        string="Print Images Missing", compute='_compute_gelato_missing_image_names',
    )
    gelato_manual_approval = fields.Boolean(
        string="Approve Gelato Orders by Hand",
        help="An order holding this product waits at Gelato, as a draft, until someone approves "
             "it, whatever the company's approval mode (Gelato's rule for tagged products).",
    )
    gelato_personalized = fields.Boolean(
        string="Personalised with the Customer's Picture",
        help="Each buyer gives their own picture for the print areas (on the webshop's product "
             "page, or on the order line); the order waits at Gelato, as a draft, until the "
             "customer approves Gelato's proof on their order page (or you approve it for "
             "them).",
    )
    gelato_synced_at = fields.Datetime(string="Last Gelato Sync", readonly=True, copy=False)
    gelato_template_state = fields.Selection(
        string="Gelato Template Status",
        selection=[
            ('synced', "Synchronized"),
            ('update_pending', "Update pending"),
            ('sync_failed', "Synchronization failed"),
            ('deleted', "Deleted in Gelato"),
        ],
        readonly=True, copy=False,
    )
    gelato_page_count = fields.Integer(
        string="Pages (Gelato)",
        help="For multi-page products (photo books, brochures, notebooks): the number of pages "
             "Gelato prints, covers included. Gelato needs it with every order and price.",
    )
    gelato_valid_page_counts = fields.Char(
        string="Page Counts Gelato Offers", readonly=True, copy=False,
        help="The page counts Gelato's catalog allows for this product (empty: not a multi-page "
             "product).",
    )
    gelato_sync_error = fields.Text(
        string="Gelato Sync Error", readonly=True, copy=False,
        help="Why the last automatic synchronization with Gelato failed.",
    )
    gelato_image_checksum = fields.Char(
        string="Gelato Picture Checksum", readonly=True,
        help="The SHA-1 of the picture Synchronize set from Gelato's template preview. When the "
             "product's picture differs, it is the user's own and Synchronize keeps it.",
    )
    gelato_unavailable_ids = fields.Many2many(
        string="Not Available Everywhere", comodel_name='gelato.product.availability',
        compute='_compute_gelato_unavailable_ids',
        help="The regions where Gelato last said a variant is out of stock.",
    )
    gelato_description_checksum = fields.Char(
        string="Gelato Description Checksum", readonly=True, copy=False,
        help="The SHA-1 of the webshop description Synchronize set from Gelato's template. When "
             "the description differs, it is the user's own and Synchronize keeps it.",
    )
    gelato_print_check_html = fields.Html(
        string="Print File Check", compute='_compute_gelato_print_check', sanitize=False,
        help="The print files Gelato cannot print, those below the resolution Gelato recommends "
             "or of another shape than their print area, per area and variant.",
    )

    # === COMPUTE METHODS === #

    @api.depends('product_variant_ids.gelato_product_uid')
    def _compute_gelato_product_uid(self):
        self._compute_template_field_from_variant_field('gelato_product_uid')

    def _inverse_gelato_product_uid(self):
        self._set_product_variant_field('gelato_product_uid')

    def _search_gelato_product_uid(self, operator, value):
        return [('product_variant_ids.gelato_product_uid', operator, value)]

    @api.depends('gelato_image_ids.datas')
    def _compute_gelato_missing_image_names(self):
        for product in self:
            # `file_size`, not `datas`, of stored files (no file is read); in the form, a file
            # just uploaded has no size yet but its data is there (the form follows at once).
            missing = product.gelato_image_ids.filtered(
                lambda image: not (image.file_size or (
                    isinstance(image.id, NewId) and image.datas)))
            product.gelato_missing_image_names = ', '.join(missing.mapped('name'))
            product.gelato_missing_images = bool(missing)

    @api.depends('product_variant_ids.gelato_availability_ids.status')
    def _compute_gelato_unavailable_ids(self):
        for product in self:
            product.gelato_unavailable_ids = product.product_variant_ids.gelato_availability_ids \
                .filtered(lambda a: a.status not in const.STOCK_AVAILABLE_STATUSES)

    @api.depends(
        'gelato_image_ids.checksum', 'gelato_image_ids.gelato_file_format',
        'gelato_image_ids.gelato_file_error', 'gelato_image_ids.gelato_pixel_width',
        'gelato_image_ids.gelato_pixel_height', 'product_variant_ids.gelato_print_area_sizes',
        'product_variant_ids.gelato_image_ids.checksum',
        'product_variant_ids.gelato_image_ids.gelato_file_format',
        'product_variant_ids.gelato_image_ids.gelato_file_error',
        'product_variant_ids.gelato_image_ids.gelato_pixel_width',
        'product_variant_ids.gelato_image_ids.gelato_pixel_height',
    )
    def _compute_gelato_print_check(self):
        for product in self:
            product.gelato_print_check_html = \
                product.product_variant_ids._gelato_print_check_report()[0] or False

    # === CONSTRAINT METHODS === #

    @api.constrains('is_published')
    def _check_gelato_print_images_before_publishing(self):
        """A Gelato product is published only once Gelato has every print image it needs."""
        for product in self.filtered(lambda p: p.is_published and p.gelato_template_ref):
            missing = product.gelato_image_ids.filtered(lambda image: not image.file_size)
            if missing:
                raise ValidationError(self.env._(
                    "%(product)s cannot be published yet: Gelato needs its print images first "
                    "(missing: %(areas)s). Add them in the Gelato section of the product, then "
                    "publish it.",
                    product=product.display_name, areas=', '.join(missing.mapped('name')),
                ))

    # === ACTION METHODS === #

    def action_sync_gelato_template_info(self):
        """Make the product match its Gelato template: the Synchronize button.

        The whole synchronization happens in a savepoint: it is applied completely or not at all.

        :return: A notification saying what changed, or why nothing did.
        :rtype: dict
        """
        self.ensure_one()
        self._gelato_check_can_act('write')
        if not self.gelato_template_ref:
            raise UserError(_("Paste the Gelato template id in the Gelato section first."))
        try:
            summary = self._gelato_sync_template()
        except (GelatoError, UserError, ValidationError) as error:
            return utils.notification(
                'danger', _("Could not synchronize with Gelato"),
                _("%(product)s was left unchanged.\n%(reason)s",
                  product=self.display_name, reason=error.args[0] if error.args else error),
                sticky=True,
            )
        picture_failed = summary['picture'] not in self._GELATO_PICTURE_STATES
        return utils.notification(
            'warning' if summary['missing_images'] or picture_failed else 'success',
            _("Synchronized with Gelato"),
            self._gelato_sync_summary_text(summary),
            next_action={'type': 'ir.actions.client', 'tag': 'soft_reload'},
        )

    def _gelato_sync_template(self):
        """Make the product match its Gelato template, all of it or nothing.

        :return: What changed (`_gelato_apply_template`'s summary, with the picture's state).
        :rtype: dict
        :raise GelatoError: When Gelato cannot be asked (transient) or refuses.
        """
        template_data = self._gelato_fetch_template()
        # The picture is downloaded before the savepoint (no network I/O inside it), and set
        # only once the template is applied: a picture that fails never fails the sync.
        preview = self._gelato_prepare_preview(template_data)
        page_counts = self._gelato_fetch_page_counts(template_data)
        with self.env.cr.savepoint():
            summary = self._gelato_apply_template(template_data)
            self._gelato_apply_page_counts(page_counts)
        summary['picture'] = self._gelato_apply_preview(preview)
        self._gelato_enable_variants()
        return summary

    def action_gelato_use_preview(self):
        """Replace the product's picture, the user's own included, by the preview of its Gelato
        template: the "Use Gelato's picture" button.

        :return: A notification saying whether the picture was set, or why not.
        :rtype: dict
        """
        self.ensure_one()
        self._gelato_check_can_act('write')
        if not self.gelato_template_ref:
            raise UserError(self.env._("Paste the Gelato template id in the Gelato section first."))
        try:
            template_data = self._gelato_fetch_template()
        except GelatoError as error:
            return utils.notification(
                'danger', self.env._("Could not fetch Gelato's picture"),
                error.args[0] if error.args else str(error), sticky=True,
            )
        state = self._gelato_apply_preview(self._gelato_prepare_preview(template_data, force=True))
        if state == 'none':
            return utils.notification(
                'warning', self.env._("No picture in Gelato"),
                self.env._("Gelato's template has no preview picture: the product's picture was "
                           "left as it was."),
            )
        if state not in self._GELATO_PICTURE_STATES:
            return utils.notification(
                'danger', self.env._("Could not fetch Gelato's picture"),
                self.env._("%(reason)s The product's picture was left as it was.", reason=state),
                sticky=True,
            )
        return utils.notification(
            'success', self.env._("Gelato's picture"),
            self.env._("The product now shows the preview picture of its Gelato template."),
            next_action={'type': 'ir.actions.client', 'tag': 'soft_reload'},
        )

    def action_gelato_fetch_costs(self):
        """Set the variants' costs to Gelato's base prices: the "Fetch costs" button.

        :return: A notification saying how many costs were updated, and which failed and why.
        :rtype: dict
        """
        self._gelato_check_can_act('write', group='sales_team.group_sale_manager')
        variants = self.product_variant_ids.filtered('gelato_product_uid')
        if not variants:
            raise UserError(self.env._("Synchronize the product with Gelato first."))
        variants.check_access('write')
        try:
            updated, errors = variants._gelato_fetch_costs()
        except GelatoError as error:
            updated, errors = 0, [error.args[0] if error.args else str(error)]
        if errors:
            return utils.notification(
                'danger' if not updated else 'warning',
                self.env._("Gelato costs: %(updated)s of %(total)s updated",
                           updated=updated, total=len(variants)),
                '\n'.join(dict.fromkeys(errors)),
                sticky=True,
            )
        return utils.notification(
            'success', self.env._("Gelato costs"),
            self.env._("The cost of %(count)s variants is now Gelato's base price.",
                       count=updated),
            next_action={'type': 'ir.actions.client', 'tag': 'soft_reload'},
        )

    def action_gelato_revoke_print_links(self):
        """Give the print images new download tokens: the links Gelato was given stop working
        (a link that leaked, or after the orders were printed). Orders sent afterwards carry the
        new links.

        :return: A notification saying how many links were revoked.
        :rtype: dict
        """
        self._gelato_check_can_act('write')
        images = self.gelato_image_ids | self.product_variant_ids.gelato_image_ids
        attachments = images.ir_attachment_id.sudo().filtered('access_token')
        for attachment in attachments:
            attachment.access_token = False
            attachment.generate_access_token()
        return utils.notification(
            'success', self.env._("Print file links revoked"),
            self.env._("%s link(s) given to Gelato no longer work; new orders get new ones.",
                       len(attachments)))

    def action_gelato_check_availability(self):
        """Ask Gelato where the variants can be printed now: the "Check availability" button.

        :return: A notification with what was found, or why nothing was.
        :rtype: dict
        """
        self._gelato_check_can_act('read')
        variants = self.product_variant_ids.filtered('gelato_product_uid')
        if not variants:
            raise UserError(self.env._("Synchronize the product with Gelato first."))
        try:
            variants._gelato_check_availability()
        except GelatoError as error:
            return utils.notification(
                'danger', self.env._("Could not check Gelato's availability"),
                error.args[0] if error.args else str(error), sticky=True,
            )
        unavailable = variants.gelato_availability_ids.filtered(
            lambda a: a.status and a.status not in const.STOCK_AVAILABLE_STATUSES)
        if unavailable:
            message = self.env._(
                "Not available everywhere: %s",
                ', '.join(sorted({f"{a.product_id.display_name} ({a.region}: {a.status})"
                                  for a in unavailable})),
            )
        else:
            message = self.env._("Every variant can be printed in every Gelato region.")
        # Gelato's stock is per product UID: other designs on the same base product share it.
        others = self.env['product.product'].search([
            ('gelato_product_uid', 'in', variants.mapped('gelato_product_uid')),
            ('id', 'not in', variants.ids)])
        if others:
            message += ' ' + self.env._(
                "Gelato's stock is per base product, so this also applies to: %s.",
                ', '.join(sorted(set(others.mapped('display_name')))))
        return utils.notification(
            'success', self.env._("Gelato availability"), message,
            next_action={'type': 'ir.actions.client', 'tag': 'soft_reload'},
        )

    # === BUSINESS METHODS === #

    def _gelato_check_can_act(self, operation, group='sales_team.group_sale_salesman'):
        """Check, before any call to Gelato or any download, that the user may run a Gelato
        action on these products: the group the button needs, and the access the action's
        result needs (buttons can also be called over RPC).

        :param str operation: `read` or `write`.
        :param str group: The XML id of the group the action needs.
        :raise AccessError: When the user may not.
        """
        if not self.env.su and not self.env.user.has_group(group):
            raise AccessError(self.env._(
                "You are not allowed to run Gelato actions on products (they need the group "
                "\"%(group)s\").", group=self.env.ref(group).display_name))
        self.check_access(operation)

    def _gelato_enable_variants(self):
        """Switch on Odoo's Variants feature (as Settings > Variants does) the first time a
        synchronized Gelato template has several variants, so that its variants, their costs and
        their print image overrides can be reached from the product form."""
        group = self.env.ref('product.group_product_variant')
        employees = self.env.ref('base.group_user')
        if self.product_variant_count > 1 and group not in employees.implied_ids:
            employees.sudo().write({'implied_ids': [Command.link(group.id)]})

    def _gelato_company(self):
        """The company whose Gelato account the product's calls use: the product's own, else the
        user's current company (a product shared by all companies)."""
        self.ensure_one()
        return self.company_id or self.env.company

    def _gelato_fetch_template(self):
        """Read the product's template from Gelato's ecommerce API.

        :return: The template, as Gelato sends it.
        :rtype: dict
        :raise GelatoError: When Gelato does not answer or does not know the template.
        """
        ref = utils.gelato_id(self.gelato_template_ref)
        if not ref:
            raise GelatoError(_(
                "%(ref)s is not a Gelato template id: copy it again from Gelato (Templates > ⋮ > "
                "Copy Template ID).", ref=(self.gelato_template_ref or '').strip()[:80]))
        try:
            data = self._gelato_company()._gelato_request(
                'ecommerce', 'GET', f'/v1/templates/{ref}')
        except GelatoError as error:
            if error.status == 404:
                raise GelatoError(_(
                    "Gelato has no template with the id %(ref)s. Copy it again from Gelato "
                    "(Templates > ⋮ > Copy Template ID).", ref=ref,
                ), status=404) from None
            raise
        if not isinstance(data, dict):
            raise GelatoError(_("Gelato sent a template that could not be read."))
        return data

    def _gelato_fetch_page_counts(self, template_data):
        """Ask Gelato's product catalog which page counts each product of the template allows
        (https://dashboard.gelato.com/docs/products/product/get/: `validPageCounts`, given for
        multi-page products only, per product: a soft and a hard cover of one photo book may
        differ). A product that is not a multi-page one is asked once.

        :param dict template_data: The template, as Gelato sends it.
        :return: product UID -> its valid page counts (empty for other products), or None when
                 Gelato could not say (what Odoo knew is kept).
        :rtype: dict | None
        """
        variants = template_data.get('variants') if isinstance(template_data, dict) else None
        uids = list(dict.fromkeys(
            utils.gelato_id(v.get('productUid')) for v in variants or []
            if isinstance(v, dict) and utils.gelato_id(v.get('productUid'))))
        counts = {}
        for uid in uids:
            try:
                product = self._gelato_company()._gelato_request(
                    'product', 'GET', f'/v3/products/{uid}')
            except GelatoError as error:
                _logger.info("Page counts of %s not read: %s", uid, error.args[0])
                return None
            valid = product.get('validPageCounts') if isinstance(product, dict) else None
            counts[uid] = sorted({
                c for c in valid if isinstance(c, int) and not isinstance(c, bool)
                and 0 < c < 10000}) if isinstance(valid, list) else []
            if not counts[uid] and len(counts) == 1:
                return dict.fromkeys(uids, [])  # Not a multi-page product: one request.
        return counts or None

    def _gelato_apply_page_counts(self, page_counts):
        """Keep the page counts Gelato allows, per variant and for the product (all of them); a
        multi-page product without a page count every variant allows gets the smallest one
        they all allow (else the smallest of any).

        :param dict page_counts: product UID -> valid page counts, as `_gelato_fetch_page_counts`.
        """
        if page_counts is None:
            return
        per_variant = {}
        for variant in self.product_variant_ids.filtered('gelato_product_uid'):
            valid = page_counts.get(variant.gelato_product_uid)
            if valid is None:
                continue
            per_variant[variant] = valid
            value = ','.join(map(str, valid)) or False
            if value != (variant.gelato_valid_page_counts or False):
                variant.gelato_valid_page_counts = value
        lists = [set(valid) for valid in per_variant.values() if valid]
        every = sorted(set.union(*lists)) if lists else []
        common = sorted(set.intersection(*lists)) if lists else []
        valid = ','.join(map(str, every)) or False
        values = {}
        if valid != (self.gelato_valid_page_counts or False):
            values['gelato_valid_page_counts'] = valid
        if every and self.gelato_page_count not in (common or every):
            values['gelato_page_count'] = (common or every)[0]
        elif not every and self.gelato_page_count:
            values['gelato_page_count'] = 0
        if values:
            self.write(values)

    def _gelato_apply_template(self, template_data):
        """Make the product's attributes, variants and print images match a Gelato template.

        Only what differs is written: applying the same template twice writes nothing the second
        time. Variants Gelato no longer offers are removed, or archived when documents use them.

        :param dict template_data: The template, as Gelato sends it.
        :return: What changed: `added`, `removed`, `archived` (counts), `images_added`,
                 `images_removed` and `missing_images` (print area names).
        :rtype: dict
        :raise UserError: When the template cannot be represented in Odoo.
        """
        self.ensure_one()
        variants = self._gelato_parse_template(template_data)
        Product = self.env['product.product']
        # The variants that were already Gelato's: the others (a fresh product's default variant)
        # are replaced, not "removed".
        before = self.product_variant_ids.filtered('gelato_product_uid')

        if len(variants) == 1 and not variants[0]['options']:
            self._gelato_set_attribute_lines([])
            matched = {variants[0]['uid']: self.product_variant_ids[:1]}
        else:
            lines = self._gelato_resolve_attribute_values(variants)
            self._gelato_set_attribute_lines(lines)
            matched = self._gelato_match_variants(variants)

        # Reactivate variants that Gelato offers again, then write the UIDs that differ.
        to_activate = Product.concat(*matched.values()).filtered(lambda p: not p.active)
        if to_activate:
            to_activate.active = True
        for product_uid, product in matched.items():
            if product.gelato_product_uid != product_uid:
                product.gelato_product_uid = product_uid

        # Remove what Gelato does not offer (Odoo already removed the variants of values that left
        # the attribute lines).
        offered = Product.concat(*matched.values())
        extra = self.product_variant_ids - offered
        if extra:
            extra._unlink_or_archive()
        gone = before - offered
        archived = len(gone.exists())
        removed = len(gone) - archived

        # A new print area has no image yet: the product leaves the webshop until it has one.
        was_published = self.is_published
        images_added, images_removed = self._gelato_sync_print_images(template_data)
        description_updated = self._gelato_sync_description(template_data)
        self.write({'gelato_template_state': 'synced', 'gelato_sync_error': False,
                    'gelato_synced_at': fields.Datetime.now()})
        return {
            'added': len(offered - before),
            'removed': removed,
            'archived': archived,
            'images_added': images_added,
            'images_removed': images_removed,
            'missing_images': self.gelato_image_ids.filtered(
                lambda i: not i.file_size).mapped('name'),
            'unpublished': was_published and not self.is_published,
            'description_updated': description_updated,
        }

    def _gelato_parse_template(self, template_data):
        """Check a Gelato template and return its variants in a normalized form.

        :param dict template_data: The template, as Gelato sends it.
        :return: One dict per variant: `uid`, `title`, and `options` as a tuple of
                 `(attribute name, value name)` in Gelato's order.
        :rtype: list[dict]
        :raise UserError: With a message naming what is wrong.
        """
        raw_variants = template_data.get('variants')
        if not isinstance(raw_variants, list) or not raw_variants:
            raise UserError(_("The Gelato template has no variants: there is nothing to sell."))
        variants, seen_uids, seen_combinations = [], set(), {}
        for index, raw in enumerate(raw_variants, start=1):
            if not isinstance(raw, dict):
                raise UserError(_("Variant %(index)s of the Gelato template is malformed.",
                                  index=index))
            title = self._gelato_clean_name(raw.get('title') or str(index), _("variant title"))
            product_uid = raw.get('productUid')
            if not isinstance(product_uid, str) or not product_uid.strip():
                raise UserError(_("The Gelato variant %(variant)s has no product UID.",
                                  variant=title))
            product_uid = product_uid.strip()
            if product_uid in seen_uids:
                raise UserError(_("Two Gelato variants have the same product UID %(uid)s.",
                                  uid=product_uid))
            seen_uids.add(product_uid)
            options = []
            for raw_option in raw.get('variantOptions') or []:
                if not isinstance(raw_option, dict):
                    raise UserError(_("The Gelato variant %(variant)s has a malformed option.",
                                      variant=title))
                name = self._gelato_clean_name(raw_option.get('name'), _("option name"))
                value = self._gelato_clean_name(raw_option.get('value'), _("option value"))
                if name in dict(options):
                    raise UserError(_("The Gelato variant %(variant)s has the option %(option)s "
                                      "twice.", variant=title, option=name))
                options.append((name, value))
            variants.append({'uid': product_uid, 'title': title, 'options': tuple(options)})

        if len(variants) > 1:
            attribute_names = [name for name, _value in variants[0]['options']]
            for variant in variants:
                if not variant['options']:
                    raise UserError(_(
                        "The Gelato variant %(variant)s has no options, so it cannot be told "
                        "apart from the other variants.", variant=variant['title'],
                    ))
                names = [name for name, _value in variant['options']]
                if sorted(names) != sorted(attribute_names):
                    raise UserError(_(
                        "The Gelato variant %(variant)s has the options %(options)s where the "
                        "other variants have %(expected)s.", variant=variant['title'],
                        options=', '.join(names), expected=', '.join(attribute_names),
                    ))
                key = frozenset(variant['options'])
                if key in seen_combinations:
                    raise UserError(_(
                        "The Gelato variants %(first)s and %(second)s have the same options "
                        "(%(options)s).", first=seen_combinations[key], second=variant['title'],
                        options=', '.join(f'{n}: {v}' for n, v in variant['options']),
                    ))
                seen_combinations[key] = variant['title']
        return variants

    @api.model
    def _gelato_clean_name(self, name, what):
        """Return a stripped name from Gelato, or raise when it cannot be used as one."""
        if not isinstance(name, str) or not name.strip():
            raise UserError(_("The Gelato template has an empty or malformed %(what)s.",
                              what=what))
        name = ' '.join(name.split())
        if len(name) > const.MAX_NAME_LENGTH:
            raise UserError(_(
                "The Gelato template has a %(what)s longer than %(max)s characters: "
                "%(start)s…", what=what, max=const.MAX_NAME_LENGTH, start=name[:40],
            ))
        return name

    def _gelato_resolve_attribute_values(self, variants):
        """Find or create the variant-creating attributes and values a template needs.

        Three searches and at most two batched creates, whatever the number of variants.

        :param list variants: The parsed variants.
        :return: `(attribute, values)` pairs in Gelato's order.
        :rtype: list[tuple]
        """
        wanted = {}  # attribute name -> value names, in order of first appearance
        for variant in variants:
            for name, value in variant['options']:
                wanted.setdefault(name, {}).setdefault(value, None)

        Attribute = self.env['product.attribute']
        attributes = {}
        for attribute in Attribute.search(
            [('name', 'in', list(wanted)), ('create_variant', '=', 'always')], order='id',
        ):
            attributes.setdefault(attribute.name, attribute)
        missing = [name for name in wanted if name not in attributes]
        if missing:
            for attribute in Attribute.create([
                {'name': name, 'create_variant': 'always'} for name in missing
            ]):
                attributes[attribute.name] = attribute

        Value = self.env['product.attribute.value']
        attribute_ids = [attributes[name].id for name in wanted]
        values = {}
        all_value_names = list({v for names in wanted.values() for v in names})
        for value in Value.search(
            [('attribute_id', 'in', attribute_ids), ('name', 'in', all_value_names)], order='id',
        ):
            values.setdefault((value.attribute_id.id, value.name), value)
        to_create = [
            {'attribute_id': attributes[name].id, 'name': value_name}
            for name, value_names in wanted.items() for value_name in value_names
            if (attributes[name].id, value_name) not in values
        ]
        for value in Value.create(to_create):
            values[(value.attribute_id.id, value.name)] = value
        return [
            (attributes[name], Value.concat(*(values[(attributes[name].id, v)] for v in names)))
            for name, names in wanted.items()
        ]

    def _gelato_set_attribute_lines(self, lines):
        """Write the variant-creating attribute lines of the template, only where they differ.

        Lines of attributes that do not create variants are the user's and are kept.

        :param list lines: `(attribute, values)` pairs; empty for a template without options.
        :return: None
        """
        existing = {
            line.attribute_id: line for line in self.attribute_line_ids
            if line.attribute_id.create_variant == 'always'
        }
        commands = []
        for attribute, values in lines:
            line = existing.pop(attribute, None)
            if not line:
                commands.append(Command.create({
                    'attribute_id': attribute.id, 'value_ids': [Command.set(values.ids)],
                }))
            elif set(line.value_ids.ids) != set(values.ids):
                commands.append(Command.update(line.id, {'value_ids': [Command.set(values.ids)]}))
        commands += [Command.delete(line.id) for line in existing.values()]
        if commands:
            self.attribute_line_ids = commands

    def _gelato_match_variants(self, variants):
        """Find the Odoo variant of each Gelato variant, archived ones included.

        :param list variants: The parsed variants.
        :return: Gelato product UID -> product.product.
        :rtype: dict
        """
        by_values = {}
        all_variants = self.with_context(active_test=False).product_variant_ids
        for product in all_variants.sorted(lambda p: not p.active):
            values = product.product_template_attribute_value_ids.product_attribute_value_id
            key = frozenset((value.attribute_id.name, value.name) for value in values)
            by_values.setdefault(key, product)
        matched = {}
        for variant in variants:
            product = by_values.get(frozenset(variant['options']))
            if not product:
                raise UserError(_("Odoo could not create the variant %(variant)s.",
                                  variant=variant['title']))
            matched[variant['uid']] = product
        return matched

    def _gelato_sync_print_images(self, template_data):
        """Keep one print image per print area of the template.

        Gelato's areas `front` and `1` are named `default`, the name its order API accepts.
        Images of areas the template no longer has are removed.

        Each variant keeps the size of its print areas (`gelato_print_area_sizes`, written only
        when Gelato changed it) to check the print files against.

        :param dict template_data: The template, as Gelato sends it.
        :return: The names of the print areas added and removed.
        :rtype: tuple[list, list]
        """
        Product = self.env['product.product']
        areas, sizes = [], {}  # sizes: product UID -> {area: [width, height]} (mm)
        for variant in template_data.get('variants') or []:
            uid = variant.get('productUid') if isinstance(variant, dict) else None
            uid = uid.strip() if isinstance(uid, str) else None  # As `_gelato_parse_template`.
            for placeholder in (variant.get('imagePlaceholders') or []
                                if isinstance(variant, dict) else []):
                area = placeholder.get('printArea') if isinstance(placeholder, dict) else None
                if isinstance(area, str) and area.strip():
                    area = utils.normalize_print_area(area)
                    if area not in areas:
                        areas.append(area)
                    size = Product._gelato_placeholder_size(placeholder)
                    if uid and size:
                        sizes.setdefault(uid, {}).setdefault(area, list(size))
        self.product_variant_ids._gelato_set_print_area_sizes(sizes)
        existing = {image.name: image for image in self.gelato_image_ids}
        added = [area for area in areas if area not in existing]
        removed = self.gelato_image_ids.filtered(lambda image: image.name not in areas)
        commands = [Command.create({
            'name': area, 'res_model': 'product.template', 'is_gelato': True,
        }) for area in added]
        commands += [Command.delete(image.id) for image in removed]
        if added and self.is_published:
            self.is_published = False
        if commands:
            self.gelato_image_ids = commands
        return added, removed.mapped('name')

    def _gelato_sync_description(self, template_data):
        """Set the webshop description from the template's, sanitized, unless the user wrote
        their own.

        :param dict template_data: The template, as Gelato sends it.
        :return: Whether the description changed.
        :rtype: bool
        """
        description = template_data.get('description')
        if not isinstance(description, str) or not description.strip():
            return False
        if '<' not in description:  # Plain text: keep its paragraphs.
            description = Markup('').join(
                Markup('<p>%s</p>') % paragraph for paragraph in description.split('\n\n')
                if paragraph.strip()
            )
        clean = html_sanitize(description, strip_style=True, strip_classes=True) or ''
        # The checksum keeps "<what Gelato sent>:<what the field stored>": the first tells
        # whether Gelato's description changed, the second whether the user edited it since.
        source_sum, _sep, stored_sum = (self.gelato_description_checksum or '').partition(':')
        current = self.description_ecommerce or ''
        if not is_html_empty(current) and stored_sum != self._gelato_checksum(current):
            return False  # The user's own description.
        if source_sum == self._gelato_checksum(clean) and not is_html_empty(current):
            return False
        self.description_ecommerce = clean
        self.gelato_description_checksum = (
            f'{self._gelato_checksum(clean)}:{self._gelato_checksum(self.description_ecommerce)}')
        return True

    @staticmethod
    def _gelato_checksum(text):
        return hashlib.sha1(str(text or '').encode()).hexdigest()

    # What `_gelato_apply_preview` returns when all went well; anything else is the reason
    # why Gelato's picture could not be set.
    _GELATO_PICTURE_STATES = ('set', 'kept', 'unchanged', 'none')

    def _gelato_prepare_preview(self, template_data, force=False):
        """Download the preview picture of a Gelato template, to be set by
        `_gelato_apply_preview`. Network I/O: call it outside any savepoint.

        Nothing is downloaded when the product shows a picture of the user's own (a picture
        whose checksum is not the one of the picture Synchronize set), unless `force`.

        :param dict template_data: The template, as Gelato sends it.
        :param bool force: Whether to replace the user's own picture too.
        :return: `{'state': 'none'|'kept'}`, `{'state': 'error', 'reason': str}` or
                 `{'state': 'ready', 'image': bytes, 'checksum': str}`, the image as Odoo will
                 store it.
        :rtype: dict
        """
        self.ensure_one()
        url = template_data.get('previewUrl')
        if url is None or (isinstance(url, str) and not url.strip()):
            return {'state': 'none'}
        if not force and self._gelato_has_own_picture():
            return {'state': 'kept'}
        if not isinstance(url, str):
            return {'state': 'error', 'reason': self.env._(
                "Gelato's picture could not be fetched: its link is malformed.")}
        url = url.strip()
        try:
            # Not a call to Gelato: a download from wherever the link points, with no API key.
            # The host of the configured API URL may be loopback (the simulator).
            content = picture_download.download(
                url, translate=self.env._, trusted_hosts=picture_download.hosts_of(
                    self.env['res.company']._gelato_build_url(service, '/')
                    for service in const.API_SERVICES),
            )
            # The picture as the image field will store it (resized to 1920 px at most), so
            # that its checksum is the one of the stored picture.
            image = base64.b64decode(
                self._fields['image_1920']._image_process(base64.b64encode(content), self.env)
            )
        except GelatoImageError as error:
            reason = error.reason
        except UserError as error:  # Odoo could not process the picture.
            reason = error.args[0] if error.args else self.env._("not an image")
        except (OSError, SyntaxError, ValueError):
            reason = self.env._("not an image")
        else:
            return {'state': 'ready', 'image': image, 'checksum': hashlib.sha1(image).hexdigest()}
        link = picture_download.loggable_url(url)  # no query string: it may hold a signature
        if not link:
            return {'state': 'error', 'reason': self.env._(
                "Gelato's picture could not be fetched: %(reason)s.", reason=reason)}
        return {'state': 'error', 'reason': self.env._(
            "Gelato's picture could not be fetched from %(link)s: %(reason)s.",
            link=link, reason=reason,
        )}

    def _gelato_apply_preview(self, preview):
        """Set a picture prepared by `_gelato_prepare_preview` as the product's picture.

        :param dict preview: What `_gelato_prepare_preview` returned.
        :return: `set`, `unchanged`, `kept` (the user's own picture), `none` (Gelato has no
                 picture), or the reason why Gelato's picture could not be set.
        :rtype: str
        """
        self.ensure_one()
        if preview['state'] != 'ready':
            return preview.get('reason') or preview['state']
        if self._gelato_picture_checksum() == preview['checksum']:
            if self.gelato_image_checksum != preview['checksum']:
                self.gelato_image_checksum = preview['checksum']
            return 'unchanged'
        try:
            with self.env.cr.savepoint():
                self.image_1920 = base64.b64encode(preview['image'])
                self.gelato_image_checksum = self._gelato_picture_checksum()
        except (UserError, ValidationError) as error:
            return self.env._("Gelato's picture could not be set: %(reason)s",
                              reason=error.args[0] if error.args else error)
        return 'set'

    def _gelato_picture_checksum(self):
        """Return the SHA-1 of the product's picture as stored, or None without a picture."""
        return hashlib.sha1(base64.b64decode(self.image_1920)).hexdigest() \
            if self.image_1920 else None

    def _gelato_has_own_picture(self):
        """Return whether the product shows a picture that Synchronize did not set."""
        checksum = self._gelato_picture_checksum()
        return bool(checksum) and checksum != self.gelato_image_checksum

    def _gelato_sync_summary_text(self, summary):
        """Return the sentence that tells the user what a synchronization changed."""
        parts = []
        if summary['added']:
            parts.append(_("%s variant(s) added", summary['added']))
        if summary['removed']:
            parts.append(_("%s variant(s) removed", summary['removed']))
        if summary['archived']:
            parts.append(_("%s variant(s) archived (used in documents)", summary['archived']))
        if summary['images_removed']:
            parts.append(_("print areas removed: %s", ', '.join(summary['images_removed'])))
        picture = summary.get('picture')
        if picture == 'set':
            parts.append(self.env._("picture set from Gelato's preview"))
        if summary.get('description_updated'):
            parts.append(self.env._("webshop description updated"))
        text = '; '.join(parts) + '.' if parts else _("Already up to date.")
        if summary.get('unpublished'):
            text += ' ' + self.env._("Gelato added print areas: the product was unpublished from "
                                     "the webshop until their images are provided.")
        if summary['missing_images']:
            text += ' ' + _("Print images to provide: %s.", ', '.join(summary['missing_images']))
        if picture == 'kept':
            text += ' ' + self.env._("The product's own picture was kept (\"Use Gelato's "
                                     "picture\" replaces it).")
        elif picture and picture not in self._GELATO_PICTURE_STATES:
            text += ' ' + picture
        return text

    @api.model
    def _gelato_visitor_country(self):
        """The country of the webshop visitor: their account's address, else the country the
        request comes from; an empty recordset when neither is known."""
        Country = self.env['res.country']
        if not request:
            return Country
        user = request.env.user
        if not user._is_public() and user.partner_id.country_id:
            return user.partner_id.country_id
        code = request.geoip.country_code
        return Country.search([('code', '=', code)], limit=1) if code else Country

    @api.model
    def _gelato_area_label(self, area):
        """How a print area is named to a shopper: Gelato's `default` file is the front (the
        only side of most products), the others by their name (docs/orders/v4/create,
        FileType)."""
        if area == 'default':
            return self.env._("Front")
        return (area or '').replace('-', ' ').capitalize()

    def _gelato_website_artwork_areas(self):
        """The print areas a shopper gives a picture for on the product page of a personalised
        product (those of its print images, from the template's placeholders).

        :rtype: list[str]
        """
        self.ensure_one()
        if not self.gelato_personalized or not self.gelato_template_ref:
            return []
        return self.sudo().gelato_image_ids.mapped('name')

    def _gelato_website_unavailability(self):
        """What the product page says when variants cannot be bought where the shopper is.

        :return: The message, or None when every variant can be ordered.
        :rtype: str | None
        """
        self.ensure_one()
        if not self.gelato_template_ref:
            return None
        cart = request and request.website and getattr(request, 'cart', None)
        country = cart._gelato_shopper_country() if cart else self._gelato_visitor_country()
        if not country:
            return None
        # Stock statuses are not for the public: read as superuser, only the message shows.
        variants = self.sudo().product_variant_ids.filtered('gelato_product_uid')
        unavailable = variants.filtered(lambda v: v._gelato_out_of_stock_in(country))
        if not unavailable:
            return None
        if unavailable == variants:
            return self.env._("This product cannot be delivered to %(country)s at the moment "
                              "(out of stock).", country=country.name)
        return self.env._(
            "Out of stock for delivery to %(country)s at the moment: %(options)s.",
            country=country.name,
            options=', '.join(
                v.product_template_attribute_value_ids._get_combination_name() or v.display_name
                for v in unavailable),
        )

    def _gelato_schedule_resync(self):
        """Mark the products for a synchronization in the background (Gelato changed their
        template) and wake the scheduled action that does it, a short while later: Gelato
        announces a catalog change with a burst of events (one per store, per edit), and every
        event of the burst for the same product makes one synchronization. A product already
        waiting is left as it is (no write, no new wake-up)."""
        waiting = self.filtered(lambda p: p.gelato_template_state != 'update_pending')
        if not waiting:
            return
        waiting.write({'gelato_template_state': 'update_pending'})
        delay = int(self.env['ir.config_parameter'].sudo().get_param(
            const.TEMPLATE_SYNC_DELAY_PARAM, const.DEFAULT_TEMPLATE_SYNC_DELAY) or 0)
        self.env.ref('gelato_connector.ir_cron_gelato_template_sync').sudo()._trigger(
            at=fields.Datetime.now() + timedelta(seconds=max(delay, 0)))

    @api.model
    def _cron_gelato_template_sync(self, limit=20):
        """Synchronize the products whose Gelato template changed, one per transaction (the
        run resumes where it stopped after a restart); failures are noted. Bulk work: it yields
        to shoppers and orders in the shared request budget, and when Gelato or the budget asks
        to wait, it stops and runs again later, the products still waiting."""
        self = self.with_context(gelato_priority='bulk')
        domain = [('gelato_template_state', '=', 'update_pending')]
        products = self.search(domain, limit=limit, order='write_date, id')
        cron = self.env.ref('gelato_connector.ir_cron_gelato_template_sync')

        def sync(product):
            try:
                product._gelato_sync_template()
            except GelatoError as error:
                if error.transient:
                    # Still waiting: taken again when Gelato may be asked.
                    cron.sudo()._trigger(at=fields.Datetime.now() + timedelta(
                        seconds=max(error.retry_after or 0, const.RATE_BULK_RETRY_SECONDS)))
                    return batch.STOP
                raise
            if product.gelato_sync_error:
                product.gelato_sync_error = False
            return None

        def failed(product, error):
            product._gelato_sync_failed(
                (error.args[0] if error.args else '') or type(error).__name__)

        batch.run_batch(products, sync, total=self.search_count(domain), on_error=failed)

    def _gelato_sync_failed(self, reason):
        """Show a background synchronization as failed, with why; it is not retried in a loop
        (the next change Gelato announces, or Synchronize, tries again)."""
        self.write({'gelato_template_state': 'sync_failed', 'gelato_sync_error': reason})
        self.message_post(body=Markup("%s<br/>%s") % (
            _("The automatic synchronization with Gelato failed."), reason,
        ))

    def _gelato_archive_deleted_template(self):
        """Archive products whose Gelato template was deleted, with a note saying why."""
        for product in self.filtered('active'):
            product.write({'active': False, 'gelato_template_state': 'deleted'})
            product.message_post(body=Markup("%s") % _(
                "Archived because Gelato reported that its template %(ref)s was deleted.",
                ref=product.gelato_template_ref,
            ))

    # === GETTER METHODS === #

    def _get_related_fields_variant_template(self):
        """Override of `product` to keep `gelato_product_uid` in step between template and
        variant."""
        return super()._get_related_fields_variant_template() + ['gelato_product_uid']

    def _get_product_document_domain(self):
        """Override of `product` to leave print images out of the product's documents."""
        return super()._get_product_document_domain() & Domain('is_gelato', '=', False)
