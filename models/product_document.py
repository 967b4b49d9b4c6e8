# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import fields, models


class ProductDocument(models.Model):
    _inherit = 'product.document'

    # Tells Gelato print images (one per print area, the area in `name`) from other documents.
    is_gelato = fields.Boolean(string="Gelato Print Image", readonly=True, index='btree_not_null')

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
