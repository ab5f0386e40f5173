"""The flow language: parse a definition, validate it, and compile it for the engine.

Accepts the seed's flow JSON as it is (§4 of the seed architecture), and a Flow Template record
exported from the desk (`flow_definition` as an object or a JSON string). Validation collects
every problem, each naming the step and the field, instead of stopping at the first.
"""

from __future__ import annotations

import json
import math
import re
from collections import deque
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime

from .conditions import UNARY_OPERATORS, jsonlogic_problems, parse_jsonlogic
from .errors import DefinitionError, Problem
from .events import get_event
from .i18n import _
from .kinds.registry import FieldSpec, KindRegistry, KindSpec
from .limits import (
	MAX_DEFINITION_BYTES,
	MAX_DEPENDS_ON,
	MAX_JSON_DEPTH,
	MAX_LABEL_LENGTH,
	MAX_STEP_ID_LENGTH,
	MAX_STEPS,
	MAX_TEMPLATE_TOTAL,
)
from .rendering import is_template, template_syntax_error
from .retry import retry_problems
from .starts import DATE_EVENT, MAX_OFFSET_SECONDS, OFFSET_UNITS, SCHEDULE_EVENT, cron_problem, offset_seconds
from .trigger_fields import sync_trigger

SCHEMA_VERSION = 1

STEP_TRIGGER_TYPES = ("on_flow_start", "on_prev_complete", "after_delay", "on_date", "on_webhook", "manual")
INSTANT_TRIGGERS = frozenset({"on_flow_start", "on_prev_complete"})
WAITING_TRIGGERS = frozenset({"on_webhook", "manual"})
JOIN_MODES = ("all", "any")

_FLOW_KEYS = {
	"version",
	"trigger",
	"variables",
	"steps",
	"retry",
	"name",
	"description",
	"catalog",
	"$schema",
}
_FLOW_TRIGGER_KEYS = {
	"event",
	"condition",
	"doctype",
	"field",
	"offset",
	"offset_unit",
	"start_past",
	"schedule",
	"filters",
}
# trigger keys that only some events take
_TIME_TRIGGER_KEYS = {
	"offset": (DATE_EVENT,),
	"offset_unit": (DATE_EVENT,),
	"start_past": (DATE_EVENT,),
	"schedule": (SCHEDULE_EVENT,),
	"filters": (SCHEDULE_EVENT,),
}
FILTER_OPERATORS = (
	"=",
	"!=",
	">",
	"<",
	">=",
	"<=",
	"like",
	"not like",
	"in",
	"not in",
	"is",
	"between",
	"timespan",
)
_STEP_KEYS = {
	"id",
	"kind",
	"label",
	"parent_id",
	"branch",
	"depends_on",
	"join",
	"trigger",
	"payload",
	"retry",
	"description",
}
_STEP_TRIGGER_KEYS = {"type", "delay_hours", "delay_days", "at"}
_STEP_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]*$")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_-]+)*$")


@dataclass(frozen=True)
class StepTrigger:
	type: str
	delay_hours: float = 0.0
	delay_days: float = 0.0
	at: str | None = None

	@property
	def delay_seconds(self) -> float:
		return self.delay_hours * 3600 + self.delay_days * 86400


@dataclass(frozen=True, eq=False)
class Step:
	id: str
	kind: str
	label: str
	parent_id: str | None
	branch: str | None
	depends_on: tuple[str, ...]
	join: str
	trigger: StepTrigger
	payload: dict
	retry: dict | None


@dataclass(frozen=True)
class FlowTrigger:
	event: str = "manual"
	condition: object = None  # a JsonLogic rule, or None for "always"
	doctype: str | None = None
	field: str | None = None
	offset_seconds: float = 0.0  # on_date_field: negative before the date, positive after
	start_past: bool = False  # on_date_field: start documents whose time had passed when they came
	schedule: str | None = None  # on_schedule: a cron expression
	filters: object = None  # on_schedule with a doctype: Frappe filters choosing the documents


@dataclass(frozen=True, eq=False)
class FlowDefinition:
	version: int
	trigger: FlowTrigger
	variables: dict
	retry: dict | None
	steps: tuple[Step, ...]
	raw: dict  # the definition as data: what a run snapshots and a store saves
	by_id: dict[str, Step] = field(repr=False)
	followers: dict[str, tuple[str, ...]] = field(repr=False)  # children and dependents of each step
	order: tuple[str, ...] = field(repr=False)  # a topological order


@dataclass(frozen=True)
class TemplateRecord:
	"""The Flow Template fields that came with a definition exported from the desk."""

	name: str | None = None
	template_name: str | None = None
	applies_to: str | None = None
	version: int | None = None
	meta: dict = field(default_factory=dict)


# --- entry points -------------------------------------------------------------------------------


def load_definition(source, registry: KindRegistry | None = None) -> FlowDefinition:
	"""Parse, validate and compile; raises DefinitionError listing every problem."""
	definition, problems = check_definition(source, registry)
	if problems:
		raise DefinitionError(problems)
	return definition


