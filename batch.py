# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""The one loop of the addon's scheduled actions (outbox, reconciliation, stuck check, costs,
template sync, event retries): one record per transaction, what remains reported, the commit in
one place."""

import logging

from odoo import modules
from odoo.exceptions import UserError

from odoo.addons.gelato_connector import const

_logger = logging.getLogger(__name__)


class _Stop:
    """What a `process` returns to end the run once its record is committed (e.g. Gelato asked
    to wait: the next records would only wait too). False in a test of truth, like a failure."""

    def __bool__(self):
        return False

    def __repr__(self):
        return 'batch.STOP'


STOP = _Stop()


def run_batch(records, process, total=None, on_error=None):
    """Process records one per transaction.

    Each record is processed in a savepoint, then committed on its own (`commit_progress`). A
    record that fails is rolled back to its savepoint, logged and handed to `on_error`, and never
    stops the others; one that meets a concurrent transaction is left for the next run.

    :param records: The records to process, in order.
    :param process: Called with each record.
    :param int total: How many records are due in all (`records` may be the first batch of
                      them); default: `len(records)`.
    :param on_error: Called with a record and its error after a failure, e.g. to move the record
                     to the back of the queue.
    When `process` returns `STOP`, the run ends after that record's commit.
    :return: How many records were processed.
    :rtype: int
    """
    env = records.env
    total = len(records) if total is None else total
    done = 0
    for record in records:
        done += 1
        result = None
        try:
            with env.cr.savepoint():
                result = process(record)
        except const.RETRYABLE_DB_ERRORS:
            if modules.module.current_test:
                raise
            env.cr.rollback()  # Still due: the next run takes it again.
            continue
        except Exception as error:  # noqa: BLE001 - one record never blocks a queue
            if isinstance(error, UserError):
                _logger.info("%s %s skipped: %s", record._name, record.id, error.args[0])
            else:
                _logger.exception("%s %s failed", record._name, record.id)
            if on_error:
                with env.cr.savepoint():
                    on_error(record, error)
        if result is STOP:
            # What is left runs when it is woken again (the caller planned when).
            commit_progress(env, 0)
            break
        if commit_progress(env, total - done) <= 0:
            if total - done > 0:
                wake_again(env)
            break
    return done


def wake_again(env):
    """Out of time with work left: Odoo reschedules the scheduled action at once, but its cron
    workers would only see it at their next poll, up to a minute later. A trigger now notifies
    them (the worker running it included, which runs it again when it is done)."""
    cron_id = env.context.get('cron_id')
    if cron_id and not modules.module.current_test:
        env['ir.cron'].sudo().browse(cron_id)._trigger()


def commit_progress(env, remaining):
    """Commit the work of one record of a scheduled action and tell the cron how much is left,
    so that it runs again at once while there is (not at its next interval). Outside a cron, it
    just commits; under test, whose cursor must not commit, it does nothing.

    :param int remaining: The records still waiting after this one.
    :return: The seconds the run may still take (`ir.cron._commit_progress`).
    :rtype: float
    """
    if modules.module.current_test:
        return float('inf')
    return env['ir.cron']._commit_progress(1, remaining=max(remaining, 0))
