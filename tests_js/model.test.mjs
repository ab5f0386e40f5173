import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
	add_step,
	ancestors,
	branches_of,
	build_tree,
	delete_step,
	dependency_candidates,
	dependency_chips,
	descendants,
	duplicate_step,
	label_of,
	move_step,
	new_step_id,
	parse_definition,
	peer_ids,
	problems_by_step,
	serialize_definition,
	step_by_id,
	step_id_problem,
	update_step,
	would_cycle,
} from "../flow_engine/public/js/flow_editor/model.js";
import { SEEDS, deps, flow, ids, is_full_chain, kinds, random, seed } from "./helpers.mjs";

function frozen(value) {
	return JSON.stringify(value);
}

describe("parse and serialize", () => {
	test("an empty text is an empty flow", () => {
		assert.deepEqual(parse_definition("").definition, { version: 1, steps: [] });
		assert.deepEqual(parse_definition("   ").definition, { version: 1, steps: [] });
		assert.equal(parse_definition(null).error, null);
	});

	test("invalid JSON gives an error and no definition", () => {
		const { definition, error } = parse_definition('{"steps": [');
		assert.equal(definition, null);
		assert.ok(error);
	});

	test("what is not a flow object is refused", () => {
		assert.ok(parse_definition("[1, 2]").error);
		assert.ok(parse_definition('"text"').error);
		assert.ok(parse_definition('{"steps": {}}').error);
		assert.ok(parse_definition('{"steps": [1]}').error);
	});

	test("a pasted Flow Template record gives its flow_definition", () => {
		const inner = { version: 1, steps: [{ id: "a", kind: "wait" }] };
		assert.deepEqual(
			parse_definition(JSON.stringify({ flow_definition: inner })).definition,
			inner
		);
		const as_text = { flow_definition: JSON.stringify(inner) };
		assert.deepEqual(parse_definition(JSON.stringify(as_text)).definition, inner);
	});

	test("serializing is what the server writes (indent 1) and round-trips every seed", () => {
		for (const name of SEEDS) {
			const definition = seed(name);
			const text = serialize_definition(definition);
			assert.equal(text, JSON.stringify(definition, null, 1));
			assert.deepEqual(parse_definition(text).definition, definition);
		}
	});
});

describe("the tree", () => {
	test("repair_service: switch branches and a condition's empty branch", () => {
		const definition = seed("repair_service");
		const { roots, detached } = build_tree(definition, kinds);
		assert.deepEqual(detached, []);
		assert.deepEqual(
			roots.map((node) => node.step.id),
			["triage", "acknowledge", "sla_check"]
		);
		const triage = roots[0];
		assert.equal(triage.kind.name, "switch");
		assert.deepEqual(
			triage.groups.map((group) => [
				group.branch,
				group.known,
				group.nodes.map((n) => n.step.id),
			]),
			[
				["urgent", true, ["urgent_repair"]],
				["normal", true, ["normal_repair"]],
				["low", true, ["remote_check"]],
			]
		);
		const sla = roots[2];
		assert.deepEqual(
			sla.groups.map((group) => [group.branch, group.nodes.map((n) => n.step.id)]),
			[
				["yes", ["escalate"]],
				["no", []],
			]
		);
		assert.equal(sla.groups[0].nodes[0].depth, 1);
	});

	test("every seeded step appears exactly once", () => {
		for (const name of SEEDS) {
			const definition = seed(name);
			const { roots, detached } = build_tree(definition, kinds);
			const seen = [];
			const walk = (node) => {
				seen.push(node.step.id);
				node.groups.forEach((group) => group.nodes.forEach(walk));
			};
			roots.forEach(walk);
			detached.forEach(walk);
			assert.deepEqual(seen.sort(), ids(definition).sort(), name);
		}
	});

	test("branches of a switch come from its payload, default last, no duplicates", () => {
		const step = {
			kind: "switch",
			payload: {
				cases: [{ branch: "a" }, { branch: "b" }, { branch: "a" }],
				default_branch: "other",
			},
		};
		assert.deepEqual(branches_of(step, kinds.switch), ["a", "b", "other"]);
		assert.deepEqual(branches_of({ kind: "switch", payload: {} }, kinds.switch), ["default"]);
		assert.deepEqual(branches_of({ kind: "condition" }, kinds.condition), ["yes", "no"]);
		assert.deepEqual(branches_of({ kind: "notify" }, kinds.notify), []);
	});

	test("children of a plain step, unknown branches and missing parents are still shown", () => {
		const definition = flow([
			["a"],
			["b", [], { parent_id: "a" }],
			["c", [], { kind: "condition", payload: {} }],
			["d", [], { parent_id: "c", branch: "maybe" }],
			["e", [], { parent_id: "ghost" }],
			["f", [], { parent_id: "g" }],
			["g", [], { parent_id: "f" }],
		]);
		const { roots, detached } = build_tree(definition, kinds);
		assert.deepEqual(
			roots.map((n) => n.step.id),
			["a", "c"]
		);
		assert.deepEqual(
			roots[0].groups.map((g) => [g.branch, g.known, g.nodes.map((n) => n.step.id)]),
			[[null, true, ["b"]]]
		);
		assert.deepEqual(
			roots[1].groups.map((g) => [g.branch, g.known, g.nodes.map((n) => n.step.id)]),
			[
				["yes", true, []],
				["no", true, []],
				["maybe", false, ["d"]],
			]
		);
		assert.deepEqual(
			detached.map((n) => [n.step.id, n.reason]),
			[
				["e", "missing"],
				["f", "cycle"],
			]
		);
		assert.deepEqual(
			detached[1].groups[0].nodes.map((n) => n.step.id),
			["g"]
		);
	});

	test("labels and dependency chips", () => {
		const definition = flow([["a"], ["b", ["a", "zz"]]]);
		definition.steps[0].label = "  ";
		assert.equal(label_of(definition, "a"), "a");
		assert.equal(label_of(definition, "b"), "B");
		assert.equal(label_of(definition, "nope"), "nope");
		assert.deepEqual(dependency_chips(definition, definition.steps[1]), [
			{ id: "a", label: "a", missing: false },
			{ id: "zz", label: "zz", missing: true },
		]);
	});
});

