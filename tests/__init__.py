# Part of gelato_connector. See LICENSE file for full copyright and licensing details.

from . import test_client
from . import test_install
from . import test_product_sync
from . import test_sale_order
from . import test_settings
