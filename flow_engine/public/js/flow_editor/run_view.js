// A run's timeline (the Flow Run form's `timeline` field, the "Flows" dialogs on documents) and
// the Flow Run form's live refresh while the run is running.

import {
	timeline_rows,
	STEP_STATUS_COLORS,
	is_live,
	next_poll_delay,
	step_status_label,
	wait_text,
} from "./runs.js";
import {
	datetime_text,
	doc_link,
	esc,
	get_catalog,
	indicator,
	kind_icon,
	pairs_html,
} from "./desk.js";

function parse(text, fallback) {
	if (text && typeof text === "object") return text;
	try {
		return JSON.parse(text || "") || fallback;
	} catch (e) {
		return fallback;
	}
}

function when_html(state) {
	if (state.status === "scheduled" && state.trigger_at) {
		return `${esc(__("due {0}", [datetime_text(state.trigger_at)]))}`;
	}
	if (state.status === "waiting" && state.timeout_at) {
		return `${esc(datetime_text(state.at))}<div>${esc(
			__("times out {0}", [datetime_text(state.timeout_at)])
		)}</div>`;
	}
	return esc(datetime_text(state.at));
}

/** texts: the server's `error_texts` of this step, the errors in the reader's language
 * ({error, attempts: {n: text}}); what it lacks is shown as stored. */
function attempts_html(state, texts) {
	return (state.attempts || [])
		.map((attempt) => {
			const error = (texts.attempts || {})[attempt.n] || attempt.error;
			return `<div class="fe-attempt">${esc(__("Attempt {0}", [attempt.n]))}:
				${esc(datetime_text(attempt.started_at))} → ${esc(datetime_text(attempt.ended_at))}
				<b>${esc(attempt.outcome === "done" ? __("done") : __("error"))}</b>${
				error ? ` <span class="text-danger">${esc(error)}</span>` : ""
			}</div>`;
		})
		.join("");
}

/**
 * run: {name, status, steps (step_state), definition (snapshot), error_texts (optional, the
 * server's translations of the errors)}; options.actions adds the
 * Complete / Retry buttons of waiting and failed steps.
 */
export function timeline_html(run, kinds, { actions = false, can_retry = false } = {}) {
	const rows = timeline_rows(run.definition, run.steps, kinds);
	const body = rows
		.map((row) => {
			const state = row.state;
			const texts = ((run.error_texts || {}).steps || {})[row.id] || {};
			const links = row.links.map((link) => doc_link(link.doctype, link.name)).join("");
			const buttons = [];
			// a step whose kind waits (an event, a sub-flow) goes on by itself: nobody completes it
			if (actions && row.status === "waiting" && !state.wait && run.status === "running") {
				buttons.push(
					`<button class="btn btn-xs btn-primary" data-run-action="complete" data-step="${esc(
						row.id
					)}">${__("Complete")}</button>`
				);
			}
			if (actions && can_retry && row.status === "failed") {
				buttons.push(
					`<button class="btn btn-xs btn-default" data-run-action="retry" data-step="${esc(
						row.id
					)}">${__("Retry")}</button>`
				);
			}
			const payload = row.payload.length
				? `<details><summary class="small text-muted">${
						row.payload_rendered
							? __("Payload sent")
							: __("Payload (as defined, before rendering)")
				  }</summary>${pairs_html(row.payload)}</details>`
				: "";
			return `<tr data-step="${esc(row.id)}">
				<td>
					<div class="fe-step-cell" style="padding-left: ${row.depth * 18}px">
						${kind_icon(row.kind)}
						<div><b>${esc(row.label)}</b>
							<div class="text-muted small">${esc(row.kind ? __(row.kind.label) : row.kind_name)} · ${esc(
				row.id
			)}</div>
							${
								row.branch_of
									? `<div class="fe-branch-of">${esc(
											__("in branch {0}", [row.branch_of])
									  )}</div>`
									: ""
							}
						</div>
					</div>
				</td>
				<td>${indicator(step_status_label(row.status), STEP_STATUS_COLORS[row.status])}
					${state.branch ? `<div class="small">${esc(__("took branch {0}", [state.branch]))}</div>` : ""}
					${
						buttons.length
							? `<div style="margin-top: 4px; display: flex; gap: 4px;">${buttons.join(
									""
							  )}</div>`
							: ""
					}</td>
				<td class="small">${when_html(state)}</td>
				<td>${
					state.status === "waiting" && state.wait
						? `<div class="small">${esc(wait_text(state.wait))}${
								state.wait.sub_flow ? " " + doc_link("Flow Run", state.wait.sub_flow) : ""
						  }</div>`
						: ""
				}${links ? `<div>${links}</div>` : ""}${pairs_html(row.result)}${
				state.error && row.status !== "done"
					? `<div class="text-danger small">${esc(texts.error || state.error)}</div>`
					: ""
			}${attempts_html(state, texts)}${payload}</td>
			</tr>`;
		})
		.join("");
	return `<table class="table table-bordered table-sm fe-timeline">
		<thead><tr><th>${__("Step")}</th><th>${__("Status")}</th><th>${__("When")}</th><th>${__(
		"Documents, result and attempts"
	)}</th></tr></thead>
		<tbody>${body || `<tr><td colspan="4" class="text-muted">${__("No steps")}</td></tr>`}</tbody>
	</table>`;
}