describe("graph helpers", () => {
	const definition = seed("repair_service");

	test("ancestors follow depends_on and parent_id", () => {
		assert.deepEqual([...ancestors(definition, "escalate")].sort(), ["sla_check", "triage"]);
		assert.deepEqual([...ancestors(definition, "acknowledge")].sort(), [
			"normal_repair",
			"triage",
			"urgent_repair",
		]);
	});

	test("descendants follow parent_id only", () => {
		assert.deepEqual([...descendants(definition, "triage")].sort(), [
			"normal_repair",
			"remote_check",
			"urgent_repair",
		]);
	});

	test("would_cycle and the dependency candidates", () => {
		assert.equal(would_cycle(definition, "triage", "acknowledge"), true);
		assert.equal(would_cycle(definition, "acknowledge", "sla_check"), false);
		assert.equal(would_cycle(definition, "triage", "triage"), true);
		const candidates = dependency_candidates(definition, "triage").map((c) => c.id);
		assert.deepEqual(candidates, []);
		const for_ack = dependency_candidates(definition, "acknowledge").map((c) => c.id);
		assert.ok(for_ack.includes("sla_check") && !for_ack.includes("acknowledge"));
	});
});

describe("moving a step within its peer group", () => {
	test("a chain stays a chain: to the top, to the bottom, into the middle", () => {
		const chain = flow([["a"], ["b", ["a"]], ["c", ["b"]], ["d", ["c"]]]);
		for (const [id, to, expected] of [
			["d", 0, ["d", "a", "b", "c"]],
			["a", 3, ["b", "c", "d", "a"]],
			["b", 0, ["b", "a", "c", "d"]],
			["a", 1, ["b", "a", "c", "d"]],
			["c", 1, ["a", "c", "b", "d"]],
			["b", 2, ["a", "c", "b", "d"]],
			["d", 1, ["a", "d", "b", "c"]],
		]) {
			const { definition, order } = move_step(chain, id, to);
			assert.deepEqual(order, expected, `${id} → ${to}`);
			assert.deepEqual(ids(definition), expected);
			assert.ok(
				is_full_chain(definition, expected),
				`${id} → ${to}: ${JSON.stringify(deps(definition))}`
			);
		}
	});

	test("the input is not changed and a no-op move changes nothing", () => {
		const chain = flow([["a"], ["b", ["a"]], ["c", ["b"]]]);
		const before = frozen(chain);
		move_step(chain, "c", 0);
		assert.equal(frozen(chain), before);
		const same = move_step(chain, "b", 1);
		assert.deepEqual(same.changed, []);
		assert.equal(frozen(same.definition), before);
	});

	test("independent steps stay independent", () => {
		const parallel = flow([["a"], ["b"], ["c"]]);
		const { definition } = move_step(parallel, "c", 0);
		assert.deepEqual(ids(definition), ["c", "a", "b"]);
		assert.deepEqual(deps(definition), { a: [], b: [], c: [] });
	});

	test("an independent step dropped inside a chain joins it", () => {
		const mixed = flow([["x"], ["a"], ["b", ["a"]]]);
		const { definition } = move_step(mixed, "x", 1);
		assert.deepEqual(ids(definition), ["a", "x", "b"]);
		assert.ok(is_full_chain(definition, ["a", "x", "b"]));
	});

	test("real dependencies are kept: residential onboarding", () => {
		const onboarding = seed("residential_onboarding");
		// the renewal reminder waits for activate_subscription (not its upper neighbour): a real dependency
		const { definition } = move_step(onboarding, "renewal_reminder", 0);
		assert.deepEqual(ids(definition), [
			"renewal_reminder",
			"install_job",
			"welcome_sms",
			"activate_subscription",
			"satisfaction_survey",
		]);
		assert.deepEqual(deps(definition), deps(onboarding));
		// the survey is chained to activate_subscription: moved to the top it leads the flow
		const moved = move_step(onboarding, "satisfaction_survey", 0).definition;
		assert.deepEqual(deps(moved).satisfaction_survey, []);
		assert.deepEqual(deps(moved).install_job, ["satisfaction_survey"]);
		assert.deepEqual(deps(moved).activate_subscription, ["install_job"]);
		assert.deepEqual(deps(moved).renewal_reminder, ["activate_subscription"]);
	});

	test("dependencies on steps of other groups are never touched", () => {
		const definition = seed("repair_service");
		const { definition: moved } = move_step(definition, "sla_check", 0);
		assert.deepEqual(peer_ids(moved, null, null), ["sla_check", "triage", "acknowledge"]);
		assert.deepEqual(deps(moved).acknowledge, ["urgent_repair", "normal_repair"]);
		assert.deepEqual(deps(moved).sla_check, ["triage"]);
	});

	test("no link that would close a cycle is added", () => {
		// y waits for x (chained), z waits for x (not adjacent): moving x last must not make x wait for z
		const definition = flow([["x"], ["y", ["x"]], ["z", ["x"]]]);
		const { definition: moved } = move_step(definition, "x", 2);
		assert.deepEqual(ids(moved), ["y", "z", "x"]);
		assert.deepEqual(deps(moved).x, []);
		assert.deepEqual(deps(moved).z, ["x"]);
		assert.equal(would_cycle(moved, "x", "z"), true);
	});

	test("only the group's own slots of the flat list change", () => {
		const definition = flow([
			["c1", [], { kind: "condition", payload: { field: "doc.a", op: "==" } }],
			["a"],
			["y1", [], { parent_id: "c1", branch: "yes" }],
			["b", ["a"]],
			["y2", ["y1"], { parent_id: "c1", branch: "yes" }],
			["c", ["b"]],
		]);
		const { definition: moved } = move_step(definition, "y2", 0);
		assert.deepEqual(ids(moved), ["c1", "a", "y2", "b", "y1", "c"]);
		assert.deepEqual(deps(moved).y2, []);
		assert.deepEqual(deps(moved).y1, ["y2"]);
		assert.equal(step_by_id(moved, "y1").trigger.type, "on_prev_complete");
	});

	test("instant triggers follow the new predecessors", () => {
		const chain = flow([["a"], ["b", ["a"]]]);
		const { definition } = move_step(chain, "b", 0);
		assert.equal(step_by_id(definition, "b").trigger.type, "on_flow_start");
		assert.equal(step_by_id(definition, "a").trigger.type, "on_prev_complete");
		const delayed = flow([
			["a"],
			["b", ["a"], { trigger: { type: "after_delay", delay_hours: 2 } }],
		]);
		const moved = move_step(delayed, "b", 0).definition;
		assert.deepEqual(step_by_id(moved, "b").trigger, { type: "after_delay", delay_hours: 2 });
	});

	test("out-of-range targets are clamped", () => {
		const chain = flow([["a"], ["b", ["a"]], ["c", ["b"]]]);
		assert.deepEqual(move_step(chain, "a", 99).order, ["b", "c", "a"]);
		assert.deepEqual(move_step(chain, "c", -5).order, ["c", "a", "b"]);
		assert.deepEqual(move_step(chain, "nope", 0).changed, []);
	});

	test("random moves keep a chain a chain and never make a cycle", () => {
		const next = random(42);
		for (let round = 0; round < 300; round++) {
			const size = 2 + Math.floor(next() * 7);
			const spec = Array.from({ length: size }, (_, i) => [`s${i}`, i ? [`s${i - 1}`] : []]);
			let definition = flow(spec);
			for (let move = 0; move < 4; move++) {
				const id = `s${Math.floor(next() * size)}`;
				const to = Math.floor(next() * size);
				const result = move_step(definition, id, to);
				definition = result.definition;
				assert.ok(
					is_full_chain(definition, result.order),
					JSON.stringify(deps(definition))
				);
				for (const step of definition.steps)
					assert.ok(!ancestors(definition, step.id).has(step.id));
			}
		}
	});

	test("random moves in random DAGs keep non-adjacent dependencies and make no cycle", () => {
		const next = random(7);
		for (let round = 0; round < 300; round++) {
			const size = 3 + Math.floor(next() * 6);
			const spec = Array.from({ length: size }, (_, i) => {
				const before = [];
				for (let j = 0; j < i; j++) if (next() < 0.35) before.push(`s${j}`);
				return [`s${i}`, before];
			});
			const definition = flow(spec);
			const id = `s${Math.floor(next() * size)}`;
			const to = Math.floor(next() * size);
			const { definition: moved } = move_step(definition, id, to);
			for (const step of moved.steps)
				assert.ok(!ancestors(moved, step.id).has(step.id), "cycle");
			// a dependency between steps that are not neighbours before nor after is untouched
			const old_order = ids(definition);
			const new_order = ids(moved);
			const near = (order, a, b) => Math.abs(order.indexOf(a) - order.indexOf(b)) === 1;
			for (const step of definition.steps) {
				for (const dep of step.depends_on) {
					if (step.id === id || dep === id) continue;
					if (near(old_order, step.id, dep) || near(new_order, step.id, dep)) continue;
					assert.ok(
						step_by_id(moved, step.id).depends_on.includes(dep),
						`${step.id} lost ${dep}`
					);
				}
			}
		}
	});
});

