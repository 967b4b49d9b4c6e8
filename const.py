# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""Constants shared by the Gelato connector: API settings, status tables and Gelato's limits."""

# === API === #

API_URL_TEMPLATE_PARAM = 'gelato_connector.api_url_template'
DEFAULT_API_URL_TEMPLATE = 'https://{service}.gelatoapis.com'
API_SERVICES = ('order', 'product', 'ecommerce', 'shipment')

# Seconds to wait for Gelato to connect or to send a byte of its answer.
REQUEST_TIMEOUT = 20

# Retries for transient failures: connection errors, 429 and 5xx. The backoff doubles from
# RETRY_BACKOFF_FACTOR seconds; Retry-After headers sent by Gelato are honoured.
RETRY_TOTAL = 3
RETRY_BACKOFF_FACTOR = 0.3
RETRY_STATUS_CODES = (429, 500, 502, 503, 504)

# The cheap authenticated call behind "Test connection".
CONNECTION_TEST_ENDPOINT = ('shipment', 'GET', '/v1/shipment-methods')

# Values that must never reach a log line.
SENSITIVE_KEYS = {'X-API-KEY', 'gelato_api_key', 'gelato_webhook_secret', 'signature'}

WEBHOOK_ROUTE = '/gelato/webhook'
DASHBOARD_ORDER_URL = 'https://dashboard.gelato.com/orders/{order_id}'

# === PRODUCTS === #

# Longest attribute, value or variant name accepted from a Gelato template.
MAX_NAME_LENGTH = 255

# === ADDRESSES === #

# Countries where Gelato does not require a postal code.
COUNTRIES_WITHOUT_ZIPCODE = {
    'AO', 'AG', 'AW', 'BS', 'BZ', 'BJ', 'BW', 'BF', 'BI', 'CM', 'CF', 'KM',
    'CG', 'CD', 'CK', 'CI', 'DJ', 'DM', 'GQ', 'ER', 'FJ', 'TF', 'GM', 'GH',
    'GD', 'GN', 'GY', 'HK', 'IE', 'JM', 'KE', 'KI', 'MO', 'MW', 'ML', 'MR',
    'MU', 'MS', 'NR', 'AN', 'NU', 'KP', 'PA', 'QA', 'RW', 'KN', 'LC', 'ST',
    'SC', 'SL', 'SB', 'SO', 'ZA', 'SR', 'SY', 'TZ', 'TL', 'TK', 'TO', 'TT',
    'TV', 'UG', 'AE', 'VU', 'YE', 'ZW',
}

# Gelato's field lengths for an address.
ADDRESS_LIMITS = {
    'firstName': 25, 'lastName': 25, 'companyName': 60, 'addressLine1': 35, 'addressLine2': 35,
    'city': 30, 'postCode': 15, 'phone': 25,
}

# === ORDER STATUSES === #

# Gelato's fulfillment statuses, in the order an order normally goes through them. `rank`
# decides whether a late event may still move an order: only a higher rank wins.
ORDER_STATUSES = [
    ('draft', "Draft"),
    ('created', "Created"),
    ('pending_approval', "Pending Approval"),
    ('not_connected', "Not Connected"),
    ('uploading', "Uploading"),
    ('passed', "Passed"),
    ('in_production', "In Production"),
    ('printed', "Printed"),
    ('shipped', "Shipped"),
    ('in_transit', "In Transit"),
    ('delivered', "Delivered"),
    ('on_hold', "On Hold"),
    ('pending_personalization', "Pending Personalization"),
    ('canceled', "Canceled"),
    ('failed', "Failed"),
    ('returned', "Returned"),
]

