# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import base64

from odoo.tests import tagged

from odoo.addons.gelato_connector.tests.common import FORBIDDEN_KEY, GelatoCase

PNG = base64.b64encode(bytes.fromhex(
    '89504e470d0a1a0a0000000d4948445200000001000000010806000000'
    '1f15c4890000000d49444154789c6360606060000000050001a5f645400000000049454e44ae426082'
))


@tagged('post_install', '-at_install')
class TestProductSync(GelatoCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner = cls.env['res.partner'].create({'name': "Gelato Sync Customer"})

    def _make(self, ref, options, print_areas=('front',), drop=()):
        """A template in the simulator; `drop` lists option-value tuples Gelato does not offer."""
        template = self.simulator.make_template(ref, options, print_areas=print_areas)
        if drop:
            template['variants'] = [
                v for v in template['variants']
                if tuple(o['value'] for o in v['variantOptions']) not in drop
            ]
            self.simulator.add_template(template)
        return template

    def _uids(self, product):
        return set(product.product_variant_ids.mapped('gelato_product_uid'))

    def _gelato_uids(self, template):
        return {v['productUid'] for v in template['variants']}

    def _state(self, product):
        """Everything a synchronization could change, to compare before and after."""
        product.invalidate_recordset()
        variants = product.with_context(active_test=False).product_variant_ids
        return {
            'variants': sorted((v.id, v.active, v.gelato_product_uid) for v in variants),
            'lines': sorted(
                (line.id, tuple(sorted(line.value_ids.ids))) for line in product.attribute_line_ids
            ),
            'ptavs': sorted(product.attribute_line_ids.product_template_value_ids.ids),
            'images': sorted((i.id, i.name, bool(i.datas)) for i in product.gelato_image_ids),
            'list_price': product.list_price,
            'active': product.active,
        }

    # --- synchronize ---------------------------------------------------------------------------

    def test_sync_creates_one_variant_per_gelato_variant(self):
        template = self._make('tpl-shirt',
                              [('Color', ['White', 'Black']), ('Size', ['S', 'M', 'L'])])
        product = self._product('tpl-shirt')
        params = self._sync(product)
        self.assertIn(params['type'], ('success', 'warning'))
        self.assertIn('6 variant(s) added', params['message'])
        self.assertEqual(product.product_variant_count, 6)
        self.assertEqual(self._uids(product), self._gelato_uids(template))
        for line in product.attribute_line_ids:
            self.assertEqual(line.attribute_id.create_variant, 'always')
        self.assertEqual(product.attribute_line_ids.attribute_id.mapped('name'), ['Color', 'Size'])

    def test_each_variant_carries_the_uid_of_its_own_options(self):
        template = self._make('tpl-exact', [('Color', ['Red', 'Blue']), ('Size', ['S', 'M'])])
        product = self._product('tpl-exact')
        self._sync(product)
        for gelato_variant in template['variants']:
            options = {(o['name'], o['value']) for o in gelato_variant['variantOptions']}
            variant = product.product_variant_ids.filtered(
                lambda p, uid=gelato_variant['productUid']: p.gelato_product_uid == uid
            )
            ptavs = variant.product_template_attribute_value_ids
            self.assertEqual({(v.attribute_id.name, v.name) for v in ptavs}, options)

    def test_combinations_gelato_does_not_offer_do_not_exist(self):
        template = self._make('tpl-sparse', [('Color', ['White', 'Black']), ('Size', ['S', 'M'])],
                              drop={('Black', 'M')})
        product = self._product('tpl-sparse')
        self._sync(product)
        self.assertEqual(product.product_variant_count, 3)
        self.assertEqual(self._uids(product), self._gelato_uids(template))
        self.assertFalse(product.with_context(active_test=False).product_variant_ids.filtered(
            lambda p: not p.gelato_product_uid
        ))

    def test_single_variant_template_carries_the_uid_on_the_product(self):
        template = self.simulator.add_template({
            'id': 'tpl-mug', 'title': "Mug", 'variants': [{
                'id': 'v1', 'title': "Mug", 'productUid': 'mug_product_11oz_white',
                'variantOptions': [], 'imagePlaceholders': [{'name': 'Image', 'printArea': '1'}],
            }],
        }) or self.simulator.templates['tpl-mug']
        product = self._product('tpl-mug')
        self._sync(product)
        self.assertEqual(product.product_variant_count, 1)
        self.assertEqual(product.gelato_product_uid, template['variants'][0]['productUid'])
        self.assertEqual(product.gelato_image_ids.mapped('name'), ['default'])

    def test_attributes_and_values_are_reused_not_duplicated(self):
        self._make('tpl-a', [('Finish', ['Matte', 'Gloss'])])
        self._make('tpl-b', [('Finish', ['Gloss', 'Satin'])])
        first, second = self._product('tpl-a'), self._product('tpl-b')
        self._sync(first)
        self._sync(second)
        attributes = self.env['product.attribute'].search([('name', '=', 'Finish')])
        self.assertEqual(len(attributes), 1)
        self.assertEqual(
            self.env['product.attribute.value'].search_count(
                [('attribute_id', '=', attributes.id), ('name', '=', 'Gloss')]), 1)

    def test_non_latin_names_are_kept(self):
        self._make('tpl-intl', [('Größe', ['Klein', 'Groß']), ('颜色', ['红色', '蓝色'])])
        product = self._product('tpl-intl')
        params = self._sync(product)
        self.assertNotEqual(params['type'], 'danger')
        self.assertEqual(product.product_variant_count, 4)
        self.assertIn('颜色', product.attribute_line_ids.attribute_id.mapped('name'))

    # --- re-synchronize ------------------------------------------------------------------------

    def test_resync_after_gelato_removed_a_variant_and_a_value(self):
        self._make('tpl-re', [('Color', ['White', 'Black']), ('Size', ['S', 'M', 'L'])])
        product = self._product('tpl-re')
        self._sync(product)
        # Gelato drops size L entirely, and the Black/M combination, and adds size XL.
        template = self._make('tpl-re', [('Color', ['White', 'Black']), ('Size', ['S', 'M', 'XL'])],
                              drop={('Black', 'M')})
        params = self._sync(product)
        self.assertEqual(self._uids(product), self._gelato_uids(template))
        self.assertEqual(product.product_variant_count, 5)
        size_line = product.attribute_line_ids.filtered(
            lambda line: line.attribute_id.name == 'Size')
        self.assertEqual(sorted(size_line.value_ids.mapped('name')), ['M', 'S', 'XL'])
        self.assertIn('added', params['message'])
        self.assertIn('removed', params['message'])

    def test_vanished_variant_used_in_an_order_is_archived(self):
        self._make('tpl-used', [('Size', ['S', 'M'])])
        product = self._product('tpl-used')
        self._sync(product)
        medium = product.product_variant_ids.filtered(
            lambda p: p.product_template_attribute_value_ids.name == 'M')
        self.env['sale.order'].create({
            'partner_id': self.partner.id,
            'order_line': [(0, 0, {'product_id': medium.id, 'product_uom_qty': 1})],
        })
        self._make('tpl-used', [('Size', ['S'])])
        params = self._sync(product)
        self.assertIn('archived', params['message'])
        self.assertTrue(medium.exists())
        self.assertFalse(medium.active)
        self.assertEqual(product.product_variant_count, 1)

    def test_variant_offered_again_is_reactivated(self):
        self._make('tpl-back', [('Size', ['S', 'M'])])
        product = self._product('tpl-back')
        self._sync(product)
        medium = product.product_variant_ids.filtered(
            lambda p: p.product_template_attribute_value_ids.name == 'M')
        self.env['sale.order'].create({
            'partner_id': self.partner.id,
            'order_line': [(0, 0, {'product_id': medium.id, 'product_uom_qty': 1})],
        })
        self._make('tpl-back', [('Size', ['S'])])
        self._sync(product)
        self._make('tpl-back', [('Size', ['S', 'M'])])
        self._sync(product)
        self.assertTrue(medium.active)
        self.assertEqual(product.product_variant_count, 2)

    def test_resync_keeps_what_the_user_set(self):
        self._make('tpl-keep', [('Size', ['S', 'M'])], print_areas=('front', 'back'))
        product = self._product('tpl-keep', list_price=42.5, description="Internal note")
        self._sync(product)
        ptav = product.attribute_line_ids.product_template_value_ids.filtered(
            lambda v: v.name == 'M')
        ptav.price_extra = 7.0
        product.gelato_image_ids.filtered(lambda i: i.name == 'default').datas = PNG
        self._make('tpl-keep', [('Size', ['S', 'M', 'L'])], print_areas=('front', 'back'))
        self._sync(product)
        self.assertEqual(product.list_price, 42.5)
        self.assertEqual(product.description, "<p>Internal note</p>")
        self.assertEqual(ptav.price_extra, 7.0)
        self.assertTrue(product.gelato_image_ids.filtered(lambda i: i.name == 'default').datas)
        self.assertEqual(product.product_variant_count, 3)

    def test_second_sync_changes_nothing(self):
        self._make('tpl-twice', [('Color', ['A', 'B']), ('Size', ['S', 'M'])],
                   print_areas=('front',), drop={('B', 'M')})
        product = self._product('tpl-twice')
        self._sync(product)
        before = self._state(product)
        params = self._sync(product)
        self.assertIn('Already up to date', params['message'])
        self.assertEqual(self._state(product), before)

    # --- print images --------------------------------------------------------------------------

    def test_print_images_one_per_area_front_becomes_default(self):
        self._make('tpl-areas', [('Size', ['S', 'M'])], print_areas=('front', 'back', 'sleeve'))
        product = self._product('tpl-areas')
        params = self._sync(product)
        self.assertEqual(params['type'], 'warning')
        self.assertEqual(sorted(product.gelato_image_ids.mapped('name')),
                         ['back', 'default', 'sleeve'])
        self.assertTrue(product.gelato_missing_images)
        self.assertIn('default', params['message'])
        for image in product.gelato_image_ids:
            image.datas = PNG
        self.assertFalse(product.gelato_missing_images)
        self.assertFalse(product.gelato_missing_image_names)

    def test_print_images_stay_out_of_product_documents(self):
        self._make('tpl-docs', [('Size', ['S'])])
        product = self._product('tpl-docs')
        self._sync(product)
        documents = self.env['product.document'].search(product._get_product_document_domain())
        self.assertFalse(documents & product.gelato_image_ids)

    def test_variant_image_overrides_the_product_image_of_its_area(self):
        self._make('tpl-override', [('Size', ['S', 'M'])], print_areas=('front', 'back'))
        product = self._product('tpl-override')
        self._sync(product)
        small, medium = product.product_variant_ids.sorted(
            lambda p: p.product_template_attribute_value_ids.name)[::-1]
        product.gelato_image_ids.filtered(lambda i: i.name == 'default').datas = PNG
        self.assertEqual(small._gelato_missing_print_areas(), ['back'])
        self.env['product.document'].create({
            'name': 'back', 'res_model': 'product.product', 'res_id': small.id,
            'is_gelato': True, 'datas': PNG,
        })
        self.assertEqual(small._gelato_missing_print_areas(), [])
        self.assertEqual(medium._gelato_missing_print_areas(), ['back'])
        self.assertEqual(small._gelato_print_images()['back'].res_model, 'product.product')

    # --- bad input -----------------------------------------------------------------------------

    def _assert_refused(self, product, *expected_words):
        before = self._state(product)
        params = self._sync(product)
        self.assertEqual(params['type'], 'danger')
        for word in expected_words:
            self.assertIn(word, params['message'])
        self.assertEqual(self._state(product), before, "a failed sync leaves the product as it was")
        return params

    def _synced_product(self, ref):
        self._make(ref, [('Size', ['S', 'M'])])
        product = self._product(ref)
        self._sync(product)
        return product

    def test_unknown_template_is_a_clear_error(self):
        product = self._product('tpl-does-not-exist')
        self._assert_refused(product, 'tpl-does-not-exist')

    def test_key_without_access_is_a_clear_error(self):
        product = self._synced_product('tpl-forbidden')
        self.company.gelato_api_key = FORBIDDEN_KEY
        self._assert_refused(product, '403')

    def test_gelato_down_is_a_clear_error(self):
        product = self._synced_product('tpl-down')
        self.simulator.go_down()
        try:
            self._assert_refused(product, 'Could not reach Gelato')
        finally:
            self.simulator.come_up()

    def test_template_without_variants_is_refused(self):
        product = self._synced_product('tpl-empty')
        self.simulator.add_template({'id': 'tpl-empty', 'title': "Empty", 'variants': []})
        self._assert_refused(product, 'no variants')

    def test_variant_without_options_is_refused(self):
        product = self._synced_product('tpl-nooption')
        template = self._make('tpl-nooption', [('Size', ['S', 'M'])])
        template['variants'][1]['variantOptions'] = []
        self.simulator.add_template(template)
        self._assert_refused(product, 'no options')

    def test_two_variants_with_the_same_options_are_refused(self):
        product = self._synced_product('tpl-dupe')
        template = self._make('tpl-dupe', [('Size', ['S', 'M'])])
        template['variants'][1]['variantOptions'] = template['variants'][0]['variantOptions']
        self.simulator.add_template(template)
        self._assert_refused(product, 'same options')

    def test_very_long_names_are_refused(self):
        product = self._synced_product('tpl-long')
        self._make('tpl-long', [('Size', ['S', 'M' * 300])])
        self._assert_refused(product, 'longer than')

    def test_malformed_template_is_refused(self):
        product = self._synced_product('tpl-malformed')
        # Stored as is: the simulator would refuse it through add_template().
        self.simulator.templates['tpl-malformed'] = {'id': 'tpl-malformed', 'variants': [42, None]}
        self._assert_refused(product, 'malformed')
