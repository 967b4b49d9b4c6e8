# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from odoo import api, models

from odoo.addons.gelato_connector import const
from odoo.addons.gelato_connector.exceptions import GelatoBudgetBusy, GelatoError
from odoo.addons.gelato_connector.models.gelato_rate_budget import GelatoRateBudget

_logger = logging.getLogger(__name__)

# One pooled session per thread and kind of call (see `_gelato_session`).
_THREAD_SESSIONS = threading.local()

_SAFE_METHODS = frozenset({'GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'PATCH'})


class CappedRetry(Retry):
    """urllib3's retry policy, with the Retry-After Gelato asks for honoured up to
    `const.RETRY_AFTER_MAX_SECONDS` (Gelato asks clients to back off on 429, and publishes no
    limit: dashboard.gelato.com/docs)."""

    # A 429 is not retried here, whatever its Retry-After: the request budget the workers share
    # pauses them all (`GelatoApiMixin._gelato_send`).
    RETRY_AFTER_STATUS_CODES = frozenset({413, 503})

    def get_retry_after(self, response):
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, const.RETRY_AFTER_MAX_SECONDS)


class GelatoApiMixin(models.AbstractModel):
    """The one road to Gelato, owned by the company (`res.company` is its only heir), as
    `payment.provider._send_api_request` is for transactions.

    Every other model delegates to the company whose Gelato account it uses
    (`sale.company_id._gelato_request(...)`). The client builds
    the URL from the `gelato_connector.api_url_template` system parameter, authenticates with the
    company's API key, retries what is safe to repeat, turns Gelato's error bodies into messages a
    user understands, and logs calls without ever logging a secret.
    """
    _name = 'gelato.api.mixin'
    _description = "Gelato API Client"

    # === BUSINESS METHODS === #

    def _gelato_request(self, service, method, path, *, params=None, json=None, safe=None):
        """Send a request to Gelato and return the decoded JSON answer.

        :param str service: The Gelato service: `order`, `product`, `ecommerce` or `shipment`.
        :param str method: The HTTP method.
        :param str path: The API path, e.g. `/v4/orders`.
        :param dict params: The query string.
        :param dict json: The JSON body.
        :param bool safe: Whether repeating the call after a 429/5xx is harmless; defaults to True
                          for every method but POST.
        :return: The decoded JSON answer (a dict or a list), `{}` for an empty body.
        :raise GelatoError: When Gelato cannot be reached or refuses the request.
        """
        call = self._gelato_prepare_call(service, method, path, params=params, json=json,
                                         safe=safe)
        return self._gelato_read_answer(call, *self._gelato_send(call))

    def _gelato_request_many(self, calls, max_workers=const.COST_FETCH_WORKERS):
        """Send independent requests to Gelato in parallel and return their answers in order.

        Only the HTTP exchanges run in worker threads; the ORM (reading the key, building the
        URLs, turning errors into messages) stays in the calling thread.

        :param list[dict] calls: The calls, each with the keyword arguments of `_gelato_request`
                                 (`service`, `method`, `path` and optionally `params`, `json`,
                                 `safe`).
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
                             safe=None):
        """Return everything needed to send one call, read from the database.

        :return: The call: `method`, `url`, `params`, `json`, `headers`, `safe`.
        :rtype: dict
        :raise GelatoError: When the company has no API key.
        """
        if service not in const.API_SERVICES:
            raise ValueError(f"Unknown Gelato service {service!r}")
        method = method.upper()
        safe = method in _SAFE_METHODS if safe is None else safe
        self.ensure_one()
        company = self
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
            'budget': self._gelato_budget(api_key),
        }

    def _gelato_budget(self, api_key):
        """The share of the database's request budget this call may use: the account, the
        allowance (system parameters), and the reserve and wait of the caller's priority (the
        context key `gelato_priority`, see `const.RATE_PRIORITIES`).

        :return: The budget for `GelatoRateBudget._gelato_take`, or None when it is turned off.
        :rtype: dict
        """
        params = self.env['ir.config_parameter'].sudo()

        def number(key, default):
            try:
                return float(params.get_param(key) or default)
            except ValueError:
                _logger.warning("System parameter %s is not a number: %s used", key, default)
                return default

        rate = number(const.RATE_LIMIT_PARAM, const.DEFAULT_RATE_LIMIT)
        if rate <= 0:
            return None
        burst = max(1.0, number(const.RATE_BURST_PARAM, const.DEFAULT_RATE_BURST))
        priority = self.env.context.get('gelato_priority')
        if priority not in const.RATE_PRIORITIES:
            priority = const.DEFAULT_RATE_PRIORITY
        spec = const.RATE_PRIORITIES[priority]
        reserve = spec['reserve'] * burst if spec['reserve'] < 1 else spec['reserve']
        return {
            'dbname': self.env.cr.dbname,
            'account': GelatoRateBudget._gelato_account(api_key),
            'rate': rate,
            'burst': burst,
            'reserve': min(reserve, burst - 1),
            'wait': spec['wait'],
            'priority': priority,
        }

    @classmethod
    def _gelato_send(cls, call):
        """Send a prepared call over HTTP, within the shared request budget. Touches no
        transaction of the caller: it may run in any thread.

        A 429 pauses the whole database's budget for the time Gelato asks (`Retry-After`, capped)
        and a call safe to repeat is sent again once the pause is over, if its caller may wait
        that long.

        :param dict call: The call from `_gelato_prepare_call`.
        :return: The answer, or None and the exception that prevented one (`requests`'s, or
                 `GelatoBudgetBusy` when nothing was sent).
        :rtype: tuple
        """
        budget = call.get('budget')
        throttled = False
        for attempt in range(const.RETRY_TOTAL + 1):
            waiting, paused = GelatoRateBudget._gelato_take_or_why(budget)
            if waiting:
                return None, GelatoBudgetBusy(waiting, throttled=throttled or paused)
            started = time.monotonic()
            try:
                # Never redirected: the API key goes to Gelato's API host and nowhere else.
                response = cls._gelato_session(call['safe']).request(
                    call['method'], call['url'], params=call['params'], json=call['json'],
                    timeout=const.REQUEST_TIMEOUT, headers=call['headers'],
                    allow_redirects=False,
                )
            except requests.exceptions.RequestException as error:
                return None, error
            _logger.info(
                "Gelato %s %s -> %s in %.0f ms",
                call['method'], call['url'], response.status_code,
                (time.monotonic() - started) * 1000,
            )
            if response.status_code != 429 or attempt == const.RETRY_TOTAL:
                return response, None
            throttled = True
            retry_after = cls._gelato_retry_after(response)
            pause = GelatoRateBudget._gelato_throttled(budget, retry_after)
            if not call['safe']:
                return response, None  # Tried again by the outbox, when the pause is over.
            if not budget:
                time.sleep(min(pause or retry_after or const.RETRY_BACKOFF_FACTOR * 2 ** attempt,
                               const.RETRY_AFTER_MAX_SECONDS))
        return response, None

    @staticmethod
    def _gelato_retry_after(response):
        """The seconds a 429 answer asks to wait (`Retry-After`: seconds or an HTTP date), if
        it says."""
        value = response.headers.get('Retry-After')
        if not value:
            return None
        try:
            return max(0.0, float(Retry().parse_retry_after(value)))
        except Exception:  # noqa: BLE001 - urllib3 raises its own InvalidHeader
            return None

    def _gelato_read_answer(self, call, response, error):
        """Return the decoded JSON answer of a sent call, or raise the error a user reads.

        :raise GelatoError: When Gelato could not be reached or refused the call.
        """
        method, url = call['method'], call['url']
        if isinstance(error, GelatoBudgetBusy):
            wait = max(1, round(error.wait))
            if error.throttled:
                reason = self.env._("Gelato asked Odoo to slow down (429): nothing is sent to it "
                                    "for %(seconds)s seconds.", seconds=wait)
            else:
                reason = self.env._("Odoo's share of Gelato's request allowance is in use by "
                                    "other work; a request is free in %(seconds)s seconds.",
                                    seconds=wait)
            raise GelatoError(
                f'{reason} {self.env._("Please try again shortly.")}',
                transient=True, reason=reason, retry_after=error.wait, status=None)
        if isinstance(error, requests.exceptions.RetryError):
            # urllib3 gave up after retrying 429/5xx answers.
            _logger.warning("Gelato %s %s gave up after retries: %s", method, url, error)
            reason = self.env._("Gelato is not answering properly right now (it keeps "
                                "returning errors).")
            raise GelatoError(
                f'{reason} {self.env._("Please try again in a few minutes.")}',
                transient=True, reason=reason,
            )
        if isinstance(error, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
            _logger.warning("Gelato %s %s unreachable: %s", method, url, type(error).__name__)
            reason = self.env._(
                "Could not reach Gelato (%(reason)s).",
                reason=self.env._("timeout") if isinstance(error, requests.exceptions.Timeout)
                else self.env._("connection failed"))
            raise GelatoError(
                f'{reason} {self.env._("Please try again in a few minutes.")}',
                transient=True, reason=reason,
            )
        if error is not None:
            _logger.warning("Gelato %s %s failed: %s", method, url, type(error).__name__)
            raise GelatoError(
                self.env._("The call to Gelato failed (%s).", type(error).__name__),
                transient=False,
            )
        if response.is_redirect or 300 <= response.status_code < 400:
            _logger.warning("Gelato %s %s answered a redirect (%s): not followed", method, url,
                            response.status_code)
            raise GelatoError(
                self.env._("Gelato's API answered with a redirect (%s), which is not followed so "
                           "that the API key goes nowhere else. Check the API address.",
                           response.status_code),
                status=response.status_code)
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
            retry = CappedRetry(
                total=const.RETRY_TOTAL,
                connect=const.RETRY_TOTAL,
                read=0,
                status=const.RETRY_TOTAL,
                other=0,
                backoff_factor=const.RETRY_BACKOFF_FACTOR,
                # An answer to an unsafe call is returned as is: only its connection is retried.
                status_forcelist=const.RETRY_STATUS_CODES if safe else (),
                allowed_methods=None,
                respect_retry_after_header=bool(safe),
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
        reason = None  # What went wrong, without the advice to try again.
        if status == 401:
            text = self.env._("Gelato refused the API key (401). Check the key in Sales settings.")
        elif status == 403:
            text = self.env._("This Gelato API key has no access to that resource (403).")
        elif status == 404:
            text = self.env._("Gelato does not know this resource (404).")
        elif status == 429:
            reason = self.env._("Gelato received too many requests (429).")
            text = f'{reason} {self.env._("Please try again shortly.")}'
        elif status >= 500:
            reason = self.env._("Gelato had an internal error (%(status)s).", status=status)
            text = f'{reason} {self.env._("Please try again later.")}'
        else:
            text = self.env._("Gelato refused the request (%(status)s).", status=status)
        reason = reason or text
        if message:
            says = self.env._('Gelato says: %s', message[:1000])
            text, reason = f"{text}\n{says}", f"{reason}\n{says}"
        _logger.warning("Gelato answered %s: %s", status, message[:300] or '<no message>')
        return GelatoError(text, status=status, transient=status == 429 or status >= 500,
                           body=body, reason=reason,
                           retry_after=(self._gelato_retry_after(response)
                                        or const.RATE_BACKOFF_SECONDS) if status == 429
                           else None)
