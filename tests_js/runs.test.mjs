import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
	is_live,
	next_poll_delay,
	result_links,
	result_pairs,
	status_counts,
	timeline_rows,
	wait_text,
} from "../flow_engine/public/js/flow_editor/runs.js";
import { kinds, seed } from "./helpers.mjs";

describe("run views", () => {
	test("created documents become links", () => {
		assert.deepEqual(
			result_links({ doctype: "Dispatch Job", name: "DJ-00001", assigned_to: ["a"] }),
			[{ doctype: "Dispatch Job", name: "DJ-00001" }]
		);
		assert.deepEqual(result_links({ subscription: "ACC-SUB-1", status: "Active" }), [
			{ doctype: "Subscription", name: "ACC-SUB-1" },
		]);
		assert.deepEqual(
			result_links({ documents: [{ doctype: "Issue", name: "ISS-1" }, null] }),
			[{ doctype: "Issue", name: "ISS-1" }]
		);
		assert.deepEqual(result_links(null), []);
		assert.deepEqual(result_links({ doctype: "", name: "x" }), []);
		assert.deepEqual(result_pairs({ doctype: "Issue", name: "ISS-1", assigned_to: ["a@b"] }), [
			{ key: "assigned_to", value: '["a@b"]' },
		]);
		// a sub-flow's result: its run is a link, its steps and variables stay in the run view's data
		const child = { run: "FR-00009", template: "FT-1", status: "completed", steps: {}, variables: {} };
		assert.deepEqual(result_links(child), [{ doctype: "Flow Run", name: "FR-00009" }]);
		assert.deepEqual(result_pairs(child), [
			{ key: "template", value: "FT-1" },
			{ key: "status", value: "completed" },
		]);
	});

	test("what a waiting step waits for, in words", () => {
		assert.equal(wait_text({ sub_flow: "FR-00002" }), "Waits for its sub-flow FR-00002 to end");
		assert.equal(
			wait_text({ doctype: "Issue", docname: "ISS-1", event: "value_change", field: "status", value: "Resolved" }),
			"Waits until Issue ISS-1: status becomes Resolved"
		);
		assert.equal(
			wait_text({ doctype: "Issue", event: "value_change", field: "status", value: null }),
			"Waits until Issue: status changes"
		);
		assert.equal(wait_text({ doctype: "Payment Entry", event: "submit" }), "Waits for Payment Entry: submit");
		assert.equal(wait_text(null), "");
	});

	test("rows follow the tree, with states, links and payloads", () => {
		const definition = seed("repair_service");
		const state = {
			triage: { status: "done", branch: "urgent" },
			urgent_repair: { status: "done", result: { doctype: "Dispatch Job", name: "DJ-1" } },
			normal_repair: { status: "skipped" },
			remote_check: { status: "skipped" },
			acknowledge: { status: "failed", error: "no recipient" },
			sla_check: { status: "scheduled", trigger_at: "2026-01-06T09:00:00" },
			escalate: { status: "pending", payload: { channel: "in_app", to: "Administrator" } },
		};
		const rows = timeline_rows(definition, state, kinds);
		assert.deepEqual(
			rows.map((row) => [row.id, row.depth, row.branch_of]),
			[
				["triage", 0, null],
				["urgent_repair", 1, "urgent"],
				["normal_repair", 1, "normal"],
				["remote_check", 1, "low"],
				["acknowledge", 0, null],
				["sla_check", 0, null],
				["escalate", 1, "yes"],
			]
		);
		assert.deepEqual(rows[1].links, [{ doctype: "Dispatch Job", name: "DJ-1" }]);
		assert.equal(rows[1].payload_rendered, false);
		assert.ok(rows[1].payload.some((pair) => pair.key === "subject"));
		assert.equal(rows[6].payload_rendered, true);
		assert.deepEqual(rows[6].payload, [
			{ key: "channel", value: "in_app" },
			{ key: "to", value: "Administrator" },
		]);
		assert.equal(rows[4].status, "failed");
		assert.equal(rows[0].kind.name, "switch");
	});

	test("states without a step in the snapshot are shown too", () => {
		const rows = timeline_rows({ steps: [] }, { ghost: { status: "done" } }, kinds);
		assert.deepEqual(
			rows.map((row) => row.id),
			["ghost"]
		);
	});

	test("counts and polling", () => {
		assert.deepEqual(status_counts({ a: { status: "done" }, b: { status: "done" }, c: {} }), {
			done: 2,
			pending: 1,
		});
		assert.equal(is_live("running"), true);
		assert.equal(is_live("completed"), false);
		assert.equal(next_poll_delay(0, false), 3000);
		assert.equal(next_poll_delay(3000, false), 4500);
		assert.equal(next_poll_delay(25000, false), 30000);
		assert.equal(next_poll_delay(25000, true), 3000);
	});
});
