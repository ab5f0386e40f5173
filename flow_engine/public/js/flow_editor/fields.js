// From the kind catalog's field descriptors to frappe.ui.Dialog fields, and back from the
// dialog's values to a step. Pure: the desk glue (step_dialog.js) only draws what this returns.
//
// Descriptor types (flow_engine.runtime.kinds.registry.FIELD_TYPES): data, text, int, float,
// select, datetime, check, json, path, jsonlogic, table. Numbers and dates are typed into Data
// controls because every payload value may also be a {{ }} template.

import { __ } from "./i18n.js";
import { clone, deps_of, step_id_problem } from "./model.js";

export const PAYLOAD_PREFIX = "payload__";
export const TRIGGER_PREFIX = "trigger__";
export const RETRY_PREFIX = "retry__";

// The flow language's step triggers (flow_engine.runtime.definition.STEP_TRIGGER_TYPES).
// kinds_catalog may send its own list as `trigger_types`; this is the fallback.
export const TRIGGER_TYPES = [
	"on_flow_start",
	"on_prev_complete",
	"after_delay",
	"on_date",
	"on_webhook",
	"manual",
];

export function trigger_type_label(type) {
	const labels = {
		on_flow_start: __("At flow start"),
		on_prev_complete: __("When its dependencies complete"),
		after_delay: __("After a delay"),
		on_date: __("On a date"),
		on_webhook: __("When a webhook calls"),
		manual: __("When someone completes it"),
	};
	return labels[type] || type;
}

// The retry policy's settings (flow_engine.runtime.retry._BOUNDS), empty = the flow's default.
export const RETRY_SETTINGS = [
	{ name: "max_attempts", integer: true, min: 1, max: 25 },
	{ name: "initial_interval_seconds", min: 0, max: 30 * 86400 },
	{ name: "backoff_factor", min: 1, max: 10 },
	{ name: "max_interval_seconds", min: 0, max: 30 * 86400 },
	{ name: "jitter", min: 0, max: 1 },
];

export function retry_setting_label(name) {
	const labels = {
		max_attempts: __("Max attempts"),
		initial_interval_seconds: __("First wait (seconds)"),
		backoff_factor: __("Backoff factor"),
		max_interval_seconds: __("Longest wait (seconds)"),
		jitter: __("Jitter (0 to 1)"),
	};
	return labels[name] || name;
}

const PATH_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_-]+)*$/;

export function is_template(value) {
	return typeof value === "string" && (value.includes("{{") || value.includes("{%"));
}

function is_blank(value) {
	if (value === null || value === undefined || value === "") return true;
	if (Array.isArray(value)) return value.length === 0;
	if (typeof value === "object") return Object.keys(value).length === 0;
	return typeof value === "string" && ["", "{}", "[]"].includes(value.trim());
}

function as_number(value) {
	if (typeof value === "number") return Number.isFinite(value) ? value : null;
	if (typeof value !== "string" || !value.trim()) return null;
	const number = Number(value.trim());
	return Number.isFinite(number) ? number : null;
}

export function is_iso_datetime(text) {
	if (typeof text !== "string") return false;
	const match =
		/^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/.exec(
			text.trim()
		);
	if (!match) return false;
	const [, , month, day, hour, minute, second] = match.map((part) =>
		part === undefined ? 0 : Number(part)
	);
	return (
		month >= 1 &&
		month <= 12 &&
		day >= 1 &&
		day <= 31 &&
		hour <= 23 &&
		minute <= 59 &&
		second <= 59
	);
}

// --- descriptor → dialog field -------------------------------------------------------------------

function placeholder_for(spec) {
	switch (spec.type) {
		case "int":
			return __("a whole number or {{ }}");
		case "float":
			return __("a number or {{ }}");
		case "datetime":
			return __("2026-01-31 09:00 or {{ doc.date }}");
		case "path":
			return __("doc.status");
		default:
			return "";
	}
}

