"""Static data of the Gelato simulator: countries, currencies, shipment methods, seed templates,
deterministic prices and a tiny PNG encoder."""
import hashlib
import itertools
import re
import struct
import uuid
import zlib
from datetime import date, timedelta

NAMESPACE = uuid.UUID('6f1c2b9e-3d4a-5b6c-8d7e-9f0a1b2c3d4e')

ISO_COUNTRIES = frozenset((
    'AD AE AF AG AI AL AM AN AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ '
    'BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO '
    'DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU '
    'GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW '
    'KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU '
    'MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW '
    'PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF '
    'TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT '
    'ZA ZM ZW'
).split())

# Gelato's list of countries where shippingAddress.postCode is not required.
COUNTRIES_WITHOUT_POSTCODE = frozenset((
    'AO AG AW BS BZ BJ BW BF BI CM CF KM CG CD CK CI DJ DM GQ ER FJ TF GM GH GD GN GY HK IE JM KE '
    'KI MO MW ML MR MU MS NR AN NU KP PA QA RW KN LC ST SC SL SB SO ZA SR SY TZ TL TK TO TT TV UG '
    'AE VU YE ZW'
).split())

EU_COUNTRIES = frozenset((
    'AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE'
).split())

# Countries with a local production hub; other destinations are produced in Germany.
PRODUCTION_COUNTRIES = frozenset('US CA GB DE FR IT ES NL SE NO DK PL AU NZ JP BR MX IN SG'.split())
PROVINCES = {'US': 'NY', 'CA': 'ON', 'AU': 'NSW', 'BR': 'SP', 'IN': 'MH', 'GB': 'ENG'}

# EUR -> currency, for the deterministic prices: the 35 currencies Gelato takes for orders and
# quotes ("Supported currencies", https://dashboard.gelato.com/docs/orders/v4/create, currency).
CURRENCY_RATES = {
    'EUR': 1.0, 'USD': 1.1, 'JPY': 160.0, 'BGN': 1.96, 'CZK': 25.0, 'DKK': 7.46, 'GBP': 0.85,
    'HUF': 390.0, 'PLN': 4.3, 'RON': 4.97, 'SEK': 11.5, 'CHF': 0.95, 'ISK': 150.0, 'NOK': 11.7,
    'HRK': 7.53, 'RUB': 100.0, 'TRY': 35.0, 'AUD': 1.65, 'BRL': 5.5, 'CAD': 1.5, 'CNY': 7.8,
    'HKD': 8.5, 'IDR': 17000.0, 'ILS': 4.0, 'INR': 90.0, 'KRW': 1450.0, 'MXN': 19.0,
    'MYR': 5.0, 'NZD': 1.8, 'PHP': 62.0, 'SGD': 1.45, 'THB': 38.0, 'ZAR': 20.0, 'CLP': 1000.0,
    'AED': 4.0,
}
# Currencies without minor units in the simulator's prices.
ZERO_DECIMAL_CURRENCIES = frozenset(('JPY', 'KRW', 'CLP', 'ISK'))

ORDER_STATUSES = frozenset((
    'draft', 'created', 'uploading', 'passed', 'in_production', 'printed', 'shipped', 'in_transit',
    'delivered', 'returned', 'canceled', 'failed', 'pending_approval', 'pending_personalization',
    'digitizing', 'on_hold', 'not_connected',
))
PROGRESS = ('created', 'passed', 'in_production', 'printed', 'shipped', 'in_transit', 'delivered')
CANCELABLE = frozenset((
    'draft', 'created', 'uploading', 'passed', 'failed', 'pending_approval',
    'pending_personalization', 'digitizing', 'on_hold', 'not_connected',
))
SHIPPED = frozenset(('shipped', 'in_transit', 'delivered', 'returned'))
FINANCIAL_STATUS = {'draft': 'draft', 'created': 'pending', 'uploading': 'pending',
                    'failed': 'canceled', 'canceled': 'canceled'}  # default: 'paid'

STOCK_REGIONS = ('EU', 'UK', 'US-CA', 'OC', 'AS', 'SA', 'ROW')
# Gelato's stock statuses (https://dashboard.gelato.com/docs/products/stock/region-availability/):
# the first three for stockable products (the only ones its webhook documents), `non-stockable`
# for products made to order (mugs, posters...), `not-supported` for a product it does not know.
STOCK_STATUSES = ('in-stock', 'out-of-stock-replenishable', 'out-of-stock', 'non-stockable',
                  'not-supported')
# The most product UIDs one stock request may ask about.
STOCK_MAX_PRODUCTS = 250
# The quantities the Prices API answers tiers for by default.
PRICE_QUANTITIES = (1, 2, 5, 10, 25, 50, 100)

