# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

import base64
import io
import struct
import time
import zlib

from PIL import Image

from odoo.exceptions import ValidationError
from odoo.tests import tagged

from odoo.addons.gelato_connector import print_check
from odoo.addons.gelato_connector.tests.common import GelatoHttpCase, capture_logs

# A poster whose print area grows with its size, as Gelato's posters do (mm).
SIZES = {'S': (300, 400), 'M': (400, 500), 'L': (500, 700)}


def _b64(data):
    return base64.b64encode(data)


def _picture(width, height, fmt='PNG', noise=False):
    """A picture of `width` x `height` pixels in `fmt`, as bytes."""
    image = Image.effect_noise((width, height), 64) if noise \
        else Image.new('L', (width, height), 200)
    if fmt == 'JPEG':
        image = image.convert('RGB')
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def _png_chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))


def _png_bomb(side=20000):
    """A valid 1-bit PNG of side x side pixels (400 megapixels by default) that weighs tens of
    kilobytes: decoding it fully would take gigabytes and seconds."""
    compressor = zlib.compressobj(9)
    row = b'\x00' * (1 + side // 8)  # filter byte + one bit per pixel
    compressed = b''.join(compressor.compress(row) for _i in range(side)) + compressor.flush()
    return (b'\x89PNG\r\n\x1a\n'
            + _png_chunk(b'IHDR', struct.pack('>IIBBBBB', side, side, 1, 0, 0, 0, 0))
            + _png_chunk(b'IDAT', compressed) + _png_chunk(b'IEND', b''))


# A 40 x 50 px WEBP (Odoo keeps Pillow from writing WEBP, so it is spelled out here).
WEBP = base64.b64decode('UklGRiQAAABXRUJQVlA4TBcAAAAvJ0AMAAdQhSJXof8BICH8P69G9D/FAQA=')
PDF = b'%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n'
SVG = (b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
       b'width="300mm" height="400mm"><rect width="10" height="10"/></svg>')


@tagged('post_install', '-at_install')
class TestPrintReadiness(GelatoHttpCase):
    """Print files are checked, from the stored file and without calling Gelato, before they
    fail at Gelato: refused when Gelato cannot print them, warned when they may print badly."""

    def setUp(self):
        super().setUp()
        self.sized, self.variants = self._sized_poster('tpl-sized')

    # --- helpers ------------------------------------------------------------------------------

    def _sized_poster(self, ref, sizes=None, with_sizes=True):
        """A poster whose print area `front` has a size per variant (S/M/L), synchronized."""
        sizes = sizes or SIZES
        placeholder = {'name': 'Image1', 'printArea': 'front'}
        self.simulator.add_template({'id': ref, 'title': "Sized Poster", 'variants': [{
            'productUid': f'{ref}_{size}', 'title': size,
            'variantOptions': [{'name': 'Size', 'value': size}],
            'imagePlaceholders': [dict(placeholder, **(
                {'width': width, 'height': height} if with_sizes else {}))],
        } for size, (width, height) in sizes.items()]})
        product = self._product(ref, list_price=30.0)
        params = self._sync(product)
        self.assertNotEqual(params['type'], 'danger', params['message'])
        variants = {v.product_template_attribute_value_ids.name: v
                    for v in product.product_variant_ids}
        return product, variants

    def _set_print_image(self, data, product=None):
        image = (product or self.sized).gelato_image_ids.filtered(lambda i: i.name == 'default')
        image.datas = _b64(data)
        return image

    def _override(self, variant, data, area='default'):
        return self.env['product.document'].create({
            'name': area, 'res_model': 'product.product', 'res_id': variant.id,
            'is_gelato': True, 'datas': _b64(data),
        })

    def _report(self, product=None):
        """The print file report of the product form, as text."""
        product = product or self.sized
        product.invalidate_recordset()
        return ' '.join(str(product.gelato_print_check_html or '').split())

    def _chatter(self, order):
        return ' '.join(order.message_ids.mapped(lambda m: str(m.body)))

    def _assert_refused(self, variant, *words):
        order = self._order([(variant, 1)])
        with self.assertRaises(ValidationError) as caught:
            order.action_confirm()
        message = str(caught.exception)
        for word in (variant.display_name, '"default"', *words):
            self.assertIn(word, message)
        self.assertEqual(order.state, 'draft')
        return message

    # --- sizes ----------------------------------------------------------------------------------

    def test_sync_keeps_the_print_area_size_of_each_variant(self):
        for size, (width, height) in SIZES.items():
            self.assertEqual(self.variants[size].gelato_print_area_sizes,
                             {'default': [float(width), float(height)]})

    def _size_writes(self, product):
        """Synchronize; return the SQL statements that wrote a print area size (Odoo logs every
        statement at DEBUG)."""
        self.env.flush_all()
        with capture_logs('odoo.sql_db') as logs:
            self._sync(product)
            self.env.flush_all()
        queries = [r.getMessage().split('query: ', 1)[-1].strip() for r in logs.records]
        return [q for q in queries if q.startswith('UPDATE') and 'gelato_print_area_sizes' in q]

    def test_sizes_are_written_only_when_gelato_changes_them(self):
        self.assertEqual(self._size_writes(self.sized), [], "a second Synchronize writes none")
        # Gelato now makes S in A4.
        self.simulator.templates['tpl-sized']['variants'][0]['imagePlaceholders'][0].update(
            width=210, height=297)
        self.assertEqual(len(self._size_writes(self.sized)), 1)
        self.assertEqual(self.variants['S'].gelato_print_area_sizes, {'default': [210.0, 297.0]})
        self.assertEqual(self.variants['M'].gelato_print_area_sizes, {'default': [400.0, 500.0]})

    # --- resolution and shape -----------------------------------------------------------------

    def test_low_resolution_image_is_flagged_and_warned_at_confirmation(self):
        # 850 x 1134 px on 300 x 400 mm: 72 dpi.
        self._set_print_image(_picture(850, 1134))
        small = self.variants['S']
        self.assertEqual(small._gelato_print_file_problems(), [])
        warnings = small._gelato_print_file_warnings()
        self.assertEqual(len(warnings), 1, warnings)
        for word in (small.display_name, '"default"', '72 dpi', '300 × 400 mm', '300 dpi',
                     '3544 × 4725'):
            self.assertIn(word, warnings[0])
        report = self._report()
        for word in ('72 dpi', '300 dpi', '3544 × 4725', 'Design-Requirements-for-Gelato',
                     '<strong>Print files:</strong>'):
            self.assertIn(word, report)
        order = self._order([(small, 1)])
        order.action_confirm()
        self.assertEqual(order.state, 'sale')
        self.assertIn('72 dpi', self._chatter(order))
        self.assertIn('Gelato may put it on hold', self._chatter(order))

    def test_high_resolution_image_of_the_right_shape_is_not_flagged(self):
        # 3544 x 4725 px: 300 dpi on S (300 x 400 mm), too few pixels for M and L.
        image = self._set_print_image(_picture(3544, 4725))
        small = self.variants['S']
        self.assertEqual(small._gelato_print_file_problems(), [])
        self.assertEqual(small._gelato_print_file_warnings(), [])
        # Odoo did not shrink the print file (it shrinks pictures above 1920 px by default).
        self.assertEqual(Image.open(io.BytesIO(image.raw)).size, (3544, 4725))
        self.assertEqual((image.gelato_pixel_width, image.gelato_pixel_height), (3544, 4725))
        report = self._report()
        self.assertIn('400 × 500 mm', report)  # M is below 300 dpi
        self.assertNotIn('300 × 400 mm', report)  # S is fine
        order = self._order([(small, 1)])
        order.action_confirm()
        self.assertNotIn('Gelato may put it on hold', self._chatter(order))

    def test_image_of_another_shape_is_warned(self):
        # 4800 x 4800 px on 300 x 400 mm: 305 dpi, but square on a 3:4 area.
        self._set_print_image(_picture(4800, 4800))
        small = self.variants['S']
        warnings = small._gelato_print_file_warnings()
        self.assertEqual(len(warnings), 1, warnings)
        self.assertIn('another shape', warnings[0])
        self.assertIn('33 %', warnings[0])
        self.assertNotIn('dpi', warnings[0])
        self.assertIn('another shape', self._report().lower())
        order = self._order([(small, 1)])
        order.action_confirm()
        self.assertEqual(order.state, 'sale')
        self.assertIn('another shape', self._chatter(order))

    def test_variant_override_is_checked_against_that_variant_area(self):
        self._set_print_image(_picture(3544, 4725))  # 300 dpi on S
        large = self.variants['L']
        # 2000 x 2800 px on L (500 x 700 mm): 102 dpi, the right shape.
        self._override(large, _picture(2000, 2800))
        warnings = large._gelato_print_file_warnings()
        self.assertEqual(len(warnings), 1, warnings)
        self.assertIn('102 dpi', warnings[0])
        self.assertIn('500 × 700 mm', warnings[0])
        self.assertEqual(self.variants['S']._gelato_print_file_warnings(), [])
        # The same override on S (300 x 400 mm) would be 169 dpi: it is L's size that counts.
        self.assertNotIn('169 dpi', self._report())
        self.assertIn('102 dpi', self._report())

    def test_jpeg_is_measured(self):
        self._set_print_image(_picture(850, 1134, 'JPEG'))
        warnings = self.variants['S']._gelato_print_file_warnings()
        self.assertIn('72 dpi', warnings[0])

    # --- what Gelato cannot print ---------------------------------------------------------------

    def test_corrupt_file_is_refused_at_confirmation(self):
        data = b'\x89PNG\r\n\x1a\n' + b'not really a picture' * 50
        image = self._set_print_image(data)
        message = self._assert_refused(self.variants['S'], 'could not be read')
        self.assertIn('PNG', message)
        self.assertEqual(image.raw, data, "the file is kept as it was uploaded")
        self.assertIn('could not be read', self._report())

    def test_truncated_pictures_are_refused(self):
        for fmt in ('PNG', 'JPEG'):
            with self.subTest(fmt=fmt):
                whole = _picture(400, 400, fmt, noise=True)
                self._set_print_image(whole[:len(whole) // 2])
                self._assert_refused(self.variants['S'], 'could not be read', fmt)

    def test_pdf_and_svg_are_accepted_without_pixel_check(self):
        for data in (PDF, SVG):
            with self.subTest(data=data[:5]):
                self._set_print_image(data)
                small = self.variants['S']
                self.assertEqual(small._gelato_print_file_problems(), [])
                self.assertEqual(small._gelato_print_file_warnings(), [])
                self.assertIn('resolution not checked for PDF/SVG', self._report())
        order = self._order([(self.variants['S'], 1)])
        order.action_confirm()
        self.assertEqual(order.state, 'sale')

    def test_formats_gelato_does_not_take_are_refused(self):
        files = {'GIF': _picture(400, 500, 'GIF'), 'BMP': _picture(400, 500, 'BMP'),
                 'WEBP': WEBP}
        for fmt, data in files.items():
            with self.subTest(fmt=fmt):
                self._set_print_image(data)
                message = self._assert_refused(self.variants['S'], fmt, 'PNG, JPEG, TIFF')
                self.assertIn('not a format Gelato prints', message)
                self.assertIn(fmt, self._report())

    def test_a_file_that_is_no_picture_is_refused(self):
        self._set_print_image(b'Just some notes, not a print file.\n' * 10)
        self._assert_refused(self.variants['S'], 'not a format Gelato prints')

    def test_decompression_bomb_is_refused_without_decoding_it(self):
        bomb = _png_bomb()  # 20,000 x 20,000 pixels
        start = time.monotonic()
        image = self._set_print_image(bomb)
        self.env.flush_all()
        self.assertEqual(image.gelato_file_error, 'too_large')
        message = self._assert_refused(self.variants['S'], 'too large')
        elapsed = time.monotonic() - start
        self.assertLess(elapsed, 5.0, "the picture was decoded")
        self.assertIn('too large', self._report())
        self.assertEqual(image.raw, bomb, "the file is kept as it was uploaded")
        self.assertIn(f'{print_check.max_pixels():,}', message)

    # --- what cannot be checked -----------------------------------------------------------------

    def test_area_without_size_is_not_checked(self):
        product, variants = self._sized_poster('tpl-nosize', with_sizes=False)
        self._set_print_image(_picture(85, 113), product=product)  # 7 dpi, were it known
        small = variants['S']
        self.assertEqual(small.gelato_print_area_sizes or {}, {})
        self.assertEqual(small._gelato_print_file_problems(), [])
        self.assertEqual(small._gelato_print_file_warnings(), [])
        self.assertIn('size unknown: not checked', self._report(product))
        order = self._order([(small, 1)])
        order.action_confirm()
        self.assertEqual(order.state, 'sale')

    # --- no call to Gelato ---------------------------------------------------------------------

    def test_confirmation_calls_gelato_for_nothing(self):
        self._set_print_image(_picture(850, 1134))
        order = self._order([(self.variants['S'], 1)])
        self.simulator.clear_requests()
        order.action_confirm()
        self.assertEqual(order.state, 'sale')
        self.assertEqual(self.simulator.requests, [])

    # --- the pure measurement --------------------------------------------------------------------

    def test_crafted_files_of_countless_parts_are_refused_fast(self):
        """Issue 24, point 14: a PNG of 200,000 chunks or a TIFF announcing a million strips is
        refused from its layout, fast, without Pillow walking it."""
        good = _picture(40, 40)
        ihdr_end = 8 + 12 + 13
        empty_chunk = struct.pack('>I', 0) + b'tEXt' + struct.pack('>I', zlib.crc32(b'tEXt'))
        png = good[:ihdr_end] + empty_chunk * 200_000 + good[ihdr_end:]
        tiff = b'II*\x00' + struct.pack('<I', 8) + struct.pack('<H', 1) \
            + struct.pack('<HHII', 273, 4, 1_000_000, 26) + struct.pack('<I', 0)
        for data in (png, tiff):
            started = time.monotonic()
            result = print_check.measure(data)
            self.assertEqual(result['error'], 'corrupt')
            self.assertLess(time.monotonic() - started, 1.0)
        self.assertIsNone(print_check.measure(good)['error'], "a real file is measured")

    def test_effective_resolution_is_the_lower_of_width_and_height(self):
        measure = print_check.measure(_picture(1181, 3000))
        result = print_check.assess(measure, (100, 100))  # 300 dpi wide, 762 dpi high
        self.assertEqual(round(result['dpi']), 300)
        self.assertFalse(result['low_resolution'])
        self.assertTrue(result['other_shape'])
        result = print_check.assess(measure, (100, 300))
        self.assertEqual(round(result['dpi']), 254)
        self.assertTrue(result['low_resolution'])
        self.assertEqual(result['needed_pixels'], (1182, 3544))

    # --- the product form ------------------------------------------------------------------------

    def test_product_form_shows_the_flagged_image(self):
        self.sized.name = "Gallery Poster"
        self._set_print_image(_picture(850, 1134))
        self._override(self.variants['L'], PDF)
        self.env.flush_all()
        url = f'/odoo/action-product.product_template_action/{self.sized.id}'
        self._screenshot(
            url, 'print_readiness', login='admin',
            ready="!!document.querySelector('a[name=sales]')",
            actions=[("document.querySelector('a[name=sales]').click()",
                      "!!document.querySelector('.o_gelato_print_check table')")],
            focus='.o_gelato_print_check')
