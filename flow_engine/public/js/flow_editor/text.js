// What the editor writes about a flow: trigger summaries, durations, the variables a template may
// use, JsonLogic examples for a doctype, icons. Pure (see model.js).

import { __ } from "./i18n.js";
import { deps_of, label_of } from "./model.js";

function number_text(value) {
	const number = Number(value);
	if (!Number.isFinite(number)) return String(value);
	return String(Math.round(number * 100) / 100);
}

/** "2 days 3 hours", "1 hour", "90 minutes"… from a step trigger's delay fields. */
export function delay_text(delay_days, delay_hours) {
	const days = Number(delay_days) || 0;
	const hours = Number(delay_hours) || 0;
	const parts = [];
	if (days) parts.push(days === 1 ? __("1 day") : __("{0} days", [number_text(days)]));
	if (hours) {
		if (hours < 1 && !days) {
			const minutes = Math.round(hours * 60);
			parts.push(minutes === 1 ? __("1 minute") : __("{0} minutes", [minutes]));
		} else {
			parts.push(hours === 1 ? __("1 hour") : __("{0} hours", [number_text(hours)]));
		}
	}
	return parts.join(" ") || __("no delay");
}

/** One line saying when a step fires, for its card. */
export function trigger_summary(step, definition = null) {
	const trigger = step && step.trigger && typeof step.trigger === "object" ? step.trigger : {};
	const deps = deps_of(step);
	const waits = deps.length > 0 || !!(step && step.parent_id);
	const type = trigger.type || (waits ? "on_prev_complete" : "on_flow_start");
	const after_what = () => {
		if (deps.length === 1 && definition) return label_of(definition, deps[0]);
		if (deps.length > 1) {
			return step.join === "any" ? __("any of its dependencies") : __("its dependencies");
		}
		if (step && step.parent_id && definition) return label_of(definition, step.parent_id);
		return "";
	};
	// a step that waits only for its branch to be taken
	const branch_only = !deps.length && step && step.parent_id && step.branch;
	switch (type) {
		case "on_flow_start":
		case "on_prev_complete":
			if (branch_only) return __("As soon as branch {0} is taken", [step.branch]);
			return waits ? __("Right after {0}", [after_what()]) : __("At flow start");
		case "after_delay": {
			const delay = delay_text(trigger.delay_days, trigger.delay_hours);
			if (branch_only) return __("{0} after branch {1} is taken", [delay, step.branch]);
			return waits
				? __("{0} after {1}", [delay, after_what()])
				: __("{0} after flow start", [delay]);
		}
		case "on_date":
			return __("On {0}", [trigger.at || "?"]);
		case "on_webhook":
			return __("Waits for a webhook");
		case "manual":
			return __("Waits for someone to complete it");
		default:
			return String(type);
	}
}

/** "+1d 02:00:00" like the simulator's printed timeline. */
export function format_offset(seconds) {
	if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return "-";
	let rest = Math.round(Number(seconds));
	const days = Math.floor(rest / 86400);
	rest -= days * 86400;
	const pad = (n) => String(n).padStart(2, "0");
	const clock = `${pad(Math.floor(rest / 3600))}:${pad(Math.floor((rest % 3600) / 60))}:${pad(
		rest % 60
	)}`;
	return days ? `+${days}d ${clock}` : `+${clock}`;
}

/** A payload as short "key: value" pairs, for cards and timelines. */
export function payload_pairs(payload, width = 80) {
	if (!payload || typeof payload !== "object") return [];
	return Object.entries(payload)
		.filter(([, value]) => value !== null && value !== undefined && value !== "")
		.map(([key, value]) => {
			let text = typeof value === "string" ? value : JSON.stringify(value);
			text = text.replace(/\s+/g, " ").trim();
			if (text.length > width) text = text.slice(0, width - 1) + "…";
			return { key, value: text };
		});
}

// --- variables ------------------------------------------------------------------------------------

