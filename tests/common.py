# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import logging

from odoo.tests import TransactionCase

from odoo.addons.gelato_connector import const
from odoo.addons.gelato_connector.simulator import GelatoSimulator

API_KEY = 'sim-key-0123456789abcdef'
WEBHOOK_SECRET = 'sim-webhook-secret-fedcba9876543210'
FORBIDDEN_KEY = 'sim-key-without-access'


def start_simulator(test_class):
    """Start a Gelato simulator for a test class, on a free loopback port, over real HTTP.

    :return: The running simulator; it is stopped when the class is torn down.
    """
    simulator = GelatoSimulator(api_keys=(API_KEY,), forbidden_keys=(FORBIDDEN_KEY,)).start()
    test_class.addClassCleanup(simulator.stop)
    return simulator


class GelatoCase(TransactionCase):
    """Base for tests that talk to Gelato: a simulator, and a company configured for it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.simulator = start_simulator(cls)
        cls.env['ir.config_parameter'].sudo().set_param(
            const.API_URL_TEMPLATE_PARAM, cls.simulator.api_url_template,
        )
        cls.company = cls.env.company
        cls.company.write({
            'gelato_enabled': True,
            'gelato_api_key': API_KEY,
            'gelato_webhook_secret': WEBHOOK_SECRET,
        })

    def setUp(self):
        super().setUp()
        self.simulator.reset()


class capture_logs:
    """Capture every record, down to DEBUG, of the named loggers without printing them.

    Used to prove that no secret reaches a log line: the records are kept in `records` and
    their formatted text in `text`.
    """

    def __init__(self, *names):
        self.names = names or ('odoo.addons.gelato_connector', 'urllib3', 'requests')
        self.records = []
        self._saved = []

    def __enter__(self):
        handler = _ListHandler(self.records)
        for name in self.names:
            logger = logging.getLogger(name)
            self._saved.append((logger, logger.level, logger.propagate))
            logger.setLevel(logging.DEBUG)
            logger.propagate = False
            logger.addHandler(handler)
        self._handler = handler
        return self

    def __exit__(self, *exc):
        for logger, level, propagate in self._saved:
            logger.removeHandler(self._handler)
            logger.setLevel(level)
            logger.propagate = propagate
        return False

    @property
    def text(self):
        return '\n'.join(
            f'{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ""}' for r in self.records
        )


class _ListHandler(logging.Handler):

    def __init__(self, records):
        super().__init__(logging.DEBUG)
        self._records = records

    def emit(self, record):
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        self._records.append(record)
