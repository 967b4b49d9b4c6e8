# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from datetime import timedelta

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from odoo.addons.gelato_connector import const, utils


class GelatoClaim(models.Model):
    """A problem with a parcel Gelato shipped (damaged, misprinted, wrong, lost, returned): the
    items concerned, the replacement sent for them, and the claim filed with Gelato's support.

    Gelato's process is manual (apisupport.gelato.com "What if a product is damaged?", "What if
    an order is lost in the mail?"; support.gelato.com "How do I report a problem with my
    order?"): the merchant places a (paid) reorder, then reports the problem within 30 days of
    delivery with both order numbers and photos; Gelato refunds to the wallet. Here the
    replacement is a new Gelato order of the same sale, sent by the outbox and followed like any
    other; the message for Gelato's support is ready to send from the chatter; Gelato's refund
    receipt closes the claim with a vendor credit note.
    """
    _name = 'gelato.claim'
    _description = "Gelato Claim"
    _inherit = ['mail.thread', 'mail.activity.mixin']
    _order = 'id desc'

    name = fields.Char(string="Claim", required=True, readonly=True, copy=False,
                       default=lambda self: self.env._("New"))
    gelato_order_id = fields.Many2one(
        'gelato.order', string="Gelato Order", required=True, ondelete='cascade', index=True,
        domain="[('state', '=', 'sent'), ('claim_id', '=', False)]",
        help="The Gelato order whose parcel had the problem.",
    )
    sale_order_id = fields.Many2one(
        related='gelato_order_id.sale_order_id', store=True, index=True, string="Sales Order")
    company_id = fields.Many2one(related='gelato_order_id.company_id', store=True, index=True)
    partner_id = fields.Many2one(related='sale_order_id.partner_id', string="Customer")
    user_id = fields.Many2one(related='sale_order_id.user_id', string="Salesperson")
    reason = fields.Selection(
        string="Problem", selection=const.CLAIM_REASONS, required=True, tracking=True)
    description = fields.Text(string="What Happened")
    line_ids = fields.One2many('gelato.claim.line', 'claim_id', string="Items", copy=True)
    attachment_ids = fields.Many2many(
        'ir.attachment', 'gelato_claim_attachment_rel', 'claim_id', 'attachment_id',
        string="Photos",
        help="Photos of the product and its packaging: Gelato's support asks for them.")
    # Written by `_gelato_set_deadline` (at creation, and when Gelato delivers the order), not
    # computed from the order's status: a webhook changing a status never reads the claims.
    delivered_on = fields.Date(
        string="Delivered On", readonly=True,
        help="When Gelato delivered the parcel (for a lost or returned one: its latest expected "
             "delivery date).")
    deadline = fields.Date(
        string="Claim Before", readonly=True, tracking=True,
        help="Gelato takes claims within 30 days of delivery.")
    state = fields.Selection(
        string="Status", selection=const.CLAIM_STATES, default='to_file', required=True,
        readonly=True, tracking=True, index=True)
    replacement_id = fields.Many2one(
        'gelato.order', string="Replacement", readonly=True, copy=False, index='btree_not_null',
        help="The Gelato order sent to replace the items.")
    replacement_status = fields.Selection(related='replacement_id.status',
                                          string="Replacement Status")
    replacement_picking_id = fields.Many2one(related='replacement_id.picking_id',
                                             string="Replacement Delivery")
    currency_id = fields.Many2one('res.currency', compute='_compute_amounts', store=True)
    replacement_cost = fields.Monetary(
        string="Replacement Cost", compute='_compute_amounts', store=True,
        help="What Gelato charged for the replacement, VAT included.")
    refunded_amount = fields.Monetary(
        string="Refunded", readonly=True, copy=False,
        help="What Gelato refunded for the claim, VAT included (its refund receipt).")
    refund_move_id = fields.Many2one('account.move', string="Credit Note", readonly=True,
                                     copy=False)
    refund_receipt_ref = fields.Char(readonly=True, copy=False, index='btree_not_null')
    support_message = fields.Html(
        string="Message for Gelato's Support", compute='_compute_support_message',
        sanitize=True)

    # === COMPUTE METHODS === #

    @api.depends('replacement_id.cost_total', 'replacement_id.cost_currency_id',
                 'gelato_order_id.cost_currency_id')
    def _compute_amounts(self):
        for claim in self:
            claim.currency_id = claim.replacement_id.cost_currency_id \
                or claim.gelato_order_id.cost_currency_id or claim.company_id.currency_id
            claim.replacement_cost = claim.replacement_id.cost_total

    @api.depends('gelato_order_id.gelato_id', 'replacement_id.gelato_id', 'reason',
                 'description', 'line_ids.quantity', 'attachment_ids')
    def _compute_support_message(self):
        reasons = dict(const.CLAIM_REASONS)
        for claim in self:
            items = Markup('').join(
                Markup('<li>%s × %s</li>') % (line.quantity, line.product_id.display_name)
                for line in claim.line_ids)
            replacement = claim.replacement_id.gelato_id or self.env._("not placed yet")
            claim.support_message = Markup(
                '<p>%(hello)s</p><ul><li>%(original)s: <b>%(original_id)s</b></li>'
                '<li>%(replacement)s: <b>%(replacement_id)s</b></li><li>%(problem)s: %(reason)s'
                '</li></ul><p>%(items_title)s</p><ul>%(items)s</ul><p>%(description)s</p>'
                '<p>%(photos)s</p>') % {
                'hello': self.env._("Hello Gelato support, we report a problem with an order "
                                    "and ask for a refund:"),
                'original': self.env._("Original order"),
                'original_id': claim.gelato_order_id.gelato_id or '',
                'replacement': self.env._("Resubmitted order"),
                'replacement_id': replacement,
                'problem': self.env._("Problem"),
                'reason': reasons.get(claim.reason, ''),
                'items_title': self.env._("Items concerned:"),
                'items': items,
                'description': claim.description or '',
                'photos': self.env._("%s photo(s) attached.", len(claim.attachment_ids)),
            }

    # === CONSTRAINT METHODS === #

    @api.constrains('line_ids', 'gelato_order_id')
    def _check_lines(self):
        for claim in self:
            if claim.line_ids.item_id.gelato_order_id - claim.gelato_order_id:
                raise UserError(self.env._(
                    "A claim is about the items of its own Gelato order only."))

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if not vals.get('name') or vals['name'] == self.env._("New"):
                vals['name'] = self.env['ir.sequence'].sudo().next_by_code('gelato.claim') \
                    or self.env._("New")
        claims = super().create(vals_list)
        claims._gelato_set_deadline()
        for claim in claims:
            claim._gelato_check_claimable()
            claim.sale_order_id._gelato_note(self.env._(
                "A problem was reported on %(order)s: %(claim)s.",
                order=claim.gelato_order_id.display_name, claim=claim.name))
        return claims

    # === ACTION METHODS === #

    def action_send_replacement(self):
        """Send a new Gelato order for exactly the claim's items and quantities, on the same
        sale, through the outbox (once per claim, however often the button is pressed).

        :return: A notification naming the replacement.
        :rtype: dict
        """
        self.ensure_one()
        self._gelato_check_can_act()
        claim = self.sudo()
        claim.env.cr.execute('SELECT id FROM gelato_claim WHERE id = %s FOR UPDATE', [claim.id])
        claim.invalidate_recordset(['replacement_id'])
        if claim.replacement_id:
            return utils.notification('info', self.env._("Replacement"), self.env._(
                "%(claim)s already has its replacement: %(order)s.", claim=claim.name,
                order=claim.replacement_id.reference))
        replacement = claim._gelato_create_replacement()
        return utils.notification(
            'success', self.env._("Replacement on its way"),
            self.env._("%(order)s goes to Gelato within a few seconds.",
                       order=replacement.reference),
            next_action={'type': 'ir.actions.client', 'tag': 'soft_reload'})

    def action_email_gelato_support(self):
        """Open the chatter's composer with the message for Gelato's support and the photos."""
        self.ensure_one()
        self._gelato_check_can_act()
        template = self.env.ref('gelato_connector.mail_template_gelato_claim')
        return {
            'type': 'ir.actions.act_window', 'res_model': 'mail.compose.message',
            'view_mode': 'form', 'views': [(False, 'form')], 'target': 'new',
            'context': {
                'default_model': 'gelato.claim', 'default_res_ids': self.ids,
                'default_template_id': template.id, 'default_composition_mode': 'comment',
                'default_attachment_ids': self.attachment_ids.ids,
                'gelato_claim_filed': True,
            },
        }

    def action_mark_filed(self):
        self._gelato_check_can_act()
        self.sudo().filtered(lambda c: c.state == 'to_file').state = 'filed'

    def action_decline(self):
        """Gelato declined the claim."""
        self._gelato_check_can_act()
        claims = self.sudo().filtered(lambda c: c.state in ('to_file', 'filed'))
        claims.state = 'declined'
        claims.activity_ids.action_feedback(feedback=self.env._("Declined by Gelato."))

    def action_view_replacement(self):
        self.ensure_one()
        return self.replacement_id._gelato_form_action()

    # === MAIL === #

    def message_post(self, **kwargs):
        """A message sent from the composer opened by "Email Gelato support" files the claim."""
        message = super().message_post(**kwargs)
        if self.env.context.get('gelato_claim_filed'):
            self.sudo().filtered(lambda c: c.state == 'to_file').state = 'filed'
        return message

    # === BUSINESS METHODS === #

    def _gelato_check_can_act(self):
        """Who may act on a claim: a salesperson who may change its sale (as for Gelato
        orders), checked before any request leaves."""
        if not self.env.su and not self.env.user.has_group('sales_team.group_sale_salesman'):
            raise AccessError(self.env._("Only salespeople can act on Gelato claims."))
        self.check_access('write')
        self.sale_order_id.check_access('write')

    def _gelato_check_claimable(self):
        self.ensure_one()
        order = self.gelato_order_id
        if order.state != 'sent' or order.status not in const.CLAIMABLE_STATUSES:
            raise UserError(self.env._(
                "%(order)s cannot have a problem reported: Gelato has not shipped it "
                "(status: %(status)s).", order=order.display_name,
                status=dict(const.ORDER_STATUSES).get(order.status, order.status or '-')))
        if not self.line_ids.filtered('quantity'):
            raise UserError(self.env._("Say which items (and how many) the problem is about."))

    def _gelato_set_deadline(self):
        """Gelato's deadline: 30 days from delivery (for a parcel lost or returned, from its
        latest expected delivery date)."""
        for claim in self:
            order = claim.gelato_order_id
            if order.status == 'delivered' and order.status_since:
                delivered = order.status_since.date()
            else:
                delivered = order.max_delivery_date or fields.Date.context_today(claim)
            deadline = delivered + timedelta(days=const.CLAIM_DAYS)
            if (claim.delivered_on, claim.deadline) != (delivered, deadline):
                claim.write({'delivered_on': delivered, 'deadline': deadline})

    def _gelato_quantities(self):
        """The sale lines to send again, with their quantities.

        :rtype: dict
        """
        quantities = {}
        for line in self.line_ids.filtered(lambda ln: ln.quantity > 0 and ln.sale_line_id):
            quantities[line.sale_line_id] = quantities.get(line.sale_line_id, 0) + line.quantity
        return quantities

    def _gelato_create_replacement(self):
        """The replacement's Gelato order (waiting in the outbox) and its own delivery."""
        self.ensure_one()
        self._gelato_check_claimable()
        sale, original = self.sale_order_id, self.gelato_order_id
        quantities = self._gelato_quantities()
        if problems := sale._gelato_address_problems():
            raise UserError(self.env._(
                "The replacement cannot be sent: %s Correct the shipping address first (a "
                "parcel returned to sender goes to the corrected address).", ' '.join(problems)))
        Order = self.env['gelato.order'].sudo()
        replacement = Order.create({
            'sale_order_id': sale.id,
            'reference': original._gelato_replacement_reference(),
            'origin': 'replacement', 'parent_id': original.id, 'claim_id': self.id,
            'sale_line_ids': [fields.Command.set([line.id for line in quantities])],
            'shipment_method_name': original.shipment_method_name,
            'state': 'pending', 'next_attempt_at': fields.Datetime.now(),
            'approval_mode': 'instant',
        })
        self.replacement_id = replacement
        replacement.picking_id = self.env['stock.picking']._gelato_replacement_picking(
            replacement, quantities)
        sale._gelato_note(self.env._(
            "%(claim)s: %(order)s replaces %(items)s of %(original)s.", claim=self.name,
            order=replacement.reference, original=original.display_name,
            items=', '.join(f"{qty} × {line.product_id.display_name}"
                            for line, qty in quantities.items())))
        self.message_post(body=self.env._("Replacement %s sent to the outbox.",
                                          replacement.reference))
        Order._gelato_trigger_outbox()
        return replacement

    @api.model
    def _gelato_apply_refunds(self, gelato_order):
        """Gelato's refund receipts of an order (its `receipts`, `transactionType` refund) close
        the open claim about it (the original or its replacement): refunded, with the amount
        and the vendor credit note the receipt became."""
        receipts = gelato_order.receipts if isinstance(gelato_order.receipts, list) else []
        for receipt in receipts:
            if not isinstance(receipt, dict) or receipt.get('transactionType') != 'refund':
                continue
            receipt_id = utils.clean_str(receipt.get('id'), 64)
            if not receipt_id or self.search_count([('refund_receipt_ref', '=', receipt_id)]):
                continue
            claim = self.search([
                ('state', 'in', ('to_file', 'filed')), '|',
                ('gelato_order_id', '=', gelato_order.id),
                ('replacement_id', '=', gelato_order.id)], limit=1, order='id')
            if not claim:
                continue
            credit = self.env['account.move.line'].search(
                [('gelato_receipt_ref', '=', receipt_id)], limit=1).move_id
            amount = utils.number(receipt.get('totalInclVat'))
            claim.write({'state': 'refunded', 'refund_receipt_ref': receipt_id,
                         'refund_move_id': credit.id,
                         'refunded_amount': abs(amount) if amount is not None else 0.0})
            claim.message_post(body=self.env._(
                "Gelato refunded %(amount)s %(currency)s (receipt %(receipt)s).",
                amount=amount if amount is not None else '?',
                currency=receipt.get('currency') or '', receipt=receipt_id))
            claim.activity_ids.action_feedback(feedback=self.env._("Refunded by Gelato."))

    @api.model
    def _cron_gelato_claim_deadlines(self):
        """A claim not filed yet whose deadline nears gets a to-do."""
        soon = fields.Date.today() + timedelta(days=const.CLAIM_REMIND_DAYS)
        summary = self.env._("File the Gelato claim")
        for claim in self.sudo().search([('state', '=', 'to_file'), ('deadline', '<=', soon)]):
            if claim.activity_ids.filtered(lambda a, s=summary: a.summary == s):
                continue
            claim.activity_schedule(
                'mail.mail_activity_data_todo', date_deadline=claim.deadline, summary=summary,
                note=self.env._("Gelato takes claims until %s: send it the message (Email "
                                "Gelato support).", claim.deadline),
                user_id=(claim.sale_order_id._gelato_responsible().id
                         or self.env.ref('base.user_admin').id))
