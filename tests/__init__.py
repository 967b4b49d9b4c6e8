# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from . import (
    test_checkout,
    test_client,
    test_followup,
    test_gelato_contract,
    test_gelato_costs,
    test_gelato_order,
    test_hardening,
    test_install,
    test_personas,
    test_print_readiness,
    test_product_costs,
    test_product_preview,
    test_product_sync,
    test_sale_order,
    test_settings,
    test_simulator,
    test_walk,
    test_webhook,
    test_website,
    test_website_tours,
)
