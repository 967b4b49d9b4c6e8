# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
from odoo.addons.gelato_connector import upgrade_steps


def migrate(cr, version):
    upgrade_steps.rename_attention_state(cr)
    upgrade_steps.rename_event_order_id(cr)
