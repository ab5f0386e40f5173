import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
	PAYLOAD_PREFIX,
	RETRY_PREFIX,
	TRIGGER_PREFIX,
	TRIGGER_TYPES,
	dialog_field,
	field_problem,
	from_control_value,
	is_iso_datetime,
	local_problems,
	payload_fields,
	problem_fieldname,
	retry_fields,
	step_to_values,
	template_problem,
	to_control_value,
	trigger_fields,
	values_to_step,
} from "../flow_engine/public/js/flow_editor/fields.js";
import { SEEDS, flow, kinds, seed } from "./helpers.mjs";

const FRAPPE_FIELDTYPES = new Set(["Data", "Small Text", "Select", "Check", "Code", "Table"]);

describe("descriptors become dialog fields", () => {
	test("every field of every kind in the catalog maps to a Frappe control", () => {
		for (const kind of Object.values(kinds)) {
			for (const df of payload_fields(kind)) {
				assert.ok(
					FRAPPE_FIELDTYPES.has(df.fieldtype),
					`${kind.name}.${df.fieldname}: ${df.fieldtype}`
				);
				assert.ok(df.fieldname.startsWith(PAYLOAD_PREFIX));
				assert.ok(df.label);
			}
		}
	});

	test("each descriptor type has its control", () => {
		const expect = {
			data: "Data",
			text: "Small Text",
			int: "Data",
			float: "Data",
			select: "Select",
			datetime: "Data",
			check: "Check",
			json: "Code",
			path: "Data",
			jsonlogic: "Code",
			table: "Table",
		};
		for (const [type, fieldtype] of Object.entries(expect)) {
			const spec = {
				name: "f",
				type,
				label: "F",
				options: type === "select" ? ["x", "y"] : undefined,
			};
			const df = dialog_field(spec);
			assert.equal(df.fieldtype, fieldtype, type);
			assert.equal(df.flow_type, type);
		}
	});

	test("a select offers an empty choice only when it is optional", () => {
		assert.equal(
			dialog_field({ name: "s", type: "select", label: "S", options: ["a", "b"] }).options,
			"\na\nb"
		);
		assert.equal(
			dialog_field({
				name: "s",
				type: "select",
				label: "S",
				required: true,
				options: ["a", "b"],
			}).options,
			"a\nb"
		);
	});

	test("a table's columns are fields too, shown in the grid, without prefix", () => {
		const cases = payload_fields(kinds.switch).find(
			(df) => df.fieldname === `${PAYLOAD_PREFIX}cases`
		);
		assert.equal(cases.fieldtype, "Table");
		assert.deepEqual(
			cases.fields.map((column) => [
				column.fieldname,
				column.fieldtype,
				column.in_list_view,
			]),
			[
				["branch", "Data", 1],
				["field", "Data", 1],
				["op", "Select", 1],
				["value", "Data", 1],
			]
		);
		assert.equal(cases.reqd, 1);
	});

	test("trigger and retry fields", () => {
		const trigger = trigger_fields();
		assert.deepEqual(
			trigger.map((df) => df.fieldname),
			["trigger__type", "trigger__delay_days", "trigger__delay_hours", "trigger__at"]
		);
		assert.deepEqual(
			trigger[0].options.map((option) => option.value),
			TRIGGER_TYPES
		);
		assert.match(trigger[1].depends_on, /after_delay/);
		assert.match(trigger[3].depends_on, /on_date/);
		const retry = retry_fields({ max_attempts: 3 });
		assert.equal(retry.length, 5);
		assert.equal(retry[0].fieldname, `${RETRY_PREFIX}max_attempts`);
		assert.match(retry[0].placeholder, /3/);
	});
});

