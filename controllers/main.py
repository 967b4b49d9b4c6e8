# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import json
import logging

from odoo import SUPERUSER_ID, http
from odoo.http import request

from odoo.addons.gelato_connector import const

_logger = logging.getLogger(__name__)


class GelatoController(http.Controller):

    @http.route(const.WEBHOOK_ROUTE, type='http', auth='public', methods=['POST'], csrf=False,
                save_session=False)
    def gelato_webhook(self):
        """Receive an event from Gelato: authenticate, store, hand over.

        Answers 401 without a known `signature`, 413 for a body over 1 MiB, 400 for a body that
        is not a JSON object with `id` and `event`, and 200 once the event is stored, whatever
        its processing gives (a failure is kept on the event and retried).
        """
        httprequest = request.httprequest
        company = request.env['res.company'].sudo()._gelato_company_for_signature(
            httprequest.headers.get('signature'))
        if not company:
            _logger.warning("Gelato webhook refused: missing or unknown signature")
            return self._answer(401, 'unauthorized', "Missing or unknown signature header.")
        if (httprequest.content_length or 0) > const.WEBHOOK_MAX_BYTES:
            return self._answer(413, 'too_large', "The body is larger than 1 MiB.")
        raw = httprequest.get_data()  # Bounded by the Content-Length checked above.
        if len(raw) > const.WEBHOOK_MAX_BYTES:
            return self._answer(413, 'too_large', "The body is larger than 1 MiB.")
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return self._answer(400, 'invalid_json', "The body is not JSON.")
        if not isinstance(payload, dict) or not self._is_key(payload.get('id')) \
                or not self._is_key(payload.get('event')):
            return self._answer(400, 'invalid_event', "Expected a JSON object with id and event.")
        # No user is behind a webhook: the event is processed as OdooBot (what it validates and
        # posts is authored by OdooBot, never by the public user), for the company it is for.
        state = request.env['gelato.event'].with_user(SUPERUSER_ID).with_company(company) \
            ._gelato_receive(company, payload, raw.decode('utf-8', 'replace'))
        return request.make_json_response({'status': state})

    @staticmethod
    def _is_key(value):
        return isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip()

    @staticmethod
    def _answer(status, code, message):
        return request.make_json_response({'error': code, 'message': message}, status=status)
