"""One source of truth for a template's trigger: its form fields and its definition's `trigger`.

A Flow Template carries the trigger twice: as fields a person edits in the desk (Trigger Event,
Trigger Condition, Trigger DocType, Trigger Field) and inside `flow_definition.trigger`, which is
what a file exported, validated and simulated carries. Neither may silently overwrite the other:

- a value given in one place only fills the other;
- a value given in both places must agree (conditions are compared as JSON data);
- on an update, the side that changed since the last save wins over the side that did not;
  both changed to different values is refused.

An empty value in the definition (absent, null or "") means "not given" there. An empty field is
"not given" on a new template, and "cleared" when it held a value before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import Problem
from .i18n import _

# (key in the definition's trigger, field of the template, label of the field)
TRIGGER_FIELDS = (
	("event", "trigger_event", "Trigger Event"),
	("condition", "trigger_condition", "Trigger Condition"),
	("doctype", "trigger_doctype", "Trigger DocType"),
	("field", "trigger_field", "Trigger Field"),
	("offset", "trigger_offset", "Offset"),
	("offset_unit", "trigger_offset_unit", "Offset Unit"),
	("start_past", "trigger_start_past", "Start Past Dates"),
	("schedule", "trigger_schedule", "Schedule"),
	("filters", "trigger_filters", "Document Filters"),
)
# A number or check field holds 0 when nobody filled it: that is "not given", as absent is.
ZERO_IS_EMPTY = frozenset({"offset", "start_past"})
JSON_KEYS = frozenset({"condition", "filters"})
DEFAULT_EVENT = "manual"


@dataclass
class TriggerSync:
	trigger: dict  # the definition's trigger as it is to be stored
	fields: dict  # the template's trigger fields as they are to be stored
	problems: list[Problem] = field(default_factory=list)


def sync_trigger(
	fields: Mapping,
	trigger,
	before_fields: Mapping | None = None,
	before_trigger=None,
) -> TriggerSync:
	"""Reconcile the trigger fields with the definition's trigger (see the module's docstring).

	`before_*`: the stored values, for an update; None for a new template. A trigger that is not an
	object is returned as it is, for validation to report."""
	fields = dict(fields)
	if trigger is not None and not isinstance(trigger, Mapping):
		return TriggerSync(trigger, {name: fields.get(name) for _k, name, _l in TRIGGER_FIELDS})
	trigger = dict(trigger or {})
	before_trigger = before_trigger if isinstance(before_trigger, Mapping) else {}
	is_new = before_fields is None
	before_fields = before_fields or {}
	out_fields, problems = {}, []
	for key, name, label in TRIGGER_FIELDS:
		in_field, in_definition = fields.get(name), trigger.get(key)
		field_given, definition_given = not _empty(in_field, key), not _empty(in_definition, key)
		field_changed = not is_new and _comparable(in_field, key) != _comparable(before_fields.get(name), key)
		definition_changed = _comparable(in_definition, key) != _comparable(before_trigger.get(key), key)
		if definition_given and (field_given or field_changed):
			if _comparable(in_field, key) != _comparable(in_definition, key):
				if not is_new and field_changed and not definition_changed:
					definition_given = False  # the field was edited: it wins
				elif not is_new and definition_changed and not field_changed:
					field_given = False  # the definition was edited: it wins
				else:
					problems.append(_disagreement(key, label, in_field, in_definition))
					out_fields[name] = in_field
					continue
		if definition_given and field_given:
			out_fields[name] = in_field  # they agree: each is kept as it was sent
		elif definition_given:
			out_fields[name] = _as_field(key, in_definition)
		elif field_given:
			out_fields[name] = in_field
			trigger[key] = _as_definition(key, in_field)
		else:
			out_fields[name] = DEFAULT_EVENT if key == "event" else in_field
			if key in ZERO_IS_EMPTY and _empty(trigger.get(key), key) and trigger.get(key) not in (None, ""):
				continue  # 0 or false in the definition: kept as sent
			if key == "event":
				trigger[key] = DEFAULT_EVENT
			else:
				trigger.pop(key, None)
	return TriggerSync(trigger, out_fields, problems)


def _empty(value, key: str = "") -> bool:
	if key in ZERO_IS_EMPTY and (value is False or (not isinstance(value, str) and value == 0)):
		return True
	if key in ZERO_IS_EMPTY and isinstance(value, str) and value.strip() in ("0", "0.0"):
		return True
	return value is None or (isinstance(value, str) and not value.strip())


def _comparable(value, key: str = ""):
	"""Values as data: a condition as parsed JSON, whatever its spacing; a number as a number
	(3 and 3.0 agree); empty as None."""
	if _empty(value, key):
		return None
	if key in ZERO_IS_EMPTY:
		try:
			return float(value)
		except (TypeError, ValueError):
			return repr(value)
	if isinstance(value, str):
		try:
			return json.dumps(json.loads(value), sort_keys=True)
		except ValueError:
			return value.strip()
	try:
		return json.dumps(value, sort_keys=True)
	except (TypeError, ValueError):
		return repr(value)


def _as_field(key: str, value):
	"""A definition value as field text (a condition object as its JSON)."""
	if key in JSON_KEYS and not isinstance(value, str):
		return json.dumps(value, ensure_ascii=False)
	if key == "start_past":
		return 1 if value else 0
	return value


def _as_definition(key: str, value):
	"""A field value in the definition: a condition as JSON data when it parses (validation
	reports it otherwise), the rest as it is."""
	if key in JSON_KEYS and isinstance(value, str):
		try:
			return json.loads(value)
		except ValueError:
			return value
	if key == "start_past":
		return bool(value) if not isinstance(value, str) else value.strip() not in ("", "0")
	if key == "offset" and isinstance(value, int | float) and not isinstance(value, bool):
		return int(value) if float(value).is_integer() else value
	return value


def _disagreement(key: str, label: str, in_field, in_definition) -> Problem:
	return Problem(
		None,
		f"trigger.{key}",
		_(
			"the definition says {0} but {1} says {2}: give the same value in both, or in one place only"
		).format(_shown(in_definition), label, _shown(in_field)),
	)


def _shown(value) -> str:
	if _empty(value):
		return "nothing"
	text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
	return repr(text if len(text) <= 120 else text[:119] + "…")
