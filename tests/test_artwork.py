# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""The customer's own artwork: per-line files, the shopper's upload, Gelato's proof, approval.

Gelato's documentation: an order item carries one file per print area, `type` naming the area
(docs/orders/v4/create, File and FileType tables); GET order answers each item's `previews`,
`[{"type": "preview_default", "url": ...}]` (docs/orders/v4/get); an order created with
`orderType: draft` is not produced, `PATCH /v4/orders/{id}` (orderType `order`, required) turns
it into an order with its items' files, and only drafts can be patched (docs/orders/v4/patch),
so a picture replaced while the order waits is a new draft (`DELETE`, docs/orders/v4/delete).
Each test reads what the simulator stored, and the bytes Gelato downloads from the links.
"""
import base64
import io
import re
from datetime import timedelta

import requests
from PIL import Image

from odoo import Command, fields
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from odoo.addons.gelato_connector.tests.common import PNG, WEBHOOK_SECRET, GelatoHttpCase


def picture(width, height, color=(200, 40, 40)):
    """A PNG of the given size."""
    out = io.BytesIO()
    Image.new('RGB', (width, height), color).save(out, 'PNG')
    return out.getvalue()


# A PNG cut short: its signature and header, not its pixels.
DAMAGED = picture(40, 40)[:60]


class ArtworkMixin:

    def _personal_product(self, areas=('default', 'back')):
        product = self._gelato_product('tpl-personal', [('Size', ['S', 'M'])], areas=areas)
        product.write({'gelato_personalized': True, 'name': "Your Photo Poster",
                       'is_published': True})
        return product

    def _file_bytes(self, url):
        response = self.url_open(url)
        self.assertEqual(response.status_code, 200, f'{url}: {response.text[:300]}')
        return response.content

    def _remote_files(self, remote_item):
        return {f['type']: f['url'] for f in remote_item['files']}

    def _salesman(self):
        return self.env['res.users'].create({
            'name': "Sam Seller", 'login': 'artwork_seller', 'password': 'artwork_seller',
            'group_ids': [Command.set([self.env.ref('sales_team.group_sale_salesman').id])],
        })


@tagged('post_install', '-at_install')
class TestArtwork(ArtworkMixin, GelatoHttpCase):

    def setUp(self):
        super().setUp()
        self.personal = self._personal_product()
        self.variant = self.personal.product_variant_ids[0]

    def _attach(self, line, area, data, user=None):
        line = line.with_user(user) if user else line
        line.write({'gelato_image_ids': [Command.create({
            'name': area, 'datas': base64.b64encode(data)})]})

    def test_salesperson_attaches_the_customers_file_and_gelato_gets_it_for_that_area(self):
        salesman = self._salesman()
        order = self._order([(self.variant, 1)], carrier=self.carrier_normal)
        order.user_id = salesman
        line = order.order_line.filtered('gelato_personalized')
        photo = picture(300, 360)
        self._attach(line, 'default', photo, user=salesman)
        self.assertEqual(line.gelato_image_ids.res_model, 'sale.order.line')
        self.assertEqual(line.gelato_artwork_count, 1)
        order.with_user(salesman).action_confirm()
        self.env['gelato.order']._cron_send_pending()
        remote = self._remote(order)
        self.assertEqual(remote['orderType'], 'draft', "a personalised order waits for a proof")
        self.assertTrue(order.gelato_order_ids.is_held)
        files = self._remote_files(remote['items'][0])
        self.assertEqual(set(files), {'default', 'back'})
        self.assertEqual(self._file_bytes(files['default']), photo, "the customer's file")
        self.assertEqual(self._file_bytes(files['back']), base64.b64decode(PNG),
                         "the product's print image for the area the customer left")

    def test_another_salesperson_cannot_attach_files_to_others_orders(self):
        salesman = self._salesman()
        order = self._order([(self.variant, 1)])
        order.user_id = self.env.ref('base.user_admin')
        with self.assertRaises(AccessError):
            self._attach(order.order_line, 'default', picture(30, 30), user=salesman)
        self.assertFalse(order.order_line.gelato_image_ids)

    def test_a_personalised_line_without_the_customers_picture_is_not_confirmed(self):
        order = self._order([(self.variant, 1)], carrier=self.carrier_normal)
        with self.assertRaisesRegex(ValidationError, "the customer's picture is missing"):
            order.action_confirm()
        self.assertEqual(order.state, 'draft')
        self.assertFalse(self.simulator.orders)

    def test_two_lines_of_the_same_product_keep_their_own_files(self):
        order = self._order([(self.variant, 1), (self.variant, 2)], carrier=self.carrier_normal)
        first, second = order.order_line.filtered('gelato_personalized')
        self._attach(first, 'default', picture(50, 60, (10, 200, 10)))
        self._attach(second, 'default', picture(50, 60, (10, 10, 200)))
        self._confirm_and_send(order)
        items = {i['itemReferenceId']: i for i in self._remote(order)['items']}
        self.assertEqual(len(items), 2, "two items, never merged")
        for line in (first, second):
            url = self._remote_files(items[str(line.id)])['default']
            self.assertEqual(self._file_bytes(url), line.gelato_image_ids.raw)
        self.assertNotEqual(first.gelato_image_ids.raw, second.gelato_image_ids.raw)

    def test_gelatos_preview_is_kept_and_rendered_from_the_customers_file(self):
        order = self._order([(self.variant, 1)], carrier=self.carrier_normal)
        self._attach(order.order_line.filtered('gelato_personalized'), 'default', picture(80, 96))
        self._confirm_and_send(order)
        item = order.gelato_order_ids.item_ids
        self.assertTrue(item.preview_url)
        self.assertEqual(item.preview_url,
                         self._remote(order)['items'][0]['previews'][0]['url'])
        with self._gelato_calls_in():  # Gelato downloads the file to render the preview.
            answer = requests.get(item.preview_url, timeout=30)
        self.assertEqual(answer.status_code, 200, answer.text[:300])
        preview = Image.open(io.BytesIO(answer.content))
        self.assertEqual(preview.format, 'PNG')
        self.assertEqual(preview.getpixel((0, 0)), (200, 40, 40), "made from the file")

    def test_a_replaced_file_of_a_held_order_makes_a_new_draft_with_it(self):
        order = self._order([(self.variant, 1)], carrier=self.carrier_normal)
        line = order.order_line.filtered('gelato_personalized')
        self._attach(line, 'default', picture(80, 96))
        self._confirm_and_send(order)
        first = order.gelato_order_ids
        old_id = first.gelato_id
        new_photo = picture(90, 108, (0, 0, 255))
        result = order._gelato_store_artwork(self.variant, 'default', new_photo, 'new.png',
                                             line=line)
        self.assertFalse(result['error'])
        self.assertEqual(line.gelato_image_ids.raw, new_photo, "one file per area, replaced")
        self.assertNotIn(old_id, self.simulator.orders, "the old draft is deleted at Gelato")
        self.assertEqual(first.state, 'replaced')
        self._run_outbox()
        new = order._gelato_active_orders()
        self.assertEqual(len(new), 1)
        remote = self.simulator.orders[new.gelato_id]
        self.assertEqual(remote['orderType'], 'draft', "still waiting for the customer")
        self.assertEqual(self._file_bytes(self._remote_files(remote['items'][0])['default']),
                         new_photo)

    def test_a_damaged_replacement_is_refused_and_the_order_keeps_its_file(self):
        order = self._order([(self.variant, 1)], carrier=self.carrier_normal)
        line = order.order_line.filtered('gelato_personalized')
        photo = picture(80, 96)
        self._attach(line, 'default', photo)
        self._confirm_and_send(order)
        gelato_id = order.gelato_order_ids.gelato_id
        result = order._gelato_store_artwork(self.variant, 'default', DAMAGED, 'bad.png',
                                             line=line)
        self.assertIn("could not be read as a PNG picture", result['error'])
        self.assertEqual(line.gelato_image_ids.raw, photo)
        self.assertIn(gelato_id, self.simulator.orders, "nothing changed at Gelato")
        self.assertEqual(order.gelato_order_ids.state, 'sent')

    def test_customer_files_are_removed_a_set_time_after_delivery(self):
        self.company.gelato_artwork_retention_days = 30
        orders = []
        for days in (31, 5):
            order = self._order([(self.variant, 1)], carrier=self.carrier_normal)
            self._attach(order.order_line.filtered('gelato_personalized'), 'default',
                         picture(20, 24))
            self._confirm_and_send(order)
            order.gelato_order_ids.write({
                'status': 'delivered',
                'status_since': fields.Datetime.now() - timedelta(days=days)})
            orders.append(order)
        old, recent = orders
        attachment = old.order_line.gelato_image_ids.ir_attachment_id
        self.env['sale.order.line']._cron_gelato_purge_artwork()
        self.assertFalse(old.order_line.gelato_image_ids)
        self.assertFalse(attachment.exists(), "the file itself is gone")
        self.assertIn("removed, 30 days after delivery", old.message_ids[0].body)
        self.assertTrue(recent.order_line.gelato_image_ids, "kept until its time comes")


@tagged('post_install', '-at_install')
class TestArtworkWebshop(ArtworkMixin, GelatoHttpCase):
    """The shopper's side over real HTTP: the upload, the cart, the order page."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.shopper = cls._portal_user('artwork_shopper', "Frida Kahlo", 'frida@example.com')
        cls.other = cls._portal_user('artwork_other', "Diego Rivera", 'diego@example.com')
        cls._enable_demo_payment()

    def setUp(self):
        super().setUp()
        self.personal = self._personal_product()
        self.variant = self.personal.product_variant_ids[0]

    def _csrf(self, path):
        page = self.url_open(path)
        self.assertEqual(page.status_code, 200)
        token = re.search(r'csrf_token\s*[:=]\s*"([^"]+)"', page.text) or re.search(
            r'name="csrf_token"\s+value="([^"]+)"', page.text)
        return token[1]

    def _upload(self, data, area='default', name='photo.png'):
        token = self._csrf(self.personal.website_url)
        response = self.url_open('/shop/gelato/artwork', data={
            'csrf_token': token, 'product_id': self.variant.id, 'area': area,
        }, files={'ufile': (name, data, 'image/png')})
        return response.json()

    def _add(self, artwork_ids=None):
        params = {'product_template_id': self.personal.id, 'product_id': self.variant.id,
                  'quantity': 1}
        if artwork_ids is not None:
            params['gelato_artwork_ids'] = artwork_ids
        return self.make_jsonrpc_request('/shop/cart/add', params)

    def _cart(self):
        return self.env['sale.order'].search(
            [('partner_id', '=', self.shopper.partner_id.id)], order='id desc', limit=1)

    def test_the_upload_refuses_a_damaged_file_and_warns_a_low_resolution(self):
        self.authenticate('artwork_shopper', 'artwork_shopper')
        refused = self._upload(DAMAGED)
        self.assertIsNone(refused['id'])
        self.assertIn("could not be read as a PNG picture", refused['error'])
        warned = self._upload(picture(100, 120))
        self.assertTrue(warned['id'])
        self.assertFalse(warned['error'])
        self.assertIn("below the 300 dpi Gelato recommends", warned['warnings'][0])
        documents = self.env['product.document'].search(
            [('res_model', '=', 'sale.order'), ('res_id', '=', self._cart().id)])
        self.assertEqual(documents.ids, [warned['id']], "only the file that can be printed")

    def test_each_upload_makes_its_own_cart_line_and_none_joins_without_a_picture(self):
        self.authenticate('artwork_shopper', 'artwork_shopper')
        refused = self._add([])
        self.assertFalse(refused['quantity'])
        self.assertIn("Add your picture first", refused['notification_info']['warning'])
        first = self._upload(picture(40, 48, (1, 2, 3)))['id']
        self._add([first])
        second = self._upload(picture(40, 48, (4, 5, 6)))['id']
        self._add([second])
        self._add([first])  # Already on a line: not taken again.
        lines = self._cart().order_line.filtered('gelato_personalized')
        self.assertEqual(len(lines), 2, "never merged with another customer's file")
        self.assertEqual(lines.gelato_image_ids.ids, [first, second])
        self.assertEqual(set(lines.gelato_image_ids.mapped('res_model')), {'sale.order.line'})

    def test_another_customer_cannot_fetch_the_file_gelato_can(self):
        order = self._order([(self.variant, 1)], partner=self.shopper.partner_id,
                            carrier=self.carrier_normal)
        photo = picture(60, 72)
        order.order_line.filtered('gelato_personalized').write({'gelato_image_ids': [
            Command.create({'name': 'default', 'datas': base64.b64encode(photo)})]})
        self._confirm_and_send(order)
        attachment = order.order_line.gelato_image_ids.ir_attachment_id
        self.authenticate('artwork_other', 'artwork_other')
        response = self.url_open(f'/web/content/{attachment.id}')
        self.assertIn(response.status_code, (403, 404))
        self.assertNotEqual(response.content, photo)
        self.authenticate(None, None)
        url = self._remote_files(self._remote(order)['items'][0])['default']
        self.assertEqual(self._file_bytes(url), photo, "Gelato's link, with its token")

    def test_the_customer_approves_the_proof_on_their_order_page(self):
        order = self._order([(self.variant, 1)], partner=self.shopper.partner_id,
                            carrier=self.carrier_normal)
        order.order_line.filtered('gelato_personalized').write({'gelato_image_ids': [
            Command.create({'name': 'default', 'datas': base64.b64encode(picture(60, 72))})]})
        self._confirm_and_send(order)
        record = order.gelato_order_ids
        self.authenticate('artwork_other', 'artwork_other')
        refused = self.url_open(f'/my/orders/{order.id}/gelato/approve', data={
            'csrf_token': self._csrf('/my'), 'access_token': 'wrong'})
        self.assertEqual(refused.status_code, 404)
        self.assertFalse(record.approve_at, "another customer cannot approve it")
        with self._gelato_calls_in_tour():  # The page shows the proof Gelato rendered.
            self._screenshot(f'/my/orders/{order.id}', 'portal_proof', login='artwork_shopper',
                             focus='#gelato_proofs')
        self._screenshot(self.personal.website_url, 'product_page_artwork',
                         login='artwork_shopper', focus='.o_gelato_artwork')
        self.authenticate('artwork_shopper', 'artwork_shopper')
        page = self.url_open(f'/my/orders/{order.id}')
        self.assertIn(record.item_ids.preview_url.replace('&', '&amp;'), page.text)
        self.assertIn('o_gelato_approve_proof', page.text)
        token = re.search(r'name="csrf_token"\s+value="([^"]+)"', page.text)[1]
        done = self.url_open(f'/my/orders/{order.id}/gelato/approve', data={
            'csrf_token': token, 'access_token': ''})
        self.assertEqual(done.status_code, 200)
        self.assertIn("your order goes to print", done.text)
        self.assertTrue(record.approve_at)
        self.env['gelato.order']._cron_approve_due()
        remote = self.simulator.orders[record.gelato_id]
        self.assertEqual(remote['orderType'], 'order', "Gelato prints it")
        self.assertRecordValues(record, [{'is_held': False}])
        self.assertIn("Approved by Frida Kahlo", ' '.join(order.message_ids.mapped('body')))

    def test_visitor_uploads_pays_and_approves_the_proof_in_the_browser(self):
        if not self.env.ref('payment.payment_provider_demo', raise_if_not_found=False):
            self.skipTest("payment_demo is not installed")
        self.start_tour('/shop', 'gelato_personalised_purchase', login='artwork_shopper',
                        timeout=180)
        order = self._cart()
        self.assertEqual(order.state, 'sale')
        self._run_outbox()
        record = order.gelato_order_ids
        remote = self.simulator.orders[record.gelato_id]
        self.assertEqual(remote['orderType'], 'draft')
        files = self._remote_files(remote['items'][0])
        own = order.order_line.gelato_image_ids
        self.assertEqual(own.name, 'default')
        self.assertEqual(self._file_bytes(files['default']), own.raw)
        self.assertEqual(Image.open(io.BytesIO(own.raw)).size, (120, 144),
                         "the visitor's own picture, as the tour uploaded it")
        self.assertEqual(self._file_bytes(files['back']), base64.b64decode(PNG))
        with self._gelato_calls_in_tour():  # The preview is rendered from Odoo's file.
            self.start_tour(f'/my/orders/{order.id}', 'gelato_personalised_proof',
                            login='artwork_shopper', timeout=120)
        self.assertTrue(record.approve_at)
        self.env['gelato.order']._cron_approve_due()
        remote = self.simulator.orders[record.gelato_id]
        self.assertEqual(remote['orderType'], 'order')
        self.assertEqual(remote['fulfillmentStatus'], 'created')
        with self._gelato_calls_in():
            # Gelato's upload step accepts the files, then the order goes to production.
            self.assertEqual(self.simulator.print_file_problems(record.gelato_id), [])
            results = self.simulator.drive_order(record.gelato_id, self._webhook_url(),
                                                 WEBHOOK_SECRET, ('passed', 'in_production'),
                                                 retry_delay=0.1)
        self.assertTrue(all(codes[-1] == 200 for codes in results), results)
        self.assertEqual(record.status, 'in_production')

    def test_a_bad_upload_is_a_clear_answer_and_keeps_nothing(self):
        """Found by hand on the live server: an unpublished product answered Odoo's HTML 403."""
        self.authenticate(None, None)
        token = self._csrf('/shop')
        hidden = self.env['product.product'].create({'name': "Hidden", 'type': 'consu'})
        before = self.env['product.document'].search_count([])
        for product_id, status in ((hidden.id, 404), (999999, 404), ('x', 404)):
            response = self.url_open('/shop/gelato/artwork', data={
                'csrf_token': token, 'product_id': product_id, 'area': 'default',
            }, files={'ufile': ('a.png', picture(10, 10), 'image/png')})
            self.assertEqual(response.status_code, status, product_id)
            self.assertEqual(response.json(), {'error': "Unknown product."})
        response = self.url_open('/shop/gelato/artwork', data={
            'csrf_token': token, 'product_id': self.variant.id, 'area': 'sleeve-left',
        }, files={'ufile': ('a.png', picture(10, 10), 'image/png')})
        self.assertEqual(response.status_code, 400)
        self.assertIn("takes no picture for", response.json()['error'])
        self.assertEqual(self.env['product.document'].search_count([]), before)


@tagged('post_install', '-at_install')
class TestArtworkLinks(ArtworkMixin, GelatoHttpCase):

    def test_a_line_cannot_take_a_products_print_image_or_anothers_file(self):
        """Review: linking a file to a line moves it there; only the cart's own uploads may."""
        personal = self._personal_product()
        variant = personal.product_variant_ids[0]
        salesman = self._salesman()
        order = self._order([(variant, 1)])
        order.user_id = salesman
        other = self._order([(variant, 1)])
        foreign = other._gelato_store_artwork(variant, 'default', picture(20, 24), 'x.png')
        for document_id in (personal.gelato_image_ids[0].id, foreign['id']):
            with self.assertRaises(AccessError):
                order.order_line.with_user(salesman).write(
                    {'gelato_image_ids': [Command.link(document_id)]})
        self.assertEqual(personal.gelato_image_ids[0].res_model, 'product.template')
        self.assertFalse(order.order_line.gelato_image_ids)
        mine = order._gelato_store_artwork(variant, 'default', picture(20, 24), 'y.png')
        order.order_line.with_user(salesman).write(
            {'gelato_image_ids': [Command.link(mine['id'])]})
        self.assertEqual(order.order_line.gelato_image_ids.ids, [mine['id']])
