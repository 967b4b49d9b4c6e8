# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""Small pure helpers."""

import json
import math
import re
import threading
import time


def notification(kind, title, message, sticky=False, next_action=None):
    """Return a client action that shows a notification to the user.

    :param str kind: `success`, `warning`, `danger` or `info`.
    :param str title: The notification's title.
    :param str message: The notification's text (plain text, escaped by the client).
    :param bool sticky: Whether it stays until closed.
    :param dict next_action: An action to run once the notification is shown.
    :return: The client action.
    :rtype: dict
    """
    params = {'type': kind, 'title': title, 'message': message, 'sticky': sticky}
    if next_action:
        params['next'] = next_action
    return {'type': 'ir.actions.client', 'tag': 'display_notification', 'params': params}


def number(value):
    """Return an amount Gelato sent as a number or as a numeric string (its receipt table types
    `amount` and `priceBase` as strings, dashboard.gelato.com/docs/orders/v4/get), as a float;
    None for anything else (booleans, NaN, infinities, text).

    :rtype: float | None
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def normalize_print_area(area):
    """Return the print area name Gelato's order API accepts.

    Templates may name the main area `front` or `1`; orders want `default`.

    :param str area: The print area as the template names it.
    :return: The lower-case area name.
    :rtype: str
    """
    area = area.strip().lower()
    return 'default' if area in ('front', '1') else area


def split_name(name):
    """Split a person's name into Gelato's first and last names; both are required.

    A one-word name is used for both.

    :param str name: The full name.
    :return: `(first name, last name)`
    :rtype: tuple[str, str]
    """
    words = name.split()
    if not words:
        return '', ''
    if len(words) == 1:
        return words[0], words[0]
    return ' '.join(words[:-1]), words[-1]


def fit_address_lines(street, street2, width):
    """Fit a street and its complement on two lines of `width` characters without losing any.

    The first line is cut at the last space that fits (or at `width` in a word longer than the
    line); what is cut moves to the front of the second line.

    :param str street: The street.
    :param str street2: The complement.
    :param int width: The length of a line.
    :return: `(line 1, line 2)`; line 2 may still be longer than `width`.
    :rtype: tuple[str, str]
    """
    street, street2 = ' '.join(street.split()), ' '.join(street2.split())
    if len(street) <= width:
        return street, street2
    cut = street.rfind(' ', 0, width + 1)
    if cut <= 0:
        cut = width
    line1, overflow = street[:cut].rstrip(), street[cut:].strip()
    return line1, ' '.join(part for part in (overflow, street2) if part)


def stock_region(country_code):
    """Return Gelato's stock region for a destination country (ISO 3166-1 alpha-2)."""
    from odoo.addons.gelato_connector.const import COUNTRY_STOCK_REGIONS  # noqa: PLC0415
    return COUNTRY_STOCK_REGIONS.get((country_code or '').upper(), 'ROW')


def parse_date(value):
    """Return the date of an ISO-8601 date or datetime string from Gelato, or None."""
    import datetime  # noqa: PLC0415
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return datetime.date.fromisoformat(value[:10])
    except ValueError:
        return None


def safe_url(url):
    """Return the URL when it is an http(s) link, else None: only those become links."""
    if isinstance(url, str) and url.strip().lower().startswith(('http://', 'https://')) \
            and len(url) <= 2000:
        return url.strip()
    return None


def clean_str(value, max_length=255):
    """Return a stripped string from a payload value, or None for anything else.

    Numbers are accepted (ids sometimes arrive as numbers); booleans, lists, dicts and nulls
    are not.

    :param value: The payload value.
    :param int max_length: The longest string kept.
    :rtype: str | None
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    value = str(value).strip()
    return value[:max_length] or None


def record_id(value):
    """Return a database id from a payload value (`"42"` or `42`), or None when it is not one."""
    value = clean_str(value, 20)
    if value and value.isdigit() and 0 < int(value) < 2**31:
        return int(value)
    return None


_GELATO_ID = re.compile(r'[A-Za-z0-9][A-Za-z0-9_-]{0,127}')


def gelato_id(value):
    """Return a Gelato identifier (order id, template id...) fit to become part of a URL path,
    or None: letters, digits, `-` and `_` only, as Gelato's ids are (UUIDs)."""
    value = clean_str(value, 256)
    return value if value and _GELATO_ID.fullmatch(value) else None


