# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import json
import logging
from datetime import timedelta

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools import SQL

from odoo.addons.gelato_connector import batch, const, utils

_logger = logging.getLogger(__name__)


class GelatoEvent(models.Model):
    """One webhook delivery from Gelato: what it said, what it concerns, what became of it.

    An event id is processed once per company: a later delivery of the same id is recorded as
    a duplicate and changes nothing else.
    """
    _name = 'gelato.event'
    _description = "Gelato Webhook Event"
    _order = 'id desc'
    _rec_name = 'event_id'

    company_id = fields.Many2one('res.company', required=True, readonly=True, index=True)
    event_id = fields.Char(string="Event ID", required=True, readonly=True)
    event_type = fields.Char(string="Event", required=True, readonly=True, index=True)
    payload = fields.Text(readonly=True, help="The body Gelato sent, as received.")
    state = fields.Selection(
        selection=[
            ('received', "Received"),
            ('processed', "Processed"),
            ('ignored', "Ignored"),
            ('failed', "Failed"),
            ('duplicate', "Duplicate"),
        ],
        required=True, default='received', readonly=True, index=True,
    )
    error = fields.Text(readonly=True)
    summary = fields.Char(
        string="Carried", readonly=True,
        help="What the event carried: the status, tracking code, estimate or object it is about.",
    )
    payload_pretty = fields.Text(string="Payload (formatted)", compute='_compute_payload_pretty')
    event_label = fields.Char(string="Event Type", compute='_compute_event_label',
                              help="Gelato's event, in words (its name is in Event).")
    sale_order_id = fields.Many2one(
        'sale.order', string="Sales Order", readonly=True, index='btree_not_null',
        ondelete='set null',
    )
    product_tmpl_ids = fields.Many2many(
        'product.template', string="Products", readonly=True,
    )
    # Gelato's id of the order the event names, as text (`order_id` is the record it leads to).
    remote_order_id = fields.Char(string="Gelato Order ID", readonly=True)
    order_id = fields.Many2one(
        'gelato.order', string="Gelato Order", readonly=True, index='btree_not_null',
        ondelete='set null',
    )
    attempts = fields.Integer(readonly=True, default=0)
    next_retry_at = fields.Datetime(string="Next Retry", readonly=True)
    processed_at = fields.Datetime(readonly=True)

    # Gelato's own examples give one id to events of different types (docs/webhooks/): an event
    # is a type and an id.
    _event_type_unique = models.UniqueIndex(
        "(company_id, event_type, event_id) WHERE state != 'duplicate'",
        "Gelato delivers each event once per company.",
    )

    # === COMPUTE METHODS === #

    @api.depends('payload')
    def _compute_payload_pretty(self):
        for event in self:
            event.payload_pretty = event._gelato_pretty_payload()

    @api.depends('event_type')
    def _compute_event_label(self):
        for event in self:
            name = event.event_type or ''
            event.event_label = const.EVENT_LABELS.get(name) or name.replace('_', ' ').capitalize()

    # === ACTION METHODS === #

    def action_process_again(self):
        """Process failed (or ignored) events again: the "Process again" button, for sales
        administrators.

        Events are records people read, never edit (no one has write access): what an event
        says is Gelato's, and its company is the one whose webhook secret it carried.

        :raise AccessError: When the user is not a sales administrator of the events' company.
        """
        if not self.env.su and not self.env.user.has_group('sales_team.group_sale_manager'):
            raise AccessError(self.env._("Only sales administrators can process Gelato events "
                                         "again."))
        self.check_access('read')
        # Processing writes the event and what it is about, as the webhook does (OdooBot): the
        # user's right to read these events, in their companies, was checked above.
        self.sudo().filtered(lambda e: e.state in ('failed', 'ignored'))._gelato_process()
        return True

    def action_view_payload(self):
        """Show the payload nicely indented."""
        self.ensure_one()
        return utils.notification('info', self.event_type, self._gelato_pretty_payload(),
                                  sticky=True)

    # === BUSINESS METHODS: RECEPTION === #

    @api.model
    def _gelato_receive(self, company, payload, raw):
        """Store an authenticated delivery and process it, once per event id, in the request's
        transaction, which does nothing else.

        The common case costs two statements (one delivery is one webhook request, which
        Gelato waits for): the event is inserted, already marked as processed, by the statement
        that reads the order it is about (`_gelato_insert`); then the handler's changes are
        flushed. The event is written again only when the outcome differs (ignored, or an order
        found or adopted by the handler). The insert is `ON CONFLICT DO NOTHING` on the unique
        index: when two workers receive the same event at the same moment, the second waits for
        the first and then records a duplicate, before processing anything. No savepoint: when
        processing fails, the transaction is rolled back (what the handler did, and the event's
        row) and the event is recorded as failed, to be retried; Gelato still gets its 2xx.

        :param res.company company: The company whose webhook secret matched.
        :param dict payload: The decoded body, a dict with `id` and `event`.
        :param str raw: The body as received.
        :return: The event's state after processing.
        :rtype: str
        """
        # What a sender may put in a payload, PostgreSQL may refuse: JSON escapes carry NUL and
        # lone surrogates. The body is kept as received (its escapes are plain text); the
        # identifiers lose their control characters; the values processed are made storable.
        event_id = utils.clean_identifier(payload.get('id')) or '-'
        event_type = utils.clean_identifier(payload.get('event')) or '-'
        payload, raw = utils.storable_json(payload), utils.storable(raw)
        identity = {'company_id': company.id, 'event_id': event_id, 'event_type': event_type,
                    'payload': raw}
        expected = {'state': 'processed', 'attempts': 1, 'processed_at': fields.Datetime.now(),
                    'summary': self._gelato_summary(payload), 'error': False}
        gelato_id = utils.gelato_id(payload.get('orderId')) \
            if event_type in const.ORDER_EVENTS else None
        event, order = self._gelato_insert(identity, expected, gelato_id)
        if not event:
            return self._gelato_record_duplicate(identity)
        found = {'remote_order_id': gelato_id, 'order_id': order.id,
                 'sale_order_id': order.sale_order_id.id} if order else {}
        expected.update(found)
        try:
            outcome = event.with_company(company)._gelato_dispatch(payload, found)
            # Flushed here, as this event's user (OdooBot for webhooks): what the processing
            # recomputed (a validated delivery's state...) is written by it, not by the
            # request's public user.
            event.env.flush_all()
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            # Another transaction changed the same order meanwhile: not a failure of the event.
            # Odoo replays the whole request.
            raise
        except Exception as error:  # noqa: BLE001 - any failure is kept on the event
            self.env.cr.rollback()  # the handler's changes go, the event's row with them
            expected.update(self._gelato_failure_values(event_id, event_type, error, 1))
            event, _order = self._gelato_insert(identity, expected, gelato_id)
            if not event:  # another worker took the event meanwhile
                return self._gelato_record_duplicate(identity)
            return 'failed'
        values = {'state': outcome or 'processed', **found}
        changed = {key: value for key, value in values.items() if expected.get(key) != value}
        if changed:
            event.write(changed)
        return values['state']

    @api.model
    def _gelato_insert(self, identity, values, gelato_id=None):
        """Insert a delivery, unless the event is already stored (the unique index); read, in
        the same statement, the company's Gelato order `gelato_id` names, and link the event to
        it.

        One statement where a `search_fetch` and an insert would be two: each delivery is a
        request Gelato waits for (the webhook's latency target). What is read of the order is
        what `gelato.order._gelato_find` fetches (`_GELATO_EVENT_FIELDS`), put in the cache as
        its `search_fetch` would.

        :param dict identity: company_id, event_id, event_type, payload.
        :param dict values: The other columns: state, attempts, processed_at, summary, error,
                            next_retry_at (order_id, sale_order_id, remote_order_id are the
                            order's).
        :param str gelato_id: The event's `orderId`, for an order event.
        :return: The event, or an empty recordset when it is a duplicate; and the order.
        :rtype: tuple[gelato.event, gelato.order]
        """
        Order = self.env['gelato.order']
        columns = {**identity, **{key: values[key] for key in (
            'state', 'attempts', 'processed_at', 'summary', 'error', 'next_retry_at')
            if key in values}}
        names = list(columns)
        read = ['id', *Order._GELATO_EVENT_FIELDS]
        self.env.cr.execute(SQL(
            """WITH known AS (
                   SELECT %(read)s FROM gelato_order
                    WHERE company_id = %(company)s AND gelato_id = %(gelato_id)s LIMIT 1
               ), inserted AS (
                   INSERT INTO gelato_event (%(names)s, order_id, sale_order_id, remote_order_id,
                                             create_uid, write_uid, create_date, write_date)
                   SELECT %(values)s, known.id, known.sale_order_id, known.gelato_id,
                          %(uid)s, %(uid)s, now() at time zone 'UTC', now() at time zone 'UTC'
                     FROM (SELECT 1) AS one LEFT JOIN known ON TRUE
                   ON CONFLICT (company_id, event_type, event_id) WHERE state != 'duplicate'
                   DO NOTHING
                   RETURNING id
               )
               SELECT inserted.id, known.* FROM inserted LEFT JOIN known ON TRUE""",
            read=SQL(', ').join(SQL.identifier(name) for name in read),
            company=identity['company_id'], gelato_id=gelato_id,
            names=SQL(', ').join(SQL.identifier(name) for name in names),
            values=SQL(', ').join(None if columns[name] is False else columns[name]
                                  for name in names),
            uid=self.env.uid,
        ), log_exceptions=False)
        # Not logged as a bad query: a serialization failure here means another worker
        # committed the same event meanwhile, and Odoo retries the request, which then records
        # a duplicate.
        row = self.env.cr.fetchone()
        if not row:
            return self.browse(), Order
        event = self.browse(row[0])
        # What was just inserted, and read, is known: no need to read it back.
        event._update_cache({key: columns.get(key, False) for key in (
            'company_id', 'event_id', 'event_type', 'state', 'attempts')})
        order = Order.browse(row[1]) if row[1] else Order
        if order:
            order._update_cache(dict(zip(read[1:], row[2:], strict=True)), validate=False)
        return event, order

    @api.model
    def _gelato_record_duplicate(self, identity):
        self.create({
            'company_id': identity['company_id'], 'event_id': identity['event_id'],
            'event_type': identity['event_type'], 'state': 'duplicate',
            'processed_at': fields.Datetime.now(),
        })
        return 'duplicate'

    @api.model
    def _gelato_failure_values(self, event_id, event_type, error, attempts):
        """Log a failed processing; return what the event keeps of it, with its next retry."""
        _logger.warning("Gelato event %s (%s) failed: %s", event_id, event_type, error,
                        exc_info=not isinstance(error, UserError))
        delay = const.EVENT_RETRY_MINUTES[min(attempts, len(const.EVENT_RETRY_MINUTES)) - 1]
        return {
            'state': 'failed', 'error': str(error)[:2000] or type(error).__name__,
            'next_retry_at': fields.Datetime.now() + timedelta(minutes=delay)
            if attempts < const.EVENT_MAX_ATTEMPTS else False,
        }

    def _gelato_process(self, payload=None):
        """Process the events again (retries, *Process again*), each in a savepoint, and record
        the outcome.

        :param dict payload: The decoded body, when the caller already has it.
        """
        for event in self:
            data = payload if payload is not None else event._gelato_load_payload()
            event = event.with_company(event.company_id)
            values = {'attempts': event.attempts + 1, 'processed_at': fields.Datetime.now(),
                      'summary': event._gelato_summary(data)}
            # What the handlers find (order, products, why ignored) is written once, at the end.
            found = {}
            try:
                with self.env.cr.savepoint():
                    outcome = event._gelato_dispatch(data, found)
                    # Flushed here, as this event's user (OdooBot for webhooks): what the
                    # processing recomputed is written by it.
                    event.env.flush_all()
                values.update(state=outcome or 'processed', error=False, next_retry_at=False)
                values.update(found)
            except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
                # Another transaction changed the same order meanwhile: not a failure of the
                # event. The scheduled action runs again.
                raise
            except Exception as error:  # noqa: BLE001 - any failure is kept on the event
                values.update(event._gelato_failure_values(
                    event.event_id, event.event_type, error, values['attempts']))
            event.write(values)

    def _gelato_load_payload(self):
        """Return the stored payload decoded as when it was received, its values storable."""
        try:
            data = utils.storable_json(utils.loads_json(self.payload or '{}'))
        except (ValueError, RecursionError):
            data = {}
        return data if isinstance(data, dict) else {}

    @api.model
    def _gelato_summary(self, data):
        """One line saying what a payload carried, for the event list.

        :param dict data: The decoded payload.
        :rtype: str | False
        """
        if not isinstance(data, dict):
            return False
        get = utils.clean_str
        if get(data.get('trackingCode')):
            text = f"{get(data.get('itemReferenceId')) or '?'}: {get(data.get('trackingCode'))}"
        elif get(data.get('status')) and get(data.get('itemReferenceId')):
            text = f"{get(data.get('itemReferenceId'))}: {get(data.get('status'))}"
        elif get(data.get('fulfillmentStatus')):
            text = get(data.get('fulfillmentStatus'))
        elif data.get('minDeliveryDate') or data.get('maxDeliveryDate'):
            dates = (get(data.get('minDeliveryDate')), get(data.get('maxDeliveryDate')))
            text = f"{dates[0] or '?'} – {dates[1] or '?'}"
        elif isinstance(data.get('productsAvailability') or data.get('productAvailability'), list):
            entries = data.get('productsAvailability') or data.get('productAvailability')
            text = self.env._("%s product(s)", len(entries))
        else:
            text = get(data.get('storeProductTemplateId')) or get(data.get('storeProductId'))
        return (text or '')[:120] or False

    def _gelato_pretty_payload(self):
        return json.dumps(self._gelato_load_payload(), indent=2, ensure_ascii=False)

    def _gelato_dispatch(self, data, found):
        """Hand the event over to its handler.

        :return: `ignored` when the event concerns nothing Odoo knows, else None.
        """
        handler = const.EVENT_HANDLERS.get(self.event_type)
        if not handler:
            return self._gelato_ignore(
                self.env._("Odoo does not handle the event %s.", self.event_type), found)
        return getattr(self, handler)(data, found)

    # === BUSINESS METHODS: ORDER EVENTS === #

    def _gelato_find_order(self, data, found):
        """Find the Gelato order an event is about, by Gelato's order id; an order this database
        sent under the event's reference but does not know yet (a connected order, a reorder) is
        adopted.

        :return: The record (empty when the event is about an order this database did not send).
        :rtype: gelato.order
        """
        if found.get('order_id'):  # read with the event (`_gelato_receive`)
            return self.env['gelato.order'].browse(found['order_id'])
        gelato_id = utils.gelato_id(data.get('orderId'))
        reference = utils.clean_str(data.get('orderReferenceId'))
        if gelato_id:
            found['remote_order_id'] = gelato_id
        order, why = self.env['gelato.order']._gelato_find(self.company_id, gelato_id, reference)
        if order:
            found['order_id'] = order.id
            found['sale_order_id'] = order.sale_order_id.id
        else:
            found['error'] = why
        return order

    def _gelato_ignore(self, reason, found):
        found['error'] = reason
        return 'ignored'

    def _gelato_handle_order_status_updated(self, data, found):
        order = self._gelato_find_order(data, found)
        if not order:
            return 'ignored'
        status = utils.clean_str(data.get('fulfillmentStatus'))
        if status not in const.STATUS_TRANSITIONS:
            return self._gelato_ignore(
                self.env._("Gelato sent a status it does not document: %s.", status or '-'), found)
        # Tracking first: a "shipped" status then finds the packages it ships.
        order._gelato_apply_fulfillments(data.get('items'))
        if not order._gelato_set_status(status):
            if order.status != status:
                labels = dict(const.ORDER_STATUSES)
                return self._gelato_ignore(self.env._(
                    "Late or out-of-order status \"%(status)s\": the order is already "
                    "\"%(current)s\".", status=labels.get(status, status),
                    current=labels.get(order.status, '-')), found)
        return None

    def _gelato_handle_order_item_status_updated(self, data, found):
        order = self._gelato_find_order(data, found)
        if not order:
            return 'ignored'
        status = utils.clean_str(data.get('status')) or utils.clean_str(
            data.get('fulfillmentStatus'))
        if status not in const.STATUS_TRANSITIONS:
            return self._gelato_ignore(
                self.env._("Gelato sent a status it does not document: %s.", status or '-'), found)
        changed = order._gelato_apply_item_status(
            utils.clean_str(data.get('itemReferenceId')), status,
            comment=utils.plain_text(data.get('comment'), 1000) or None)
        if changed is None:
            return self._gelato_ignore(self.env._("The order has no such item."), found)
        return None

    def _gelato_handle_order_item_tracking_code_updated(self, data, found):
        order = self._gelato_find_order(data, found)
        if not order:
            return 'ignored'
        code = utils.clean_str(data.get('trackingCode'), 128)
        if not code:
            return self._gelato_ignore(self.env._("The event carries no tracking code."), found)
        if not order._gelato_apply_tracking(utils.clean_str(data.get('itemReferenceId')), code,
                                            data.get('trackingUrl')):
            return self._gelato_ignore(self.env._("The order has no such item."), found)
        return None

    def _gelato_handle_order_delivery_estimate_updated(self, data, found):
        order = self._gelato_find_order(data, found)
        if not order:
            return 'ignored'
        if not order._gelato_apply_delivery_estimate(data.get('minDeliveryDate'),
                                                     data.get('maxDeliveryDate')):
            return self._gelato_ignore(self.env._("The estimate carries no new date."), found)
        return None

    # === BUSINESS METHODS: CATALOG EVENTS === #

    def _gelato_handle_catalog_product_stock_availability_updated(self, data, found):
        entries = data.get('productsAvailability')
        if not isinstance(entries, list):
            entries = data.get('productAvailability')
        # Only this company's products (and shared ones): a webhook of one company never
        # changes another's.
        stored, unknown = self.env['gelato.product.availability']._gelato_store(
            entries, company=self.company_id)
        if not stored:
            return self._gelato_ignore(self.env._("None of these products is sold in Odoo."), found)
        products = self.env['product.product'].search([
            ('gelato_product_uid', 'in', [e.get('productUid') for e in entries
                                          if isinstance(e, dict)]),
            ('company_id', 'in', [False, self.company_id.id]),
        ])
        found['product_tmpl_ids'] = [(6, 0, products.product_tmpl_id.ids)]
        if unknown:
            found['error'] = self.env._("Unknown to Odoo: %s",
                                                     ', '.join(unknown[:20]))
        return None

    def _gelato_handle_store_product(self, data, found):
        """`store_product_*` events name a store product (`storeProductId`), not the template it
        was made from, and Gelato documents no link from one to the other
        (https://dashboard.gelato.com/docs/webhooks/, docs/ecommerce/products/get): Odoo follows
        templates, through the `store_product_template_*` events. Recorded, with that reason."""
        return self._gelato_ignore(self.env._(
            "Gelato's store product %(id)s is not a template: Odoo's products follow Gelato "
            "templates (their store_product_template events), and Gelato gives no link from a "
            "store product to its template.",
            id=utils.clean_str(data.get('storeProductId')) or '-'), found)

    def _gelato_linked_templates(self, data, found):
        ref = utils.clean_str(data.get('storeProductTemplateId'))
        refs = [ref] if ref else []
        products = self.env['product.template'].with_context(active_test=False).search([
            ('gelato_template_ref', 'in', refs),
            ('company_id', 'in', [False, self.company_id.id]),
        ]) if refs else self.env['product.template']
        found['product_tmpl_ids'] = [(6, 0, products.ids)]
        return products

    def _gelato_handle_template_changed(self, data, found):
        products = self._gelato_linked_templates(data, found)
        if not products:
            return self._gelato_ignore(self.env._("No product of Odoo is linked to it."), found)
        products._gelato_schedule_resync()
        return None

    def _gelato_handle_template_deleted(self, data, found):
        products = self._gelato_linked_templates(data, found)
        if not products:
            return self._gelato_ignore(self.env._("No product of Odoo is linked to it."), found)
        products._gelato_archive_deleted_template()
        return None

    # === BUSINESS METHODS: SCHEDULED ACTIONS === #

    @api.model
    def _cron_gelato_events(self):
        """Retry failed events whose retry is due, and purge old handled ones."""
        self = self.with_context(gelato_priority='followup')
        domain = [('state', '=', 'failed'), ('next_retry_at', '!=', False),
                  ('next_retry_at', '<=', fields.Datetime.now())]
        due = self.search(domain, limit=200, order='next_retry_at, id')
        batch.run_batch(
            due, lambda event: event._gelato_process(), total=self.search_count(domain))
        days = int(self.env['ir.config_parameter'].sudo().get_param(
            'gelato_connector.event_retention_days', const.EVENT_RETENTION_DAYS))
        self.search([
            ('state', 'in', ('processed', 'ignored', 'duplicate')),
            ('create_date', '<', fields.Datetime.now() - timedelta(days=days)),
        ], limit=5000).unlink()

    @api.model
    def _gelato_post_note(self, record, text):
        """Post an internal note, the payload's words escaped."""
        record.message_post(body=Markup("%s") % text,
                            author_id=self.env.ref('base.partner_root').id)
