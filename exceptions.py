# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo.exceptions import UserError


class GelatoError(UserError):
    """A call to Gelato failed; the message is meant for the user.

    :param str message: What went wrong, in words a user understands.
    :param int status: The HTTP status Gelato answered, or None when no answer came.
    :param bool transient: Whether the same call may succeed later (outage, 429, 5xx).
    :param dict body: Gelato's decoded error body, when it sent one.
    :param str reason: What went wrong without the advice to the person who pressed a button
                       ("Please try again in a few minutes."): what a scheduled action that
                       retries by itself shows. Default: the message.
    """

    def __init__(self, message, status=None, transient=False, body=None, reason=None,
                 retry_after=None):
        super().__init__(message)
        self.status = status
        self.transient = transient
        self.body = body or {}
        self.reason = reason or message
        # Seconds after which the same call may pass: Gelato asked to slow down (429), or the
        # request budget this database shares is spent for this caller's priority.
        self.retry_after = retry_after


class GelatoBudgetBusy(Exception):
    """No request of the shared budget was free for the caller within the time it may wait:
    nothing was sent. `wait` is the seconds until one may be."""

    def __init__(self, wait, throttled=False):
        super().__init__(wait)
        self.wait = wait
        self.throttled = throttled  # Gelato answered 429 (the whole database waits).


class GelatoImageError(Exception):
    """A picture could not be downloaded from a link Gelato gave, or was refused.

    Not a `UserError`: a picture that cannot be fetched never stops what asked for it (a
    synchronization still succeeds); the caller reports the reason instead.

    :param str reason: Why, plainly: "not https", "a private or local address", "not an image"...
    """

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason
