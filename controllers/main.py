# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import logging

from odoo import SUPERUSER_ID, http
from odoo.http import request

from odoo.addons.gelato_connector import const, utils

_logger = logging.getLogger(__name__)

_warn_unauthenticated = utils.RateLimitedWarning(
    _logger, "Gelato webhook refused %s request(s) with a missing or unknown signature since "
             "the last such warning (one a minute at most)")


class GelatoController(http.Controller):

    # `max_content_length`: Odoo 19 bounds the body before it parses a form or multipart body
    # into the request's parameters (werkzeug answers 413), not only when this method reads it.
    @http.route(const.WEBHOOK_ROUTE, type='http', auth='public', methods=['POST'], csrf=False,
                save_session=False, max_content_length=const.WEBHOOK_MAX_BYTES)
    def gelato_webhook(self, **_params):
        """Receive an event from Gelato: authenticate, bound, decode, hand over.

        A query string or form fields are taken and ignored (`_params`): the event is the JSON
        body, and a sender's extra parameters do not log a warning per request.

        Answers 401 without a known `signature` (and reads nothing more), 413 for a body over
        1 MiB, whether it announces its length or is sent in chunks, 400 for a body that is not
        a JSON object with `id` and `event` (not UTF-8, not JSON, nested too deeply), and 200
        once the event is stored, whatever its processing gives (a failure is kept on the event
        and retried). Nothing a sender puts in a request gives a
        5xx: the values are made storable by `gelato.event._gelato_receive`.
        """
        httprequest = request.httprequest
        company = request.env['res.company'].sudo()._gelato_company_for_signature(
            httprequest.headers.get('signature'))
        if not company:
            _warn_unauthenticated()
            return self._answer(401, 'unauthorized', "Missing or unknown signature header.")
        if (httprequest.content_length or 0) > const.WEBHOOK_MAX_BYTES:
            return self._answer(413, 'too_large', "The body is larger than 1 MiB.")
        # Kept with the request: when a concurrent update makes Odoo replay it, the replay reads
        # the same bytes (the stream is consumed).
        environ = httprequest.environ
        if 'gelato_connector.body' not in environ:
            environ['gelato_connector.body'] = self._read_body(
                self._body_stream(httprequest), const.WEBHOOK_MAX_BYTES)
        raw = environ['gelato_connector.body']
        if raw is None:
            return self._answer(400, 'invalid_body', "The body could not be read.")
        if len(raw) > const.WEBHOOK_MAX_BYTES:
            return self._answer(413, 'too_large', "The body is larger than 1 MiB.")
        try:
            text = raw.decode('utf-8-sig')  # JSON is UTF-8 (RFC 8259)
            payload = utils.loads_json(text)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            if httprequest.mimetype in ('application/x-www-form-urlencoded',
                                        'multipart/form-data'):
                # Odoo parsed the form before the route ran: nothing is left to read.
                return self._answer(400, 'invalid_json',
                                    "The body is not JSON: send it as application/json.")
            return self._answer(400, 'invalid_json', "The body is not JSON.")
        if utils.json_depth(payload) > const.WEBHOOK_MAX_DEPTH:
            return self._answer(400, 'invalid_json', "The body nests too deeply.")
        if not isinstance(payload, dict) or not utils.clean_identifier(payload.get('id')) \
                or not utils.clean_identifier(payload.get('event')):
            return self._answer(400, 'invalid_event', "Expected a JSON object with id and event.")
        # No user is behind a webhook: the event is processed as OdooBot (what it validates and
        # posts is authored by OdooBot, never by the public user), for the company it is for.
        # What the event asks of Gelato (reading an order Odoo does not know yet) comes after
        # shoppers and orders in the shared request budget.
        state = request.env['gelato.event'].with_user(SUPERUSER_ID).with_company(company) \
            .with_context(gelato_priority='followup')._gelato_receive(company, payload, text)
        return request.make_json_response({'status': state})

    @staticmethod
    def _body_stream(httprequest):
        """Return the stream of the request's body.

        Odoo's request exposes werkzeug's `get_data`, which reads a body sent in chunks (no
        Content-Length) to its end, however long; the stream lets the body be read only as far
        as needed. It is werkzeug's request's, which Odoo's wraps.
        """
        wrapped = getattr(httprequest, '_HTTPRequest__wrapped', None)
        if wrapped is None:  # not Odoo's wrapper: werkzeug's request itself
            wrapped = httprequest
        return wrapped.stream

    @staticmethod
    def _read_body(stream, limit):
        """Read at most `limit` + 1 bytes of a body, however it is sent (with a length or in
        chunks): a longer body is not read further.

        :return: The bytes read, or None when the body could not be read (broken chunks).
        :rtype: bytes | None
        """
        chunks, size = [], 0
        try:
            while size <= limit:
                chunk = stream.read(min(64 * 1024, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except (OSError, ValueError):
            return None
        return b''.join(chunks)

    @staticmethod
    def _answer(status, code, message):
        return request.make_json_response({'error': code, 'message': message}, status=status)