ADDRESS_LIMITS = {
    'firstName': 25, 'lastName': 25, 'companyName': 60, 'addressLine1': 35, 'addressLine2': 35,
    'city': 30, 'postCode': 15, 'state': 35, 'email': 100, 'phone': 25,
}
ADDRESS_REQUIRED = ('firstName', 'lastName', 'addressLine1', 'city', 'country', 'email')

_NO_EXPRESS = frozenset('AQ BV HM UM TF GS IO'.split())
_ROW = ISO_COUNTRIES - EU_COUNTRIES - {'US', 'CA', 'GB'}
# uid, name, type, isBusiness, isPrivate, hasTracking, countries, min days, max days, EUR price
SHIPMENT_METHODS = (
    ('ups_surepost', 'UPS SurePost', 'normal', False, True, True, {'US'}, 5, 7, 4.95),
    ('ups_ground', 'UPS Ground', 'normal', True, True, True, {'US', 'CA'}, 3, 5, 6.5),
    ('fedex_2day', 'FedEx 2Day', 'express', True, True, True, {'US'}, 2, 3, 14.9),
    ('royal_mail_tracked_48', 'Royal Mail Tracked 48', 'normal', False, True, True, {'GB'}, 2, 4,
     3.95),
    ('dhl_parcel_europe', 'DHL Parcel Europe', 'normal', True, True, True, EU_COUNTRIES, 3, 6, 4.5),
    ('dhl_global_mail', 'DHL Global Mail', 'normal', False, True, False, _ROW, 7, 14, 7.9),
    ('dhl_express_worldwide', 'DHL Express Worldwide', 'express', True, True, True,
     ISO_COUNTRIES - _NO_EXPRESS, 1, 3, 19.9),
)
# Generic shipmentMethodUid values Gelato accepts on order creation ("normal, standard, express,
# or a shipmentMethodUid value returned in the Quote API", docs/orders/v4/create) and the method
# type each stands for.
GENERIC_METHODS = {'normal': 'normal', 'standard': 'normal', 'express': 'express'}
METHOD_UIDS = frozenset(m[0] for m in SHIPMENT_METHODS)


def methods_for(country):
    """Shipment method rows available for a destination country (all when country is None)."""
    return [m for m in SHIPMENT_METHODS if country is None or country in m[6]]


def method_json(method):
    uid, name, kind, business, private, tracking, countries = method[:7]
    return {'shipmentMethodUid': uid, 'type': kind, 'name': name, 'isBusiness': business,
            'isPrivate': private, 'hasTracking': tracking, 'supportedCountries': sorted(countries)}


def fulfillment_country(country):
    if country in PRODUCTION_COUNTRIES:
        return country
    return 'US' if country in ('CA', 'MX') else 'DE'


def convert(amount_eur, currency):
    value = amount_eur * CURRENCY_RATES[currency]
    return float(round(value)) if currency in ZERO_DECIMAL_CURRENCIES else round(value, 2)


def hash_int(text):
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def unit_price_eur(product_uid):
    """Deterministic unit price in EUR, between 5.00 and 24.99."""
    return 5 + (hash_int(product_uid) % 2000) / 100


def product_price(product_uid, quantity, currency):
    """Total price of `quantity` units, with Gelato-like volume discounts."""
    discount = 0.15 if quantity >= 100 else 0.1 if quantity >= 50 else 0.05 if quantity >= 10 else 0
    return convert(unit_price_eur(product_uid) * quantity * (1 - discount), currency)


def shipping_price(method, quantity, currency):
    return convert(method[9] + 0.5 * (max(quantity, 1) - 1), currency)


def delivery(method, extra_days=0):
    today = date.today()
    low, high = method[7] + extra_days, method[8] + extra_days
    return {'minDeliveryDays': low, 'maxDeliveryDays': high,
            'minDeliveryDate': (today + timedelta(days=low)).isoformat(),
            'maxDeliveryDate': (today + timedelta(days=high)).isoformat()}


def slug(text):
    """ASCII slug of a name; non-ASCII names also get a stable hash, so that their uids differ."""
    text = str(text)
    result = re.sub(r'[^a-z0-9]+', '-', text.lower()).strip('-')
    if text.isascii():
        return result or 'x'
    return f'{result}-{hash_int(text):08x}'.lstrip('-')


