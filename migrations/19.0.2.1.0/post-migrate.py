# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
from odoo import SUPERUSER_ID, api

from odoo.addons.gelato_connector import upgrade_steps


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    upgrade_steps.repair_lost_variant_overrides(env)
