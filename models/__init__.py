# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from . import (
    delivery_carrier,
    gelato_api_mixin,
    gelato_product_availability,
    product_document,
    product_product,
    product_template,
    res_company,
    res_config_settings,
    res_partner,
    sale_order,
    sale_order_line,
    stock_picking,
    stock_route,
)