const NO_VALUE_TYPES = new Set([
	"Section Break",
	"Column Break",
	"Tab Break",
	"HTML",
	"Button",
	"Fold",
	"Heading",
	"Image",
]);
const STANDARD_FIELDS = [
	{ fieldname: "name", label: "ID", fieldtype: "Data" },
	{ fieldname: "owner", label: "Created By", fieldtype: "Link" },
	{ fieldname: "creation", label: "Created On", fieldtype: "Datetime" },
	{ fieldname: "modified", label: "Last Updated On", fieldtype: "Datetime" },
	{ fieldname: "docstatus", label: "Document Status", fieldtype: "Int" },
];

function doc_items(prefix, fields) {
	const seen = new Set();
	const items = [];
	for (const field of [...STANDARD_FIELDS, ...(fields || [])]) {
		if (
			!field ||
			!field.fieldname ||
			NO_VALUE_TYPES.has(field.fieldtype) ||
			seen.has(field.fieldname)
		)
			continue;
		seen.add(field.fieldname);
		items.push({
			path: `${prefix}.${field.fieldname}`,
			label: field.label ? __(field.label) : field.fieldname,
			fieldtype: field.fieldtype || "",
			options:
				field.fieldtype === "Select"
					? String(field.options || "")
							.split("\n")
							.filter(Boolean)
					: [],
		});
	}
	return items;
}

/**
 * What a template or a condition can use, in groups: the document (fields of `doctype` from its
 * meta), the customer, the run's variables, earlier steps, the run and `now`.
 * Each item: {path, label, fieldtype, options}.
 */
export function variable_groups({
	doctype = null,
	doc_fields = [],
	customer_fields = [],
	definition = null,
} = {}) {
	const groups = [];
	groups.push({
		key: "doc",
		title: doctype ? __("Document ({0})", [__(doctype)]) : __("Document"),
		items: doc_items("doc", doc_fields),
	});
	groups.push({
		key: "customer",
		title: __("Customer"),
		items: doc_items("customer", customer_fields),
	});
	const variables =
		definition && definition.variables && typeof definition.variables === "object"
			? definition.variables
			: {};
	groups.push({
		key: "variables",
		title: __("Run variables"),
		items: Object.keys(variables).map((name) => ({
			path: `variables.${name}`,
			label: name,
			fieldtype: typeof variables[name],
			options: [],
		})),
	});
	const steps = (definition && Array.isArray(definition.steps) ? definition.steps : []).filter(
		(step) => step && step.id
	);
	groups.push({
		key: "steps",
		title: __("Earlier steps"),
		items: steps.flatMap((step) => [
			{
				path: `steps.${step.id}.status`,
				label: __("{0}: status", [label_of(definition, step.id)]),
				fieldtype: "",
				options: [],
			},
			{
				path: `steps.${step.id}.result`,
				label: __("{0}: result", [label_of(definition, step.id)]),
				fieldtype: "",
				options: [],
			},
		]),
	});
	groups.push({
		key: "run",
		title: __("Run"),
		items: [
			{
				path: "now",
				label: __("Now (ISO date and time)"),
				fieldtype: "Datetime",
				options: [],
			},
			{ path: "run.name", label: __("Run ID"), fieldtype: "Data", options: [] },
			{
				path: "run.started_at",
				label: __("Run started at"),
				fieldtype: "Datetime",
				options: [],
			},
			{ path: "template.name", label: __("Template ID"), fieldtype: "Data", options: [] },
			{
				path: "template.template_name",
				label: __("Template name"),
				fieldtype: "Data",
				options: [],
			},
			{
				path: "input",
				label: __("Input of a completed waiting step"),
				fieldtype: "",
				options: [],
			},
		],
	});
	return groups;
}

/** Items of the groups whose path or label contains the query (case-insensitive). */
export function filter_variables(groups, query) {
	const needle = String(query || "")
		.trim()
		.toLowerCase();
	if (!needle) return groups;
	return groups
		.map((group) => ({
			...group,
			items: group.items.filter(
				(item) =>
					item.path.toLowerCase().includes(needle) ||
					String(item.label).toLowerCase().includes(needle)
			),
		}))
		.filter((group) => group.items.length);
}

