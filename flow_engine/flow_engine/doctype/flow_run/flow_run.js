// Copyright (c) 2026, flow_engine developers
// License: MIT

frappe.ui.form.on("Flow Run", {
	refresh(frm) {
		render_timeline(frm);
		add_actions(frm);
	},
});

const STATUS_COLORS = {
	done: "green",
	skipped: "gray",
	pending: "light-gray",
	scheduled: "blue",
	waiting: "orange",
	failed: "red",
};

function parse(text, fallback) {
	try {
		return JSON.parse(text || "") || fallback;
	} catch (e) {
		return fallback;
	}
}

function render_timeline(frm) {
	const steps = parse(frm.doc.step_state, {});
	const definition = parse(frm.doc.definition_snapshot, { steps: [] });
	const esc = frappe.utils.escape_html;
	const rows = (definition.steps || []).map((step) => {
		const state = steps[step.id] || { status: "pending" };
		const attempts = (state.attempts || [])
			.map(
				(a) => `<div class="text-muted small">
					${__("Attempt {0}", [a.n])}: ${esc(a.started_at || "")} → ${esc(a.ended_at || "")}
					<b>${esc(a.outcome)}</b>${a.error ? ` — <span class="text-danger">${esc(a.error)}</span>` : ""}
				</div>`
			)
			.join("");
		const result = state.result
			? `<pre class="small" style="white-space: pre-wrap">${esc(JSON.stringify(state.result, null, 1))}</pre>`
			: "";
		const when = state.trigger_at ? __("due {0}", [esc(state.trigger_at)]) : esc(state.at || "");
		return `<tr>
			<td><b>${esc(step.label || step.id)}</b><div class="text-muted small">${esc(step.kind)} · ${esc(step.id)}</div></td>
			<td><span class="indicator-pill ${STATUS_COLORS[state.status] || "gray"}">${__(state.status)}</span>
				${state.branch ? `<div class="small">${__("branch")}: ${esc(state.branch)}</div>` : ""}</td>
			<td class="small">${when}</td>
			<td>${attempts}${result}</td>
		</tr>`;
	});
	frm.get_field("timeline").$wrapper.html(`
		<table class="table table-bordered table-sm">
			<thead><tr><th>${__("Step")}</th><th>${__("Status")}</th><th>${__("When")}</th><th>${__("Attempts and result")}</th></tr></thead>
			<tbody>${rows.join("")}</tbody>
		</table>`);
}

function add_actions(frm) {
	if (frm.is_new()) return;
	const steps = parse(frm.doc.step_state, {});
	const call = (method, args) =>
		frappe.call({ method: `flow_engine.api.${method}`, args }).then(() => frm.reload_doc());
	Object.entries(steps).forEach(([step_id, state]) => {
		if (state.status === "failed") {
			frm.add_custom_button(step_id, () => call("retry_step", { run: frm.doc.name, step_id }), __("Retry"));
		}
		if (state.status === "waiting" && frm.doc.status === "running") {
			frm.add_custom_button(step_id, () => call("complete_step", { run: frm.doc.name, step_id }), __("Complete"));
		}
	});
	if (frm.doc.status === "running" || frm.doc.status === "failed") {
		frm.add_custom_button(__("Cancel Run"), () =>
			frappe.confirm(__("Cancel this run? Its pending steps will not fire."), () =>
				call("cancel_run", { name: frm.doc.name })
			)
		);
	}
}
