# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from . import artwork, main, website_sale
