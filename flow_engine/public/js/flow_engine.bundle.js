// flow_engine's desk code: the flow editor, the run views and the "Flows" group on documents.
// Loaded on every desk page (app_include_js) or on demand by the doctype scripts.

import * as model from "./flow_editor/model.js";
import { FlowEditor } from "./flow_editor/editor.js";
import { ensure_styles, get_catalog } from "./flow_editor/desk.js";
import { open_step_dialog } from "./flow_editor/step_dialog.js";
import { open_variable_picker } from "./flow_editor/variable_picker.js";
import { open_condition_helper } from "./flow_editor/condition_helper.js";
import { open_simulation } from "./flow_editor/simulate.js";
import {
	on_definition_changed,
	on_trigger_changed,
	setup_template_form,
} from "./flow_editor/template_form.js";
import { setup_run_form, timeline_html } from "./flow_editor/run_view.js";
import {
	new_template_dialog,
	runs_dialog,
	setup_form,
	show_run_dialog,
	start_flow_dialog,
} from "./flow_editor/form_flows.js";

frappe.provide("flow_engine");

Object.assign(flow_engine, {
	model,
	FlowEditor,
	get_catalog,
	open_step_dialog,
	open_variable_picker,
	open_condition_helper,
	open_simulation,
	template_form: { setup: setup_template_form, on_definition_changed, on_trigger_changed },
	run_form: { setup: setup_run_form, timeline_html },
	flows: { setup_form, start_flow_dialog, runs_dialog, show_run_dialog, new_template_dialog },
	bundle_loaded: true,
});

ensure_styles();