describe("adding, duplicating, deleting, editing", () => {
	test("a new step follows the last one, with the kind's defaults", () => {
		let definition = { version: 1, steps: [] };
		const first = add_step(definition, kinds, "dispatch_job");
		definition = first.definition;
		assert.equal(first.step.id, "dispatch_job_1");
		assert.equal(first.step.label, "Dispatch job");
		assert.deepEqual(first.step.depends_on, []);
		assert.deepEqual(first.step.trigger, { type: "on_flow_start" });
		assert.deepEqual(first.step.payload, {
			job_type: "Installation",
			priority: "medium",
			duration_h: 1,
		});
		assert.deepEqual(Object.keys(first.step), [
			"id",
			"kind",
			"label",
			"parent_id",
			"branch",
			"depends_on",
			"trigger",
			"payload",
		]);
		const second = add_step(definition, kinds, "notify");
		assert.deepEqual(second.step.depends_on, ["dispatch_job_1"]);
		assert.deepEqual(second.step.trigger, { type: "on_prev_complete" });
		assert.equal(new_step_id(second.definition, "dispatch_job"), "dispatch_job_2");
	});

	test("a step added to a branch waits for nothing but its parent", () => {
		let { definition } = add_step({ version: 1, steps: [] }, kinds, "condition");
		({ definition } = add_step(definition, kinds, "notify", {
			parent_id: "condition_1",
			branch: "no",
		}));
		const added = step_by_id(definition, "notify_1");
		assert.equal(added.parent_id, "condition_1");
		assert.equal(added.branch, "no");
		assert.deepEqual(added.depends_on, []);
		assert.equal(added.trigger.type, "on_prev_complete");
		const tree = build_tree(definition, kinds);
		assert.deepEqual(
			tree.roots[0].groups[1].nodes.map((n) => n.step.id),
			["notify_1"]
		);
	});

	test("added after a step inside a chain, it joins the chain; the flat list keeps nested steps together", () => {
		const chain = flow([["a"], ["b", ["a"]]]);
		const { definition, step } = add_step(chain, kinds, "wait", { after_id: "a" });
		assert.deepEqual(ids(definition), ["a", "wait_1", "b"]);
		assert.deepEqual(step.depends_on, ["a"]);
		assert.deepEqual(deps(definition).b, ["wait_1"]);
		const nested = seed("repair_service");
		const added = add_step(nested, kinds, "wait", { after_id: "triage" }).definition;
		assert.equal(ids(added).indexOf("wait_1"), ids(nested).indexOf("remote_check") + 1);
	});

	test("duplicate: a parallel copy right after the step", () => {
		const chain = flow([["a"], ["b", ["a"]], ["c", ["b"]]]);
		const { definition, step } = duplicate_step(chain, "b");
		assert.deepEqual(ids(definition), ["a", "b", "b_1", "c"]);
		assert.equal(step.label, "B (copy)");
		assert.deepEqual(step.depends_on, ["a"]);
	});

	test("delete closes the chain", () => {
		const chain = flow([["a"], ["b", ["a"]], ["c", ["b"]]]);
		const { definition, removed, changed } = delete_step(chain, "b");
		assert.deepEqual(removed, ["b"]);
		assert.deepEqual(changed, ["c"]);
		assert.deepEqual(deps(definition), { a: [], c: ["a"] });
		const head = delete_step(chain, "a").definition;
		assert.deepEqual(deps(head), { b: [], c: ["b"] });
		assert.equal(step_by_id(head, "b").trigger.type, "on_flow_start");
	});

	test("delete takes the nested steps along and rewires what waited for them", () => {
		const definition = seed("repair_service");
		const { definition: result, removed } = delete_step(definition, "triage");
		assert.deepEqual(removed.sort(), [
			"normal_repair",
			"remote_check",
			"triage",
			"urgent_repair",
		]);
		assert.deepEqual(ids(result), ["acknowledge", "sla_check", "escalate"]);
		assert.deepEqual(deps(result).acknowledge, []);
		assert.deepEqual(deps(result).sla_check, []);
		const one = delete_step(definition, "urgent_repair").definition;
		assert.deepEqual(deps(one).acknowledge, ["triage", "normal_repair"]);
	});

	test("renaming a step carries the new id into depends_on and parent_id", () => {
		const definition = seed("repair_service");
		const triage = { ...step_by_id(definition, "triage"), id: "sort" };
		const renamed = update_step(definition, "triage", triage);
		assert.equal(step_by_id(renamed, "triage"), null);
		assert.equal(step_by_id(renamed, "urgent_repair").parent_id, "sort");
		assert.deepEqual(deps(renamed).sla_check, ["sort"]);
		assert.deepEqual(ids(renamed)[0], "sort");
	});

	test("step ids are checked like the server checks them", () => {
		const definition = flow([["a"]]);
		assert.equal(step_id_problem(definition, "b", "x"), null);
		assert.equal(step_id_problem(definition, "a", "a"), null);
		assert.ok(step_id_problem(definition, "a", "x"));
		assert.ok(step_id_problem(definition, "has space", "x"));
		assert.ok(step_id_problem(definition, "", "x"));
		assert.ok(step_id_problem(definition, "x".repeat(65), "y"));
	});
});

describe("validation results", () => {
	test("problems split into the flow's and each step's", () => {
		const definition = flow([["a"], ["b"]]);
		const split = problems_by_step(
			[
				{ step: null, field: "trigger.event", message: "unknown event" },
				{ step: "a", field: "payload.x", message: "unknown field" },
				{ step: "a", field: "label", message: "too long" },
				{ step: "#3", field: "id", message: "required" },
			],
			definition
		);
		assert.deepEqual(
			split.flow.map((p) => p.field),
			["trigger.event", "id"]
		);
		assert.deepEqual(Object.keys(split.steps), ["a"]);
		assert.equal(split.steps.a.length, 2);
	});
});
