import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { __, format } from "../flow_engine/public/js/flow_editor/i18n.js";
import {
	condition_examples,
	condition_problem,
	delay_text,
	filter_variables,
	format_offset,
	icon_for,
	insert_at,
	payload_pairs,
	trigger_summary,
	variable_groups,
	variable_snippet,
} from "../flow_engine/public/js/flow_editor/text.js";
import { SEEDS, kinds, seed } from "./helpers.mjs";

describe("translation", () => {
	test("without the desk, {0} placeholders are filled in", () => {
		assert.equal(format("{0} of {1}", [1, 2]), "1 of 2");
		assert.equal(format("{0} {3}", ["a"]), "a {3}");
		assert.equal(__("At {0}", ["noon"]), "At noon");
	});

	test("with the desk, Frappe's __ is used", () => {
		globalThis.__ = (text, args) => `T(${format(text, args)})`;
		try {
			assert.equal(__("Hello {0}", ["x"]), "T(Hello x)");
			assert.equal(delay_text(0, 1), "T(1 hour)");
		} finally {
			delete globalThis.__;
		}
	});
});

describe("summaries", () => {
	test("delays", () => {
		assert.equal(delay_text(0, 24), "24 hours");
		assert.equal(delay_text(1, 0), "1 day");
		assert.equal(delay_text(335, 0), "335 days");
		assert.equal(delay_text(2, 3), "2 days 3 hours");
		assert.equal(delay_text(0, 0.5), "30 minutes");
		assert.equal(delay_text(0, 1.25), "1.25 hours");
		assert.equal(delay_text(null, undefined), "no delay");
	});

	test("trigger summaries name what a step waits for", () => {
		const definition = seed("residential_onboarding");
		const by_id = Object.fromEntries(definition.steps.map((step) => [step.id, step]));
		assert.equal(trigger_summary(by_id.install_job, definition), "At flow start");
		assert.equal(
			trigger_summary(by_id.activate_subscription, definition),
			"Right after Fibre installation"
		);
		assert.equal(
			trigger_summary(by_id.satisfaction_survey, definition),
			"24 hours after Activate subscription"
		);
		assert.equal(
			trigger_summary(by_id.renewal_reminder, definition),
			"335 days after Activate subscription"
		);
		const repair = seed("repair_service");
		const ack = repair.steps.find((step) => step.id === "acknowledge");
		assert.equal(trigger_summary(ack, repair), "Right after any of its dependencies");
		const escalate = repair.steps.find((step) => step.id === "escalate");
		assert.equal(trigger_summary(escalate, repair), "As soon as branch yes is taken");
		assert.equal(
			trigger_summary(
				{ ...escalate, trigger: { type: "after_delay", delay_hours: 2 } },
				repair
			),
			"2 hours after branch yes is taken"
		);
		assert.equal(
			trigger_summary(
				{ id: "x", parent_id: "sla_check", trigger: { type: "on_prev_complete" } },
				repair
			),
			"Right after Still open after 24 h?"
		);
		assert.equal(
			trigger_summary({ trigger: { type: "after_delay", delay_days: 3 } }),
			"3 days after flow start"
		);
		assert.equal(
			trigger_summary({ trigger: { type: "on_date", at: "{{ doc.end_date }}" } }),
			"On {{ doc.end_date }}"
		);
		assert.equal(
			trigger_summary({ trigger: { type: "manual" } }),
			"Waits for someone to complete it"
		);
		assert.equal(trigger_summary({ trigger: { type: "on_webhook" } }), "Waits for a webhook");
		assert.equal(trigger_summary({}), "At flow start");
	});

	test("every seeded step has a summary", () => {
		for (const name of SEEDS) {
			const definition = seed(name);
			for (const step of definition.steps) {
				const text = trigger_summary(step, definition);
				assert.ok(text && !text.includes("undefined"), `${name}.${step.id}: ${text}`);
			}
		}
	});

	test("offsets read like the simulator's timeline", () => {
		assert.equal(format_offset(0), "+00:00:00");
		assert.equal(format_offset(86400 + 7200), "+1d 02:00:00");
		assert.equal(format_offset(335 * 86400 + 61), "+335d 00:01:01");
		assert.equal(format_offset(null), "-");
	});

	test("payload pairs are short and skip empty values", () => {
		const pairs = payload_pairs(
			{ subject: "Hello\n  there", empty: "", n: 2, obj: { a: "x".repeat(100) } },
			20
		);
		assert.deepEqual(
			pairs.map((p) => p.key),
			["subject", "n", "obj"]
		);
		assert.equal(pairs[0].value, "Hello there");
		assert.equal(pairs[2].value.length, 20);
	});
});

