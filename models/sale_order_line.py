# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from datetime import timedelta

from odoo import Command, api, fields, models
from odoo.exceptions import AccessError

from odoo.addons.gelato_connector import batch, const, utils


class SaleOrderLine(models.Model):
    _inherit = 'sale.order.line'

    gelato_item_ids = fields.One2many(
        'gelato.order.item', 'sale_line_id', string="Gelato Items", readonly=True, copy=False,
    )
    gelato_item_status = fields.Selection(
        string="Gelato Item Status", selection=const.ORDER_STATUSES,
        compute='_compute_gelato_item_status',
        help="The status of the line's item in its current Gelato order.",
    )
    gelato_availability_warning = fields.Char(compute='_compute_gelato_availability_warning')
    # The customer's own files, one per print area (the area in `name`), as the product's print
    # images: what Gelato receives for the line uses them, the variant's or product's elsewhere.
    gelato_image_ids = fields.One2many(
        string="Customer Artwork",
        comodel_name='product.document',
        inverse_name='res_id',
        domain=[('res_model', '=', 'sale.order.line'), ('is_gelato', '=', True)],
        context={'default_res_model': 'sale.order.line', 'default_is_gelato': True},
        copy=False,
        help="The customer's print files for this line, one per print area; the areas without "
             "one are printed with the product's print image.",
    )
    gelato_personalized = fields.Boolean(related='product_id.product_tmpl_id.gelato_personalized')
    gelato_artwork_count = fields.Integer(
        string="Artwork", compute='_compute_gelato_artwork_count')

    # === COMPUTE METHODS === #

    @api.depends('gelato_item_ids.status', 'gelato_item_ids.gelato_order_id.state')
    def _compute_gelato_item_status(self):
        for line in self:
            items = line.gelato_item_ids.filtered(
                lambda i: i.gelato_order_id.state not in ('replaced', 'cancel'))
            line.gelato_item_status = items.sorted('id', reverse=True)[:1].status or False

    @api.depends('gelato_image_ids.file_size')
    def _compute_gelato_artwork_count(self):
        for line in self:
            line.gelato_artwork_count = len(line.gelato_image_ids.filtered('file_size'))

    @api.depends('product_id', 'order_id.partner_shipping_id.country_id')
    def _compute_gelato_availability_warning(self):
        for line in self:
            line.gelato_availability_warning = line._gelato_out_of_stock_message() or False

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        artwork = [vals.pop('gelato_image_ids', None) for vals in vals_list]
        lines = super().create(vals_list)
        for line, commands in zip(lines, artwork, strict=True):
            if commands:
                line._gelato_write_artwork(commands)
        lines.order_id._gelato_check_no_mixing(changed_lines=lines)
        return lines

    def write(self, vals):
        if 'gelato_image_ids' in vals:
            vals = dict(vals)
            self._gelato_write_artwork(vals.pop('gelato_image_ids'))
            if not vals:
                return True
        res = super().write(vals)
        if 'product_id' in vals or 'display_type' in vals:
            self.order_id._gelato_check_no_mixing(changed_lines=self)
        if {'product_id', 'product_uom_qty'} & set(vals):
            # Other goods for a held order: Gelato's draft is replaced.
            self.order_id.gelato_order_ids.sudo().filtered(
                lambda o: o.is_held and o.state == 'sent')._gelato_replace_held()
        return res

    # === ONCHANGE METHODS === #

    @api.onchange('product_id')
    def _onchange_gelato_availability(self):
        if message := self._gelato_out_of_stock_message():
            return {'warning': {'title': self.env._("Out of stock at Gelato"), 'message': message}}
        return None

    # === ACTION METHODS === #

    def action_gelato_artwork(self):
        """Open the customer's files of the line (one per print area)."""
        self.ensure_one()
        self.check_access('read')
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("Customer Artwork: %s", self.product_id.display_name),
            'res_model': 'sale.order.line', 'res_id': self.id, 'view_mode': 'form',
            'views': [(self.env.ref(
                'gelato_connector.sale_order_line_view_form_gelato_artwork').id, 'form')],
            'target': 'new',
        }

    # === BUSINESS METHODS: ARTWORK === #

    def _gelato_write_artwork(self, commands):
        """Store the customer's files of these lines: whoever may edit the line may give its
        files (a salesperson has no right on product documents of their own); a held order's
        draft is replaced so that Gelato renders its proof again with the new files."""
        self.check_access('write')
        held = self.order_id.gelato_order_ids.sudo().filtered(
            lambda o: o.is_held and o.state == 'sent')
        before = {line.id: line.sudo().gelato_image_ids.mapped('checksum') for line in self}
        # Files uploaded to the cart before the line existed become the line's; no other file
        # can be linked (a product's print image, another order's file).
        linked = set()
        for command in commands:
            if isinstance(command, (list, tuple)) and command[0] == Command.LINK:
                linked.add(command[1])
            elif isinstance(command, (list, tuple)) and command[0] == Command.SET:
                linked.update(command[2] or ())
        documents = self.env['product.document'].sudo().browse(linked).exists()
        own = self.sudo().gelato_image_ids
        uploads = documents.filtered(lambda d: d.is_gelato and d.res_model == 'sale.order'
                                     and d.res_id in self.order_id.ids)
        if len(documents) != len(linked) or documents - own - uploads:
            raise AccessError(self.env._(
                "Only the customer's files of this order can be given to its lines."))
        uploads.res_model = 'sale.order.line'
        super(SaleOrderLine, self.sudo()).write({'gelato_image_ids': commands})
        if held and any(line.sudo().gelato_image_ids.mapped('checksum') != before[line.id]
                        for line in self):
            held._gelato_replace_held()
        return True

    def _gelato_print_images(self):
        """Return the print image to send for each print area of the line: the customer's
        file of the area, else the variant's, else the product's.

        :return: print area -> product.document (possibly without a file).
        :rtype: dict
        """
        self.ensure_one()
        images = self.product_id._gelato_print_images()
        for own in self.sudo().gelato_image_ids.filtered('file_size'):
            if own.name in images or not images:
                images[own.name] = own
        return images

    def _gelato_artwork_problems(self):
        """What stops the line from being printed with the customer's files: a personalised
        product without any, or a file for an area the product does not have.

        :rtype: list[str]
        """
        self.ensure_one()
        problems = []
        own = self.sudo().gelato_image_ids.filtered('file_size')
        areas = self.product_id._gelato_print_images()
        for image in own.filtered(lambda i: areas and i.name not in areas):
            problems.append(self.env._(
                "%(product)s: the customer's file \"%(file)s\" is for the print area "
                "\"%(area)s\", which the product does not have (its areas: %(areas)s).",
                product=self.product_id.display_name, file=image.display_name,
                area=image.name, areas=', '.join(areas)))
        if self.gelato_personalized and not own:
            problems.append(self.env._(
                "%(product)s is personalised: the customer's picture is missing (add it on the "
                "order line, Customer Artwork).", product=self.product_id.display_name))
        return problems

    @api.model
    def _cron_gelato_purge_artwork(self, limit=200):
        """Remove the customer's files a set time after their order was delivered
        (`res.company.gelato_artwork_retention_days`; personal photos are personal data)."""
        now = fields.Datetime.now()
        lines = self.env['sale.order.line']
        for company in self.env['res.company'].sudo().search(
                [('gelato_artwork_retention_days', '>', 0)]):
            before = now - timedelta(days=company.gelato_artwork_retention_days)
            lines |= self.sudo().search([
                ('company_id', '=', company.id),
                ('gelato_image_ids', '!=', False),
                ('gelato_item_ids.gelato_order_id.status', '=', 'delivered'),
                ('gelato_item_ids.gelato_order_id.status_since', '<=', before),
            ], limit=limit)
        lines = lines.filtered(lambda line: line.order_id._gelato_active_orders() and all(
            o.status == 'delivered' for o in line.order_id._gelato_active_orders()))

        def purge(line):
            count = len(line.gelato_image_ids)
            line.gelato_image_ids.unlink()
            line.order_id._gelato_note(self.env._(
                "%(count)s customer file(s) of %(product)s removed, %(days)s days after "
                "delivery (Sales settings, Gelato: keep customer artwork).", count=count,
                product=line.product_id.display_name,
                days=line.company_id.gelato_artwork_retention_days))

        batch.run_batch(lines, purge)
        # Pictures uploaded on a product page that never joined the cart.
        self.env['product.document'].sudo().search([
            ('is_gelato', '=', True), ('res_model', '=', 'sale.order'),
            ('create_date', '<', now - timedelta(days=1))], limit=limit).unlink()

    # === BUSINESS METHODS === #

    def _gelato_out_of_stock_message(self):
        """Say when the line's variant is out of stock at Gelato where the order ships.

        :rtype: str | None
        """
        self.ensure_one()
        product = self.product_id
        if not product.gelato_product_uid:
            return None
        country = self.order_id.partner_shipping_id.country_id
        region = utils.stock_region(country.code)
        if not product._gelato_out_of_stock_in_region(region):
            return None
        if country:
            return self.env._(
                "%(product)s is out of stock at Gelato for %(country)s (region %(region)s): the "
                "order cannot be confirmed with it.",
                product=product.display_name, country=country.name, region=region,
            )
        return self.env._(
            "%(product)s is out of stock at Gelato for the region %(region)s: the order cannot "
            "be confirmed with it.", product=product.display_name, region=region,
        )

    def _gelato_cart_warning(self):
        """The webshop's warning for a cart line that cannot be bought where the shopper is."""
        self.ensure_one()
        if not self.product_id.gelato_product_uid:
            return None
        country = self.order_id._gelato_shopper_country()
        if not country or not self.product_id._gelato_out_of_stock_in(country):
            return None
        return self.env._(
            "Out of stock for delivery to %(country)s: please remove it from your cart or "
            "choose another option.", country=country.name,
        )

    def _prepare_procurement_values(self):
        """Override of `sale_stock` to route Gelato goods through the print-on-demand route: one
        outgoing picking from Gelato's supplier location straight to the customer."""
        values = super()._prepare_procurement_values()
        if self.product_id.gelato_product_uid:
            route = self.env['stock.route']._gelato_pod_route(self.warehouse_id)
            values['route_ids'] = route
        return values