# How far along each status is: a late event never moves an order to a lower rank.
STATUS_RANK = {
    'draft': 0, 'created': 1, 'pending_approval': 1, 'not_connected': 1, 'uploading': 1,
    'pending_personalization': 1, 'on_hold': 1, 'passed': 2, 'in_production': 3, 'printed': 4,
    'shipped': 5, 'in_transit': 6, 'delivered': 7, 'returned': 8, 'failed': 9, 'canceled': 9,
}
FINAL_STATUSES = ('delivered', 'returned', 'failed', 'canceled')
SHIPPED_STATUSES = ('shipped', 'in_transit', 'delivered')
ITEM_STATUS_RANK = STATUS_RANK

# === OUTBOX === #

# Minutes to wait before the next attempt to send an order, by number of failed attempts.
OUTBOX_BACKOFF_MINUTES = (1, 5, 15, 60, 180, 360)
# After this many failed attempts, the salesperson gets an activity.
OUTBOX_ALERT_ATTEMPTS = 3
# Orders that have heard nothing from Gelato for this long are asked for their state.
RECONCILE_AFTER_HOURS = 6

# === STOCK REGIONS === #

STOCK_STATUSES = [
    ('in-stock', "In stock"),
    ('out-of-stock-replenishable', "Out of stock, replenishable"),
    ('out-of-stock', "Out of stock"),
]
EU_COUNTRIES = {
    'AT', 'BE', 'BG', 'HR', 'CY', 'CZ', 'DK', 'EE', 'FI', 'FR', 'DE', 'GR', 'HU', 'IE', 'IT',
    'LV', 'LT', 'LU', 'MT', 'NL', 'PL', 'PT', 'RO', 'SK', 'SI', 'ES', 'SE',
}
# Gelato's stock region of a destination country; `ROW` (rest of the world) otherwise.
COUNTRY_STOCK_REGIONS = {
    **{code: 'EU' for code in EU_COUNTRIES},
    'US': 'US', 'CA': 'CA', 'GB': 'UK', 'AU': 'OC', 'NZ': 'OC',
    'JP': 'AS', 'SG': 'AS', 'IN': 'AS', 'CN': 'AS', 'KR': 'AS',
    'BR': 'SA', 'AR': 'SA', 'CL': 'SA', 'CO': 'SA',
}

# === WEBHOOK EVENTS === #

# Gelato's event -> the `gelato.event` method that handles it.
EVENT_HANDLERS = {
    'order_status_updated': '_gelato_handle_order_status_updated',
    'order_item_status_updated': '_gelato_handle_order_item_status_updated',
    'order_item_tracking_code_updated': '_gelato_handle_order_item_tracking_code_updated',
    'order_delivery_estimate_updated': '_gelato_handle_order_delivery_estimate_updated',
    'catalog_product_stock_availability_updated':
        '_gelato_handle_catalog_product_stock_availability_updated',
    'store_product_created': '_gelato_handle_template_changed',
    'store_product_updated': '_gelato_handle_template_changed',
    'store_product_deleted': '_gelato_handle_template_deleted',
    'store_product_template_created': '_gelato_handle_template_changed',
    'store_product_template_updated': '_gelato_handle_template_changed',
    'store_product_template_deleted': '_gelato_handle_template_deleted',
}
# A webhook body larger than this is refused (413).
WEBHOOK_MAX_BYTES = 1024 * 1024
# Minutes before retrying a failed event, by number of attempts; then it stays failed.
EVENT_RETRY_MINUTES = (1, 5, 30, 120, 720)
EVENT_MAX_ATTEMPTS = 6
# Days processed, ignored and duplicate events are kept.
EVENT_RETENTION_DAYS = 90

# === PRODUCT PICTURES === #

# The preview picture of a Gelato template, set as the product's picture: the largest download
# accepted (bytes), the seconds the whole download may take, and the redirects followed.
PREVIEW_MAX_BYTES = 10 * 1024 * 1024
PREVIEW_TIMEOUT = 10
PREVIEW_MAX_REDIRECTS = 3

# === COSTS AND AVAILABILITY === #

# Gelato price calls made at once when costs are fetched (one call per variant).
COST_FETCH_WORKERS = 4
# Product UIDs asked per call of Gelato's Stock API.
STOCK_CHECK_BATCH = 100
