// The Simulate button: pick a document of the template's doctype, run flow_engine.api.simulate
// (the real engine on a virtual clock, nothing performed) and show its timeline.

import { steps_of } from "./model.js";
import { format_offset, payload_pairs } from "./text.js";
import {
	RUN_STATUS_COLORS,
	STEP_STATUS_COLORS,
	run_status_label,
	step_status_label,
} from "./runs.js";
import { esc, indicator, kind_icon, pairs_html } from "./desk.js";

function event_details(event) {
	if (event.status === "scheduled")
		return esc(__("fires at {0}", [format_offset(event.trigger_at)]));
	if (event.status === "retry") {
		return `<span class="text-danger">${esc(event.error || "")}</span> ${esc(
			__("retry at {0}", [format_offset(event.trigger_at)])
		)}`;
	}
	if (event.status === "failed")
		return `<span class="text-danger">${esc(event.error || "")}</span>`;
	return pairs_html(payload_pairs(event.payload, 120));
}

function effects_text(effects) {
	const n = (effects || []).length;
	return n === 1
		? __("1 side effect recorded, none performed")
		: __("{0} side effects recorded, none performed", [n]);
}

export function simulation_html(result, kinds) {
	const events = result.events || [];
	const counts = {};
	for (const state of Object.values(result.steps || {}))
		counts[state.status] = (counts[state.status] || 0) + 1;
	const summary = Object.entries(counts)
		.map(([status, n]) => `${n} ${esc(step_status_label(status).toLowerCase())}`)
		.join(", ");
	const rows = events
		.map(
			(event) => `
			<tr data-step="${esc(event.step)}">
				<td class="text-nowrap"><code>${esc(format_offset(event.at))}</code></td>
				<td><div class="d-flex" style="gap: 6px; align-items: center;">${kind_icon(kinds[event.kind])}
					<span>${esc(event.label || event.step)}</span></div></td>
				<td>${indicator(step_status_label(event.status), STEP_STATUS_COLORS[event.status])}
					${
						event.branch
							? `<div class="small text-muted">${esc(
									__("branch {0}", [event.branch])
							  )}</div>`
							: ""
					}</td>
				<td>${event_details(event)}</td>
			</tr>`
		)
		.join("");
	return `
		<div class="fe-sim-result">
			<p>${indicator(run_status_label(result.status), RUN_STATUS_COLORS[result.status])}
				<span class="text-muted small">${summary}; ${esc(effects_text(result.effects))}</span></p>
			<table class="table table-sm table-bordered fe-sim-table">
				<thead><tr><th>${__("When")}</th><th>${__("Step")}</th><th>${__("Status")}</th><th>${__(
		"Details"
	)}</th></tr></thead>
				<tbody>${
					rows ||
					`<tr><td colspan="4" class="text-muted">${__("Nothing happened")}</td></tr>`
				}</tbody>
			</table>
			<details><summary class="small">${__("Timeline as text")}</summary>
				<pre class="fe-sim-timeline">${esc(result.timeline || "")}</pre></details>
		</div>`;
}

export function open_simulation(frm, editor = null) {
	const definition = editor ? editor.definition : { steps: [] };
	const steps = steps_of(definition);
	const waiting = steps.filter((step) =>
		["manual", "on_webhook"].includes((step.trigger || {}).type)
	);
	const applies_to = frm.doc.applies_to;
	const kinds = editor ? editor.kinds : {};
	const doc_fields = applies_to
		? [
				{
					fieldname: "docname",
					fieldtype: "Link",
					options: applies_to,
					label: __("{0} to simulate with", [__(applies_to)]),
					description: __(
						"Its fields and its customer fill the templates and conditions; it is not changed."
					),
				},
		  ]
		: [
				{
					fieldname: "doctype",
					fieldtype: "Link",
					options: "DocType",
					label: __("Document Type"),
				},
				{
					fieldname: "docname",
					fieldtype: "Dynamic Link",
					options: "doctype",
					label: __("Document"),
				},
		  ];
	const dialog = new frappe.ui.Dialog({
		title: __("Simulate {0}", [frm.doc.template_name || frm.doc.name]),
		size: "extra-large",
		fields: [
			...doc_fields,
			{ fieldtype: "Column Break" },
			{
				fieldname: "until",
				fieldtype: "Data",
				label: __("Simulate up to"),
				default: "400d",
				description: __("After the start: 30d, 12h, 1d12h, 90m"),
			},
			{
				fieldtype: "Section Break",
				label: __("Waiting and failing steps"),
				collapsible: 1,
				collapsible_depends_on: "eval:0",
			},
			{
				fieldname: "complete",
				fieldtype: "MultiCheck",
				label: __("Complete these waiting steps when reached"),
				columns: 2,
				options: waiting.map((step) => ({
					label: step.label || step.id,
					value: step.id,
					checked: 1,
				})),
			},
			{ fieldtype: "Column Break" },
			{
				fieldname: "fail",
				fieldtype: "MultiCheck",
				label: __("Make every attempt of these steps fail"),
				columns: 2,
				options: steps.map((step) => ({ label: step.label || step.id, value: step.id })),
			},
			{ fieldtype: "Section Break" },
			{ fieldname: "result", fieldtype: "HTML" },
		],
		primary_action_label: __("Run Simulation"),
		primary_action: async (values) => {
			const $result = dialog.fields_dict.result.$wrapper;
			$result.html(`<p class="text-muted">${__("Simulating…")}</p>`);
			try {
				const result = await frappe.xcall("flow_engine.api.simulate", {
					template: frm.doc.name,
					doctype: values.docname ? applies_to || values.doctype : null,
					docname: values.docname || null,
					until: values.until || null,
					complete: JSON.stringify(values.complete || []),
					fail: JSON.stringify(values.fail || []),
				});
				$result.html(simulation_html(result, kinds));
				if (editor) {
					const statuses = {};
					for (const [id, state] of Object.entries(result.steps || {}))
						statuses[id] = state.status;
					editor.show_simulation(statuses);
				}
			} catch (e) {
				$result.html(
					`<p class="text-danger">${__("The simulation failed; see the message.")}</p>`
				);
			}
		},
	});
	dialog.show();
	return dialog;
}
