# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""Constants shared by the Gelato connector: API settings, status tables and Gelato's limits."""

from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY

# Database errors after which Odoo replays the whole request or job: never kept as a failure.
RETRYABLE_DB_ERRORS = PG_CONCURRENCY_EXCEPTIONS_TO_RETRY

# === API === #

API_URL_TEMPLATE_PARAM = 'gelato_connector.api_url_template'
DEFAULT_API_URL_TEMPLATE = 'https://{service}.gelatoapis.com'
API_SERVICES = ('order', 'product', 'ecommerce', 'shipment')

# Seconds to wait for Gelato to connect or to send a byte of its answer.
REQUEST_TIMEOUT = 20

# Retries for transient failures: connection errors and 5xx (by urllib3), 429 (through the
# request budget below). The backoff doubles from RETRY_BACKOFF_FACTOR seconds; Retry-After
# headers sent by Gelato are honoured.
RETRY_TOTAL = 3
RETRY_BACKOFF_FACTOR = 0.3
RETRY_STATUS_CODES = (500, 502, 503, 504)
# The longest Retry-After honoured, in seconds: a longer one is cut to it (the outbox's backoff
# takes over beyond), so that no call waits minutes on what an answer asks.
RETRY_AFTER_MAX_SECONDS = 5

# === REQUEST BUDGET === #

# Gelato's allowance, shared by every worker and server of a database (`gelato.rate.budget`):
# requests per second and the most sent at once. Gelato answers 429 beyond its limit and asks
# for exponential backoff, without publishing a figure (https://dashboard.gelato.com/docs/): the
# defaults are a prudent guess, set in Sales settings' system parameters; 0 turns the budget off.
RATE_LIMIT_PARAM = 'gelato_connector.rate_limit'
RATE_BURST_PARAM = 'gelato_connector.rate_burst'
DEFAULT_RATE_LIMIT = 10.0
DEFAULT_RATE_BURST = 20.0
# Who asks, from the context key `gelato_priority`: the share of the burst each must leave to
# the callers before it (its reserve, so that bulk work yields to shoppers and orders), and the
# seconds it may wait for a request before giving up (a transient error: tried again later).
RATE_PRIORITIES = {
    # A shopper at the checkout: never waits long; the checkout keeps the last quote instead.
    'checkout': {'reserve': 0.0, 'wait': 0.8},
    # Someone who pressed a button.
    'interactive': {'reserve': 0.0, 'wait': 10.0},
    # Orders going to Gelato (the outbox, approvals).
    'order': {'reserve': 1.0, 'wait': 20.0},
    # What follows Gelato's news: webhooks, reconciliation, stuck orders, event retries.
    'followup': {'reserve': 0.25, 'wait': 5.0},
    # Costs, stock and template synchronizations of many products.
    'bulk': {'reserve': 0.5, 'wait': 5.0},
}
DEFAULT_RATE_PRIORITY = 'interactive'
# A reserve below 1 is a share of the burst (0.5: half of it); from 1, a number of requests.
# 429 answers less than this many seconds apart are "in a row": each doubles the pause, from
# RATE_BACKOFF_SECONDS, up to RATE_PAUSE_MAX_SECONDS (a longer Retry-After is cut to it).
RATE_STRIKE_WINDOW_SECONDS = 60
RATE_BACKOFF_SECONDS = 0.5
RATE_PAUSE_MAX_SECONDS = 300
# When a bulk job finds the budget busy, it stops and runs again this many seconds later.
RATE_BULK_RETRY_SECONDS = 30
# A burst of template changes Gelato announces within this many seconds makes one
# synchronization per product (system parameter, seconds).
TEMPLATE_SYNC_DELAY_PARAM = 'gelato_connector.template_sync_delay_seconds'
DEFAULT_TEMPLATE_SYNC_DELAY = 60

# The cheap authenticated call behind "Test connection".
CONNECTION_TEST_ENDPOINT = ('shipment', 'GET', '/v1/shipment-methods')

WEBHOOK_ROUTE = '/gelato/webhook'
# Set by the neutralization of a database copy: nothing is sent to Gelato from it.
NEUTRALIZED_PARAM = 'gelato_connector.neutralized'
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

