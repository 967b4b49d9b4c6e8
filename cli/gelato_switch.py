# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""`odoo-bin --addons-path=... gelato_switch -d DB`: switch a database from Odoo's own Gelato
modules to gelato_connector (see `gelato_connector/switch.py`)."""
import argparse
import sys

from odoo import SUPERUSER_ID
from odoo.api import Environment
from odoo.cli.command import Command
from odoo.modules.registry import Registry
from odoo.tools import config


class GelatoSwitch(Command):
    """Switch a database from Odoo's Gelato modules (sale_gelato, sale_gelato_stock,
    website_sale_gelato) to gelato_connector, keeping products, print images, keys, carriers
    and the orders in flight. Stop the Odoo server and back the database up first."""

    name = 'gelato_switch'

    def __init__(self):
        super().__init__()
        self.parser.formatter_class = argparse.RawDescriptionHelpFormatter
        self.parser.add_argument('-c', '--config', dest='config',
                                 help="use a specific configuration file")
        self.parser.add_argument('-d', '--database', dest='db_name', help="the database")
        self.parser.add_argument('--check', action='store_true',
                                 help="only say whether the database can be switched")

    def run(self, cmdargs):
        # Odoo's own server options (--data-dir, --db_host...) are passed on to its config.
        args, odoo_args = self.parser.parse_known_args(args=cmdargs)
        config_args = ['--no-http', *odoo_args]
        if args.config:
            config_args += ['-c', args.config]
        if args.db_name:
            config_args += ['-d', args.db_name]
        config.parse_config(config_args, setup_logging=True)
        db_names = config['db_name']
        if not db_names or len(db_names) > 1:
            self.parser.error("Name one database (-d).")
        sys.exit(self._switch(db_names[0], args.check))

    def _switch(self, db_name, check_only):
        from odoo.addons.gelato_connector import switch  # noqa: PLC0415 - after the config

        def say(*lines):
            for line in lines:
                sys.stdout.write(f"{line}\n")
            sys.stdout.flush()

        with Registry(db_name).cursor() as cr:
            env = Environment(cr, SUPERUSER_ID, {})
            stage = switch.stage(env)
            if stage == 'none':
                say("gelato_switch: refused, nothing changed: Odoo's Gelato modules are not "
                    "installed on this database; install gelato_connector as any module.")
                return 1
            if stage == 'both':
                say("gelato_switch: refused, nothing changed: gelato_connector and Odoo's Gelato "
                    "modules are both installed; uninstall Odoo's modules first.")
                return 1
            if stage == 'done':
                say("gelato_switch: already switched, nothing to do (gelato_connector is "
                    "installed, Odoo's Gelato modules are not).")
                return 0
            if stage == 'interrupted':
                say("gelato_switch: an earlier run was interrupted before its module "
                    "operation; starting again.")
                switch.cancel_interrupted(env)
                stage = 'start'
            if stage == 'start':
                problems = switch.preflight(env)
                if problems:
                    cr.rollback()
                    say("gelato_switch: refused, nothing changed:",
                        *(f"  - {problem}" for problem in problems))
                    return 1
                if check_only:
                    cr.rollback()
                    say("gelato_switch: this database can be switched.")
                    return 0
                switch.mark(env)
                cr.commit()
                say("gelato_switch: installing gelato_connector and uninstalling "
                    "sale_gelato, sale_gelato_stock, website_sale_gelato...")
        if stage == 'start':
            Registry.new(db_name, update_module=True)
        with Registry(db_name).cursor() as cr:
            env = Environment(cr, SUPERUSER_ID, {})
            if switch.stage(env) != 'finish':
                say("gelato_switch: the module operation did not hand the data over; see the "
                    "log above. Run the command again once the cause is fixed.")
                return 1
            report = switch.finish(env)
            cr.commit()
        lost = [key for key, (found, expected) in report['checks'].items() if found != expected]
        say("gelato_switch: switched." if not lost else "gelato_switch: switched, with losses:",
            *switch.describe(report))
        return 1 if lost else 0