/** One descriptor as a frappe.ui.Dialog field (fieldname prefixed, unless it is a table column). */
export function dialog_field(spec, prefix = PAYLOAD_PREFIX) {
	const df = {
		fieldname: `${prefix}${spec.name}`,
		label: __(spec.label || spec.name),
		description: spec.description ? __(spec.description) : "",
		reqd: spec.required ? 1 : 0,
		flow_type: spec.type,
	};
	switch (spec.type) {
		case "text":
			df.fieldtype = "Small Text";
			break;
		case "select":
			df.fieldtype = "Select";
			df.options = [...(spec.required ? [] : [""]), ...(spec.options || [])].join("\n");
			break;
		case "check":
			df.fieldtype = "Check";
			break;
		case "json":
		case "jsonlogic":
			df.fieldtype = "Code";
			df.options = "JSON";
			df.max_height = "12rem";
			break;
		case "table":
			df.fieldtype = "Table";
			df.in_place_edit = true;
			df.fields = (spec.fields || []).map((column) => ({
				...dialog_field(column, ""),
				in_list_view: 1,
				columns: column.type === "select" ? 1 : 2,
			}));
			df.data = [];
			break;
		default:
			// data, path, int, float, datetime (see the header)
			df.fieldtype = "Data";
			df.placeholder = placeholder_for(spec);
	}
	return df;
}

/** The dialog fields of a kind's payload. */
export function payload_fields(kind) {
	return ((kind && kind.fields) || []).map((spec) => dialog_field(spec));
}

export function trigger_fields(trigger_types = TRIGGER_TYPES) {
	const type_field = `${TRIGGER_PREFIX}type`;
	return [
		{
			fieldname: type_field,
			fieldtype: "Select",
			label: __("Fires"),
			options: trigger_types.map((type) => ({
				value: type,
				label: trigger_type_label(type),
			})),
			reqd: 1,
		},
		{
			fieldname: `${TRIGGER_PREFIX}delay_days`,
			fieldtype: "Data",
			label: __("Delay (days)"),
			placeholder: "0",
			depends_on: `eval:doc.${type_field}=='after_delay'`,
		},
		{
			fieldname: `${TRIGGER_PREFIX}delay_hours`,
			fieldtype: "Data",
			label: __("Delay (hours)"),
			placeholder: "0",
			depends_on: `eval:doc.${type_field}=='after_delay'`,
		},
		{
			fieldname: `${TRIGGER_PREFIX}at`,
			fieldtype: "Data",
			label: __("Date"),
			placeholder: __("2026-01-31 09:00 or {{ doc.delivery_date }}"),
			description: __("An ISO date or datetime, or a {{ }} template"),
			depends_on: `eval:doc.${type_field}=='on_date'`,
		},
	];
}

export function retry_fields(defaults = null) {
	return RETRY_SETTINGS.map((setting) => ({
		fieldname: `${RETRY_PREFIX}${setting.name}`,
		fieldtype: "Data",
		label: retry_setting_label(setting.name),
		placeholder:
			defaults && defaults[setting.name] !== undefined
				? __("default: {0}", [defaults[setting.name]])
				: __("default"),
	}));
}

// --- values ---------------------------------------------------------------------------------------

/** A payload value as the dialog control shows it. */
export function to_control_value(spec, value) {
	if (value === undefined || value === null) {
		if (spec.type === "check") return 0;
		if (spec.type === "table") return [];
		return "";
	}
	switch (spec.type) {
		case "check":
			return value === true || value === 1 || value === "1" ? 1 : 0;
		case "json":
		case "jsonlogic":
			return typeof value === "string" ? value : JSON.stringify(value, null, 2);
		case "table":
			return (Array.isArray(value) ? value : [])
				.filter((row) => row && typeof row === "object")
				.map((row) => {
					const out = {};
					for (const column of spec.fields || [])
						out[column.name] = to_control_value(column, row[column.name]);
					return out;
				});
		default:
			return typeof value === "object" ? JSON.stringify(value) : String(value);
	}
}