# Countries where Gelato needs the address's state: Australia, Canada and the United States per
# the create-order page (https://dashboard.gelato.com/docs/orders/v4/create, shippingAddress.state),
# and Brazil, Chile and India per Gelato's support article on country and state codes
# (https://apisupport.gelato.com/hc/en-us/articles/360013540520). The same article asks for the
# county of United Kingdom addresses; Odoo has no states for GB, so it is not required here.
STATE_REQUIRED_COUNTRIES = {'US', 'CA', 'AU', 'BR', 'CL', 'IN'}

# The return address needs its state in these countries (orders/v4/create, returnAddress.state).
RETURN_STATE_REQUIRED_COUNTRIES = {'US', 'CA', 'AU'}

# Currencies Gelato takes for orders and quotes (https://dashboard.gelato.com/docs/orders/v4/create,
# "currency").
GELATO_CURRENCIES = {
    'EUR', 'USD', 'JPY', 'BGN', 'CZK', 'DKK', 'GBP', 'HUF', 'PLN', 'RON', 'SEK', 'CHF', 'ISK',
    'NOK', 'HRK', 'RUB', 'TRY', 'AUD', 'BRL', 'CAD', 'CNY', 'HKD', 'IDR', 'ILS', 'INR', 'KRW',
    'MXN', 'MYR', 'NZD', 'PHP', 'SGD', 'THB', 'ZAR', 'CLP', 'AED',
}

# Gelato's field lengths for an address.
ADDRESS_LIMITS = {
    'firstName': 25, 'lastName': 25, 'companyName': 60, 'addressLine1': 35, 'addressLine2': 35,
    'city': 30, 'postCode': 15, 'phone': 25,
}

# === ORDER STATUSES === #

# Gelato's fulfillment statuses (https://dashboard.gelato.com/docs/orders/order_details/, "Order
# statuses"), in the order an order normally goes through them.
ORDER_STATUSES = [
    ('draft', "Draft"),
    ('created', "Created"),
    ('digitizing', "Digitizing"),
    ('uploading', "Uploading"),
    ('pending_approval', "Pending Approval"),
    ('pending_personalization', "Pending Personalization"),
    ('not_connected', "Not Connected"),
    ('on_hold', "On Hold"),
    ('passed', "Passed"),
    ('in_production', "In Production"),
    ('printed', "Printed"),
    ('shipped', "Shipped"),
    ('in_transit', "In Transit"),
    ('delivered', "Delivered"),
    ('returned', "Returned"),
    ('failed', "Failed"),
    ('canceled', "Canceled"),
]

# The statuses a Gelato order may move to from each status. What is not listed is a late or
# out-of-order event and changes nothing ("never backwards"). `failed` and `on_hold` are not
# final: Gelato's support fixes such an order (it moves on) or replaces it by a reorder; a
# canceled or returned order stays so.
_BEFORE_PRINT = ('uploading', 'pending_approval', 'pending_personalization', 'not_connected',
                 'on_hold', 'passed', 'in_production', 'printed')
_SHIPPING = ('shipped', 'in_transit', 'delivered')
STATUS_TRANSITIONS = {
    False: {status for status, _label in ORDER_STATUSES},
    'draft': {'created', 'digitizing', *_BEFORE_PRINT, *_SHIPPING, 'failed', 'canceled'},
    'created': {'digitizing', *_BEFORE_PRINT, *_SHIPPING, 'failed', 'canceled'},
    'digitizing': {*_BEFORE_PRINT, *_SHIPPING, 'failed', 'canceled'},
    'uploading': {*_BEFORE_PRINT[1:], *_SHIPPING, 'failed', 'canceled'},
    'pending_approval': {'uploading', *_BEFORE_PRINT[2:], *_SHIPPING, 'failed', 'canceled'},
    'pending_personalization': {'uploading', *_BEFORE_PRINT[3:], *_SHIPPING, 'failed',
                                'canceled'},
    'not_connected': {'uploading', *_BEFORE_PRINT[4:], *_SHIPPING, 'failed', 'canceled'},
    'on_hold': {'uploading', 'passed', 'in_production', 'printed', *_SHIPPING, 'failed',
                'canceled'},
    'passed': {'on_hold', 'in_production', 'printed', *_SHIPPING, 'failed', 'canceled'},
    'in_production': {'on_hold', 'printed', *_SHIPPING, 'failed', 'canceled'},
    'printed': {*_SHIPPING, 'failed', 'canceled'},
    'shipped': {'in_transit', 'delivered', 'returned'},
    'in_transit': {'delivered', 'returned'},
    'delivered': {'returned'},
    'returned': set(),
    'failed': {'uploading', 'on_hold', 'passed', 'in_production', 'printed', *_SHIPPING,
               'canceled'},
    'canceled': set(),
}

