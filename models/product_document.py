# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from odoo.addons.gelato_connector import print_check


class ProductDocument(models.Model):
    _inherit = 'product.document'

    # Tells Gelato print images (one per print area, the area in `name`) from other documents.
    is_gelato = fields.Boolean(string="Gelato Print Image", readonly=True, index='btree_not_null')
    # What the print file is, measured once from the stored file when it changes (see
    # `print_check.measure`): the checks at confirmation and on the product form only compare.
    gelato_file_format = fields.Char(
        string="Print File Format", compute='_compute_gelato_file_check', store=True,
        help="PNG, JPEG, TIFF, PDF or SVG (the formats Gelato prints), or what the file is.",
    )
    gelato_pixel_width = fields.Integer(
        string="Width (px)", compute='_compute_gelato_file_check', store=True)
    gelato_pixel_height = fields.Integer(
        string="Height (px)", compute='_compute_gelato_file_check', store=True)
    gelato_file_error = fields.Selection(
        string="Print File Problem",
        selection=[
            ('format', "Not a format Gelato prints"),
            ('corrupt', "Could not be read"),
            ('too_large', "Too large to be checked"),
        ],
        compute='_compute_gelato_file_check', store=True,
    )

    # === COMPUTE METHODS === #

    @api.depends('is_gelato', 'checksum')
    def _compute_gelato_file_check(self):
        for document in self:
            measurement = print_check.measure(document.raw or b'') \
                if document.is_gelato and document.checksum else {}
            document.gelato_file_format = measurement.get('format') or False
            document.gelato_pixel_width = measurement.get('width') or 0
            document.gelato_pixel_height = measurement.get('height') or 0
            document.gelato_file_error = measurement.get('error') or False

    # === CONSTRAINT METHODS === #

    @api.constrains('datas')
    def _check_gelato_print_image_kept_while_published(self):
        """A published Gelato product keeps its print images: Gelato prints every order."""
        for image in self.filtered(lambda i: i.is_gelato and not i.datas
                                   and i.res_model == 'product.template'):
            product = self.env['product.template'].browse(image.res_id).exists()
            if product.is_published:
                raise ValidationError(self.env._(
                    "The print image \"%(area)s\" of %(product)s cannot be removed while the "
                    "product is published on the webshop: unpublish it first.",
                    area=image.name, product=product.display_name,
                ))

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        """Override of `product` to store print images as they are uploaded (see `write`)."""
        default = self.env.context.get('default_is_gelato')
        if not any(vals.get('is_gelato', default) for vals in vals_list):
            return super().create(vals_list)
        if all(vals.get('is_gelato', default) for vals in vals_list):
            return super(ProductDocument, self._gelato_as_uploaded()).create(vals_list)
        return self.concat(*(self.create([vals]) for vals in vals_list))

    def write(self, vals):
        """Override of `ir.attachment` (inherited) to store print images as they are uploaded:
        Odoo shrinks pictures above 1920 px (`base.image_autoresize_max_px`), which would leave
        a poster's print file far below Gelato's 300 dpi, and decodes them whole to do so."""
        prints = self.filtered('is_gelato')
        if not prints or not {'datas', 'raw'} & set(vals):
            return super().write(vals)
        super(ProductDocument, prints._gelato_as_uploaded()).write(vals)
        if others := self - prints:
            super(ProductDocument, others).write(vals)
        return True

    def _gelato_as_uploaded(self):
        return self.with_context(image_no_postprocess=True)

    # === BUSINESS METHODS === #

    def _gelato_measurement(self):
        """Return the stored measurement of the print file, as `print_check.measure` gives it."""
        self.ensure_one()
        return {'format': self.gelato_file_format, 'width': self.gelato_pixel_width,
                'height': self.gelato_pixel_height, 'error': self.gelato_file_error}

    def _gelato_file_problem(self):
        """Say why Gelato cannot print this file, or return None.

        :rtype: str | None
        """
        self.ensure_one()
        formats = ', '.join(print_check.PIXEL_FORMATS + print_check.VECTOR_FORMATS[:-1]) \
            + self.env._(" and ") + print_check.VECTOR_FORMATS[-1]
        if self.gelato_file_error == 'format':
            if self.gelato_file_format:
                return self.env._(
                    "it is a %(format)s file, not a format Gelato prints (Gelato takes "
                    "%(formats)s).", format=self.gelato_file_format, formats=formats)
            return self.env._("it is not a format Gelato prints (Gelato takes %(formats)s).",
                              formats=formats)
        if self.gelato_file_error == 'corrupt':
            return self.env._(
                "it could not be read as a %(format)s picture (damaged or incomplete file): "
                "export it again and upload it.", format=self.gelato_file_format)
        if self.gelato_file_error == 'too_large':
            size = self.env._("%(width)s × %(height)s pixels",
                              width=self.gelato_pixel_width, height=self.gelato_pixel_height) \
                if self.gelato_pixel_width else self.env._("its size")
            return self.env._(
                "it is too large to be checked safely (%(size)s, more than %(max)s pixels): "
                "export it at the print size at %(dpi)s dpi.",
                size=size, max=f'{print_check.max_pixels():,}', dpi=print_check.RECOMMENDED_DPI)
        return None

    def _gelato_prepare_file_payload(self):
        """Return the `files` entry of an order item for this print image.

        Gelato downloads the file itself, so the URL carries an access token.

        :return: `{'type': <print area>, 'url': <download URL>}`
        :rtype: dict
        """
        self.ensure_one()
        attachment = self.ir_attachment_id.sudo()  # The token is stored on the attachment.
        token = attachment.access_token or attachment.generate_access_token()[0]
        return {
            'type': self.name.lower(),
            # `unique` names the file's content: a file replaced while the order is held at
            # Gelato is a new URL when the approval sends the files again.
            'url': f'{self.get_base_url()}/web/content/{attachment.id}'
                   f'?unique={(attachment.checksum or "")[:16]}&access_token={token}',
        }