/** A dialog control's value as the payload stores it; undefined means "leave it out". */
export function from_control_value(spec, value) {
	switch (spec.type) {
		case "check":
			return value === 1 || value === true || value === "1";
		case "table": {
			const rows = (Array.isArray(value) ? value : []).map((row) => {
				const out = {};
				for (const column of spec.fields || []) {
					const cell = from_control_value(column, row ? row[column.name] : undefined);
					if (cell !== undefined) out[column.name] = cell;
				}
				return out;
			});
			const kept = rows.filter((row) => Object.keys(row).length);
			return kept.length ? kept : undefined;
		}
		default:
			break;
	}
	if (value === undefined || value === null) return undefined;
	const text = typeof value === "string" ? value : String(value);
	if (!text.trim()) return undefined;
	switch (spec.type) {
		case "int":
		case "float": {
			const number = as_number(text);
			return number === null ? text.trim() : number;
		}
		case "json":
		case "jsonlogic":
			try {
				return JSON.parse(text);
			} catch (e) {
				return text; // kept as typed: the validator reports it
			}
		case "path":
			return text.trim();
		default:
			return text;
	}
}

/** What is wrong with a value typed into a field, checked in the browser; null if nothing. */
export function field_problem(spec, value) {
	const stored = from_control_value(spec, value);
	if (stored === undefined || is_blank(stored)) {
		return spec.required ? __("required") : null;
	}
	if (
		typeof stored === "string" &&
		!["path", "json", "jsonlogic"].includes(spec.type) &&
		is_template(stored)
	) {
		return template_problem(stored);
	}
	switch (spec.type) {
		case "int":
		case "float": {
			const number = as_number(stored);
			if (number === null) return __("must be a number");
			if (spec.type === "int" && !Number.isInteger(number))
				return __("must be a whole number");
			return null;
		}
		case "select":
			return (spec.options || []).includes(stored)
				? null
				: __("{0} is not one of {1}", [stored, (spec.options || []).join(", ")]);
		case "datetime":
			return is_iso_datetime(stored) ? null : __("must be an ISO 8601 date or datetime");
		case "path":
			return PATH_PATTERN.test(stored)
				? null
				: __("must be a dotted path such as doc.status");
		case "json":
		case "jsonlogic":
			if (typeof stored === "string") return json_problem(stored);
			if (spec.type === "json" && (spec.options || []).includes("object")) {
				if (Array.isArray(stored) || typeof stored !== "object")
					return __("must be a JSON object");
			}
			if (spec.type === "json" && (typeof stored !== "object" || stored === null)) {
				return __("must be a JSON object or list");
			}
			return null;
		case "table":
			for (const [index, row] of stored.entries()) {
				for (const column of spec.fields || []) {
					const problem = field_problem(
						column,
						to_control_value(column, row[column.name])
					);
					if (problem)
						return __("row {0}: {1}: {2}", [index + 1, __(column.label), problem]);
				}
			}
			return null;
		default:
			return null;
	}
}

/** Unbalanced {{ }} or {% %}: the obvious template mistakes, before the server's full check. */
export function template_problem(text) {
	const opens = (text.match(/\{\{/g) || []).length;
	const closes = (text.match(/\}\}/g) || []).length;
	if (opens !== closes) return __("a {{ is not closed by }}");
	const block_opens = (text.match(/\{%/g) || []).length;
	const block_closes = (text.match(/%\}/g) || []).length;
	if (block_opens !== block_closes) return __("a {% is not closed by %}");
	return null;
}

export function json_problem(text) {
	try {
		JSON.parse(text);
		return null;
	} catch (e) {
		return __("invalid JSON: {0}", [e.message]);
	}
}

function number_problem(value, { integer = false, min = null, max = null } = {}) {
	const number = as_number(value);
	if (number === null) return __("must be a number");
	if (integer && !Number.isInteger(number)) return __("must be a whole number");
	if ((min !== null && number < min) || (max !== null && number > max)) {
		return __("must be between {0} and {1}", [min, max]);
	}
	return null;
}

// --- a whole step ↔ dialog values ----------------------------------------------------------------

