# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from . import gelato_api_mixin
from . import product_document
from . import product_product
from . import product_template
from . import res_company
from . import res_config_settings
