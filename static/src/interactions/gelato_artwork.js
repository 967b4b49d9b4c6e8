/** @odoo-module **/
// Part of gelato_connector. See LICENSE file for full copyright and licensing details.
// The shopper's own picture on the product page of a personalised Gelato product: each file is
// checked by the server as soon as it is chosen (`/shop/gelato/artwork`), and the files kept go
// with "Add to cart" (`gelato_artwork_ids`). The rules live on `sale.order`.

import { Interaction } from "@web/public/interaction";
import { registry } from "@web/core/registry";
import { patch } from "@web/core/utils/patch";
import { _t } from "@web/core/l10n/translation";
import { WebsiteSale } from "@website_sale/interactions/website_sale";

function currentProductId(el) {
    const scope = el.closest(".js_product, .oe_website_sale") || document;
    const input = scope.querySelector('input[name="product_id"]')
        || document.querySelector('input[name="product_id"]');
    return input ? input.value : "";
}

export class GelatoArtwork extends Interaction {
    static selector = ".o_gelato_artwork";
    dynamicContent = {
        ".o_gelato_artwork_input": { "t-on-change": this.onChangeFile },
    };

    async onChangeFile(ev) {
        const input = ev.currentTarget;
        const result = input.parentElement.querySelector(".o_gelato_artwork_result");
        delete input.dataset.artworkId;
        result.className = "o_gelato_artwork_result small mt-1";
        result.textContent = "";
        const file = input.files && input.files[0];
        if (!file) {
            return;
        }
        const body = new FormData();
        body.append("csrf_token", odoo.csrf_token);
        body.append("product_id", currentProductId(this.el));
        body.append("area", input.dataset.area);
        body.append("ufile", file);
        result.textContent = _t("Checking your picture…");
        let data;
        try {
            const response = await this.waitFor(
                fetch("/shop/gelato/artwork", { method: "POST", body })
            );
            data = await this.waitFor(response.json());
        } catch {
            data = { error: _t("The picture could not be sent: please try again.") };
        }
        if (data.id) {
            input.dataset.artworkId = data.id;
        }
        const warnings = data.warnings || [];
        if (data.error) {
            result.classList.add("text-danger", "o_gelato_artwork_refused");
            result.textContent = data.error;
        } else if (warnings.length) {
            result.classList.add("text-warning", "o_gelato_artwork_warned");
            result.textContent = warnings.join(" ");
        } else {
            result.classList.add("text-success", "o_gelato_artwork_ok");
            result.textContent = _t("Your picture is fine for printing.");
        }
    }
}

registry.category("public.interactions").add("gelato_connector.artwork", GelatoArtwork);

patch(WebsiteSale.prototype, {
    _updateRootProduct(form) {
        super._updateRootProduct(form);
        const ids = [...document.querySelectorAll(".o_gelato_artwork_input[data-artwork-id]")]
            .map((input) => parseInt(input.dataset.artworkId));
        if (ids.length) {
            this.rootProduct.gelato_artwork_ids = ids;
        }
    },
});
