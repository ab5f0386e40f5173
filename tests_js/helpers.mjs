// Shared fixtures for the editor's tests: the kind catalog as flow_engine.api.kinds_catalog
// returns it (fixtures/kinds_catalog.json, written from the Python registry by
// `python -c "…registry.catalog()…"`, see README in this folder) and the seeded templates.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, "..");

export const catalog = JSON.parse(
	readFileSync(join(here, "fixtures", "kinds_catalog.json"), "utf8")
);
export const kinds = catalog.kinds;

export function seed(name) {
	const record = JSON.parse(
		readFileSync(join(root, "flow_engine", "seed_templates", `${name}.json`), "utf8")
	);
	return record.flow_definition;
}

export const SEEDS = [
	"fiber_install",
	"phone_service",
	"move_service",
	"repair_service",
	"residential_onboarding",
	"quotation_follow_up",
];

/** A flow of plain steps: spec is [[id, [deps…]], …] in order, all at the root. */
export function flow(spec, extra = {}) {
	return {
		version: 1,
		steps: spec.map(([id, deps, more]) => ({
			id,
			kind: "wait",
			label: id.toUpperCase(),
			parent_id: null,
			branch: null,
			depends_on: deps || [],
			trigger: { type: deps && deps.length ? "on_prev_complete" : "on_flow_start" },
			payload: {},
			...(more || {}),
		})),
		...extra,
	};
}

export function ids(definition) {
	return definition.steps.map((step) => step.id);
}

export function deps(definition) {
	return Object.fromEntries(definition.steps.map((step) => [step.id, step.depends_on || []]));
}

/** True when every step of the group waits for the one above it and the first for none of them. */
export function is_full_chain(definition, order) {
	const by_id = Object.fromEntries(definition.steps.map((step) => [step.id, step]));
	return order.every((id, index) => {
		const own = (by_id[id].depends_on || []).filter((dep) => order.includes(dep));
		return index === 0 ? own.length === 0 : own.length === 1 && own[0] === order[index - 1];
	});
}

/** A small deterministic random generator (mulberry32). */
export function random(seed_value) {
	let state = seed_value >>> 0;
	return () => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}