describe("variables", () => {
	const doc_fields = [
		{ fieldname: "customer_name", label: "Customer Name", fieldtype: "Data" },
		{ fieldname: "section_break_1", fieldtype: "Section Break" },
		{ fieldname: "status", label: "Status", fieldtype: "Select", options: "Open\nClosed" },
		{ fieldname: "name", label: "Name", fieldtype: "Data" },
	];

	test("groups: document, customer, variables, earlier steps, run", () => {
		const definition = seed("residential_onboarding");
		const groups = variable_groups({
			doctype: "Contract",
			doc_fields,
			customer_fields: doc_fields,
			definition,
		});
		assert.deepEqual(
			groups.map((group) => group.key),
			["doc", "customer", "variables", "steps", "run"]
		);
		const doc_paths = groups[0].items.map((item) => item.path);
		assert.ok(doc_paths.includes("doc.customer_name") && doc_paths.includes("doc.status"));
		assert.ok(!doc_paths.includes("doc.section_break_1"));
		assert.equal(doc_paths.filter((path) => path === "doc.name").length, 1);
		assert.deepEqual(groups[0].items.find((item) => item.path === "doc.status").options, [
			"Open",
			"Closed",
		]);
		assert.equal(groups[0].title, "Document (Contract)");
		assert.deepEqual(
			groups[2].items.map((item) => item.path),
			["variables.default_group", "variables.survey_url"]
		);
		assert.ok(groups[3].items.some((item) => item.path === "steps.install_job.result"));
		assert.ok(groups[4].items.some((item) => item.path === "now"));
	});

	test("filtering, snippets and inserting at the cursor", () => {
		const groups = variable_groups({ doctype: "Customer", doc_fields });
		const found = filter_variables(groups, "STATUS");
		assert.deepEqual(
			found.map((group) => group.key),
			["doc", "customer"]
		);
		assert.deepEqual(
			found[0].items.map((item) => item.path),
			["doc.docstatus", "doc.status"]
		);
		assert.equal(filter_variables(groups, "").length, groups.length);
		assert.equal(variable_snippet("doc.name"), "{{ doc.name }}");
		assert.equal(variable_snippet("doc.name", "path"), "doc.name");
		assert.equal(variable_snippet("doc.name", "jsonlogic"), '{"var":"doc.name"}');
		assert.deepEqual(insert_at("Hello !", "{{ x }}", 6), {
			text: "Hello {{ x }}!",
			cursor: 13,
		});
		assert.deepEqual(insert_at("Hello world", "you", 6, 11), { text: "Hello you", cursor: 9 });
		assert.deepEqual(insert_at(null, "a", 5), { text: "a", cursor: 1 });
		assert.deepEqual(insert_at("abc", "X"), { text: "abcX", cursor: 4 });
	});
});

