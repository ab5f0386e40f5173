// Copyright (c) 2026, flow_engine developers
// License: MIT

frappe.ui.form.on("Flow Step Pending", {
	refresh(frm) {
		if (["failed", "cancelled"].includes(frm.doc.status)) {
			frm.add_custom_button(__("Retry"), () =>
				frappe
					.call({
						method: "flow_engine.api.retry_pending",
						args: { name: frm.doc.name },
					})
					.then(() => frm.reload_doc())
			);
		}
	},
});
