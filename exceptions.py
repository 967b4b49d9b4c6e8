# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo.exceptions import UserError


class GelatoError(UserError):
    """A call to Gelato failed; the message is meant for the user.

    :param str message: What went wrong, in words a user understands.
    :param int status: The HTTP status Gelato answered, or None when no answer came.
    :param bool transient: Whether the same call may succeed later (outage, 429, 5xx).
    :param dict body: Gelato's decoded error body, when it sent one.
    """

    def __init__(self, message, status=None, transient=False, body=None):
        super().__init__(message)
        self.status = status
        self.transient = transient
        self.body = body or {}
