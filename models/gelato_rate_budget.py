# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""The request budget every worker and server of a database shares for one Gelato account."""

import contextlib
import hashlib
import logging
import random
import time

from psycopg2.extensions import ISOLATION_LEVEL_READ_COMMITTED

from odoo import fields, models, sql_db
from odoo.tools import SQL

from odoo.addons.gelato_connector import const

_logger = logging.getLogger(__name__)


@contextlib.contextmanager
def _budget_cursor(dbname):
    """A transaction of its own on the budget, committed on leaving, in READ COMMITTED: the
    row is locked while it is read and written, and each worker sees the others' last commit
    (Odoo's REPEATABLE READ would fail a worker whose row another one just changed)."""
    with sql_db.db_connect(dbname).cursor() as cr:
        cr.connection.set_isolation_level(ISOLATION_LEVEL_READ_COMMITTED)
        yield cr


class GelatoRateBudget(models.Model):
    """Gelato's allowance of requests for one account (one API key), shared by every worker and
    server of the database: a token bucket kept in one row of PostgreSQL.

    Gelato answers 429 to a client that sends too much and asks it to back off exponentially
    (https://dashboard.gelato.com/docs/, "Rate limits": no figure is published). Each call takes
    a token first (`_gelato_take`): tokens come back at `gelato_connector.rate_limit` per second,
    up to `gelato_connector.rate_burst`. A caller of lower priority may only take a token while
    more than its reserve is left (`const.RATE_PRIORITIES`), so bulk work yields to shoppers and
    orders. A 429 empties the bucket and pauses every worker for the time Gelato asks, longer at
    each 429 in a row (`_gelato_throttled`).

    The row is read and written in a transaction of its own, committed at once, never in the
    caller's transaction: a worker waiting on Gelato's answer holds no lock on the budget. The
    clock is the database's, so servers whose clocks differ still share one budget.
    """
    _name = 'gelato.rate.budget'
    _description = "Gelato Request Budget"
    _log_access = False
    _rec_name = 'account'

    account = fields.Char(
        required=True, readonly=True,
        help="A digest of the API key: the account whose allowance this is (never the key).")
    tokens = fields.Float(readonly=True, help="Requests that may be sent at once.")
    refilled_epoch = fields.Float(readonly=True, help="When the tokens were last counted.")
    paused_until_epoch = fields.Float(
        readonly=True, help="Nothing is sent before then (Gelato answered 429).")
    strikes = fields.Integer(readonly=True, help="429 answers in a row.")
    throttled_count = fields.Integer(string="429 Answers", readonly=True)
    last_throttled_epoch = fields.Float(readonly=True)

    _account_unique = models.Constraint('UNIQUE(account)', "One budget per Gelato account.")

    # === BUSINESS METHODS === #

    @staticmethod
    def _gelato_account(api_key):
        """The budget's key for an API key: a digest, so that the key is stored nowhere else."""
        return hashlib.sha256(api_key.encode()).hexdigest()[:32]

    @classmethod
    def _gelato_take(cls, budget):
        """Take one request from the budget, waiting for it up to the budget's `wait` seconds.
        Touches no transaction of the caller: it may run in any thread.

        :param dict budget: From `res.company._gelato_budget`: `dbname`, `account`, `rate`,
                            `burst`, `reserve`, `wait`.
        :return: 0 once a token is taken, else the seconds still to wait for one (more than the
                 caller may wait).
        :rtype: float
        """
        return cls._gelato_take_or_why(budget)[0]

    @classmethod
    def _gelato_take_or_why(cls, budget):
        """`_gelato_take`, also saying whether the wait is a pause Gelato asked for (429).

        :return: The seconds still to wait (0 once taken), and whether every worker is paused.
        :rtype: tuple[float, bool]
        """
        if not budget or budget['rate'] <= 0:
            return 0.0, False
        deadline = time.monotonic() + budget['wait']
        while True:
            wait, paused = cls._gelato_try_take(budget, why=True)
            if wait <= 0:
                return 0.0, False
            left = deadline - time.monotonic()
            if wait > left:
                return wait, paused
            # A little jitter, so that the workers waiting do not all ask at the same instant.
            time.sleep(min(left, wait + random.uniform(0, 0.2 * wait + 0.005)))

    @classmethod
    def _gelato_try_take(cls, budget, why=False):
        """Take a token if one is free above the caller's reserve, in one statement.

        :param bool why: Also say whether the budget is paused (Gelato answered 429).
        :return: 0 when a token was taken, else the seconds until one may be (and, with `why`,
                 whether that is a pause).
        :rtype: float
        """
        with _budget_cursor(budget['dbname']) as cr:
            for _attempt in range(2):
                cr.execute(SQL(
                    """WITH current AS (
                           SELECT id, extract(epoch from clock_timestamp()) AS now,
                                  paused_until_epoch AS paused,
                                  LEAST(%(burst)s::float8, tokens + %(rate)s::float8 * GREATEST(0,
                                        extract(epoch from clock_timestamp()) - refilled_epoch))
                                    AS tokens
                             FROM gelato_rate_budget WHERE account = %(account)s FOR UPDATE
                       ), decided AS (
                           SELECT id, now, paused, tokens,
                                  paused <= now AND tokens - 1 >= %(reserve)s::float8 AS granted
                             FROM current
                       )
                       UPDATE gelato_rate_budget budget
                          SET tokens = CASE WHEN decided.paused > decided.now THEN budget.tokens
                                            WHEN decided.granted THEN decided.tokens - 1
                                            ELSE decided.tokens END,
                              refilled_epoch = GREATEST(decided.now, decided.paused)
                         FROM decided
                        WHERE budget.id = decided.id
                    RETURNING CASE WHEN decided.granted THEN 0
                                   WHEN decided.paused > decided.now
                                       THEN decided.paused - decided.now
                                   ELSE (%(reserve)s::float8 + 1 - decided.tokens)
                                        / %(rate)s::float8
                              END, decided.paused > decided.now""",
                    account=budget['account'], burst=float(budget['burst']),
                    rate=float(budget['rate']), reserve=float(budget['reserve'])))
                row = cr.fetchone()
                if row:
                    return (float(row[0]), row[1]) if why else float(row[0])
                # The account's first request: its budget starts full.
                cr.execute(SQL(
                    """INSERT INTO gelato_rate_budget (account, tokens, refilled_epoch,
                                                      paused_until_epoch, strikes,
                                                      throttled_count, last_throttled_epoch)
                       VALUES (%s, %s, extract(epoch from clock_timestamp()), 0, 0, 0, 0)
                       ON CONFLICT (account) DO NOTHING""",
                    budget['account'], float(budget['burst'])))
            return (0.0, False) if why else 0.0

    @classmethod
    def _gelato_throttled(cls, budget, retry_after=None):
        """Gelato answered 429: empty the budget and pause every worker of the database, for
        what Gelato asked (`Retry-After`, at most `const.RATE_PAUSE_MAX_SECONDS`) or, without
        it, for a backoff that doubles at each 429 in a row.

        :param dict budget: The budget the call took its token from.
        :param float retry_after: The seconds Gelato asked to wait, if it said.
        :return: The seconds every worker now waits.
        :rtype: float
        """
        if not budget or budget['rate'] <= 0:
            return 0.0
        with _budget_cursor(budget['dbname']) as cr:
            cr.execute(SQL(
                """SELECT extract(epoch from clock_timestamp()), strikes, last_throttled_epoch
                     FROM gelato_rate_budget WHERE account = %s FOR UPDATE""",
                budget['account']))
            row = cr.fetchone()
            if not row:
                return 0.0
            now, strikes, last = row
            # A 429 soon after the last one is "in a row": the pause doubles.
            strikes = strikes + 1 if now - last < const.RATE_STRIKE_WINDOW_SECONDS else 1
            backoff = const.RATE_BACKOFF_SECONDS * 2 ** (strikes - 1)
            pause = min(max(retry_after or 0.0, backoff), const.RATE_PAUSE_MAX_SECONDS)
            cr.execute(SQL(
                """UPDATE gelato_rate_budget
                      SET tokens = 0, strikes = %(strikes)s, last_throttled_epoch = %(now)s,
                          paused_until_epoch = GREATEST(paused_until_epoch, %(until)s),
                          throttled_count = throttled_count + 1
                    WHERE account = %(account)s""",
                strikes=strikes, now=now, until=now + pause, account=budget['account']))
        _logger.warning("Gelato answered 429: every worker waits %.1f s (429 #%s in a row)",
                        pause, strikes)
        return pause