describe("values", () => {
	test("every seeded step survives step → dialog values → step unchanged", () => {
		for (const name of SEEDS) {
			for (const step of seed(name).steps) {
				const kind = kinds[step.kind];
				const back = values_to_step(step, kind, step_to_values(step, kind));
				assert.deepEqual(back, step, `${name}.${step.id}`);
			}
		}
	});

	test("numbers, templates, JSON, checks and tables convert both ways", () => {
		const int = { name: "n", type: "int" };
		assert.equal(from_control_value(int, "12"), 12);
		assert.equal(from_control_value(int, " {{ doc.qty }} "), "{{ doc.qty }}");
		assert.equal(from_control_value(int, ""), undefined);
		assert.equal(from_control_value({ name: "f", type: "float" }, "1.5"), 1.5);
		const json = { name: "j", type: "json" };
		assert.deepEqual(from_control_value(json, '{"a": 1}'), { a: 1 });
		assert.equal(from_control_value(json, "{oops"), "{oops");
		assert.equal(to_control_value(json, { a: 1 }), '{\n  "a": 1\n}');
		const check = { name: "c", type: "check" };
		assert.equal(from_control_value(check, 1), true);
		assert.equal(from_control_value(check, 0), false);
		assert.equal(to_control_value(check, true), 1);
		const table = {
			name: "t",
			type: "table",
			fields: [
				{ name: "a", type: "data" },
				{ name: "n", type: "int" },
			],
		};
		assert.deepEqual(
			from_control_value(table, [
				{ a: "x", n: "2", idx: 1, name: "row1", __islocal: 1 },
				{ a: "", n: "" },
			]),
			[{ a: "x", n: 2 }]
		);
		assert.equal(from_control_value(table, []), undefined);
		assert.deepEqual(to_control_value(table, [{ a: "x" }, 5]), [{ a: "x", n: "" }]);
	});

	test("the dialog's values make the step: trigger, join, retry, unknown keys kept", () => {
		const step = {
			id: "s",
			kind: "notify",
			label: "S",
			depends_on: ["a", "b"],
			trigger: { type: "on_prev_complete" },
			payload: { channel: "email", to: "x@example.com", legacy: 1 },
			_ui: { folded: true },
		};
		const values = step_to_values(step, kinds.notify);
		Object.assign(values, {
			label: "  Survey  ",
			join: "any",
			[`${TRIGGER_PREFIX}type`]: "after_delay",
			[`${TRIGGER_PREFIX}delay_hours`]: "24",
			[`${TRIGGER_PREFIX}at`]: "ignored",
			[`${PAYLOAD_PREFIX}subject`]: "Hello {{ customer.customer_name }}",
			[`${RETRY_PREFIX}max_attempts`]: "5",
		});
		const edited = values_to_step(step, kinds.notify, values);
		assert.equal(edited.label, "Survey");
		assert.equal(edited.join, "any");
		assert.deepEqual(edited.trigger, { type: "after_delay", delay_hours: 24 });
		assert.equal(edited.payload.subject, "Hello {{ customer.customer_name }}");
		assert.equal(edited.payload.legacy, 1);
		assert.deepEqual(edited.retry, { max_attempts: 5 });
		assert.deepEqual(edited._ui, { folded: true });
		assert.deepEqual(Object.keys(edited.payload), ["channel", "to", "subject", "legacy"]);
		const reordered = values_to_step(step, kinds.notify, {
			...values,
			depends_on: ["c", "b", "a"],
		});
		assert.deepEqual(reordered.depends_on, ["a", "b", "c"]);
		const keys = Object.keys(reordered);
		assert.ok(
			keys.indexOf("join") > keys.indexOf("_ui"),
			"a new key is appended, the others keep their place"
		);
		assert.deepEqual(keys.slice(0, 5), ["id", "kind", "label", "depends_on", "trigger"]);
		const single = values_to_step(step, kinds.notify, { ...values, depends_on: ["a"] });
		assert.equal(single.join, undefined);
		const dated = values_to_step(step, kinds.notify, {
			...values,
			[`${TRIGGER_PREFIX}type`]: "on_date",
			[`${TRIGGER_PREFIX}at`]: "{{ doc.end_date }}",
		});
		assert.deepEqual(dated.trigger, { type: "on_date", at: "{{ doc.end_date }}" });
		const cleared = values_to_step({ ...step, retry: { max_attempts: 2 } }, kinds.notify, {
			...values,
			[`${RETRY_PREFIX}max_attempts`]: "",
		});
		assert.equal(cleared.retry, undefined);
	});
});

