# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import base64
import hashlib
import json
import logging
from datetime import timedelta

from markupsafe import Markup

from odoo import Command, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.http import request
from odoo.tools import html2plaintext

from odoo.addons.gelato_connector import const, utils
from odoo.addons.gelato_connector.exceptions import GelatoError

_logger = logging.getLogger(__name__)


class SaleOrder(models.Model):
    _inherit = 'sale.order'

    gelato_order_ids = fields.One2many(
        'gelato.order', 'sale_order_id', string="Gelato Orders", readonly=True, copy=False,
    )
    gelato_order_count = fields.Integer(compute='_compute_gelato_order_count')
    # The sale's summary of its Gelato orders (connected orders and reorders each have theirs),
    # computed when read: a webhook changes one Gelato order and never has to rewrite (nor lock)
    # the sale order. The main ones can be searched.
    gelato_order_id = fields.Char(
        string="Gelato Order", compute='_compute_gelato_summary',
        search='_search_gelato_order_id',
        help="Gelato's id of the main Gelato order of the sale.",
    )
    gelato_status = fields.Selection(
        string="Gelato Status", selection=const.ORDER_STATUSES, compute='_compute_gelato_summary',
        search='_search_gelato_status',
        help="Where the sale stands at Gelato: the status that needs attention if any, else the "
             "least advanced of its Gelato orders.",
    )
    gelato_is_held = fields.Boolean(
        string="Awaiting Gelato Approval", compute='_compute_gelato_summary',
        help="A Gelato order of the sale waits at Gelato, as a draft, to be approved.")
    gelato_approve_at = fields.Datetime(
        string="Gelato Approval At", compute='_compute_gelato_summary',
        help="When the held Gelato order is approved automatically (empty: by hand).")
    gelato_is_personalized = fields.Boolean(
        string="Personalised (Gelato)", compute='_compute_gelato_is_personalized',
        help="The order holds a product printed with the customer's own picture: Gelato's proof "
             "waits for the customer's approval on their order page.")
    gelato_min_delivery_date = fields.Date(
        string="Gelato Delivery From", compute='_compute_gelato_summary')
    gelato_max_delivery_date = fields.Date(
        string="Gelato Delivery Until", compute='_compute_gelato_summary')
    gelato_outbox_state = fields.Selection(
        string="Gelato Sending",
        selection=[
            ('pending', "Waiting to be sent"),
            ('sent', "Sent"),
            ('attention', "Needs attention"),  # refused by Gelato, or not sendable as it is
        ],
        compute='_compute_gelato_summary', search='_search_gelato_outbox_state',
    )
    gelato_last_error = fields.Text(string="Last Gelato Error", compute='_compute_gelato_summary')
    gelato_last_update_at = fields.Datetime(
        string="Last Heard from Gelato", compute='_compute_gelato_summary')
    gelato_shipment_method_uid = fields.Char(
        string="Gelato Shipment Method", copy=False, readonly=True,
        help="The Gelato shipment method sent with the order: fixed when the delivery method is "
             "set on the order, whatever rates were shown before.",
    )
    gelato_shipment_method_name = fields.Char(
        string="Gelato Shipping", compute='_compute_gelato_shipment_method_name')
    # One quote of Gelato serves both Gelato delivery methods for a while (see _gelato_quote).
    # Gelato's prices for the shop (costs): never readable by a portal user or a visitor, whose
    # checkout reads them as superuser.
    gelato_quote_key = fields.Char(copy=False, readonly=True,
                                   groups='sales_team.group_sale_salesman')
    gelato_quote = fields.Json(copy=False, readonly=True, groups='sales_team.group_sale_salesman')
    gelato_quote_at = fields.Datetime(copy=False, readonly=True,
                                      groups='sales_team.group_sale_salesman')
    gelato_dashboard_url = fields.Char(
        string="Gelato Dashboard", compute='_compute_gelato_dashboard_url',
    )
    gelato_cost_total = fields.Monetary(
        string="Gelato Cost", compute='_compute_gelato_cost_total', currency_field='currency_id',
        groups='sales_team.group_sale_salesman',
        help="What Gelato charged for this sale (its receipts, VAT included), in the sale's "
             "currency.",
    )
    is_gelato_order = fields.Boolean(compute='_compute_is_gelato_order')
    gelato_event_count = fields.Integer(
        compute='_compute_gelato_event_count', groups='sales_team.group_sale_salesman',
    )

    # === COMPUTE METHODS === #

    @api.depends('gelato_order_ids')
    def _compute_gelato_order_count(self):
        for order in self:
            order.gelato_order_count = len(order.gelato_order_ids)

    @api.depends('gelato_order_ids.state', 'gelato_order_ids.status',
                 'gelato_order_ids.gelato_id', 'gelato_order_ids.min_delivery_date',
                 'gelato_order_ids.max_delivery_date', 'gelato_order_ids.last_error',
                 'gelato_order_ids.last_update_at')
    def _compute_gelato_summary(self):
        for order in self:
            active = order._gelato_active_orders()
            summary = active.filtered(lambda o: o.status != 'canceled') or active
            main = summary.filtered('gelato_id').sorted('id')[:1]
            statuses = [o.status for o in summary if o.status]
            attention = next((s for s in const.ATTENTION_STATUSES if s in statuses), None)
            status = attention or min(statuses, key=const.STATUS_RANK.get, default=False)
            states = set(active.mapped('state'))
            latest = order.gelato_order_ids.filtered('gelato_id').sorted('id', reverse=True)[:1]
            order.gelato_order_id = main.gelato_id or latest.gelato_id
            order.gelato_status = status or False
            held = active.filtered('is_held')
            order.gelato_is_held = bool(held)
            order.gelato_approve_at = min(held.mapped('approve_at'), default=False) \
                if held and all(held.mapped('approve_at')) else False
            order.gelato_min_delivery_date = min(
                (d for d in summary.mapped('min_delivery_date') if d), default=False)
            order.gelato_max_delivery_date = max(
                (d for d in summary.mapped('max_delivery_date') if d), default=False)
            order.gelato_outbox_state = 'attention' if 'attention' in states else \
                'pending' if 'pending' in states else 'sent' if 'sent' in states else False
            order.gelato_last_error = '\n'.join(
                e for e in active.filtered(lambda o: o.state in ('pending', 'attention'))
                .mapped('last_error') if e) or False
            order.gelato_last_update_at = max(
                (d for d in active.mapped('last_update_at') if d), default=False)

    def _search_gelato_order_id(self, operator, value):
        return [('gelato_order_ids', 'any', [('gelato_id', operator, value),
                                             ('state', 'not in', ('replaced', 'cancel'))])]

    def _search_gelato_status(self, operator, value):
        """The sales with a current Gelato order in that status (an approximation of the
        summary, which shows the status that needs attention, else the least advanced)."""
        return [('gelato_order_ids', 'any', [('status', operator, value),
                                             ('state', 'not in', ('replaced', 'cancel'))])]

    def _search_gelato_outbox_state(self, operator, value):
        return [('gelato_order_ids', 'any', [('state', operator, value)])]

    @api.depends('gelato_shipment_method_uid', 'carrier_id',
                 'gelato_order_ids.shipment_method_name')
    def _compute_gelato_shipment_method_name(self):
        for order in self:
            sent = order._gelato_active_orders().filtered('shipment_method_name')[:1]
            if sent:
                order.gelato_shipment_method_name = sent.shipment_method_name
            elif order.carrier_id.delivery_type == 'gelato':
                order.gelato_shipment_method_name = order.carrier_id.name
            else:
                order.gelato_shipment_method_name = False

    @api.depends('gelato_order_ids.cost_total', 'gelato_order_ids.state')
    def _compute_gelato_cost_total(self):
        for order in self:
            total = 0.0
            for record in order._gelato_active_orders().filtered('cost_currency_id'):
                total += record.cost_currency_id._convert(
                    record.cost_total, order.currency_id, order.company_id,
                    order.date_order or fields.Date.today())
            order.gelato_cost_total = total

    @api.depends('gelato_order_id')
    def _compute_gelato_dashboard_url(self):
        for order in self:
            order.gelato_dashboard_url = order.gelato_order_id and \
                const.DASHBOARD_ORDER_URL.format(order_id=order.gelato_order_id)

    def _compute_gelato_event_count(self):
        counts = dict(self.env['gelato.event']._read_group(
            [('sale_order_id', 'in', self.ids)], ['sale_order_id'], ['__count']))
        for order in self:
            order.gelato_event_count = counts.get(order, 0)

    @api.depends('order_line.product_id')
    def _compute_is_gelato_order(self):
        for order in self:
            order.is_gelato_order = order._gelato_is_gelato_order()

    # === CRUD METHODS === #

    def write(self, vals):
        res = super().write(vals)
        if 'partner_shipping_id' in vals:
            # Another address for a held order: Gelato's draft is replaced.
            self.gelato_order_ids.sudo().filtered(
                lambda o: o.is_held and o.state == 'sent')._gelato_replace_held()
        return res

    # === CONSTRAINT METHODS === #

    def _gelato_goods_lines(self):
        """The lines of goods: what the Gelato rule about sharing an order is about (services,
        delivery lines, sections and notes may join any order)."""
        self.ensure_one()
        return self.order_line.filtered(
            lambda line: line.product_id and line.product_id.type != 'service'
            and not line.is_delivery and not line.display_type
        )

    def _gelato_check_no_mixing(self, changed_lines=None):
        """Refuse orders that mix Gelato goods with other goods (services and notes may join).

        Called from `sale.order.line`'s create and write, so that every way of adding a product
        (a line, the catalog, an import) is covered.

        :param sale.order.line changed_lines: The lines just added or changed, to name the
                                              product that cannot join.
        :raise ValidationError: Naming the product that cannot join the order.
        """
        for order in self:
            goods = order._gelato_goods_lines()
            gelato = goods.filtered(lambda line: line.product_id.gelato_product_uid)
            if not gelato or gelato == goods:
                continue
            intruder = ((changed_lines or order.order_line) & goods)[-1:] or goods[-1:]
            raise ValidationError(self.env._(
                "%(product)s cannot be added to %(order)s: Gelato products and other goods are "
                "shipped separately and cannot share an order. Please put it in an order of its "
                "own.",
                product=intruder.product_id.display_name, order=order.display_name,
            ))

    # === ACTION METHODS === #

    def action_open_delivery_wizard(self):
        """Override of `delivery` to propose a Gelato delivery method for Gelato orders."""
        action = super().action_open_delivery_wizard()
        if not self.env.context.get('carrier_recompute') and self._gelato_is_gelato_order():
            carrier = self.env['delivery.carrier'].search(
                [('delivery_type', '=', 'gelato'), ('gelato_shipping_service_type', '=', 'normal')],
                limit=1,
            )
            action.setdefault('context', {})['default_carrier_id'] = carrier.id
        return action

    def action_confirm(self):
        """Override of `sale` to check everything Gelato needs, then send the order to Gelato
        once the confirmation is committed (see `_gelato_enqueue`)."""
        gelato_orders = self.filtered(lambda o: o._gelato_is_gelato_order())
        problems, held = [], {}
        for order in gelato_orders:
            order_problems = order._gelato_readiness_problems()
            if order_problems and order._gelato_confirmed_by_customer():
                # The customer paid (webshop) or signed (portal): the order is confirmed whatever
                # happens and waits, with its problems, for the salesperson instead of being lost.
                held[order] = order_problems
                continue
            problems += [f"{order.name}: {p}" if len(gelato_orders) > 1 else p
                         for p in order_problems]
        if problems:
            raise ValidationError(
                self.env._("The order cannot be sent to Gelato yet:") + '\n- '
                + '\n- '.join(problems)
            )
        res = super().action_confirm()
        for order in gelato_orders:
            if warnings := order._gelato_print_warnings():
                order._gelato_note(Markup("%s<br/>%s") % (
                    self.env._("Printed as it is, but Gelato may put it on hold:"),
                    Markup("<br/>").join(warnings)))
            record = order._gelato_enqueue()
            if order in held:
                # Whoever confirmed (the shopper's payment, as the public user), the outbox is the
                # connector's: the order waits there, with why, for the salesperson.
                record.sudo()._gelato_needs_attention(
                    self.env._("The customer confirmed the order, but it cannot be sent to Gelato "
                               "yet. Fix it, then press \"Send to Gelato\"."),
                    held[order],
                )
        return res

    def action_gelato_send(self):
        """Send the order's waiting or refused Gelato orders again: "Send to Gelato"."""
        self.env['gelato.order']._gelato_check_can_act()
        self.check_access('write')
        records = self._gelato_active_orders().filtered(
            lambda o: o.state in ('pending', 'attention'))
        if not records:
            for order in self.filtered(lambda o: o.state == 'sale' and o._gelato_is_gelato_order()
                                       and not o._gelato_active_orders()):
                if problems := order._gelato_readiness_problems():
                    raise ValidationError('\n'.join(problems))
                records |= order._gelato_enqueue()
        return records.action_send_again()

    def action_gelato_refresh(self):
        """Ask Gelato for the sale's Gelato orders now and say what changed: "Ask Gelato now"."""
        self.env['gelato.order']._gelato_check_can_act(write=False)
        self.check_access('read')
        return self._gelato_active_orders().action_refresh()

    def action_view_gelato_orders(self):
        """Open the Gelato orders of the sale."""
        self.ensure_one()
        self.check_access('read')
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("Gelato Orders"),
            'res_model': 'gelato.order',
            'view_mode': 'list,form',
            'domain': [('sale_order_id', '=', self.id)],
            'context': {'create': False},
        }

    def action_view_gelato_events(self):
        """Open the Gelato events of the order."""
        self.ensure_one()
        self.check_access('read')
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("Gelato Events"),
            'res_model': 'gelato.event',
            'view_mode': 'list,form',
            'domain': [('sale_order_id', '=', self.id)],
            'context': {'create': False},
        }

    def _action_cancel(self):
        """Override of `sale` to cancel the sale's Gelato orders at Gelato, last.

        Who may cancel is checked before anything, and so is whether Gelato still cancels
        (production started: refused with why, no request). Odoo cancels the sale first: when
        it cannot, nothing was canceled at Gelato. Then Gelato is asked; when it refuses, the
        error rolls the whole cancellation back, so Odoo and Gelato agree either way. What
        Gelato's cancellation does to the sale follows from the Gelato order's status
        (`gelato.order._gelato_after_cancel`).
        """
        records = self._gelato_active_orders().filtered(lambda o: o.status != 'canceled')
        if self.env.context.get('gelato_remote_canceled') or not records:
            return super()._action_cancel()
        records._gelato_check_can_act()
        # The Gelato orders are the connector's: the user's right to change the sales was
        # checked above, and their status is written through the transition table.
        records_sudo = records.sudo()
        records_sudo._gelato_check_cancelable()
        res = super()._action_cancel()
        records_sudo._gelato_cancel_remote()
        return res

    def set_delivery_line(self, carrier, amount):
        """Override of `delivery` to fix the Gelato shipment method when the delivery method is
        set on the order (backend wizard, webshop, express checkout): what the user chose is
        what Gelato receives, whatever rates were shown before."""
        res = super().set_delivery_line(carrier, amount)
        for order in self:
            method = order._gelato_pick_shipment_method(carrier) \
                if carrier.delivery_type == 'gelato' else False
            if order.gelato_shipment_method_uid != method:
                order.gelato_shipment_method_uid = method
        return res

    def _remove_delivery_line(self):
        """Override of `delivery` to forget the Gelato shipment method with the delivery line."""
        res = super()._remove_delivery_line()
        self.filtered('gelato_shipment_method_uid').gelato_shipment_method_uid = False
        return res

    # === BUSINESS METHODS: CHECKS === #

    def _gelato_lines(self):
        return self.order_line.filtered(lambda line: line.product_id.gelato_product_uid)

    def _gelato_is_gelato_order(self):
        return bool(self._gelato_lines())

    def _gelato_address_problems(self):
        """Return what is missing in the shipping address for Gelato, as sentences."""
        self.ensure_one()
        partner = self.partner_shipping_id or self.partner_id
        problems = partner._gelato_address_rule_problems()
        missing = partner._gelato_missing_address_fields(email=self.partner_id.email)
        if missing:
            problems.append(self.env._(
                "The shipping address of %(partner)s lacks: %(fields)s.",
                partner=partner.display_name or self.env._("the customer"),
                fields=', '.join(missing)))
        return problems

    def _gelato_print_warnings(self):
        """What may print badly but does not stop the order (low resolution, another shape
        than the print area), one sentence per print image of its Gelato lines."""
        self.ensure_one()
        warnings = []
        for line in self._gelato_lines():
            warnings += line.product_id._gelato_print_file_warnings(line._gelato_print_images())
        return list(dict.fromkeys(warnings))

    def _gelato_currency_problem(self):
        """Say when the order's currency is not one Gelato takes, or return None."""
        self.ensure_one()
        if self.currency_id.name in const.GELATO_CURRENCIES:
            return None
        return self.env._(
            "Gelato does not take orders in %(currency)s: use a pricelist in one of its "
            "currencies (%(currencies)s).", currency=self.currency_id.name,
            currencies=', '.join(sorted(const.GELATO_CURRENCIES)))

    def _gelato_express_phone_problem(self, carrier=None):
        """Gelato needs the recipient's phone for express shipping (support.gelato.com, article
        8996062): say so, naming the field, when an express order's address has none.

        :param delivery.carrier carrier: The delivery method; default: the order's.
        :rtype: str | None
        """
        self.ensure_one()
        carrier = carrier or self.carrier_id
        if carrier.delivery_type != 'gelato' or carrier.gelato_shipping_service_type != 'express':
            return None
        if (self.partner_shipping_id.phone or '').strip():
            return None
        return self.env._(
            "Gelato needs the recipient's phone for Express Delivery: add a phone to %(partner)s "
            "(field Phone), or choose Standard Delivery.",
            partner=self.partner_shipping_id.display_name)

    def _gelato_shipping_problem(self):
        """Gelato ships the order by the method chosen, and priced, on it: say what to do when
        the order has no Gelato delivery line (a method nobody chose is never sent).

        :rtype: str | None
        """
        self.ensure_one()
        carrier = self.carrier_id
        if carrier.delivery_type == 'gelato' and self.order_line.filtered(
                lambda line: line.is_delivery and line.product_id == carrier.product_id):
            return None
        if carrier and carrier.delivery_type != 'gelato':
            return self.env._(
                "Gelato ships this order itself: replace the delivery method %(carrier)s with a "
                "Gelato one (button \"Update shipping cost\").", carrier=carrier.name)
        return self.env._(
            "Choose how Gelato ships the order: press \"Add shipping\" and pick a Gelato delivery "
            "method (Standard or Express), so that its price is on the order.")

    def _gelato_readiness_problems(self):
        """Return everything that stops the order from being sent to Gelato, all at once.

        :return: One sentence per problem; empty when the order can be sent.
        :rtype: list[str]
        """
        self.ensure_one()
        problems = self._gelato_address_problems()
        if problem := self._gelato_shipping_problem():
            problems.append(problem)
        if problem := self._gelato_express_phone_problem():
            problems.append(problem)
        if problem := self._gelato_currency_problem():
            problems.append(problem)
        company = self.company_id
        if not company.sudo().gelato_api_key and not company._gelato_is_neutralized():
            # A neutralized copy confirms orders as usual; its outbox keeps them (nothing is sent).
            problems.append(self.env._(
                "Gelato is not configured for %(company)s (API key missing in Sales settings).",
                company=self.company_id.name,
            ))
        region = utils.stock_region(self.partner_shipping_id.country_id.code)
        for line in self._gelato_lines():
            product = line.product_id
            qty = line.product_uom_qty
            if qty <= 0 or qty != int(qty):
                problems.append(self.env._(
                    "%(product)s: Gelato takes whole quantities of 1 or more (not %(qty)s).",
                    product=product.display_name, qty=qty,
                ))
            if problem := product._gelato_page_count_problem():
                problems.append(problem)
            images = line._gelato_print_images()
            problems += product._gelato_print_file_problems(images)
            problems += line._gelato_artwork_problems()
            for area in product._gelato_missing_print_areas(images):
                problems.append(self.env._(
                    "%(product)s: the print image for the area \"%(area)s\" is missing.",
                    product=product.display_name, area=area,
                ))
            if product._gelato_out_of_stock_in_region(region):
                problems.append(self.env._(
                    "%(product)s is out of stock at Gelato for the region %(region)s.",
                    product=product.display_name, region=region,
                ))
        return problems

    # === BUSINESS METHODS: CUSTOMER ARTWORK === #

    @api.depends('order_line.product_id')
    def _compute_gelato_is_personalized(self):
        for order in self:
            order.gelato_is_personalized = order._gelato_is_personalized()

    def _gelato_is_personalized(self):
        """Whether the order holds a product printed with the customer's own picture."""
        return bool(self._gelato_lines().filtered('gelato_personalized'))

    def _gelato_held_proofs(self):
        """The held Gelato orders of a personalised sale, which wait for the customer's
        approval of Gelato's proof (empty when there is nothing to approve)."""
        self.ensure_one()
        if not self._gelato_is_personalized():
            return self.env['gelato.order']
        return self.gelato_order_ids.sudo().filtered(
            lambda o: o.is_held and o.state == 'sent' and o.gelato_id)

    def _gelato_portal_proofs(self):
        """What the customer's order page shows of Gelato's proof: per Gelato line, the line,
        its print areas and files, and the preview Gelato rendered of its item.

        :rtype: list[dict]
        """
        self.ensure_one()
        items = self.gelato_order_ids.sudo().filtered(
            lambda o: o.state not in ('replaced', 'cancel')).item_ids
        proofs = []
        for line in self.sudo()._gelato_lines().filtered('gelato_personalized'):
            item = items.filtered(lambda i, ln=line: i.sale_line_id == ln)[-1:]
            proofs.append({
                'line': line, 'preview_url': item.preview_url or False,
                'areas': list(line._gelato_print_images()),
                'own': {image.name: image for image in line.gelato_image_ids},
            })
        return proofs

    def _gelato_customer_approve(self):
        """The customer approved Gelato's proof on their order page: the held orders are approved
        as by "Approve now". The caller checked the customer's access to the order.

        :raise UserError: When nothing waits for the customer's approval.
        """
        self.ensure_one()
        held = self._gelato_held_proofs().filtered(lambda o: not o.approve_at)
        if not held:
            raise UserError(self.env._("This order does not wait for your approval."))
        held._gelato_approve_soon(self.partner_id.name or self.env._("the customer"))
        return held

    def _gelato_store_artwork(self, product, area, data, filename, line=None):
        """Check a customer's picture for a print area of `product` and keep it: on `line`
        (replacing its file of the area), or on this cart until the product is added.

        The checks are those of the print images, with their messages: a file Gelato cannot
        print is refused (and not kept); a low resolution or another shape is kept with a
        warning.

        :param product.product product: The variant the picture is for.
        :param str area: The print area.
        :param bytes data: The file.
        :param str filename: Its name.
        :param sale.order.line line: The line whose file is replaced (None: a cart upload).
        :return: `id` of the stored file (None when refused), `error` and `warnings`.
        :rtype: dict
        """
        self.ensure_one()
        areas = product._gelato_print_images()
        if not product.product_tmpl_id.gelato_personalized or area not in areas:
            raise UserError(self.env._(
                "%(product)s takes no picture for \"%(area)s\".",
                product=product.display_name, area=area))
        if not data:
            return {'id': None, 'warnings': [], 'error': self.env._("The file is empty.")}
        if len(data) > const.ARTWORK_MAX_BYTES:
            return {'id': None, 'warnings': [], 'error': self.env._(
                "The file is larger than %s MB: export a smaller one.",
                const.ARTWORK_MAX_BYTES // (1024 * 1024))}
        Document = self.env['product.document'].sudo()
        values = {'name': area, 'is_gelato': True, 'datas': base64.b64encode(data),
                  'description': (filename or '')[:200]}
        if line:
            document = Document.create(dict(values, res_model='sale.order.line',
                                            res_id=line.id))
        else:
            document = Document.create(dict(values, res_model='sale.order', res_id=self.id))
        check = product._gelato_print_file_checks({area: document})[0]
        if check['result']['reason'] == 'error':
            error = document._gelato_file_problem()
            document.unlink()
            return {'id': None, 'warnings': [], 'error': self.env._(
                "This picture cannot be printed: %s", error)}
        warning = product._gelato_print_file_warning(check)
        if line:
            old = line.gelato_image_ids.filtered(lambda i: i.name == area) - document
            line._gelato_write_artwork([Command.delete(image.id) for image in old]
                                       + [Command.link(document.id)])
        return {'id': document.id, 'error': None,
                'warnings': [self.env._("The picture %s", warning)] if warning else []}

    def _gelato_cart_artwork(self, artwork_ids):
        """The customer's pictures uploaded to this cart (and not on a line yet) among the
        given ids."""
        self.ensure_one()
        ids = [int(i) for i in artwork_ids or () if str(i).isdigit()]
        return self.env['product.document'].sudo().search([
            ('id', 'in', ids), ('res_model', '=', 'sale.order'), ('res_id', '=', self.id),
            ('is_gelato', '=', True)])

    def _cart_add(self, product_id, quantity=1.0, *, uom_id=None, **kwargs):
        """Override of `website_sale`: a personalised product joins the cart with the shopper's
        pictures (uploaded first, `gelato_artwork_ids`), always as a line of its own."""
        artwork_ids = kwargs.pop('gelato_artwork_ids', None)
        product = self.env['product.product'].browse(product_id)
        if not product.product_tmpl_id.gelato_personalized:
            return super()._cart_add(product_id, quantity, uom_id=uom_id, **kwargs)
        artwork = self._gelato_cart_artwork(artwork_ids)
        areas = product._gelato_print_images()
        artwork = artwork.filtered(lambda image: image.name in areas)
        if not artwork:
            return {'added_qty': 0, 'line_id': False, 'quantity': 0, 'warning': self.env._(
                "Add your picture first: %s is printed with it.", product.display_name)}
        values = super()._cart_add(product_id, quantity, uom_id=uom_id, gelato_own_line=True,
                                   **kwargs)
        line = self.order_line.filtered(lambda ln: ln.id == values.get('line_id'))
        if line:
            line._gelato_write_artwork([Command.link(image.id) for image in artwork])
        return values

    def _cart_find_product_line(self, product_id, uom_id, linked_line_id=False,
                                no_variant_attribute_value_ids=None, **kwargs):
        """Override of `website_sale`: a line with a customer's pictures is never merged with
        another one."""
        if kwargs.get('gelato_own_line'):
            return self.env['sale.order.line']
        return super()._cart_find_product_line(
            product_id, uom_id, linked_line_id=linked_line_id,
            no_variant_attribute_value_ids=no_variant_attribute_value_ids, **kwargs)

    # === BUSINESS METHODS: WEBSHOP === #

    def _verify_updated_quantity(self, order_line, product_id, new_qty, uom_id, **kwargs):
        """Override of `website_sale` to refuse, with a message naming the product, what would
        make the cart impossible to fulfill: Gelato goods with other goods, or a variant out of
        stock at Gelato where the shopper is."""
        if not order_line and new_qty > 0:
            product = self.env['product.product'].browse(product_id)
            if refusal := self._gelato_cart_refusal(product):
                return 0, refusal
        return super()._verify_updated_quantity(order_line, product_id, new_qty, uom_id, **kwargs)

    def _gelato_cart_refusal(self, product):
        """Say why a product cannot join the cart, or return None when it can.

        :param product.product product: The product being added.
        :rtype: str | None
        """
        self.ensure_one()
        if product.type == 'service':
            return None
        goods = self._gelato_goods_lines()
        if product.gelato_product_uid and goods.filtered(
                lambda line: not line.product_id.gelato_product_uid):
            return self.env._(
                "%(product)s cannot be added to your cart: it is printed on demand and shipped "
                "separately from the other products in your cart. Please check out your current "
                "cart first, then order %(product)s on its own.",
                product=product.display_name,
            )
        if not product.gelato_product_uid and goods.filtered('product_id.gelato_product_uid'):
            return self.env._(
                "%(product)s cannot be added to your cart: your cart holds printed-on-demand "
                "products, which are shipped separately. Please check out your current cart "
                "first, then order %(product)s on its own.",
                product=product.display_name,
            )
        country = self._gelato_shopper_country()
        if country and product._gelato_out_of_stock_in(country):
            return self.env._(
                "%(product)s cannot be delivered to %(country)s at the moment (out of stock). "
                "Please choose another option or try again later.",
                product=product.display_name, country=country.name,
            )
        return None

    def _gelato_shopper_country(self):
        """The country the cart ships to: the shipping address's once the shopper gave one,
        else the visitor's (their account, or where the request comes from)."""
        self.ensure_one()
        anonymous = bool(self.website_id and request and getattr(request, 'website', None)
                         and self._is_anonymous_cart())
        if self.partner_shipping_id.country_id and not anonymous:
            return self.partner_shipping_id.country_id
        return self.env['product.template']._gelato_visitor_country()

    def _gelato_shop_payment_errors(self):
        """The errors that block the payment step of a Gelato cart, as `(title, message)`."""
        self.ensure_one()
        if not self._gelato_is_gelato_order():
            return []
        return [(self.env._("Sorry, this order cannot be printed and shipped yet."), problem)
                for problem in self._gelato_readiness_problems()]

    def _check_cart_is_ready_to_be_paid(self):
        """Override of `website_sale` to stop the payment of a Gelato cart that Gelato could not
        fulfill, saying why (a print image missing, out of stock for the address...)."""
        if self._gelato_is_gelato_order():
            if problems := self._gelato_readiness_problems():
                raise ValidationError('\n'.join(problems))
        return super()._check_cart_is_ready_to_be_paid()

    # === BUSINESS METHODS: PAYLOADS === #

    def _gelato_prepare_items_payload(self, quantities=None):
        """Return the order's Gelato lines as Gelato items, each mapped back to its line, with
        their print files (orders and quotes alike: "Files are required for printable
        products", docs/orders/v4/quote).

        :param dict quantities: sale line -> quantity, to send only those (a replacement);
                                default: every Gelato line, with its quantity.
        :rtype: list[dict]
        """
        items = []
        lines = self._gelato_lines() if quantities is None else \
            self._gelato_lines().filtered(lambda ln: ln in quantities)
        for line in lines:
            item = {
                'itemReferenceId': str(line.id),
                'productUid': line.product_id.gelato_product_uid,
                'quantity': int(line.product_uom_qty if quantities is None
                                else quantities[line]),
            }
            if page_count := line.product_id._gelato_page_count():
                item['pageCount'] = page_count
            item['files'] = [
                image._gelato_prepare_file_payload()
                for image in line._gelato_print_images().values() if image.file_size
            ]
            items.append(item)
        return items

    def _gelato_prepare_quote_payload(self):
        """Return the body of a `POST /v4/orders:quote` for the shipping rate."""
        self.ensure_one()
        return {
            'orderReferenceId': self.name,
            'customerReferenceId': f'odoo-partner-{self.partner_id.id}',
            'currency': self.currency_id.name,
            'allowMultipleQuotes': True,
            'recipient': self.partner_shipping_id._gelato_prepare_address_payload(
                email=self.partner_id.email),
            # The same print files as the order's: Gelato requires them for printable products
            # (docs/orders/v4/quote, ProductObject), and prices what it will print.
            'products': self._gelato_prepare_items_payload(),
        }

    def _gelato_prepare_order_payload(self, gelato_order):
        """Return the body of the `POST /v4/orders` that creates a Gelato order of the sale.

        :param gelato.order gelato_order: The record being sent (its reference and metadata).
        """
        self.ensure_one()
        payload = {
            'orderType': gelato_order._gelato_order_type(),
            'orderReferenceId': gelato_order.reference,
            'customerReferenceId': f'odoo-partner-{self.partner_id.id}',
            'currency': self.currency_id.name,
            'items': self._gelato_prepare_items_payload(
                quantities=gelato_order._gelato_item_quantities()),
            'shipmentMethodUid': gelato_order.shipment_method_uid or self._gelato_service_type(),
            'shippingAddress': self.partner_shipping_id._gelato_prepare_address_payload(
                email=self.partner_id.email),
            'metadata': gelato_order._gelato_metadata(),
        }
        if return_address := self.company_id.partner_id._gelato_prepare_return_address_payload(
                self.company_id):
            payload['returnAddress'] = return_address
        return payload

    def _gelato_service_type(self):
        """The Gelato service type of the order's delivery method, `normal` by default."""
        carrier = self.carrier_id
        return carrier.gelato_shipping_service_type if carrier.delivery_type == 'gelato' \
            else 'normal'

    def _gelato_convert_amount(self, amount, currency_code):
        """Convert an amount Gelato gave in `currency_code` to the order's currency."""
        currency = self.currency_id
        if not currency_code or currency_code == currency.name:
            return float(amount)
        source = self.env['res.currency']._gelato_from_code(currency_code)
        if not source:
            raise UserError(self.env._("Gelato priced in %s, a currency unknown to Odoo.",
                                       currency_code))
        return source._convert(float(amount), currency, self.company_id,
                               self.date_order or fields.Date.today())

    # === BUSINESS METHODS: SHIPPING QUOTE === #

    def _gelato_quote_key(self):
        """What a Gelato quote depends on: the shipping address, the goods and the currency."""
        self.ensure_one()
        payload = self._gelato_prepare_quote_payload()
        payload.pop('orderReferenceId')
        return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def _gelato_quote(self):
        """Return Gelato's shipping quotes for the order, asking Gelato at most once per cart
        content and shipping address for `QUOTE_CACHE_SECONDS`: one call serves both Gelato
        delivery methods.

        :return: Gelato's `quotes` list.
        :rtype: list[dict]
        :raise UserError: When Gelato refuses, cannot be reached, or sends no quote.
        """
        self.ensure_one()
        # Whoever may price the order may be quoted; the stored quote (Gelato's costs) is read
        # and kept as superuser (its fields are for salespeople only).
        order = self.sudo()
        key = order._gelato_quote_key()
        fresh_since = fields.Datetime.now() - timedelta(seconds=const.QUOTE_CACHE_SECONDS)
        if order.gelato_quote_key == key and order.gelato_quote_at and \
                order.gelato_quote_at >= fresh_since and isinstance(order.gelato_quote, list):
            return order.gelato_quote
        company = order.company_id
        if request and getattr(request, 'is_frontend', False):
            # A shopper waits for the price: a short wait in the shared request budget, ahead of
            # every other caller; past it, the last quote below, or a clear message.
            company = company.with_context(gelato_priority='checkout')
        try:
            answer = company._gelato_request(
                'order', 'POST', '/v4/orders:quote', json=order._gelato_prepare_quote_payload(),
                safe=True,
            )
        except GelatoError as error:
            # Gelato down or slowed: the last quote for the same goods and address keeps the
            # shopper's price (Gelato checks the method again when the order is created); a
            # refusal is Gelato's answer and is said.
            if error.transient and order.gelato_quote_key == key \
                    and isinstance(order.gelato_quote, list) and order.gelato_quote:
                _logger.info("Gelato quote of %s kept from %s: %s", order.name,
                             order.gelato_quote_at, error.reason)
                return order.gelato_quote
            if error.transient and company.env.context.get('gelato_priority') == 'checkout':
                # Said to a shopper: what to do, not how Odoo shares Gelato's allowance.
                _logger.info("Gelato quote of %s not available at checkout: %s", order.name,
                             error.reason)
                raise GelatoError(order.env._(
                    "Shipping prices cannot be fetched right now. Please try again in a "
                    "moment."), transient=True, reason=error.reason,
                    retry_after=error.retry_after) from None
            raise
        quotes = answer.get('quotes') if isinstance(answer, dict) else None
        if not isinstance(quotes, list) or not quotes or \
                not all(isinstance(q, dict) for q in quotes):
            raise UserError(order.env._("Gelato sent no shipping quote."))
        order.write({'gelato_quote_key': key, 'gelato_quote': quotes,
                    'gelato_quote_at': fields.Datetime.now()})
        return quotes

    def _gelato_pick_shipment_method(self, carrier):
        """Return the shipment method to send for a Gelato delivery method: the cheapest method
        of its type that Gelato quoted for this address and these goods when one production
        site ships everything, else the type itself (`normal`, `express`), with which Gelato
        picks the cheapest method of that type for each site.

        :param delivery.carrier carrier: A Gelato delivery method.
        :rtype: str
        """
        self.ensure_one()
        kind = carrier.gelato_shipping_service_type or 'normal'
        try:
            quotes = self._gelato_quote() if self._gelato_lines() else []
        except UserError:
            return kind
        if len(quotes) != 1:
            return kind
        methods = [m for m in quotes[0].get('shipmentMethods') or [] if isinstance(m, dict)
                   and m.get('type') in const.QUOTE_METHOD_TYPES[kind]
                   and isinstance(m.get('price'), (int, float))
                   and utils.clean_str(m.get('shipmentMethodUid'))]
        return min(methods, key=lambda m: m['price'])['shipmentMethodUid'] if methods else kind

    def _gelato_shipment_method_to_send(self):
        """The shipment method to send now: the one fixed when the delivery method was set, as
        long as the address and goods are those it was quoted for; otherwise Gelato is asked
        again for the address the order ships to."""
        self.ensure_one()
        carrier = self.carrier_id
        if carrier.delivery_type != 'gelato':
            return 'normal'
        method = self.gelato_shipment_method_uid
        if method and (method in ('normal', 'express') or
                       self.sudo().gelato_quote_key == self._gelato_quote_key()):
            return method
        method = self._gelato_pick_shipment_method(carrier)
        self.sudo().gelato_shipment_method_uid = method  # What the order ships with now.
        return method

    # === BUSINESS METHODS: GELATO ORDERS === #

    def _gelato_active_orders(self):
        """The sale's Gelato orders that count: neither replaced by a reorder nor canceled
        before being sent."""
        return self.gelato_order_ids.filtered(lambda o: o.state not in ('replaced', 'cancel'))

    def _gelato_enqueue(self):
        """Create the Gelato order of the sale, waiting in the outbox, and have it sent as soon
        as the transaction commits (by the outbox's scheduled action, woken now).

        Confirmation never waits for Gelato: if Gelato is down, the scheduled action retries.

        :return: The new records.
        :rtype: gelato.order
        """
        GelatoOrder = self.env['gelato.order'].sudo()
        records = GelatoOrder
        for order in self:
            records |= GelatoOrder.create({
                'sale_order_id': order.id,
                'reference': GelatoOrder._gelato_new_reference(order),
                'sale_line_ids': [fields.Command.set(order._gelato_lines().ids)],
                # The method itself is settled when the order is sent (it may need a new quote
                # when the address changed): nothing here calls Gelato.
                'shipment_method_name': order.carrier_id.name
                if order.carrier_id.delivery_type == 'gelato' else False,
                'state': 'pending',
                'next_attempt_at': fields.Datetime.now(),
                **GelatoOrder._gelato_hold_values(order),
            })
        if records:
            GelatoOrder._gelato_trigger_outbox()
        return records.sudo(False)

    def _gelato_apply_shipping_cost(self):
        """Set the Gelato delivery line's cost (`purchase_price`, hence Odoo's margin) to what
        Gelato charged for shipping and packaging, VAT excluded, over the sale's current Gelato
        orders, in the sale's currency: the sale's margin is then the real result of the order
        (what the customer pays minus everything Gelato charges), as each goods line's cost is
        Gelato's product price (`gelato.order._gelato_apply_item_costs`)."""
        self.ensure_one()
        line = self.order_line.filtered(
            lambda ln: ln.is_delivery and ln.product_id == self.carrier_id.product_id
            and self.carrier_id.delivery_type == 'gelato')[:1]
        charged = self._gelato_active_orders().filtered(
            lambda o: o.cost_currency_id and o.status != 'canceled')
        if not line or not charged:
            return
        date = self.date_order or fields.Date.today()
        cost = sum(o.cost_currency_id._convert(o.cost_shipping + o.cost_packaging,
                                                self.currency_id, self.company_id, date)
                   for o in charged)
        quantity = line.product_uom_qty or 1.0
        if self.currency_id.compare_amounts(line.purchase_price * quantity, cost):
            line.purchase_price = cost / quantity

    def _gelato_confirmed_by_customer(self):
        """Whether the customer confirms the order: paid online, or signed in the portal (an
        outside user in a web request), which nothing may refuse once done."""
        self.ensure_one()
        # The request's user, not the order's: the portal works on the order as the superuser
        # (`_document_check_access`) for a customer who is not even logged in.
        return self._gelato_is_paid() or bool(
            request and getattr(request, 'is_frontend', False)
            and not request.env.user._is_internal())

    def _gelato_is_paid(self):
        """Whether an online payment of the order went through (authorized or done)."""
        self.ensure_one()
        return any(tx.state in ('authorized', 'done') for tx in self.sudo().transaction_ids)

    def _gelato_responsible(self):
        """The person who looks after the sale's Gelato matters: its salesperson, else its
        sales team's leader, else the responsible chosen in the Gelato settings; never the
        public user nor OdooBot."""
        self.ensure_one()
        for user in (self.user_id, self.team_id.user_id,
                     self.company_id.sudo().gelato_responsible_id):
            if user and user.active and not user._is_public() and not user._is_superuser() \
                    and user._is_internal():
                return user
        return self.env['res.users']

    def _gelato_schedule_activity(self, note, summary=None):
        """Give the person responsible a to-do about this order (once per open to-do text).

        Gelato's words are text here, escaped: markup reads as text, a link is no link.

        :return: The to-do (the one already open for the same text, if any).
        :rtype: mail.activity
        """
        user = self._gelato_responsible()
        summary = summary or self.env._("Gelato needs attention")
        note = Markup("%s") % utils.plain_text(note)
        existing = self.activity_ids.filtered(
            lambda a: a.summary == summary and utils.plain_text(html2plaintext(a.note or ''))
            == utils.plain_text(html2plaintext(note)))
        if existing:
            return existing[:1]
        return self.activity_schedule(
            'mail.mail_activity_data_todo', summary=summary, note=note,
            user_id=user.id or self.env.ref('base.user_admin', raise_if_not_found=False).id,
        )

    def _gelato_note(self, text, reason=None):
        """Post an internal note on the order, Gelato's words escaped.

        The connector's notes are OdooBot's, whoever's action led to them (a shopper's payment,
        a salesperson's button, a webhook): posted as superuser, with OdooBot as author.
        """
        body = Markup("%s") % text
        if reason:
            body += Markup("<br/>%s") % self.env._("Gelato says: %s", utils.plain_text(reason))
        self.sudo().message_post(body=body, author_id=self.env.ref('base.partner_root').id)

    def _gelato_notify_customer(self, tracking=None, delivered=False, replacement=False):
        """Email the customer that the order ships (with its tracking links) or arrived; for a
        replacement, that the replacement is on its way."""
        template = self.env.ref('gelato_connector.mail_template_gelato_order_status',
                                raise_if_not_found=False)
        if not template:
            return
        self.with_context(
            gelato_tracking=[(code, utils.safe_url(url)) for code, url in tracking or []],
            gelato_delivered=delivered,
            gelato_replacement=replacement,
        ).message_post_with_source(
            template, message_type='comment', subtype_xmlid='mail.mt_comment',
            partner_ids=self.partner_id.ids,
            author_id=self.env.ref('base.partner_root').id,
        )

    def _gelato_all_tracking(self):
        """The `(code, url)` pairs of the sale's Gelato packages."""
        return [pair for order in self._gelato_active_orders() for pair in order._gelato_tracking()]

    def _gelato_portal_replacements(self):
        """The replacements the customer sees on their order page: `(status label, tracking)`
        of each replacement Gelato has not delivered yet."""
        self.ensure_one()
        labels = dict(const.ORDER_STATUSES)
        return [(labels.get(order.status, ''), order.reference)
                for order in self.sudo()._gelato_active_orders().filtered(
                    lambda o: o.claim_id and o.status != 'delivered')]

    def action_gelato_report_problem(self):
        """"Report a problem" on the sale: about its latest Gelato order Gelato shipped."""
        self.ensure_one()
        orders = self.gelato_order_ids.filtered(
            lambda o: o.state == 'sent' and o.status in const.CLAIMABLE_STATUSES
            and not o.claim_id)
        if not orders:
            raise UserError(self.env._(
                "A problem can be reported once Gelato has shipped the order."))
        return orders[:1].action_report_problem()

    def _gelato_portal_tracking(self):
        """The `(code, url)` tracking pairs shown to the customer: read as superuser (a portal
        user may see the order, not its Gelato records), and only web links are kept."""
        self.ensure_one()
        return [(code, utils.safe_url(url) if url else None)
                for code, url in self.sudo()._gelato_all_tracking()]