def build_template(template_id, title, variants, print_areas, preview_url=None, description='',
                   now=None):
    """A template in Gelato's ecommerce shape; `variants` is a list of (options, productUid)
    where options is a list of (name, value)."""
    placeholders = [{'name': f'Image{n}', 'printArea': area, 'height': 300.0, 'width': 250.0}
                    for n, area in enumerate(print_areas, start=1)]
    return {
        'id': template_id, 'templateName': title, 'title': title, 'description': description,
        'previewUrl': preview_url, 'productType': 'Printable Material', 'vendor': 'Gelato',
        'createdAt': now, 'updatedAt': now,
        'variants': [{
            'id': str(uuid.uuid5(NAMESPACE, f'{template_id}/{uid}')),
            'title': ' - '.join(value for _name, value in options) or title,
            'productUid': uid,
            'variantOptions': [{'name': name, 'value': value} for name, value in options],
            'imagePlaceholders': [dict(p) for p in placeholders],
            'textPlaceholders': [],
        } for options, uid in variants],
    }


def option_combinations(options):
    """[('Size', ['S', 'M'])] -> [[('Size', 'S')], [('Size', 'M')]]; no options -> [[]].

    Also accepts {name: values} and [{'name': .., 'values': [..]}]."""
    if isinstance(options, dict):
        options = list(options.items())
    options = [(o['name'], o['values']) if isinstance(o, dict) else o for o in options]
    axes = [[(name, str(value)) for value in values] for name, values in options]
    return [list(combo) for combo in itertools.product(*axes)]


SEED_TEMPLATE_IDS = {
    'poster': str(uuid.uuid5(NAMESPACE, 'seed/poster')),
    'tshirt': str(uuid.uuid5(NAMESPACE, 'seed/tshirt')),
    'mug': str(uuid.uuid5(NAMESPACE, 'seed/mug')),
}
_POSTER_SIZES = {'S': '300x400-mm', 'M': '400x500-mm', 'L': '500x700-mm'}


def seed_templates(preview_url, now):
    """The three demo templates; preview_url(template_id) gives each previewUrl."""
    poster = [([('Size', size)], f'posters_pf_{fmt}_pt_200-gsm-poster-paper_cl_4-0_ver')
              for size, fmt in _POSTER_SIZES.items()]
    tshirt = [(combo, ('apparel_product_gca_t-shirt_gsc_crewneck_gcu_unisex_gqa_classic_gsi_'
                       f'{combo[1][1].lower()}_gco_{combo[0][1].lower()}_gpr_4-4'))
              for combo in option_combinations([('Color', ['White', 'Black']),
                                                ('Size', ['S', 'M', 'L'])])]
    mug = [([], 'mug_product_msz_11-oz_mmat_ceramic-white_cl_4-0')]
    specs = (
        ('poster', 'Classic Poster', poster, ('front',), 'Museum-quality poster on 200 gsm paper.'),
        ('tshirt', 'Unisex Crewneck T-shirt', tshirt, ('front', 'back'), 'Classic cotton tee.'),
        ('mug', 'Ceramic Mug 11 oz', mug, ('1',), 'White ceramic mug, dishwasher safe.'),
    )
    templates = {}
    for key, title, variants, areas, description in specs:
        tid = SEED_TEMPLATE_IDS[key]
        templates[tid] = build_template(tid, title, variants, areas, preview_url(tid),
                                        description, now)
    return templates


def png(width, height, rgb):
    """A valid RGB PNG of one colour with a darker 2px border, built with zlib/struct only."""
    dark = bytes(c // 2 for c in rgb)
    rows = []
    for y in range(height):
        edge = y < 2 or y >= height - 2
        row = dark * width if edge else dark * 2 + bytes(rgb) * (width - 4) + dark * 2
        rows.append(b'\x00' + row)

    def chunk(tag, payload):
        crc = zlib.crc32(tag + payload) & 0xFFFFFFFF
        return struct.pack('>I', len(payload)) + tag + payload + struct.pack('>I', crc)

    header = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header)
            + chunk(b'IDAT', zlib.compress(b''.join(rows))) + chunk(b'IEND', b''))


def print_file_format(file_bytes):
    """The format of a print file among those Gelato prints ("PDF, PNG, TIFF, SVG and JPEG",
    docs/orders/v4/create), or None when it is none of them or a picture cannot be read."""
    head = file_bytes[:1024]
    if head.startswith(b'%PDF-'):
        return 'PDF'
    if b'<svg' in file_bytes[:65536].lower():
        return 'SVG'
    import io  # noqa: PLC0415

    from PIL import Image  # noqa: PLC0415
    try:
        picture = Image.open(io.BytesIO(file_bytes))
        picture.load()
    except (OSError, Image.DecompressionBombError, SyntaxError, ValueError):
        return None
    return picture.format if picture.format in ('PNG', 'JPEG', 'TIFF') else None