describe("trigger conditions", () => {
	test("examples come from the doctype's fields and are valid one-operator rules", () => {
		const fields = [
			{
				fieldname: "status",
				label: "Status",
				fieldtype: "Select",
				options: "Draft\nOpen\nClosed",
			},
			{ fieldname: "is_signed", label: "Signed", fieldtype: "Check" },
			{ fieldname: "grand_total", label: "Grand Total", fieldtype: "Currency" },
			{ fieldname: "party_name", label: "Party", fieldtype: "Link" },
			{ fieldname: "end_date", label: "End Date", fieldtype: "Date" },
		];
		const examples = condition_examples("Contract", fields);
		assert.deepEqual(examples[0].rule, { "==": [{ var: "doc.status" }, "Draft"] });
		assert.deepEqual(examples[1].rule, { in: [{ var: "doc.status" }, ["Draft", "Open"]] });
		assert.ok(
			examples.some((e) => JSON.stringify(e.rule) === '{"==":[{"var":"doc.is_signed"},1]}')
		);
		assert.ok(
			examples.some(
				(e) => JSON.stringify(e.rule) === '{">":[{"var":"doc.grand_total"},1000]}'
			)
		);
		assert.ok(examples.some((e) => e.rule.and));
		for (const example of examples) {
			assert.equal(condition_problem(JSON.stringify(example.rule)), null, example.title);
			assert.equal(example.doctype, "Contract");
		}
		assert.ok(condition_examples(null, []).length >= 2);
		const customer_like = [
			{ fieldname: "naming_series", fieldtype: "Select", options: "CUST-.YYYY.-" },
			{ fieldname: "hidden_kind", fieldtype: "Select", options: "a\nb", hidden: 1 },
			{
				fieldname: "customer_type",
				label: "Customer Type",
				fieldtype: "Select",
				options: "Company\nIndividual",
				reqd: 1,
			},
			{ fieldname: "salutation", fieldtype: "Link" },
			{ fieldname: "customer_group", fieldtype: "Link", in_standard_filter: 1 },
		];
		const picked = condition_examples("Customer", customer_like);
		assert.deepEqual(picked[0].rule, { "==": [{ var: "doc.customer_type" }, "Company"] });
		assert.ok(
			picked.some((e) => JSON.stringify(e.rule) === '{"!!":[{"var":"doc.customer_group"}]}')
		);
	});

	test("a condition's text is checked while typing", () => {
		assert.equal(condition_problem(""), null);
		assert.equal(condition_problem("true"), null);
		assert.equal(condition_problem('{"==": [1, 1]}'), null);
		assert.match(condition_problem('{"==": [1, 1]'), /invalid JSON/);
		assert.match(condition_problem('{"==": [1, 1], "!=": [1, 2]}'), /exactly one operator/);
		assert.match(condition_problem("[1]"), /JsonLogic object/);
	});
});

describe("icons", () => {
	test("every built-in kind's icon has a Frappe icon and a letter", () => {
		for (const kind of Object.values(kinds)) {
			const icon = icon_for(kind.icon, kind.label);
			assert.ok(/^[a-z-]+$/.test(icon.frappe_icon), kind.name);
			assert.equal(icon.letter, kind.label[0].toUpperCase());
		}
		assert.deepEqual(icon_for("my_icon", ""), { frappe_icon: "my-icon", letter: "M" });
		assert.deepEqual(icon_for("", ""), { frappe_icon: "", letter: "?" });
	});
});

describe("events for a new template", () => {
	test("the doctype's named events first, then manual, then the generic ones", async () => {
		const { events_for } = await import("../flow_engine/public/js/flow_editor/text.js");
		const { catalog } = await import("./helpers.mjs");
		const names = (doctype) => events_for(catalog.events, doctype).map((e) => e.name);
		assert.deepEqual(names("Quotation").slice(0, 3), [
			"on_quotation_created",
			"on_quotation_accepted",
			"manual",
		]);
		assert.deepEqual(names("Contract").slice(0, 2), ["on_contract_signed", "manual"]);
		assert.deepEqual(names("Dispatch Job").slice(0, 2), ["on_dispatch_completed", "manual"]);
		assert.deepEqual(names("Sales Invoice").slice(0, 3), ["manual", "on_schedule", "on_insert"]);
		assert.equal(names("Customer").length, 10);
		assert.ok(names("Customer").includes("on_value_change"));
		assert.ok(names("Customer").includes("on_date_field"));
		const with_doctype = [
			{ name: "on_x", doctype: "Sales Invoice", description: "" },
			...catalog.events,
		];
		assert.equal(events_for(with_doctype, "Sales Invoice")[0].name, "on_x");
	});
});

describe("kind catalogs", () => {
	test("the palette offers the kinds of the flow's catalog, in its order", async () => {
		const { kinds_of_catalog } = await import("../flow_engine/public/js/flow_editor/text.js");
		const { catalog } = await import("./helpers.mjs");
		const all = catalog.kinds;
		assert.deepEqual(Object.keys(kinds_of_catalog(all, catalog.catalogs, "back_office")), [
			"create_document",
			"assign",
			"set_value",
			"comment",
			"notify",
			"erp_update",
			"wait",
			"condition",
			"switch",
			"wait_for_event",
			"sub_flow",
		]);
		assert.ok(!("dispatch_job" in kinds_of_catalog(all, catalog.catalogs, "back_office")));
		assert.equal(kinds_of_catalog(all, catalog.catalogs, undefined), all);
		assert.equal(kinds_of_catalog(all, catalog.catalogs, "default").notify, all.notify);
		assert.equal(kinds_of_catalog(all, catalog.catalogs, "unknown"), all);
	});
});
