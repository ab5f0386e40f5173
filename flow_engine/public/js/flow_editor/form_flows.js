// "Flows" on any document's form (Customer, Quotation, Contract, Issue, Subscription, Sales
// Invoice, Dispatch Job… wired by doctype_js): start a flow on this document, see its runs, create
// a template for this doctype.

import { RUN_STATUS_COLORS, run_status_label } from "./runs.js";
import { datetime_text, doc_url, esc, get_catalog, indicator } from "./desk.js";
import { timeline_html, is_flow_manager } from "./run_view.js";
import { events_for } from "./text.js";

export function setup_form(frm) {
	if (frm.is_new() || !frappe.model.can_read("Flow Template")) return;
	const group = __("Flows");
	const can_start = is_flow_manager() || !!(frm.perm && frm.perm[0] && frm.perm[0].write);
	if (can_start) frm.add_custom_button(__("Start Flow"), () => start_flow_dialog(frm), group);
	if (frappe.model.can_read("Flow Run")) {
		frm.add_custom_button(__("Flow Runs"), () => runs_dialog(frm), group);
	}
	if (frappe.model.can_create("Flow Template")) {
		frm.add_custom_button(__("New Flow Template"), () => new_template_dialog(frm), group);
	}
}

async function templates_for(doctype) {
	const templates = await frappe.xcall("flow_engine.api.list_templates", { is_active: 1 });
	return (templates || []).filter((t) => !t.applies_to || t.applies_to === doctype);
}

export async function start_flow_dialog(frm) {
	const [templates, catalog] = await Promise.all([
		templates_for(frm.doctype),
		get_catalog().catch(() => ({ events: [] })),
	]);
	// a template's trigger event by its label (the catalog's), as the editor shows it
	const event_label = (name) => {
		const event = (catalog.events || []).find((e) => e.name === name);
		return event ? __(event.label) : name;
	};
	if (!templates.length) {
		frappe.msgprint({
			title: __("No flow for {0}", [__(frm.doctype)]),
			message: __(
				"No active Flow Template applies to {0}. Create one with Flows → New Flow Template.",
				[__(frm.doctype)]
			),
			indicator: "orange",
		});
		return;
	}
	const ordered = [
		...templates.filter((t) => t.applies_to === frm.doctype && t.trigger_event === "manual"),
		...templates.filter(
			(t) => !(t.applies_to === frm.doctype && t.trigger_event === "manual")
		),
	];
	const dialog = new frappe.ui.Dialog({
		title: __("Start a flow on {0}", [frm.docname]),
		fields: [
			{
				fieldname: "template",
				fieldtype: "Select",
				label: __("Flow Template"),
				reqd: 1,
				options: ordered.map((t) => ({
					value: t.name,
					label: `${t.template_name} (${t.name}${
						t.trigger_event === "manual" ? "" : ", " + event_label(t.trigger_event)
					})`,
				})),
				default: ordered[0].name,
			},
			{
				fieldname: "variables",
				fieldtype: "Code",
				options: "JSON",
				label: __("Variables (optional)"),
				description: __("A JSON object the steps see as {0}, e.g. {1}", [
					"<code>{{ variables.name }}</code>",
					'<code>{"subscription": "ACC-SUB-2026-00012"}</code>',
				]),
			},
			{ fieldname: "result", fieldtype: "HTML" },
		],
		primary_action_label: __("Start"),
		primary_action: async (values) => {
			let variables = {};
			if ((values.variables || "").trim()) {
				try {
					variables = JSON.parse(values.variables);
				} catch (e) {
					frappe.msgprint(__("The variables are not valid JSON: {0}", [esc(e.message)]));
					return;
				}
			}
			dialog.disable_primary_action();
			try {
				const report = await frappe.xcall("flow_engine.api.start_flow", {
					template: values.template,
					doctype: frm.doctype,
					docname: frm.docname,
					variables: JSON.stringify(variables),
				});
				dialog.hide();
				frappe.show_alert({
					message: __("Flow {0} started", [report.run]),
					indicator: "green",
				});
				show_run_dialog(report.run);
				frm.reload_doc();
			} finally {
				dialog.enable_primary_action();
			}
		},
	});
	dialog.show();
}

