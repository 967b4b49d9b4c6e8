# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
# ruff: noqa: I001 - the client mixin must be registered before the company, which inherits it.

from . import gelato_api_mixin

from . import account_move
from . import account_move_line
from . import delivery_carrier
from . import gelato_claim
from . import gelato_claim_line
from . import gelato_event
from . import gelato_order
from . import gelato_order_item
from . import gelato_order_package
from . import gelato_rate_budget
from . import gelato_product_availability
from . import product_document
from . import product_product
from . import product_template
from . import res_company
from . import res_config_settings
from . import res_currency
from . import res_partner
from . import sale_order
from . import sale_order_line
from . import stock_picking
from . import stock_route
