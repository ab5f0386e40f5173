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

// Turning a template off asks what becomes of its runs under way: they finish (the default,
// what happens when nobody answers) or they are cancelled (after the save).
async function ask_about_running_runs(frm) {
	frm.__fe_cancel_runs = false;
	if (frm.is_new() || frm.doc.is_active || !frm.__fe_was_active) return;
	const running = await frappe.db.count("Flow Run", {
		filters: { flow_template: frm.doc.name, status: ["in", ["running", "paused"]] },
	});
	if (!running) return;
	await new Promise((resolve) => {
		const dialog = new frappe.ui.Dialog({
			title: __("Turn off {0}", [frm.doc.template_name]),
			fields: [
				{
					fieldtype: "HTML",
					options: `<p>${__(
						"{0} runs of this template are under way. Turned off, it starts no new run. What becomes of these?",
						[running]
					)}</p>`,
				},
			],
			primary_action_label: __("Let them finish"),
			primary_action() {
				dialog.hide();
			},
			secondary_action_label: __("Cancel them"),
			secondary_action() {
				frm.__fe_cancel_runs = true;
				dialog.hide();
			},
		});
		dialog.onhide = resolve;
		dialog.show();
	});
}

frappe.ui.form.on("Flow Template", {
	refresh(frm) {
		frm.__fe_was_active = !!frm.doc.is_active;
		flow_engine_bundle().then(() => flow_engine.template_form.setup(frm));
	},
	before_save(frm) {
		return ask_about_running_runs(frm);
	},
	async after_save(frm) {
		if (!frm.__fe_cancel_runs) return;
		frm.__fe_cancel_runs = false;
		const result = await frappe.xcall("flow_engine.api.cancel_template_runs", {
			name: frm.doc.name,
		});
		frappe.show_alert({
			message: __("{0} runs cancelled", [result.cancelled]),
			indicator: "orange",
		});
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
