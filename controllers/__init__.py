# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from . import main, website_sale
