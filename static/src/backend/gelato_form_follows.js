import { FormController } from "@web/views/form/form_controller";
import { patch } from "@web/core/utils/patch";
import { useService } from "@web/core/utils/hooks";
import { onWillDestroy } from "@odoo/owl";

// The bus notification sent by `gelato.order._gelato_notify_forms` (const.FORM_CHANGED_NOTIFICATION).
const CHANGED = "gelato_connector/changed";
const FOLLOWED_MODELS = ["sale.order", "gelato.order"];

/**
 * The form of a sale or a Gelato order follows the outbox: when the server says the record
 * shown changed its sending state (sent, waiting again, needs attention), the form reloads it,
 * as long as nothing is being edited there (unsaved changes are never lost).
 */
patch(FormController.prototype, {
    setup() {
        super.setup(...arguments);
        if (!FOLLOWED_MODELS.includes(this.props.resModel)) {
            return;
        }
        const busService = useService("bus_service");
        const onChanged = (payload) => this._gelatoOnChanged(payload);
        busService.subscribe(CHANGED, onChanged);
        onWillDestroy(() => busService.unsubscribe(CHANGED, onChanged));
    },

    async _gelatoOnChanged(payload) {
        const root = this.model.root;
        const ids = (payload && payload[this.props.resModel]) || [];
        if (!root || !root.resId || !ids.includes(root.resId)) {
            return;
        }
        if (root.isNew || (await root.isDirty())) {
            return;
        }
        await root.load();
    },
});