describe("checks while typing", () => {
	test("field problems", () => {
		assert.equal(field_problem({ type: "data", required: true }, ""), "required");
		assert.equal(field_problem({ type: "data" }, ""), null);
		assert.equal(field_problem({ type: "int" }, "1.5"), "must be a whole number");
		assert.equal(field_problem({ type: "int" }, "abc"), "must be a number");
		assert.equal(field_problem({ type: "int" }, "{{ doc.qty }}"), null);
		assert.equal(field_problem({ type: "float" }, "1.5"), null);
		assert.equal(field_problem({ type: "select", options: ["a"] }, "b"), "b is not one of a");
		assert.equal(field_problem({ type: "path" }, "doc.status"), null);
		assert.match(field_problem({ type: "path" }, "{{doc.status}}"), /dotted path/);
		assert.match(field_problem({ type: "json" }, "{x"), /invalid JSON/);
		assert.equal(
			field_problem({ type: "json", options: ["object"] }, "[1]"),
			"must be a JSON object"
		);
		assert.equal(field_problem({ type: "json" }, "3"), "must be a JSON object or list");
		assert.equal(field_problem({ type: "datetime" }, "2026-02-30"), null);
		assert.equal(
			field_problem({ type: "datetime" }, "2026-13-01"),
			"must be an ISO 8601 date or datetime"
		);
		assert.match(field_problem({ type: "data" }, "Hi {{ doc.name"), /not closed/);
		const table = {
			type: "table",
			fields: [
				{ name: "branch", type: "data", label: "Branch", required: true },
				{ name: "field", type: "path", label: "Field" },
			],
		};
		assert.equal(
			field_problem(table, [{ branch: "a" }, { branch: "", field: "doc.a" }]),
			"row 2: Branch: required"
		);
		assert.equal(
			field_problem(table, [{ branch: "a", field: "doc a" }]),
			"row 1: Field: must be a dotted path such as doc.status"
		);
		assert.equal(field_problem({ ...table, required: true }, []), "required");
	});

	test("ISO dates and templates", () => {
		assert.ok(is_iso_datetime("2026-01-31"));
		assert.ok(is_iso_datetime("2026-01-31 09:00"));
		assert.ok(is_iso_datetime("2026-01-31T09:00:00+01:00"));
		assert.ok(!is_iso_datetime("31/01/2026"));
		assert.equal(template_problem("{{ a }} {% if x %}y{% endif %}"), null);
		assert.ok(template_problem("{% if x }"));
	});

	test("a whole dialog: delays, dates, ids, retry bounds, condition values", () => {
		const definition = flow([["a"], ["b"]]);
		const step = definition.steps[1];
		const base = step_to_values(step, kinds.wait);
		assert.deepEqual(local_problems(definition, step, kinds.wait, base), {});
		const problems = local_problems(definition, step, kinds.wait, {
			...base,
			step_id: "a",
			[`${TRIGGER_PREFIX}type`]: "after_delay",
			[`${RETRY_PREFIX}max_attempts`]: "30",
			[`${RETRY_PREFIX}jitter`]: "x",
		});
		assert.deepEqual(Object.keys(problems).sort(), [
			"retry__jitter",
			"retry__max_attempts",
			"step_id",
			"trigger__delay_hours",
		]);
		const dated = local_problems(definition, step, kinds.wait, {
			...base,
			[`${TRIGGER_PREFIX}type`]: "on_date",
		});
		assert.equal(dated[`${TRIGGER_PREFIX}at`], "required");
		const condition = {
			id: "c",
			kind: "condition",
			payload: { field: "doc.status", op: "empty" },
		};
		const values = step_to_values(condition, kinds.condition);
		assert.deepEqual(
			local_problems({ version: 1, steps: [condition] }, condition, kinds.condition, values),
			{}
		);
	});

	test("server problems find their field", () => {
		assert.deepEqual(
			problem_fieldname({ field: "payload.subject", message: "required" }, kinds.notify),
			{
				fieldname: "payload__subject",
				message: "required",
			}
		);
		assert.deepEqual(
			problem_fieldname(
				{ field: "payload.cases.0.branch", message: "required" },
				kinds.switch
			),
			{ fieldname: "payload__cases", message: "0.branch: required" }
		);
		assert.equal(
			problem_fieldname({ field: "trigger.at", message: "x" }, kinds.notify).fieldname,
			"trigger__at"
		);
		assert.equal(
			problem_fieldname({ field: "retry.jitter", message: "x" }, kinds.notify).fieldname,
			"retry__jitter"
		);
		assert.equal(
			problem_fieldname({ field: "id", message: "x" }, kinds.notify).fieldname,
			"step_id"
		);
		assert.equal(
			problem_fieldname({ field: "payload.nope", message: "unknown" }, kinds.notify)
				.fieldname,
			null
		);
		assert.equal(
			problem_fieldname({ field: "branch", message: "x" }, kinds.notify).fieldname,
			null
		);
	});
});