# How far along the normal path each status is: the sale's summary shows its least advanced
# Gelato order.
STATUS_RANK = {
    'draft': 0, 'created': 1, 'digitizing': 2, 'uploading': 2, 'pending_approval': 2,
    'pending_personalization': 2, 'not_connected': 2, 'on_hold': 2, 'passed': 3,
    'in_production': 4, 'printed': 5, 'shipped': 6, 'in_transit': 7, 'delivered': 8,
    'returned': 9, 'failed': 2, 'canceled': 10,
}
# Statuses a salesperson must look at, most urgent first: the sale's summary shows them first.
ATTENTION_STATUSES = ('failed', 'on_hold', 'returned', 'not_connected', 'pending_approval')
# Statuses of an order that Gelato's support may replace by a reorder under its reference.
REORDERED_STATUSES = ('failed', 'on_hold', 'canceled')
# Statuses after which Gelato no longer changes the order by itself.
# The longest delayed approval (Gelato's store apps offer 6 to 72 hours).
APPROVAL_DELAY_MAX_HOURS = 720
# Days the customers' own pictures are kept after delivery, by default (personal data).
ARTWORK_RETENTION_DAYS = 30
# The largest customer picture the webshop takes (bytes); Odoo's own request limit is larger.
ARTWORK_MAX_BYTES = 50 * 1024 * 1024
# The partner fields a held order's draft was made with (its shipping address).
HELD_ADDRESS_FIELDS = frozenset({
    'name', 'street', 'street2', 'city', 'zip', 'state_id', 'country_id', 'email', 'phone',
    'company_name', 'parent_id',
})
FINAL_STATUSES = ('delivered', 'returned', 'canceled')
SHIPPED_STATUSES = ('shipped', 'in_transit', 'delivered')
# Statuses in which Gelato still cancels an order on request ("An order can only be canceled
# ... before it moves into production", docs/orders/order_details/).
CANCELABLE_STATUSES = ('draft', 'created', 'digitizing', 'uploading', 'pending_approval',
                       'pending_personalization', 'not_connected', 'on_hold', 'passed',
                       'failed')

# === ORDERS === #

# Gelato's order `metadata` entries that say which database and sale order an order comes from.
METADATA_DATABASE_KEY = 'odooDatabase'
METADATA_SALE_ORDER_KEY = 'odooSaleOrder'
# The longest orderReferenceId built from a sale order's name.
REFERENCE_MAX_LENGTH = 64
# Seconds a Gelato shipping quote serves the same cart content and address.
QUOTE_CACHE_SECONDS = 600

# === STUCK ORDERS === #

# Hours a status usually lasts at most before its order counts as stuck (0: stuck at once, it
# waits for someone). Override per status with the JSON of the system parameter below.
STUCK_HOURS = {
    'created': 24, 'digitizing': 48, 'uploading': 24, 'passed': 24, 'in_production': 72,
    'printed': 48, 'shipped': 168, 'in_transit': 240,
    'pending_approval': 0, 'pending_personalization': 72, 'not_connected': 0, 'on_hold': 0,
    'failed': 0,
}
STUCK_HOURS_PARAM = 'gelato_connector.stuck_hours'
# What to do about an order stuck in a status.
STUCK_ADVICE = {
    'created': "Gelato has not started it: check in Gelato's dashboard that the order has no "
               "problem (payment method, files); contact Gelato support if it stays.",
    'uploading': "Gelato is still processing the print files: check that their links work.",
    'passed': "Not in production yet: check the order in Gelato's dashboard; contact Gelato "
              "support if it stays.",
    'in_production': "Production takes longer than usual: ask Gelato support for news.",
    'printed': "Printed but not shipped: ask Gelato support for news.",
    'shipped': "No delivery news: follow the tracking link; ask the carrier or Gelato support.",
    'in_transit': "The parcel is late: follow the tracking link; ask the carrier or Gelato "
                  "support, and tell the customer.",
    'failed': "Gelato could not produce it: read Gelato's reason, fix it (address, print file) "
              "and ask Gelato for a reorder (it appears here by itself).",
    'on_hold': "Gelato waits for you: open the order in Gelato's dashboard and act.",
    'pending_approval': "Gelato waits for your approval: approve it in Gelato's dashboard.",
    'not_connected': "Gelato cannot match the items to products: connect them in Gelato's "
                     "dashboard.",
    'default': "Check the order in Gelato's dashboard; contact Gelato support if it stays.",
}

