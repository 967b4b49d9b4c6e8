# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from odoo.tests import tagged

from odoo.addons.gelato_connector.tests.common import GelatoOrderCase


@tagged('post_install', '-at_install')
class TestProductCostsAndAvailability(GelatoOrderCase):

    def _unit_price(self, product, currency):
        rows = self.company._gelato_request(
            'product', 'GET', f'/v3/products/{product.gelato_product_uid}/prices',
            params={'currency': currency})
        return next(r['price'] for r in rows if r['quantity'] == 1)

    def test_fetching_costs_sets_each_variant_cost_to_gelatos_unit_price(self):
        action = self.poster.action_gelato_fetch_costs()
        self.assertEqual(action['params']['type'], 'success', action['params']['message'])
        currency = self.company.currency_id
        for variant in self.poster.product_variant_ids:
            self.assertAlmostEqual(variant.standard_price,
                                   currency.round(self._unit_price(variant, currency.name)))
        self.assertNotEqual(self.small.standard_price, self.large.standard_price)

    def test_costs_are_fetched_in_parallel_calls_not_during_synchronize(self):
        before = len(self.simulator.requests)
        self.poster.action_sync_gelato_template_info()
        sync_paths = [r['path'] for r in self.simulator.requests[before:]]
        self.assertFalse([p for p in sync_paths if '/prices' in p], "Synchronize stays fast")
        before = len(self.simulator.requests)
        self.poster.action_gelato_fetch_costs()
        price_calls = [r for r in self.simulator.requests[before:] if '/prices' in r['path']]
        self.assertEqual(len(price_calls), 3)

    def test_a_currency_gelato_does_not_price_in_is_converted_from_eur(self):
        # Kenyan shillings: not among the currencies Gelato takes
        # (https://dashboard.gelato.com/docs/orders/v4/create, "currency").
        currency = self.env['res.currency'].with_context(active_test=False).search(
            [('name', '=', 'KES')])
        currency.active = True
        self.env['res.currency.rate'].create({
            'currency_id': currency.id, 'rate': 140.0, 'company_id': self.company.id})
        self.env['res.currency.rate'].search([
            ('currency_id', '=', self.company.currency_id.id),
            ('company_id', 'in', [self.company.id, False])]).unlink()
        self.company.currency_id = currency  # possible here: no accounting entries yet
        self.poster.action_gelato_fetch_costs()
        eur_price = self._unit_price(self.small, 'EUR')
        eur = self.env.ref('base.EUR')
        expected = eur._convert(eur_price, currency, self.company, '2030-01-01')
        self.assertAlmostEqual(self.small.with_company(self.company).standard_price,
                               currency.round(expected), places=0)

    def test_gelato_down_while_fetching_costs_is_a_clear_message(self):
        self.simulator.go_down()
        try:
            action = self.poster.action_gelato_fetch_costs()
        finally:
            self.simulator.come_up()
        self.assertEqual(action['params']['type'], 'danger')
        self.assertIn('Could not reach Gelato', action['params']['message'])

    def test_scheduled_refresh_updates_costs(self):
        self.env['product.product']._cron_gelato_refresh_costs()
        self.assertAlmostEqual(
            self.small.standard_price,
            self.company.currency_id.round(
                self._unit_price(self.small, self.company.currency_id.name)))

    def test_the_daily_refresh_reaches_every_variant_in_turn(self):
        """Issue 24, point 14: a cost that did not change writes nothing, so the variants asked
        are those asked the longest ago, not the same first ones every day."""
        variants = self.poster.product_variant_ids
        Product = self.env['product.product']
        seen = []
        for _run in range(3):
            self.simulator.clear_requests()
            Product._cron_gelato_refresh_costs(limit=1)
            seen += [r['path'].split('/')[4] for r in self.simulator.requests
                     if r['path'].endswith('/prices')]
        self.assertEqual(sorted(seen), sorted(variants.mapped('gelato_product_uid')),
                         "three runs of one variant each reach the three variants")
        self.assertTrue(all(variants.mapped('gelato_costs_checked_at')))

    def test_on_demand_availability_check_stores_every_region(self):
        self.simulator.stock_overrides[(self.small.gelato_product_uid, 'EU')] = 'out-of-stock'
        action = self.poster.action_gelato_check_availability()
        self.assertEqual(action['params']['type'], 'success', action['params']['message'])
        self.assertEqual(self.small._gelato_availability_in('EU'), 'out-of-stock')
        self.assertEqual(self.medium._gelato_availability_in('EU'), 'in-stock')
        self.assertGreater(len(self.small.gelato_availability_ids), 1)
        self.assertEqual(
            self.poster.gelato_unavailable_ids.mapped(lambda a: (a.product_id, a.region)),
            [(self.small, 'EU')], "the product form lists where a variant cannot be printed")

    def test_out_of_stock_elsewhere_does_not_block_an_order_here(self):
        self.simulator.stock_overrides[(self.small.gelato_product_uid, 'US')] = 'out-of-stock'
        self.poster.action_gelato_check_availability()
        order = self._confirm_and_send(self._order())
        self.assertEqual(order.state, 'sale')
        self.assertFalse(order._gelato_lines().gelato_availability_warning)
