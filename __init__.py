# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from . import controllers, models


def post_init_hook(env):
    """Installed by the switch from Odoo's Gelato modules (`odoo-bin gelato_switch`): take over
    their data before the same module operation uninstalls them (see `switch`)."""
    from . import switch  # noqa: PLC0415 - only needed here
    if switch.is_switching(env):
        switch.hand_over(env)
