# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import base64
import hashlib
import ipaddress
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from odoo.tests import tagged

from odoo.addons.gelato_connector.simulator.data import png, preview_png
from odoo.addons.gelato_connector.tests.common import GelatoCase, capture_logs

USER_PICTURE = png(16, 16, (200, 30, 30))

# The watch in progress, and whether the audit hook is installed (it cannot be removed).
_WATCH = {'current': None, 'installed': False}


def _audit_hook(event, args):
    watch = _WATCH['current']
    if watch is None or threading.get_ident() != watch.thread:
        return
    if event == 'socket.getaddrinfo':
        watch.lookups.append(args[0].decode() if isinstance(args[0], bytes) else args[0])
    elif event == 'socket.connect':
        address = args[1]
        host = address[0] if isinstance(address, tuple) else str(address)
        watch.connects.append(host)
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            # The workplace forbids traffic to any other address: stop it before it leaves.
            raise ConnectionRefusedError(f"test guard: no connection to {host}")


class network_watch:
    """See every name lookup and connection the code makes in the test's thread, through
    Python's audit events `socket.getaddrinfo` and `socket.connect`.

    Not a mock: the code under test runs unchanged over real sockets; this only records the
    calls, and stops a connection to a non-loopback address before it is made (the test then
    fails on the reason). Audit hooks cannot be removed: it is installed once and does nothing
    outside a `with network_watch()` block.
    """

    def __enter__(self):
        if not _WATCH['installed']:
            sys.addaudithook(_audit_hook)
            _WATCH['installed'] = True
        self.thread, self.lookups, self.connects = threading.get_ident(), [], []
        self.started = time.monotonic()
        _WATCH['current'] = self
        return self

    def __exit__(self, *exc):
        _WATCH['current'] = None
        self.elapsed = time.monotonic() - self.started
        return False


class _Redirector(BaseHTTPRequestHandler):
    """A CDN in front of Gelato's pictures: `/hops/N` redirects N times, the last time to the
    simulator's picture given by the `target` class attribute; `/announced-huge` announces a
    body over the limit (and sends none: the client must not wait for it)."""

    target = None

    def do_GET(self):
        if self.path == '/announced-huge':
            self.send_response(200)
            self.send_header('Content-Type', 'image/png')
            self.send_header('Content-Length', str(64 * 1024 * 1024))
            self.end_headers()
            return
        hops = int(self.path.rsplit('/', 1)[-1])
        self.send_response(302)
        # Relative links for the hops in between, an absolute one to the picture.
        self.send_header('Location', f'/hops/{hops - 1}' if hops > 1 else self.target)
        self.send_header('Content-Length', '0')
        self.end_headers()

    def log_message(self, *args):
        pass


