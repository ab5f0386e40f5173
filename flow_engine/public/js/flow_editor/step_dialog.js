// The step editor: a frappe.ui.Dialog generated from the kind's field descriptors (kinds_catalog),
// with the step's trigger, its dependencies and its retry policy. Values are checked while one
// types (in the browser, then by validate_definition) and the problems shown under each field.

import { dependency_candidates, deps_of, label_of, update_step } from "./model.js";
import {
	PAYLOAD_PREFIX,
	RETRY_PREFIX,
	TRIGGER_TYPES,
	local_problems,
	payload_fields,
	problem_fieldname,
	retry_fields,
	step_to_values,
	trigger_fields,
	values_to_step,
} from "./fields.js";
import { insert_at } from "./text.js";
import { esc, kind_icon, show_field_problem, template_record, validate_record } from "./desk.js";
import { open_variable_picker } from "./variable_picker.js";

const LOCAL_DELAY_MS = 120;
const SERVER_DELAY_MS = 600;

function kind_html(step, kind, definition) {
	let place = "";
	if (step.parent_id && step.branch) {
		place = __("In branch {0} of {1}", [
			esc(step.branch),
			esc(label_of(definition, step.parent_id)),
		]);
	} else if (step.parent_id) {
		place = __("Nested under {0}", [esc(label_of(definition, step.parent_id))]);
	}
	return `
		<div class="d-flex" style="gap: 10px; align-items: flex-start; margin-top: 24px;">
			${kind_icon(kind, { large: true })}
			<div>
				<b>${esc(kind ? __(kind.label) : step.kind)}</b>
				<div class="text-muted small">${esc(
					kind ? __(kind.description || "") : __("This kind is not installed")
				)}</div>
				${place ? `<div class="small" style="margin-top: 4px;">${place}</div>` : ""}
			</div>
		</div>`;
}

/** Which kind of text a field holds, to know how a picked variable is written into it. */
function snippet_mode(kind, fieldname) {
	const specs = (kind && kind.fields) || [];
	const own =
		fieldname && fieldname.startsWith(PAYLOAD_PREFIX)
			? fieldname.slice(PAYLOAD_PREFIX.length)
			: fieldname;
	let spec = specs.find((s) => s.name === own);
	if (!spec) {
		for (const table of specs.filter((s) => s.type === "table")) {
			spec = (table.fields || []).find((column) => column.name === fieldname) || spec;
		}
	}
	if (!spec) return "template";
	if (spec.type === "path") return "path";
	if (spec.type === "jsonlogic") return "jsonlogic";
	return "template";
}