/** Dialog values for a step (the general fields, the trigger, the payload and the retry policy). */
export function step_to_values(step, kind) {
	const trigger = (step.trigger && typeof step.trigger === "object" ? step.trigger : {}) || {};
	const has_predecessor = deps_of(step).length > 0 || !!step.parent_id;
	const values = {
		step_id: step.id || "",
		label: typeof step.label === "string" && step.label ? step.label : step.id || "",
		description: typeof step.description === "string" ? step.description : "",
		depends_on: deps_of(step),
		join: step.join === "any" ? "any" : "all",
		[`${TRIGGER_PREFIX}type`]:
			trigger.type || (has_predecessor ? "on_prev_complete" : "on_flow_start"),
		[`${TRIGGER_PREFIX}delay_days`]: trigger.delay_days ?? "",
		[`${TRIGGER_PREFIX}delay_hours`]: trigger.delay_hours ?? "",
		[`${TRIGGER_PREFIX}at`]: trigger.at ?? "",
	};
	for (const key of ["delay_days", "delay_hours"]) {
		values[`${TRIGGER_PREFIX}${key}`] = String(values[`${TRIGGER_PREFIX}${key}`]);
	}
	const payload = step.payload && typeof step.payload === "object" ? step.payload : {};
	for (const spec of (kind && kind.fields) || []) {
		values[`${PAYLOAD_PREFIX}${spec.name}`] = to_control_value(spec, payload[spec.name]);
	}
	const retry = step.retry && typeof step.retry === "object" ? step.retry : {};
	for (const setting of RETRY_SETTINGS) {
		values[`${RETRY_PREFIX}${setting.name}`] =
			retry[setting.name] === undefined || retry[setting.name] === null
				? ""
				: String(retry[setting.name]);
	}
	return values;
}

/**
 * The step after the dialog: the original with the dialog's values applied. Keys the dialog does
 * not know (and payload fields the kind does not declare) are kept as they were.
 */
export function values_to_step(step, kind, values) {
	const result = clone(step);
	result.id = String(values.step_id ?? step.id).trim() || step.id;
	result.label = String(values.label ?? "").trim() || result.id;
	if (step.label === undefined && result.label === result.id) delete result.label;
	if (values.description !== undefined) {
		const description = String(values.description || "").trim();
		if (description) result.description = description;
		else delete result.description;
	}
	if (values.depends_on !== undefined) {
		// the ones it had keep their order (a multi-check lists by label), new ones come after
		const chosen = (values.depends_on || []).filter((dep) => dep && dep !== result.id);
		const before = deps_of(step);
		result.depends_on = [
			...before.filter((dep) => chosen.includes(dep)),
			...chosen.filter(
				(dep, index) => !before.includes(dep) && chosen.indexOf(dep) === index
			),
		];
	}
	if (result.depends_on && result.depends_on.length > 1 && values.join === "any")
		result.join = "any";
	else delete result.join;

	const type = values[`${TRIGGER_PREFIX}type`] || "on_flow_start";
	const trigger = { type };
	if (type === "after_delay") {
		for (const key of ["delay_days", "delay_hours"]) {
			const raw = values[`${TRIGGER_PREFIX}${key}`];
			if (raw === undefined || raw === null || String(raw).trim() === "") continue;
			const number = as_number(String(raw));
			trigger[key] = number === null ? String(raw).trim() : number;
		}
	}
	if (type === "on_date") {
		const at = String(values[`${TRIGGER_PREFIX}at`] || "").trim();
		if (at) trigger.at = at;
	}
	result.trigger = trigger;

	const payload = { ...(step.payload && typeof step.payload === "object" ? step.payload : {}) };
	for (const spec of (kind && kind.fields) || []) {
		const fieldname = `${PAYLOAD_PREFIX}${spec.name}`;
		if (!(fieldname in values)) continue;
		const value = from_control_value(spec, values[fieldname]);
		const was = payload[spec.name];
		if (value === undefined && spec.name in payload && is_blank(was)) {
			continue; // an explicitly empty value stays as it was written
		}
		if (
			value === undefined ||
			(spec.type === "check" && value === false && was === undefined)
		) {
			delete payload[spec.name];
		} else {
			payload[spec.name] = value;
		}
	}
	// the kind's fields in the kind's order, then whatever else the payload had
	const ordered = {};
	for (const spec of (kind && kind.fields) || [])
		if (spec.name in payload) ordered[spec.name] = payload[spec.name];
	for (const key of Object.keys(payload)) if (!(key in ordered)) ordered[key] = payload[key];
	result.payload = ordered;

	const retry = {};
	for (const setting of RETRY_SETTINGS) {
		const raw = values[`${RETRY_PREFIX}${setting.name}`];
		if (raw === undefined || raw === null || String(raw).trim() === "") continue;
		const number = as_number(String(raw));
		retry[setting.name] = number === null ? String(raw).trim() : number;
	}
	if (Object.keys(retry).length) result.retry = retry;
	else delete result.retry;
	return result;
}

