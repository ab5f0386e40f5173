"""Kinds whose steps wait for something outside the run: a document event, or a sub-flow's run.

Their handler is called twice: once when the step is reached (it says what it waits for, with
`StepOutcome.wait`), and again when the engine is told that it happened, or that the timeout passed
first (`call.waiting` is then set). Between the two the run is saved and nothing runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from ..conditions import bind_data
from ..errors import StepError
from ..i18n import _
from ..rendering import is_template
from .registry import FieldSpec, KindSpec, StepCall, StepOutcome

DOCUMENT_EVENTS = ("insert", "update", "submit", "cancel", "delete", "value_change")
TIMEOUT_CHOICES = ("branch", "fail")
MAX_TIMEOUT_DAYS = 3650


# --- wait_for_event ---------------------------------------------------------------------------


def match_data(context: Mapping) -> dict:
	"""What a wait's `match` rule reads besides the event's `doc`: the run as `run`, and, as in
	templates, `customer`, `variables` and `steps`."""
	customer = context.get("customer") or {}
	steps = context.get("steps") or {}
	return {
		"run": {
			"name": (context.get("run") or {}).get("name"),
			"doc": context.get("doc") or {},
			"customer": customer.get("name") if isinstance(customer, Mapping) else None,
			"variables": context.get("variables") or {},
			"steps": steps,
			"template": (context.get("template") or {}).get("name"),
		},
		"customer": customer,
		"variables": context.get("variables") or {},
		"steps": steps,
	}


def timeout_seconds(payload: Mapping) -> float:
	total = 0.0
	for key, unit in (("timeout_hours", 3600), ("timeout_days", 86400)):
		value = payload.get(key)
		if value in (None, ""):
			continue
		try:
			total += float(value) * unit
		except (TypeError, ValueError):
			raise StepError(
				_("payload.{0} rendered to {1!r}, not a number").format(key, value), retryable=False
			) from None
	return total


def run_wait_for_event(call: StepCall) -> StepOutcome:
	payload = call.payload
	if call.waiting is not None:
		wait = call.waiting
		if call.timed_out:
			if payload.get("on_timeout") == "fail":
				raise StepError(
					_("timed out: no {0} {1} matched before {2}").format(
						wait["doctype"], wait["event"], wait.get("until")
					),
					retryable=False,
				)
			return StepOutcome(result={"timed_out": True, "until": wait.get("until")}, branch="timeout")
		event = dict(call.input or {})
		return StepOutcome(
			result={
				"doctype": event.get("doctype") or wait["doctype"],
				"name": event.get("name"),
				"event": event.get("event") or wait["event"],
				"doc": event.get("doc") or {},
			},
			branch="event",
		)
	seconds = timeout_seconds(payload)
	if seconds <= 0:
		raise StepError(_("payload.timeout_hours / timeout_days rendered to no timeout"), retryable=False)
	seconds = min(seconds, MAX_TIMEOUT_DAYS * 86400)
	until = datetime.fromisoformat(call.context["now"]) + timedelta(seconds=seconds)
	wait = {
		"doctype": str(payload.get("doctype") or "").strip(),
		"event": payload.get("event") or "update",
		"field": str(payload.get("field") or "").strip() or None,
		"value": payload.get("value") if payload.get("value") not in (None, "") else None,
		"docname": str(payload.get("docname") or "").strip() or None,
		"match": payload.get("match") or None,
		"bound": bind_data(payload.get("match"), match_data(call.context)) if payload.get("match") else {},
		"until": until.isoformat(),
	}
	return StepOutcome(wait=wait, timeout_at=until)


def check_wait_for_event(payload: Mapping) -> list[tuple[str, str]]:
	problems = []
	doctype = payload.get("doctype")
	if isinstance(doctype, str) and is_template(doctype):
		problems.append(
			("doctype", _("must be a DocType name, not a template: it decides which saves are watched"))
		)
	if payload.get("event") == "value_change" and not str(payload.get("field") or "").strip():
		problems.append(("field", _("required for event value_change")))
	if payload.get("event") not in (None, "", "value_change") and payload.get("value") not in (None, ""):
		problems.append(("value", _("only for event value_change (the value the field becomes)")))
	numbers, templated = [], False
	for key in ("timeout_hours", "timeout_days"):
		value = payload.get(key)
		if isinstance(value, str) and is_template(value):
			templated = True
		elif isinstance(value, int | float) and not isinstance(value, bool):
			numbers.append(value)
			if value < 0:
				problems.append((key, _("must not be negative")))
		elif isinstance(value, str) and value.strip():
			try:
				numbers.append(float(value))
			except ValueError:
				pass  # the field's own check says it is not a number
	if not templated and sum(n for n in numbers if n > 0) <= 0:
		problems.append(("timeout_hours", _("a wait needs a timeout: timeout_hours or timeout_days above 0")))
	hours = _number(payload.get("timeout_hours")) / 24 + _number(payload.get("timeout_days"))
	if hours > MAX_TIMEOUT_DAYS:
		problems.append(("timeout_days", _("more than ten years")))
	return problems


def _number(value) -> float:
	try:
		return max(float(value), 0.0) if not isinstance(value, bool) else 0.0
	except (TypeError, ValueError):
		return 0.0


# --- sub_flow ---------------------------------------------------------------------------------


def sub_flow_summary(run, template: str | None) -> dict:
	"""A child run as its parent's step sees it (the step's result once the child has ended)."""
	return {
		"run": run.name,
		"template": template,
		"status": run.status,
		"error": run.error,
		"steps": {
			step_id: {key: state[key] for key in ("status", "result", "branch") if key in state}
			for step_id, state in run.steps.items()
		},
		"variables": run.variables,
	}


def run_sub_flow(call: StepCall) -> StepOutcome:
	payload = call.payload
	if call.waiting is not None:
		child = dict((call.input or {}).get("child") or {})
		if child.get("run") != call.waiting.get("sub_flow"):
			return StepOutcome(wait=call.waiting)  # news of an earlier attempt's child: keep waiting
		return _ended(child)
	template = str(payload.get("template") or "").strip()
	if not template:
		raise StepError(_("payload.template rendered empty"), retryable=False)
	doctype = str(payload.get("doctype") or "").strip() or None
	docname = str(payload.get("docname") or "").strip() or None
	if bool(doctype) != bool(docname):
		raise StepError(_("payload.doctype and payload.docname: give both, or neither"), retryable=False)
	variables = payload.get("variables") or {}
	if not isinstance(variables, Mapping):
		raise StepError(_("payload.variables must be an object"), retryable=False)
	reference = call.reference or {}
	wait = payload.get("wait") not in (False, 0)
	lineage = list(call.context.get("lineage") or [])
	if not lineage:
		lineage = [(call.context.get("template") or {}).get("name") or "?"]
	started = call.effects.start_sub_flow(
		template,
		doctype=doctype or reference.get("doctype"),
		docname=docname or reference.get("name"),
		variables=dict(variables),
		lineage=[*lineage, template],
		parent={"run": call.run_name, "step": call.step.id, "wait": wait},
		idempotency_key=call.idempotency_key if call.serial == 1 else f"{call.idempotency_key}#{call.serial}",
	)
	started = dict(started or {})
	if not wait:
		return StepOutcome(
			result={key: started.get(key) for key in ("run", "template", "status") if started.get(key)}
		)
	if started.get("status") in ("completed", "failed", "cancelled"):
		return _ended(started)
	return StepOutcome(
		result={"run": started.get("run"), "template": template},
		wait={"sub_flow": started.get("run"), "template": template},
	)


def _ended(child: dict) -> StepOutcome:
	status = child.get("status")
	if status == "completed":
		return StepOutcome(result=child)
	template, run = child.get("template"), child.get("run")
	if status == "cancelled":
		raise StepError(_("sub-flow {0} (run {1}) was cancelled").format(template, run), retryable=False)
	raise StepError(
		_("sub-flow {0} (run {1}) failed: {2}").format(
			template, run, child.get("error") or _("no reason given")
		),
		retryable=True,
	)


def check_sub_flow(payload: Mapping) -> list[tuple[str, str]]:
	doctype, docname = payload.get("doctype"), payload.get("docname")
	if bool(str(doctype or "").strip()) != bool(str(docname or "").strip()):
		return [("docname" if doctype else "doctype", _("give the document's DocType and name together"))]
	return []


_EVENT_FIELDS = (
	FieldSpec("doctype", "data", "DocType", required=True, description="e.g. Payment Entry"),
	FieldSpec(
		"event",
		"select",
		"Event",
		required=True,
		options=DOCUMENT_EVENTS,
		default="update",
		description="value_change: the field below changes (to the value, if given)",
	),
	FieldSpec("field", "data", "Field", description="For value_change, e.g. status"),
	FieldSpec("value", "data", "Becomes", description="For value_change, e.g. Resolved; may use {{ }}"),
	FieldSpec(
		"docname",
		"data",
		"Only this document",
		description="e.g. {{doc.name}} or {{steps.job.result.name}}; empty: any document of the DocType",
	),
	FieldSpec(
		"match",
		"jsonlogic",
		"Match",
		description="JsonLogic over doc (the event's document) and run (name, doc, customer, variables, "
		'steps), e.g. {"==": [{"var": "doc.party"}, {"var": "run.customer"}]}',
	),
	FieldSpec("timeout_hours", "float", "Timeout (hours)"),
	FieldSpec("timeout_days", "float", "Timeout (days)"),
	FieldSpec(
		"on_timeout",
		"select",
		"When the timeout passes",
		options=TIMEOUT_CHOICES,
		default="branch",
		description="branch: take the timeout branch; fail: fail the step",
	),
)

WAITING_KINDS = (
	KindSpec(
		"wait_for_event",
		"Wait for event",
		"pending_actions",
		"#0891b2",
		run_wait_for_event,
		fields=_EVENT_FIELDS,
		branch_labels=("event", "timeout"),
		check=check_wait_for_event,
		description="Wait until a matching document event happens (branch event), or the timeout (branch timeout)",
	),
	KindSpec(
		"sub_flow",
		"Sub-flow",
		"account_tree",
		"#7c3aed",
		run_sub_flow,
		fields=(
			FieldSpec(
				"template", "data", "Flow Template", required=True, description="Its name; may use {{ }}"
			),
			FieldSpec("doctype", "data", "For DocType", description="Empty: this run's document"),
			FieldSpec("docname", "data", "For document", description="e.g. {{steps.job.result.name}}"),
			FieldSpec("variables", "json", "Variables (JSON)", options=("object",)),
			FieldSpec(
				"wait",
				"check",
				"Wait for it",
				default=1,
				description="Wait until the sub-flow ends (its steps' results become this step's result; "
				"its failure fails this step); off: start it and go on",
			),
		),
		side_effect=True,
		check=check_sub_flow,
		description="Run another Flow Template, and wait for it or not",
	),
)