export function run_from_doc(doc) {
	return {
		name: doc.name,
		status: doc.status,
		steps: parse(doc.step_state, {}),
		definition: parse(doc.definition_snapshot, { steps: [] }),
		error_texts: (doc.__onload || {}).error_texts,
	};
}

export async function complete_step_dialog(run_name, step_id) {
	return new Promise((resolve) => {
		const dialog = new frappe.ui.Dialog({
			title: __("Complete step {0}", [step_id]),
			fields: [
				{
					fieldname: "result",
					fieldtype: "Code",
					options: "JSON",
					label: __("Result (optional)"),
					description: __("A JSON object later steps can use as {0}", [
						"<code>{{ steps." + esc(step_id) + ".result }}</code>",
					]),
				},
			],
			primary_action_label: __("Complete"),
			primary_action: async (values) => {
				let result = {};
				if ((values.result || "").trim()) {
					try {
						result = JSON.parse(values.result);
					} catch (e) {
						frappe.msgprint(__("The result is not valid JSON: {0}", [esc(e.message)]));
						return;
					}
				}
				dialog.hide();
				resolve(
					await frappe.xcall("flow_engine.api.complete_step", {
						run: run_name,
						step_id,
						result: JSON.stringify(result),
					})
				);
			},
		});
		dialog.onhide = () => resolve(null);
		dialog.show();
	});
}

export function is_flow_manager() {
	return frappe.user.has_role("Flow Manager") || frappe.user.has_role("System Manager");
}

/** Draw the Flow Run form's timeline and wire its buttons. */
export async function render_run_form(frm) {
	const field = frm.get_field("timeline");
	if (!field) return;
	let kinds = {};
	try {
		kinds = (await get_catalog()).kinds;
	} catch (e) {
		// without the catalog the rows still show, with letters for icons
	}
	const run = run_from_doc(frm.doc);
	// the Error field shows the run's error as stored (English); in another language, here too
	const run_error = (run.error_texts || {}).error;
	field.$wrapper.html(
		`${
			run_error && run_error !== frm.doc.error
				? `<div class="alert alert-danger small">${esc(run_error)}</div>`
				: ""
		}${
			is_live(run.status)
				? `<div class="fe-live">${__(
						"Refreshes by itself while the run is running"
				  )}</div>`
				: ""
		}
		${timeline_html(run, kinds, { actions: !frm.is_new(), can_retry: is_flow_manager() })}`
	);
	field.$wrapper.off("click.fe_run").on("click.fe_run", "[data-run-action]", async (event) => {
		const step_id = event.currentTarget.dataset.step;
		const action = event.currentTarget.dataset.runAction;
		if (action === "complete") {
			if (await complete_step_dialog(frm.doc.name, step_id)) frm.reload_doc();
		} else if (action === "retry") {
			await frappe.xcall("flow_engine.api.retry_step", { run: frm.doc.name, step_id });
			frm.reload_doc();
		}
	});
}