# The quote's shipment method types each Gelato delivery method takes: a quote's
# `ShipmentMethodObject.type` "can be normal, standard, express, pick_up or pallet"
# (dashboard.gelato.com/docs/orders/v4/quote); pick-up and pallet are never offered to a shopper.
QUOTE_METHOD_TYPES = {'normal': ('normal', 'standard'), 'express': ('express',)}

# === OUTBOX === #

# Where a Gelato order stands in being sent (`gelato.order.state`), key and label alike.
SENDING_STATES = [
    ('pending', "Waiting to be sent"),
    ('sent', "At Gelato"),
    ('attention', "Needs attention"),  # Gelato refused it, or a check stopped it before sending.
    ('replaced', "Replaced by a reorder"),
    ('cancel', "Canceled before sending"),
]
# The sending states each state may be reached from (`gelato.order._gelato_set_state`), as
# `payment.transaction._update_state` lists them: `False` is a record being created.
SENDING_TRANSITIONS = {
    'pending': {False, 'pending', 'attention'},
    'sent': {False, 'pending', 'attention'},
    'attention': {'pending', 'attention'},
    'replaced': {'sent'},
    'cancel': {'pending', 'attention'},
}
# Minutes to wait before the next attempt to send an order, by number of failed attempts.
OUTBOX_BACKOFF_MINUTES = (1, 5, 15, 60, 180, 360)
# The scheduled actions that send waiting orders side by side, each claiming one order at a
# time (`FOR UPDATE SKIP LOCKED`): as many as cron workers may run them at once.
OUTBOX_LANES = ('ir_cron_gelato_outbox', 'ir_cron_gelato_outbox_2', 'ir_cron_gelato_outbox_3',
                'ir_cron_gelato_outbox_4')
# After this many failed attempts, the salesperson gets an activity.
OUTBOX_ALERT_ATTEMPTS = 3
# Orders that have heard nothing from Gelato for this long are asked for their state.
RECONCILE_AFTER_HOURS = 6

# === STOCK REGIONS === #

STOCK_STATUSES = [
    ('in-stock', "In stock"),
    ('out-of-stock-replenishable', "Out of stock, replenishable"),
    ('out-of-stock', "Out of stock"),
    ('non-stockable', "Made to order"),
    ('not-supported', "Not supported"),
]
# Statuses that need no word on the product: in stock, or made to order (mugs, posters...).
# "Out of stock, replenishable" is still delivered from Gelato's hub (webhooks page) but is
# shown; only "out-of-stock" stops an order.
STOCK_AVAILABLE_STATUSES = ('in-stock', 'non-stockable')
# Gelato's stock regions and the destination countries each serves (ISO 3166-1 alpha-2), from
# https://dashboard.gelato.com/docs/products/stock/region-availability/. The United States and
# Canada share one region, `US-CA`; the United Kingdom's region is `UK` (its country code `GB`);
# every other country is `ROW` (rest of the world).
STOCK_REGIONS = ('EU', 'UK', 'US-CA', 'OC', 'AS', 'SA', 'ROW')
_REGION_COUNTRIES = {
    'US-CA': 'US CA',
    'UK': 'GB',
    'OC': 'AU NZ',
    'SA': 'BR AR BO CL CO EC GY PY PE SR UY VE',
    'AS': 'SG VN BN KH CN ID JP LA TH TW KR MM PH MY',
    'EU': 'AL AD AT BY BE BA BG HR CY CZ DK EE FI FR GE DE GR HU IS IE IT XK LV LI LT LU MT MD '
          'MC ME NL MK NO PL PT RO RU SM RS SK SI ES SE CH TR UA VA',
}
COUNTRY_STOCK_REGIONS = {
    code: region for region, codes in _REGION_COUNTRIES.items() for code in codes.split()
}
# Address line 2 is shorter in some countries than Gelato's 35 characters elsewhere, and only
# these special characters are accepted in address lines (apisupport.gelato.com, article
# 360013856080).
ADDRESS_LINE2_LIMITS = {'DE': 25, 'BR': 30}
ADDRESS_SPECIAL_CHARACTERS = ".,-'()"
# Destinations Gelato does not serve at all (same page).
UNSUPPORTED_COUNTRIES = {'AX', 'IO', 'TF', 'HM', 'IM', 'NF', 'GS', 'TK', 'UM'}

