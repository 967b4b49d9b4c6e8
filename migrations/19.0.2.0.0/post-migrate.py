# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
from odoo import SUPERUSER_ID, api

from odoo.addons.gelato_connector import upgrade_steps


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    upgrade_steps.migrate_legacy_orders(env)
    upgrade_steps.rename_gelato_carriers(env)
    upgrade_steps.mark_templates_for_resync(env)