@tagged('post_install', '-at_install')
class TestProductPreview(GelatoCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        handler = type('Redirector', (_Redirector,), {})
        cls.redirector = ThreadingHTTPServer(('127.0.0.1', 0), handler)
        cls.redirector.daemon_threads = True
        cls.redirector_handler = handler
        thread = threading.Thread(target=cls.redirector.serve_forever,
                                  kwargs={'poll_interval': 0.05}, daemon=True)
        thread.start()
        cls.addClassCleanup(cls.redirector.server_close)
        cls.addClassCleanup(cls.redirector.shutdown)

    # --- helpers -------------------------------------------------------------------------------

    def _template(self, ref, preview=None):
        """A template of two variants without print areas (so that only the picture may make
        the notification a warning); `preview` replaces its previewUrl."""
        template = self.simulator.make_template(ref, [('Size', ['S', 'M'])], print_areas=())
        if preview is not None:
            self.simulator.templates[ref]['previewUrl'] = preview
        return template

    def _picture(self, product):
        return base64.b64decode(product.image_1920) if product.image_1920 else None

    def _preview_requests(self):
        return [r for r in self.simulator.requests if r['path'].startswith('/_simulator/previews/')]

    def _assert_sync_despite_the_picture(self, ref, preview, *reasons):
        """Synchronize a fresh product whose template's picture cannot be used: the variants are
        there, the picture is not, and the notification names the reason."""
        template = self._template(ref, preview)
        product = self._product(ref)
        with network_watch() as watch:
            params = self._sync(product)
        self.assertEqual(params['type'], 'warning', params['message'])
        self.assertIn('2 variant(s) added', params['message'])
        self.assertEqual(set(product.product_variant_ids.mapped('gelato_product_uid')),
                         {v['productUid'] for v in template['variants']})
        self.assertEqual(product.gelato_template_state, 'synced')
        self.assertIn("Gelato's picture could not be fetched", params['message'])
        for reason in reasons:
            self.assertIn(reason, params['message'])
        self.assertFalse(product.image_1920)
        self.assertFalse(product.gelato_image_checksum)
        for host in watch.connects:
            self.assertTrue(ipaddress.ip_address(host).is_loopback, watch.connects)
        return params, watch

    # --- the picture follows Gelato's ----------------------------------------------------------

    def test_fresh_sync_sets_the_gelato_picture(self):
        self._template('tpl-pic')
        product = self._product('tpl-pic')
        params = self._sync(product)
        self.assertEqual(params['type'], 'success', params['message'])
        self.assertIn("picture set from Gelato's preview", params['message'])
        self.assertEqual(self._picture(product), preview_png('tpl-pic'))
        self.assertEqual(product.gelato_image_checksum,
                         hashlib.sha1(preview_png('tpl-pic')).hexdigest())
        self.assertTrue(product.image_128, "Odoo made the smaller sizes of the picture")

    def test_second_sync_leaves_the_gelato_picture_as_it_is(self):
        self._template('tpl-pic-twice')
        product = self._product('tpl-pic-twice')
        self._sync(product)
        checksum = product.gelato_image_checksum
        params = self._sync(product)
        self.assertEqual(params['type'], 'success')
        self.assertEqual(params['message'], "Already up to date.")
        self.assertEqual(product.gelato_image_checksum, checksum)
        self.assertEqual(self._picture(product), preview_png('tpl-pic-twice'))

    def test_resync_follows_a_new_gelato_picture(self):
        self._template('tpl-pic-new')
        product = self._product('tpl-pic-new')
        self._sync(product)
        self.simulator.templates['tpl-pic-new']['previewUrl'] = self.simulator.preview_url('other')
        params = self._sync(product)
        self.assertIn("picture set from Gelato's preview", params['message'])
        self.assertEqual(self._picture(product), preview_png('other'))
        self.assertEqual(product.gelato_image_checksum,
                         hashlib.sha1(preview_png('other')).hexdigest())

    def test_failed_download_keeps_the_current_gelato_picture(self):
        self._template('tpl-pic-fail')
        product = self._product('tpl-pic-fail')
        self._sync(product)
        self.simulator.templates['tpl-pic-fail']['previewUrl'] = self.simulator.preview_url(
            'tpl-pic-fail', 'broken')
        params = self._sync(product)
        self.assertEqual(params['type'], 'warning')
        self.assertIn('not an image', params['message'])
        self.assertEqual(self._picture(product), preview_png('tpl-pic-fail'))

    def test_template_without_a_picture_leaves_the_product_picture_alone(self):
        self._template('tpl-pic-none')
        self.simulator.templates['tpl-pic-none']['previewUrl'] = None
        product = self._product('tpl-pic-none')
        params = self._sync(product)
        self.assertEqual(params['type'], 'success', params['message'])
        self.assertEqual(params['message'], "2 variant(s) added.")
        self.assertFalse(product.image_1920)

    def test_background_resync_after_template_updated_sets_the_new_picture(self):
        self._template('tpl-pic-bg')
        product = self._product('tpl-pic-bg')
        self._sync(product)
        self.simulator.templates['tpl-pic-bg']['previewUrl'] = self.simulator.preview_url('bg2')
        product._gelato_schedule_resync()
        self.env['product.template']._cron_gelato_template_sync()
        self.assertEqual(product.gelato_template_state, 'synced')
        self.assertEqual(self._picture(product), preview_png('bg2'))

    # --- the user's own picture ----------------------------------------------------------------

    def test_users_own_picture_survives_a_resync(self):
        self._template('tpl-own')
        product = self._product('tpl-own')
        self._sync(product)
        product.image_1920 = base64.b64encode(USER_PICTURE)
        self.simulator.clear_requests()
        params = self._sync(product)
        self.assertEqual(params['type'], 'success')
        self.assertIn("own picture was kept", params['message'])
        self.assertEqual(self._picture(product), USER_PICTURE)
        self.assertFalse(self._preview_requests(), "the user's picture stays: nothing to fetch")

    def test_users_picture_set_before_the_first_sync_is_kept(self):
        self._template('tpl-own-first')
        product = self._product('tpl-own-first', image_1920=base64.b64encode(USER_PICTURE))
        params = self._sync(product)
        self.assertIn('2 variant(s) added', params['message'])
        self.assertIn("own picture was kept", params['message'])
        self.assertEqual(self._picture(product), USER_PICTURE)

    def test_use_gelato_picture_replaces_the_users_own(self):
        self._template('tpl-use')
        product = self._product('tpl-use', image_1920=base64.b64encode(USER_PICTURE))
        self._sync(product)
        self.simulator.clear_requests()
        params = product.action_gelato_use_preview()['params']
        self.assertEqual(params['type'], 'success', params['message'])
        self.assertEqual(self._picture(product), preview_png('tpl-use'))
        self.assertEqual(
            [r['path'] for r in self.simulator.requests],
            ['/ecommerce/v1/templates/tpl-use', '/_simulator/previews/tpl-use/ok'],
            "the template is fetched again for a fresh link, then the picture",
        )
        # From now on the picture is Gelato's: a resync keeps it in step.
        params = self._sync(product)
        self.assertEqual(params['message'], "Already up to date.")
        self.assertEqual(self._picture(product), preview_png('tpl-use'))

    def test_use_gelato_picture_keeps_the_users_own_when_the_download_fails(self):
        self._template('tpl-use-fail',
                       preview=self.simulator.preview_url('tpl-use-fail', 'html'))
        product = self._product('tpl-use-fail', image_1920=base64.b64encode(USER_PICTURE))
        params = product.action_gelato_use_preview()['params']
        self.assertEqual(params['type'], 'danger')
        self.assertIn('not an image', params['message'])
        self.assertEqual(self._picture(product), USER_PICTURE)

    # --- downloads that are refused: the sync still applies ------------------------------------

    def test_broken_picture_is_refused(self):
        self._assert_sync_despite_the_picture(
            'tpl-broken', self.simulator.preview_url('tpl-broken', 'broken'), 'not an image')

    def test_html_page_instead_of_a_picture_is_refused(self):
        self._assert_sync_despite_the_picture(
            'tpl-html', self.simulator.preview_url('tpl-html', 'html'), 'not an image')

    def test_picture_over_ten_mib_is_refused(self):
        self._assert_sync_despite_the_picture(
            'tpl-huge', self.simulator.preview_url('tpl-huge', 'huge'), 'too large (over 10 MiB)')

    def test_redirect_to_a_private_address_is_refused(self):
        _params, watch = self._assert_sync_despite_the_picture(
            'tpl-redir-private',
            self.simulator.preview_url('tpl-redir-private', 'redirect_private'),
            'private address 10.0.0.1')
        self.assertNotIn('10.0.0.1', watch.lookups + watch.connects)

    def test_redirect_to_another_scheme_is_refused(self):
        _params, watch = self._assert_sync_despite_the_picture(
            'tpl-redir-ftp', self.simulator.preview_url('tpl-redir-ftp', 'redirect_scheme'),
            'redirects to ftp')
        self.assertNotIn('example.com', watch.lookups)

    def test_plain_http_to_a_non_loopback_host_is_refused(self):
        _params, watch = self._assert_sync_despite_the_picture(
            'tpl-http', 'http://previews.example.com/x.png', 'not https')
        self.assertNotIn('previews.example.com', watch.lookups, "refused before any DNS query")
        self.assertEqual(len(watch.connects), 1, "only the template was fetched")

    def test_private_address_is_refused_without_a_request(self):
        for index, (link, reason) in enumerate((
            ('https://192.168.0.1/x.png', 'private address 192.168.0.1'),
            ('http://10.255.255.1/x.png', 'private address 10.255.255.1'),
            ('https://169.254.169.254/latest/meta-data', 'link-local address 169.254.169.254'),
            ('https://[::ffff:10.1.2.3]/x.png', 'private address 10.1.2.3'),
        )):
            with self.subTest(link=link):
                ref = f'tpl-private-{index}'
                started = time.monotonic()
                _params, watch = self._assert_sync_despite_the_picture(ref, link, reason)
                # Only the simulator (the template) was asked for anything; 10.255.255.1 would
                # have hung until the timeout.
                self.assertEqual(len(watch.connects), 1, watch.connects)
                self.assertFalse([h for h in watch.lookups if h != '127.0.0.1'], watch.lookups)
                self.assertLess(time.monotonic() - started, 3)

    def test_missing_picture_names_the_http_status(self):
        self._assert_sync_despite_the_picture(
            'tpl-404', f'{self.simulator.url}/_simulator/previews/tpl-404/missing',
            'HTTP status 404')

    def test_dropped_connection_is_reported(self):
        self.simulator.set_fault('down', path_prefix='/_simulator/previews/')
        self._assert_sync_despite_the_picture('tpl-drop', None, 'connection failed')

    def test_slow_picture_times_out(self):
        self.simulator.set_fault('slow', path_prefix='/_simulator/previews/', delay=15)
        started = time.monotonic()
        self._assert_sync_despite_the_picture('tpl-slow', None, 'timeout')
        self.assertLess(time.monotonic() - started, 14)

    # --- redirects -----------------------------------------------------------------------------

    def _redirect_link(self, ref, hops):
        self.redirector_handler.target = self.simulator.preview_url(ref)
        host, port = self.redirector.server_address[:2]
        return f'http://{host}:{port}/hops/{hops}'

    def test_three_redirects_are_followed(self):
        self._template('tpl-hops', preview=self._redirect_link('tpl-hops', 3))
        product = self._product('tpl-hops')
        params = self._sync(product)
        self.assertEqual(params['type'], 'success', params['message'])
        self.assertEqual(self._picture(product), preview_png('tpl-hops'))

    def test_a_fourth_redirect_is_refused(self):
        self._assert_sync_despite_the_picture(
            'tpl-hops-4', self._redirect_link('tpl-hops-4', 4), 'too many redirects')
        self.assertFalse(self._preview_requests())

    def test_announced_size_over_the_limit_is_refused_at_once(self):
        host, port = self.redirector.server_address[:2]
        started = time.monotonic()
        self._assert_sync_despite_the_picture(
            'tpl-announced', f'http://{host}:{port}/announced-huge', 'too large (over 10 MiB)')
        self.assertLess(time.monotonic() - started, 5, "no wait for a body never sent")

    # --- secrets -------------------------------------------------------------------------------

    def test_signed_link_query_string_never_reaches_a_log_or_the_user(self):
        secret = 'Signature=s3cr3t-0123456789&Expires=1700000000'
        self._template('tpl-signed', preview=f"{self.simulator.preview_url('tpl-signed')}?{secret}")
        self._template('tpl-signed-bad', preview=(
            f"{self.simulator.preview_url('tpl-signed-bad', 'broken')}?{secret}"))
        good, bad = self._product('tpl-signed'), self._product('tpl-signed-bad')
        with capture_logs('odoo.addons.gelato_connector') as logs:
            good_params, bad_params = self._sync(good), self._sync(bad)
        self.assertEqual(self._picture(good), preview_png('tpl-signed'))
        self.assertIn('not an image', bad_params['message'])
        self.assertIn('/_simulator/previews/tpl-signed-bad/broken', bad_params['message'])
        self.assertIn('/_simulator/previews/tpl-signed/ok', logs.text)
        for text in (logs.text, good_params['message'], bad_params['message']):
            self.assertNotIn('s3cr3t', text)
