/** Tours of the Gelato backend: run by tests/test_backend_tours.py in headless Chromium, as a
 * salesperson (not the administrator). */
import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_utils";
import productConfiguratorTourUtils from "@sale/js/tours/product_configurator_tour_utils";
import tourUtils from "@sale/js/tours/tour_utils";

const POSTER = "Gelato Backend Poster";
const CUSTOMER = "Ada Lovelace";
const CARRIER = "Gelato Standard Delivery";
// A dialog that is not the confirmation of the cancellation: the error of a button.
const ERROR_DIALOG = ".modal:not(:contains(Are you sure you want to cancel this order)) .modal-body";

/** Click a statusbar button by its method name, opening the "more" dropdown when it is there. */
function clickStatusbarButton(name, content) {
    const button = `button[name="${name}"]:enabled`;
    // On a small screen, the statusbar buttons but the first are in a "more" dropdown.
    return [
        {
            content: `Show the ${name} button`,
            trigger: ".o_statusbar_buttons",
            async run({ queryFirst, click }) {
                const more = queryFirst(".o_statusbar_buttons button:has(.oi-ellipsis-v)");
                if (!queryFirst(`.o_statusbar_buttons ${button}`) && more) {
                    await click(more);
                }
            },
        },
        {
            content,
            trigger: `.o_statusbar_buttons ${button}, .dropdown-item ${button}`,
            run: "click",
        },
    ];
}

/** The size `size` of the poster chosen in the product configurator, then confirmed once the
 * configurator shows the price of that size, `total` (the variant is known only then). */
function configurePoster(size, total) {
    const ptal = `${productConfiguratorTourUtils.productSelector(POSTER)} div[name="ptal"]:has(label:contains(Size))`;
    return [
        {
            content: `Choose the size ${size} of the poster`,
            trigger: `${ptal} li:has(span:text(${size})) input[type="radio"]`,
            run: "click",
        },
        {
            content: `The size ${size} is chosen`,
            trigger: `${ptal} li:has(span:text(${size})) input[type="radio"]:checked`,
        },
        productConfiguratorTourUtils.assertPriceTotal(total),
        ...productConfiguratorTourUtils.saveConfigurator(),
    ];
}

/** A salesperson quotes a Gelato poster with Gelato's standard delivery, and confirms it. */
registry.category("web_tour.tours").add("gelato_backend_quotation", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps("sale.sale_menu_root", "Open the Sales app"),
        ...tourUtils.createNewSalesOrder(),
        ...tourUtils.selectCustomer(CUSTOMER),
        ...tourUtils.addProduct(POSTER),
        ...configurePoster("M", "35.00"),
        tourUtils.checkSOLDescriptionContains(POSTER),
        ...tourUtils.clickSomewhereElse(),
        {
            content: "Add shipping",
            trigger: 'button[name="action_open_delivery_wizard"]:contains(Add shipping)',
            run: "click",
        },
        {
            content: `Choose ${CARRIER}`,
            trigger: '.modal div[name="carrier_id"] input',
            run: `edit ${CARRIER}`,
        },
        {
            trigger: `.modal ul.ui-autocomplete a:contains(${CARRIER})`,
            run: "click",
        },
        {
            content: "Ask Gelato for the rate",
            trigger: '.modal button[name="update_price"]',
            run: "click",
        },
        {
            content: "Gelato's rate is shown (not free)",
            trigger: '.modal div[name="display_price"]:contains(/[1-9]/)',
        },
        {
            content: "Add the delivery",
            trigger: '.modal footer button[name="button_confirm"]:contains(Add)',
            run: "click",
        },
        {
            content: "The wizard is closed",
            trigger: "body:not(:has(.modal))",
        },
        {
            content: "The order has Gelato's delivery line",
            trigger: `.o_field_one2many[name="order_line"] .o_data_row:contains(${CARRIER})`,
        },
        ...clickStatusbarButton("action_confirm", "Confirm the quotation"),
        {
            content: "The quotation is a sales order",
            trigger: ".o_statusbar_status button.o_arrow_button_current:contains(Sales Order)",
        },
    ],
});

/** Once the order is at Gelato: the salesperson asks Gelato, then cancels the order. */
registry.category("web_tour.tours").add("gelato_backend_ask_and_cancel", {
    steps: () => [
        {
            content: "The confirmed order is open",
            trigger: ".o_statusbar_status button.o_arrow_button_current:contains(Sales Order)",
        },
        {
            content: "Open the Gelato tab",
            trigger: '.o_notebook a.nav-link[name="gelato"]',
            run: "click",
        },
        {
            content: "The order has its Gelato id",
            trigger: '.o_notebook div[name="gelato_order_id"]:contains(/\\w/)',
        },
        {
            content: "Ask Gelato now",
            trigger: 'button[name="action_gelato_refresh"]',
            run: "click",
        },
        {
            content: "Gelato's answer is shown",
            trigger: ".o_notification .o_notification_content:contains(Gelato says)",
        },
        ...clickStatusbarButton("action_cancel", "Cancel the order"),
        {
            content: "Confirm the cancellation",
            trigger: ".modal:contains(Are you sure you want to cancel this order) .modal-footer button.btn-primary:contains(Ok)",
            run: "click",
        },
        {
            // An error (an AccessError, a UserError) is shown in a dialog: fail with its text at
            // once rather than wait for the canceled order.
            content: "The order is canceled, or the error is shown",
            trigger: `.o_statusbar_buttons button[name="action_draft"], ${ERROR_DIALOG}`,
            run({ queryFirst }) {
                const error = queryFirst(ERROR_DIALOG);
                if (error) {
                    throw new Error(`Cancel failed: ${error.textContent.trim()}`);
                }
            },
        },
        {
            content: "No error dialog is left",
            trigger: "body:not(:has(.modal))",
        },
    ],
});

