# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""The simulator's rate limit: a token bucket per API key, answered as Gelato answers it.

Gelato answers HTTP 429 to a client that sends too many requests and asks it to back off
exponentially; it publishes no figure (https://dashboard.gelato.com/docs/, "Rate limits"). The
simulator's limit is the benchmarks' stand-in for it: `rate_limit` requests per second and API key,
`rate_burst` at once, on API routes only. The bucket's clock is replaced by one the test moves, so
that no assertion depends on how fast the machine is.
"""
import threading

import requests

from odoo.tests import TransactionCase, tagged

from odoo.addons.gelato_connector.simulator import GelatoSimulator
from odoo.addons.gelato_connector.tests.common import API_KEY

OTHER_KEY = 'sim-key-of-another-account'
SEARCH = '/order/v4/orders:search'


@tagged('post_install', '-at_install')
class TestSimulatorRateLimit(TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.simulator = GelatoSimulator(api_keys=(API_KEY, OTHER_KEY), rate_limit=2,
                                        rate_burst=3).start()
        cls.addClassCleanup(cls.simulator.stop)

    def setUp(self):
        super().setUp()
        self.now = 1000.0
        self.addCleanup(setattr, self.simulator, '_clock', self.simulator._clock)
        self.simulator._clock = lambda: self.now
        self.simulator.reset()
        self.simulator.set_rate_limit(2, 3)
        self.session = requests.Session()
        self.addCleanup(self.session.close)

    def _call(self, key=API_KEY, path=SEARCH):
        return self.session.post(self.simulator.url + path, json={},
                                 headers={'X-API-KEY': key}, timeout=10)

    def test_beyond_the_burst_is_429_in_the_fault_shape_with_retry_after(self):
        for _i in range(3):
            self.assertEqual(self._call().status_code, 200)
        throttled = self._call()
        self.assertEqual(throttled.status_code, 429)
        # Half a second until the next token (2 per second): the header says whole seconds.
        self.assertEqual(throttled.headers.get('Retry-After'), '1')
        self.assertEqual(self.simulator.throttled, 1)
        self.assertEqual(len(self.simulator.requests), 4, "a throttled request is still logged")
        self.assertEqual(self.simulator.requests[-1]['path'], SEARCH)
        # The same answer as the '429' fault's, but for the header.
        self.simulator.set_rate_limit(None)
        self.simulator.set_fault('429', times=1)
        fault = self._call()
        self.assertEqual(fault.status_code, 429)
        self.assertEqual(fault.json(), throttled.json())
        self.assertEqual(throttled.json()['code'], 'too_many_requests')
        self.assertEqual(self.simulator.throttled, 1, "a fault is not the rate limit")

    def test_tokens_come_back_at_the_rate(self):
        for _i in range(3):
            self._call()
        self.assertEqual(self._call().status_code, 429)
        self.now += 0.5  # one token back
        self.assertEqual(self._call().status_code, 200)
        self.assertEqual(self._call().status_code, 429)
        self.now += 60  # never more than the burst
        self.assertEqual([self._call().status_code for _i in range(4)], [200, 200, 200, 429])
        self.assertEqual(self.simulator.throttled, 3)

    def test_retry_after_is_the_whole_seconds_until_a_token(self):
        self.simulator.set_rate_limit(0.25, 1)  # a token every 4 s
        self.assertEqual(self._call().status_code, 200)
        self.assertEqual(self._call().headers.get('Retry-After'), '4')
        self.now += 1.5
        self.assertEqual(self._call().headers.get('Retry-After'), '3')  # 2.5 s, rounded up
        self.now += 2.4
        self.assertEqual(self._call().headers.get('Retry-After'), '1')  # 0.1 s: at least 1

    def test_each_api_key_has_its_own_bucket(self):
        for _i in range(3):
            self._call()
        self.assertEqual(self._call().status_code, 429)
        self.assertEqual([self._call(OTHER_KEY).status_code for _i in range(4)],
                         [200, 200, 200, 429])

    def test_control_routes_and_previews_are_not_limited(self):
        for _i in range(3):
            self._call()
        preview = self.simulator.preview_url(next(iter(self.simulator.templates)))
        for _i in range(5):
            self.assertEqual(self.session.get(self.simulator.url + '/_simulator/state',
                                              timeout=10).status_code, 200)
            self.assertEqual(self.session.get(preview, timeout=10).status_code, 200)
        self.assertEqual(self.simulator.throttled, 0)
        self.assertEqual(self._call().status_code, 429)

    def test_no_limit_unless_asked(self):
        self.simulator.set_rate_limit(None)
        self.assertEqual({self._call().status_code for _i in range(20)}, {200})
        self.assertEqual(self.simulator.throttled, 0)
        with self.assertRaises(ValueError):
            self.simulator.set_rate_limit(5, 0.5)

    def test_concurrent_clients_share_the_bucket_exactly(self):
        self.simulator.set_rate_limit(1, 10)  # the clock stands still: 10 requests in all
        codes, lock = [], threading.Lock()

        def client():
            with requests.Session() as session:
                for _i in range(5):
                    status = session.post(self.simulator.url + SEARCH, json={},
                                          headers={'X-API-KEY': API_KEY}, timeout=10).status_code
                    with lock:
                        codes.append(status)

        threads = [threading.Thread(target=client) for _i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(codes.count(200), 10)
        self.assertEqual(codes.count(429), 30)
        self.assertEqual(self.simulator.throttled, 30)
        self.assertEqual(len(self.simulator.requests), 40)
