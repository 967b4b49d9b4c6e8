/** Tours of a personalised Gelato product: run by tests/test_artwork.py in headless Chromium. */
import { registry } from "@web/core/registry";
import * as tourUtils from "@website_sale/js/tours/tour_utils";

/** Give a file input a file, as a shopper choosing it would. */
function chooseFile(input, file) {
    const transfer = new DataTransfer();
    transfer.items.add(file);
    input.files = transfer.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
}

/** A picture of 120 × 144 pixels drawn in the browser (far below 300 dpi on a poster). */
async function smallPicture() {
    const canvas = document.createElement("canvas");
    canvas.width = 120;
    canvas.height = 144;
    const context = canvas.getContext("2d");
    context.fillStyle = "#c82828";
    context.fillRect(0, 0, 120, 144);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    return new File([blob], "my-photo.png", { type: "image/png" });
}

/** A PNG cut short: its signature and the start of its header. */
function damagedPicture() {
    const bytes = new Uint8Array([
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
    ]);
    return new File([bytes], "broken.png", { type: "image/png" });
}

const FRONT = '.o_gelato_artwork input.o_gelato_artwork_input[data-area="default"]';

registry.category("web_tour.tours").add("gelato_personalised_purchase", {
    url: "/shop",
    steps: () => [
        ...tourUtils.searchProduct("Your Photo Poster", { select: true }),
        {
            content: "The product page asks for the shopper's picture per print area",
            trigger: `${FRONT}`,
        },
        {
            content: "Choose a damaged picture",
            trigger: FRONT,
            run() {
                chooseFile(this.anchor, damagedPicture());
            },
        },
        {
            content: "The damaged picture is refused, saying why",
            trigger: ".o_gelato_artwork_refused:contains(could not be read as a PNG picture)",
        },
        {
            content: "Choose a small picture",
            trigger: FRONT,
            async run() {
                chooseFile(this.anchor, await smallPicture());
            },
        },
        {
            content: "The small picture is kept, with the resolution warning",
            trigger: ".o_gelato_artwork_warned:contains(below the 300 dpi Gelato recommends)",
        },
        {
            content: "Add the poster with the picture to the cart",
            trigger: "#product_detail form #add_to_cart",
            run: "click",
        },
        tourUtils.goToCart(),
        {
            content: "The cart holds the personalised poster",
            trigger: "#cart_products:has(h6:contains(Your Photo Poster))",
        },
        tourUtils.goToCheckout(),
        {
            content: "Standard delivery is proposed",
            trigger: 'li[name="o_delivery_method"]:has(input:checked) label:contains(Standard Delivery)',
        },
        {
            content: "Gelato's rate is shown",
            trigger: 'li[name="o_delivery_method"]:has(input:checked) .o_wsale_delivery_price_badge .oe_currency_value',
        },
        tourUtils.confirmOrder(),
        ...tourUtils.payWithDemo(),
    ],
});

registry.category("web_tour.tours").add("gelato_personalised_proof", {
    steps: () => [
        {
            content: "The order page shows Gelato's proof, rendered from the picture",
            trigger: "#gelato_proofs img.o_gelato_proof_preview",
            async run() {
                const img = this.anchor;
                if (!img.complete) {
                    await new Promise((resolve) => {
                        img.addEventListener("load", resolve, { once: true });
                        img.addEventListener("error", resolve, { once: true });
                    });
                }
                if (!img.naturalWidth) {
                    throw new Error("The proof's picture did not load");
                }
            },
        },
        {
            content: "Approve the proof",
            trigger: "#gelato_proofs button.o_gelato_approve_proof",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The customer is told the order goes to print",
            trigger: ".o_gelato_portal_message:contains(goes to print)",
        },
    ],
});
