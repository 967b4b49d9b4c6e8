# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import threading

from odoo.tests import tagged

from odoo.addons.gelato_connector.exceptions import GelatoError
from odoo.addons.gelato_connector.tests.common import (
    API_KEY,
    WEBHOOK_SECRET,
    GelatoCase,
    capture_logs,
)


@tagged('post_install', '-at_install')
class TestGelatoClient(GelatoCase):
    """The shared client, against the simulator over real HTTP."""

    def _get(self, path='/v1/shipment-methods', **kwargs):
        return self.company._gelato_request('shipment', 'GET', path, **kwargs)

    def _api_requests(self):
        return [r for r in self.simulator.requests if not r['path'].startswith('/_simulator')]

    def test_url_comes_from_the_system_parameter_and_key_from_the_company(self):
        result = self._get(params={'country': 'US'})
        self.assertIn('shipmentMethods', result)
        request = self._api_requests()[-1]
        self.assertEqual(request['path'], '/shipment/v1/shipment-methods')
        self.assertTrue(request['has_api_key'])

    def test_missing_api_key_is_a_clear_error_without_a_call(self):
        self.company.gelato_api_key = False
        with self.assertRaisesRegex(GelatoError, 'not configured'):
            self._get()
        self.assertFalse(self._api_requests())

    def test_safe_call_retries_503_then_succeeds(self):
        self.simulator.set_fault('503', times=2)
        self.assertIn('shipmentMethods', self._get())
        self.assertEqual(len(self._api_requests()), 3)

    def test_safe_call_retries_429_then_succeeds(self):
        self.simulator.set_fault('429', times=1)
        self.assertIn('shipmentMethods', self._get())
        self.assertEqual(len(self._api_requests()), 2)

    def test_persistent_503_gives_a_clear_transient_error(self):
        self.simulator.set_fault('503')
        with self.assertRaises(GelatoError) as caught:
            self._get()
        self.assertTrue(caught.exception.transient)
        self.assertIn('Gelato', str(caught.exception))
        self.assertEqual(len(self._api_requests()), 4, "one call and three retries")

    def test_unsafe_post_is_not_repeated_after_an_answer(self):
        self.simulator.set_fault('503')
        with self.assertRaises(GelatoError) as caught:
            self.company._gelato_request('order', 'POST', '/v4/orders', json={})
        self.assertTrue(caught.exception.transient)
        self.assertEqual(len(self._api_requests()), 1)

    def test_refused_connection_is_retried_until_gelato_is_back(self):
        self.simulator.go_down()
        timer = threading.Timer(0.2, self.simulator.come_up)
        timer.start()
        try:
            self.assertIn('shipmentMethods', self._get())
        finally:
            timer.join()

    def test_refused_connection_gives_a_clear_error_after_retries(self):
        self.simulator.go_down()
        try:
            with self.assertRaisesRegex(GelatoError, 'Could not reach Gelato') as caught:
                self._get()
        finally:
            self.simulator.come_up()
        self.assertTrue(caught.exception.transient)

    def test_dropped_connection_is_a_clear_error(self):
        self.simulator.set_fault('down')
        with self.assertRaisesRegex(GelatoError, 'Could not reach Gelato'):
            self.company._gelato_request('order', 'POST', '/v4/orders', json={})

    def test_gelato_error_body_becomes_a_readable_message(self):
        with self.assertRaises(GelatoError) as caught:
            self.company._gelato_request('order', 'POST', '/v4/orders', json={'items': []})
        error = caught.exception
        self.assertEqual(error.status, 400)
        self.assertFalse(error.transient)
        self.assertIn('Gelato says', str(error))

    def test_wrong_key_is_reported_as_such(self):
        self.company.gelato_api_key = 'not-a-key'
        with self.assertRaisesRegex(GelatoError, '401') as caught:
            self._get()
        self.assertEqual(caught.exception.status, 401)

    def test_unknown_resource_is_a_404_error(self):
        with self.assertRaises(GelatoError) as caught:
            self.company._gelato_request('ecommerce', 'GET', '/v1/templates/does-not-exist')
        self.assertEqual(caught.exception.status, 404)

    def test_garbage_answer_is_a_clear_error(self):
        self.simulator.set_fault('garbage', times=1)
        with self.assertRaisesRegex(GelatoError, 'could not be read'):
            self._get()

    def test_no_secret_reaches_the_logs(self):
        with capture_logs() as logs:
            self._get()
            self.simulator.set_fault('503', times=2)
            self._get()
            self.simulator.set_fault('503')
            with self.assertRaises(GelatoError):
                self._get()
            self.simulator.clear_faults()
            with self.assertRaises(GelatoError):
                self.company._gelato_request('order', 'POST', '/v4/orders', json={'items': []})
            self.simulator.go_down()
            try:
                with self.assertRaises(GelatoError):
                    self._get()
            finally:
                self.simulator.come_up()
        self.assertTrue(logs.records, "the client logs its calls")
        self.assertNotIn(API_KEY, logs.text)
        self.assertNotIn(WEBHOOK_SECRET, logs.text)