def validate_definition(source, registry: KindRegistry | None = None) -> list[Problem]:
	return check_definition(source, registry)[1]


def check_definition(
	source, registry: KindRegistry | None = None
) -> tuple[FlowDefinition | None, list[Problem]]:
	registry = registry or _default_registry()
	data, _record, problems = read_source(source)
	if problems:
		return None, problems
	budget = _template_budget.set([0, set(), False])
	try:
		return _check_flow(data, registry)
	finally:
		_template_budget.reset(budget)


# Template text compiled so far in the definition being checked: compiling is what costs time.
_template_budget: ContextVar[list | None] = ContextVar("template_budget", default=None)


def _template_error(text: str) -> str | None:
	"""Syntax check of one template; distinct template text past the budget is not compiled.
	The problem is reported once, on the first template over the budget."""
	budget = _template_budget.get()
	if budget is not None and text not in budget[1]:
		budget[1].add(text)  # compiled templates are cached: only new text costs time
		budget[0] += len(text)
		if budget[0] > MAX_TEMPLATE_TOTAL:
			if budget[2]:
				return None
			budget[2] = True
			return f"the definition's distinct templates total more than {MAX_TEMPLATE_TOTAL} characters"
	return template_syntax_error(text)


def read_source(source) -> tuple[dict | None, TemplateRecord | None, list[Problem]]:
	"""JSON text, bytes or data → (definition dict, template record or None, problems)."""
	if isinstance(source, bytes | bytearray):
		if len(source) > MAX_DEFINITION_BYTES:
			return None, None, [_too_big()]
		try:
			source = source.decode("utf-8-sig")  # a BOM is harmless
		except UnicodeDecodeError as exc:
			return (
				None,
				None,
				[Problem(None, "json", _("not UTF-8 text ({0} at byte {1})").format(exc.reason, exc.start))],
			)
	if isinstance(source, str):
		data, problem = _parse_json(source, "json")
		if problem:
			return None, None, [problem]
	else:
		# A private deep copy: the definition a run snapshots must not change when the caller's
		# dict does, and whatever is not plain JSON is refused here rather than at save time.
		try:
			data = strict_json_loads(json.dumps(source, allow_nan=False))
		except RecursionError:
			return (
				None,
				None,
				[Problem(None, "json", _("nested deeper than {0} levels").format(MAX_JSON_DEPTH))],
			)
		except (TypeError, ValueError, OverflowError) as exc:
			return None, None, [Problem(None, "json", _("not plain JSON data: {0}").format(exc))]
	if isinstance(data, list):
		if len(data) != 1:
			return (
				None,
				None,
				[Problem(None, "json", _("expected one flow, found a list of {0}").format(len(data)))],
			)
		data = data[0]
	if not isinstance(data, Mapping):
		return (
			None,
			None,
			[Problem(None, "json", _("a flow must be a JSON object, not {0}").format(_type_name(data)))],
		)
	if "flow_definition" in data:
		return _read_record(data)
	return dict(data), None, []


def _read_record(record: Mapping):
	inner = record.get("flow_definition")
	if isinstance(inner, str):
		inner, problem = _parse_json(inner, "flow_definition")
		if problem:
			return None, None, [problem]
	if not isinstance(inner, Mapping):
		return (
			None,
			None,
			[Problem(None, "flow_definition", _("must be a JSON object, not {0}").format(_type_name(inner)))],
		)
	data = dict(inner)
	# The record's trigger fields and the definition's trigger must agree (trigger_fields.py).
	synced = sync_trigger(record, data.get("trigger"))
	if synced.problems:
		return None, None, synced.problems
	trigger = synced.trigger
	if isinstance(trigger, dict):
		if not trigger.get("doctype") and record.get("applies_to"):
			event = get_event(trigger.get("event"))
			if event and event.needs_doctype:
				trigger["doctype"] = record["applies_to"]
		data["trigger"] = trigger
	version = record.get("version")
	meta = TemplateRecord(
		name=record.get("name"),
		template_name=record.get("template_name"),
		applies_to=record.get("applies_to"),
		version=version if isinstance(version, int) else None,
		meta={k: v for k, v in record.items() if k != "flow_definition"},
	)
	return data, meta, []


def _parse_json(text: str, field_name: str):
	if len(text.encode("utf-8", "surrogatepass")) > MAX_DEFINITION_BYTES:
		return None, _too_big(field_name)
	try:
		return strict_json_loads(text.lstrip("\ufeff")), None
	except RecursionError:
		return None, Problem(None, field_name, _("JSON nested too deeply"))
	except json.JSONDecodeError as exc:
		msg, pos = _json_error(exc)
		line = exc.doc.count("\n", 0, pos) + 1
		column = pos - exc.doc.rfind("\n", 0, pos)
		return None, Problem(
			None, field_name, _("invalid JSON: {0} (line {1}, column {2})").format(msg, line, column)
		)
	except ValueError as exc:
		return None, Problem(None, field_name, _("invalid JSON: {0}").format(exc))


