// What the run views show: a run's steps in the order of the flow's tree, with their state,
// the documents they created and their payloads. Pure (see model.js).

import { __ } from "./i18n.js";
import { build_tree } from "./model.js";
import { payload_pairs } from "./text.js";

export const STEP_STATUS_COLORS = {
	done: "green",
	skipped: "gray",
	pending: "light-gray",
	scheduled: "blue",
	waiting: "orange",
	failed: "red",
	retry: "orange",
};

export const RUN_STATUS_COLORS = {
	running: "blue",
	paused: "orange",
	completed: "green",
	failed: "red",
	cancelled: "gray",
};

export function step_status_label(status) {
	const labels = {
		done: __("Done"),
		skipped: __("Skipped"),
		pending: __("Pending"),
		scheduled: __("Scheduled"),
		waiting: __("Waiting"),
		failed: __("Failed"),
		retry: __("Retry"),
	};
	return labels[status] || String(status || "");
}

export function run_status_label(status) {
	const labels = {
		running: __("Running"),
		paused: __("Paused"),
		completed: __("Completed"),
		failed: __("Failed"),
		cancelled: __("Cancelled"),
	};
	return labels[status] || String(status || "");
}

/**
 * The documents a step's result points at: [{doctype, name}]. Handlers return
 * {doctype, name} for what they create or update, {subscription} for subscriptions.
 */
export function result_links(result) {
	if (!result || typeof result !== "object") return [];
	const links = [];
	const add = (doctype, name) => {
		if (
			typeof doctype === "string" &&
			doctype &&
			(typeof name === "string" || typeof name === "number") &&
			name !== ""
		) {
			if (!links.some((link) => link.doctype === doctype && link.name === String(name))) {
				links.push({ doctype, name: String(name) });
			}
		}
	};
	add(result.doctype, result.name);
	add("Subscription", result.subscription);
	add("Flow Run", result.run); // a sub-flow's run
	for (const key of ["documents", "created"]) {
		for (const item of Array.isArray(result[key]) ? result[key] : []) {
			if (item && typeof item === "object") add(item.doctype, item.name);
		}
	}
	return links;
}

/**
 * What a waiting step waits for, in words ("" for webhook and manual steps, which a person
 * completes): a document event, or a sub-flow's run.
 */
export function wait_text(wait) {
	if (!wait || typeof wait !== "object") return "";
	if (wait.sub_flow) return __("Waits for its sub-flow {0} to end", [wait.sub_flow]);
	const what = wait.docname ? `${__(wait.doctype)} ${wait.docname}` : __(wait.doctype);
	if (wait.event === "value_change" && wait.field) {
		return wait.value !== null && wait.value !== undefined
			? __("Waits until {0}: {1} becomes {2}", [what, wait.field, wait.value])
			: __("Waits until {0}: {1} changes", [what, wait.field]);
	}
	return __("Waits for {0}: {1}", [what, __(wait.event || "update")]);
}

/** The rest of a result (what result_links did not show) as short pairs. */
export function result_pairs(result) {
	if (!result || typeof result !== "object") return [];
	const shown = new Set(["doctype", "name", "subscription", "run", "doc", "steps", "variables"]);
	const rest = {};
	for (const [key, value] of Object.entries(result)) if (!shown.has(key)) rest[key] = value;
	return payload_pairs(rest, 160);
}

/**
 * One row per step of the run, in the tree's order (branches under their step), with:
 * {id, label, kind, depth, branch_of, state, status, links, result, payload, payload_rendered}.
 * `payload_rendered` is true when the run kept the rendered payload (state.payload), else the
 * payload shown is the definition's (templates not filled in).
 */
export function timeline_rows(definition, step_state, kinds) {
	const states = step_state && typeof step_state === "object" ? step_state : {};
	const rows = [];
	const walk = (node, branch_label) => {
		const step = node.step;
		const state = states[step.id] || { status: "pending" };
		const rendered = state.payload && typeof state.payload === "object";
		rows.push({
			id: step.id,
			label: step.label || step.id,
			kind: node.kind,
			kind_name: step.kind,
			depth: node.depth,
			branch_of: branch_label,
			state,
			status: state.status || "pending",
			links: result_links(state.result),
			result: result_pairs(state.result),
			payload: payload_pairs(rendered ? state.payload : step.payload, 200),
			payload_rendered: !!rendered,
		});
		for (const group of node.groups) {
			for (const child of group.nodes) walk(child, group.branch);
		}
	};
	const tree = build_tree(definition || { steps: [] }, kinds || {});
	tree.roots.forEach((node) => walk(node, null));
	tree.detached.forEach((node) => walk(node, null));
	// states of steps the snapshot does not have (should not happen) are still shown
	for (const id of Object.keys(states)) {
		if (!rows.some((row) => row.id === id)) {
			rows.push({
				id,
				label: id,
				kind: null,
				kind_name: "",
				depth: 0,
				branch_of: null,
				state: states[id],
				status: states[id].status || "pending",
				links: result_links(states[id].result),
				result: result_pairs(states[id].result),
				payload: [],
				payload_rendered: false,
			});
		}
	}
	return rows;
}

/** Counts of step statuses: {done: 3, waiting: 1, …}. */
export function status_counts(step_state) {
	const counts = {};
	for (const state of Object.values(step_state || {})) {
		const status = (state && state.status) || "pending";
		counts[status] = (counts[status] || 0) + 1;
	}
	return counts;
}

/** Is the run still moving (worth polling)? */
export function is_live(run_status) {
	return run_status === "running";
}

/** The next poll delay: quick at first, slower while nothing changes, capped. */
export function next_poll_delay(previous_ms, changed) {
	if (changed || !previous_ms) return 3000;
	return Math.min(Math.round(previous_ms * 1.5), 30000);
}
