# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import fields, models


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
