// Copyright (c) 2026, flow_engine developers
// License: MIT

// The editor lives in flow_engine.bundle.js (app_include_js); loaded here on demand if the page
// does not have it yet.
function flow_engine_bundle() {
	if (window.flow_engine && flow_engine.bundle_loaded) return Promise.resolve();
	frappe.flow_engine_bundle =
		frappe.flow_engine_bundle || frappe.require("flow_engine.bundle.js");
	return frappe.flow_engine_bundle;
}

function when_loaded(fn) {
	if (window.flow_engine && flow_engine.bundle_loaded) fn();
}

frappe.ui.form.on("Flow Template", {
	refresh(frm) {
		flow_engine_bundle().then(() => flow_engine.template_form.setup(frm));
	},
	flow_definition(frm) {
		when_loaded(() => flow_engine.template_form.on_definition_changed(frm));
	},
	trigger_event(frm) {
		when_loaded(() => flow_engine.template_form.on_trigger_changed(frm));
	},
	trigger_condition(frm) {
		when_loaded(() => flow_engine.template_form.on_trigger_changed(frm));
	},
	trigger_doctype(frm) {
		when_loaded(() => flow_engine.template_form.on_trigger_changed(frm));
	},
	trigger_field(frm) {
		when_loaded(() => flow_engine.template_form.on_trigger_changed(frm));
	},
	applies_to(frm) {
		when_loaded(() => flow_engine.template_form.on_trigger_changed(frm));
	},
});