/** How a picked variable is written: a template for text fields, a bare path for path fields. */
export function variable_snippet(path, mode = "template") {
	if (mode === "path") return path;
	if (mode === "jsonlogic") return JSON.stringify({ var: path });
	return `{{ ${path} }}`;
}

/** Insert `snippet` into `text` over the selection [start, end); returns {text, cursor}. */
export function insert_at(text, snippet, start, end = start) {
	const value = String(text ?? "");
	const from = Math.max(
		0,
		Math.min(Number.isInteger(start) ? start : value.length, value.length)
	);
	const to = Math.max(from, Math.min(Number.isInteger(end) ? end : from, value.length));
	return {
		text: value.slice(0, from) + snippet + value.slice(to),
		cursor: from + snippet.length,
	};
}

// --- JsonLogic examples ---------------------------------------------------------------------------

const NUMERIC_TYPES = new Set(["Int", "Float", "Currency", "Percent"]);
const DATE_TYPES = new Set(["Date", "Datetime"]);

/** Example trigger conditions built from the doctype's own fields: [{title, rule}]. */
export function condition_examples(doctype, fields = []) {
	const skip = new Set(["naming_series", "amended_from", "lft", "rgt", "old_parent"]);
	const weight = (field) =>
		(field.fieldname === "status" ? 10 : 0) +
		2 * (field.in_standard_filter ? 1 : 0) +
		2 * (field.in_list_view ? 1 : 0) +
		(field.reqd ? 1 : 0) +
		(field.bold ? 1 : 0);
	const usable = (fields || [])
		.filter(
			(field) =>
				field &&
				field.fieldname &&
				!NO_VALUE_TYPES.has(field.fieldtype) &&
				!field.hidden &&
				!skip.has(field.fieldname)
		)
		.map((field, index) => ({ field, index }))
		.sort((a, b) => weight(b.field) - weight(a.field) || a.index - b.index)
		.map(({ field }) => field);
	const pick = (test) => usable.find(test);
	const v = (name) => ({ var: `doc.${name}` });
	const label = (field) => (field.label ? __(field.label) : field.fieldname);
	const examples = [];
	const status = pick((f) => f.fieldtype === "Select");
	if (status) {
		const options = String(status.options || "")
			.split("\n")
			.filter(Boolean);
		if (options.length) {
			examples.push({
				title: __("{0} is {1}", [label(status), options[0]]),
				rule: { "==": [v(status.fieldname), options[0]] },
			});
		}
		if (options.length > 1) {
			examples.push({
				title: __("{0} is one of {1}", [label(status), options.slice(0, 2).join(", ")]),
				rule: { in: [v(status.fieldname), options.slice(0, 2)] },
			});
		}
	}
	const check = pick((f) => f.fieldtype === "Check");
	if (check)
		examples.push({
			title: __("{0} is ticked", [label(check)]),
			rule: { "==": [v(check.fieldname), 1] },
		});
	const number =
		pick((f) =>
			["grand_total", "base_grand_total", "total", "amount"].includes(f.fieldname)
		) || pick((f) => NUMERIC_TYPES.has(f.fieldtype));
	if (number) {
		examples.push({
			title: __("{0} above 1000", [label(number)]),
			rule: { ">": [v(number.fieldname), 1000] },
		});
	}
	const link = pick((f) => f.fieldtype === "Link" && f.fieldname !== "naming_series");
	if (link) {
		examples.push({
			title: __("{0} is set", [label(link)]),
			rule: { "!!": [v(link.fieldname)] },
		});
	}
	const date = pick((f) => DATE_TYPES.has(f.fieldtype));
	if (date) {
		examples.push({
			title: __("{0} on or before a date", [label(date)]),
			rule: { "<=": [v(date.fieldname), "2026-12-31"] },
		});
	}
	if (examples.length >= 2) {
		examples.push({
			title: __("Both of the first two"),
			rule: { and: [examples[0].rule, examples[1].rule] },
		});
	}
	examples.push({
		title: __("Customer is a company"),
		rule: { "==": [{ var: "customer.customer_type" }, "Company"] },
	});
	examples.push({
		title: __("A run variable is set"),
		rule: { "!!": [{ var: "variables.subscription" }] },
	});
	return examples.map((example) => ({ ...example, doctype }));
}

