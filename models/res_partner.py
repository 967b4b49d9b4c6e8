# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo import _, fields, models
from odoo.exceptions import UserError

from odoo.addons.gelato_connector import const, utils


class ResPartner(models.Model):
    _inherit = 'res.partner'

    gelato_state_tax_id = fields.Char(
        string="State Tax ID (IE)",
        help="Brazil: the state tax registration (Inscrição Estadual) of a company, which Gelato "
             "needs to ship to it.",
    )

    # === CRUD METHODS === #

    def write(self, vals):
        res = super().write(vals)
        if const.HELD_ADDRESS_FIELDS & set(vals):
            # A held order ships to the address it was created with: Gelato's draft is replaced.
            self.env['gelato.order'].sudo().search([
                ('is_held', '=', True), ('state', '=', 'sent'),
                ('sale_order_id.partner_shipping_id', 'in', self.ids),
            ])._gelato_replace_held()
        return res

    # === BUSINESS METHODS === #

    def _gelato_missing_address_fields(self, email=None):
        """Return the labels of the address fields Gelato needs and this partner lacks.

        :param str email: The email to use when the partner has none (e.g. the customer's).
        :return: The translated labels of the missing fields.
        :rtype: list[str]
        """
        self.ensure_one()
        required = ['name', 'street', 'city', 'country_id']
        country = self.country_id.code
        if country not in const.COUNTRIES_WITHOUT_ZIPCODE:
            required.append('zip')
        if country in const.STATE_REQUIRED_COUNTRIES and self.country_id.state_ids:
            required.append('state_id')
        if country == 'BR':
            # Brazil: the recipient's CPF (or the company's CNPJ) goes as federalTaxId
            # (https://dashboard.gelato.com/docs/orders/v4/create, shippingAddress).
            required.append('vat')
        missing = [
            self._fields[fname]._description_string(self.env)
            for fname in required
            if not self[fname] or (isinstance(self[fname], str) and not self[fname].strip())
        ]
        if country == 'BR' and self.is_company and not self._gelato_br_state_tax_id():
            missing.append(self.env._("State Tax ID (IE) of the company"))
        if not (self.email or email):
            missing.append(self._fields['email']._description_string(self.env))
        return missing

    def _gelato_address_rule_problems(self):
        """What Gelato refuses in this address whatever is filled in: a destination it does not
        serve, a state it has no code for (article 360013540520), special characters it does not
        accept in the street (only `.,-'()`), a street 2 longer than the country allows
        (apisupport.gelato.com, article 360013856080).

        :return: One sentence per problem.
        :rtype: list[str]
        """
        self.ensure_one()
        problems = []
        country = self.country_id
        if country.code in const.UNSUPPORTED_COUNTRIES:
            problems.append(_("Gelato does not deliver to %(country)s.", country=country.name))
        codes = const.GELATO_STATE_CODES.get(country.code)
        if codes and self.state_id and self.state_id.code not in codes:
            problems.append(_(
                "Gelato does not know the state %(state)s (%(code)s) of %(partner)s: it takes "
                "the states of %(country)s by their ISO 3166-2 codes (%(example)s...). Please "
                "choose the state of the address.",
                state=self.state_id.name, code=self.state_id.code, partner=self.display_name,
                country=country.name, example=', '.join(sorted(codes)[:3])))
        street = f"{self.street or ''} {self.street2 or ''}"
        refused = sorted({c for c in street if not (c.isalnum() or c.isspace()
                                                    or c in const.ADDRESS_SPECIAL_CHARACTERS)})
        if refused:
            problems.append(_(
                "The street of %(partner)s has characters Gelato does not accept (%(chars)s): "
                "only letters, digits, spaces and %(allowed)s are.",
                partner=self.display_name, chars=' '.join(refused),
                allowed=' '.join(const.ADDRESS_SPECIAL_CHARACTERS)))
        return problems

    def _gelato_br_state_tax_id(self):
        """The Brazilian state tax id (IE) of a company: Brazil's localization keeps it in
        `l10n_br_ie_code`; without it, in the Gelato field of the partner."""
        self.ensure_one()
        if 'l10n_br_ie_code' in self._fields and self.l10n_br_ie_code:
            return self.l10n_br_ie_code
        return self.gelato_state_tax_id

    def _gelato_prepare_address_payload(self, email=None):
        """Return the partner's address in the shape and within the lengths Gelato accepts.

        Nothing is cut from the street: what does not fit on the first line moves to the second.

        :param str email: The email to use when the partner has none.
        :return: Gelato's `shippingAddress` / `recipient` object.
        :rtype: dict
        :raise UserError: When the street does not fit on Gelato's two address lines.
        """
        self.ensure_one()
        limits = const.ADDRESS_LIMITS
        first_name, last_name = utils.split_name(self.name or '')
        line1, line2 = utils.fit_address_lines(
            self.street or '', self.street2 or '', limits['addressLine1'],
        )
        line2_limit = const.ADDRESS_LINE2_LIMITS.get(self.country_id.code, limits['addressLine2'])
        if len(line2) > line2_limit:
            raise UserError(_(
                "The address of %(partner)s is too long for Gelato: street and street 2 together "
                "must fit in %(length)s characters in %(country)s. Please shorten it.",
                partner=self.display_name, length=limits['addressLine1'] + line2_limit,
                country=self.country_id.name or '-',
            ))
        company_name = self.commercial_company_name if self.commercial_company_name != self.name \
            else ''
        address = {
            'firstName': first_name[:limits['firstName']],
            'lastName': last_name[:limits['lastName']],
            'companyName': (company_name or '')[:limits['companyName']],
            'addressLine1': line1,
            'addressLine2': line2,
            'city': (self.city or '').strip()[:limits['city']],
            'postCode': (self.zip or '').strip()[:limits['postCode']],
            'state': self.state_id.code or '',
            'country': self.country_id.code or '',
            'email': (self.email or email or '').strip(),
            'phone': (self.phone or '').strip()[:limits['phone']],
        }
        if self.country_id.code == 'BR':
            commercial = self.commercial_partner_id
            address['federalTaxId'] = (commercial.vat or self.vat or '').strip()
            address['isBusiness'] = commercial.is_company
            if commercial.is_company:
                address['stateTaxId'] = commercial._gelato_br_state_tax_id() or ''
                address['registrationStateCode'] = commercial.state_id.code or \
                    self.state_id.code or ''
        return address

    def _gelato_prepare_return_address_payload(self, company):
        """Return the company's address as Gelato's `returnAddress`, or None when it is not
        complete enough to be one. Empty fields are left out rather than sent as "".

        :param res.company company: The company whose name goes on the parcel.
        :rtype: dict | None
        """
        self.ensure_one()
        if not (self.street and self.city and self.country_id):
            return None
        if self.country_id.code in const.RETURN_STATE_REQUIRED_COUNTRIES and not self.state_id:
            return None  # Gelato would refuse it without its state: Gelato's own is used.
        limits = const.ADDRESS_LIMITS
        line1, line2 = utils.fit_address_lines(self.street, self.street2 or '',
                                               limits['addressLine1'])
        address = {
            'companyName': (company.name or '')[:limits['companyName']],
            'addressLine1': line1,
            'addressLine2': line2[:limits['addressLine2']],
            'city': self.city.strip()[:limits['city']],
            'postCode': (self.zip or '').strip()[:limits['postCode']],
            'state': self.state_id.code or '',
            'country': self.country_id.code,
            'email': (self.email or '').strip(),
            'phone': (self.phone or '').strip()[:limits['phone']],
        }
        return {key: value for key, value in address.items() if value}
