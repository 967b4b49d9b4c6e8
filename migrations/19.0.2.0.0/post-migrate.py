# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
from odoo import SUPERUSER_ID, api

from odoo.addons.gelato_connector import upgrade_steps


def migrate(cr, version):
    upgrade_steps.migrate_legacy_orders(api.Environment(cr, SUPERUSER_ID, {}))