/**
 * Problems found in the browser, by dialog fieldname: {fieldname: message}. The server's
 * validate_definition stays the authority; this only answers while one types.
 */
export function local_problems(definition, step, kind, values) {
	const problems = {};
	if ("label" in values && !String(values.label || "").trim()) problems.label = __("required");
	const id_problem = step_id_problem(definition, String(values.step_id ?? "").trim(), step.id);
	if (id_problem) problems.step_id = id_problem;
	const type = values[`${TRIGGER_PREFIX}type`];
	if (type === "after_delay") {
		let total = 0;
		for (const key of ["delay_days", "delay_hours"]) {
			const raw = values[`${TRIGGER_PREFIX}${key}`];
			if (raw === undefined || raw === null || String(raw).trim() === "") continue;
			const problem = number_problem(String(raw), {
				min: 0,
				max: key === "delay_days" ? 3650 : 3650 * 24,
			});
			if (problem) problems[`${TRIGGER_PREFIX}${key}`] = problem;
			else total += as_number(String(raw));
		}
		if (
			total <= 0 &&
			!problems[`${TRIGGER_PREFIX}delay_days`] &&
			!problems[`${TRIGGER_PREFIX}delay_hours`]
		) {
			problems[`${TRIGGER_PREFIX}delay_hours`] = __("a delay needs days or hours above 0");
		}
	}
	if (type === "on_date") {
		const at = String(values[`${TRIGGER_PREFIX}at`] || "").trim();
		if (!at) problems[`${TRIGGER_PREFIX}at`] = __("required");
		else if (is_template(at)) {
			const problem = template_problem(at);
			if (problem) problems[`${TRIGGER_PREFIX}at`] = problem;
		} else if (!is_iso_datetime(at)) {
			problems[`${TRIGGER_PREFIX}at`] = __("must be an ISO 8601 date or datetime");
		}
	}
	for (const spec of (kind && kind.fields) || []) {
		const fieldname = `${PAYLOAD_PREFIX}${spec.name}`;
		let problem = field_problem(spec, values[fieldname]);
		// a condition's value may stay empty for the unary operators (empty, not_empty)
		if (problem && spec.name === "value" && !spec.required) problem = null;
		if (problem) problems[fieldname] = problem;
	}
	for (const setting of RETRY_SETTINGS) {
		const raw = values[`${RETRY_PREFIX}${setting.name}`];
		if (raw === undefined || raw === null || String(raw).trim() === "") continue;
		const problem = number_problem(String(raw), setting);
		if (problem) problems[`${RETRY_PREFIX}${setting.name}`] = problem;
	}
	return problems;
}

/**
 * Where a server problem of a step belongs in the dialog: {fieldname, message} (fieldname null
 * for problems no field shows, e.g. the kind or the branch).
 */
export function problem_fieldname(problem, kind) {
	const field = String(problem.field || "");
	const [head, name, ...rest] = field.split(".");
	if (
		head === "payload" &&
		name &&
		((kind && kind.fields) || []).some((spec) => spec.name === name)
	) {
		const message = rest.length ? `${rest.join(".")}: ${problem.message}` : problem.message;
		return { fieldname: `${PAYLOAD_PREFIX}${name}`, message };
	}
	if (head === "trigger" && name)
		return { fieldname: `${TRIGGER_PREFIX}${name}`, message: problem.message };
	if (head === "retry" && name)
		return { fieldname: `${RETRY_PREFIX}${name}`, message: problem.message };
	const general = {
		id: "step_id",
		label: "label",
		depends_on: "depends_on",
		join: "join",
		description: "description",
	};
	if (general[head] && !name) return { fieldname: general[head], message: problem.message };
	return { fieldname: null, message: `${field}: ${problem.message}` };
}