export function open_step_dialog({ editor, step, is_new = false, read_only = false, on_apply }) {
	const definition = editor.definition;
	const kind = editor.kinds[step.kind] || null;
	const values = step_to_values(step, kind);
	const own_deps = deps_of(step);
	const candidates = dependency_candidates(definition, step.id);
	for (const dep of own_deps) {
		if (!candidates.some((c) => c.id === dep)) candidates.push({ id: dep, label: dep });
	}
	const payload = payload_fields(kind);
	const fields = [
		{ fieldname: "problems_html", fieldtype: "HTML" },
		{ fieldtype: "Section Break", label: __("Step") },
		{ fieldname: "label", fieldtype: "Data", label: __("Label"), reqd: 1 },
		{
			fieldname: "step_id",
			fieldtype: "Data",
			label: __("ID"),
			description: __("Other steps and templates refer to this step by its ID"),
		},
		{ fieldtype: "Column Break" },
		{ fieldname: "kind_html", fieldtype: "HTML" },
		{
			fieldname: "description",
			fieldtype: "Small Text",
			label: __("Notes"),
			max_height: "5rem",
		},
		{ fieldtype: "Section Break", label: __("When it runs") },
		...trigger_fields((editor.catalog && editor.catalog.trigger_types) || TRIGGER_TYPES),
		{ fieldtype: "Column Break" },
		candidates.length
			? null
			: {
					fieldname: "no_candidates",
					fieldtype: "HTML",
					options: `<p class="text-muted small">${__(
						"There is no other step to wait for."
					)}</p>`,
			  },
		{
			fieldname: "depends_on",
			fieldtype: "MultiCheck",
			label: __("After these steps"),
			columns: 1,
			options: candidates.map((candidate) => ({
				label:
					candidate.label === candidate.id
						? candidate.id
						: `${candidate.label} (${candidate.id})`,
				value: candidate.id,
				checked: own_deps.includes(candidate.id) ? 1 : 0,
			})),
		},
		{
			fieldname: "join",
			fieldtype: "Select",
			label: __("Wait for"),
			options: [
				{ value: "all", label: __("All of them") },
				{ value: "any", label: __("Any one of them") },
			],
		},
		{
			fieldtype: "Section Break",
			label: kind ? __("{0} settings", [__(kind.label)]) : __("Settings"),
		},
		...(payload.length
			? payload
			: [
					{
						fieldname: "no_payload",
						fieldtype: "HTML",
						options: `<p class="text-muted small">${__(
							"This kind has no settings."
						)}</p>`,
					},
			  ]),
		{
			fieldname: "retry_section",
			fieldtype: "Section Break",
			label: __("Retry policy"),
			collapsible: 1,
		},
		{
			fieldname: "retry_html",
			fieldtype: "HTML",
			options: `<p class="text-muted small">${__(
				"How often a failing attempt is tried again. Empty fields use the flow's policy, then Flow Settings."
			)}</p>`,
		},
		...retry_fields(definition.retry || null),
	].filter(Boolean);
	for (const df of fields) {
		if (!df.fieldname) continue;
		if (df.fieldtype === "Table") {
			df.data = (values[df.fieldname] || []).map((row) => ({ ...row }));
			df.get_data = () => df.data;
		} else if (df.fieldname in values && df.fieldtype !== "MultiCheck") {
			df.default = values[df.fieldname];
		}
		if (read_only && !["HTML"].includes(df.fieldtype)) df.read_only = 1;
		// required fields are checked here, inline; Frappe's own check would stop Apply with a popup
		if (df.reqd) {
			df.flow_required = 1;
			delete df.reqd;
		}
	}

	let server = {}; // fieldname → message, from the last validate_definition
	let server_general = [];
	let server_seq = 0;
	let local_timer = null;
	let server_timer = null;
	let target = null; // the text control a picked variable goes into

	const dialog = new frappe.ui.Dialog({
		title: is_new
			? __("New step: {0}", [kind ? __(kind.label) : step.kind])
			: __("Edit step: {0}", [step.label || step.id]),
		size: "extra-large",
		fields,
		primary_action_label: read_only ? __("Close") : __("Apply"),
		primary_action: () => (read_only ? dialog.hide() : apply()),
	});
	dialog.fields_dict.kind_html.$wrapper.html(kind_html(step, kind, definition));
	for (const field of Object.values(dialog.fields_dict)) {
		if (field.df && field.df.flow_required)
			field.$wrapper.find(".control-label").first().addClass("reqd");
	}

	// Not dialog.get_values(): on a dialog it resets empty required inputs from the model, i.e.
	// erases what is being typed before the control's debounced change lands.
	const current_values = () => {
		const result = {};
		for (const [fieldname, field] of Object.entries(dialog.fields_dict)) {
			if (typeof field.get_value !== "function") continue;
			const value = field.get_value();
			if (value !== undefined && value !== null) result[fieldname] = value;
		}
		return result;
	};

	const retry_section = dialog.fields_dict.retry_section;
	const open_retry = () => {
		if (retry_section && retry_section.is_collapsed && retry_section.is_collapsed()) {
			retry_section.collapse(false);
		}
	};
	if (step.retry && Object.keys(step.retry).length) open_retry();

	function render_problems(local) {
		for (const [fieldname, field] of Object.entries(dialog.fields_dict)) {
			if (
				!field.df ||
				["HTML", "Section Break", "Column Break"].includes(field.df.fieldtype)
			) {
				continue;
			}
			const message = local[fieldname] || server[fieldname] || "";
			show_field_problem(field, message);
			if (message && fieldname.startsWith(RETRY_PREFIX)) open_retry();
		}
		const general = server_general.map((message) => `<li>${esc(message)}</li>`).join("");
		dialog.fields_dict.problems_html.$wrapper.html(
			general
				? `<div class="alert alert-danger small"><ul class="mb-0">${general}</ul></div>`
				: ""
		);
	}

	function check_local() {
		const local = local_problems(editor.definition, step, kind, current_values());
		render_problems(local);
		return local;
	}

	async function check_server() {
		const seq = ++server_seq;
		const edited = values_to_step(step, kind, current_values());
		const candidate = update_step(editor.definition, step.id, edited);
		let list;
		try {
			list = await validate_record(template_record(editor.frm, candidate));
		} catch (e) {
			return null;
		}
		if (seq !== server_seq) return null;
		server = {};
		server_general = [];
		for (const problem of list.filter((p) => p.step === edited.id)) {
			const { fieldname, message } = problem_fieldname(problem, kind);
			if (fieldname && dialog.fields_dict[fieldname]) {
				server[fieldname] = server[fieldname]
					? `${server[fieldname]}; ${message}`
					: message;
			} else {
				server_general.push(message);
			}
		}
		check_local();
		return Object.keys(server).length + server_general.length;
	}

	function schedule_checks() {
		if (read_only) return;
		clearTimeout(local_timer);
		clearTimeout(server_timer);
		local_timer = setTimeout(check_local, LOCAL_DELAY_MS);
		server_timer = setTimeout(check_server, SERVER_DELAY_MS);
	}

	async function apply() {
		const local = check_local();
		if (Object.keys(local).length) {
			frappe.show_alert({
				message: __("Fix the fields marked in red first"),
				indicator: "red",
			});
			return;
		}
		clearTimeout(server_timer);
		const count = await check_server();
		if (count) {
			frappe.show_alert({
				message: __("The flow would not be valid: see the messages"),
				indicator: "red",
			});
			return;
		}
		const edited = values_to_step(step, kind, current_values());
		dialog.hide();
		on_apply && on_apply(edited);
	}

	function insert_variable() {
		const mode = target ? snippet_mode(kind, target.fieldname) : "template";
		open_variable_picker({
			applies_to: editor.frm.doc.applies_to,
			definition: editor.definition,
			mode,
			title: target
				? __("Insert a variable into {0}", [target.label || target.fieldname])
				: __("Copy a variable"),
			on_pick: target ? (snippet) => insert_into_target(snippet) : null,
		});
	}

	function insert_into_target(snippet) {
		const { el, fieldname } = target;
		const field = dialog.fields_dict[fieldname];
		if (field && field.editor && typeof field.editor.insert === "function") {
			field.editor.insert(snippet); // a Code control (ace)
			field.editor.focus();
			return;
		}
		if (!el || !document.body.contains(el)) return;
		const { text, cursor } = insert_at(el.value, snippet, target.start, target.end);
		el.value = text;
		el.focus();
		el.setSelectionRange(cursor, cursor);
		target.start = target.end = cursor;
		$(el).trigger("input").trigger("change");
		schedule_checks();
	}

	if (!read_only) {
		dialog.add_custom_action(__("Insert Variable"), insert_variable, "btn-insert-variable");
		dialog.$wrapper.on("focusin", "input, textarea", (event) => {
			const el = event.target;
			const $control = $(el).closest("[data-fieldname]");
			const fieldname = $control.attr("data-fieldname");
			if (!fieldname || el.type === "checkbox") return;
			const field = dialog.fields_dict[fieldname];
			target = {
				el,
				fieldname,
				label: field && field.df ? field.df.label : $control.find("label").first().text(),
				start: el.selectionStart,
				end: el.selectionEnd,
			};
		});
		dialog.$wrapper.on("keyup click select", "input, textarea", (event) => {
			if (target && target.el === event.target) {
				target.start = event.target.selectionStart;
				target.end = event.target.selectionEnd;
			}
		});
		dialog.$wrapper.on("input change", "input, textarea, select", schedule_checks);
		for (const field of Object.values(dialog.fields_dict)) {
			if (field.df) field.df.onchange = schedule_checks;
			if (field.editor && field.editor.session)
				field.editor.session.on("change", schedule_checks);
		}
	}
	dialog.show();
	dialog.set_value("join", values.join);
	if (!read_only) {
		check_local();
		if (!is_new) check_server();
	}
	return dialog;
}
