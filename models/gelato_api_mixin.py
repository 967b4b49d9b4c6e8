# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import io
import ipaddress
import logging
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urljoin, urlsplit

import requests
from PIL import Image
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from odoo import api, models
from odoo.tools.image import IMAGE_MAX_RESOLUTION

from odoo.addons.gelato_connector import const
from odoo.addons.gelato_connector.exceptions import GelatoError, GelatoImageError

_logger = logging.getLogger(__name__)

# One pooled session per thread and kind of call (see `_gelato_session`).
_THREAD_SESSIONS = threading.local()

_SAFE_METHODS = frozenset({'GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'PATCH'})

# The picture formats accepted from Gelato (those Odoo shows and resizes).
_IMAGE_FORMATS = ('PNG', 'JPEG', 'GIF', 'WEBP')
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def _loggable_url(url):
    """Return `scheme://host[:port]/path` of a URL: no credentials, no query, no fragment.

    Signed links carry their signature in the query string; it must never reach a log line.
    """
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ''
        if ':' in host:
            host = f'[{host}]'
        port = f':{parts.port}' if parts.port else ''
    except ValueError:
        return '<malformed link>'
    return f'{parts.scheme}://{host}{port}{parts.path}'[:300]


def _embedded_ipv4(ip):
    """Return the IPv4 address an IPv6 address carries (mapped, 6to4, Teredo), or None."""
    if ip.version != 6:
        return None
    return ip.ipv4_mapped or ip.sixtofour or (ip.teredo or (None, None))[1]


def _address_kind(address):
    """Return the kind of a non-public IP address ('private', 'loopback'...), or None when the
    address is a public one."""
    ip = ipaddress.ip_address(address.split('%', 1)[0])  # IPv6 scope ids: fe80::1%eth0
    embedded = _embedded_ipv4(ip)
    if embedded:
        # An IPv4 address inside an IPv6 one (::ffff:10.0.0.1, 6to4, Teredo) is judged as such.
        return _address_kind(str(embedded))
    if ip.is_loopback:
        return 'loopback'
    if ip.is_link_local:
        return 'link-local'
    if ip.is_multicast:
        return 'multicast'
    if ip.is_private:
        return 'private'
    if ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return 'reserved'
    return None


class GelatoApiMixin(models.AbstractModel):
    """The one road to Gelato.

    Every model that talks to Gelato inherits this mixin and calls `_gelato_request`. It builds
    the URL from the `gelato_connector.api_url_template` system parameter, authenticates with the
    company's API key, retries what is safe to repeat, turns Gelato's error bodies into messages a
    user understands, and logs calls without ever logging a secret.
    """
    _name = 'gelato.api.mixin'
    _description = "Gelato API Client"

    # === BUSINESS METHODS === #

    def _gelato_request(self, service, method, path, *, params=None, json=None, company=None,
                        safe=None):
        """Send a request to Gelato and return the decoded JSON answer.

        :param str service: The Gelato service: `order`, `product`, `ecommerce` or `shipment`.
        :param str method: The HTTP method.
        :param str path: The API path, e.g. `/v4/orders`.
        :param dict params: The query string.
        :param dict json: The JSON body.
        :param res.company company: The company whose API key is used; defaults to
                                    `_gelato_get_company()`.
        :param bool safe: Whether repeating the call after a 429/5xx is harmless; defaults to True
                          for every method but POST.
        :return: The decoded JSON answer (a dict or a list), `{}` for an empty body.
        :raise GelatoError: When Gelato cannot be reached or refuses the request.
        """
        call = self._gelato_prepare_call(service, method, path, params=params, json=json,
                                         company=company, safe=safe)
        return self._gelato_read_answer(call, *self._gelato_send(call))

    def _gelato_request_many(self, calls, max_workers=const.COST_FETCH_WORKERS):
        """Send independent requests to Gelato in parallel and return their answers in order.

        Only the HTTP exchanges run in worker threads; the ORM (reading the key, building the
        URLs, turning errors into messages) stays in the calling thread.

        :param list[dict] calls: The calls, each with the keyword arguments of `_gelato_request`
                                 (`service`, `method`, `path` and optionally `params`, `json`,
                                 `company`, `safe`).
        :param int max_workers: The most calls in flight at once.
        :return: For each call, in order, the decoded JSON answer or the `GelatoError` raised.
        :rtype: list
        """
        prepared = [self._gelato_prepare_call(**call) for call in calls]
        if not prepared:
            return []
        with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(prepared))),
                                thread_name_prefix='gelato') as pool:
            exchanges = list(pool.map(self._gelato_send, prepared))
        results = []
        for call, (response, error) in zip(prepared, exchanges, strict=True):
            try:
                results.append(self._gelato_read_answer(call, response, error))
            except GelatoError as gelato_error:
                results.append(gelato_error)
        return results

    def _gelato_prepare_call(self, service, method, path, *, params=None, json=None,
                             company=None, safe=None):
        """Return everything needed to send one call, read from the database.

        :return: The call: `method`, `url`, `params`, `json`, `headers`, `safe`.
        :rtype: dict
        :raise GelatoError: When the company has no API key.
        """
        if service not in const.API_SERVICES:
            raise ValueError(f"Unknown Gelato service {service!r}")
        method = method.upper()
        safe = method in _SAFE_METHODS if safe is None else safe
        company = company or self._gelato_get_company()
        if self._gelato_is_neutralized():
            raise GelatoError(self.env._(
                "This database is a neutralized copy: nothing is sent to Gelato from it."))
        # Read the key as superuser: only settings administrators may read it, but every user
        # who sells Gelato products needs calls made on the company's behalf.
        api_key = company.sudo().gelato_api_key
        if not api_key:
            raise GelatoError(self.env._(
                "Gelato is not configured for %(company)s: paste the API key in Sales settings.",
                company=company.name,
            ))
        return {
            'method': method,
            'url': self._gelato_build_url(service, path),
            'params': params,
            'json': json,
            'safe': safe,
            'headers': {'X-API-KEY': api_key, 'Accept': 'application/json'},
        }

    @classmethod
    def _gelato_send(cls, call):
        """Send a prepared call over HTTP. Touches no database: it may run in any thread.

        :param dict call: The call from `_gelato_prepare_call`.
        :return: The answer, or None and the `requests` exception that prevented one.
        :rtype: tuple
        """
        started = time.monotonic()
        try:
            response = cls._gelato_session(call['safe']).request(
                call['method'], call['url'], params=call['params'], json=call['json'],
                timeout=const.REQUEST_TIMEOUT, headers=call['headers'],
            )
        except requests.exceptions.RequestException as error:
            return None, error
        _logger.info(
            "Gelato %s %s -> %s in %.0f ms",
            call['method'], call['url'], response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response, None

    def _gelato_read_answer(self, call, response, error):
        """Return the decoded JSON answer of a sent call, or raise the error a user reads.

        :raise GelatoError: When Gelato could not be reached or refused the call.
        """
        method, url = call['method'], call['url']
        if isinstance(error, requests.exceptions.RetryError):
            # urllib3 gave up after retrying 429/5xx answers.
            _logger.warning("Gelato %s %s gave up after retries: %s", method, url, error)
            raise GelatoError(
                self.env._("Gelato is not answering properly right now (it keeps returning "
                           "errors). Please try again in a few minutes."),
                transient=True,
            )
        if isinstance(error, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
            _logger.warning("Gelato %s %s unreachable: %s", method, url, type(error).__name__)
            raise GelatoError(
                self.env._(
                    "Could not reach Gelato (%(reason)s). Please try again in a few minutes.",
                    reason=self.env._("timeout")
                    if isinstance(error, requests.exceptions.Timeout)
                    else self.env._("connection failed"),
                ),
                transient=True,
            )
        if error is not None:
            _logger.warning("Gelato %s %s failed: %s", method, url, type(error).__name__)
            raise GelatoError(
                self.env._("The call to Gelato failed (%s).", type(error).__name__),
                transient=False,
            )
        if not response.ok:
            raise self._gelato_parse_error(response)
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise GelatoError(
                self.env._("Gelato sent an answer that could not be read (not JSON)."),
                transient=True,
                status=response.status_code,
            ) from None

    @api.model
    def _gelato_is_neutralized(self):
        """Whether the database is a neutralized copy (see data/neutralize.sql)."""
        return bool(self.env['ir.config_parameter'].sudo().get_param(const.NEUTRALIZED_PARAM))

    @api.model
    def _gelato_build_url(self, service, path):
        """Build the URL of a Gelato call from the system parameter's template.

        :param str service: The Gelato service.
        :param str path: The API path.
        :return: The full URL.
        :rtype: str
        """
        template = self.env['ir.config_parameter'].sudo().get_param(
            const.API_URL_TEMPLATE_PARAM, const.DEFAULT_API_URL_TEMPLATE,
        ) or const.DEFAULT_API_URL_TEMPLATE
        return template.format(service=service).rstrip('/') + '/' + path.lstrip('/')

    def _gelato_get_company(self):
        """Return the company on whose behalf the current records talk to Gelato.

        :return: The company of the record when it has one, else the environment's company.
        :rtype: res.company
        """
        if self._name == 'res.company' and len(self) == 1:
            return self
        if 'company_id' in self._fields and len(self) == 1 and self.company_id:
            return self.company_id
        return self.env.company

    @staticmethod
    def _gelato_session(safe):
        """Return this thread's `requests` session for calls that are (or are not) safe to
        repeat: connections to Gelato are kept alive and reused by the calls of a thread.

        Connection failures (nothing reached Gelato) are always retried with backoff. Answers 429
        and 5xx are retried only when the call is safe to repeat: a POST that creates something
        is not, so each kind of call has its own session and retry policy.

        :param bool safe: Whether the call may be repeated after an answer.
        :rtype: requests.Session
        """
        sessions = _THREAD_SESSIONS.__dict__.setdefault('sessions', {})
        session = sessions.get(bool(safe))
        if session is None:
            retry = Retry(
                total=const.RETRY_TOTAL,
                connect=const.RETRY_TOTAL,
                read=0,
                status=const.RETRY_TOTAL,
                other=0,
                backoff_factor=const.RETRY_BACKOFF_FACTOR,
                # An answer to an unsafe call is returned as is: only its connection is retried.
                status_forcelist=const.RETRY_STATUS_CODES if safe else (),
                allowed_methods=None,
                respect_retry_after_header=True,
                raise_on_status=True,
            )
            session = requests.Session()
            session.trust_env = False  # No proxy or .netrc credentials from the environment.
            adapter = HTTPAdapter(max_retries=retry, pool_connections=4,
                                  pool_maxsize=const.COST_FETCH_WORKERS)
            session.mount('http://', adapter)
            session.mount('https://', adapter)
            sessions[bool(safe)] = session
        return session

    def _gelato_parse_error(self, response):
        """Turn an error answer of Gelato into a `GelatoError` with a message for the user.

        :param requests.Response response: The error answer.
        :return: The error to raise.
        :rtype: GelatoError
        """
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        message = body.get('message') if isinstance(body.get('message'), str) else ''
        details = [
            ': '.join(str(part) for part in (d.get('reference'), d.get('message')) if part)
            for d in body.get('details') or [] if isinstance(d, dict)
        ]
        if details:
            message = f"{message} ({'; '.join(details)})" if message else '; '.join(details)
        if status == 401:
            text = self.env._("Gelato refused the API key (401). Check the key in Sales settings.")
        elif status == 403:
            text = self.env._("This Gelato API key has no access to that resource (403).")
        elif status == 404:
            text = self.env._("Gelato does not know this resource (404).")
        elif status == 429:
            text = self.env._("Gelato received too many requests (429). Please try again shortly.")
        elif status >= 500:
            text = self.env._("Gelato had an internal error (%(status)s). Please try again later.",
                     status=status)
        else:
            text = self.env._("Gelato refused the request (%(status)s).", status=status)
        if message:
            text = f"{text}\n{self.env._('Gelato says: %s', message[:1000])}"
        _logger.warning("Gelato answered %s: %s", status, message[:300] or '<no message>')
        return GelatoError(text, status=status, transient=status == 429 or status >= 500,
                           body=body)

    def _gelato_download_image(self, url):
        """Download a picture from a link Gelato gave (a template's preview), carefully.

        The link comes from outside, so every hop is checked before any connection: https only
        (http only to a loopback address, for the simulator); no address in a private, loopback,
        link-local, reserved or multicast range, each address the host resolves to included,
        unless the host is the one of the configured API URL; at most
        `const.PREVIEW_MAX_REDIRECTS` redirects, followed by hand and checked again. The body is
        streamed and refused past `const.PREVIEW_MAX_BYTES`; the whole download may take
        `const.PREVIEW_TIMEOUT` seconds; the bytes must be a picture Pillow can read. Logs name
        the link without its query string (where a signed link keeps its signature).

        :param str url: The link.
        :return: The picture's bytes.
        :rtype: bytes
        :raise GelatoImageError: With the reason why the picture was refused or not fetched.
        """
        loggable = self._gelato_loggable_url(url)
        started = time.monotonic()
        deadline = started + const.PREVIEW_TIMEOUT
        trusted_hosts = self._gelato_image_trusted_hosts()
        try:
            with requests.Session() as session:
                # No proxy, no .netrc credentials from the environment: the checks below are
                # about the host we connect to, and a link from outside gets no credentials.
                session.trust_env = False
                current = url
                for hop in range(const.PREVIEW_MAX_REDIRECTS + 1):
                    self._gelato_check_image_url(current, trusted_hosts, redirected=hop > 0)
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise GelatoImageError(self._gelato_image_timeout_reason())
                    with self._gelato_image_get(session, current, remaining) as response:
                        if response.status_code in _REDIRECT_STATUSES:
                            location = response.headers.get('Location')
                            if not location:
                                raise GelatoImageError(self.env._(
                                    "HTTP status %(status)s without a Location",
                                    status=response.status_code,
                                ))
                            try:
                                target = urljoin(current, location.strip())
                            except ValueError:
                                raise GelatoImageError(self.env._(
                                    "redirects to a malformed link")) from None
                            _logger.info("Gelato picture %s redirects to %s",
                                         _loggable_url(current), _loggable_url(target))
                            current = target
                            continue
                        if response.status_code != 200:
                            raise GelatoImageError(self.env._(
                                "HTTP status %(status)s", status=response.status_code,
                            ))
                        content = self._gelato_read_image_body(response, deadline)
                        break
                else:
                    raise GelatoImageError(self.env._(
                        "too many redirects (more than %(max)s)",
                        max=const.PREVIEW_MAX_REDIRECTS,
                    ))
            self._gelato_verify_image(content)
        except GelatoImageError as error:
            _logger.warning("Gelato picture %s refused: %s", loggable, error.reason)
            raise
        _logger.info("Gelato picture %s: %s bytes in %.0f ms",
                     loggable, len(content), (time.monotonic() - started) * 1000)
        return content

    @staticmethod
    def _gelato_loggable_url(url):
        """Return `scheme://host[:port]/path` of a link, fit for a log line or a message."""
        return _loggable_url(url)

    def _gelato_image_trusted_hosts(self):
        """Return the hosts of the configured API URL: pictures may come from there whatever
        their address (in tests and demos, the simulator on a loopback address)."""
        hosts = set()
        for service in const.API_SERVICES:
            try:
                host = urlsplit(self._gelato_build_url(service, '/')).hostname
            except (ValueError, KeyError, IndexError):
                continue
            if host:
                hosts.add(host.lower())
        return hosts

    def _gelato_check_image_url(self, url, trusted_hosts, redirected=False):
        """Refuse a picture link before any connection is made to it.

        The checks that need no name resolution come first: a link to a private address or over
        plain http to a name is refused without even a DNS query.

        :param str url: The link (the first one, or the target of a redirect).
        :param set trusted_hosts: The hosts of the configured API URL.
        :param bool redirected: Whether the link is the target of a redirect (for the reason).
        :raise GelatoImageError: When the link must not be fetched.
        """
        try:
            parts = urlsplit(url) if isinstance(url, str) else None
            host = parts and (parts.hostname or '').lower()
            port = parts and parts.port
        except ValueError:
            parts = None
        if parts is None:
            raise GelatoImageError(self.env._("malformed link"))
        scheme = parts.scheme.lower()
        if scheme not in ('http', 'https'):
            if redirected:
                raise GelatoImageError(self.env._(
                    "redirects to %(scheme)s", scheme=scheme or self.env._("a relative link"),
                ))
            raise GelatoImageError(self.env._("not https"))
        if not host:
            raise GelatoImageError(self.env._("malformed link (no host)"))

        trusted = host in trusted_hosts
        literal = self._gelato_ip_literal(host)
        if literal and not trusted:
            self._gelato_check_image_address(literal, redirected)
        loopback = host == 'localhost' or bool(literal and _address_kind(literal) == 'loopback')
        if scheme == 'http' and not loopback:
            raise GelatoImageError(
                self.env._("redirects to http (not https)") if redirected
                else self.env._("not https")
            )
        if trusted or literal:
            return
        try:
            infos = socket.getaddrinfo(host, port or (443 if scheme == 'https' else 80),
                                       type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            _logger.info("Gelato picture host %s not resolved: %s", host, type(error).__name__)
            raise GelatoImageError(self.env._("unknown host %(host)s", host=host)) from None
        if not infos:
            raise GelatoImageError(self.env._("unknown host %(host)s", host=host))
        for info in infos:
            self._gelato_check_image_address(info[4][0], redirected)

    @staticmethod
    def _gelato_ip_literal(host):
        """Return the host as an IP address string when it is one, else None."""
        try:
            return str(ipaddress.ip_address(host.strip('[]').split('%', 1)[0]))
        except ValueError:
            return None

    def _gelato_check_image_address(self, address, redirected=False):
        """Refuse an address in a private, loopback, link-local, reserved or multicast range.

        :param str address: An IP address.
        :param bool redirected: Whether it is the address of a redirect's target.
        :raise GelatoImageError: Naming the address and its range.
        """
        try:
            kind = _address_kind(address)
            embedded = _embedded_ipv4(ipaddress.ip_address(address.split('%', 1)[0]))
        except ValueError:
            kind, embedded = 'reserved', None
        if not kind:
            return
        if embedded:
            address = f'{embedded} ({address})'
        reason = {
            'private': self.env._("private address %(address)s", address=address),
            'loopback': self.env._("loopback address %(address)s", address=address),
            'link-local': self.env._("link-local address %(address)s", address=address),
            'multicast': self.env._("multicast address %(address)s", address=address),
        }.get(kind) or self.env._("reserved address %(address)s", address=address)
        if redirected:
            reason = self.env._("redirects to a %(reason)s", reason=reason)
        raise GelatoImageError(reason)

    def _gelato_image_get(self, session, url, remaining):
        """Send the GET of one hop, without following redirects nor reading the body.

        :return: The streamed response, to be used as a context manager.
        :rtype: requests.Response
        :raise GelatoImageError: When no answer came.
        """
        timeout = max(min(remaining, const.PREVIEW_TIMEOUT), 0.1)
        try:
            return session.get(url, allow_redirects=False, stream=True, timeout=timeout,
                               headers={'Accept': 'image/*'})
        except requests.exceptions.Timeout:
            raise GelatoImageError(self._gelato_image_timeout_reason()) from None
        except requests.exceptions.RequestException as error:
            _logger.info("Gelato picture %s: %s", _loggable_url(url), type(error).__name__)
            raise GelatoImageError(self.env._("connection failed")) from None

    def _gelato_read_image_body(self, response, deadline):
        """Read a streamed body, stopping as soon as it is too large or too slow.

        :return: The body.
        :rtype: bytes
        :raise GelatoImageError: When it is over `const.PREVIEW_MAX_BYTES` or takes too long.
        """
        too_large = self.env._("too large (over %(size)s MiB)",
                               size=const.PREVIEW_MAX_BYTES // (1024 * 1024))
        length = response.headers.get('Content-Length', '').strip()
        if length.isdigit() and int(length) > const.PREVIEW_MAX_BYTES:
            raise GelatoImageError(too_large)
        chunks, size = [], 0
        try:
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > const.PREVIEW_MAX_BYTES:
                    raise GelatoImageError(too_large)
                if time.monotonic() > deadline:
                    raise GelatoImageError(self._gelato_image_timeout_reason())
                chunks.append(chunk)
        except requests.exceptions.RequestException as error:
            if isinstance(error, requests.exceptions.Timeout) or 'timed out' in str(error):
                raise GelatoImageError(self._gelato_image_timeout_reason()) from None
            _logger.info("Gelato picture body failed: %s", type(error).__name__)
            raise GelatoImageError(self.env._("connection failed while downloading")) from None
        return b''.join(chunks)

    def _gelato_image_timeout_reason(self):
        return self.env._("timeout (no picture within %(seconds)s s)",
                          seconds=const.PREVIEW_TIMEOUT)

    def _gelato_verify_image(self, content):
        """Check that bytes are a picture Pillow reads, of a format and a size Odoo accepts.

        :raise GelatoImageError: "not an image", or "too large" for too many pixels.
        """
        if not content:
            raise GelatoImageError(self.env._("not an image (empty)"))
        formats = [name for name in _IMAGE_FORMATS if name in Image.OPEN]
        try:
            with Image.open(io.BytesIO(content), formats=formats) as image:
                width, height = image.size
                if width * height > IMAGE_MAX_RESOLUTION:
                    raise GelatoImageError(self.env._(
                        "too large (%(width)s × %(height)s pixels)", width=width, height=height,
                    ))
                image.verify()
        except Image.DecompressionBombError:
            raise GelatoImageError(self.env._("too large (too many pixels)")) from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError,
                struct.error):
            raise GelatoImageError(self.env._("not an image")) from None