/**
 * Poll a running run and reload the form when it changed (the engine writes runs without
 * publishing a realtime update). Stops when the run ends or the form is left.
 */
export function watch_run(frm) {
	if (frm.__fe_watch) clearTimeout(frm.__fe_watch.timer);
	if (frm.is_new() || !is_live(frm.doc.status)) {
		frm.__fe_watch = null;
		return;
	}
	const name = frm.doc.name;
	const watch = { name, modified: frm.doc.modified, delay: 0, timer: null };
	frm.__fe_watch = watch;
	const still_here = () =>
		frm.__fe_watch === watch &&
		frm.doc &&
		frm.doc.name === name &&
		window.cur_frm === frm &&
		frappe.get_route()[0] === "Form" &&
		frappe.get_route()[2] === name;
	const tick = async () => {
		if (!still_here()) return;
		if (document.hidden || frm.is_dirty()) {
			watch.timer = setTimeout(tick, watch.delay);
			return;
		}
		let row = null;
		try {
			row = await frappe.db.get_value("Flow Run", name, ["modified", "status"]);
		} catch (e) {
			row = null;
		}
		if (!still_here()) return;
		const value = row && row.message;
		const changed = !!(value && value.modified && value.modified !== watch.modified);
		if (changed) {
			frm.reload_doc(); // refresh() starts a new watch if it still runs
			return;
		}
		watch.delay = next_poll_delay(watch.delay, false);
		watch.timer = setTimeout(tick, watch.delay);
	};
	watch.delay = next_poll_delay(0, true);
	watch.timer = setTimeout(tick, watch.delay);
}

/** The Flow Run form: timeline, Complete / Retry / Cancel, live refresh while running. */
export async function setup_run_form(frm) {
	await render_run_form(frm);
	watch_run(frm);
	if (frm.is_new()) return;
	const steps = run_from_doc(frm.doc).steps;
	const call = (method, args) =>
		frappe.xcall(`flow_engine.api.${method}`, args).then(() => frm.reload_doc());
	for (const [step_id, state] of Object.entries(steps)) {
		if (state.status === "failed" && is_flow_manager()) {
			frm.add_custom_button(
				step_id,
				() => call("retry_step", { run: frm.doc.name, step_id }),
				__("Retry")
			);
		}
		if (state.status === "waiting" && !state.wait && frm.doc.status === "running") {
			frm.add_custom_button(
				step_id,
				async () => {
					if (await complete_step_dialog(frm.doc.name, step_id)) frm.reload_doc();
				},
				__("Complete")
			);
		}
	}
	if (frm.doc.status === "running") {
		frm.add_custom_button(__("Pause"), () => call("pause_run", { name: frm.doc.name }));
	}
	if (frm.doc.status === "paused") {
		frm.add_custom_button(__("Resume"), () => call("resume_run", { name: frm.doc.name }));
	}
	if (["running", "paused", "failed"].includes(frm.doc.status)) {
		frm.add_custom_button(__("Cancel Run"), () =>
			frappe.confirm(__("Cancel this run? Its pending steps will not fire."), () =>
				call("cancel_run", { name: frm.doc.name })
			)
		);
	}
	if (frm.doc.context_doctype && frm.doc.context_docname) {
		frm.add_custom_button(__("Open {0}", [__(frm.doc.context_doctype)]), () =>
			frappe.set_route("Form", frm.doc.context_doctype, frm.doc.context_docname)
		);
	}
}
