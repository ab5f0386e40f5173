// The flow editor's model: a flow definition (§4 of the flow language) as data, and the
// operations the editor performs on it. Pure: no DOM, no frappe; every operation returns a new
// definition and leaves its input untouched. The kind catalog (from flow_engine.api.kinds_catalog)
// is passed in: there is no list of kinds here.

import { __ } from "./i18n.js";

export const STEP_ID_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.:-]*$/;
export const MAX_STEP_ID_LENGTH = 64;
const STEP_KEY_ORDER = [
	"id",
	"kind",
	"label",
	"description",
	"parent_id",
	"branch",
	"depends_on",
	"join",
	"trigger",
	"payload",
	"retry",
];

export function clone(value) {
	return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

// --- reading and writing the JSON ----------------------------------------------------------------

export function empty_definition() {
	return { version: 1, steps: [] };
}

/** Text of the flow_definition field → {definition, error}; an empty text is an empty flow. */
export function parse_definition(text) {
	if (text === null || text === undefined || !String(text).trim()) {
		return { definition: empty_definition(), error: null };
	}
	let data;
	try {
		data = JSON.parse(text);
	} catch (e) {
		return { definition: null, error: e.message };
	}
	if (Array.isArray(data) && data.length === 1) data = data[0];
	if (!data || typeof data !== "object" || Array.isArray(data)) {
		return { definition: null, error: __("A flow must be a JSON object") };
	}
	if (data.flow_definition !== undefined) {
		// a Flow Template record pasted whole
		const inner =
			typeof data.flow_definition === "string"
				? parse_definition(data.flow_definition)
				: { definition: data.flow_definition, error: null };
		return inner;
	}
	if (data.steps !== undefined && !Array.isArray(data.steps)) {
		return { definition: null, error: __("steps must be a list") };
	}
	if (
		(data.steps || []).some((step) => !step || typeof step !== "object" || Array.isArray(step))
	) {
		return { definition: null, error: __("every step must be an object") };
	}
	return { definition: { ...data, steps: data.steps || [] }, error: null };
}

/** The definition as the server writes it (indent 1), so that an unchanged flow stays unchanged. */
export function serialize_definition(definition) {
	return JSON.stringify(definition, null, 1);
}

// --- small accessors -----------------------------------------------------------------------------

export function steps_of(definition) {
	return (definition && Array.isArray(definition.steps) ? definition.steps : []).filter(
		(step) => step && typeof step === "object"
	);
}

export function step_by_id(definition, id) {
	return steps_of(definition).find((step) => step.id === id) || null;
}

export function deps_of(step) {
	return Array.isArray(step && step.depends_on)
		? step.depends_on.filter((dep) => typeof dep === "string")
		: [];
}

function parent_of(step) {
	return typeof step.parent_id === "string" && step.parent_id ? step.parent_id : null;
}

function branch_of(step) {
	return typeof step.branch === "string" && step.branch !== "" ? step.branch : null;
}

export function label_of(definition, id) {
	const step = step_by_id(definition, id);
	if (!step) return id;
	return typeof step.label === "string" && step.label.trim() ? step.label : step.id;
}

/** The steps a card shows as "after" chips: {id, label, missing}. */
export function dependency_chips(definition, step) {
	return deps_of(step).map((id) => {
		const other = step_by_id(definition, id);
		return { id, label: other ? label_of(definition, id) : id, missing: !other };
	});
}

/** Branch labels of a step: the kind's fixed labels, or for dynamic kinds (switch) from its payload. */
export function branches_of(step, kind) {
	if (!kind || !kind.has_branches) return [];
	if (kind.dynamic_branches) {
		const payload = (step && step.payload) || {};
		const labels = (Array.isArray(payload.cases) ? payload.cases : [])
			.filter((row) => row && typeof row === "object")
			.map((row) => String(row.branch ?? ""));
		labels.push(String(payload.default_branch || "default"));
		return labels.filter((label, index) => label !== "" && labels.indexOf(label) === index);
	}
	return (kind.branch_labels || []).map(String);
}

// --- peer groups and the tree ---------------------------------------------------------------------

export function group_key(parent_id, branch) {
	return JSON.stringify([
		parent_id || null,
		branch === undefined || branch === "" ? null : branch,
	]);
}

export function step_group_key(step) {
	return group_key(parent_of(step), branch_of(step));
}

/** Ids of the steps in the same peer group (same parent and branch), in definition order. */
export function peer_ids(definition, parent_id, branch) {
	const key = group_key(parent_id, branch);
	return steps_of(definition)
		.filter((step) => step_group_key(step) === key)
		.map((step) => step.id);
}

/**
 * The vertical tree the editor draws.
 * Returns {roots: [node], detached: [node]} where a node is
 * {step, kind, depth, groups: [{parent_id, branch, label, known, nodes}]}.
 * Steps whose parent is missing or unreachable (a parent_id cycle) are `detached`.
 */
export function build_tree(definition, kinds) {
	const steps = steps_of(definition);
	const ids = new Set(steps.map((step) => step.id));
	const by_group = new Map();
	for (const step of steps) {
		const key = step_group_key(step);
		if (!by_group.has(key)) by_group.set(key, []);
		by_group.get(key).push(step);
	}
	const placed = new Set();

	function make_node(step, depth) {
		placed.add(step.id);
		const kind = (kinds && kinds[step.kind]) || null;
		const labels = branches_of(step, kind);
		const names = labels.slice();
		// children under a branch the kind does not have, or under no branch at all
		for (const other of steps) {
			if (parent_of(other) !== step.id) continue;
			const name = branch_of(other);
			if (!names.includes(name)) names.push(name);
		}
		const groups = names.map((name) =>
			make_group(step.id, name, depth, name === null ? true : labels.includes(name))
		);
		return { step, kind, depth, groups };
	}

	function make_group(parent_id, branch, depth, known) {
		const nodes = [];
		for (const member of by_group.get(group_key(parent_id, branch)) || []) {
			if (!placed.has(member.id)) nodes.push(make_node(member, depth + 1));
		}
		return { parent_id, branch, label: branch, known, nodes };
	}

	const roots = [];
	for (const step of by_group.get(group_key(null, null)) || []) {
		if (!placed.has(step.id)) roots.push(make_node(step, 0));
	}
	const detached = [];
	for (const step of steps) {
		if (placed.has(step.id)) continue;
		const parent = parent_of(step);
		if (parent === null || !ids.has(parent) || !placed.has(parent)) {
			detached.push({
				...make_node(step, 0),
				reason: parent && !ids.has(parent) ? "missing" : "cycle",
			});
		}
	}
	// anything still unplaced hangs below a detached step and was placed by make_node above
	return { roots, detached };
}

// --- graph helpers ------------------------------------------------------------------------------

function predecessors(step) {
	const before = deps_of(step);
	const parent = parent_of(step);
	if (parent && !before.includes(parent)) before.push(parent);
	return before;
}

/** Ids the step waits for, directly or not (through depends_on and parent_id). */
export function ancestors(definition, id) {
	const by_id = new Map(steps_of(definition).map((step) => [step.id, step]));
	const seen = new Set();
	const stack = [id];
	while (stack.length) {
		const current = by_id.get(stack.pop());
		if (!current) continue;
		for (const before of predecessors(current)) {
			if (!seen.has(before)) {
				seen.add(before);
				stack.push(before);
			}
		}
	}
	seen.delete(id);
	return seen;
}

/** Ids that wait for the step, directly or not (its dependents and branch children). */
export function dependents(definition, id) {
	const steps = steps_of(definition);
	const seen = new Set();
	const stack = [id];
	while (stack.length) {
		const current = stack.pop();
		for (const step of steps) {
			if (!seen.has(step.id) && predecessors(step).includes(current)) {
				seen.add(step.id);
				stack.push(step.id);
			}
		}
	}
	seen.delete(id);
	return seen;
}

/** Steps nested under the step through parent_id, at any depth. */
export function descendants(definition, id) {
	const steps = steps_of(definition);
	const found = new Set();
	const stack = [id];
	while (stack.length) {
		const current = stack.pop();
		for (const step of steps) {
			if (parent_of(step) === current && !found.has(step.id) && step.id !== id) {
				found.add(step.id);
				stack.push(step.id);
			}
		}
	}
	return found;
}

/** Would "step waits for other" close a cycle? */
export function would_cycle(definition, step_id, other_id) {
	return step_id === other_id || ancestors(definition, other_id).has(step_id);
}

/** Steps a step may depend on: not itself, not what waits for it, not its own nested steps. */
export function dependency_candidates(definition, step_id) {
	const blocked = step_id ? dependents(definition, step_id) : new Set();
	return steps_of(definition)
		.filter((step) => step.id !== step_id && !blocked.has(step.id))
		.map((step) => ({ id: step.id, label: label_of(definition, step.id) }));
}

// --- editing helpers ------------------------------------------------------------------------------

function index_map(definition) {
	return new Map(definition.steps.map((step, index) => [step.id, index]));
}

function add_dep(definition, step_id, dep_id, changed) {
	const step = step_by_id(definition, step_id);
	if (!step || !dep_id || step_id === dep_id) return false;
	const deps = deps_of(step);
	if (deps.includes(dep_id)) return true;
	if (would_cycle(definition, step_id, dep_id)) return false;
	step.depends_on = [...deps, dep_id];
	changed.add(step_id);
	return true;
}

function remove_dep(definition, step_id, dep_id, changed) {
	const step = step_by_id(definition, step_id);
	if (!step) return;
	const deps = deps_of(step);
	if (!deps.includes(dep_id)) return;
	step.depends_on = deps.filter((dep) => dep !== dep_id);
	changed.add(step_id);
}

/**
 * Keep the instant trigger honest after predecessors changed: a step that now waits for
 * something fires "on_prev_complete", one that waits for nothing "on_flow_start". Delayed, dated
 * and waiting triggers are left alone.
 */
function settle_triggers(definition, ids) {
	for (const id of ids) {
		const step = step_by_id(definition, id);
		if (!step || !step.trigger || typeof step.trigger !== "object") continue;
		const waits = predecessors(step).length > 0;
		if (waits && step.trigger.type === "on_flow_start") step.trigger.type = "on_prev_complete";
		if (!waits && step.trigger.type === "on_prev_complete")
			step.trigger.type = "on_flow_start";
	}
}

function links_to_previous(definition, order, index) {
	if (index <= 0 || index >= order.length) return false;
	return deps_of(step_by_id(definition, order[index])).includes(order[index - 1]);
}

/**
 * Reorder a step within its peer group (same parent and branch): `to_index` is its new index
 * among its peers. Chain-aware: a dependency on the peer just above is a *chain link*, every other
 * dependency a real one.
 *   - Taking the step out closes its chain (the step below it then waits for the step above it).
 *   - Dropping it between two linked peers inserts it into that chain; dropping a chained step
 *     elsewhere links it to its new upper neighbour (or, at the top, links the lower one to it).
 *   - Real dependencies (non-adjacent peers, other groups) are never touched, and no link that
 *     would close a cycle is added.
 * Returns {definition, changed: [ids whose depends_on or trigger changed], order: [peer ids]}.
 */
export function move_step(definition, step_id, to_index) {
	const result = clone(definition);
	result.steps = steps_of(result);
	const step = step_by_id(result, step_id);
	if (!step) return { definition: result, changed: [], order: [] };
	const old_order = peer_ids(result, parent_of(step), branch_of(step));
	const from = old_order.indexOf(step_id);
	const target = Math.max(0, Math.min(Number(to_index) || 0, old_order.length - 1));
	if (from === target) return { definition: result, changed: [], order: old_order };

	const changed = new Set();
	// 1. take it out of its chain
	const above = old_order[from - 1];
	const below = old_order[from + 1];
	const had_above = links_to_previous(result, old_order, from);
	const had_below = links_to_previous(result, old_order, from + 1);
	if (had_above) remove_dep(result, step_id, above, changed);
	if (had_below) {
		remove_dep(result, below, step_id, changed);
		if (had_above) add_dep(result, below, above, changed);
	}
	// 2. put it at its new place
	const rest = old_order.filter((id) => id !== step_id);
	const new_above = rest[target - 1];
	const new_below = rest[target];
	if (new_above && new_below && deps_of(step_by_id(result, new_below)).includes(new_above)) {
		if (add_dep(result, step_id, new_above, changed)) {
			if (add_dep(result, new_below, step_id, changed)) {
				remove_dep(result, new_below, new_above, changed);
			}
		}
	} else if (had_above || had_below) {
		if (new_above) add_dep(result, step_id, new_above, changed);
		else if (new_below) add_dep(result, new_below, step_id, changed);
	}
	// 3. reorder the flat list: the group's slots keep their places, filled in the new order
	const new_order = [...rest.slice(0, target), step_id, ...rest.slice(target)];
	const indexes = index_map(result);
	const slots = old_order.map((id) => indexes.get(id)).sort((a, b) => a - b);
	const moved = new_order.map((id) => step_by_id(result, id));
	const steps = result.steps.slice();
	slots.forEach((slot, index) => {
		steps[slot] = moved[index];
	});
	result.steps = steps;
	settle_triggers(result, changed);
	return { definition: result, changed: [...changed], order: new_order };
}

/** A readable id not used yet: dispatch_job_1, dispatch_job_2… */
export function new_step_id(definition, base) {
	const used = new Set(steps_of(definition).map((step) => step.id));
	const stem =
		String(base || "step")
			.replace(/[^A-Za-z0-9_]/g, "_")
			.slice(0, MAX_STEP_ID_LENGTH - 6) || "step";
	for (let n = 1; ; n++) {
		const id = `${stem}_${n}`;
		if (!used.has(id)) return id;
	}
}

function default_payload(kind) {
	const payload = {};
	for (const field of (kind && kind.fields) || []) {
		if (field.default !== undefined && field.default !== null)
			payload[field.name] = clone(field.default);
	}
	return payload;
}

function ordered_step(step) {
	const ordered = {};
	for (const key of STEP_KEY_ORDER) if (step[key] !== undefined) ordered[key] = step[key];
	for (const key of Object.keys(step)) if (!(key in ordered)) ordered[key] = step[key];
	return ordered;
}

/**
 * Add a step of `kind_name` at the end of a peer group (or after `after_id` in it).
 * Appended to a group that is not empty, it follows the last peer (a sequence is what one builds
 * by adding steps one after another); inserted inside a chain, it joins the chain.
 * Returns {definition, step}.
 */
export function add_step(definition, kinds, kind_name, options = {}) {
	const result = clone(definition) || empty_definition();
	result.steps = steps_of(result);
	const kind = (kinds && kinds[kind_name]) || null;
	const parent_id = options.parent_id || null;
	const branch = parent_id ? options.branch ?? null : null;
	const peers = peer_ids(result, parent_id, branch);
	const after_id =
		options.after_id && peers.includes(options.after_id) ? options.after_id : null;
	const id =
		options.id && !step_by_id(result, options.id)
			? options.id
			: new_step_id(result, kind_name);
	const step = ordered_step({
		id,
		kind: kind_name,
		label: options.label || (kind ? __(kind.label) : kind_name),
		parent_id,
		branch,
		depends_on: [],
		trigger: { type: "on_flow_start" },
		payload: default_payload(kind),
	});
	const changed = new Set([id]);
	// where it goes in the flat list: after the peer it follows, else after the parent, else last
	const indexes = index_map(result);
	const previous = after_id || peers[peers.length - 1] || null;
	let slot = result.steps.length;
	if (previous) {
		const below_previous = [...descendants(result, previous)].map((d) => indexes.get(d));
		slot = Math.max(indexes.get(previous), ...below_previous) + 1;
	} else if (parent_id && indexes.has(parent_id)) {
		slot = indexes.get(parent_id) + 1;
	}
	result.steps.splice(slot, 0, step);
	if (previous) {
		const next = after_id ? peers[peers.indexOf(after_id) + 1] : null;
		add_dep(result, id, previous, changed);
		if (next && deps_of(step_by_id(result, next)).includes(previous)) {
			// inside a chain: the next peer now waits for the new step
			if (add_dep(result, next, id, changed)) remove_dep(result, next, previous, changed);
		}
	}
	settle_triggers(result, changed);
	return { definition: result, step: step_by_id(result, id) };
}

/** A copy of a step (not of its nested steps) right after it, waiting for what it waits for. */
export function duplicate_step(definition, step_id) {
	const result = clone(definition);
	result.steps = steps_of(result);
	const original = step_by_id(result, step_id);
	if (!original) return { definition: result, step: null };
	const copy = clone(original);
	copy.id = new_step_id(result, String(original.id).replace(/_\d+$/, ""));
	copy.label = __("{0} (copy)", [label_of(result, step_id)]);
	const indexes = index_map(result);
	const below = [...descendants(result, step_id)].map((d) => indexes.get(d));
	result.steps.splice(Math.max(indexes.get(step_id), ...below) + 1, 0, copy);
	return { definition: result, step: step_by_id(result, copy.id) };
}

/**
 * Delete a step and every step nested under it. Steps that waited for a deleted step wait for
 * what it waited for instead (its dependencies and its parent, through other deleted steps), so a
 * chain A → B → C without B becomes A → C.
 * Returns {definition, removed: [ids], changed: [ids]}.
 */
export function delete_step(definition, step_id) {
	const result = clone(definition);
	result.steps = steps_of(result);
	if (!step_by_id(result, step_id)) return { definition: result, removed: [], changed: [] };
	const removed = new Set([step_id, ...descendants(result, step_id)]);
	const by_id = new Map(result.steps.map((step) => [step.id, step]));
	const resolve = (id, seen = new Set()) => {
		if (!removed.has(id)) return [id];
		if (seen.has(id)) return [];
		seen.add(id);
		const step = by_id.get(id);
		return step ? predecessors(step).flatMap((before) => resolve(before, seen)) : [];
	};
	const changed = new Set();
	result.steps = result.steps.filter((step) => !removed.has(step.id));
	for (const step of result.steps) {
		const deps = deps_of(step);
		if (!deps.some((dep) => removed.has(dep))) continue;
		const replaced = [];
		for (const dep of deps) {
			for (const id of resolve(dep)) {
				if (id !== step.id && id !== parent_of(step) && !replaced.includes(id))
					replaced.push(id);
			}
		}
		step.depends_on = replaced;
		changed.add(step.id);
	}
	settle_triggers(result, changed);
	return { definition: result, removed: [...removed], changed: [...changed] };
}

/** Replace a step by its edited version; a new id is carried into every reference. */
export function update_step(definition, step_id, edited) {
	const result = clone(definition);
	result.steps = steps_of(result);
	const index = result.steps.findIndex((step) => step.id === step_id);
	if (index < 0) return result;
	const new_id = edited.id || step_id;
	result.steps[index] = clone(edited); // keys stay where they were: an edit is a small diff
	if (new_id !== step_id) {
		for (const step of result.steps) {
			if (Array.isArray(step.depends_on)) {
				step.depends_on = step.depends_on.map((dep) => (dep === step_id ? new_id : dep));
			}
			if (step.parent_id === step_id) step.parent_id = new_id;
		}
	}
	return result;
}

/** Local check of a step id (the server checks it again). */
export function step_id_problem(definition, id, own_id) {
	if (typeof id !== "string" || !id) return __("required");
	if (id.length > MAX_STEP_ID_LENGTH) {
		return __("longer than {0} characters", [MAX_STEP_ID_LENGTH]);
	}
	if (!STEP_ID_PATTERN.test(id)) return __("may contain only letters, digits and _ . : -");
	if (id !== own_id && step_by_id(definition, id)) return __("another step has this id");
	return null;
}

// --- validation results -----------------------------------------------------------------------

/**
 * Problems from validate_definition ([{step, field, message}]) split into the flow's own and
 * each step's; problems of steps that are not in the definition (e.g. "#3") count as the flow's.
 */
export function problems_by_step(problems, definition) {
	const result = { flow: [], steps: {} };
	const ids = new Set(steps_of(definition).map((step) => step.id));
	for (const problem of problems || []) {
		if (
			problem &&
			problem.step !== null &&
			problem.step !== undefined &&
			ids.has(problem.step)
		) {
			(result.steps[problem.step] = result.steps[problem.step] || []).push(problem);
		} else if (problem) {
			result.flow.push(problem);
		}
	}
	return result;
}