def render_preview(file_bytes, size=240):
    """A small PNG made from a print file (PNG, JPEG or TIFF), as Gelato's item previews.

    :raise ValueError: When the file is not a picture that can be read.
    """
    import io  # noqa: PLC0415

    from PIL import Image  # noqa: PLC0415 - Odoo's virtualenv has Pillow
    try:
        picture = Image.open(io.BytesIO(file_bytes))
        if picture.format not in ('PNG', 'JPEG', 'TIFF'):
            raise ValueError(f'not a picture Gelato prints ({picture.format})')
        picture.thumbnail((size, size))
        out = io.BytesIO()
        picture.convert('RGB').save(out, 'PNG')
    except (OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ValueError(f'unreadable picture: {exc}') from None
    return out.getvalue()


def preview_png(template_id):
    value = hash_int(template_id)
    rgb = (64 + value % 192, 64 + (value >> 8) % 192, 64 + (value >> 16) % 192)
    return png(64, 64, rgb)


def receipt(order_id, currency, items, products_price, shipping_price, vat_rate=0.0):
    """A receipt in Gelato's documented shape (docs/orders/v4/get/, ReceiptObject): one item row
    per order item and one for the shipment, each price with its VAT."""
    def priced(amount):
        vat = round(amount * vat_rate, 2)
        return amount, vat, round(amount + vat, 2)

    rows, now = [], date.today().isoformat()
    receipt_id = str(uuid.uuid5(NAMESPACE, f'receipt/{order_id}'))
    for item in items:
        amount = product_price(item['productUid'], item['quantity'], currency)
        price, vat, incl = priced(amount)
        rows.append({
            'id': str(uuid.uuid5(NAMESPACE, f'receipt-item/{item["id"]}')),
            'receiptId': receipt_id, 'referenceId': item['id'], 'type': 'product',
            'title': item['productUid'], 'currency': currency,
            'priceBase': round(amount / item['quantity'], 2), 'amount': item['quantity'],
            'priceInitial': price, 'discount': 0.0, 'price': price, 'vat': vat,
            'priceInclVat': incl, 'createdAt': now, 'updatedAt': now,
        })
    price, vat, incl = priced(shipping_price)
    rows.append({
        'id': str(uuid.uuid5(NAMESPACE, f'receipt-shipment/{order_id}')),
        'receiptId': receipt_id, 'referenceId': order_id, 'type': 'shipment',
        'title': 'Shipment', 'currency': currency, 'priceBase': price, 'amount': 1,
        'priceInitial': price, 'discount': 0.0, 'price': price, 'vat': vat,
        'priceInclVat': incl, 'createdAt': now, 'updatedAt': now,
    })
    products_vat = round(products_price * vat_rate, 2)
    shipping_vat = round(shipping_price * vat_rate, 2)
    total = round(products_price + shipping_price, 2)
    return {
        'id': receipt_id, 'orderId': order_id, 'transactionType': 'purchase',
        'currency': currency, 'items': rows,
        'productsPriceInitial': products_price, 'productsPriceDiscount': 0.0,
        'productsPrice': products_price, 'productsPriceVat': products_vat,
        'productsPriceInclVat': round(products_price + products_vat, 2),
        'packagingPriceInitial': 0.0, 'packagingPriceDiscount': 0.0, 'packagingPrice': 0.0,
        'packagingPriceVat': 0.0, 'packagingPriceInclVat': 0.0,
        'shippingPriceInitial': shipping_price, 'shippingPriceDiscount': 0.0,
        'shippingPrice': shipping_price, 'shippingPriceVat': shipping_vat,
        'shippingPriceInclVat': round(shipping_price + shipping_vat, 2),
        'discount': 0.0, 'discountVat': 0.0, 'discountInclVat': 0.0,
        'totalInitial': total, 'total': total, 'totalVat': round(products_vat + shipping_vat, 2),
        'totalInclVat': round(total + products_vat + shipping_vat, 2),
    }


# State codes Gelato takes where it requires a state: ISO 3166-2 without the country part
# (https://apisupport.gelato.com/hc/en-us/articles/360013540520, "State codes are based on the
# ISO 3166-2 standard by omitting the country code part of the code", and its lists for these
# three countries; docs/orders/v4/create, ShippingAddressObject.state).
STATE_CODES = {
    'AU': frozenset('ACT NSW NT QLD SA TAS VIC WA'.split()),
    'CA': frozenset('AB BC MB NB NL NS NT NU ON PE QC SK YT'.split()),
    'US': frozenset(
        'AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH '
        'NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC AS GU MP PR UM VI'
        .split()),
}