/** A run's timeline in a dialog, with a button to its form. */
export async function show_run_dialog(run_name) {
	const [run, catalog] = await Promise.all([
		frappe.xcall("flow_engine.api.get_run", { name: run_name }),
		get_catalog().catch(() => ({ kinds: {} })),
	]);
	const dialog = new frappe.ui.Dialog({
		title: __("Flow Run {0}", [run_name]),
		size: "extra-large",
		fields: [{ fieldname: "run_timeline", fieldtype: "HTML" }],
		primary_action_label: __("Open Run"),
		primary_action: () => {
			dialog.hide();
			frappe.set_route("Form", "Flow Run", run_name);
		},
	});
	dialog.fields_dict.run_timeline.$wrapper.html(`
		<p>${indicator(run_status_label(run.status), RUN_STATUS_COLORS[run.status])}
			<span class="text-muted small">${esc(run.flow_template)} · ${esc(
		datetime_text(run.started_at)
	)}</span></p>
		${
			run.error
				? `<div class="alert alert-danger small">${esc(
						(run.error_texts || {}).error || run.error
				  )}</div>`
				: ""
		}
		${timeline_html(
			{
				name: run.name,
				status: run.status,
				steps: run.steps,
				definition: run.definition,
				error_texts: run.error_texts,
			},
			catalog.kinds
		)}`);
	dialog.show();
	return dialog;
}

export async function runs_dialog(frm) {
	const runs = await frappe.xcall("flow_engine.api.list_runs", {
		doctype: frm.doctype,
		docname: frm.docname,
		limit: 50,
	});
	const dialog = new frappe.ui.Dialog({
		title: __("Flow runs of {0}", [frm.docname]),
		size: "large",
		fields: [{ fieldname: "runs", fieldtype: "HTML" }],
		primary_action_label: __("Open List"),
		primary_action: () => {
			dialog.hide();
			frappe.set_route("List", "Flow Run", {
				context_doctype: frm.doctype,
				context_docname: frm.docname,
			});
		},
	});
	const rows = (runs || [])
		.map(
			(run) => `<tr>
				<td><a href="${esc(doc_url("Flow Run", run.name))}" data-run="${esc(run.name)}">${esc(
				run.name
			)}</a></td>
				<td>${esc(run.flow_template)}</td>
				<td>${indicator(run_status_label(run.status), RUN_STATUS_COLORS[run.status])}</td>
				<td class="small">${esc(datetime_text(run.started_at))}</td>
				<td class="small text-danger">${esc(run.error_text || run.error || "")}</td>
			</tr>`
		)
		.join("");
	dialog.fields_dict.runs.$wrapper.html(
		rows
			? `<table class="table table-sm table-bordered"><thead><tr><th>${__(
					"Run"
			  )}</th><th>${__("Template")}</th>
				<th>${__("Status")}</th><th>${__("Started")}</th><th>${__(
					"Error"
			  )}</th></tr></thead><tbody>${rows}</tbody></table>`
			: `<p class="text-muted">${__("No flow has run on this document yet.")}</p>`
	);
	dialog.fields_dict.runs.$wrapper.on("click", "[data-run]", (event) => {
		event.preventDefault();
		dialog.hide();
		show_run_dialog(event.currentTarget.dataset.run);
	});
	dialog.show();
}

export async function new_template_dialog(frm) {
	const catalog = await get_catalog();
	const events = events_for(catalog.events || [], frm.doctype);
	const dialog = new frappe.ui.Dialog({
		title: __("New flow for {0}", [__(frm.doctype)]),
		fields: [
			{
				fieldname: "template_name",
				fieldtype: "Data",
				label: __("Template Name"),
				reqd: 1,
				default: __("{0} flow", [__(frm.doctype)]),
			},
			{
				fieldname: "trigger_event",
				fieldtype: "Select",
				label: __("Starts when"),
				reqd: 1,
				options: events.map((e) => ({
					value: e.name,
					label: `${__(e.label)} (${e.name})`,
				})),
				default: events.length ? events[0].name : "manual",
			},
		],
		primary_action_label: __("Create"),
		primary_action: (values) => {
			dialog.hide();
			const event = events.find((e) => e.name === values.trigger_event) || {};
			frappe.new_doc("Flow Template", {
				template_name: values.template_name,
				applies_to: frm.doctype,
				trigger_event: values.trigger_event,
				trigger_doctype: event.needs_doctype ? frm.doctype : undefined,
			});
		},
	});
	dialog.show();
}
