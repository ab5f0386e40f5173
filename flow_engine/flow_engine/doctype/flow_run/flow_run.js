// Copyright (c) 2026, flow_engine developers
// License: MIT

// The timeline and the actions live in flow_engine.bundle.js (app_include_js); loaded here on
// demand if the page does not have it yet.
function flow_engine_bundle() {
	if (window.flow_engine && flow_engine.bundle_loaded) return Promise.resolve();
	frappe.flow_engine_bundle =
		frappe.flow_engine_bundle || frappe.require("flow_engine.bundle.js");
	return frappe.flow_engine_bundle;
}

frappe.ui.form.on("Flow Run", {
	refresh(frm) {
		// the engine writes runs (the server refuses any other save): the form's actions are its buttons
		frm.disable_save();
		flow_engine_bundle().then(() => flow_engine.run_form.setup(frm));
	},
});
