# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import base64
import datetime
import hashlib
import ipaddress
import socket
import ssl
import sys
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from odoo.tests import tagged

from odoo.addons.gelato_connector import const
from odoo.addons.gelato_connector.exceptions import GelatoImageError
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
    body over the limit (and sends none: the client must not wait for it); `/to/N` redirects
    to the N-th link of the `locations` class attribute; `/picture` is a picture. Every request
    is kept in the `seen` class attribute: `(path, headers)`."""

    target = None
    locations = ()
    seen = None

    def do_GET(self):
        if self.seen is not None:
            self.seen.append((self.path, dict(self.headers.items())))
        if self.path == '/picture':
            body = preview_png('redirector')
            self.send_response(200)
            self.send_header('Content-Type', 'image/png')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path.startswith('/to/'):
            self.send_response(302)
            self.send_header('Location', self.locations[int(self.path.rsplit('/', 1)[-1])])
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
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


def _resolver(*answers):
    """A name resolver (`socket.getaddrinfo`'s signature) that answers each lookup with the next
    address of `answers` (the last one again once they are used up), and keeps the names asked
    in its `calls` attribute."""
    calls = []

    def resolve(host, port, *args, **kwargs):
        calls.append(host)
        address = answers[min(len(calls), len(answers)) - 1]
        family = socket.AF_INET6 if ':' in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, '', (address, port))]

    resolve.calls = calls
    return resolve


def _tls_server(hostname):
    """Serve `/picture` over https on a loopback port with a certificate for `hostname` signed
    by a fresh authority. :return: the server, the authority's PEM and the list of the server
    names (SNI) clients asked for."""
    from cryptography import x509  # noqa: PLC0415 - only these tests make certificates
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    now = datetime.datetime.now(datetime.timezone.utc)

    def certificate(subject, issuer, public_key, signing_key, ca, names=()):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(public_key).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'Test pictures authority')])
    ca_cert = certificate(ca_name, ca_name, ca_key.public_key(), ca_key, True)
    cert = certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]), ca_name,
                       key.public_key(), ca_key, False, names=(hostname,))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*_pem_files(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())))
    server_names = []
    context.sni_callback = lambda _sock, name, _context: server_names.append(name)
    handler = type('TlsPictures', (_Redirector,), {'seen': [], 'locations': []})
    server = ThreadingHTTPServer(('127.0.0.1', 0), handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05},
                     daemon=True).start()
    return server, ca_cert.public_bytes(serialization.Encoding.PEM).decode(), server_names


def _pem_files(*contents):
    """Write PEM contents to temporary files (what `load_cert_chain` reads); return their paths."""
    import tempfile  # noqa: PLC0415
    paths = []
    for content in contents:
        with tempfile.NamedTemporaryFile('wb', suffix='.pem', delete=False) as file:
            file.write(content)
            paths.append(file.name)
    return paths


@tagged('post_install', '-at_install')
class TestProductPreview(GelatoCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        handler = type('Redirector', (_Redirector,), {'seen': [], 'locations': []})
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
        params, watch = self._assert_sync_despite_the_picture(
            'tpl-redir-private',
            self.simulator.preview_url('tpl-redir-private', 'redirect_private'),
            'redirects to a private or local address')
        self.assertNotIn('10.0.0.1', watch.lookups + watch.connects)
        self.assertNotIn('10.0.0.1', params['message'], "the user is not told internal addresses")

    def test_redirect_to_another_scheme_is_refused(self):
        _params, watch = self._assert_sync_despite_the_picture(
            'tpl-redir-ftp', self.simulator.preview_url('tpl-redir-ftp', 'redirect_scheme'),
            'redirects to ftp')
        self.assertNotIn('example.com', watch.lookups)

    def test_plain_http_to_a_non_loopback_host_is_refused(self):
        _params, watch = self._assert_sync_despite_the_picture(
            'tpl-http', 'http://previews.example.com/x.png', 'not https')
        self.assertNotIn('previews.example.com', watch.lookups, "refused before any DNS query")
        # Only Gelato (the simulator), if anything: its connection may be reused (keep-alive).
        self.assertLessEqual(set(watch.connects), {'127.0.0.1'}, "only Gelato (the simulator)")

    def test_private_address_is_refused_without_a_request(self):
        for index, (link, reason) in enumerate((
            ('https://192.168.0.1/x.png', ': a private or local address.'),
            ('http://10.255.255.1/x.png', ': a private or local address.'),
            ('https://169.254.169.254/latest/meta-data', ': a private or local address.'),
            ('https://[::ffff:10.1.2.3]/x.png', ': a private or local address.'),
        )):
            with self.subTest(link=link):
                ref = f'tpl-private-{index}'
                started = time.monotonic()
                _params, watch = self._assert_sync_despite_the_picture(ref, link, reason)
                # Only the simulator (the template) was asked for anything; 10.255.255.1 would
                # have hung until the timeout.
                self.assertLessEqual(set(watch.connects), {'127.0.0.1'}, watch.connects)
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

    # --- links that could fool a parser, a resolver or a reader --------------------------------

    def test_links_that_parsers_read_differently_are_refused_without_a_connection(self):
        # urllib's urlsplit reads the first link's host as example.com; urllib3 and requests
        # connect to 10.0.0.5. Neither reading is followed: such links are refused before any
        # name is resolved or any connection is made.
        links = (
            'https://10.0.0.5:8443\\@example.com/x.png',
            'https://example.com\\.10.0.0.5/x.png',
            'https://exa mple.com/x.png',
            'https://example.com\t.10.0.0.5/x.png',
            'https://example.com\x00.10.0.0.5/x.png',
            'https://example.com/x.png\r\nX-Injected: 1',
            'https://example.com%00.10.0.0.5/x.png',
            'https://0x7f.1/x.png',
            'https://2130706433/x.png',
        )
        for index, link in enumerate(links):
            with self.subTest(link=link):
                _params, watch = self._assert_sync_despite_the_picture(
                    f'tpl-parsers-{index}', link, 'malformed link')
                self.assertLessEqual(set(watch.connects), {'127.0.0.1'}, "only the simulator")
                self.assertFalse([h for h in watch.lookups if h != '127.0.0.1'], watch.lookups)

    def test_links_with_a_user_name_or_password_are_refused(self):
        for index, link in enumerate((
            'https://user:s3cr3t-pass@example.com/x.png',
            'https://user@example.com/x.png',
            'https://@example.com/x.png',
            'https://example.com@10.0.0.1/x.png',
        )):
            with self.subTest(link=link):
                params, watch = self._assert_sync_despite_the_picture(
                    f'tpl-userinfo-{index}', link, 'a user name or password')
                self.assertLessEqual(set(watch.connects), {'127.0.0.1'}, "only the simulator")
                self.assertFalse([h for h in watch.lookups if h != '127.0.0.1'], watch.lookups)
                self.assertNotIn('s3cr3t-pass', params['message'])
        # Nor is a redirect to such a link followed.
        self.redirector_handler.locations[:] = [
            f'{self.simulator.preview_url("tpl-userinfo-hop")}'.replace('://', '://user:pw@')]
        host, port = self.redirector.server_address[:2]
        self._assert_sync_despite_the_picture(
            'tpl-userinfo-hop', f'http://{host}:{port}/to/0',
            'redirects to a link with a user name or password')
        self.assertFalse(self._preview_requests())

    def test_a_name_is_resolved_once_and_only_the_checked_address_is_connected(self):
        from odoo.addons.gelato_connector import picture_download  # noqa: PLC0415
        # A rebinding name: public for the check, private for a second lookup.
        resolver = _resolver('93.184.216.34', '10.0.0.1')
        with network_watch() as watch, self.assertRaises(GelatoImageError) as caught:
            picture_download.download('https://pictures.example.test/x.png?Signature=abc',
                                      resolver=resolver)
        self.assertEqual(resolver.calls, ['pictures.example.test'], "one lookup, no second one")
        # The test guard refuses the connection to the public address (no traffic leaves).
        self.assertEqual(watch.connects, ['93.184.216.34'])
        self.assertEqual(caught.exception.reason, 'connection failed')
        # A rebinding name the other way round: private at once, refused before any connection.
        resolver = _resolver('10.0.0.1', '93.184.216.34')
        with network_watch() as watch, self.assertRaises(GelatoImageError) as caught:
            picture_download.download('https://pictures.example.test/x.png', resolver=resolver)
        self.assertEqual(resolver.calls, ['pictures.example.test'])
        self.assertFalse(watch.connects)
        self.assertEqual(caught.exception.reason, 'a private or local address')

    def test_pinned_download_keeps_the_host_name_and_sends_no_api_key(self):
        from odoo.addons.gelato_connector import picture_download  # noqa: PLC0415
        # The API URL's host may be loopback (the simulator): a name for it is resolved once,
        # and the request goes to that address with the name in the Host header.
        port = self.redirector.server_address[1]
        resolver = _resolver('127.0.0.1', '10.0.0.1')
        self.redirector_handler.seen.clear()
        with network_watch() as watch:
            content = picture_download.download(
                f'http://pics.test:{port}/picture', trusted_hosts={'pics.test'},
                resolver=resolver)
        self.assertEqual(content, preview_png('redirector'))
        self.assertEqual(resolver.calls, ['pics.test'])
        self.assertEqual(watch.connects, ['127.0.0.1'])
        [(path, headers)] = self.redirector_handler.seen
        self.assertEqual(path, '/picture')
        self.assertEqual(headers.get('Host'), f'pics.test:{port}')
        self.assertFalse({name.lower() for name in headers} & {'x-api-key', 'authorization',
                                                                'cookie'}, headers)
        # Through the product: the simulator saw no API key on the picture's request.
        self._template('tpl-no-key')
        product = self._product('tpl-no-key')
        self.assertEqual(self._sync(product)['type'], 'success')
        self.assertTrue(self._preview_requests())
        self.assertFalse([r for r in self._preview_requests() if r['has_api_key']])

    def test_https_to_the_pinned_address_checks_the_certificate_of_the_name(self):
        from odoo.addons.gelato_connector import picture_download  # noqa: PLC0415
        server, authority, server_names = _tls_server('pics.test')
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        port = server.server_address[1]
        context = ssl.create_default_context(cadata=authority)
        content = picture_download.download(
            f'https://pics.test:{port}/picture', trusted_hosts={'pics.test'},
            resolver=_resolver('127.0.0.1'), ssl_context=context)
        self.assertEqual(content, preview_png('redirector'))
        self.assertEqual(server_names, ['pics.test'], "the name is sent in the handshake (SNI)")
        # The same address under another name: its certificate does not name it.
        with self.assertRaises(GelatoImageError) as caught:
            picture_download.download(
                f'https://other.test:{port}/picture', trusted_hosts={'other.test'},
                resolver=_resolver('127.0.0.1'), ssl_context=context)
        self.assertIn('certificate', caught.exception.reason)

    def test_refusal_messages_never_name_an_internal_address(self):
        from odoo.addons.gelato_connector import picture_download  # noqa: PLC0415
        host, port = self.redirector.server_address[:2]
        self.redirector_handler.locations[:] = [
            'https://internal.example.test/x.png?Signature=t0p-s3cret',
            'http://[::ffff:192.168.7.7]/x.png',
        ]
        cases = (
            # A name resolving to a private address, then redirects to private addresses.
            ('https://intranet.example.test/x.png?Signature=t0p-s3cret',
             _resolver('10.20.30.40'), 'a private or local address', '10.20.30.40'),
            (f'http://{host}:{port}/to/0', _resolver('10.9.8.7'),
             'redirects to a private or local address', '10.9.8.7'),
            (f'http://{host}:{port}/to/1', _resolver(),
             'redirects to a private or local address', '192.168.7.7'),
        )
        for link, resolver, reason, address in cases:
            with self.subTest(link=link), capture_logs('odoo.addons.gelato_connector') as logs:
                with self.assertRaises(GelatoImageError) as caught:
                    picture_download.download(link, trusted_hosts={host}, resolver=resolver)
                self.assertEqual(caught.exception.reason, reason)
                self.assertNotIn(address, str(caught.exception))
                self.assertIn(address, logs.text, "the log keeps the detail for the admin")
                self.assertNotIn('t0p-s3cret', logs.text)

    # --- one deadline, bounded bytes ----------------------------------------------------------

    def test_dripping_picture_times_out_within_the_deadline_and_changes_nothing(self):
        self._template('tpl-drip')
        product = self._product('tpl-drip')
        self._sync(product)
        picture, checksum = self._picture(product), product.gelato_image_checksum
        self.assertEqual(picture, preview_png('tpl-drip'))
        self.simulator.templates['tpl-drip']['previewUrl'] = self.simulator.preview_url(
            'tpl-drip-2', 'drip')
        started = time.monotonic()
        params = self._sync(product)
        elapsed = time.monotonic() - started
        self.assertEqual(params['type'], 'warning', params['message'])
        self.assertIn('timeout', params['message'])
        self.assertLess(elapsed, const.PREVIEW_TIMEOUT + 1.5,
                        "a byte every 0.2 s does not hold the worker past the deadline")
        self.assertEqual(self._picture(product), picture)
        self.assertEqual(product.gelato_image_checksum, checksum)

    def test_gzip_bomb_is_refused_without_inflating_it(self):
        bomb = self.simulator.preview_url('tpl-bomb', 'gzip_bomb')
        self._assert_sync_despite_the_picture('tpl-bomb', bomb, 'too large (over 10 MiB)')
        # The body is decoded in bounded steps: never more than the limit in memory, whatever
        # the compressed bytes promise (128 MiB here).
        product = self._product('tpl-bomb')
        tracemalloc.start()
        try:
            preview = product._gelato_prepare_preview({'previewUrl': bomb}, force=True)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        self.assertEqual(preview['state'], 'error')
        self.assertIn('too large (over 10 MiB)', preview['reason'])
        self.assertLess(peak, 2 * const.PREVIEW_MAX_BYTES, f"peak {peak} bytes")

    def test_nat64_and_site_local_addresses_are_judged_by_what_they_reach(self):
        """Issue 24, point 14: NAT64 (RFC 6052, 64:ff9b::/96) reaches the IPv4 address in its
        last 32 bits; its local-use prefix (RFC 8215) and site-local IPv6 (RFC 3879) are
        private networks."""
        from odoo.addons.gelato_connector import picture_download  # noqa: PLC0415
        kind = picture_download.address_kind
        self.assertEqual(kind('64:ff9b::a00:1'), 'private', "NAT64 of 10.0.0.1")
        self.assertEqual(kind('64:ff9b::7f00:1'), 'loopback', "NAT64 of 127.0.0.1")
        self.assertIsNone(kind('64:ff9b::5db8:d822'), "NAT64 of the public 93.184.216.34")
        self.assertEqual(kind('64:ff9b:1::5db8:d822'), 'private')
        self.assertEqual(kind('fec0::1'), 'private')

    def test_a_name_server_that_does_not_answer_cannot_outlast_the_deadline(self):
        """Issue 24, point 14: the look-up is inside the download's deadline."""
        from odoo.addons.gelato_connector import picture_download  # noqa: PLC0415
        release = threading.Event()

        def hanging_resolver(*args, **kwargs):
            release.wait(30)
            raise socket.gaierror("no answer")

        started = time.monotonic()
        try:
            with self.assertRaises(GelatoImageError) as caught:
                picture_download.download('https://pictures.example.test/x.png',
                                          resolver=hanging_resolver, timeout=1.0)
        finally:
            release.set()
        self.assertLess(time.monotonic() - started, 3.0)
        self.assertIn('timeout', caught.exception.reason)
