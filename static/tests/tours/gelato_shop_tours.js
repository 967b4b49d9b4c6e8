/** Tours of the Gelato webshop: run by tests/test_website_tours.py in headless Chromium. */
import { registry } from "@web/core/registry";
import * as tourUtils from "@website_sale/js/tours/tour_utils";

const GELATO_DM = 'input[name="o_delivery_radio"][data-delivery-type="gelato"]';

/** Find the tour poster, put it in the cart and go to the checkout. */
function posterToCheckout() {
    return [
        ...tourUtils.searchProduct("Gelato Tour Poster", { select: true }),
        {
            content: "Add the poster to the cart",
            trigger: "#product_detail form #add_to_cart",
            run: "click",
        },
        tourUtils.goToCart(),
        tourUtils.goToCheckout(),
    ];
}

/** Standard delivery is the method proposed, and express shows its price too (its rate asked). */
function standardKeptWhileExpressPriced() {
    return [
        {
            content: "Standard delivery is the method proposed",
            trigger: 'li[name="o_delivery_method"]:has(input:checked) label:contains(Standard Delivery)',
        },
        {
            content: "Express delivery shows its price too (the rate of the method not chosen)",
            trigger: 'li[name="o_delivery_method"]:has(input:not(:checked)):has(label:contains(Express Delivery)) .o_wsale_delivery_price_badge .oe_currency_value',
        },
    ];
}

/** A shopper buys a Gelato product with Gelato shipping and the demo payment method. */
registry.category("web_tour.tours").add("gelato_shop_buy", {
    url: "/shop",
    steps: () => [
        ...tourUtils.searchProduct("Gelato Tour Poster", { select: true }),
        {
            content: "The product page shows no availability warning",
            trigger: "#product_detail:not(:has(.o_gelato_unavailable))",
        },
        {
            content: "Add the poster to the cart",
            trigger: "#product_detail form #add_to_cart",
            run: "click",
        },
        tourUtils.goToCart(),
        {
            content: "The cart holds the poster and no warning",
            trigger: "#cart_products:has(h6:contains(Gelato Tour Poster)):not(:has(.o_gelato_line_unavailable))",
        },
        tourUtils.goToCheckout(),
        {
            content: "Gelato's delivery methods are offered",
            trigger: `#o_delivery_methods:has(${GELATO_DM})`,
        },
        {
            content: "Only Gelato's delivery methods are offered",
            trigger: '#o_delivery_methods:not(:has(input[name="o_delivery_radio"]:not([data-delivery-type="gelato"])))',
        },
        // The page has settled (standard chosen, express priced) before express is clicked:
        // a click while the first method is being set is lost.
        ...standardKeptWhileExpressPriced(),
        {
            content: "Choose Gelato's express delivery",
            trigger: 'li[name="o_delivery_method"]:has(label:contains(Express Delivery)) input[name="o_delivery_radio"][data-delivery-type="gelato"]',
            run: "click",
        },
        {
            // The express radio itself checked (standard was checked before the click).
            content: "Gelato's live rate for the address is shown",
            trigger: 'li[name="o_delivery_method"]:has(input:checked):has(label:contains(Express Delivery)) .o_wsale_delivery_price_badge .oe_currency_value',
        },
        tourUtils.confirmOrder(),
        ...tourUtils.payWithDemo(),
    ],
});

/** After Gelato shipped the order, the customer finds its tracking link on /my/orders. */
registry.category("web_tour.tours").add("gelato_portal_tracking", {
    url: "/my/orders",
    steps: () => [
        {
            content: "The order shows Gelato's status",
            trigger: ".o_gelato_followup .badge:contains(Delivered)",
        },
        {
            content: "The order shows Gelato's tracking link",
            trigger: ".o_gelato_followup a.o_gelato_tracking_link[href^='https://']",
        },
    ],
});

/** A shopper with a regular product in the cart is told a Gelato product cannot join it. */
registry.category("web_tour.tours").add("gelato_mixed_cart", {
    url: "/shop",
    steps: () => [
        ...tourUtils.searchProduct("Studio Mug", { select: true }),
        {
            content: "Add the regular mug to the cart",
            trigger: "#product_detail form #add_to_cart",
            run: "click",
        },
        {
            content: "The mug is in the cart: back to the shop",
            trigger: "a sup.my_cart_quantity:text(1)",
            run() {
                window.location.href = "/shop";
            },
            expectUnloadPage: true,
        },
        ...tourUtils.searchProduct("Gelato Tour Poster", { select: true }),
        {
            content: "Try to add the Gelato poster",
            trigger: "#product_detail form #add_to_cart",
            run: "click",
        },
        {
            content: "The shopper is told why, naming the product and what to do",
            trigger: ".alert-warning:contains(Gelato Tour Poster):contains(cannot be added to your cart):contains(check out your current cart first)",
        },
        tourUtils.goToCart(),
        {
            content: "The cart still holds only the mug",
            trigger: "#cart_products:has(h6:contains(Studio Mug)):not(:has(h6:contains(Gelato Tour Poster)))",
        },
    ],
});

/**
 * A shopper keeps the delivery method the checkout proposes (Gelato's standard delivery) after
 * both Gelato methods showed their price, and pays: what Gelato receives is checked by the test
 * against what the simulator stored.
 */
registry.category("web_tour.tours").add("gelato_shop_buy_standard", {
    url: "/shop",
    steps: () => [
        ...posterToCheckout(),
        ...standardKeptWhileExpressPriced(),
        {
            content: "Standard delivery is still the method chosen",
            trigger: 'li[name="o_delivery_method"]:has(input:checked) label:contains(Standard Delivery)',
        },
        tourUtils.confirmOrder(),
        ...tourUtils.payWithDemo(),
    ],
});

/**
 * A visitor who never logged in buys a Gelato poster: address as a guest, the delivery method
 * proposed (standard) after both Gelato methods showed their price, the demo payment.
 */
registry.category("web_tour.tours").add("gelato_guest_buy", {
    url: "/shop",
    steps: () => [
        ...posterToCheckout(),
        ...tourUtils.fillAdressForm({
            name: "Guest Visitor",
            phone: "+32 2 555 12 12",
            email: "guest.visitor@example.com",
            street: "Rue de la Loi 16",
            city: "Brussels",
            zip: "1000",
        }, true),
        ...standardKeptWhileExpressPriced(),
        tourUtils.confirmOrder(),
        ...tourUtils.payWithDemo(),
    ],
});