def _json_error(exc: json.JSONDecodeError) -> tuple[str, int]:
	"""The parser's message and position, in the words of CPython 3.13+ on every Python: a comma
	before a closing bracket is a trailing comma (3.11 and 3.12 say "Expecting property name…" or
	"Expecting value" one character later)."""
	text, pos = exc.doc, exc.pos
	before = pos - 1
	while before >= 0 and text[before] in " \t\r\n":
		before -= 1
	if before >= 0 and text[before] == "," and pos < len(text) and text[pos] in "}]":
		kind = "object" if text[pos] == "}" else "array"
		return f"Illegal trailing comma before end of {kind}", before
	return exc.msg, pos


class _StrictJSONError(ValueError):
	pass


def _reject_constant(name: str):
	raise _StrictJSONError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
	if len(text) > 100:
		raise _StrictJSONError(f"number with {len(text)} digits is too long")
	return int(text)


def _no_duplicate_keys(pairs):
	data = {}
	for key, value in pairs:
		if key in data:
			raise _StrictJSONError(f"duplicate key {key[:80]!r}")
		data[key] = value
	return data


def strict_json_loads(text: str):
	"""json.loads that refuses NaN/Infinity, absurdly long numbers and duplicate keys (which the
	browser's JSON.parse and the desk editor would read differently)."""
	return json.loads(
		text, parse_constant=_reject_constant, parse_int=_bounded_int, object_pairs_hook=_no_duplicate_keys
	)


