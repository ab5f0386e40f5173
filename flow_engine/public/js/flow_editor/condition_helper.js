// The trigger condition helper: a JsonLogic editor with examples built from the chosen doctype's
// fields, checked as one types (JSON in the browser, then validate_definition on the server).

import { empty_definition } from "./model.js";
import { condition_examples, condition_problem } from "./text.js";
import { esc, template_record, validate_record } from "./desk.js";
import { open_variable_picker } from "./variable_picker.js";

function doctype_fields(doctype) {
	return new Promise((resolve) => {
		if (!doctype) return resolve([]);
		frappe.model.with_doctype(doctype, () =>
			resolve((frappe.get_meta(doctype) || {}).fields || [])
		);
	});
}

/** Problems of a condition's text: [] when it is fine. */
export async function check_condition(frm, text) {
	const local = condition_problem(text);
	if (local) return [local];
	const record = { ...template_record(frm, empty_definition()), trigger_condition: text || "" };
	try {
		const problems = await validate_record(record);
		return problems
			.filter((p) => String(p.field).startsWith("trigger.condition"))
			.map((p) => p.message);
	} catch (e) {
		return [];
	}
}

export async function open_condition_helper(frm, editor = null) {
	const doctype = frm.doc.trigger_doctype || frm.doc.applies_to || null;
	const examples = condition_examples(doctype, await doctype_fields(doctype));
	let seq = 0;
	const dialog = new frappe.ui.Dialog({
		title: __("Trigger Condition"),
		size: "extra-large",
		fields: [
			{
				fieldname: "intro",
				fieldtype: "HTML",
				options: `<p class="text-muted small">${__(
					"A JsonLogic rule over doc, customer and variables. The flow starts only when it holds; leave it empty to always start. Reference: {0}",
					[
						'<a href="https://jsonlogic.com/operations.html" target="_blank" rel="noopener">jsonlogic.com</a>',
					]
				)}</p>`,
			},
			{
				fieldname: "condition",
				fieldtype: "Code",
				options: "JSON",
				label: __("Condition"),
				default: frm.doc.trigger_condition || "",
				max_height: "16rem",
			},
			{ fieldname: "status", fieldtype: "HTML" },
			{ fieldtype: "Column Break" },
			{
				fieldname: "examples",
				fieldtype: "HTML",
				label: __("Examples"),
			},
		],
		primary_action_label: __("Use this condition"),
		primary_action: async () => {
			const text = (dialog.get_value("condition") || "").trim();
			const problems = await check_condition(frm, text);
			if (problems.length) {
				render_status(problems);
				return;
			}
			dialog.hide();
			await frm.set_value(
				"trigger_condition",
				text ? JSON.stringify(JSON.parse(text), null, 1) : ""
			);
			editor && editor.validate_soon();
		},
		secondary_action_label: __("Format"),
		secondary_action: () => {
			const text = dialog.get_value("condition");
			try {
				dialog.set_value("condition", JSON.stringify(JSON.parse(text), null, 2));
			} catch (e) {
				render_status([condition_problem(text)]);
			}
		},
	});

	function render_status(problems) {
		dialog.fields_dict.status.$wrapper.html(
			problems.length
				? `<div class="fe-inline-problem">${problems.map(esc).join("<br>")}</div>`
				: `<div class="fe-inline-ok">${
						(dialog.get_value("condition") || "").trim()
							? __("Valid JsonLogic")
							: __("Empty: the flow always starts")
				  }</div>`
		);
	}

	const check = frappe.utils.debounce(async () => {
		const mine = ++seq;
		const text = dialog.get_value("condition") || "";
		const local = condition_problem(text);
		if (local) return render_status([local]);
		const problems = await check_condition(frm, text);
		if (mine === seq) render_status(problems);
	}, 350);

	dialog.fields_dict.examples.$wrapper.html(`
		<div class="small text-muted" style="margin-bottom: 6px;">${
			doctype
				? __("Examples for {0}", [esc(__(doctype))])
				: __("Examples (set Applies To for examples from its fields)")
		}</div>
		<div class="fe-examples">${examples
			.map(
				(example, index) => `
			<div class="fe-example">
				<code>${esc(JSON.stringify(example.rule))}</code>
				<span class="small">${esc(example.title)}</span>
				<button class="btn btn-xs btn-default" data-example="${index}">${__("Use")}</button>
			</div>`
			)
			.join("")}</div>
		<button class="btn btn-xs btn-default" data-insert-var style="margin-top: 8px;">${__(
			"Insert a field"
		)}</button>`);
	dialog.fields_dict.examples.$wrapper.on("click", "[data-example]", (event) => {
		const example = examples[Number(event.currentTarget.dataset.example)];
		dialog.set_value("condition", JSON.stringify(example.rule, null, 2));
	});
	dialog.fields_dict.examples.$wrapper.on("click", "[data-insert-var]", () => {
		open_variable_picker({
			applies_to: doctype,
			definition: editor ? editor.definition : null,
			mode: "jsonlogic",
			title: __("Insert a field into the condition"),
			on_pick: (snippet) => {
				const field = dialog.fields_dict.condition;
				if (field.editor) {
					field.editor.insert(snippet);
					field.editor.focus();
				} else {
					dialog.set_value("condition", (dialog.get_value("condition") || "") + snippet);
				}
			},
		});
	});
	dialog.fields_dict.condition.df.onchange = check;
	dialog.show();
	render_status([]);
	check();
	return dialog;
}
