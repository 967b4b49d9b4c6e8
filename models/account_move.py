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
        fingerprint = hashlib.sha1(json.dumps(lines, sort_keys=True, default=str).encode()) \
            .hexdigest()
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
        bill.write({'invoice_line_ids': [fields.Command.create({
            **values, 'gelato_receipt_ref': receipt_id, 'gelato_receipt_hash': fingerprint,
            'gelato_order_id': gelato_order.id,
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
                'tax_ids': [fields.Command.set(
                    self._gelato_purchase_tax(company, price, vat).ids)],
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
    def _gelato_purchase_tax(self, company, price, vat):
        """The company's purchase tax whose rate is the receipt's VAT rate (none when Gelato
        charged no VAT or no tax matches)."""
        if not vat or not price:
            return self.env['account.tax']
        rate = round(vat / price * 100, 1)
        taxes = self.env['account.tax'].search([
            ('type_tax_use', '=', 'purchase'), ('amount_type', '=', 'percent'),
            ('price_include', '=', False), *self.env['account.tax']._check_company_domain(company),
        ])
        return taxes.filtered(lambda t: abs(t.amount - rate) < 0.05)[:1]

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
