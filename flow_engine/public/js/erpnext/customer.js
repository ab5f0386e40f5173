// "Flows" on the Customer form (doctype_js in hooks.py): start a flow, see its runs, new template.
function flow_engine_bundle() {
	if (window.flow_engine && flow_engine.bundle_loaded) return Promise.resolve();
	frappe.flow_engine_bundle =
		frappe.flow_engine_bundle || frappe.require("flow_engine.bundle.js");
	return frappe.flow_engine_bundle;
}

frappe.ui.form.on("Customer", {
	refresh(frm) {
		flow_engine_bundle().then(() => flow_engine.flows.setup_form(frm));
	},
});
