# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import logging
from datetime import timedelta

from markupsafe import Markup

from odoo import api, fields, models, modules
from odoo.exceptions import UserError, ValidationError
from odoo.http import request

from odoo.addons.gelato_connector import const, utils
from odoo.addons.gelato_connector.exceptions import GelatoError

_logger = logging.getLogger(__name__)


class SaleOrder(models.Model):
    _name = 'sale.order'
    _inherit = ['sale.order', 'gelato.api.mixin']

    gelato_order_id = fields.Char(
        string="Gelato Order", copy=False, readonly=True, index='btree_not_null', tracking=True,
    )
    # Not tracked: every step would post a message. The notable steps (shipped, delivered,
    # canceled, failed, returned) post their own, and every event is in the Gelato event log.
    gelato_status = fields.Selection(
        string="Gelato Status", selection=const.ORDER_STATUSES, copy=False, readonly=True,
    )
    gelato_min_delivery_date = fields.Date(string="Gelato Delivery From", copy=False, readonly=True)
    gelato_max_delivery_date = fields.Date(
        string="Gelato Delivery Until", copy=False, readonly=True,
    )
    gelato_shipment_method_uid = fields.Char(
        string="Gelato Shipment Method", copy=False,
        help="The Gelato shipment method chosen when the shipping rate was computed.",
    )
    gelato_outbox_state = fields.Selection(
        string="Gelato Sending",
        selection=[
            ('pending', "Waiting to be sent"),
            ('sent', "Sent"),
            ('error', "Needs attention"),  # refused by Gelato, or not sendable as it is
        ],
        copy=False, readonly=True, index='btree_not_null',
    )
    gelato_send_attempts = fields.Integer(copy=False, readonly=True)
    gelato_next_attempt_at = fields.Datetime(string="Next Attempt", copy=False, readonly=True)
    gelato_last_error = fields.Text(string="Last Gelato Error", copy=False, readonly=True)
    gelato_last_update_at = fields.Datetime(
        string="Last Heard from Gelato", copy=False, readonly=True,
    )
    gelato_dashboard_url = fields.Char(
        string="Gelato Dashboard", compute='_compute_gelato_dashboard_url',
    )
    is_gelato_order = fields.Boolean(compute='_compute_is_gelato_order')
    gelato_event_count = fields.Integer(
        compute='_compute_gelato_event_count', groups='sales_team.group_sale_salesman',
    )

    # === COMPUTE METHODS === #

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
            if order_problems and order._gelato_is_paid():
                # The customer paid (webshop): the order is confirmed whatever happens and waits,
                # with its problems, for the salesperson instead of being lost.
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
        ready = gelato_orders.filtered(lambda o: o not in held)
        ready._gelato_enqueue()
        for order, order_problems in held.items():
            order._gelato_needs_attention(
                self.env._("The order is paid but cannot be sent to Gelato yet. Fix it, then "
                           "press \"Send to Gelato\"."),
                order_problems,
            )
        return res

    def action_gelato_send(self):
        """Send the order to Gelato again (after fixing what Gelato refused)."""
        for order in self:
            if order.gelato_order_id or order.state != 'sale':
                continue
            problems = order._gelato_readiness_problems()
            if problems:
                raise ValidationError('\n'.join(problems))
            order.write({
                'gelato_outbox_state': 'pending', 'gelato_next_attempt_at': fields.Datetime.now(),
                'gelato_send_attempts': 0,
            })
        self._gelato_send_pending()
        return True

    def action_gelato_refresh(self):
        """Ask Gelato for the order's state now and apply it."""
        self.filtered('gelato_order_id')._gelato_reconcile()
        return True

    def action_view_gelato_events(self):
        """Open the Gelato events of the order."""
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("Gelato Events"),
            'res_model': 'gelato.event',
            'view_mode': 'list,form',
            'domain': [('sale_order_id', '=', self.id)],
            'context': {'create': False},
        }

    def _action_cancel(self):
        """Override of `sale` to cancel the order on Gelato first.

        When Gelato refuses (production started), the cancellation stops with Gelato's reason.
        """
        for order in self.filtered(lambda o: o.gelato_order_id or o.gelato_outbox_state):
            order._gelato_cancel_remote()
        return super()._action_cancel()

    # === BUSINESS METHODS: CHECKS === #

    def _gelato_lines(self):
        return self.order_line.filtered(lambda line: line.product_id.gelato_product_uid)

    def _gelato_is_gelato_order(self):
        return bool(self._gelato_lines())

    def _gelato_address_problems(self):
        """Return what is missing in the shipping address for Gelato, as sentences."""
        self.ensure_one()
        partner = self.partner_shipping_id or self.partner_id
        missing = partner._gelato_missing_address_fields(email=self.partner_id.email)
        if not missing:
            return []
        return [self.env._(
            "The shipping address of %(partner)s lacks: %(fields)s.",
            partner=partner.display_name or self.env._("the customer"), fields=', '.join(missing),
        )]

    def _gelato_readiness_problems(self):
        """Return everything that stops the order from being sent to Gelato, all at once.

        :return: One sentence per problem; empty when the order can be sent.
        :rtype: list[str]
        """
        self.ensure_one()
        problems = self._gelato_address_problems()
        if not self.company_id.sudo().gelato_api_key:
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
            for area in product._gelato_missing_print_areas():
                problems.append(self.env._(
                    "%(product)s: the print image for the area \"%(area)s\" is missing.",
                    product=product.display_name, area=area,
                ))
            if product._gelato_availability_in(region) == 'out-of-stock':
                problems.append(self.env._(
                    "%(product)s is out of stock at Gelato for the region %(region)s.",
                    product=product.display_name, region=region,
                ))
        return problems

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
            if self.carrier_id and self.carrier_id.delivery_type != 'gelato':
                raise ValidationError(self.env._("Please choose a Gelato delivery method."))
        return super()._check_cart_is_ready_to_be_paid()

    # === BUSINESS METHODS: PAYLOADS === #

    def _gelato_reference(self):
        """The `orderReferenceId` Gelato keeps for the order: its reference in Odoo."""
        return self.name

    def _gelato_prepare_items_payload(self, with_files=True):
        """Return the order's Gelato lines as Gelato items, each mapped back to its line.

        :param bool with_files: Whether to include the print files (orders) or not (quotes).
        :rtype: list[dict]
        """
        items = []
        for line in self._gelato_lines():
            item = {
                'itemReferenceId': str(line.id),
                'productUid': line.product_id.gelato_product_uid,
                'quantity': int(line.product_uom_qty),
            }
            if with_files:
                item['files'] = [
                    image._gelato_prepare_file_payload()
                    for image in line.product_id._gelato_print_images().values() if image.datas
                ]
            items.append(item)
        return items

    def _gelato_prepare_quote_payload(self):
        """Return the body of a `POST /v4/orders:quote` for the shipping rate."""
        self.ensure_one()
        return {
            'orderReferenceId': self._gelato_reference(),
            'customerReferenceId': f'odoo-partner-{self.partner_id.id}',
            'currency': self.currency_id.name,
            'allowMultipleQuotes': True,
            'recipient': self.partner_shipping_id._gelato_prepare_address_payload(
                email=self.partner_id.email),
            'products': [
                {k: v for k, v in item.items()}
                for item in self._gelato_prepare_items_payload(with_files=False)
            ],
        }

    def _gelato_prepare_order_payload(self):
        """Return the body of the `POST /v4/orders` that creates the order on Gelato."""
        self.ensure_one()
        company_partner = self.company_id.partner_id
        payload = {
            'orderType': 'order',
            'orderReferenceId': self._gelato_reference(),
            'customerReferenceId': f'odoo-partner-{self.partner_id.id}',
            'currency': self.currency_id.name,
            'items': self._gelato_prepare_items_payload(),
            'shipmentMethodUid': self.gelato_shipment_method_uid or self._gelato_service_type(),
            'shippingAddress': self.partner_shipping_id._gelato_prepare_address_payload(
                email=self.partner_id.email),
        }
        if company_partner.street and company_partner.city and company_partner.country_id:
            limits = const.ADDRESS_LIMITS
            line1, line2 = utils.fit_address_lines(
                company_partner.street, company_partner.street2 or '', limits['addressLine1'])
            payload['returnAddress'] = {
                'companyName': (self.company_id.name or '')[:limits['companyName']],
                'addressLine1': line1,
                'addressLine2': line2[:limits['addressLine2']],
                'city': company_partner.city[:limits['city']],
                'postCode': (company_partner.zip or '')[:limits['postCode']],
                'state': company_partner.state_id.code or '',
                'country': company_partner.country_id.code,
                'email': company_partner.email or '',
                'phone': (company_partner.phone or '')[:limits['phone']],
            }
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
        source = self.env['res.currency'].with_context(active_test=False).search(
            [('name', '=', currency_code)], limit=1)
        if not source:
            raise UserError(self.env._("Gelato priced in %s, a currency unknown to Odoo.",
                                       currency_code))
        return source._convert(float(amount), currency, self.company_id,
                               self.date_order or fields.Date.today())

    # === BUSINESS METHODS: OUTBOX === #

    def _gelato_enqueue(self):
        """Put the orders in Gelato's outbox and send them right after the transaction commits.

        Confirmation never waits for Gelato: if Gelato is down, the scheduled action
        `ir_cron_gelato_outbox` sends the orders later.
        """
        if not self:
            return
        self.write({
            'gelato_outbox_state': 'pending', 'gelato_send_attempts': 0,
            'gelato_next_attempt_at': fields.Datetime.now(), 'gelato_last_error': False,
        })
        order_ids, dbname = self.ids, self.env.cr.dbname
        uid, context = self.env.uid, dict(self.env.context)

        def send_after_commit():
            # A new cursor: the confirmation's transaction is over.
            from odoo.modules.registry import Registry  # noqa: PLC0415
            with Registry(dbname).cursor() as cr:
                env = api.Environment(cr, uid, context)
                env['sale.order'].browse(order_ids)._gelato_send_pending()

        self.env.cr.postcommit.add(send_after_commit)

    @api.model
    def _cron_gelato_outbox(self, limit=50):
        """Send the orders waiting in the outbox whose next attempt is due."""
        orders = self.sudo().search([
            ('gelato_outbox_state', '=', 'pending'), ('state', '=', 'sale'),
            '|', ('gelato_next_attempt_at', '=', False),
            ('gelato_next_attempt_at', '<=', fields.Datetime.now()),
        ], limit=limit, order='gelato_next_attempt_at, id')
        orders._gelato_send_pending()

    def _gelato_send_pending(self):
        """Send each pending order to Gelato, one order per transaction when not under test.

        Each order is locked first (`FOR UPDATE SKIP LOCKED`): two workers never send the same
        order at the same time, and the one that finds it locked moves on.
        """
        auto_commit = not modules.module.current_test
        # The lock below reads the database: what was just written must be there.
        self.env['sale.order'].flush_model(['gelato_outbox_state'])
        for order in self:
            self.env.cr.execute(
                "SELECT id FROM sale_order WHERE id = %s AND gelato_outbox_state = 'pending' "
                "FOR UPDATE SKIP LOCKED", (order.id,),
            )
            if not self.env.cr.fetchone():
                continue
            order.invalidate_recordset()
            order._gelato_send_one()
            if auto_commit:
                self.env.cr.commit()

    def _gelato_send_one(self):
        """Create the order on Gelato, unless Gelato already has it.

        Gelato is searched for the order's reference before anything is created, so that an
        order created by an attempt whose answer was lost (a crash, a timeout) is adopted rather
        than created twice.
        """
        self.ensure_one()
        self.gelato_send_attempts += 1
        try:
            gelato_id = self._gelato_find_remote_order()
            if not gelato_id:
                answer = self._gelato_request(
                    'order', 'POST', '/v4/orders', json=self._gelato_prepare_order_payload(),
                    company=self.company_id, safe=False,
                )
                gelato_id = answer.get('id') if isinstance(answer, dict) else None
                if not isinstance(gelato_id, str) or not gelato_id:
                    raise GelatoError(self.env._(
                        "Gelato accepted the order but sent no order id; it will be looked up "
                        "by its reference at the next attempt."), transient=True)
                self._gelato_apply_remote_order(answer)
        except GelatoError as error:
            self._gelato_record_failure(error)
            return False
        except UserError as error:  # The order cannot be expressed for Gelato (address...).
            self._gelato_record_failure(GelatoError(error.args[0]))
            return False
        self.write({
            'gelato_order_id': gelato_id, 'gelato_outbox_state': 'sent',
            'gelato_last_error': False, 'gelato_next_attempt_at': False,
            'gelato_last_update_at': fields.Datetime.now(),
        })
        if not self.gelato_status:
            self.gelato_status = 'created'
        self.message_post(
            body=Markup("%s") % self.env._("The order was sent to Gelato (order %s).", gelato_id),
            author_id=self.env.ref('base.partner_root').id,
        )
        return True

    def _gelato_find_remote_order(self):
        """Return the id of the Gelato order carrying this order's reference, if any."""
        answer = self._gelato_request(
            'order', 'POST', '/v4/orders:search', company=self.company_id, safe=True,
            json={'orderReferenceIds': [self._gelato_reference()], 'limit': 5},
        )
        for remote in (answer.get('orders') or []) if isinstance(answer, dict) else []:
            if isinstance(remote, dict) and remote.get('orderReferenceId') == \
                    self._gelato_reference() and isinstance(remote.get('id'), str) \
                    and remote.get('fulfillmentStatus') != 'canceled':
                return remote['id']
        return None

    def _gelato_record_failure(self, error):
        """Keep the error on the order and plan the next attempt.

        Transient errors (Gelato down, 429, 5xx, an unreadable answer) are retried with backoff;
        after `OUTBOX_ALERT_ATTEMPTS` failures the salesperson gets an activity. Validation
        errors (4xx) wait for someone to fix the order and press "Send to Gelato".
        """
        message = str(error.args[0] if error.args else error)
        if error.transient:
            delay = const.OUTBOX_BACKOFF_MINUTES[
                min(self.gelato_send_attempts, len(const.OUTBOX_BACKOFF_MINUTES)) - 1]
            self.write({
                'gelato_outbox_state': 'pending', 'gelato_last_error': message,
                'gelato_next_attempt_at': fields.Datetime.now() + timedelta(minutes=delay),
            })
            if self.gelato_send_attempts == const.OUTBOX_ALERT_ATTEMPTS:
                self._gelato_schedule_activity(self.env._(
                    "Gelato could not be reached %(count)s times for this order; it is still "
                    "retried automatically. Last error: %(error)s",
                    count=self.gelato_send_attempts, error=message,
                ))
            return
        self._gelato_needs_attention(
            self.env._("Gelato refused the order. Fix it, then press \"Send to Gelato\"."),
            [message],
        )

    def _gelato_is_paid(self):
        """Whether an online payment of the order went through (authorized or done)."""
        self.ensure_one()
        return any(tx.state in ('authorized', 'done') for tx in self.sudo().transaction_ids)

    def _gelato_needs_attention(self, heading, problems):
        """Keep an order that cannot go to Gelato as it is, with why, for the salesperson: the
        order says so, the chatter has a note and the salesperson a to-do. Once fixed, "Send to
        Gelato" sends it.

        :param str heading: What happened and what to do.
        :param list[str] problems: The reasons, one sentence each.
        """
        message = '\n'.join(problems)
        self.write({
            'gelato_outbox_state': 'error', 'gelato_last_error': message,
            'gelato_next_attempt_at': False,
        })
        self.message_post(
            body=Markup("%s<br/>%s") % (heading, Markup("<br/>").join(problems)),
            author_id=self.env.ref('base.partner_root').id,
        )
        self._gelato_schedule_activity(message)

    def _gelato_schedule_activity(self, note):
        """Give the salesperson (or the current user) a to-do about this order."""
        self.activity_schedule(
            'mail.mail_activity_data_todo',
            summary=self.env._("Gelato needs attention"),
            note=note,
            user_id=(self.user_id or self.env.user).id,
        )

    def _gelato_apply_remote_order(self, remote):
        """Apply what an order object returned by Gelato says (status, delivery estimate)."""
        if not isinstance(remote, dict):
            return
        status = remote.get('fulfillmentStatus')
        if status:
            self._gelato_apply_status(status)
        shipment = remote.get('shipment') if isinstance(remote.get('shipment'), dict) else {}
        self._gelato_apply_delivery_estimate(
            shipment.get('minDeliveryDate'), shipment.get('maxDeliveryDate'), notify=False)

    # === BUSINESS METHODS: STATUS === #

    def _gelato_apply_status(self, status, tracking=None, reason=None):
        """Move the order to a Gelato status, never backwards.

        :param str status: Gelato's fulfillment status.
        :param list tracking: `(code, url)` pairs of the shipment, when Gelato gave them.
        :param str reason: Gelato's comment, for failures.
        :return: Whether the order changed.
        :rtype: bool
        """
        self.ensure_one()
        if status not in const.STATUS_RANK:
            return False
        if self.gelato_status and const.STATUS_RANK[status] <= \
                const.STATUS_RANK.get(self.gelato_status, 0):
            return False
        previous = self.gelato_status
        self.write({'gelato_status': status, 'gelato_last_update_at': fields.Datetime.now()})
        handler = getattr(self, f'_gelato_on_{status}', None)
        if handler:
            handler(tracking=tracking or [], reason=reason, previous=previous)
        return True

    def _gelato_on_shipped(self, tracking, reason=None, previous=None):
        self._gelato_pickings()._gelato_mark_shipped(tracking)
        if const.STATUS_RANK.get(previous, 0) < const.STATUS_RANK['shipped']:
            self._gelato_note(self.env._("Gelato shipped the order."))
            self._gelato_notify_customer(tracking=self._gelato_all_tracking() or tracking)

    _gelato_on_in_transit = _gelato_on_shipped

    def _gelato_on_delivered(self, tracking, reason=None, previous=None):
        self._gelato_pickings()._gelato_mark_shipped(tracking)
        self._gelato_note(self.env._("Gelato delivered the order."))
        self._gelato_notify_customer(delivered=True)

    def _gelato_on_canceled(self, tracking, reason=None, previous=None):
        self.with_context(gelato_remote_canceled=True)._action_cancel()
        self._gelato_note(self.env._("Gelato canceled the order."), reason)

    def _gelato_on_failed(self, tracking, reason=None, previous=None):
        self._gelato_note(self.env._("Gelato could not fulfill the order."), reason)
        self._gelato_schedule_activity(reason or self.env._("Gelato reported the order failed."))

    def _gelato_on_returned(self, tracking, reason=None, previous=None):
        self._gelato_note(self.env._("Gelato reported the order as returned."), reason)
        self._gelato_schedule_activity(reason or self.env._("The parcel was returned to Gelato."))

    def _gelato_notify_customer(self, tracking=None, delivered=False):
        """Email the customer that the order ships (with its tracking links) or arrived."""
        template = self.env.ref('gelato_connector.mail_template_gelato_order_status',
                                raise_if_not_found=False)
        if not template:
            return
        self.with_context(
            gelato_tracking=[(code, utils.safe_url(url)) for code, url in tracking or []],
            gelato_delivered=delivered,
        ).message_post_with_source(
            template, message_type='comment', subtype_xmlid='mail.mt_comment',
            partner_ids=self.partner_id.ids,
            author_id=self.env.ref('base.partner_root').id,
        )

    def _gelato_all_tracking(self):
        """The `(code, url)` pairs kept on the order's Gelato pickings."""
        pairs = []
        for picking in self.picking_ids.filtered(lambda p: p.location_id.usage == 'supplier'):
            codes = [c for c in (picking.carrier_tracking_ref or '').split(',') if c]
            urls = (picking.gelato_tracking_urls or '').split()
            pairs += [(code, urls[i] if i < len(urls) else None) for i, code in enumerate(codes)]
        return pairs

    def _gelato_portal_tracking(self):
        """The `(code, url)` tracking pairs shown to the customer: the order's own pickings are
        read as superuser (a portal user may see the order, not its pickings), and only web
        links are kept."""
        self.ensure_one()
        return [(code, utils.safe_url(url) if url else None)
                for code, url in self.sudo()._gelato_all_tracking()]

    def _gelato_line_for_item(self, item_reference):
        """Return the order line a Gelato item maps back to (its itemReferenceId is the line
        id), or an empty recordset."""
        line_id = utils.record_id(item_reference)
        return self.order_line.filtered(lambda line: line.id == line_id)[:1] if line_id \
            else self.env['sale.order.line']

    def _gelato_note(self, text, reason=None):
        body = Markup("%s") % text
        if reason:
            body += Markup("<br/>%s") % self.env._("Gelato says: %s", reason)
        self.message_post(body=body, author_id=self.env.ref('base.partner_root').id)

    def _gelato_apply_delivery_estimate(self, min_date, max_date, notify=True):
        """Keep Gelato's delivery estimate; note it when it moves later."""
        self.ensure_one()
        new_min = utils.parse_date(min_date)
        new_max = utils.parse_date(max_date)
        if not new_min and not new_max:
            return False
        old_max = self.gelato_max_delivery_date
        values = {}
        if new_min and new_min != self.gelato_min_delivery_date:
            values['gelato_min_delivery_date'] = new_min
        if new_max and new_max != self.gelato_max_delivery_date:
            values['gelato_max_delivery_date'] = new_max
        if not values:
            return False
        self.write(values)
        if notify and old_max and new_max and new_max > old_max:
            self._gelato_note(self.env._(
                "Gelato moved the expected delivery later: now between %(start)s and %(end)s.",
                start=self.gelato_min_delivery_date or '?', end=self.gelato_max_delivery_date,
            ))
        return True

    def _gelato_pickings(self):
        """The outgoing pickings that carry the order's Gelato goods."""
        return self.picking_ids.filtered(
            lambda p: p.location_id.usage == 'supplier' and p.state not in ('done', 'cancel')
            and any(p.move_ids.product_id.mapped('gelato_product_uid'))
        )

    def _gelato_cancel_remote(self):
        """Cancel the order on Gelato before cancelling it in Odoo.

        :raise UserError: With Gelato's reason when it refuses (production started), or when
                          Gelato cannot be reached.
        """
        self.ensure_one()
        if self.env.context.get('gelato_remote_canceled'):
            return
        if not self.gelato_order_id and self.gelato_outbox_state in ('pending', 'error'):
            # Not on Gelato yet, unless a lost answer created it: look before forgetting it.
            self.env.cr.execute(
                "SELECT id FROM sale_order WHERE id = %s FOR UPDATE NOWAIT", (self.id,))
            self.gelato_order_id = self._gelato_find_remote_order() or False
            self.gelato_outbox_state = False
            if not self.gelato_order_id:
                return
        if self.gelato_status == 'canceled':
            return
        try:
            if self.gelato_status == 'draft':
                self._gelato_request('order', 'DELETE', f'/v4/orders/{self.gelato_order_id}',
                                     company=self.company_id)
            else:
                self._gelato_request('order', 'POST', f'/v4/orders/{self.gelato_order_id}:cancel',
                                     company=self.company_id, safe=True)
        except GelatoError as error:
            raise UserError(self.env._(
                "Gelato did not cancel the order %(order)s, so it stays confirmed.\n%(reason)s",
                order=self.name, reason=error.args[0],
            )) from None
        self.gelato_status = 'canceled'
        self._gelato_note(self.env._("The order was canceled on Gelato."))

    # === BUSINESS METHODS: RECONCILIATION === #

    @api.model
    def _cron_gelato_reconcile(self, limit=100):
        """Ask Gelato for the state of open orders that have heard nothing for a while."""
        quiet_since = fields.Datetime.now() - timedelta(hours=const.RECONCILE_AFTER_HOURS)
        orders = self.sudo().search([
            ('gelato_order_id', '!=', False),
            ('gelato_status', 'not in', const.FINAL_STATUSES),
            '|', ('gelato_last_update_at', '=', False),
            ('gelato_last_update_at', '<', quiet_since),
        ], limit=limit, order='gelato_last_update_at, id')
        orders._gelato_reconcile()

    def _gelato_reconcile(self):
        """Fetch each order from Gelato and apply its state as the webhook would."""
        for order in self:
            try:
                remote = order._gelato_request(
                    'order', 'GET', f'/v4/orders/{order.gelato_order_id}', company=order.company_id)
            except GelatoError as error:
                _logger.info("Reconciliation of %s skipped: %s", order.name, error.args[0])
                continue
            order._gelato_apply_remote_tracking(remote)
            order.gelato_last_update_at = fields.Datetime.now()

    def _gelato_apply_remote_tracking(self, remote):
        """Apply a Gelato order object, tracking codes included."""
        if not isinstance(remote, dict):
            return
        tracking = utils.extract_tracking(remote.get('items'))
        status = remote.get('fulfillmentStatus')
        if isinstance(status, str):
            self._gelato_apply_status(status, tracking=tracking)
        shipment = remote.get('shipment') if isinstance(remote.get('shipment'), dict) else {}
        self._gelato_apply_delivery_estimate(
            shipment.get('minDeliveryDate'), shipment.get('maxDeliveryDate'))