def _too_big(field_name: str = "json") -> Problem:
	return Problem(
		None, field_name, _("definition larger than {0} MiB").format(MAX_DEFINITION_BYTES // (1024 * 1024))
	)


def _default_registry() -> KindRegistry:
	from . import registry

	return registry


# --- validation ---------------------------------------------------------------------------------


def _check_flow(data: dict, registry: KindRegistry) -> tuple[FlowDefinition | None, list[Problem]]:
	problems: list[Problem] = []
	add = problems.append

	for key in data:
		if key not in _FLOW_KEYS:
			add(
				Problem(
					None,
					str(key)[:80],
					_("unknown key (known: {0})").format(", ".join(sorted(_FLOW_KEYS - {"$schema"}))),
				)
			)

	for key in ("name", "description", "$schema"):
		if data.get(key) is not None and not isinstance(data[key], str):
			add(Problem(None, key, _("must be a string, not {0}").format(_type_name(data[key]))))

	version = data.get("version", SCHEMA_VERSION)
	if isinstance(version, bool) or not isinstance(version, int):
		add(Problem(None, "version", _("must be a whole number")))
	elif version != SCHEMA_VERSION:
		add(
			Problem(
				None,
				"version",
				_("unsupported version {0} (this flow_engine reads {1})").format(version, SCHEMA_VERSION),
			)
		)

	trigger = _check_flow_trigger(data.get("trigger"), add)

	variables = data.get("variables", {})
	if variables is None:
		variables = {}
	if not isinstance(variables, Mapping):
		add(Problem(None, "variables", _("must be an object, not {0}").format(_type_name(variables))))
		variables = {}
	elif _depth(variables) > MAX_JSON_DEPTH:
		add(Problem(None, "variables", _("nested deeper than {0} levels").format(MAX_JSON_DEPTH)))

	problems.extend(retry_problems(data.get("retry"), None))

	raw_steps = data.get("steps")
	if raw_steps is None:
		add(Problem(None, "steps", _("required")))
		raw_steps = []
	elif not isinstance(raw_steps, list):
		add(Problem(None, "steps", _("must be a list, not {0}").format(_type_name(raw_steps))))
		raw_steps = []
	elif len(raw_steps) > MAX_STEPS:
		add(Problem(None, "steps", _("{0} steps; at most {1} are allowed").format(len(raw_steps), MAX_STEPS)))
		raw_steps = []

	# First pass: ids, so that references can be checked in any order.
	ids: dict[str, Mapping] = {}
	for position, raw in enumerate(raw_steps):
		if not isinstance(raw, Mapping):
			add(Problem(f"#{position + 1}", "step", _("must be an object, not {0}").format(_type_name(raw))))
			continue
		step_id = raw.get("id")
		if not isinstance(step_id, str) or not step_id:
			add(Problem(f"#{position + 1}", "id", _("required (a non-empty string)")))
		elif len(step_id) > MAX_STEP_ID_LENGTH:
			add(Problem(f"#{position + 1}", "id", _("longer than {0} characters").format(MAX_STEP_ID_LENGTH)))
		elif not _STEP_ID.fullmatch(step_id):
			add(Problem(step_id, "id", _("may contain only letters, digits and _ . : -")))
		elif step_id in ids:
			add(Problem(step_id, "id", _("duplicate step id")))
		else:
			ids[step_id] = raw

	steps: list[Step] = []
	for step_id, raw in ids.items():
		step = _check_step(step_id, raw, ids, registry, add)
		if step is not None:
			steps.append(step)
	_check_catalog(data.get("catalog"), ids, registry, add)

	order = _topological_order(ids, add)
	if problems or order is None:
		return None, problems

	by_id = {step.id: step for step in steps}
	followers: dict[str, list[str]] = {step.id: [] for step in steps}
	for step in steps:
		if step.parent_id:
			followers[step.parent_id].append(step.id)
		for dep in step.depends_on:
			if dep != step.parent_id:
				followers[dep].append(step.id)
	definition = FlowDefinition(
		version=SCHEMA_VERSION,
		trigger=trigger,
		variables=dict(variables),
		retry=dict(data["retry"]) if data.get("retry") else None,
		steps=tuple(steps),
		raw=dict(data),
		by_id=by_id,
		followers={key: tuple(value) for key, value in followers.items()},
		order=order,
	)
	return definition, []


def _check_catalog(name, ids: Mapping[str, Mapping], registry: KindRegistry, add) -> None:
	"""A definition that names its catalog uses only that catalog's kinds."""
	if name in (None, ""):
		return
	if not isinstance(name, str):
		add(Problem(None, "catalog", _("must be a string, not {0}").format(_type_name(name))))
		return
	kinds = registry.catalog_kinds(name)
	if kinds is None:
		add(
			Problem(
				None,
				"catalog",
				_("unknown catalog {0} (known: {1})").format(repr(name[:80]), ", ".join(registry.catalogs())),
			)
		)
		return
	for step_id, raw in ids.items():
		kind = raw.get("kind")
		if isinstance(kind, str) and kind in registry and kind not in kinds:
			add(
				Problem(
					step_id,
					"kind",
					_("{0} is not in catalog {1} (its kinds: {2})").format(
						repr(kind), name, ", ".join(kinds)
					),
				)
			)


def _check_flow_trigger(raw, add) -> FlowTrigger:
	if raw is None:
		return FlowTrigger()
	if not isinstance(raw, Mapping):
		add(Problem(None, "trigger", _("must be an object, not {0}").format(_type_name(raw))))
		return FlowTrigger()
	for key in raw:
		if key not in _FLOW_TRIGGER_KEYS:
			add(
				Problem(
					None,
					f"trigger.{str(key)[:80]}",
					_("unknown key (known: {0})").format(", ".join(sorted(_FLOW_TRIGGER_KEYS))),
				)
			)
	event_name = raw.get("event")
	if event_name in (None, ""):
		event_name = "manual"
	event = get_event(event_name)
	if not isinstance(event_name, str):
		add(Problem(None, "trigger.event", _("must be a string, not {0}").format(_type_name(event_name))))
		event_name = "manual"
	elif event is None:
		add(Problem(None, "trigger.event", _("unknown event {0}").format(repr(str(event_name)[:80]))))
	doctype, field_name = raw.get("doctype"), raw.get("field")
	for key, value in (("doctype", doctype), ("field", field_name)):
		if value is not None and not isinstance(value, str):
			add(Problem(None, f"trigger.{key}", _("must be a string")))
	if event and event.needs_doctype and not doctype:
		add(Problem(None, "trigger.doctype", _("required for event {0}").format(event.name)))
	if event and event.needs_field and not field_name:
		add(Problem(None, "trigger.field", _("required for event {0}").format(event.name)))
	condition = None
	try:
		condition = parse_jsonlogic(raw.get("condition"))
	except ValueError as exc:
		add(Problem(None, "trigger.condition", str(exc)))
	else:
		if condition is not None:
			for problem in jsonlogic_problems(condition):
				add(problem)
	time_values = _check_time_trigger(raw, str(event_name), add)
	return FlowTrigger(
		event=str(event_name),
		condition=condition,
		doctype=doctype if isinstance(doctype, str) else None,
		field=field_name if isinstance(field_name, str) else None,
		**time_values,
	)


def _check_time_trigger(raw: Mapping, event: str, add) -> dict:
	"""The keys of date-based and scheduled starts (runtime/starts.py)."""
	for key, events in _TIME_TRIGGER_KEYS.items():
		if raw.get(key) not in (None, "") and event not in events:
			add(Problem(None, f"trigger.{key}", _("only for event {0}").format(" / ".join(events))))
	values: dict = {}
	if event == DATE_EVENT:
		offset, unit = raw.get("offset"), raw.get("offset_unit")
		number = 0.0 if offset in (None, "") else _as_number(offset)
		if number is None:
			add(Problem(None, "trigger.offset", _("must be a number (negative: before the date)")))
			number = 0.0
		if unit not in (None, "") and unit not in OFFSET_UNITS:
			add(Problem(None, "trigger.offset_unit", _("must be one of {0}").format(", ".join(OFFSET_UNITS))))
			unit = None
		seconds = offset_seconds(number, unit)
		if abs(seconds) > MAX_OFFSET_SECONDS:
			add(Problem(None, "trigger.offset", _("more than ten years")))
		start_past = raw.get("start_past")
		if start_past not in (None, True, False, 0, 1):
			add(Problem(None, "trigger.start_past", _("must be true or false")))
		values.update(offset_seconds=seconds, start_past=bool(start_past in (True, 1)))
	elif event == SCHEDULE_EVENT:
		problem = cron_problem(raw.get("schedule"))
		if problem:
			add(Problem(None, "trigger.schedule", problem))
		filters = raw.get("filters")
		if filters not in (None, "", [], {}):
			if not raw.get("doctype"):
				add(
					Problem(
						None,
						"trigger.filters",
						_("only with trigger.doctype (one run per matching document)"),
					)
				)
			for message in filter_problems(filters):
				add(Problem(None, "trigger.filters", message))
		if raw.get("field") not in (None, ""):
			add(Problem(None, "trigger.field", _("not used by event {0}").format(SCHEDULE_EVENT)))
		values.update(schedule=raw.get("schedule") if isinstance(raw.get("schedule"), str) else None)
		values.update(filters=filters if filters not in ("", [], {}) else None)
	return values


def filter_problems(filters) -> list[str]:
	"""Frappe's filter shapes: {"field": value | [op, value]} or [[field, op, value], …]."""
	if isinstance(filters, str):
		try:
			filters = strict_json_loads(filters)
		except ValueError as exc:
			return [_("not valid JSON: {0}").format(exc)]
	if isinstance(filters, Mapping):
		rows = [
			[key, *(value if isinstance(value, list) and len(value) == 2 else ["=", value])]
			for key, value in filters.items()
		]
	elif isinstance(filters, list):
		rows = filters
	else:
		return [_("must be a list of [field, operator, value] or an object")]
	problems = []
	for index, row in enumerate(rows):
		if not isinstance(row, list) or len(row) not in (3, 4):
			problems.append(_("row {0}: must be [field, operator, value]").format(index + 1))
			continue
		field_name, operator = row[-3], row[-2]
		if not isinstance(field_name, str) or not _PATH.fullmatch(field_name):
			problems.append(
				_("row {0}: {1} is not a field name").format(index + 1, repr(str(field_name)[:80]))
			)
		if not isinstance(operator, str) or operator.lower() not in FILTER_OPERATORS:
			problems.append(
				_("row {0}: unknown operator {1} (known: {2})").format(
					index + 1, repr(str(operator)[:40]), ", ".join(FILTER_OPERATORS)
				)
			)
	return problems


def _check_step(step_id: str, raw: Mapping, ids: Mapping, registry: KindRegistry, add) -> Step | None:
	count = _Counter(add)
	add = count.add
	for key in raw:
		if key not in _STEP_KEYS and not str(key).startswith("_"):
			add(Problem(step_id, str(key)[:80], _("unknown key")))

	kind_name = raw.get("kind")
	spec = registry.get(kind_name)
	if spec is None:
		known = ", ".join(registry.names())
		if kind_name in (None, ""):
			add(Problem(step_id, "kind", _("required (known: {0})").format(known)))
		elif not isinstance(kind_name, str):
			add(Problem(step_id, "kind", _("must be a string, not {0}").format(_type_name(kind_name))))
		else:
			add(
				Problem(
					step_id, "kind", _("unknown kind {0} (known: {1})").format(repr(kind_name[:80]), known)
				)
			)

	if raw.get("description") is not None and not isinstance(raw["description"], str):
		add(
			Problem(
				step_id, "description", _("must be a string, not {0}").format(_type_name(raw["description"]))
			)
		)

	label = raw.get("label", step_id)
	if label is None:
		label = step_id
	if not isinstance(label, str):
		add(Problem(step_id, "label", _("must be a string")))
	elif len(label) > MAX_LABEL_LENGTH:
		add(Problem(step_id, "label", _("longer than {0} characters").format(MAX_LABEL_LENGTH)))

	parent_id = raw.get("parent_id")
	parent = None
	if parent_id is not None:
		if not isinstance(parent_id, str):
			add(Problem(step_id, "parent_id", _("must be a step id or null")))
		elif parent_id == step_id:
			add(Problem(step_id, "parent_id", _("a step cannot be its own parent")))
		elif parent_id not in ids:
			add(Problem(step_id, "parent_id", _("no step with id {0}").format(repr(parent_id[:80]))))
		else:
			parent = ids[parent_id]

	branch = raw.get("branch")
	if branch is not None:
		if not isinstance(branch, str):
			add(Problem(step_id, "branch", _("must be a string or null")))
		elif parent_id is None:
			add(Problem(step_id, "branch", _("a branch needs a parent_id")))
		elif parent is not None:
			parent_spec = registry.get(parent.get("kind"))
			if parent_spec is not None:
				labels = parent_spec.branches_for(
					parent.get("payload") if isinstance(parent.get("payload"), Mapping) else {}
				)
				if not parent_spec.has_branches:
					add(
						Problem(
							step_id,
							"branch",
							_("parent {0} ({1}) has no branches").format(parent_id, parent_spec.name),
						)
					)
				elif branch not in labels:
					add(
						Problem(
							step_id,
							"branch",
							_("{0} is not a branch of {1} (branches: {2})").format(
								repr(branch[:80]), parent_id, ", ".join(labels)
							),
						)
					)

	depends_on = raw.get("depends_on")
	if depends_on is None:
		depends_on = []
	if not isinstance(depends_on, list):
		add(Problem(step_id, "depends_on", _("must be a list of step ids")))
		depends_on = []
	elif len(depends_on) > MAX_DEPENDS_ON:
		add(Problem(step_id, "depends_on", _("more than {0} dependencies").format(MAX_DEPENDS_ON)))
		depends_on = []
	seen: set[str] = set()
	for dep in depends_on:
		if not isinstance(dep, str):
			add(Problem(step_id, "depends_on", _("{0} is not a step id").format(_type_name(dep))))
		elif dep == step_id:
			add(Problem(step_id, "depends_on", _("a step cannot depend on itself")))
		elif dep not in ids:
			add(Problem(step_id, "depends_on", _("no step with id {0}").format(repr(dep[:80]))))
		elif dep in seen:
			add(Problem(step_id, "depends_on", _("{0} listed twice").format(repr(dep))))
		else:
			seen.add(dep)

	join = raw.get("join")
	if join is None:
		join = "all"
	if not isinstance(join, str) or join not in JOIN_MODES:
		add(Problem(step_id, "join", _("must be one of {0}").format(", ".join(JOIN_MODES))))

	has_predecessor = bool(parent_id or depends_on)
	trigger = _check_step_trigger(step_id, raw.get("trigger"), has_predecessor, add)

	payload = raw.get("payload")
	if payload is None:
		payload = {}
	if not isinstance(payload, Mapping):
		add(Problem(step_id, "payload", _("must be an object, not {0}").format(_type_name(payload))))
		payload = {}
	elif spec is not None:
		_check_payload(step_id, spec, payload, add)

	for problem in retry_problems(raw.get("retry"), step_id):
		add(problem)

	if count.n:
		return None
	return Step(
		id=step_id,
		kind=spec.name,
		label=label,
		parent_id=parent_id,
		branch=branch,
		depends_on=tuple(depends_on),
		join=join,
		trigger=trigger,
		payload=dict(payload),
		retry=dict(raw["retry"]) if raw.get("retry") else None,
	)


class _Counter:
	def __init__(self, add):
		self._add, self.n = add, 0

	def add(self, problem: Problem) -> None:
		self.n += 1
		self._add(problem)


def _check_step_trigger(step_id: str, raw, has_predecessor: bool, add) -> StepTrigger:
	default = "on_prev_complete" if has_predecessor else "on_flow_start"
	if raw is None:
		return StepTrigger(default)
	if not isinstance(raw, Mapping):
		add(Problem(step_id, "trigger", _("must be an object, not {0}").format(_type_name(raw))))
		return StepTrigger(default)
	for key in raw:
		if key not in _STEP_TRIGGER_KEYS:
			add(Problem(step_id, f"trigger.{str(key)[:80]}", _("unknown key")))
	kind = raw.get("type")
	if kind in (None, ""):
		kind = default
	if not isinstance(kind, str):
		add(Problem(step_id, "trigger.type", _("must be a string, not {0}").format(_type_name(kind))))
		return StepTrigger(default)
	if kind not in STEP_TRIGGER_TYPES:
		add(
			Problem(
				step_id,
				"trigger.type",
				_("unknown trigger type {0} (known: {1})").format(
					repr(kind[:80]), ", ".join(STEP_TRIGGER_TYPES)
				),
			)
		)
		return StepTrigger(default)
	delays = {}
	delay_problem = False
	for key in ("delay_hours", "delay_days"):
		value = raw.get(key)
		if value in (None, ""):
			delays[key] = 0.0
			continue
		number = _as_number(value)
		if number is None:
			add(Problem(step_id, f"trigger.{key}", _("must be a number")))
			number, delay_problem = 0.0, True
		elif number < 0:
			add(Problem(step_id, f"trigger.{key}", _("must not be negative")))
			delay_problem = True
		elif number > 3650 * (24 if key == "delay_hours" else 1):
			add(Problem(step_id, f"trigger.{key}", _("more than ten years")))
			delay_problem = True
		delays[key] = max(number, 0.0)
	at = raw.get("at")
	if (
		kind == "after_delay"
		and not delay_problem
		and delays["delay_hours"] == 0
		and delays["delay_days"] == 0
	):
		add(Problem(step_id, "trigger.delay_hours", _("after_delay needs delay_hours or delay_days above 0")))
	if kind == "on_date":
		if not isinstance(at, str) or not at.strip():
			add(
				Problem(
					step_id,
					"trigger.at",
					_("on_date needs a date or datetime (ISO 8601) or a {{ }} template"),
				)
			)
		elif is_template(at):
			error = _template_error(at)
			if error:
				add(Problem(step_id, "trigger.at", error))
		elif parse_datetime(at) is None:
			add(
				Problem(
					step_id, "trigger.at", _("{0} is not an ISO 8601 date or datetime").format(repr(at[:80]))
				)
			)
	return StepTrigger(kind, delays["delay_hours"], delays["delay_days"], at if isinstance(at, str) else None)


def _check_payload(step_id: str, spec: KindSpec, payload: Mapping, add) -> None:
	for key in payload:
		if spec.field(key) is None:
			known = ", ".join(f.name for f in spec.fields) or "none"
			add(
				Problem(
					step_id,
					f"payload.{str(key)[:80]}",
					_("unknown field for kind {0} (known: {1})").format(spec.name, known),
				)
			)
	for field_spec in spec.fields:
		_check_field(
			step_id, f"payload.{field_spec.name}", field_spec, payload.get(field_spec.name), add, payload
		)
	if spec.check is not None:
		for field_name, message in spec.check(payload):
			add(Problem(step_id, f"payload.{field_name}", message))


def _is_blank(value) -> bool:
	if value is None or value == "" or value == {} or value == []:
		return True
	return isinstance(value, str) and value.strip() in ("{}", "[]")


def _check_field(step_id, where, spec: FieldSpec, value, add, siblings: Mapping) -> None:
	if _is_blank(value):
		needs_value = spec.required and not (spec.name == "value" and siblings.get("op") in UNARY_OPERATORS)
		if needs_value:
			add(Problem(step_id, where, _("required")))
		return
	if _depth(value) > MAX_JSON_DEPTH:
		add(Problem(step_id, where, _("nested deeper than {0} levels").format(MAX_JSON_DEPTH)))
		return
	kind = spec.type
	if isinstance(value, str) and kind not in ("path", "jsonlogic", "json") and is_template(value):
		error = _template_error(value)
		if error:
			add(Problem(step_id, where, error))
		return
	if kind in ("data", "text"):
		if isinstance(value, bool) or not isinstance(value, str | int | float):
			add(Problem(step_id, where, _("must be text, not {0}").format(_type_name(value))))
	elif kind in ("int", "float"):
		number = _as_number(value)
		if number is None:
			add(Problem(step_id, where, _("must be a number")))
		elif kind == "int" and number != int(number):
			add(Problem(step_id, where, _("must be a whole number")))
	elif kind == "select":
		if value not in spec.options:
			add(
				Problem(
					step_id,
					where,
					_("{0} is not one of {1}").format(repr(str(value)[:80]), ", ".join(spec.options)),
				)
			)
	elif kind == "check":
		if value not in (True, False, 0, 1):
			add(Problem(step_id, where, _("must be true or false")))
	elif kind == "datetime":
		if not isinstance(value, str) or parse_datetime(value) is None:
			add(Problem(step_id, where, _("must be an ISO 8601 date or datetime")))
	elif kind == "json":
		_check_json_field(step_id, where, value, add, spec.options)
	elif kind == "path":
		if not isinstance(value, str) or not _PATH.fullmatch(value):
			add(Problem(step_id, where, _("must be a dotted path such as doc.status")))
	elif kind == "jsonlogic":
		try:
			rule = parse_jsonlogic(value)
		except ValueError as exc:
			add(Problem(step_id, where, str(exc)))
		else:
			for problem in jsonlogic_problems(rule, where, step_id):
				add(problem)
	elif kind == "table":
		if not isinstance(value, list):
			add(Problem(step_id, where, _("must be a list of rows")))
			return
		for index, row in enumerate(value):
			if not isinstance(row, Mapping):
				add(Problem(step_id, f"{where}.{index}", _("must be an object")))
				continue
			for key in row:
				if not any(column.name == key for column in spec.fields):
					add(Problem(step_id, f"{where}.{index}.{str(key)[:80]}", _("unknown column")))
			for column in spec.fields:
				_check_field(
					step_id, f"{where}.{index}.{column.name}", column, row.get(column.name), add, row
				)


def _check_json_field(step_id, where, value, add, shapes=()) -> None:
	if isinstance(value, str):
		try:
			value = json.loads(value)
		except RecursionError:
			add(Problem(step_id, where, _("JSON nested too deeply")))
			return
		except ValueError as exc:
			add(
				Problem(
					step_id,
					where,
					_("invalid JSON: {0} (put {{{{ }}}} templates inside JSON strings)").format(
						getattr(exc, "msg", exc)
					),
				)
			)
			return
	if not isinstance(value, dict | list):
		add(Problem(step_id, where, _("must be a JSON object or list")))
		return
	if shapes == ("object",) and not isinstance(value, dict):
		add(Problem(step_id, where, _("must be a JSON object")))
		return
	if _depth(value) > MAX_JSON_DEPTH:
		add(Problem(step_id, where, _("nested deeper than {0} levels").format(MAX_JSON_DEPTH)))
		return
	for text in _strings(value):
		error = _template_error(text)
		if error:
			add(Problem(step_id, where, error))
			return


def _raw_links(ids: Mapping[str, Mapping]) -> dict[str, tuple[set, set]]:
	"""For each step, (ids it depends on, its parent as a set): valid references only."""
	links = {}
	for step_id, raw in ids.items():
		deps = raw.get("depends_on") if isinstance(raw.get("depends_on"), list) else []
		depends = {d for d in deps if isinstance(d, str) and d in ids and d != step_id}
		parent = raw.get("parent_id")
		links[step_id] = (
			depends,
			{parent} if isinstance(parent, str) and parent in ids and parent != step_id else set(),
		)
	return links


def _topological_order(ids: Mapping[str, Mapping], add) -> tuple[str, ...] | None:
	"""Kahn's algorithm over depends_on and parent links together; reports every cycle."""
	links = _raw_links(ids)
	predecessors = {step_id: depends | parent for step_id, (depends, parent) in links.items()}
	followers: dict[str, list[str]] = {step_id: [] for step_id in ids}
	for step_id, before in predecessors.items():
		for other in before:
			followers[other].append(step_id)
	remaining = {step_id: len(before) for step_id, before in predecessors.items()}
	queue = deque(step_id for step_id in ids if remaining[step_id] == 0)
	order = []
	while queue:
		step_id = queue.popleft()
		order.append(step_id)
		for follower in followers[step_id]:
			remaining[follower] -= 1
			if remaining[follower] == 0:
				queue.append(follower)
	if len(order) == len(ids):
		return tuple(order)
	stuck = {step_id for step_id, count in remaining.items() if count > 0}
	for component in _strongly_connected(stuck, predecessors):
		cycle = _find_cycle(component, predecessors)
		path = _cycle_text(cycle)
		in_cycle = set(cycle)
		for step_id in sorted(in_cycle):
			field_name = "depends_on" if in_cycle & links[step_id][0] else "parent_id"
			add(Problem(step_id, field_name, _("cycle: {0}").format(path)))
	return None


def _strongly_connected(nodes: set[str], predecessors: Mapping[str, set]) -> list[set[str]]:
	"""Tarjan's algorithm, iterative; the components that contain a cycle, in a stable order."""
	index: dict[str, int] = {}
	low: dict[str, int] = {}
	on_stack: set[str] = set()
	stack: list[str] = []
	components = []
	counter = 0
	for root in sorted(nodes):
		if root in index:
			continue
		work = [(root, iter(sorted(p for p in predecessors[root] if p in nodes)))]
		index[root] = low[root] = counter
		counter += 1
		stack.append(root)
		on_stack.add(root)
		while work:
			node, edges = work[-1]
			advanced = False
			for other in edges:
				if other not in index:
					index[other] = low[other] = counter
					counter += 1
					stack.append(other)
					on_stack.add(other)
					work.append((other, iter(sorted(p for p in predecessors[other] if p in nodes))))
					advanced = True
					break
				if other in on_stack:
					low[node] = min(low[node], index[other])
			if advanced:
				continue
			work.pop()
			if work:
				parent = work[-1][0]
				low[parent] = min(low[parent], low[node])
			if low[node] == index[node]:
				component = set()
				while True:
					member = stack.pop()
					on_stack.discard(member)
					component.add(member)
					if member == node:
						break
				if len(component) > 1:
					components.append(component)
	return sorted(components, key=min)


def _find_cycle(component: set[str], predecessors: Mapping[str, set]) -> list[str]:
	start = min(component)
	seen: dict[str, int] = {}
	path: list[str] = []
	node = start
	while node not in seen:
		seen[node] = len(path)
		path.append(node)
		node = min(p for p in predecessors[node] if p in component)
	cycle = path[seen[node] :]
	cycle.reverse()  # show it in execution order: a -> b means b waits for a
	return [*cycle, cycle[0]]


def _cycle_text(cycle: list[str]) -> str:
	if len(cycle) <= 9:
		return " -> ".join(cycle)
	return " -> ".join([*cycle[:4], "…", *cycle[-3:]]) + f" ({len(cycle) - 1} steps)"


# --- helpers ------------------------------------------------------------------------------------


def parse_datetime(text: str) -> datetime | None:
	try:
		return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
	except (ValueError, AttributeError, TypeError):
		return None


def _as_number(value) -> float | None:
	if isinstance(value, bool):
		return None
	if isinstance(value, int | float):
		try:
			return float(value) if math.isfinite(value) else None
		except OverflowError:  # an integer too large for a float
			return None
	if isinstance(value, str):
		try:
			number = float(value)
		except ValueError:
			return None
		return number if math.isfinite(number) else None
	return None


def _type_name(value) -> str:
	return {
		dict: "an object",
		list: "a list",
		str: "a string",
		int: "a number",
		float: "a number",
		bool: "a boolean",
		type(None): "null",
	}.get(type(value), type(value).__name__)


def _depth(value, level: int = 0) -> int:
	if level > MAX_JSON_DEPTH:
		return level
	if isinstance(value, Mapping):
		return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
	if isinstance(value, list | tuple):
		return max((_depth(v, level + 1) for v in value), default=level + 1)
	return level


def _strings(value):
	if isinstance(value, str):
		yield value
	elif isinstance(value, Mapping):
		for item in value.values():
			yield from _strings(item)
	elif isinstance(value, list):
		for item in value:
			yield from _strings(item)
