# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import logging
import time

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from odoo import api, models

from odoo.addons.gelato_connector import const
from odoo.addons.gelato_connector.exceptions import GelatoError

_logger = logging.getLogger(__name__)

_SAFE_METHODS = frozenset({'GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'PATCH'})


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
        if service not in const.API_SERVICES:
            raise ValueError(f"Unknown Gelato service {service!r}")
        method = method.upper()
        safe = method in _SAFE_METHODS if safe is None else safe
        company = company or self._gelato_get_company()
        # Read the key as superuser: only settings administrators may read it, but every user
        # who sells Gelato products needs calls made on the company's behalf.
        api_key = company.sudo().gelato_api_key
        if not api_key:
            raise GelatoError(self.env._(
                "Gelato is not configured for %(company)s: paste the API key in Sales settings.",
                company=company.name,
            ))
        url = self._gelato_build_url(service, path)

        started = time.monotonic()
        try:
            with self._gelato_session(safe) as session:
                response = session.request(
                    method, url, params=params, json=json, timeout=const.REQUEST_TIMEOUT,
                    headers={'X-API-KEY': api_key, 'Accept': 'application/json'},
                )
        except requests.exceptions.RetryError as error:
            # urllib3 gave up after retrying 429/5xx answers.
            _logger.warning("Gelato %s %s gave up after retries: %s", method, url, error)
            raise GelatoError(
                self.env._("Gelato is not answering properly right now (it keeps returning "
                           "errors). "
                  "Please try again in a few minutes."),
                transient=True,
            ) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
            _logger.warning("Gelato %s %s unreachable: %s", method, url, type(error).__name__)
            raise GelatoError(
                self.env._(
                    "Could not reach Gelato (%(reason)s). Please try again in a few minutes.",
                    reason=self.env._("timeout")
                    if isinstance(error, requests.exceptions.Timeout)
                    else self.env._("connection failed"),
                ),
                transient=True,
            ) from None
        _logger.info(
            "Gelato %s %s -> %s in %.0f ms",
            method, url, response.status_code, (time.monotonic() - started) * 1000,
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
        """Return a `requests` session that retries transient failures with backoff.

        Connection failures (nothing reached Gelato) are always retried. Answers 429 and 5xx are
        retried only when the call is safe to repeat: a POST that creates something is not.

        :param bool safe: Whether the call may be repeated after an answer.
        :return: The session, to be used as a context manager.
        :rtype: requests.Session
        """
        retry = Retry(
            total=const.RETRY_TOTAL,
            connect=const.RETRY_TOTAL,
            read=0,
            status=const.RETRY_TOTAL,
            other=0,
            backoff_factor=const.RETRY_BACKOFF_FACTOR,
            # An answer to an unsafe call is returned as is: only its connection may be retried.
            status_forcelist=const.RETRY_STATUS_CODES if safe else (),
            allowed_methods=None,
            respect_retry_after_header=True,
            raise_on_status=True,
        )
        session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry)
        session.mount('http://', adapter)
        session.mount('https://', adapter)
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