# === WEBHOOK EVENTS === #

# Gelato's event -> the `gelato.event` method that handles it.
EVENT_HANDLERS = {
    'order_status_updated': '_gelato_handle_order_status_updated',
    'order_item_status_updated': '_gelato_handle_order_item_status_updated',
    'order_item_tracking_code_updated': '_gelato_handle_order_item_tracking_code_updated',
    'order_delivery_estimate_updated': '_gelato_handle_order_delivery_estimate_updated',
    'catalog_product_stock_availability_updated':
        '_gelato_handle_catalog_product_stock_availability_updated',
    'store_product_created': '_gelato_handle_store_product',
    'store_product_updated': '_gelato_handle_store_product',
    'store_product_deleted': '_gelato_handle_store_product',
    'store_product_template_created': '_gelato_handle_template_changed',
    'store_product_template_updated': '_gelato_handle_template_changed',
    'store_product_template_deleted': '_gelato_handle_template_deleted',
}
# Gelato's events in words, for the screens (docs/webhooks/: the event names).
EVENT_LABELS = {
    'order_status_updated': "Order status updated",
    'order_item_status_updated': "Order item status updated",
    'order_item_tracking_code_updated': "Tracking code updated",
    'order_delivery_estimate_updated': "Delivery estimate updated",
    'catalog_product_stock_availability_updated': "Stock availability updated",
    'store_product_created': "Store product created",
    'store_product_updated': "Store product updated",
    'store_product_deleted': "Store product deleted",
    'store_product_template_created': "Template created",
    'store_product_template_updated': "Template updated",
    'store_product_template_deleted': "Template deleted",
}
# The events about one Gelato order (`orderId`): the statement storing the event reads the order.
ORDER_EVENTS = frozenset(t for t in EVENT_HANDLERS if t.startswith('order_'))
# A webhook body larger than this is refused (413).
WEBHOOK_MAX_BYTES = 1024 * 1024
# Gelato's events nest a few levels; a body nesting deeper is not one of them (400).
WEBHOOK_MAX_DEPTH = 64
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
# A variant's cost is refreshed by the daily scheduled action when it was last asked longer ago
# than this (hours): a little less than a day, so that each day's run reaches it again.
COST_REFRESH_HOURS = 20
# Variants per transaction of the cost refresh: at the budget's pace, a few seconds each.
COST_REFRESH_BATCH = 25
# Product UIDs asked per call of Gelato's Stock API.
STOCK_CHECK_BATCH = 100


# === AFTER THE PARCEL === #

CLAIM_REASONS = [
    ('damaged', "Damaged"),
    ('misprint', "Misprint"),
    ('wrong_item', "Wrong item"),
    ('lost', "Lost in transit"),
    ('returned', "Returned to sender"),
]
CLAIM_STATES = [
    ('to_file', "To file"),
    ('filed', "Filed"),
    ('refunded', "Refunded"),
    ('declined', "Declined"),
]
# Gelato takes claims within 30 days of delivery (support.gelato.com, "Getting started with
# Gelato customer service": "Report the issue within 30 days of the customer receiving the item").
CLAIM_DAYS = 30
# A claim not filed this many days before its deadline gets a to-do.
CLAIM_REMIND_DAYS = 5
# The Gelato statuses of an order whose parcel can have a problem.
CLAIMABLE_STATUSES = ('shipped', 'in_transit', 'delivered', 'returned')

# The bus notification that tells the salespeople's open forms which Gelato orders and sales to
# reload (static/src/backend/gelato_form_follows.js).
FORM_CHANGED_NOTIFICATION = 'gelato_connector/changed'

# The state codes Gelato takes for the countries whose state it requires: ISO 3166-2 without the
# country part (apisupport.gelato.com, article 360013540520, "Where can I find country and state
# codes"; docs/orders/v4/create, ShippingAddressObject.state). Odoo also lists, under the United
# States, the USPS codes of the armed forces (AA, AE, AP) and of the freely associated states
# (FM, MH, PW: countries of their own in ISO 3166-1), which are not such codes.
GELATO_STATE_CODES = {
    'AU': frozenset('ACT NSW NT QLD SA TAS VIC WA'.split()),
    'CA': frozenset('AB BC MB NB NL NS NT NU ON PE QC SK YT'.split()),
    'US': frozenset(
        'AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH '
        'NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC AS GU MP PR UM VI'
        .split()),
}
