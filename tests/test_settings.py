# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from odoo.addons.gelato_connector.tests.common import (
    API_KEY,
    FORBIDDEN_KEY,
    GelatoCase,
    capture_logs,
)


@tagged('post_install', '-at_install')
class TestSettings(GelatoCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_b = cls.env['res.company'].create({'name': "Gelato Second Company"})
        cls.salesman = new_test_user(
            cls.env, login='gelato_salesman', groups='sales_team.group_sale_salesman',
            company_ids=[(6, 0, (cls.company | cls.company_b).ids)],
        )

    def _settings(self, company, **values):
        return self.env['res.config.settings'].with_company(company).create(values)

    def test_credentials_are_saved_per_company(self):
        self._settings(self.company, gelato_enabled=True, gelato_api_key='key-a',
                       gelato_webhook_secret='secret-a').execute()
        self._settings(self.company_b, gelato_enabled=True, gelato_api_key='key-b',
                       gelato_webhook_secret='secret-b').execute()
        self.assertEqual(self.company.gelato_api_key, 'key-a')
        self.assertEqual(self.company_b.gelato_api_key, 'key-b')
        self.assertEqual(self.company_b.gelato_webhook_secret, 'secret-b')
        self.assertEqual(self._settings(self.company_b).gelato_api_key, 'key-b')

    def test_salesperson_cannot_read_the_secrets(self):
        company = self.company.with_user(self.salesman)
        with self.assertRaises(AccessError):
            company.read(['gelato_api_key'])
        with self.assertRaises(AccessError):
            company.read(['gelato_webhook_secret'])
        fields = company.fields_get()
        self.assertNotIn('gelato_api_key', fields)
        self.assertNotIn('gelato_webhook_secret', fields)

    def test_webhook_url_is_the_base_url_and_the_route(self):
        base_url = self.company.get_base_url()
        self.assertEqual(self._settings(self.company).gelato_webhook_url,
                         f'{base_url}/gelato/webhook')

    def test_test_connection_reports_success(self):
        action = self._settings(self.company).action_gelato_test_connection()
        self.assertEqual(action['params']['type'], 'success')

    def test_test_connection_reports_a_wrong_key(self):
        self.company.gelato_api_key = 'wrong-key'
        with capture_logs() as logs:
            action = self._settings(self.company).action_gelato_test_connection()
        self.assertEqual(action['params']['type'], 'danger')
        self.assertIn('API key', action['params']['message'])
        self.assertNotIn('wrong-key', logs.text)

    def test_test_connection_reports_a_key_without_access(self):
        self.company.gelato_api_key = FORBIDDEN_KEY
        action = self._settings(self.company).action_gelato_test_connection()
        self.assertEqual(action['params']['type'], 'danger')
        self.assertIn('403', action['params']['message'])

    def test_test_connection_reports_gelato_down(self):
        self.simulator.go_down()
        try:
            with capture_logs() as logs:
                action = self._settings(self.company).action_gelato_test_connection()
        finally:
            self.simulator.come_up()
        self.assertEqual(action['params']['type'], 'danger')
        self.assertIn('Could not reach Gelato', action['params']['message'])
        self.assertNotIn(API_KEY, logs.text)

    def test_settings_page_shows_the_gelato_block(self):
        arch = self.env['res.config.settings'].get_views([(False, 'form')])['views']['form']['arch']
        self.assertIn('gelato_api_key', arch)
        self.assertIn('action_gelato_test_connection', arch)
        self.assertNotIn('module_sale_gelato', arch)