def plain_text(text, max_length=2000):
    """Return text from outside (Gelato's comments) as it was written, on one line and at most
    `max_length` characters: nothing is stripped, so it must be escaped wherever it is shown
    (`Markup("%s") % text`), where markup reads as text and a link is no link."""
    if not isinstance(text, str):
        return ''
    return ' '.join(text.split())[:max_length]


# === JSON FROM OUTSIDE (webhook payloads) === #

# What PostgreSQL's text cannot hold and JSON escapes can carry: NUL (`\u0000`) and lone UTF-16
# surrogates (`\ud800`), which no UTF-8 text has.
_UNSTORABLE = re.compile('[\x00\ud800-\udfff]')
# What an identifier never keeps: control characters, and lone surrogates.
_NOT_IN_IDENTIFIERS = re.compile('[\x00-\x1f\x7f-\x9f\ud800-\udfff]')
# The longest integer kept as a number (Python refuses to read more than 4300 digits).
_MAX_INT_DIGITS = 100


def storable(text):
    """Return text PostgreSQL can store: NUL and lone surrogates become U+FFFD."""
    return _UNSTORABLE.sub('\ufffd', text)


def storable_json(value):
    """Return a decoded JSON value whose every string, keys included, is `storable`."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list):
        return [storable_json(item) for item in value]
    if isinstance(value, dict):
        return {storable(key) if isinstance(key, str) else key: storable_json(item)
                for key, item in value.items()}
    return value


def clean_identifier(value, max_length=255):
    """Return an identifier from a payload (an event's id or type) as text to store, or None.

    Strings and integers are accepted; control characters are dropped and lone surrogates
    replaced; the text is stripped and cut to `max_length`.

    :rtype: str | None
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    try:
        text = str(value)
    except ValueError:  # an integer of more digits than Python converts
        return None
    text = _NOT_IN_IDENTIFIERS.sub(lambda m: '' if m[0] < '\ud800' else '\ufffd', text)
    return text.strip()[:max_length].strip() or None


def _keep_int(text):
    return int(text) if len(text) <= _MAX_INT_DIGITS else text


def _keep_float(text):
    number = float(text)
    return number if math.isfinite(number) else text


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def loads_json(text):
    """Decode JSON text as sent from outside: `NaN` and `Infinity` (not JSON) are refused; a
    number Python cannot hold (more than 100 digits, beyond a float's range) is kept as its text.

    :raise ValueError: When the text is not JSON.
    :raise RecursionError: When it nests deeper than Python's recursion allows.
    """
    return json.loads(text, parse_int=_keep_int, parse_float=_keep_float,
                      parse_constant=_refuse_constant)


def json_depth(value):
    """Return how deep a decoded JSON value nests (a scalar is 0, `[]` is 1, `[[]]` is 2)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in
                         (item.values() if isinstance(item, dict) else item)
                         if isinstance(child, (list, dict)))
    return deepest


class RateLimitedWarning:
    """A warning logged at most once per `interval` seconds, with the number of times it
    happened since it was last logged: a storm of bad requests does not flood the log.

    :param logging.Logger logger: Where the warning goes.
    :param str message: The warning, with one `%s` for the count.
    :param float interval: The seconds between two warnings at least.
    :param clock: The clock, in seconds (`time.monotonic`).
    """

    def __init__(self, logger, message, interval=60, clock=time.monotonic):
        self._logger, self._message = logger, message
        self._interval, self._clock = interval, clock
        self._lock = threading.Lock()
        self._count, self._last = 0, None

    def __call__(self):
        """Count one more occurrence; log the warning when the last one is old enough."""
        with self._lock:
            self._count += 1
            now = self._clock()
            if self._last is not None and now - self._last < self._interval:
                return
            count, self._count, self._last = self._count, 0, now
        self._logger.warning(self._message, count)


def item_preview_url(previews):
    """The URL of the preview Gelato rendered of an order item: `items[].previews` of an order
    (docs/orders/v4/get: `[{"type": "preview_default", "url": ...}]`), the default one first.

    :return: An http(s) URL, or None.
    :rtype: str | None
    """
    if not isinstance(previews, list):
        return None
    urls = [(preview.get('type') != 'preview_default', clean_str(preview.get('url'), 2048))
            for preview in previews if isinstance(preview, dict)]
    for _rank, url in sorted(urls, key=lambda pair: pair[0]):
        if url and url.lower().startswith(('https://', 'http://')) and len(url) <= 2048:
            return url
    return None
