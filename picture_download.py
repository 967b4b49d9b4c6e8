# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""Download a picture from a link that comes from outside (a Gelato template's preview).

Not a road to Gelato: nothing of the Gelato client is used (no API key, no session, no retry)
and the request carries no credential at all. What a link could make Odoo do is bounded:

- **One reading of the link.** Each hop is parsed once, by urllib3's parser, and the connection
  is made from what it read. A link that parsers may read differently is refused: a backslash,
  whitespace, a control or non-ASCII character, a host that is neither a name nor an address
  (`0x7f.1`, `2130706433`), or a host another parser (urllib's) reads otherwise. A link with a
  user name or password is refused too.
- **One resolution, pinned.** The host is resolved once; every address it resolves to must be
  public (unless the host is the one of the configured API URL, which may be loopback for the
  simulator); the connection goes to one of those checked addresses, the host name kept for the
  `Host` header and for TLS (SNI and certificate verification against the name).
- **https only**, plain http only to a loopback address.
- **One deadline** for the whole download, redirects included: every socket operation (connect,
  TLS handshake, each read, each write) waits at most the time left.
- **Bounded bytes**: the body is read in bounded steps and, when the server compresses it (gzip,
  deflate), decoded in bounded steps; past `max_bytes` of either, it is refused.
- **Redirects** are followed by hand, at most `max_redirects`, each target read and checked as the
  first link was.
- **Messages** say why in a few words and never name an internal address; logs keep the detail
  but never a link's query string (where signed links keep their signature).
"""

import http.client
import io
import ipaddress
import logging
import re
import socket
import ssl
import struct
import threading
import time
import zlib
from urllib.parse import urljoin, urlsplit

from PIL import Image
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from odoo.tools.image import IMAGE_MAX_RESOLUTION

from odoo.addons.gelato_connector import const
from odoo.addons.gelato_connector.exceptions import GelatoImageError

_logger = logging.getLogger(__name__)

# The picture formats accepted (those Odoo shows and resizes).
IMAGE_FORMATS = ('PNG', 'JPEG', 'GIF', 'WEBP')

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# The most bytes read from the socket, or decoded, in one step.
_STEP = 64 * 1024
_MAX_LINK_LENGTH = 4096
# A link is printable ASCII without a backslash (links from Gelato are percent-encoded).
_LINK = re.compile(r'[!-\[\]-~]+')
_AUTHORITY = re.compile(r'[A-Za-z][A-Za-z0-9+.-]*:(?://)?([^/?#]*)')
_HOST_NAME = re.compile(r'[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?')
# A last label such as this makes a host an IPv4 address for URL readers (WHATWG): one that is
# not written as four decimal numbers is refused rather than guessed.
_NUMERIC_LABEL = re.compile(r'0x[0-9a-f]*|[0-9]+')
_USER_AGENT = 'Odoo gelato_connector (picture download)'


def download(url, *, trusted_hosts=(), translate=None, resolver=socket.getaddrinfo,
             ssl_context=None, timeout=const.PREVIEW_TIMEOUT, max_bytes=const.PREVIEW_MAX_BYTES,
             max_redirects=const.PREVIEW_MAX_REDIRECTS):
    """Download a picture from a link that comes from outside; see the module's docstring.

    :param str url: The link.
    :param trusted_hosts: The hosts whose addresses are not checked (the configured API URL's,
                          see `hosts_of`); plain http is still allowed only to loopback.
    :param translate: The function translating the reasons (`env._`); none by default.
    :param resolver: What resolves a host name, with the signature of `socket.getaddrinfo`.
    :param ssl.SSLContext ssl_context: The TLS settings (certificate authorities); by default the
                                       system's, or certifi's when installed.
    :param float timeout: The seconds the whole download may take, redirects included.
    :param int max_bytes: The largest body accepted, as received and as decoded.
    :param int max_redirects: The most redirects followed.
    :return: The picture's bytes (a picture Pillow reads, of a format and size Odoo accepts).
    :rtype: bytes
    :raise GelatoImageError: With the reason why the picture was refused or not fetched.
    """
    return _Download(trusted_hosts, translate, resolver, ssl_context, timeout, max_bytes,
                     max_redirects).run(url)


def hosts_of(urls):
    """Return the hosts of links (the configured API URL's, to trust them).

    :param urls: The links.
    :rtype: set[str]
    """
    hosts = set()
    for url in urls:
        try:
            host = urlsplit(url).hostname
        except (ValueError, AttributeError, TypeError):
            continue
        if host:
            hosts.add(_host_key(host))
    return hosts


def loggable_url(url):
    """Return `scheme://host[:port]/path` of a link as it is read to connect, or None when it is
    malformed: no user name nor password, no query string, no fragment."""
    try:
        parts = parse_url(url) if isinstance(url, str) and _LINK.fullmatch(url) else None
    except (LocationParseError, ValueError):
        parts = None
    if not parts or not parts.host or not parts.scheme:
        return None
    port = f':{parts.port}' if parts.port else ''
    return f'{parts.scheme}://{parts.host}{port}{parts.path or ""}'[:300]


def verify_image(content, translate=None):
    """Check that bytes are a picture Pillow reads, of a format and a size Odoo accepts.

    :raise GelatoImageError: "not an image", or "too large" for too many pixels.
    """
    _ = translate or _untranslated
    if not content:
        raise GelatoImageError(_("not an image (empty)"))
    formats = [name for name in IMAGE_FORMATS if name in Image.OPEN]
    try:
        with Image.open(io.BytesIO(content), formats=formats) as image:
            width, height = image.size
            if width * height > IMAGE_MAX_RESOLUTION:
                raise GelatoImageError(_(
                    "too large (%(width)s × %(height)s pixels)", width=width, height=height,
                ))
            image.verify()
    except Image.DecompressionBombError:
        raise GelatoImageError(_("too large (too many pixels)")) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error):
        raise GelatoImageError(_("not an image")) from None


def address_kind(address):
    """Return the kind of a non-public IP address ('private', 'loopback'...), or None when it is
    a public one.

    :param address: An `ipaddress` address, or its text.
    """
    if isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        ip = address
    else:
        ip = ipaddress.ip_address(str(address).split('%', 1)[0])  # IPv6 scope ids: fe80::1%eth0
    embedded = _embedded_ipv4(ip)
    if embedded:
        # An IPv4 address inside an IPv6 one (::ffff:10.0.0.1, 6to4, Teredo) is judged as such.
        return address_kind(embedded)
    if ip.is_loopback:
        return 'loopback'
    if ip.is_link_local:
        return 'link-local'
    if ip.is_multicast:
        return 'multicast'
    if ip.is_private or (ip.version == 6 and any(ip in net for net in _PRIVATE_V6)):
        return 'private'
    if ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return 'reserved'
    return None


# NAT64's well-known prefix (RFC 6052): the last 32 bits are the IPv4 address reached.
_NAT64 = ipaddress.IPv6Network('64:ff9b::/96')
# NAT64's local-use prefix (RFC 8215) and the deprecated site-local addresses (RFC 3879):
# private networks.
_PRIVATE_V6 = (ipaddress.IPv6Network('64:ff9b:1::/48'), ipaddress.IPv6Network('fec0::/10'))


def _embedded_ipv4(ip):
    """Return the IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), or
    None."""
    if ip.version != 6:
        return None
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.ipv4_mapped or ip.sixtofour or (ip.teredo or (None, None))[1]


def _is_loopback(ip):
    return address_kind(ip) == 'loopback'


def _host_key(host):
    """A host as compared with the trusted ones: lower case, no brackets, no final dot."""
    return host.strip('[]').rstrip('.').lower()


def _untranslated(source, *args, **kwargs):
    params = args or kwargs
    return source % params if params else source


class _Refused(GelatoImageError):
    """A refusal: `reason` for the user, `detail` for the log only (addresses...)."""

    def __init__(self, reason, detail=None):
        super().__init__(reason)
        self.detail = detail


class _Link:
    """One hop's link, as urllib3 reads it."""

    __slots__ = ('host', 'ip', 'port', 'scheme', 'target')

    def __init__(self, scheme, host, port, target, ip):
        self.scheme, self.host, self.port, self.target, self.ip = scheme, host, port, target, ip


class _Download:
    """One download (see `download`): its settings, and the deadline once it runs."""

    def __init__(self, trusted_hosts, translate, resolver, ssl_context, timeout, max_bytes,
                 max_redirects):
        self.trusted_hosts = {_host_key(host) for host in trusted_hosts or ()}
        self._ = translate or _untranslated
        self.resolver = resolver
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.deadline = None

    def run(self, url):
        started = time.monotonic()
        self.deadline = started + self.timeout
        loggable = loggable_url(url) or '<malformed link>'
        try:
            current = url
            for hop in range(self.max_redirects + 1):
                redirected = hop > 0
                link = self._read_link(current, redirected)
                addresses = self._resolve(link, redirected)
                status, location, content = self._get(link, addresses)
                if status in _REDIRECT_STATUSES:
                    target = self._redirect_target(current, status, location)
                    _logger.info("Gelato picture %s redirects to %s",
                                 loggable_url(current), loggable_url(target) or '<malformed link>')
                    current = target
                    continue
                if status != 200:
                    raise _Refused(self._("HTTP status %(status)s", status=status))
                break
            else:
                raise _Refused(self._("too many redirects (more than %(max)s)",
                                      max=self.max_redirects))
            verify_image(content, self._)
        except GelatoImageError as error:
            detail = getattr(error, 'detail', None)
            _logger.warning("Gelato picture %s refused: %s%s", loggable, error.reason,
                            f" ({detail})" if detail else '')
            raise
        _logger.info("Gelato picture %s: %s bytes in %.0f ms",
                     loggable, len(content), (time.monotonic() - started) * 1000)
        return content

    # --- the link ---------------------------------------------------------------------------

    def _read_link(self, url, redirected):
        """Read a hop's link once, as the connection will be made from it.

        :rtype: _Link
        :raise _Refused: When it is not an http(s) link that every reader reads alike.
        """
        malformed = _Refused(self._("redirects to a malformed link") if redirected
                             else self._("malformed link"))
        if not isinstance(url, str) or len(url) > _MAX_LINK_LENGTH or not _LINK.fullmatch(url):
            raise malformed
        try:
            parts = parse_url(url)
        except (LocationParseError, ValueError):
            raise malformed from None
        scheme = (parts.scheme or '').lower()
        if scheme not in ('http', 'https'):
            if redirected:
                raise _Refused(self._("redirects to %(scheme)s",
                                      scheme=scheme or self._("a relative link")))
            raise _Refused(self._("not https"))
        authority = _AUTHORITY.match(url)
        if parts.auth is not None or not authority or '@' in authority.group(1):
            raise _Refused(
                self._("redirects to a link with a user name or password") if redirected
                else self._("a link with a user name or password")
            )
        host = (parts.host or '').lower()
        try:
            # Another reader (urllib's) must read the same host and port.
            other = urlsplit(url)
            same = (other.hostname or '') == host.strip('[]') and other.port == parts.port
        except ValueError:
            same = False
        if not host or not same or parts.port == 0:
            raise malformed
        ip = None
        if host.startswith('['):
            try:
                ip = ipaddress.IPv6Address(host[1:-1])
            except ValueError:
                raise malformed from None
        else:
            try:
                ip = ipaddress.IPv4Address(host)
            except ValueError:
                last_label = host.rstrip('.').rsplit('.', 1)[-1]
                if not _HOST_NAME.fullmatch(host) or _NUMERIC_LABEL.fullmatch(last_label):
                    raise malformed from None
        port = parts.port or (443 if scheme == 'https' else 80)
        return _Link(scheme, host.strip('[]'), port, parts.request_uri, ip)

    def _redirect_target(self, current, status, location):
        if not location or not location.strip():
            raise _Refused(self._("HTTP status %(status)s without a Location", status=status))
        try:
            return urljoin(current, location.strip())
        except ValueError:
            raise _Refused(self._("redirects to a malformed link")) from None

    # --- the addresses ----------------------------------------------------------------------

    def _resolve(self, link, redirected):
        """Resolve the host once and check every address it resolves to.

        :return: The `(family, socket address)` to connect to, each checked.
        :rtype: list[tuple]
        :raise _Refused: When one address is not public (and the host not trusted), for plain
                         http to anything but loopback, or when the host is unknown.
        """
        trusted = _host_key(link.host) in self.trusted_hosts
        not_https = _Refused(self._("redirects to http (not https)") if redirected
                             else self._("not https"))
        if link.ip is not None:
            if not trusted:
                self._check_address(link.ip, link.host, redirected)
            if link.scheme == 'http' and not _is_loopback(link.ip):
                raise not_https
            family = socket.AF_INET6 if link.ip.version == 6 else socket.AF_INET
            return [(family, (str(link.ip), link.port))]
        if link.scheme == 'http' and not (trusted or link.host.rstrip('.') == 'localhost'):
            raise not_https  # without even resolving the name
        unknown = _Refused(self._("unknown host %(host)s", host=link.host))
        try:
            infos = self._resolve_within_deadline(link)
        except (OSError, UnicodeError, ValueError) as error:
            unknown.detail = type(error).__name__
            raise unknown from None
        addresses = []
        for family, _type, _proto, _name, sockaddr in infos or ():
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            try:
                ip = ipaddress.ip_address(str(sockaddr[0]).split('%', 1)[0])
            except ValueError:
                raise _Refused(self._("unknown host %(host)s", host=link.host),
                               detail=f"resolved to {sockaddr[0]!r}") from None
            if not trusted:
                self._check_address(ip, link.host, redirected)
            if link.scheme == 'http' and not _is_loopback(ip):
                raise not_https
            if (family, sockaddr) not in addresses:
                addresses.append((family, sockaddr))
        if not addresses:
            raise unknown
        return addresses

    def _check_address(self, ip, host, redirected):
        kind = address_kind(ip)
        if kind:
            embedded = _embedded_ipv4(ip)
            address = f"{embedded} ({ip})" if embedded else str(ip)
            raise _Refused(
                self._("redirects to a private or local address") if redirected
                else self._("a private or local address"),
                detail=f"{host} is {address}, a {kind} address",
            )

    # --- the exchange -----------------------------------------------------------------------

    def _resolve_within_deadline(self, link):
        """Look the host up, within what is left of the download's deadline: a name server
        that does not answer cannot hold the download longer (the look-up itself cannot be
        interrupted; its thread ends when the system gives up)."""
        result, done = {}, threading.Event()

        def look_up():
            try:
                result['infos'] = self.resolver(link.host, link.port, type=socket.SOCK_STREAM)
            except Exception as error:  # noqa: BLE001 - handed to the caller
                result['error'] = error
            done.set()

        threading.Thread(target=look_up, daemon=True, name='gelato-dns').start()
        if not done.wait(self._remaining()):
            raise _Refused(self._timeout_reason(), detail="DNS look-up")
        if 'error' in result:
            raise result['error']
        return result['infos']

    def _remaining(self):
        """Return the seconds left before the deadline; raise the timeout when none are."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _Refused(self._timeout_reason())
        return remaining

    def _timeout_reason(self):
        return self._("timeout (no picture within %(seconds)s s)", seconds=self.timeout)

    def _get(self, link, addresses):
        """GET a hop's link from one of its checked addresses.

        :return: The status, the Location header and, for a 200 answer, the body.
        :rtype: tuple
        """
        sock = self._connect(addresses)
        reading_body = False
        try:
            if link.scheme == 'https':
                sock = self._handshake(sock, link)
            connection = _PinnedConnection(link, _DeadlineSocket(sock, self))
            connection.putrequest('GET', link.target, skip_accept_encoding=True)
            connection.putheader('Accept', 'image/*')
            connection.putheader('Accept-Encoding', 'gzip, deflate')
            connection.putheader('User-Agent', _USER_AGENT)
            connection.putheader('Connection', 'close')
            connection.endheaders()
            response = connection.getresponse()
            if response.status in _REDIRECT_STATUSES:
                return response.status, response.getheader('Location'), None
            if response.status != 200:
                return response.status, None, None
            reading_body = True
            return response.status, None, self._read_body(response)
        except TimeoutError:
            raise _Refused(self._timeout_reason()) from None
        except (OSError, ValueError, http.client.HTTPException) as error:
            _logger.info("Gelato picture from %s: %s", link.host, type(error).__name__)
            raise _Refused(self._("connection failed while downloading") if reading_body
                           else self._("connection failed"), detail=type(error).__name__) from None
        finally:
            sock.close()

    def _connect(self, addresses):
        """Connect to the first checked address that answers, within the time left."""
        error = None
        for family, sockaddr in addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(self._remaining())
                sock.connect(sockaddr)
            except OSError as failure:
                sock.close()
                error = failure
                continue
            except BaseException:
                sock.close()
                raise
            return sock
        if isinstance(error, TimeoutError):
            raise _Refused(self._timeout_reason())
        raise _Refused(self._("connection failed"),
                       detail=type(error).__name__ if error else None)

    def _handshake(self, sock, link):
        """TLS over the connected socket, for the link's host name: it is sent (SNI) and the
        certificate must be valid for it, although the connection was made to an address."""
        context = self.ssl_context or _default_ssl_context()
        try:
            sock.settimeout(self._remaining())
            return context.wrap_socket(sock, server_hostname=link.host.rstrip('.'))
        except ssl.SSLCertVerificationError as error:
            sock.close()
            raise _Refused(self._("the picture host's certificate is not valid"),
                           detail=error.verify_message or type(error).__name__) from None
        except BaseException:
            sock.close()
            raise

    def _read_body(self, response):
        """Read a 200 answer's body in bounded steps, decoding it when it is compressed.

        :rtype: bytes
        :raise _Refused: Past `max_bytes` (received or decoded), or past the deadline.
        """
        too_large = _Refused(self._("too large (over %(size)s MiB)",
                                    size=self.max_bytes // (1024 * 1024)))
        length = (response.getheader('Content-Length') or '').strip()
        if length.isdigit() and (len(length) > 15 or int(length) > self.max_bytes):
            raise too_large
        encoding = (response.getheader('Content-Encoding') or '').strip().lower()
        if encoding in ('', 'identity'):
            inflater = None
        elif encoding in ('gzip', 'x-gzip', 'deflate'):
            # Either header (zlib's or gzip's), whatever the server named.
            inflater = zlib.decompressobj(32 + zlib.MAX_WBITS)
        else:
            raise _Refused(self._("unsupported content encoding"), detail=encoding[:40])
        body, received = bytearray(), 0
        while True:
            self._remaining()
            data = response.read1(_STEP)  # one read from the socket at most
            if not data:
                break
            received += len(data)
            if received > self.max_bytes:
                raise too_large
            for piece in (self._inflate(inflater, data) if inflater else (data,)):
                body += piece
                if len(body) > self.max_bytes:
                    raise too_large
        if inflater:
            body += inflater.flush(_STEP)
            if len(body) > self.max_bytes:
                raise too_large
        return bytes(body)

    def _inflate(self, inflater, data):
        """Decode compressed bytes in steps of at most `_STEP` decoded bytes."""
        try:
            while data and not inflater.eof:
                piece = inflater.decompress(data, _STEP)
                if not piece and inflater.unconsumed_tail == data:
                    return
                data = inflater.unconsumed_tail
                yield piece
        except zlib.error:
            raise _Refused(self._("not an image"), detail="undecodable compressed body") from None


class _DeadlineSocket:
    """A connected socket whose every operation waits at most the time left to the download."""

    def __init__(self, sock, download):
        self._sock, self._download = sock, download

    def _arm(self):
        try:
            self._sock.settimeout(self._download._remaining())
        except _Refused:
            raise TimeoutError("the download's deadline has passed") from None

    def sendall(self, data):
        self._arm()
        self._sock.sendall(data)

    def recv_into(self, buffer, nbytes=0):
        self._arm()
        return self._sock.recv_into(buffer, nbytes)

    def makefile(self, mode='rb', *args, **kwargs):
        """What `http.client` reads the answer from."""
        return io.BufferedReader(_DeadlineReader(self))

    def close(self):
        """The socket is closed by the download, once the answer is read."""


class _DeadlineReader(io.RawIOBase):

    def __init__(self, sock):
        super().__init__()
        self._sock = sock

    def readable(self):
        return True

    def readinto(self, buffer):
        return self._sock.recv_into(buffer)


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP exchange over a socket already connected to a checked address: the host name is
    the link's, for the Host header."""

    def __init__(self, link, sock):
        super().__init__(link.host, link.port)
        self.default_port = 443 if link.scheme == 'https' else 80
        self.sock = sock

    def connect(self):
        raise http.client.NotConnected("a pinned connection does not connect by itself")


_SSL_CONTEXT = []


def _default_ssl_context():
    """The system's certificate authorities, or certifi's (as `requests` uses) when installed."""
    if not _SSL_CONTEXT:
        try:
            import certifi  # noqa: PLC0415 - optional
            cafile = certifi.where()
        except ImportError:
            cafile = None
        _SSL_CONTEXT.append(ssl.create_default_context(cafile=cafile))
    return _SSL_CONTEXT[0]
