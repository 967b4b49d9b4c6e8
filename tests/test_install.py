# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged


@tagged('post_install', '-at_install')
class TestInstall(TransactionCase):

    def test_installing_beside_odoo_sale_gelato_is_refused(self):
        for name in ('sale_gelato', 'sale_gelato_stock', 'website_sale_gelato'):
            module = self.env['ir.module.module'].search([('name', '=', name)])
            self.assertTrue(module, f"{name} should be known to Odoo")
            with self.assertRaises(UserError, msg=f"{name} must not install beside us"):
                module.button_install()

    def test_manifest_excludes_odoo_gelato_modules(self):
        module = self.env['ir.module.module'].search([('name', '=', 'gelato_connector')])
        self.assertEqual(module.state, 'installed')
        self.assertEqual(module.license, 'LGPL-3')
        excluded = set(module.exclusion_ids.mapped('name'))
        self.assertEqual(excluded, {'sale_gelato', 'sale_gelato_stock', 'website_sale_gelato'})

    def test_api_url_template_defaults_to_gelato(self):
        param = self.env.ref('gelato_connector.config_parameter_api_url_template')
        self.assertEqual(param.key, 'gelato_connector.api_url_template')
        self.assertEqual(param.value, 'https://{service}.gelatoapis.com')
