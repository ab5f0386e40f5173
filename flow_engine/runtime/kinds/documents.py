"""Kinds that act on any document: create one, assign one, set a value (or count), comment on one.

Each acts through the Effects port with the step's idempotency key, so a retry finds what the
first attempt did. A step that names no document acts on the run's own document.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import StepError
from ..i18n import _
from .registry import FieldSpec, KindSpec, StepCall, StepOutcome

SET_OPERATIONS = ("set", "increment", "decrement")
PICK_STRATEGIES = ("round_robin", "least_loaded")


def _target(call: StepCall) -> tuple[str, str]:
	"""The document a step names (doctype + docname), else the run's own."""
	doctype = str(call.payload.get("doctype") or "").strip()
	name = str(call.payload.get("docname") or "").strip()
	if doctype or name:
		if not (doctype and name):
			raise StepError(_("payload.doctype and payload.docname: give both, or neither"), retryable=False)
		return doctype, name
	reference = call.reference or {}
	if not reference.get("doctype") or not reference.get("name"):
		raise StepError(_("payload.docname: the run has no document; name one"), retryable=False)
	return reference["doctype"], reference["name"]


def _both_or_neither(payload: Mapping) -> list[tuple[str, str]]:
	doctype, docname = str(payload.get("doctype") or "").strip(), str(payload.get("docname") or "").strip()
	if bool(doctype) != bool(docname):
		return [("docname" if doctype else "doctype", _("give the document's DocType and name together"))]
	return []


def run_create_document(call: StepCall) -> StepOutcome:
	doctype = str(call.payload.get("doctype") or "").strip()
	if not doctype:
		raise StepError(_("payload.doctype rendered empty"), retryable=False)
	values = call.payload.get("values") or {}
	if not isinstance(values, Mapping) or not values:
		raise StepError(_("payload.values must be a non-empty object"), retryable=False)
	created = call.effects.create_document(
		doctype,
		dict(values),
		idempotency_key=call.idempotency_key,
		reference=call.reference,
		strict=True,
		submit=bool(call.payload.get("submit")),
	)
	return StepOutcome(result=dict(created or {}))


def run_assign(call: StepCall) -> StepOutcome:
	from .builtin import split_recipients

	doctype, name = _target(call)
	users = split_recipients(call.payload.get("users"))
	role = str(call.payload.get("role") or "").strip() or None
	if not users and not role:
		raise StepError(_("payload.users and payload.role rendered empty: nobody to assign"), retryable=False)
	assigned = call.effects.assign(
		doctype,
		name,
		users,
		description=str(call.payload.get("description") or ""),
		idempotency_key=call.idempotency_key,
		role=role,
		pick=call.payload.get("pick") or "round_robin",
		due_date=str(call.payload.get("due_date") or "").strip() or None,
	)
	return StepOutcome(result={"doctype": doctype, "name": name, **dict(assigned or {})})


def check_assign(payload: Mapping) -> list[tuple[str, str]]:
	problems = _both_or_neither(payload)
	if not str(payload.get("users") or "").strip() and not str(payload.get("role") or "").strip():
		problems.append(("users", _("give users, or a role to choose one of its users")))
	return problems


def run_set_value(call: StepCall) -> StepOutcome:
	doctype, name = _target(call)
	field = str(call.payload.get("field") or "").strip()
	if not field:
		raise StepError(_("payload.field rendered empty"), retryable=False)
	operation = call.payload.get("op") or "set"
	value = call.payload.get("value")
	if operation != "set":
		try:
			value = float(value)
		except (TypeError, ValueError):
			raise StepError(
				_("payload.value: {0} needs a number, not {1!r}").format(operation, str(value)[:80]),
				retryable=False,
			) from None
		value = int(value) if value.is_integer() else value
	done = call.effects.set_value(
		doctype, name, field, value, operation=operation, idempotency_key=call.idempotency_key
	)
	return StepOutcome(result={"doctype": doctype, "name": name, **dict(done or {})})


def check_set_value(payload: Mapping) -> list[tuple[str, str]]:
	problems = _both_or_neither(payload)
	if payload.get("op") in ("increment", "decrement") and payload.get("value") in (None, ""):
		problems.append(("value", _("required to {0} (a number, e.g. 1)").format(payload["op"])))
	return problems


def run_comment(call: StepCall) -> StepOutcome:
	doctype, name = _target(call)
	text = str(call.payload.get("text") or "").strip()
	if not text:
		raise StepError(_("payload.text rendered empty"), retryable=False)
	template = (call.context.get("template") or {}).get("template_name") or (
		call.context.get("template") or {}
	).get("name")
	added = call.effects.add_comment(
		doctype,
		name,
		text,
		idempotency_key=call.idempotency_key,
		flow={"run": call.run_name, "template": template},
	)
	return StepOutcome(result=dict(added or {}))


_DOCUMENT_FIELDS = (
	FieldSpec("doctype", "data", "DocType", description="Empty: the run's document"),
	FieldSpec("docname", "data", "Document", description="e.g. {{steps.create.result.name}}"),
)

DOCUMENT_KINDS = (
	KindSpec(
		"create_document",
		"Create document",
		"note_add",
		"#2563eb",
		run_create_document,
		fields=(
			FieldSpec(
				"doctype", "data", "DocType", required=True, description="e.g. ToDo, Task, Sales Order"
			),
			FieldSpec(
				"values",
				"json",
				"Field values (JSON)",
				required=True,
				options=("object",),
				description='Templates inside strings; child tables as lists of rows, e.g. {"items": [{"item_code": "X", "qty": 1}]}',
			),
			FieldSpec("submit", "check", "Submit it", description="For submittable DocTypes"),
		),
		side_effect=True,
		description="Create a document of any DocType; later steps read steps.<id>.result.name",
	),
	KindSpec(
		"assign",
		"Assign",
		"assignment_ind",
		"#db2777",
		run_assign,
		fields=(
			*_DOCUMENT_FIELDS,
			FieldSpec("users", "data", "Users", description="Comma separated; or a role below"),
			FieldSpec("role", "data", "Role", description="One of its enabled users is chosen"),
			FieldSpec(
				"pick",
				"select",
				"Choose",
				options=PICK_STRATEGIES,
				default="round_robin",
				description="round_robin: each in turn; least_loaded: the one with the fewest open ToDos",
			),
			FieldSpec("due_date", "data", "Due date", description="e.g. {{doc.due_date}}"),
			FieldSpec("description", "text", "Description"),
		),
		side_effect=True,
		check=check_assign,
		description="Assign a document to users, or to one user of a role (Frappe's assignments)",
	),
	KindSpec(
		"set_value",
		"Set value",
		"exposure_plus_1",
		"#ca8a04",
		run_set_value,
		fields=(
			*_DOCUMENT_FIELDS,
			FieldSpec("field", "data", "Field", required=True),
			FieldSpec("op", "select", "Operation", options=SET_OPERATIONS, default="set"),
			FieldSpec("value", "data", "Value", description="For increment / decrement, a number"),
		),
		side_effect=True,
		check=check_set_value,
		description="Set one field of a document, or add to / take from a number (a counter)",
	),
	KindSpec(
		"comment",
		"Comment",
		"comment",
		"#475569",
		run_comment,
		fields=(*_DOCUMENT_FIELDS, FieldSpec("text", "text", "Comment", required=True)),
		side_effect=True,
		check=lambda payload: _both_or_neither(payload),
		description="Add a comment to a document's timeline, saying which flow wrote it",
	),
)