/**
 * Quick check of a condition's text before the server sees it: null if fine (or empty, meaning
 * "always"), else a message. JsonLogic rules are objects with exactly one operator.
 */
export function condition_problem(text) {
	if (text === null || text === undefined || !String(text).trim()) return null;
	let rule;
	try {
		rule = JSON.parse(text);
	} catch (e) {
		return __("invalid JSON: {0}", [e.message]);
	}
	if (typeof rule === "boolean") return null;
	if (!rule || typeof rule !== "object" || Array.isArray(rule)) {
		return __("a condition is a JsonLogic object such as {0}", [
			'{"==": [{"var": "doc.status"}, "Open"]}',
		]);
	}
	const keys = Object.keys(rule);
	if (keys.length !== 1)
		return __("a JsonLogic rule has exactly one operator, not {0}", [keys.length]);
	return null;
}

// --- events ---------------------------------------------------------------------------------------

/**
 * The events a new template for `doctype` may start on: the named events of that doctype first
 * (an event's `doctype` when the catalog sends it, else its description naming the doctype),
 * then manual, then the generic document events.
 */
export function events_for(events, doctype) {
	const lower = String(doctype || "").toLowerCase();
	const list = Array.isArray(events) ? events : [];
	const named = list.filter(
		(e) =>
			!e.needs_doctype &&
			!ALWAYS_OFFERED.includes(e.name) &&
			(e.doctype === doctype ||
				(!e.doctype &&
					lower &&
					String(e.description || "")
						.toLowerCase()
						.startsWith(lower + " ")))
	);
	const always = list.filter((e) => ALWAYS_OFFERED.includes(e.name));
	const generic = list.filter((e) => e.needs_doctype);
	return [...named, ...always, ...generic];
}

// events that concern no particular doctype's named event: offered for every doctype
const ALWAYS_OFFERED = ["manual", "on_schedule"];

// --- icons ----------------------------------------------------------------------------------------

// The kinds name Material icons; the desk draws Frappe's own sprite. Names that exist in both
// pass through; these are the built-in kinds' icons mapped to the nearest Frappe icon.
const ICON_ALIASES = {
	engineering: "tool",
	support_agent: "support",
	notifications: "notification",
	webhook: "integration",
	edit_note: "edit",
	hourglass_empty: "today",
	call_split: "branch",
	alt_route: "branch",
	autorenew: "refresh",
	mail: "mail",
	build: "tool",
	home: "home",
	note_add: "file",
	assignment_ind: "assign",
	exposure_plus_1: "add",
	comment: "comment",
	pending_actions: "today",
	account_tree: "workflow",
};

/** The Frappe icon to try for a kind's icon name, and a letter to show if there is none. */
export function icon_for(icon, label = "") {
	const name = String(icon || "").trim();
	return {
		frappe_icon: ICON_ALIASES[name] || name.replace(/_/g, "-"),
		letter: (String(label || name).trim()[0] || "?").toUpperCase(),
	};
}

// --- kind catalogs ------------------------------------------------------------------------------

/**
 * The kinds the palette offers for a definition: those of the catalog it names (`catalog`), in
 * the catalog's order; every kind for the default catalog, or when the catalog is unknown here
 * (validation names the problem).
 */
export function kinds_of_catalog(kinds, catalogs, name) {
	const all = kinds && typeof kinds === "object" ? kinds : {};
	const catalog = name && catalogs && catalogs[name];
	if (!catalog || !Array.isArray(catalog.kinds)) return all;
	const chosen = {};
	for (const kind of catalog.kinds) if (all[kind]) chosen[kind] = all[kind];
	return chosen;
}
