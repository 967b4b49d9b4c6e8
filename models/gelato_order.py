# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import json
import logging
import math
from datetime import timedelta

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.fields import Domain
from odoo.tools import SQL

from odoo.addons.gelato_connector import batch, const, utils
from odoo.addons.gelato_connector.exceptions import GelatoError

_logger = logging.getLogger(__name__)


class GelatoOrder(models.Model):
    """The Gelato side of a sale: one record per Gelato order id.

    A sale order becomes one Gelato order when it is sent; Gelato may split it into connected
    orders (items produced in different hubs), and its support may replace a failed order by a
    reorder under the same reference. Each of them is a record here, with its own status,
    delivery estimate, packages and costs, the way `payment.transaction` is the provider's side
    of a payment. The record also owns the outbox: a sale order waits here until Gelato has it.
    """
    _name = 'gelato.order'
    _description = "Gelato Order"
    _order = 'id desc'
    # What an event's processing reads of the order it is about: read with the event
    # (`gelato.event._gelato_insert`) or by `_gelato_find`, in one query.
    _GELATO_EVENT_FIELDS = [
        'sale_order_id', 'state', 'status', 'reference', 'gelato_id', 'company_id', 'is_stuck',
        'status_since', 'last_update_at', 'approval_mode', 'approved_at',
    ]

    sale_order_id = fields.Many2one(
        'sale.order', string="Sales Order", required=True, readonly=True, ondelete='cascade',
        index=True,
    )
    company_id = fields.Many2one(
        related='sale_order_id.company_id', store=True, index=True, string="Company",
    )
    partner_id = fields.Many2one(related='sale_order_id.partner_id', string="Customer")
    user_id = fields.Many2one(related='sale_order_id.user_id', string="Salesperson")
    gelato_id = fields.Char(
        string="Gelato Order ID", readonly=True, copy=False, index='btree_not_null',
        help="Gelato's id of the order, once Gelato has it.",
    )
    reference = fields.Char(
        string="Reference", required=True, readonly=True, copy=False, index=True,
        help="The orderReferenceId this database sent to Gelato: the sale order's name and a "
             "token of the database, so that no other database can be mistaken for this one.",
    )
    origin = fields.Selection(
        string="Origin",
        selection=[
            ('sent', "Sent by Odoo"),
            ('connected', "Connected order"),
            ('reorder', "Reorder by Gelato"),
            ('migrated', "Sent by an earlier version"),
            ('switched', "Sent by Odoo's Gelato module"),
            ('replacement', "Replacement"),
        ],
        required=True, default='sent', readonly=True,
    )
    parent_id = fields.Many2one(
        'gelato.order', string="Created With", readonly=True, ondelete='set null', index=True,
        help="For a connected order: the order Gelato answered when the sale was sent. For a "
             "reorder: the order it replaces.",
    )
    claim_id = fields.Many2one(
        'gelato.claim', string="Replaces For", readonly=True, ondelete='set null',
        index='btree_not_null',
        help="For a replacement: the claim whose items it sends again.")
    claim_ids = fields.One2many('gelato.claim', 'gelato_order_id', string="Claims")
    claim_count = fields.Integer(compute='_compute_claim_count')
    picking_id = fields.Many2one(
        'stock.picking', string="Replacement Delivery", readonly=True, ondelete='set null',
        help="For a replacement: its own delivery (the original's stays as it is).")
    # Written only by `_gelato_set_state`, which lists the states each may come from.
    state = fields.Selection(
        string="Sending", selection=const.SENDING_STATES,
        required=True, default='pending', readonly=True, index=True,
    )
    # Written only by `_gelato_set_status`, along `const.STATUS_TRANSITIONS`.
    status = fields.Selection(
        string="Gelato Status", selection=const.ORDER_STATUSES, readonly=True, index=True,
    )
    # Held orders (`approval_mode` delayed or manual) wait at Gelato as drafts until approved:
    # written only by `_gelato_hold_values`, `action_hold` and `_gelato_approve_one`.
    approval_mode = fields.Selection(
        string="Approval", selection=[('instant', "Instant"), ('delayed', "Delayed"),
                                      ('manual', "Manual")],
        default='instant', required=True, readonly=True,
        help="Instant: printed at once. Delayed: approved automatically at the approval time. "
             "Manual: waits at Gelato, as a draft, until someone presses Approve now.",
    )
    approve_at = fields.Datetime(
        string="Approve At", readonly=True, index='btree_not_null',
        help="When the held order is approved (for a manual one: once someone approved it).",
    )
    approved_at = fields.Datetime(string="Approved", readonly=True)
    is_held = fields.Boolean(
        string="Awaiting Approval", compute='_compute_is_held', store=True, index=True,
        help="Waiting at Gelato as a draft: nothing is printed or charged until it is approved.",
    )
    needs_attention = fields.Boolean(
        string="Needs Attention", compute='_compute_needs_attention', store=True, index=True,
        help="The one \"needs attention\" rule: the order could not be sent, or Gelato holds, "
             "failed or got back the parcel of an order that is still current.",
    )
    status_reason = fields.Text(
        string="Gelato's Reason", readonly=True,
        help="What Gelato said about the last failure, hold or cancellation.",
    )
    send_attempts = fields.Integer(readonly=True)
    next_attempt_at = fields.Datetime(string="Next Attempt", readonly=True, index=True)
    last_error = fields.Text(string="Last Error", readonly=True)
    last_update_at = fields.Datetime(string="Last Heard from Gelato", readonly=True)
    shipment_method_uid = fields.Char(
        string="Shipment Method UID", readonly=True,
        help="The shipment method sent to Gelato: the one of the delivery method set on the "
             "sale order.",
    )
    shipment_method_name = fields.Char(string="Shipment Method", readonly=True)
    min_delivery_date = fields.Date(string="Delivery From", readonly=True)
    max_delivery_date = fields.Date(string="Delivery Until", readonly=True)
    connected_gelato_ids = fields.Char(
        string="Connected Order IDs", readonly=True,
        help="Gelato's connectedOrderIds, comma separated.",
    )
    sale_line_ids = fields.Many2many(
        'sale.order.line', string="Order Lines", readonly=True,
        relation='gelato_order_sale_line_rel',
    )
    item_ids = fields.One2many('gelato.order.item', 'gelato_order_id', string="Items")
    package_ids = fields.One2many('gelato.order.package', 'gelato_order_id', string="Packages")
    dashboard_url = fields.Char(string="In Gelato", compute='_compute_dashboard_url')
    event_count = fields.Integer(compute='_compute_event_count')
    # What Gelato charged, from the order's `receipts`.
    receipts = fields.Json(readonly=True, copy=False)
    cost_currency_id = fields.Many2one('res.currency', string="Cost Currency", readonly=True)
    cost_products = fields.Monetary(
        string="Products", currency_field='cost_currency_id', readonly=True)
    cost_packaging = fields.Monetary(
        string="Packaging", currency_field='cost_currency_id', readonly=True)
    cost_shipping = fields.Monetary(
        string="Shipping", currency_field='cost_currency_id', readonly=True)
    cost_discount = fields.Monetary(
        string="Discount", currency_field='cost_currency_id', readonly=True)
    cost_vat = fields.Monetary(string="VAT", currency_field='cost_currency_id', readonly=True)
    cost_total = fields.Monetary(
        string="Gelato Cost", currency_field='cost_currency_id', readonly=True,
        help="What Gelato charges for this order, VAT included, as its receipts say.",
    )
    bill_line_ids = fields.One2many('account.move.line', 'gelato_order_id', readonly=True)
    bill_ids = fields.Many2many('account.move', string="Vendor Bills",
                                compute='_compute_bill_ids')
    bill_error = fields.Text(
        string="Billing Problem", readonly=True,
        help="Why Gelato's receipt could not become a vendor bill (it is kept on the order).",
    )
    # Orders that stall: a status held longer than it usually lasts.
    status_since = fields.Datetime(string="Status Since", readonly=True)
    is_stuck = fields.Boolean(string="Stuck", readonly=True, index=True)
    stuck_advice = fields.Char(string="What to Do", compute='_compute_stuck_advice')
    stuck_activity_id = fields.Many2one('mail.activity', readonly=True, ondelete='set null')

    _gelato_id_unique = models.UniqueIndex(
        "(company_id, gelato_id) WHERE gelato_id IS NOT NULL",
        "A Gelato order is recorded once per company.",
    )

    # === COMPUTE METHODS === #

    @api.depends('reference', 'gelato_id')
    def _compute_display_name(self):
        for order in self:
            order.display_name = order.reference if not order.gelato_id else \
                f"{order.reference} ({order.gelato_id[:8]})"

    @api.depends('state', 'status')
    def _compute_needs_attention(self):
        for order in self:
            order.needs_attention = order.state == 'attention' or (
                order.state == 'sent' and order.status in const.ATTENTION_STATUSES)

    @api.depends('gelato_id')
    def _compute_dashboard_url(self):
        for order in self:
            order.dashboard_url = order.gelato_id and \
                const.DASHBOARD_ORDER_URL.format(order_id=order.gelato_id)

    @api.depends('bill_line_ids.move_id')
    def _compute_bill_ids(self):
        for order in self:
            order.bill_ids = order.bill_line_ids.move_id

    @api.depends('is_stuck', 'status')
    def _compute_stuck_advice(self):
        for order in self:
            order.stuck_advice = order.is_stuck and \
                const.STUCK_ADVICE.get(order.status, const.STUCK_ADVICE['default'])

    def _compute_claim_count(self):
        for order in self:
            order.claim_count = len(order.claim_ids)

    def _compute_event_count(self):
        counts = dict(self.env['gelato.event']._read_group(
            [('order_id', 'in', self.ids)], ['order_id'], ['__count']))
        for order in self:
            order.event_count = counts.get(order, 0)

    @api.depends('approval_mode', 'approved_at', 'state', 'status')
    def _compute_is_held(self):
        for order in self:
            order.is_held = order.approval_mode != 'instant' and not order.approved_at \
                and order.state in ('pending', 'attention', 'sent') \
                and order.status in (False, 'draft')

    # === ACTION METHODS === #

    def action_approve(self):
        """Have the held orders printed: "Approve now". Each draft is turned into an order at
        Gelato by the approval's scheduled action as soon as this request commits (one PATCH,
        retried when Gelato is down).

        :return: A notification saying the orders are on their way.
        :rtype: dict
        """
        self._gelato_check_can_act()
        held = self.sudo().filtered('is_held')
        if not held:
            return utils.notification('info', self.env._("Gelato"), self.env._(
                "None of these orders is awaiting approval."))
        held._gelato_approve_soon(self.env.user.name)
        return utils.notification(
            'info', self.env._("Approved"),
            self.env._("%s go to production at Gelato within a few seconds.",
                       ', '.join(held.mapped('reference'))),
            next_action={'type': 'ir.actions.client', 'tag': 'soft_reload'},
        )

    def _gelato_approve_soon(self, approver):
        """Have the approval's scheduled action turn these held drafts into orders as soon as
        the request commits. The caller checked who may (a salesperson's button, the customer
        on their order page).

        :param str approver: Who approved, for the chatter.
        """
        self.write({'approve_at': fields.Datetime.now()})
        for order in self:
            order.sale_order_id._gelato_note(self.env._(
                "Approved by %(user)s: %(order)s will be printed.", user=approver,
                order=order.reference))
        self.env.ref('gelato_connector.ir_cron_gelato_approve').sudo()._trigger()

    def action_hold(self):
        """Keep delayed orders waiting until someone approves them: "Hold"."""
        self._gelato_check_can_act()
        held = self.sudo().filtered(lambda o: o.is_held and o.approval_mode == 'delayed')
        held.write({'approval_mode': 'manual', 'approve_at': False})
        for order in held:
            order.sale_order_id._gelato_note(self.env._(
                "%(order)s is held by %(user)s until someone approves it.",
                order=order.reference, user=self.env.user.name))
        return True

    def action_send_again(self):
        """Hand the orders back to the outbox, after what stopped them was fixed: the "Send
        again" button. The outbox's scheduled action sends them as soon as this request commits
        (nothing is sent, nor committed, inside the user's request).

        :return: A notification saying the orders are on their way.
        :rtype: dict
        :raise ValidationError: When an order still cannot go to Gelato as it is.
        """
        self._gelato_check_can_act()
        # The outbox is the connector's: the user's rights on the sales were checked above.
        orders_sudo = self.sudo().filtered(lambda o: o.state in ('pending', 'attention'))
        for order in orders_sudo:
            sale = order.sale_order_id
            if sale.state != 'sale':
                raise UserError(self.env._(
                    "%(order)s is not confirmed: confirm it before sending it to Gelato.",
                    order=sale.name))
            if problems := sale._gelato_readiness_problems():
                raise ValidationError('\n'.join(problems))
        orders_sudo._gelato_set_state(
            'pending', send_attempts=0, next_attempt_at=fields.Datetime.now())
        if not orders_sudo:
            return utils.notification('info', self.env._("Gelato"), self.env._(
                "These orders are already at Gelato: nothing to send."))
        self._gelato_trigger_outbox()
        return utils.notification(
            'info', self.env._("On its way to Gelato"),
            self.env._("%(orders)s will be sent to Gelato within a few seconds; the order shows "
                       "it once Gelato has it.",
                       orders=', '.join(orders_sudo.mapped('reference'))),
            next_action={'type': 'ir.actions.client', 'tag': 'soft_reload'},
        )

    def action_refresh(self):
        """Ask Gelato for the orders' state now and say what changed: "Ask Gelato now".

        :return: A notification listing, per order, what changed or that nothing did.
        :rtype: dict
        """
        self._gelato_check_can_act(write=False)
        lines, failed = [], False
        # What Gelato says is applied by the connector (items, packages, the delivery): the
        # user's right to read the sales was checked above.
        for order in self.sudo().filtered('gelato_id'):
            before = order._gelato_snapshot()
            try:
                order._gelato_reconcile_one()
            except GelatoError as error:
                failed = True
                lines.append(f"{order.display_name}: {error.args[0]}")
                continue
            lines.append(order._gelato_describe_change(before))
        if not lines:
            lines.append(self.env._("These orders are not at Gelato yet: nothing to ask."))
        return utils.notification(
            'danger' if failed else 'info', self.env._("Gelato says"), '\n'.join(lines),
            sticky=failed, next_action={'type': 'ir.actions.client', 'tag': 'soft_reload'},
        )

    def action_cancel_at_gelato(self):
        """Cancel these Gelato orders at Gelato: the "Cancel at Gelato" button.

        What follows in Odoo is the same whoever canceled (see `_gelato_after_cancel`): the
        lines of the order will not be delivered, and the sale is canceled with its delivery when
        none of its Gelato orders remains.

        :raise UserError: With Gelato's words when it refuses.
        """
        self._gelato_check_can_act()
        # Gelato's answer is applied by the connector: the user's right to change the sales was
        # checked above.
        self.sudo()._gelato_cancel_remote()
        return True

    def action_view_sale_order(self):
        self.ensure_one()
        self.check_access('read')
        return {
            'type': 'ir.actions.act_window', 'res_model': 'sale.order',
            'res_id': self.sale_order_id.id, 'view_mode': 'form',
        }

    def action_view_bills(self):
        self.ensure_one()
        self.check_access('read')
        return {
            'type': 'ir.actions.act_window', 'name': self.env._("Gelato Bills"),
            'res_model': 'account.move', 'view_mode': 'list,form',
            'domain': [('id', 'in', self.bill_ids.ids)], 'context': {'create': False},
        }

    def action_view_events(self):
        self.ensure_one()
        self.check_access('read')
        return {
            'type': 'ir.actions.act_window', 'name': self.env._("Gelato Events"),
            'res_model': 'gelato.event', 'view_mode': 'list,form',
            'domain': [('order_id', '=', self.id)], 'context': {'create': False},
        }

    def _gelato_check_can_act(self, write=True):
        """The rights of every Gelato order button, checked before any call leaves: the user is a
        salesperson who may read these Gelato orders and change (or, for `write=False`, read)
        their sales. A salesperson limited to their own documents is refused on others' sales.
        Buttons can also be called over RPC, by a portal user too.

        :raise AccessError: When the user may not.
        """
        if not self.env.su and not self.env.user.has_group('sales_team.group_sale_salesman'):
            raise AccessError(self.env._("Only salespeople can act on Gelato orders."))
        self.check_access('read')
        self.sale_order_id.check_access('write' if write else 'read')

    # === BUSINESS METHODS: STATE === #

    def _gelato_set_state(self, state, **values):
        """The one writer of the sending state, as `payment.transaction._update_state`: the
        records whose state may lead to `state` (`const.SENDING_TRANSITIONS`) move, with
        `values`; the others are left as they are and logged.

        :param str state: The target sending state.
        :return: The records that moved.
        :rtype: gelato.order
        """
        allowed = const.SENDING_TRANSITIONS[state]
        moving = self.filtered(lambda o: o.state in allowed)
        for order in self - moving:
            _logger.info("Gelato order %s stays %s (not %s from there)", order.reference,
                         order.state, state)
        if moving:
            moving.write({**values, 'state': state})
            moving._gelato_notify_forms()
        return moving

    def _gelato_notify_forms(self):
        """Tell the salespeople's browsers, once the transaction commits, that these Gelato
        orders and their sales changed their sending state (the open forms reload them, as
        Odoo's views follow the bus): one bus message per transaction, ids only (what each may
        read is read again through their own rights)."""
        if not self:
            return
        precommit = self.env.cr.precommit
        changed = precommit.data.get('gelato_connector.changed')
        if changed is None:
            changed = precommit.data['gelato_connector.changed'] = set()
            env = self.env

            @precommit.add
            def notify():
                # Run before the bus creates its rows, or after: `_bus_send` then adds them.
                ids = precommit.data.pop('gelato_connector.changed', set())
                orders = env['gelato.order'].sudo().browse(ids).exists()
                group = env.ref('sales_team.group_sale_salesman', raise_if_not_found=False)
                if orders and group:
                    group.sudo()._bus_send(const.FORM_CHANGED_NOTIFICATION, {
                        'gelato.order': orders.ids,
                        'sale.order': orders.sale_order_id.ids,
                    })
        changed.update(self.ids)

    # === BUSINESS METHODS: IDENTITY === #

    @api.model
    def _gelato_database_uuid(self):
        return self.env['ir.config_parameter'].sudo().get_param('database.uuid') or ''

    @api.model
    def _gelato_new_reference(self, sale):
        """Return a reference for a new Gelato order of a sale, unique to this database.

        `S00042-1a2b3c4d`: the sale's name, readable in Gelato's dashboard, and the first
        characters of the database's uuid, so that a copy of the database (which gets a new
        uuid) or another database with the same order names never shares a reference. A sale
        sent again after a cancellation gets a suffix (`-2`, `-3`...).
        """
        token = self._gelato_database_uuid().replace('-', '')[:8] or 'odoo'
        base = f"{sale.name}-{token}"[:const.REFERENCE_MAX_LENGTH - 3]
        used = set(self.with_context(active_test=False).search(
            [('sale_order_id', '=', sale.id)]).mapped('reference'))
        reference, count = base, 1
        while reference in used:
            count += 1
            reference = f"{base}-{count}"
        return reference

    def _gelato_replacement_reference(self):
        """The reference of a new replacement of this order: its own, with `-R1`, `-R2`..."""
        self.ensure_one()
        base = self.reference[:const.REFERENCE_MAX_LENGTH - 4]
        used = set(self.with_context(active_test=False).search(
            [('sale_order_id', '=', self.sale_order_id.id)]).mapped('reference'))
        count = 1
        while f"{base}-R{count}" in used:
            count += 1
        return f"{base}-R{count}"

    def _gelato_item_quantities(self):
        """The sale lines this order carries, with their quantities: a replacement's are its
        claim's; None for an order of the whole sale."""
        self.ensure_one()
        return self.claim_id._gelato_quantities() if self.claim_id else None

    def _gelato_form_action(self):
        self.ensure_one()
        return {'type': 'ir.actions.act_window', 'res_model': 'gelato.order',
                'res_id': self.id, 'view_mode': 'form', 'views': [(False, 'form')]}

    def action_report_problem(self):
        """"Report a problem": a new claim about this shipped order, its items prefilled."""
        self.ensure_one()
        self._gelato_check_can_act()
        if self.state != 'sent' or self.status not in const.CLAIMABLE_STATUSES:
            raise UserError(self.env._(
                "A problem can be reported once Gelato has shipped the order."))
        return {
            'type': 'ir.actions.act_window', 'res_model': 'gelato.claim',
            'name': self.env._("Report a problem"), 'view_mode': 'form',
            'views': [(False, 'form')], 'target': 'current',
            'context': {
                'default_gelato_order_id': self.id,
                'default_reason': 'returned' if self.status == 'returned' else 'damaged',
                'default_line_ids': [fields.Command.create({
                    'item_id': item.id, 'quantity': item.quantity,
                }) for item in self.item_ids.filtered('sale_line_id')],
            },
        }

    def action_view_claims(self):
        self.ensure_one()
        return {'type': 'ir.actions.act_window', 'res_model': 'gelato.claim',
                'name': self.env._("Claims"), 'view_mode': 'list,form',
                'domain': [('id', 'in', self.claim_ids.ids)]}

    def _gelato_metadata(self):
        """The `metadata` sent with the order: the database and the sale order it comes from.

        Before adopting an order found at Gelato (a lost answer, a connected order, a reorder),
        its metadata must name this database.
        """
        self.ensure_one()
        return [
            {'key': const.METADATA_DATABASE_KEY, 'value': self._gelato_database_uuid()},
            {'key': const.METADATA_SALE_ORDER_KEY, 'value': str(self.sale_order_id.id)},
        ]

    @api.model
    def _gelato_is_ours(self, remote, reference=None):
        """Return whether an order object of Gelato was created from this database.

        :param dict remote: The order as Gelato returns it (GET order).
        :param str reference: The reference it must carry, when known.
        :rtype: bool
        """
        if not isinstance(remote, dict):
            return False
        if reference and remote.get('orderReferenceId') != reference:
            return False
        metadata = remote.get('metadata')
        values = {entry.get('key'): entry.get('value') for entry in metadata
                  if isinstance(entry, dict)} if isinstance(metadata, list) else {}
        database = values.get(const.METADATA_DATABASE_KEY)
        if database is None:
            # Gelato's GET table does not list `metadata` (its create example shows it): without
            # it, the reference, which carries this database's token, decides.
            return bool(reference) and reference == remote.get('orderReferenceId')
        return bool(self._gelato_database_uuid()) and database == self._gelato_database_uuid()

    # === BUSINESS METHODS: OUTBOX === #

    @api.model
    def _gelato_trigger_outbox(self, at=None, all_lanes=False):
        """Wake the scheduled action that sends waiting orders: when the current transaction
        commits (or at `at`, the time a retry was promised), a cron worker sends them, with its
        own rights (OdooBot), never in the request of whoever confirmed or paid.

        :param datetime at: When to wake it; default: as soon as the transaction commits.
        :param bool all_lanes: Wake every lane at `at` (the outbox was paused as a whole), not
                               one; what is due now always wakes them all.
        """
        lanes = const.OUTBOX_LANES if at is None or all_lanes else const.OUTBOX_LANES[:1]
        for xmlid in lanes:
            # Every lane for what is due now (they share the work); one for a later retry.
            lane = self.env.ref(f'gelato_connector.{xmlid}', raise_if_not_found=False)
            if lane:
                lane.sudo()._trigger(at=at)

    @api.model
    def _cron_send_pending(self, limit=50):
        """Send the orders waiting in the outbox whose next attempt is due, one per transaction.

        Fair rotation: the least recently tried come first, so that an order that always fails
        cannot starve the others. Several scheduled actions run this side by side
        (`const.OUTBOX_LANES`, on every cron worker of every server): each order is claimed by
        one of them (`_gelato_send_pending`), and their requests share the database's budget
        with the priority of orders.
        """
        self = self.with_context(gelato_priority='order')
        domain = [
            ('state', '=', 'pending'),
            '|', ('next_attempt_at', '=', False), ('next_attempt_at', '<=', fields.Datetime.now()),
        ]
        due = self.sudo().search(domain, limit=limit, order='next_attempt_at, id')
        if due._gelato_send_pending(total=self.sudo().search_count(domain)) and \
                self.env.context.get('cron_id'):
            # Out of time with orders still due: Odoo reschedules this lane at once, but its
            # cron workers would only see it at their next poll (up to a minute later); waking
            # every lane now keeps a burst draining at the budget's pace.
            self._gelato_trigger_outbox()

    def _gelato_send_pending(self, total=None):
        """Send each pending order to Gelato, one order per transaction (`batch.run_batch`).

        Each order is locked first (`FOR UPDATE SKIP LOCKED`): two workers never send the same
        order, and the one that finds it locked moves on. A failure of one order is kept on it
        and never stops the others.

        :param int total: How many orders were due in all (what is left is reported, so that the
                          scheduled action runs again at once).
        :return: Whether the run ended before its orders did (out of time), not because Gelato
                 asked to wait.
        :rtype: bool
        """
        self.flush_model(['state'])
        stopped = []

        def send(order):
            if order._gelato_lock_if("state = 'pending'"):
                result = order._gelato_guarded(order._gelato_send_one)
                if result is batch.STOP:
                    stopped.append(order)
                return result
            return None

        return batch.run_batch(self, send, total=total) < len(self) and not stopped

    def _gelato_lock_if(self, condition):
        """Lock the order for this transaction if it still meets `condition` (SQL on its row),
        skipping it when another worker holds it (`FOR UPDATE SKIP LOCKED`): two workers never
        act on the same order. The record is read afresh once locked.

        :param str condition: A fixed SQL condition on `gelato_order` (never user input).
        :return: Whether the order is locked and still meets it.
        :rtype: bool
        """
        self.ensure_one()
        self.env.cr.execute(SQL(
            "SELECT id FROM gelato_order WHERE id = %s AND %s FOR UPDATE SKIP LOCKED",
            self.id, SQL(condition)))
        if not self.env.cr.fetchone():
            return False
        self.invalidate_recordset()
        return True

    def _gelato_guarded(self, method, *args):
        """Run `method` in a savepoint; an unexpected error is kept on the order (and logged),
        so that one record never blocks a queue."""
        try:
            with self.env.cr.savepoint():
                return method(*args)
        except (UserError, ValidationError) as error:
            self._gelato_record_failure(GelatoError(error.args[0] if error.args else str(error)))
        except Exception as error:
            if isinstance(error, const.RETRYABLE_DB_ERRORS):
                raise
            _logger.exception("Gelato order %s: unexpected error", self.reference)
            # The attempt was rolled back with the savepoint: counted again, so that the backoff
            # grows and the salesperson hears of it.
            self.send_attempts += 1
            self._gelato_record_failure(GelatoError(
                self.env._("Unexpected error: %s", type(error).__name__), transient=True))
        return None

    def _gelato_send_one(self):
        """Create the order on Gelato, unless Gelato already has it.

        Gelato is searched for the order's reference before anything is created, so that an
        order created by an attempt whose answer was lost (a crash, a timeout) is adopted rather
        than created twice.
        """
        self.ensure_one()
        self.send_attempts += 1
        sale = self.sale_order_id
        try:
            company = self.company_id
            if not company.sudo().gelato_enabled and not company._gelato_is_neutralized():
                raise GelatoError(self.env._(
                    "Gelato is disabled for %(company)s: enable it in Sales settings, then send "
                    "the order again.", company=self.company_id.name))
            remote = self._gelato_find_remote()
            if not remote:
                # Checked at each attempt: a method quoted for an address the order no longer
                # ships to (changed after a refusal) is quoted again.
                self.shipment_method_uid = sale._gelato_shipment_method_to_send()
                remote = self.company_id._gelato_request(
                    'order', 'POST', '/v4/orders', safe=False,
                    json=sale._gelato_prepare_order_payload(self),
                )
                if not isinstance(remote, dict) or not utils.gelato_id(remote.get('id')):
                    raise GelatoError(self.env._(
                        "Gelato accepted the order but sent no order id; it will be looked up "
                        "by its reference at the next attempt."), transient=True)
        except GelatoError as error:
            self._gelato_record_failure(error)
            # Gelato (or the budget shared with the other workers) asked to wait: the other
            # orders of this run would wait too; the outbox is woken when the wait is over.
            return batch.STOP if error.retry_after is not None else False
        self._gelato_set_state(
            'sent', gelato_id=utils.gelato_id(remote['id']), last_error=False,
            next_attempt_at=False, last_update_at=fields.Datetime.now())
        # Gelato has the order: whatever in the rest of its answer cannot be read, the id is kept
        # (the rest is read again at reconciliation).
        try:
            with self.env.cr.savepoint():
                self._gelato_apply_remote(remote, adopt_connected=True)
        except Exception as error:
            if isinstance(error, const.RETRYABLE_DB_ERRORS):
                raise
            _logger.exception("Gelato's answer for %s could not be read entirely", self.reference)
        if not self.status:
            self._gelato_set_status('created')
        sale._gelato_note(self.env._("The order was sent to Gelato (order %s).", self.gelato_id))
        if self._gelato_order_type() == 'draft':
            self._gelato_after_held_send()
        return True

    def _gelato_find_remote(self):
        """Return the order Gelato holds under this record's reference, when this database
        created it (a lost answer), else None."""
        answer = self.company_id._gelato_request(
            'order', 'POST', '/v4/orders:search', safe=True,
            json={'orderReferenceIds': [self.reference], 'limit': 10},
        )
        for summary in (answer.get('orders') or []) if isinstance(answer, dict) else []:
            if not isinstance(summary, dict) or summary.get('orderReferenceId') != self.reference \
                    or summary.get('fulfillmentStatus') == 'canceled':
                continue
            gelato_id = utils.gelato_id(summary.get('id'))
            if not gelato_id:
                continue
            remote = self.company_id._gelato_request('order', 'GET', f'/v4/orders/{gelato_id}')
            if self._gelato_is_ours(remote, self.reference):
                return remote
        return None

    def _gelato_record_failure(self, error):
        """Keep the error on the order and plan the next attempt.

        Transient errors (Gelato down, 429, 5xx, an unreadable answer) are retried with backoff;
        after `OUTBOX_ALERT_ATTEMPTS` failures the salesperson gets an activity. Refusals (4xx)
        wait for someone to fix the order and press "Send again".
        """
        message = str(error.args[0] if error.args else error)
        if error.transient:
            # Not "please try again": the outbox does, at the time shown on the order.
            message = self.env._("%(reason)s Odoo sends the order again by itself; nothing to "
                                 "do.", reason=getattr(error, 'reason', None) or message)
            if error.retry_after is not None:
                # Nothing is wrong with the order: Gelato asked to slow down (429), or the
                # request budget the workers share is spent. Not an attempt that failed: sent
                # again when the wait is over, by every lane of the outbox.
                self.send_attempts = max(self.send_attempts - 1, 0)
                next_attempt = fields.Datetime.now() + timedelta(
                    seconds=math.ceil(max(error.retry_after, 1)))
                self._gelato_set_state('pending', last_error=message,
                                       next_attempt_at=next_attempt)
                self._gelato_trigger_outbox(at=next_attempt, all_lanes=True)
                return
            delay = const.OUTBOX_BACKOFF_MINUTES[
                min(max(self.send_attempts, 1), len(const.OUTBOX_BACKOFF_MINUTES)) - 1]
            next_attempt = fields.Datetime.now() + timedelta(minutes=delay)
            self._gelato_set_state('pending', last_error=message, next_attempt_at=next_attempt)
            # The promised time is kept: the outbox is woken then, not at its next interval.
            self._gelato_trigger_outbox(at=next_attempt)
            if self.send_attempts == const.OUTBOX_ALERT_ATTEMPTS:
                self.sale_order_id._gelato_schedule_activity(self.env._(
                    "Gelato could not be reached %(count)s times for this order; it is still "
                    "retried automatically. Last error: %(error)s",
                    count=self.send_attempts, error=message,
                ))
            return
        if error.status:
            heading = self.env._(
                "Gelato refused the order. Fix it, then press \"Send to Gelato\".")
        else:
            # Nothing left Odoo: a check of the addon stopped the order.
            heading = self.env._(
                "The order was not sent to Gelato: a check found a problem. Fix it, then press "
                "\"Send to Gelato\".")
        self._gelato_needs_attention(heading, [message])

    def _gelato_needs_attention(self, heading, problems):
        """Keep an order that cannot go to Gelato as it is, with why, for the salesperson: the
        order says so, the sale's chatter has a note and the salesperson a to-do.

        :param str heading: What happened and what to do.
        :param list[str] problems: The reasons, one sentence each.
        """
        message = '\n'.join(problems)
        self._gelato_set_state('attention', last_error=message, next_attempt_at=False)
        sale = self.sale_order_id
        sale.message_post(
            body=Markup("%s<br/>%s") % (heading, Markup("<br/>").join(problems)),
            author_id=self.env.ref('base.partner_root').id,
        )
        sale._gelato_schedule_activity(message)

    # === BUSINESS METHODS: WHAT GELATO SAYS === #

    def _gelato_apply_remote(self, remote, adopt_connected=False):
        """Apply an order object of Gelato (create answer or GET order): items, status,
        packages, delivery estimate, shipment method, costs and connected orders.

        :param dict remote: The order as Gelato returns it.
        :param bool adopt_connected: Whether to create the records of connected orders Odoo does
                                     not know yet (create answers and reconciliation).
        :return: The connected order ids Gelato named but Odoo could not adopt.
        :rtype: list[str]
        """
        self.ensure_one()
        if not isinstance(remote, dict):
            return []
        self._gelato_sync_items(remote.get('items'))
        shipment = remote.get('shipment') if isinstance(remote.get('shipment'), dict) else {}
        values = {}
        method_uid = utils.clean_str(shipment.get('shipmentMethodUid'))
        method_name = utils.clean_str(shipment.get('shipmentMethodName'))
        if method_uid and method_uid != self.shipment_method_uid:
            values['shipment_method_uid'] = method_uid
        if method_name and method_name != self.shipment_method_name:
            values['shipment_method_name'] = method_name
        connected = [cid for cid in (utils.gelato_id(c) for c in remote.get('connectedOrderIds')
                                     or [] if isinstance(remote.get('connectedOrderIds'), list))
                     if cid and cid != self.gelato_id]
        connected_text = ','.join(connected) or False
        if connected_text != (self.connected_gelato_ids or False):
            values['connected_gelato_ids'] = connected_text
        if values:
            self.write(values)
        self._gelato_apply_receipts(remote.get('receipts'))
        self._gelato_apply_packages(shipment.get('packages'))
        status = utils.clean_str(remote.get('fulfillmentStatus'))
        if status:
            self._gelato_set_status(status, reason=self._gelato_remote_reason(remote))
        self._gelato_apply_delivery_estimate(
            shipment.get('minDeliveryDate'), shipment.get('maxDeliveryDate'), notify=False)
        unknown = []
        if adopt_connected:
            for connected_id in connected:
                if not self._gelato_adopt_connected(connected_id):
                    unknown.append(connected_id)
        return unknown

    def _gelato_sync_items(self, remote_items):
        """Record Gelato's items (their ids) and the sale order lines they carry.

        The lines of this record become those whose `itemReferenceId` Gelato lists; an answer
        without items keeps the lines as they are.
        """
        if not isinstance(remote_items, list) or not remote_items:
            if not self.item_ids and self.sale_line_ids:
                self.item_ids = [fields.Command.create({
                    'item_reference': str(line.id), 'sale_line_id': line.id,
                    'quantity': int(line.product_uom_qty),
                }) for line in self.sale_line_ids]
            return
        lines = self.sale_order_id.order_line
        by_reference = {item.item_reference: item for item in self.item_ids}
        commands, carried = [], self.env['sale.order.line']
        for remote_item in remote_items:
            if not isinstance(remote_item, dict):
                continue
            reference = utils.clean_str(remote_item.get('itemReferenceId'))
            line = lines.filtered(lambda ln, r=reference: str(ln.id) == r)[:1]
            carried |= line
            values = {
                'gelato_item_id': utils.clean_str(remote_item.get('id')),
                'item_reference': reference,
                'sale_line_id': line.id or False,
            }
            if isinstance(remote_item.get('quantity'), int):
                values['quantity'] = remote_item['quantity']
            if preview := utils.item_preview_url(remote_item.get('previews')):
                values['preview_url'] = preview
            status = utils.clean_str(remote_item.get('fulfillmentStatus'))
            item = by_reference.pop(reference, None)
            if item:
                current = {k: item[k].id if k == 'sale_line_id' else item[k] for k in values}
                changed = {k: v for k, v in values.items() if v and current[k] != v}
                if changed:
                    commands.append(fields.Command.update(item.id, changed))
                if status:
                    item._gelato_set_status(status)
            else:
                if status in const.STATUS_TRANSITIONS[False]:
                    values['status'] = status
                commands.append(fields.Command.create(values))
        commands += [fields.Command.delete(item.id) for item in by_reference.values()
                     if not item.gelato_item_id]
        if commands:
            self.item_ids = commands
        if carried and carried != self.sale_line_ids:
            self.sale_line_ids = [fields.Command.set(carried.ids)]

    def _gelato_apply_receipts(self, receipts):
        """Keep Gelato's receipts and what they add up to (products, packaging, shipping,
        discount, VAT, total) in the receipts' currency.

        Receipts in a currency Odoo does not know, or amounts that are not numbers, are kept as
        received but not added up.
        """
        if not isinstance(receipts, list) or not receipts or receipts == self.receipts:
            return
        totals = dict.fromkeys(('productsPrice', 'packagingPrice', 'shippingPrice', 'discount',
                                'totalVat', 'totalInclVat'), 0.0)
        currency_code = None
        for receipt in receipts:
            if not isinstance(receipt, dict):
                continue
            code = utils.clean_str(receipt.get('currency'), 3)
            if currency_code and code != currency_code:
                continue  # One currency is added up; the receipts are all kept.
            currency_code = code
            sign = -1 if receipt.get('transactionType') == 'refund' else 1
            for key in totals:
                amount = utils.number(receipt.get(key))
                if amount is not None:
                    totals[key] += sign * amount
        currency = self.env['res.currency']._gelato_from_code(currency_code)
        values = {'receipts': receipts}
        if currency:
            values.update({
                'cost_currency_id': currency.id,
                'cost_products': totals['productsPrice'],
                'cost_packaging': totals['packagingPrice'],
                'cost_shipping': totals['shippingPrice'],
                'cost_discount': totals['discount'],
                'cost_vat': totals['totalVat'],
                'cost_total': totals['totalInclVat'],
            })
        self.write(values)
        self._gelato_bill_receipts()
        self.env['gelato.claim'].sudo()._gelato_apply_refunds(self)
        self._gelato_apply_item_costs()
        self.sale_order_id._gelato_apply_shipping_cost()

    def _gelato_bill_receipts(self):
        """Make the order's receipts draft vendor bills of the Gelato vendor, each receipt once
        (see `account.move._gelato_bill_receipt`). A receipt that cannot be billed is kept, with
        why, and never stops what Gelato's answer does otherwise."""
        self.ensure_one()
        errors = []
        for receipt in self.receipts if isinstance(self.receipts, list) else []:
            if not isinstance(receipt, dict):
                continue
            try:
                with self.env.cr.savepoint():
                    self.env['account.move'].sudo()._gelato_bill_receipt(self, receipt)
            except UserError as error:
                errors.append(error.args[0])
        message = '\n'.join(errors) or False
        if message != (self.bill_error or False):
            self.bill_error = message
            if message:
                self.sale_order_id._gelato_note(self.env._(
                    "Gelato's receipt of %(order)s could not become a vendor bill: %(why)s",
                    order=self.display_name, why=message))

    def _gelato_apply_item_costs(self):
        """Set each line's cost (`purchase_price`, hence Odoo's margin) to what Gelato charged for
        its product: the receipt item of its Gelato item, VAT excluded, per unit, in the sale's
        currency."""
        self.ensure_one()
        by_gelato_item = {i.gelato_item_id: i for i in self.item_ids if i.gelato_item_id}
        sale = self.sale_order_id
        for receipt in self.receipts if isinstance(self.receipts, list) else []:
            if not isinstance(receipt, dict) or receipt.get('transactionType') == 'refund':
                continue
            currency = self.env['res.currency']._gelato_from_code(receipt.get('currency'))
            items = receipt.get('items') if isinstance(receipt.get('items'), list) else []
            for entry in items:
                if not isinstance(entry, dict) or entry.get('type') != 'product':
                    continue
                item = by_gelato_item.get(utils.clean_str(entry.get('referenceId')))
                if not item:
                    continue  # An item of another order (or a receipt line Odoo cannot place).
                line = item.sale_line_id
                # `amount` (the quantity) is a string in Gelato's receipt table.
                price = utils.number(entry.get('price'))
                quantity = utils.number(entry.get('amount')) or item.quantity
                if not line or not currency or price is None or price < 0 \
                        or not quantity or quantity <= 0:
                    continue
                cost = currency._convert(price / quantity, sale.currency_id, sale.company_id,
                                         sale.date_order or fields.Date.today())
                if sale.currency_id.compare_amounts(line.purchase_price, cost):
                    line.purchase_price = cost

    def _gelato_set_status(self, status, reason=None):
        """Move the order to a Gelato status along the allowed transitions, and react.

        A status the table does not allow from the current one is a late or out-of-order event:
        nothing changes.

        :param str status: Gelato's fulfillment status.
        :param str reason: Gelato's words about it, when it gave any.
        :return: Whether the order changed.
        :rtype: bool
        """
        self.ensure_one()
        previous = self.status or False
        if status not in const.STATUS_TRANSITIONS.get(previous, ()):
            return False
        now = fields.Datetime.now()
        values = {'status': status, 'last_update_at': now, 'status_since': now}
        if reason or status in ('failed', 'on_hold', 'canceled', 'returned'):
            values['status_reason'] = reason or self._gelato_items_reason() or False
        self.write(values)
        self._gelato_unstick(previous)
        if handler := self._GELATO_STATUS_HANDLERS.get(status):
            getattr(self, handler)(previous)
        self._gelato_check_stuck()
        return True

    @api.model
    def _gelato_remote_reason(self, remote):
        """What Gelato says about an order's failure at the order's level: `refusalReason` and
        `refusalReasonCode` (docs/orders/order_details/, its create answer example) and a
        `comment`, with the items' comments; None when it says nothing.

        :param dict remote: The order as Gelato returns it.
        :rtype: str | None
        """
        if not isinstance(remote, dict):
            return None
        reason = utils.clean_str(remote.get('refusalReason'), 1000)
        code = utils.clean_str(remote.get('refusalReasonCode'), 100)
        parts = []
        if reason or code:
            parts.append(f"{reason} ({code})" if reason and code else reason or code)
        if comment := utils.clean_str(remote.get('comment'), 1000):
            parts.append(comment)
        for item in remote.get('items') or [] if isinstance(remote.get('items'), list) else []:
            if isinstance(item, dict) and (text := utils.clean_str(item.get('comment'), 1000)):
                parts.append(text)
        return '\n'.join(dict.fromkeys(parts)) or None

    def _gelato_items_reason(self):
        """Gelato's comments on the items, where a failure's reason is (order events carry
        none: `order_item_status_updated` does)."""
        comments = [c for c in self.item_ids.mapped('status_comment') if c]
        return '\n'.join(dict.fromkeys(comments)) or None

    # What each Gelato status does in Odoo, beside its handler (the others only change the
    # status; the stuck check follows every change).
    _GELATO_STATUS_HANDLERS = {
        'shipped': '_gelato_on_shipped',
        'in_transit': '_gelato_on_shipped',
        'delivered': '_gelato_on_delivered',
        'canceled': '_gelato_on_canceled',
        'failed': '_gelato_on_failed',
        'on_hold': '_gelato_on_on_hold',
        'returned': '_gelato_on_returned',
    }

    def _gelato_on_shipped(self, previous):
        self._gelato_ship()
        if previous not in const.SHIPPED_STATUSES:
            self.sale_order_id._gelato_note(self.env._(
                "Gelato shipped %(order)s.", order=self.display_name))
            self.sale_order_id._gelato_notify_customer(tracking=self._gelato_tracking(),
                                                       replacement=bool(self.claim_id))

    def _gelato_on_delivered(self, previous):
        self._gelato_ship()
        self.claim_ids._gelato_set_deadline()  # A claim filed on the way counts from now.
        sale = self.sale_order_id
        sale._gelato_note(self.env._("Gelato delivered %(order)s.", order=self.display_name))
        if all(o.status == 'delivered' for o in sale._gelato_active_orders()
               if o.status != 'canceled'):
            sale._gelato_notify_customer(delivered=True)

    def _gelato_on_canceled(self, previous):
        self._gelato_after_cancel()

    def _gelato_on_failed(self, previous):
        # The to-do comes from the stuck check: at once for a failed order, done when it moves.
        self.sale_order_id._gelato_note(self.env._(
            "Gelato could not fulfill %(order)s.", order=self.display_name), self.status_reason)

    def _gelato_on_on_hold(self, previous):
        self.sale_order_id._gelato_note(self.env._(
            "Gelato put %(order)s on hold.", order=self.display_name), self.status_reason)

    def _gelato_on_returned(self, previous):
        self._gelato_alert(self.env._("The parcel of %(order)s was returned to Gelato.",
                                      order=self.display_name))

    def _gelato_alert(self, text):
        """A note on the sale and a to-do for the salesperson, with Gelato's reason."""
        sale = self.sale_order_id
        sale._gelato_note(text, self.status_reason)
        sale._gelato_schedule_activity(
            f"{text} {self.env._('Gelato says: %s', self.status_reason)}"
            if self.status_reason else text)

    def _gelato_after_cancel(self):
        """The one rule of what a cancellation at Gelato does in Odoo, whoever asked for it
        (Gelato, the sale's Cancel, the Gelato order's "Cancel at Gelato"): the order's lines
        will not ship. When no Gelato order of the sale remains, the sale is canceled with its
        delivery; otherwise only the moves of this order's lines are."""
        sale = self.sale_order_id
        if requester := self.env.context.get('gelato_canceled_by'):
            sale._gelato_note(self.env._("%(order)s was canceled at Gelato, as %(user)s asked.",
                                         order=self.display_name, user=requester))
        else:
            sale._gelato_note(self.env._("Gelato canceled %(order)s.", order=self.display_name),
                              self.status_reason)
        self._gelato_withdraw_draft_bills()
        active = sale._gelato_active_orders().filtered(lambda o: o.status != 'canceled')
        if not active and sale.state != 'cancel':
            sale.with_context(gelato_remote_canceled=True)._action_cancel()
            return
        if active:
            moves = self.sale_line_ids.move_ids.filtered(
                lambda m: m.state not in ('done', 'cancel') and m.location_id.usage == 'supplier')
            still_sent = active.sale_line_ids
            moves.filtered(lambda m: m.sale_line_id not in still_sent)._action_cancel()

    def _gelato_withdraw_draft_bills(self):
        """Take a canceled order off the draft vendor bills of its receipts: a bill of this
        order alone is canceled, a bill of the day loses this order's lines. Posted bills are the
        accountant's and stay; Gelato's refund receipt, when it comes, is billed as a refund."""
        bills = self.bill_ids.filtered(lambda move: move.state == 'draft')
        for bill in bills.sudo():  # The connector's bills: whoever canceled may not bill.
            own = bill.invoice_line_ids.filtered(lambda line: line.gelato_order_id == self)
            if own == bill.invoice_line_ids:
                bill.button_cancel()
            else:
                bill.write({'invoice_line_ids': [fields.Command.unlink(line.id) for line in own]})
        if bills:
            self.sale_order_id._gelato_note(self.env._(
                "The draft vendor bill of %(order)s was withdrawn: Gelato canceled it.",
                order=self.display_name))

    def _gelato_apply_item_status(self, item_reference, status, comment=None):
        """Apply an `order_item_status_updated` event to the item it names.

        :return: Whether the item changed; None when the order has no such item.
        """
        item = self.item_ids.filtered(lambda i: i.item_reference == item_reference)[:1]
        if not item:
            return None
        changed = item._gelato_set_status(status, comment)
        if changed and status == 'failed':
            self.sale_order_id._gelato_schedule_activity(self.env._(
                "Gelato could not produce %(product)s: %(comment)s",
                product=item.product_id.display_name or item_reference,
                comment=comment or self.env._("no reason given"),
            ))
        return changed

    def _gelato_apply_fulfillments(self, remote_items):
        """Turn the item `fulfillments` of an `order_status_updated` event into packages.

        :param list remote_items: The event's `items`.
        """
        packages = {}
        for remote_item in remote_items if isinstance(remote_items, list) else []:
            if not isinstance(remote_item, dict):
                continue
            reference = utils.clean_str(remote_item.get('itemReferenceId'))
            item = self.item_ids.filtered(lambda i, r=reference: i.item_reference == r)[:1]
            status = utils.clean_str(remote_item.get('fulfillmentStatus'))
            if item and status:
                item._gelato_set_status(status)
            fulfillments = remote_item.get('fulfillments')
            for fulfillment in fulfillments if isinstance(fulfillments, list) else []:
                if not isinstance(fulfillment, dict):
                    continue
                code = utils.clean_str(fulfillment.get('trackingCode'), 128)
                if not code:
                    continue
                entry = packages.setdefault(code, {
                    'package_ref': code, 'tracking_code': code,
                    'tracking_url': utils.safe_url(fulfillment.get('trackingUrl')),
                    'items': self.env['gelato.order.item']})
                entry['items'] |= item
        self._gelato_store_packages(list(packages.values()))

    def _gelato_apply_packages(self, remote_packages):
        """Store the `shipment.packages` of a GET order answer: each package with its tracking
        and the items it holds (Gelato lists its item ids). Items of another order are left
        out."""
        packages = []
        for remote in remote_packages if isinstance(remote_packages, list) else []:
            if not isinstance(remote, dict):
                continue
            code = utils.clean_str(remote.get('trackingCode'), 128)
            ref = utils.clean_str(remote.get('id')) or code
            if not ref:
                continue
            item_ids = remote.get('orderItemIds') if isinstance(remote.get('orderItemIds'),
                                                                list) else []
            wanted = {utils.clean_str(i) for i in item_ids} - {None}
            items = self.item_ids.filtered(lambda i, w=wanted: i.gelato_item_id in w)
            packages.append({'package_ref': ref, 'tracking_code': code,
                             'tracking_url': utils.safe_url(remote.get('trackingUrl')),
                             'items': items})
        self._gelato_store_packages(packages)

    def _gelato_store_packages(self, packages):
        """Create or complete the packages, then ship those with a tracking code when the
        order's status says it left the hub.

        :param list[dict] packages: `package_ref`, `tracking_code`, `tracking_url`, `items`.
        """
        if not packages:
            if self.status in const.SHIPPED_STATUSES:
                self._gelato_ship()
            return
        existing = {p.package_ref: p for p in self.package_ids}
        by_code = {p.tracking_code: p for p in self.package_ids if p.tracking_code}
        for entry in packages:
            package = existing.get(entry['package_ref']) or by_code.get(entry['tracking_code'])
            values = {k: entry[k] for k in ('tracking_code', 'tracking_url') if entry[k]}
            if package:
                values = {k: v for k, v in values.items() if package[k] != v}
                new_items = entry['items'] - package.item_ids
                if new_items:
                    values['item_ids'] = [fields.Command.link(i.id) for i in new_items]
                if entry['package_ref'] != package.package_ref and \
                        package.package_ref == package.tracking_code:
                    values['package_ref'] = entry['package_ref']  # Gelato's id, now known.
                if values:
                    package.write(values)
            else:
                package = self.env['gelato.order.package'].create({
                    **values, 'gelato_order_id': self.id, 'package_ref': entry['package_ref'],
                    'item_ids': [fields.Command.set(entry['items'].ids)],
                })
                existing[package.package_ref] = package
        if self.status in const.SHIPPED_STATUSES:
            self._gelato_ship()

    def _gelato_apply_tracking(self, item_reference, code, url):
        """Apply an `order_item_tracking_code_updated` event: the item left in a package.

        :return: Whether the order has the item.
        :rtype: bool
        """
        item = self.item_ids.filtered(lambda i: i.item_reference == item_reference)[:1]
        if not item:
            return False
        self._gelato_store_packages([{'package_ref': code, 'tracking_code': code,
                                      'tracking_url': utils.safe_url(url), 'items': item}])
        self._gelato_ship(self.package_ids.filtered(lambda p: p.tracking_code == code))
        return True

    def _gelato_ship(self, packages=None):
        """Validate the delivery for what left Gelato.

        Each package not shipped yet validates the moves of its items' lines (what is not in it
        stays in a backorder), with its tracking code. When the order itself is shipped, what
        no package named leaves too.

        :param gelato.order.package packages: The packages to ship; default: all of them.
        """
        packages = (packages if packages is not None else self.package_ids).filtered(
            lambda p: not p.picking_id)
        if self.picking_id:
            # A replacement ships with its own delivery; the original's stays as it is.
            self.picking_id._gelato_ship_replacement(
                [(p.tracking_code, p.tracking_url) for p in packages],
                everything=self.status in const.SHIPPED_STATUSES)
            packages.picking_id = self.picking_id
            return
        Picking = self.env['stock.picking']
        for package in packages:
            lines = package.item_ids.sale_line_id
            if not lines:
                continue
            picking = Picking._gelato_ship_lines(lines, [(package.tracking_code,
                                                          package.tracking_url)])
            if picking:
                package.picking_id = picking
        if self.status in const.SHIPPED_STATUSES:
            Picking._gelato_ship_lines(self.sale_line_ids, [])

    def _gelato_apply_delivery_estimate(self, min_date, max_date, notify=True):
        """Keep Gelato's delivery estimate; note it on the sale when it moves later.

        :return: Whether the estimate changed.
        :rtype: bool
        """
        self.ensure_one()
        new_min, new_max = utils.parse_date(min_date), utils.parse_date(max_date)
        values = {}
        if new_min and new_min != self.min_delivery_date:
            values['min_delivery_date'] = new_min
        if new_max and new_max != self.max_delivery_date:
            values['max_delivery_date'] = new_max
        if not values:
            return False
        old_max = self.max_delivery_date
        self.write(values)
        if notify and old_max and new_max and new_max > old_max:
            self.sale_order_id._gelato_note(self.env._(
                "Gelato moved the expected delivery of %(order)s later: now between %(start)s "
                "and %(end)s.", order=self.display_name,
                start=self.min_delivery_date or '?', end=self.max_delivery_date,
            ))
        return True

    def _gelato_tracking(self):
        """The `(code, url)` pairs of the order's packages."""
        return [(p.tracking_code, p.tracking_url) for p in self.package_ids if p.tracking_code]

    # === BUSINESS METHODS: FINDING AND ADOPTING === #

    @api.model
    def _gelato_find(self, company, gelato_id, reference):
        """Find the record an event is about: by Gelato's order id, else adopt the order when
        its reference is one this database sent (a connected order, a reorder).

        :param res.company company: The company whose webhook received the event.
        :param str gelato_id: The event's `orderId`.
        :param str reference: The event's `orderReferenceId`.
        :return: The record, or an empty recordset and why.
        :rtype: tuple[gelato.order, str | None]
        :raise GelatoError: (transient) when the reference's order is still being sent: the
                            event is retried once the send is committed.
        """
        domain = [('company_id', '=', company.id)]
        if not gelato_id:
            return self.browse(), self.env._(
                "The event names no valid Gelato order id (reference %(reference)s): nothing "
                "was changed.", reference=reference or '-')
        # Fetched with what processing reads, in one query (as `gelato.event._gelato_insert`).
        order = self.search_fetch(domain + [('gelato_id', '=', gelato_id)],
                                  self._GELATO_EVENT_FIELDS, limit=1)
        if order:
            return order, None
        siblings = self.search(domain + [('reference', '=', reference)]) if reference \
            else self.browse()
        if not siblings:
            return self.browse(), self.env._(
                "No Gelato order of %(company)s has the id %(id)s or the reference "
                "%(reference)s: an order this database did not send.",
                company=company.name, id=gelato_id or '-', reference=reference or '-')
        if siblings.filtered(lambda o: o.state == 'pending' and not o.gelato_id):
            raise GelatoError(self.env._(
                "The order %s is being sent to Gelato; the event is processed again once its "
                "answer is stored.", reference), transient=True)
        if switched := siblings.filtered(lambda o: o.origin == 'switched' and not o.gelato_id):
            # An order Odoo's module sent (its reference is the sale order's id): its first
            # event names its Gelato id.
            if switched[:1]._gelato_take_over(gelato_id):
                return switched[:1], None
            return self.browse(), self.env._(
                "Gelato's order %(id)s carries the reference %(reference)s of an order Odoo's "
                "Gelato module sent, but not its items: left untouched.",
                id=gelato_id, reference=reference)
        adopted = siblings[:1]._gelato_adopt(gelato_id)
        if not adopted:
            return self.browse(), self.env._(
                "Gelato's order %(id)s carries the reference %(reference)s but was not created "
                "by this database (its metadata does not name it): left untouched.",
                id=gelato_id, reference=reference)
        return adopted, None

    def _gelato_adopt(self, gelato_id, remote=None):
        """Make a record of a Gelato order that carries this record's reference: a connected
        order of it, or a reorder that replaces it (and the other failed orders of its lines).

        The order is read from Gelato first, and adopted only if its metadata names this
        database.

        :param str gelato_id: Gelato's order id.
        :param dict remote: The order, when already read.
        :return: The new record, or an empty recordset when the order is not ours.
        :rtype: gelato.order
        """
        self.ensure_one()
        if remote is None:
            remote = self.company_id._gelato_request('order', 'GET', f'/v4/orders/{gelato_id}')
        if not self._gelato_is_ours(remote, self.reference):
            return self.browse()
        sale = self.sale_order_id
        known = self.search([('sale_order_id', '=', sale.id), ('gelato_id', '!=', False)])
        connected_to = known.filtered(
            lambda o: gelato_id in (o.connected_gelato_ids or '').split(','))[:1]
        remote_connected = remote.get('connectedOrderIds') if isinstance(
            remote.get('connectedOrderIds'), list) else []
        connected_to = connected_to or known.filtered(
            lambda o: o.gelato_id in remote_connected and o.state == 'sent'
            and o.status not in ('failed', 'canceled'))[:1]
        record = self.create({
            'sale_order_id': sale.id, 'gelato_id': gelato_id, 'reference': self.reference,
            'origin': 'connected' if connected_to else 'reorder',
            'parent_id': (connected_to or self).id, 'state': 'sent',
            'last_update_at': fields.Datetime.now(),
        })
        record._gelato_apply_remote(remote)
        if not record.status:
            record._gelato_set_status('created')
        if record.origin == 'reorder':
            replaced = known.filtered(
                lambda o: o.state == 'sent' and o.status in const.REORDERED_STATUSES
                and (o.sale_line_ids & record.sale_line_ids or not record.sale_line_ids))
            replaced._gelato_set_state('replaced')
            sale._gelato_note(self.env._(
                "Gelato replaced %(old)s by the reorder %(new)s.",
                old=', '.join(replaced.mapped('display_name')) or '-',
                new=record.display_name))
        else:
            sale._gelato_note(self.env._(
                "Gelato produces part of the order separately: %(order)s.",
                order=record.display_name))
        return record

    def _gelato_is_switched_order(self, remote):
        """Return whether an order of Gelato is the one Odoo's Gelato module sent for this
        record's sale: its reference (the sale order's id) and, since that module sent neither
        metadata nor a database token, its items (`itemReferenceId`: the product's id) too.

        :param dict remote: The order as Gelato returns it (GET order).
        :rtype: bool
        """
        self.ensure_one()
        if not isinstance(remote, dict) or utils.clean_str(
                remote.get('orderReferenceId')) != self.reference:
            return False
        items = remote.get('items') if isinstance(remote.get('items'), list) else []
        sent = {utils.clean_str(item.get('itemReferenceId'))
                for item in items if isinstance(item, dict)}
        products = {str(product_id) for product_id in self.sale_line_ids.product_id.ids}
        return bool(sent) and sent <= products

    def _gelato_take_over(self, gelato_id, remote=None):
        """Give an order Odoo's Gelato module sent (adopted by the switch, `origin` switched)
        the Gelato id it has there, once Gelato's order is read and found to be that one.

        :param str gelato_id: Gelato's order id.
        :param dict remote: The order, when already read.
        :return: Whether the record now follows that order.
        :rtype: bool
        """
        self.ensure_one()
        if self.gelato_id or self.origin != 'switched':
            return False
        if remote is None:
            remote = self.company_id._gelato_request('order', 'GET', f'/v4/orders/{gelato_id}')
        if not self._gelato_is_switched_order(remote):
            return False
        self.write({'gelato_id': gelato_id, 'last_update_at': fields.Datetime.now()})
        self._gelato_apply_remote(remote, adopt_connected=True)
        self.sale_order_id._gelato_note(self.env._(
            "Gelato's order %s is followed here (sent by Odoo's Gelato module).", gelato_id))
        return True

    def _gelato_find_switched_remote(self):
        """For an order Odoo's Gelato module sent whose Gelato id is not known: look it up at
        Gelato by its reference, and take it over when it is that order."""
        self.ensure_one()
        answer = self.company_id._gelato_request(
            'order', 'POST', '/v4/orders:search', safe=True,
            json={'orderReferenceIds': [self.reference], 'limit': 10},
        )
        for summary in (answer.get('orders') or []) if isinstance(answer, dict) else []:
            if not isinstance(summary, dict) or utils.clean_str(
                    summary.get('orderReferenceId')) != self.reference:
                continue
            gelato_id = utils.gelato_id(summary.get('id'))
            if gelato_id and self._gelato_take_over(gelato_id):
                return True
        return False

    def _gelato_adopt_connected(self, gelato_id):
        """Adopt a connected order named in this order's `connectedOrderIds`.

        :return: The record (already known or new), or an empty recordset when Gelato does not
                 know the id or it is not ours.
        """
        existing = self.search([('company_id', '=', self.company_id.id),
                                ('gelato_id', '=', gelato_id)], limit=1)
        if existing:
            return existing
        try:
            return self._gelato_adopt(gelato_id)
        except GelatoError as error:
            _logger.info("Connected order %s of %s not adopted: %s", gelato_id,
                         self.reference, error.args[0])
            self.sale_order_id._gelato_note(self.env._(
                "Gelato named %(id)s as a connected order of %(order)s, but could not return "
                "it: %(reason)s", id=gelato_id, order=self.display_name, reason=error.args[0]))
            return self.browse()

    # === BUSINESS METHODS: CANCELLATION === #

    def _gelato_check_cancelable(self):
        """Refuse, before any call, to cancel orders whose known status is past what Gelato
        cancels.

        :raise UserError: Naming the orders and their status.
        """
        too_late = self.filtered(lambda o: o.state == 'sent' and o.status
                                 and o.status not in const.CANCELABLE_STATUSES
                                 and o.status != 'canceled')
        if too_late:
            raise UserError(self.env._(
                "Gelato cannot cancel %(orders)s any more (status: %(status)s), so the order "
                "stays confirmed.", orders=', '.join(too_late.mapped('display_name')),
                status=', '.join(dict.fromkeys(too_late.mapped(
                    lambda o: dict(const.ORDER_STATUSES)[o.status])))))

    def _gelato_cancel_remote(self):
        """Cancel the orders at Gelato, all or none as far as Odoo can tell.

        Orders whose known status is past what Gelato cancels are refused before any call.
        Orders not sent yet are looked up first (a lost answer may have created them).

        :raise UserError: With Gelato's words when it refuses, or when it cannot be reached.
        """
        if self.env.context.get('gelato_remote_canceled'):
            return
        self._gelato_check_cancelable()
        for order in self:
            if order.state in ('pending', 'attention') and not order.gelato_id:
                self.env.cr.execute(
                    "SELECT id FROM gelato_order WHERE id = %s FOR UPDATE NOWAIT", (order.id,))
                try:
                    remote = order._gelato_find_remote()
                except GelatoError as error:
                    raise UserError(self.env._(
                        "Gelato could not be asked whether it has %(order)s, so it stays "
                        "confirmed.\n%(reason)s", order=order.reference,
                        reason=error.args[0])) from None
                if not remote:
                    order._gelato_set_state('cancel', next_attempt_at=False)
                    continue
                order._gelato_set_state('sent', gelato_id=remote['id'])
            if order.state != 'sent' or order.status == 'canceled':
                continue
            try:
                if order.status == 'draft':
                    order.company_id._gelato_request(
                        'order', 'DELETE', f'/v4/orders/{order.gelato_id}')
                else:
                    order.company_id._gelato_request(
                        'order', 'POST', f'/v4/orders/{order.gelato_id}:cancel', safe=True)
            except GelatoError as error:
                raise UserError(order._gelato_cancel_refusal(error)) from None
            # Through the transition table, as a webhook would: a stuck order is no longer stuck,
            # and what the cancellation does to the sale follows (`_gelato_on_canceled`).
            order.with_context(gelato_canceled_by=self.env.user.name)._gelato_set_status(
                'canceled')

    def _gelato_cancel_refusal(self, error):
        """Say in words why Gelato did not cancel the order: its status, read from Gelato
        (docs/orders/v4/get), when Gelato refused; Gelato's words otherwise.

        :param GelatoError error: Gelato's answer to the cancel request.
        :rtype: str
        """
        self.ensure_one()
        if error.transient or not error.status:
            return self.env._(
                "Gelato could not be reached to cancel %(order)s: nothing was canceled and the "
                "sale stays confirmed. Try again in a few minutes.\n%(reason)s",
                order=self.display_name, reason=error.reason)
        try:
            remote = self.company_id._gelato_request('order', 'GET',
                                                     f'/v4/orders/{self.gelato_id}')
        except GelatoError:
            remote = None
        status = utils.clean_str(remote.get('fulfillmentStatus')) \
            if isinstance(remote, dict) else None
        label = dict(const.ORDER_STATUSES).get(status)
        if label:
            return self.env._(
                "Gelato did not cancel %(order)s: it is already %(status)s, and Gelato cancels "
                "an order only until it goes to production. The sale stays confirmed.",
                order=self.display_name, status=label.lower())
        return self.env._("Gelato did not cancel %(order)s, so the sale stays confirmed.\n"
                          "%(reason)s", order=self.display_name, reason=error.reason)

    # === BUSINESS METHODS: APPROVAL === #

    @api.model
    def _gelato_hold_values(self, sale):
        """How a new Gelato order of `sale` waits before it is printed: the company's approval
        mode, manual whatever the mode for a product marked to be approved by hand.

        :rtype: dict
        """
        company = sale.company_id.sudo()
        mode = company.gelato_approval_mode or 'instant'
        templates = sale._gelato_lines().product_id.product_tmpl_id
        if templates.filtered('gelato_manual_approval') or sale._gelato_is_personalized():
            mode = 'manual'  # A personalised order waits for the customer's approval.
        values = {'approval_mode': mode}
        if mode == 'delayed':
            values['approve_at'] = fields.Datetime.now() + timedelta(
                hours=company.gelato_approval_delay_hours or 24)
        return values

    def _gelato_order_type(self):
        """`draft` while the order is held, else `order` (docs/orders/v4/create: orderType)."""
        self.ensure_one()
        return 'draft' if self.approval_mode != 'instant' and not self.approved_at else 'order'

    def _gelato_after_held_send(self):
        """Say that the order waits, and for a manual one, give its people a to-do."""
        self.ensure_one()
        sale = self.sale_order_id
        if self.approval_mode == 'delayed':
            sale._gelato_note(self.env._(
                "%(order)s waits at Gelato as a draft until %(when)s, then goes to production "
                "(Hold keeps it waiting).", order=self.reference,
                when=fields.Datetime.to_string(self.approve_at)[:16]))
        elif sale._gelato_is_personalized():
            sale._gelato_note(self.env._(
                "%s waits at Gelato as a draft until the customer approves Gelato's proof on "
                "their order page (or someone presses Approve now).", self.reference))
        else:
            sale._gelato_note(self.env._(
                "%s waits at Gelato as a draft until someone approves it.", self.reference))
            sale._gelato_schedule_activity(
                self.env._("%s waits for approval before Gelato prints it: check it, then press "
                           "Approve now on the Gelato order.", self.reference),
                summary=self.env._("Approve Gelato order %s", self.reference))

    @api.model
    def _cron_approve_due(self, limit=50):
        """Approve the held orders whose approval time has come (delayed ones, and the ones
        someone approved), one per transaction."""
        self = self.with_context(gelato_priority='order')
        domain = [('is_held', '=', True), ('state', '=', 'sent'), ('gelato_id', '!=', False),
                  ('approve_at', '!=', False), ('approve_at', '<=', fields.Datetime.now())]
        due = self.sudo().search(domain, limit=limit, order='approve_at, id')

        def approve(order):
            if order._gelato_lock_if("approved_at IS NULL"):
                order._gelato_approve_one()

        batch.run_batch(due, approve, total=self.sudo().search_count(domain))

    def _gelato_approve_one(self):
        """Turn the draft into an order at Gelato (`PATCH /v4/orders/{id}`, orderType order,
        the items' current print files: docs/orders/v4/patch). Gelato down: tried again later;
        a conflict (the draft is already an order) is answered by reading the order; a refusal
        leaves it held, for a person, with Gelato's words."""
        self.ensure_one()
        sale = self.sale_order_id
        items = {item['itemReferenceId']: item for item in sale._gelato_prepare_items_payload()}
        patch = {'orderType': 'order'}
        files = [{'id': item.gelato_item_id, 'files': items[item.item_reference]['files']}
                 for item in self.item_ids
                 if item.gelato_item_id and items.get(item.item_reference, {}).get('files')]
        if files and len(files) == len(self.item_ids):
            patch['items'] = files
        try:
            try:
                remote = self.company_id._gelato_request(
                    'order', 'PATCH', f'/v4/orders/{self.gelato_id}', json=patch)
            except GelatoError as error:
                if error.status != 409:
                    raise
                remote = self.company_id._gelato_request(
                    'order', 'GET', f'/v4/orders/{self.gelato_id}')
                if not isinstance(remote, dict) or remote.get('orderType') != 'order':
                    raise
        except GelatoError as error:
            message = str(error.args[0] if error.args else error)
            if error.transient:
                self.send_attempts += 1
                backoff = const.OUTBOX_BACKOFF_MINUTES
                wait = backoff[min(self.send_attempts, len(backoff)) - 1]
                self.write({'last_error': message,
                            'approve_at': fields.Datetime.now() + timedelta(minutes=wait)})
                return False
            self.write({'last_error': message, 'approve_at': False, 'approval_mode': 'manual'})
            sale._gelato_note(self.env._(
                "Gelato did not approve %s: it stays held.", self.reference), reason=message)
            sale._gelato_schedule_activity(
                self.env._("Gelato did not approve %(order)s: %(reason)s", order=self.reference,
                           reason=message),
                summary=self.env._("Gelato order not approved: %s", self.reference))
            return False
        self.write({'approved_at': fields.Datetime.now(), 'approve_at': False,
                    'last_error': False, 'send_attempts': 0})
        if isinstance(remote, dict):
            self._gelato_apply_remote(remote)
        if self.status == 'draft':
            self._gelato_set_status('created')
        sale._gelato_note(self.env._("%s was approved: Gelato prints it.", self.reference))
        summary = self.env._("Approve Gelato order %s", self.reference)
        sale.activity_ids.filtered(lambda a: a.summary == summary).sudo().action_feedback(
            feedback=self.env._("Approved: Gelato prints it."))
        return True

    def _gelato_replace_held(self):
        """The address or the goods of held orders changed: Gelato's PATCH takes only the
        order type and files, so each draft is deleted and a new one is made (the old record
        is `replaced`), never two live orders.

        :raise UserError: When Gelato could not delete a draft: nothing changes.
        """
        for order in self.filtered(lambda o: o.is_held and o.state == 'sent' and o.gelato_id):
            try:
                order.company_id._gelato_request('order', 'DELETE',
                                                 f'/v4/orders/{order.gelato_id}')
            except GelatoError as error:
                if error.status != 404:
                    raise UserError(self.env._(
                        "Gelato did not delete the draft %(order)s, so the change cannot be "
                        "made now.\n%(reason)s", order=order.reference,
                        reason=error.args[0])) from None
            sale = order.sale_order_id
            order._gelato_set_state('replaced')
            new = self.create({
                'sale_order_id': sale.id,
                'reference': self._gelato_new_reference(sale),
                'sale_line_ids': [fields.Command.set(sale._gelato_lines().ids)],
                'shipment_method_name': order.shipment_method_name,
                'state': 'pending', 'next_attempt_at': fields.Datetime.now(),
                'approval_mode': order.approval_mode, 'approve_at': order.approve_at,
                'parent_id': order.id,
            })
            sale._gelato_note(self.env._(
                "The order changed while held: Gelato's draft %(old)s was deleted and %(new)s "
                "replaces it.", old=order.gelato_id, new=new.reference))
            self._gelato_trigger_outbox()

    # === BUSINESS METHODS: STUCK ORDERS === #

    @api.model
    def _gelato_stuck_hours(self):
        """Hours each status may last before its order counts as stuck: `const.STUCK_HOURS`,
        overridden per status by the JSON of the `gelato_connector.stuck_hours` system parameter
        (e.g. `{"in_production": 96}`)."""
        hours = dict(const.STUCK_HOURS)
        raw = self.env['ir.config_parameter'].sudo().get_param(const.STUCK_HOURS_PARAM)
        try:
            custom = json.loads(raw) if raw else {}
        except ValueError:
            custom = {}
        if isinstance(custom, dict):
            hours.update({k: float(v) for k, v in custom.items() if k in hours
                          and isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0})
        return hours

    def _gelato_check_stuck(self, now=None):
        """Flag the orders whose status has lasted longer than it usually does, each with one
        to-do for the person responsible, saying what to do."""
        now = now or fields.Datetime.now()
        hours = self._gelato_stuck_hours()
        # A held draft waits for a person or its approval time, not for Gelato.
        for order in self.filtered(lambda o: o.state == 'sent' and not o.is_stuck
                                   and not o.is_held and o.status in hours):
            since = order.status_since or order.write_date or now
            if now - since < timedelta(hours=hours[order.status]):
                continue
            label = dict(const.ORDER_STATUSES)[order.status]
            order.is_stuck = True
            text = self.env._(
                "%(order)s has been %(status)s at Gelato since %(since)s. %(advice)s",
                order=order.display_name, status=label,
                since=fields.Datetime.to_string(since)[:16], advice=order.stuck_advice)
            if order.status_reason:
                text += ' ' + self.env._("Gelato says: %s", order.status_reason)
            order.stuck_activity_id = order.sale_order_id._gelato_schedule_activity(
                text, summary=self.env._("Gelato order stuck: %s", label))

    def _gelato_unstick(self, previous):
        """The order moved: it is no longer stuck, and its to-do is done."""
        for order in self.filtered('is_stuck'):
            activity = order.stuck_activity_id.exists()
            order.write({'is_stuck': False, 'stuck_activity_id': False})
            if activity:
                activity.action_feedback(feedback=self.env._(
                    "Gelato moved the order on (now %s).",
                    dict(const.ORDER_STATUSES).get(order.status, order.status)))

    @api.model
    def _cron_check_stuck(self, limit=500):
        """Find the orders that stall, before the customer asks: only those whose status has
        lasted longer than its limit are read."""
        self = self.with_context(gelato_priority='followup')
        now = fields.Datetime.now()
        per_status = [['&', ('status', '=', status),
                       ('status_since', '<=', now - timedelta(hours=hours))]
                      for status, hours in self._gelato_stuck_hours().items()]
        domain = Domain.AND([
            [('state', '=', 'sent'), ('is_stuck', '=', False)], Domain.OR(per_status)])
        orders = self.sudo().search(domain, limit=limit, order='status_since, id')

        def flag_failed(order, _error):
            order.is_stuck = True  # Not read again at every run; shown in the list.

        batch.run_batch(orders, lambda order: order._gelato_check_stuck(now),
                               total=self.sudo().search_count(domain), on_error=flag_failed)

    # === BUSINESS METHODS: RECONCILIATION === #

    @api.model
    def _cron_reconcile(self, limit=100):
        """Ask Gelato about open orders that have heard nothing for a while, one order per
        transaction, the quietest first."""
        self = self.with_context(gelato_priority='followup')
        quiet_since = fields.Datetime.now() - timedelta(hours=const.RECONCILE_AFTER_HOURS)
        domain = [
            ('state', '=', 'sent'), '|', ('gelato_id', '!=', False), ('origin', '=', 'switched'),
            ('status', 'not in', const.FINAL_STATUSES),
            '|', ('last_update_at', '=', False), ('last_update_at', '<', quiet_since),
        ]
        orders = self.sudo().search(domain, limit=limit, order='last_update_at, id')

        def rotate(order, _error):
            order.last_update_at = fields.Datetime.now()  # The others come first next time.

        batch.run_batch(orders, lambda order: order._gelato_reconcile_one(),
                               total=self.sudo().search_count(domain), on_error=rotate)

    def _gelato_reconcile_one(self):
        """Read the order from Gelato and apply it as the webhook would; for a failed or held
        order, also look for the reorder Gelato may have made under the same reference."""
        self.ensure_one()
        if not self.gelato_id:
            # Sent by Odoo's Gelato module, which kept no Gelato id: found by its reference.
            self._gelato_find_switched_remote()
            self.last_update_at = fields.Datetime.now()
            return
        remote = self.company_id._gelato_request('order', 'GET', f'/v4/orders/{self.gelato_id}')
        self._gelato_apply_remote(remote, adopt_connected=True)
        self.last_update_at = fields.Datetime.now()
        if self.status in const.REORDERED_STATUSES:
            self._gelato_adopt_reorders()

    def _gelato_adopt_reorders(self):
        """Adopt the orders Gelato holds under this record's reference that Odoo does not know
        (a reorder or resubmission after a failure)."""
        answer = self.company_id._gelato_request(
            'order', 'POST', '/v4/orders:search', safe=True,
            json={'orderReferenceIds': [self.reference], 'limit': 10},
        )
        known = set(self.search([('company_id', '=', self.company_id.id),
                                 ('reference', '=', self.reference)]).mapped('gelato_id'))
        for summary in (answer.get('orders') or []) if isinstance(answer, dict) else []:
            gelato_id = utils.gelato_id(summary.get('id')) if isinstance(summary, dict) else None
            if gelato_id and gelato_id not in known \
                    and summary.get('orderReferenceId') == self.reference:
                self._gelato_adopt(gelato_id)
                known.add(gelato_id)

    def _gelato_snapshot(self):
        self.ensure_one()
        return {
            'status': self.status, 'packages': len(self.package_ids),
            'max': self.max_delivery_date, 'orders': len(self.sale_order_id.gelato_order_ids),
        }

    def _gelato_describe_change(self, before):
        """Say in words what a reconciliation changed on the order."""
        after = self._gelato_snapshot()
        labels = dict(const.ORDER_STATUSES)
        parts = []
        if after['status'] != before['status']:
            parts.append(self.env._("status %(old)s → %(new)s",
                                    old=labels.get(before['status'], '-'),
                                    new=labels.get(after['status'], '-')))
        if after['packages'] != before['packages']:
            parts.append(self.env._("%s new package(s) with tracking",
                                    after['packages'] - before['packages']))
        if after['max'] != before['max']:
            parts.append(self.env._("delivery expected until %s", after['max']))
        if after['orders'] != before['orders']:
            parts.append(self.env._("%s new Gelato order(s) for this sale",
                                    after['orders'] - before['orders']))
        if not parts:
            return self.env._("%(order)s: nothing new (status %(status)s).",
                              order=self.display_name,
                              status=labels.get(self.status, '-'))
        return f"{self.display_name}: {'; '.join(parts)}."
