# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
{
    'name': "Gelato Connector",
    'version': '19.0.2.0.0',
    'summary': "Sell Gelato print-on-demand products from quotations and the webshop",
    'category': 'Sales/Sales',
    'author': "gelato_connector developers",
    'website': 'https://dashboard.gelato.com/docs/',
    'license': 'LGPL-3',
    'depends': ['sale_management', 'stock_delivery', 'website_sale'],
    'excludes': ['sale_gelato', 'sale_gelato_stock', 'website_sale_gelato'],
    'data': [
        'security/ir.model.access.csv',
        'data/ir_config_parameter_data.xml',
        'data/delivery_carrier_data.xml',
        'data/mail_template_data.xml',
        'data/stock_data.xml',
        'data/ir_cron_data.xml',
        'views/gelato_event_views.xml',
        'views/gelato_order_views.xml',
        'views/product_template_views.xml',
        'views/sale_order_views.xml',
        'views/res_config_settings_views.xml',
        'views/sale_portal_templates.xml',
        'views/website_sale_templates.xml',
    ],
    'assets': {
        'web.assets_tests': [
            'gelato_connector/static/tests/tours/**/*',
        ],
    },
    'installable': True,
    'application': False,
}
