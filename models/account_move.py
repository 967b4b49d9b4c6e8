# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import hashlib
import json

from odoo import api, fields, models
from odoo.exceptions import UserError

from odoo.addons.gelato_connector import utils


class AccountMove(models.Model):
    """Vendor bills of what Gelato charged, made from the `receipts` of its orders
    (https://dashboard.gelato.com/docs/orders/v4/get/, ReceiptObject)."""
    _inherit = 'account.move'

    gelato_bill_key = fields.Char(
        string="Gelato Bill", readonly=True, copy=False, index='btree_not_null',
        help="What this draft bill gathers: one Gelato order, or one day of Gelato receipts.",
    )

    gelato_charged_total = fields.Monetary(
        string="Charged by Gelato", compute='_compute_gelato_charged_total',
        currency_field='currency_id',
        help="What Gelato's receipts on this bill charged in all, VAT included.",
    )
    gelato_total_differs = fields.Boolean(compute='_compute_gelato_charged_total')

    # === COMPUTE METHODS === #

    @api.depends('line_ids.gelato_receipt_total', 'line_ids.gelato_receipt_ref', 'amount_total')
    def _compute_gelato_charged_total(self):
        """A bill whose total is not what Gelato charged says so (a tax that did not match, a
        rounding Gelato did per line): never silently off."""
        for bill in self:
            totals = {line.gelato_receipt_ref: line.gelato_receipt_total
                      for line in bill.line_ids if line.gelato_receipt_ref}
            charged = sum(totals.values())
            bill.gelato_charged_total = charged
            bill.gelato_total_differs = bool(totals) and bool(
                bill.currency_id.compare_amounts(bill.amount_total, charged))

    # === BUSINESS METHODS === #

    @api.model
    def _gelato_bill_receipt(self, gelato_order, receipt):
        """Put one Gelato receipt on a draft vendor bill of the Gelato vendor, once.

        The receipt's lines (products, packaging, shipping) go on the bill of its Gelato order,
        or of its day (company setting), in the receipt's currency, with the purchase tax of the
        company whose rate matches the receipt's VAT. A receipt already billed is left alone,
        unless its bill is still a draft and Gelato sent other amounts: its lines are replaced.

        :param gelato.order gelato_order: The order the receipt is about.
        :param dict receipt: One of the order's `receipts`.
        :return: The bill, or an empty recordset when the receipt was already billed as it is.
        :rtype: account.move
        :raise UserError: With what is wrong with the receipt (nothing is written then).
        """
        company = gelato_order.company_id
        receipt_id = utils.clean_str(receipt.get('id'), 64)
        if not receipt_id:
            raise UserError(self.env._("A Gelato receipt has no id."))
        refund = receipt.get('transactionType') == 'refund'
        currency = self._gelato_receipt_currency(receipt)
        lines = self._gelato_receipt_line_values(gelato_order, receipt, currency)
        fingerprint = hashlib.sha1(json.dumps(
            [lines, receipt.get('totalInclVat')], sort_keys=True, default=str).encode()).hexdigest()
        Line = self.env['account.move.line']
        billed = Line.search([('gelato_receipt_ref', '=', receipt_id),
                              ('company_id', '=', company.id)])
        if billed:
            bill = billed.move_id[:1]
            if bill.state != 'draft' or billed[:1].gelato_receipt_hash == fingerprint:
                return self.browse()  # Never twice; a posted bill is the accountant's.
            bill.line_ids.filtered(lambda ln: ln.gelato_receipt_ref == receipt_id).unlink()
        else:
            bill = self._gelato_draft_bill(gelato_order, currency, refund)
        charged = utils.number(receipt.get('totalInclVat'))
        bill.write({'invoice_line_ids': [fields.Command.create({
            **values, 'gelato_receipt_ref': receipt_id, 'gelato_receipt_hash': fingerprint,
            'gelato_order_id': gelato_order.id,
            'gelato_receipt_total': abs(charged) if charged is not None else 0.0,
        }) for values in lines]})
        return bill

    @api.model
    def _gelato_receipt_currency(self, receipt):
        code = utils.clean_str(receipt.get('currency'), 3)
        currency = self.env['res.currency']._gelato_from_code(code)
        if not currency:
            raise UserError(self.env._(
                "Gelato's receipt %(receipt)s is in a currency Odoo does not know (%(code)s): "
                "it was kept on the Gelato order but not billed.",
                receipt=receipt.get('id'), code=code or '-'))
        if not currency.active:
            currency.sudo().active = True  # Gelato billed in it: the bill needs it.
        return currency

    @api.model
    def _gelato_receipt_line_values(self, gelato_order, receipt, currency):
        """The bill lines of a receipt: one per receipt item (products, packaging, shipment);
        from the receipt's totals when it lists no items.

        :raise UserError: For an amount that is missing, not a number, or negative.
        """
        company = gelato_order.company_id
        products = {
            'packaging': self.env.ref('gelato_connector.product_gelato_packaging_cost'),
            'shipment': self.env.ref('gelato_connector.product_gelato_shipping_cost'),
        }
        items = receipt.get('items') if isinstance(receipt.get('items'), list) else []
        by_gelato_item = {i.gelato_item_id: i for i in gelato_order.item_ids if i.gelato_item_id}
        rows = []
        for item in items:
            if not isinstance(item, dict):
                continue
            kind = item.get('type')
            price = self._gelato_amount(receipt, item.get('price'), item.get('title'))
            vat = self._gelato_amount(receipt, item.get('vat') or 0, item.get('title'))
            quantity = utils.number(item.get('amount'))  # a string in Gelato's receipt table
            quantity = quantity if quantity and quantity > 0 else 1
            if kind == 'product':
                order_item = by_gelato_item.get(utils.clean_str(item.get('referenceId')))
                product = (order_item.product_id if order_item else False) or self.env.ref(
                    'gelato_connector.product_gelato_printing_cost')
            else:
                product, quantity = products.get(kind) or self.env.ref(
                    'gelato_connector.product_gelato_printing_cost'), 1
            title = utils.clean_str(item.get('title'), 200)
            if kind == 'product' and order_item:
                # Gelato titles a product with its product UID: the bill says what it is.
                title = order_item.product_id.display_name
            rows.append((product, title, quantity, price, vat))
        if not rows:
            for key, vat_key, product in (
                ('productsPrice', 'productsPriceVat',
                 self.env.ref('gelato_connector.product_gelato_printing_cost')),
                ('packagingPrice', 'packagingPriceVat', products['packaging']),
                ('shippingPrice', 'shippingPriceVat', products['shipment']),
            ):
                price = self._gelato_amount(receipt, receipt.get(key, 0), key)
                if price:
                    vat = self._gelato_amount(receipt, receipt.get(vat_key) or 0, vat_key)
                    rows.append((product, None, 1, price, vat))
        if not rows:
            raise UserError(self.env._("Gelato's receipt %s charges nothing.", receipt.get('id')))
        total = utils.number(receipt.get('total'))
        total_vat = utils.number(receipt.get('totalVat'))
        receipt_rate = total_vat / total * 100 if total and total > 0 and total_vat else None
        discount = utils.number(receipt.get('discount')) or 0.0
        if discount > 0 and total is not None:
            # The receipt's own discount (ReceiptObject.discount), when its items' prices do not
            # already count it: a line of its own, taxed as the receipt.
            charged = sum(price for _p, _t, _q, price, _v in rows)
            if currency.compare_amounts(charged - discount, total) == 0:
                discount_vat = utils.number(receipt.get('discountVat')) or 0.0
                rows.append((self.env.ref('gelato_connector.product_gelato_printing_cost'),
                             self.env._("Discount"), 1, -discount, -abs(discount_vat)))
        values = []
        for product, title, quantity, price, vat in rows:
            label = f"{gelato_order.reference}: {title or product.name}"
            unit = currency.round(price / quantity)
            if currency.compare_amounts(unit * quantity, price):
                # The amount Gelato charged is what counts: one line of it, the quantity said.
                label, unit, quantity = f"{label} ({quantity:g} ×)", price, 1
            values.append({
                'product_id': product.id, 'name': label, 'quantity': quantity,
                'price_unit': unit,
                'tax_ids': [fields.Command.set(self._gelato_purchase_tax(
                    company, currency, price, vat, receipt_rate).ids)],
            })
        return values

    @api.model
    def _gelato_amount(self, receipt, value, what):
        value = utils.number(value)
        if value is None or value < 0 or value > 1e9:
            raise UserError(self.env._(
                "Gelato's receipt %(receipt)s has an amount that is missing, negative or not a "
                "number (%(what)s): it was kept on the Gelato order but not billed.",
                receipt=receipt.get('id'), what=what or '-'))
        return float(value)

    @api.model
    def _gelato_purchase_tax(self, company, currency, price, vat, receipt_rate=None):
        """The company's purchase tax for a receipt line: one that gives Gelato's VAT on this
        line as Gelato rounds it (per line, to the cent), the closest to the receipt's own rate
        (its `totalVat` over its `total`) when several do; none when Gelato charged no VAT or
        no tax gives it. A division per line is no rate: Gelato's example receipt charges 0.10
        on 1.70 and 0.30 on 4.91, both its 6%.

        :param float receipt_rate: The receipt's VAT rate in percent, if known.
        """
        if not vat or not price:
            return self.env['account.tax']
        taxes = self.env['account.tax'].search([
            ('type_tax_use', '=', 'purchase'), ('amount_type', '=', 'percent'),
            ('price_include', '=', False), *self.env['account.tax']._check_company_domain(company),
        ])
        price, vat = abs(price), abs(vat)
        fits = taxes.filtered(lambda t: currency.compare_amounts(
            abs(currency.round(price * t.amount / 100) - vat), currency.rounding) <= 0)
        if not fits:
            return self.env['account.tax']
        target = receipt_rate if receipt_rate else vat / price * 100
        return min(fits, key=lambda t: (abs(t.amount - target), t.sequence, t.id))

    @api.model
    def _gelato_draft_bill(self, gelato_order, currency, refund=False):
        """The draft bill (or refund) a receipt of this Gelato order goes on: the order's own, or
        the day's, as the company chose; created when there is none."""
        company = gelato_order.company_id
        vendor = company._gelato_vendor()
        per_day = company.gelato_bill_policy == 'day'
        today = fields.Date.context_today(self)
        key = f"day:{today}:{currency.name}" if per_day else f"order:{gelato_order.id}"
        move_type = 'in_refund' if refund else 'in_invoice'
        bill = self.search([
            ('gelato_bill_key', '=', key), ('state', '=', 'draft'), ('move_type', '=', move_type),
            ('company_id', '=', company.id),
        ], limit=1)
        if bill:
            return bill
        journal = self.env['account.journal'].search([
            ('type', '=', 'purchase'), *self.env['account.journal']._check_company_domain(company),
        ], limit=1)
        if not journal:
            raise UserError(self.env._(
                "%s has no purchase journal: Gelato's receipts cannot become vendor bills.",
                company.name))
        return self.with_company(company).create({
            'move_type': move_type, 'partner_id': vendor.id, 'currency_id': currency.id,
            'journal_id': journal.id, 'invoice_date': today, 'company_id': company.id,
            'gelato_bill_key': key,
            'ref': self.env._("Gelato, %s", today) if per_day else gelato_order.reference,
            'invoice_origin': False if per_day else gelato_order.sale_order_id.name,
        })