/** A salesperson approves a held order from its Gelato order form: "Approve now". */
registry.category("web_tour.tours").add("gelato_backend_approve", {
    steps: () => [
        {
            content: "The Gelato order says it awaits approval",
            trigger: ".o_form_view .alert-info:contains(Awaiting approval)",
        },
        {
            content: "Approve it",
            trigger: '.o_form_view .o_statusbar_buttons button[name="action_approve"]',
            run: "click",
        },
        {
            content: "Odoo says it goes to production",
            trigger: ".o_notification:contains(Approved), .modal .modal-body",
            run({ queryFirst }) {
                const error = queryFirst(".modal .modal-body");
                if (error) {
                    throw new Error(`Approve now failed: ${error.textContent.trim()}`);
                }
            },
        },
    ],
});

/**
 * A salesperson reports a misprint on a delivered Gelato order and sends the replacement:
 * run by tests/test_claims.py, which checks the claim and what Gelato received.
 */
registry.category("web_tour.tours").add("gelato_backend_claim", {
    steps: () => [
        {
            content: "Report a problem on the delivered order",
            trigger: '.o_form_view .o_statusbar_buttons button[name="action_report_problem"]',
            run: "click",
        },
        {
            content: "The claim lists the order's items",
            trigger: '.o_form_view .o_field_widget[name="line_ids"] .o_data_row',
        },
        {
            content: "Open the problems",
            trigger: '.o_form_view .o_field_widget[name="reason"] .o_select_menu_toggler',
            run: "click",
        },
        {
            content: "Say it is a misprint",
            trigger: ".o_select_menu_item:contains(Misprint)",
            run: "click",
        },
        {
            content: "Misprint is chosen",
            trigger: '.o_form_view .o_field_widget[name="reason"] input:value(Misprint)',
        },
        {
            content: "Save the claim",
            trigger: ".o_form_view .o_form_button_save",
            run: "click",
        },
        {
            content: "The claim is numbered once saved",
            trigger: '.o_form_view .o_field_widget[name="name"]:contains(GC)',
        },
        {
            content: "Replace now",
            trigger: '.o_form_view .o_statusbar_buttons button[name="action_send_replacement"]',
            run: "click",
        },
        {
            content: "Confirm the replacement",
            trigger: ".modal-footer .btn-primary",
            run: "click",
        },
        {
            content: "Odoo says the replacement goes to Gelato",
            trigger: ".o_notification:contains(Replacement on its way), .modal .modal-body:not(:contains(Send Gelato a new order))",
            run({ queryFirst }) {
                const error = queryFirst(".modal .modal-body");
                if (error) {
                    throw new Error(`Replace now failed: ${error.textContent.trim()}`);
                }
            },
        },
    ],
});

/** A product manager uploads the missing print image: the form says so at once. */
registry.category("web_tour.tours").add("gelato_backend_print_image", {
    steps: () => [
        {
            content: "The Gelato section is on the Sales tab",
            trigger: '.o_form_view .o_notebook a[name="sales"]',
            run: "click",
        },
        {
            content: "Open the Gelato section: the print image is missing",
            trigger: ".o_form_view .alert-warning:contains(Print images to provide)",
        },
        {
            content: "Edit the print area's line",
            trigger: '.o_form_view .o_gelato_print_images .o_data_row .o_data_cell[name="datas"]',
            run: "click",
        },
        {
            content: "Upload a picture for it",
            trigger: '.o_form_view .o_gelato_print_images .o_data_row input[type="file"]:not(:visible)',
            async run() {
                const bytes = Uint8Array.from(atob(
                    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg=="
                ), (c) => c.charCodeAt(0));
                const transfer = new DataTransfer();
                transfer.items.add(new File([bytes], "front.png", { type: "image/png" }));
                this.anchor.files = transfer.files;
                this.anchor.dispatchEvent(new Event("change", { bubbles: true }));
            },
        },
        {
            content: "The form says every print image is set, before any reload",
            trigger: ".o_form_view:not(:has(.alert-warning:contains(Print images to provide))) .fa-check-circle:not(.o_invisible_modifier)",
        },
        {
            content: "Save",
            trigger: ".o_form_view .o_form_button_save",
            run: "click",
        },
        {
            content: "Saved, and still said so",
            trigger: ".o_form_view:not(:has(.o_form_button_save:visible)):has(.fa-check-circle:visible)",
        },
    ],
});
