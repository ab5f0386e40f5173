"""The JSON Schema of the flow language, generated from the kind registry and the event table.

`flow_definition.schema.json` beside this file is the published copy (a test keeps it equal to
`build_schema()`). The schema describes shape and types; the validator checks what a schema
cannot (references between steps, cycles, branch labels, template syntax).
"""

from __future__ import annotations

from .definition import JOIN_MODES, SCHEMA_VERSION, STEP_TRIGGER_TYPES
from .events import event_names
from .kinds.registry import FieldSpec, KindRegistry
from .limits import MAX_DEPENDS_ON, MAX_LABEL_LENGTH, MAX_STEP_ID_LENGTH, MAX_STEPS
from .starts import OFFSET_UNITS

SCHEMA_FILE = "flow_definition.schema.json"
_TEMPLATE = {"type": "string", "pattern": r"\{\{|\{%"}


def _field_schema(spec: FieldSpec) -> dict:
	schema: dict
	if spec.type in ("data", "text"):
		schema = {"type": ["string", "number"]}
	elif spec.type == "int":
		schema = {"anyOf": [{"type": "integer"}, {"type": "string"}]}
	elif spec.type == "float":
		schema = {"anyOf": [{"type": "number"}, {"type": "string"}]}
	elif spec.type == "select":
		schema = {"anyOf": [{"enum": list(spec.options)}, _TEMPLATE]}
	elif spec.type == "datetime":
		schema = {"type": "string"}
	elif spec.type == "check":
		schema = {"enum": [True, False, 0, 1]}
	elif spec.type == "json":
		schema = {
			"type": ["object", "string"] if spec.options == ("object",) else ["object", "array", "string"]
		}
	elif spec.type == "path":
		schema = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_-]+)*$"}
	elif spec.type == "jsonlogic":
		schema = {"type": ["object", "string", "null"]}
	else:  # table
		schema = {"type": "array", "items": _object_schema(spec.fields)}
	schema["title"] = spec.label
	if spec.description:
		schema["description"] = spec.description
	if spec.default is not None:
		schema["default"] = spec.default
	return schema


def _object_schema(fields: tuple[FieldSpec, ...]) -> dict:
	properties = {}
	for spec in fields:
		field_schema = _field_schema(spec)
		if not spec.required:
			field_schema = {"anyOf": [field_schema, {"type": "null"}], "title": spec.label}
		properties[spec.name] = field_schema
	schema = {"type": "object", "properties": properties, "additionalProperties": False}
	required = [spec.name for spec in fields if spec.required]
	if required:
		schema["required"] = required
	return schema


def build_schema(registry: KindRegistry | None = None) -> dict:
	if registry is None:
		from . import registry as default_registry

		registry = default_registry
	number = {"type": ["number", "string"]}
	step_trigger = {
		"type": "object",
		"properties": {
			"type": {"enum": list(STEP_TRIGGER_TYPES)},
			"delay_hours": {"anyOf": [number, {"type": "null"}]},
			"delay_days": {"anyOf": [number, {"type": "null"}]},
			"at": {"type": ["string", "null"]},
		},
		"additionalProperties": False,
	}
	retry = {
		"type": "object",
		"properties": {
			"max_attempts": {"type": "integer", "minimum": 1},
			"initial_interval_seconds": {"type": "number", "minimum": 0},
			"backoff_factor": {"type": "number", "minimum": 1},
			"max_interval_seconds": {"type": "number", "minimum": 0},
			"jitter": {"type": "number", "minimum": 0, "maximum": 1},
		},
		"additionalProperties": False,
	}
	kind_rules = [
		{
			"if": {"properties": {"kind": {"const": name}}, "required": ["kind"]},
			"then": {"properties": {"payload": {"$ref": f"#/$defs/payload_{name}"}}},
		}
		for name in registry.names()
	]
	step = {
		"type": "object",
		"required": ["id", "kind"],
		"properties": {
			"id": {
				"type": "string",
				"minLength": 1,
				"maxLength": MAX_STEP_ID_LENGTH,
				"pattern": r"^[A-Za-z0-9_][A-Za-z0-9_.:-]*$",
			},
			"kind": {"enum": registry.names()},
			"label": {"type": ["string", "null"], "maxLength": MAX_LABEL_LENGTH},
			"description": {"type": ["string", "null"]},
			"parent_id": {"type": ["string", "null"]},
			"branch": {"type": ["string", "null"]},
			"depends_on": {
				"type": ["array", "null"],
				"items": {"type": "string"},
				"uniqueItems": True,
				"maxItems": MAX_DEPENDS_ON,
			},
			"join": {"enum": list(JOIN_MODES)},
			"trigger": {"anyOf": [{"$ref": "#/$defs/step_trigger"}, {"type": "null"}]},
			"payload": {"type": ["object", "null"]},
			"retry": {"anyOf": [{"$ref": "#/$defs/retry"}, {"type": "null"}]},
		},
		"patternProperties": {"^_": {}},
		"additionalProperties": False,
		"allOf": kind_rules,
	}
	defs = {"step": step, "step_trigger": step_trigger, "retry": retry}
	for name in registry.names():
		defs[f"payload_{name}"] = {"anyOf": [_object_schema(registry.get(name).fields), {"type": "null"}]}
	return {
		"$schema": "https://json-schema.org/draft/2020-12/schema",
		"$id": f"urn:flow-engine:flow-definition:{SCHEMA_VERSION}",
		"title": "flow_engine flow definition",
		"description": "A flow of steps run by flow_engine. References between steps, cycles and branch labels are checked by `flow-engine validate`, not by this schema.",
		"x-schema-version": SCHEMA_VERSION,
		"type": "object",
		"required": ["steps"],
		"properties": {
			"$schema": {"type": "string"},
			"version": {"const": SCHEMA_VERSION},
			"name": {"type": "string"},
			"description": {"type": "string"},
			"catalog": {
				"type": ["string", "null"],
				"description": "The kind catalog the flow is made from (default: every kind)",
				"examples": list(registry.catalogs()),
			},
			"trigger": {
				"type": ["object", "null"],
				"properties": {
					"event": {"type": "string", "examples": event_names()},
					"condition": {
						"type": ["object", "string", "null"],
						"description": "JsonLogic rule over doc, customer and variables",
					},
					"doctype": {"type": ["string", "null"]},
					"field": {"type": ["string", "null"]},
					"offset": {
						"type": ["number", "string", "null"],
						"description": "on_date_field: how long before (negative) or after the date",
					},
					"offset_unit": {"enum": [*OFFSET_UNITS, None, ""]},
					"start_past": {
						"type": ["boolean", "integer", "null"],
						"description": "on_date_field: also start documents whose time had passed when they came",
					},
					"schedule": {"type": ["string", "null"], "description": "on_schedule: a cron expression"},
					"filters": {
						"type": ["array", "object", "string", "null"],
						"description": "on_schedule with a doctype: Frappe filters choosing the documents",
					},
				},
				"additionalProperties": False,
			},
			"variables": {"type": ["object", "null"]},
			"retry": {"$ref": "#/$defs/retry"},
			"steps": {"type": "array", "maxItems": MAX_STEPS, "items": {"$ref": "#/$defs/step"}},
		},
		"additionalProperties": False,
		"$defs": defs,
	}
