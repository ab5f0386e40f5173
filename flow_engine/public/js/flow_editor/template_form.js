// The Flow Template form: the visual editor in the `flow_editor` field, kept in step with the
// `flow_definition` JSON and the trigger fields; Simulate, Duplicate and Runs.

import { get_catalog } from "./desk.js";
import { FlowEditor } from "./editor.js";

export async function setup_template_form(frm) {
	const field = frm.get_field("flow_editor");
	if (!field) return null;
	if (!frm.flow_editor || frm.flow_editor.$wrapper[0] !== field.$wrapper[0]) {
		frm.flow_editor = new FlowEditor(frm, field.$wrapper);
		await frm.flow_editor.setup();
	}
	frm.flow_editor.load_from_doc(true);
	add_buttons(frm);
	await label_events(frm);
	return frm.flow_editor;
}

/** Trigger Event shows the event's label (the field stores its code, e.g. on_contract_signed). */
async function label_events(frm) {
	const control = frm.get_field("trigger_event");
	if (!control || control.flow_engine_labelled) return;
	const catalog = await get_catalog();
	const events = (catalog.events || []).map((event) => ({
		label: __(event.label),
		value: event.name,
	}));
	control.set_data(events);
	control.flow_engine_labelled = true;
	// show the label now without setting the value again (that would be a change of the field)
	if (control.$input) control.$input.val(control.format_for_input(frm.doc.trigger_event));
}

function add_buttons(frm) {
	if (frm.is_new()) return;
	frm.add_custom_button(__("Simulate"), () => frm.flow_editor && frm.flow_editor.simulate());
	frm.add_custom_button(__("Runs"), () =>
		frappe.set_route("List", "Flow Run", { flow_template: frm.doc.name })
	);
	if (frappe.model.can_create("Flow Template")) {
		frm.add_custom_button(__("Duplicate"), () => {
			frappe.prompt(
				{
					fieldname: "new_name",
					fieldtype: "Data",
					label: __("New Template Name"),
					reqd: 1,
					default: __("{0} (copy)", [frm.doc.template_name]),
				},
				(values) =>
					frappe
						.call({
							method: "flow_engine.api.duplicate_template",
							args: { name: frm.doc.name, new_name: values.new_name },
						})
						.then((r) => frappe.set_route("Form", "Flow Template", r.message.name)),
				__("Duplicate Template")
			);
		});
	}
}

/** The JSON field changed (typed, pasted, or set by the tree): redraw if it is new text. */
export function on_definition_changed(frm) {
	frm.flow_editor && frm.flow_editor.load_from_doc();
}

/** A trigger field changed: redraw the start of the flow and validate again. */
export function on_trigger_changed(frm) {
	if (!frm.flow_editor) return;
	frm.flow_editor.render();
	frm.flow_editor.validate_soon();
}
