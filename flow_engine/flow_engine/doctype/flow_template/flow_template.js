// Copyright (c) 2026, flow_engine developers
// License: MIT

frappe.ui.form.on("Flow Template", {
	refresh(frm) {
		if (frm.is_new()) return;
		frm.add_custom_button(__("Duplicate"), () => {
			frappe.prompt(
				{ fieldname: "new_name", fieldtype: "Data", label: __("New Template Name"), reqd: 1,
					default: __("{0} (copy)", [frm.doc.template_name]) },
				(values) =>
					frappe
						.call({ method: "flow_engine.api.duplicate_template", args: { name: frm.doc.name, new_name: values.new_name } })
						.then((r) => frappe.set_route("Form", "Flow Template", r.message.name)),
				__("Duplicate Template")
			);
		});
		frm.add_custom_button(__("Runs"), () => frappe.set_route("List", "Flow Run", { flow_template: frm.doc.name }));
	},
});
