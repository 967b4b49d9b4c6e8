# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import api, fields, models
from odoo.exceptions import ValidationError


class ProductDocument(models.Model):
    _inherit = 'product.document'

    # Tells Gelato print images (one per print area, the area in `name`) from other documents.
    is_gelato = fields.Boolean(string="Gelato Print Image", readonly=True, index='btree_not_null')

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

    # === BUSINESS METHODS === #

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
            'url': f'{self.get_base_url()}/web/content/{attachment.id}?access_token={token}',
        }
