"""Whitelisted API (frappe.call / REST at /api/method/flow_engine.api.<name>).

Every method checks permission on its first line. Template methods use the document API, so the
doctype's role permissions apply (Flow Manager or System Manager to write). Starting, completing
and cancelling are allowed to managers and to users who may write the run's document.
"""

from __future__ import annotations

import json

import frappe
from frappe import _

from flow_engine import runs
from flow_engine.permissions import MANAGER_ROLES, is_flow_manager
from flow_engine.runtime import DefinitionError, FlowStateError, registry
from flow_engine.runtime.definition import validate_definition as runtime_validate
from flow_engine.runtime.events import events_catalog
from flow_engine.translation import run_error_texts, translated

TEMPLATE_FIELDS = [
	"name",
	"template_name",
	"category",
	"applies_to",
	"icon",
	"description",
	"is_active",
	"is_system",
	"version",
	"trigger_event",
	"trigger_doctype",
	"trigger_field",
	"trigger_condition",
	"step_count",
	"tags",
	"modified",
]
RUN_FIELDS = [
	"name",
	"flow_template",
	"status",
	"trigger_event",
	"context_doctype",
	"context_docname",
	"customer",
	"started_at",
	"completed_at",
	"error",
]
EDITABLE_TEMPLATE_FIELDS = frozenset(
	{
		"template_name",
		"category",
		"applies_to",
		"icon",
		"description",
		"is_active",
		"trigger_event",
		"trigger_doctype",
		"trigger_field",
		"trigger_condition",
		"flow_definition",
		"tags",
		"notes",
	}
)


def _require_manager() -> None:
	# not frappe.only_for: it lets everyone through while tests run, so it cannot be tested
	if not is_flow_manager():
		frappe.throw(
			_("Only {0} may do this").format(" / ".join(_(role) for role in MANAGER_ROLES)),
			frappe.PermissionError,
		)


def _parse(value, what: str):
	if isinstance(value, str):
		try:
			return json.loads(value) if value.strip() else None
		except ValueError:
			frappe.throw(_("{0} is not valid JSON").format(what))
	return value


def _template_dict(doc) -> dict:
	data = {field: doc.get(field) for field in TEMPLATE_FIELDS}
	data["flow_definition"] = json.loads(doc.flow_definition or "{}")
	return data


def _require_doc_write(doctype: str | None, docname: str | None) -> None:
	if is_flow_manager():
		return
	if not doctype or not docname:
		frappe.throw(_("Only Flow Managers can start a flow without a document"), frappe.PermissionError)
	frappe.has_permission(doctype, "write", docname, throw=True)


def _run_doc_access(run_name: str, ptype: str = "write"):
	context = frappe.db.get_value("Flow Run", run_name, ["context_doctype", "context_docname"], as_dict=True)
	if not context:
		frappe.throw(_("Flow Run {0} not found").format(run_name), frappe.DoesNotExistError)
	if not is_flow_manager():
		if not context.context_doctype or not context.context_docname:
			frappe.throw(_("Not permitted"), frappe.PermissionError)
		frappe.has_permission(context.context_doctype, ptype, context.context_docname, throw=True)
	return context


def _report(run, report) -> dict:
	return {
		"run": run.name,
		"status": run.status,
		"executed": report.executed,
		"scheduled": [{"step": step, "at": at} for step, at in report.scheduled],
		"waiting": report.waiting,
		"skipped": report.skipped,
		"failed": report.failed,
		"error": run.error,
	}


# --- templates --------------------------------------------------------------------------------


@frappe.whitelist()
def list_templates(
	category: str | None = None,
	applies_to: str | None = None,
	is_active: int | None = None,
	trigger_event: str | None = None,
) -> list[dict]:
	frappe.has_permission("Flow Template", "read", throw=True)
	filters = {}
	for key, value in (("category", category), ("applies_to", applies_to), ("trigger_event", trigger_event)):
		if value:
			filters[key] = value
	if is_active not in (None, ""):
		filters["is_active"] = int(is_active)
	return frappe.get_list(
		"Flow Template", filters=filters, fields=TEMPLATE_FIELDS, order_by="template_name asc"
	)


@frappe.whitelist()
def get_template(name: str) -> dict:
	frappe.has_permission("Flow Template", "read", name, throw=True)
	return _template_dict(frappe.get_doc("Flow Template", name))


@frappe.whitelist(methods=["POST"])
def create_template(template: dict | str) -> dict:
	frappe.has_permission("Flow Template", "create", throw=True)
	values = _parse(template, "template") or {}
	unknown = set(values) - EDITABLE_TEMPLATE_FIELDS
	if unknown:
		frappe.throw(_("Unknown or read-only fields: {0}").format(", ".join(sorted(unknown))))
	if isinstance(values.get("flow_definition"), dict | list):
		values["flow_definition"] = json.dumps(values["flow_definition"])
	doc = frappe.get_doc({"doctype": "Flow Template", **values})
	doc.insert()
	return _template_dict(doc)


@frappe.whitelist(methods=["POST", "PUT"])
def update_template(name: str, patch: dict | str) -> dict:
	frappe.has_permission("Flow Template", "write", name, throw=True)
	values = _parse(patch, "patch") or {}
	unknown = set(values) - EDITABLE_TEMPLATE_FIELDS
	if unknown:
		frappe.throw(_("Unknown or read-only fields: {0}").format(", ".join(sorted(unknown))))
	if isinstance(values.get("flow_definition"), dict | list):
		values["flow_definition"] = json.dumps(values["flow_definition"])
	doc = frappe.get_doc("Flow Template", name)
	doc.update(values)
	doc.save()
	return _template_dict(doc)


@frappe.whitelist(methods=["POST", "DELETE"])
def delete_template(name: str) -> dict:
	frappe.has_permission("Flow Template", "delete", name, throw=True)
	frappe.delete_doc("Flow Template", name)
	return {"ok": True}


@frappe.whitelist(methods=["POST"])
def duplicate_template(name: str, new_name: str | None = None) -> dict:
	frappe.has_permission("Flow Template", "create", throw=True)
	frappe.has_permission("Flow Template", "read", name, throw=True)
	copy = frappe.get_doc("Flow Template", name).duplicate(new_name)
	return _template_dict(copy)


@frappe.whitelist()
def validate_definition(definition: dict | str) -> list[dict]:
	"""Problems of a definition (for the editor), without saving anything."""
	frappe.has_permission("Flow Template", "read", throw=True)
	from flow_engine.events_map import event_map

	event_map()  # events added by other apps are known to the validator
	from flow_engine.translation import problem_dict

	return [problem_dict(problem) for problem in runtime_validate(definition if definition else "")]


@frappe.whitelist()
def kinds_catalog() -> dict:
	"""The kind registry and the events, for the desk editor (the only list of kinds there is)."""
	frappe.has_permission("Flow Template", "read", throw=True)
	from flow_engine.events_map import event_map
	from flow_engine.runtime.definition import STEP_TRIGGER_TYPES
	from flow_engine.settings import get_settings

	doctypes = {entry["event"]: entry["doctype"] for entry in event_map(get_settings().dispatch_doctype)}
	events = [{**event, "doctype": doctypes.get(event["name"])} for event in events_catalog()]
	from flow_engine.kind_catalogs import load_catalog_hooks

	load_catalog_hooks()
	return {
		"kinds": registry.catalog(),
		"catalogs": registry.catalogs(),
		"events": events,
		"trigger_types": list(STEP_TRIGGER_TYPES),
	}


# --- runs -------------------------------------------------------------------------------------


@frappe.whitelist(methods=["POST"])
def start_flow(
	template: str,
	doctype: str | None = None,
	docname: str | None = None,
	variables: dict | str | None = None,
) -> dict:
	_require_doc_write(doctype, docname)
	frappe.has_permission("Flow Template", "read", template, throw=True)
	if not frappe.db.get_value("Flow Template", template, "is_active"):
		frappe.throw(_("Flow Template {0} is not active").format(template))
	if doctype and docname and not frappe.db.exists(doctype, docname):
		frappe.throw(_("{0} {1} not found").format(_(doctype), docname), frappe.DoesNotExistError)
	run, report = runs.start_run(
		template,
		doctype=doctype,
		docname=docname,
		event="manual",
		variables=_parse(variables, "variables") or {},
	)
	return _report(run, report)


@frappe.whitelist(methods=["POST"])
def advance(run: str) -> dict:
	_run_doc_access(run)
	result, report = runs.advance_run(run)
	return _report(result, report)


@frappe.whitelist(methods=["POST"])
def complete_step(run: str, step_id: str, result: dict | str | None = None) -> dict:
	_run_doc_access(run)
	try:
		done, report = runs.complete_step(run, step_id, _parse(result, "result") or {})
	except FlowStateError as exc:
		frappe.throw(translated(exc.args[0]), title=_("Cannot complete step"))
	return _report(done, report)


@frappe.whitelist(methods=["POST"])
def dispatch_event(
	event: str, doctype: str | None = None, docname: str | None = None, variables: dict | str | None = None
) -> dict:
	_require_doc_write(doctype, docname)
	from flow_engine.dispatch import emit

	doc = frappe.get_doc(doctype, docname) if doctype and docname else None
	queued = emit(event, doc, _parse(variables, "variables") or {})
	return {"queued": queued}


@frappe.whitelist()
def list_runs(
	status: str | None = None,
	template: str | None = None,
	customer: str | None = None,
	doctype: str | None = None,
	docname: str | None = None,
	limit: int = 50,
) -> list[dict]:
	frappe.has_permission("Flow Run", "read", throw=True)
	filters = {}
	for key, value in (
		("status", status),
		("flow_template", template),
		("customer", customer),
		("context_doctype", doctype),
		("context_docname", docname),
	):
		if value:
			filters[key] = value
	found = frappe.get_list(
		"Flow Run",
		filters=filters,
		fields=RUN_FIELDS,
		order_by="creation desc",
		limit_page_length=min(int(limit or 50), 500) * (1 if is_flow_manager() else 4),
	)
	if not is_flow_manager():
		# The list's query conditions only know doctypes; each run's own document decides.
		found = [
			run
			for run in found
			if run.context_doctype
			and run.context_docname
			and frappe.db.exists(run.context_doctype, run.context_docname)
			and frappe.has_permission(run.context_doctype, "read", run.context_docname)
		][: min(int(limit or 50), 500)]
	_add_error_texts(found)
	return found


def _add_error_texts(found: list) -> None:
	"""`error_text`: each run's error in the reader's language (stored in English); one read of
	the failed runs' step states."""
	failed = [run.name for run in found if run.get("error")]
	states = (
		dict(frappe.get_all("Flow Run", {"name": ("in", failed)}, ["name", "step_state"], as_list=True))
		if failed
		else {}
	)
	for run in found:
		steps = json.loads(states.get(run.name) or "{}") if run.get("error") else {}
		run["error_text"] = run_error_texts(run.get("error"), steps)["error"] or run.get("error")


@frappe.whitelist()
def get_run(name: str) -> dict:
	frappe.has_permission("Flow Run", "read", name, throw=True)
	doc = frappe.get_doc("Flow Run", name)
	data = {field: doc.get(field) for field in (*RUN_FIELDS, "template_version", "depth")}
	data["steps"] = json.loads(doc.step_state or "{}")
	data["variables"] = json.loads(doc.variables or "{}")
	data["definition"] = json.loads(doc.definition_snapshot or "{}")
	data["error_texts"] = run_error_texts(doc.error, data["steps"])
	return data


@frappe.whitelist(methods=["POST"])
def cancel_run(name: str, reason: str | None = None) -> dict:
	_run_doc_access(name)
	run, report = runs.cancel_run(name, reason)
	return _report(run, report)


@frappe.whitelist(methods=["POST"])
def pause_run(name: str) -> dict:
	_run_doc_access(name)
	try:
		run, report = runs.pause_run(name)
	except FlowStateError as exc:
		frappe.throw(translated(exc.args[0]), title=_("Cannot pause run"))
	return _report(run, report)


@frappe.whitelist(methods=["POST"])
def resume_run(name: str) -> dict:
	_run_doc_access(name)
	try:
		run, report = runs.resume_run(name)
	except FlowStateError as exc:
		frappe.throw(translated(exc.args[0]), title=_("Cannot resume run"))
	return _report(run, report)


@frappe.whitelist(methods=["POST"])
def cancel_template_runs(name: str, reason: str | None = None) -> dict:
	"""Cancel the runs of a template that are under way (running or paused): what the desk offers
	when a template is turned off ("let them finish" is doing nothing)."""
	_require_manager()
	if not frappe.db.exists("Flow Template", name):
		frappe.throw(_("Flow Template {0} not found").format(name), frappe.DoesNotExistError)
	reason = reason or _("its template {0} was turned off").format(name)
	cancelled = 0
	for run_name in frappe.get_all(
		"Flow Run",
		filters={"flow_template": name, "status": ("in", ("running", "paused"))},
		pluck="name",
		order_by="creation",
	):
		if frappe.db.get_value("Flow Run", run_name, "status") in ("running", "paused"):
			runs.cancel_run(run_name, reason)  # (a sub-flow may have gone with its parent)
			cancelled += 1
	return {"cancelled": cancelled}


BULK_ACTIONS = ("cancel", "pause", "resume", "retry")


@frappe.whitelist(methods=["POST"])
def bulk_runs(action: str, names: list[str] | str) -> dict:
	"""The Flow Run list's actions on the selected runs. Each run is checked and done as it would
	be alone (the same permission checks), in its own transaction; one that cannot be done is
	reported with the reason, the others still are."""
	frappe.has_permission("Flow Run", "read", throw=True)
	if action not in BULK_ACTIONS:
		frappe.throw(_("Unknown action {0} (known: {1})").format(action, ", ".join(BULK_ACTIONS)))
	names = _parse(names, "names") if isinstance(names, str) else names
	if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
		frappe.throw(_("names must be a list of Flow Run names"))
	done, refused = [], {}
	for name in names:
		try:
			if action == "retry":
				_require_manager()
				failed = [
					step
					for step, state in runs.load_run(name)[0].steps.items()
					if state["status"] == "failed"
				]
				if not failed:
					frappe.throw(_("Flow Run {0} has no failed step").format(name))
				for step_id in failed:
					runs.retry_step(name, step_id)
			else:
				{"cancel": cancel_run, "pause": pause_run, "resume": resume_run}[action](name)
			frappe.db.commit()
			done.append(name)
		except Exception as exc:
			frappe.db.rollback()
			frappe.clear_messages()  # reported below, beside the run it concerns
			refused[name] = frappe.utils.strip_html(str(exc)) or type(exc).__name__
	return {"done": done, "refused": refused}


@frappe.whitelist(methods=["POST"])
def retry_step(run: str, step_id: str) -> dict:
	_require_manager()
	try:
		result, report = runs.retry_step(run, step_id)
	except FlowStateError as exc:
		frappe.throw(translated(exc.args[0]), title=_("Cannot retry step"))
	return _report(result, report)


@frappe.whitelist(methods=["POST"])
def retry_pending(name: str) -> dict:
	_require_manager()
	from flow_engine.scheduler import retry_pending as put_back

	status = frappe.db.get_value("Flow Step Pending", name, "status")
	if status not in ("failed", "cancelled"):
		frappe.throw(_("Only failed or cancelled rows can be retried; {0} is {1}").format(name, status))
	put_back(name)
	return {"ok": True}


@frappe.whitelist()
def simulate(
	template: str,
	doctype: str | None = None,
	docname: str | None = None,
	until: str | None = None,
	complete: list | str | None = None,
	fail: list | str | None = None,
	definition: dict | str | None = None,
) -> dict:
	"""Simulate the saved template, or (`definition`) the unsaved flow being edited in its form."""
	frappe.has_permission("Flow Template", "read", template, throw=True)
	if doctype and docname and not is_flow_manager():
		frappe.has_permission(doctype, "read", docname, throw=True)
	from flow_engine.runtime.simulator import format_timeline, parse_duration

	try:
		result = runs.simulate_template(
			template,
			doctype,
			docname,
			until_seconds=parse_duration(until) if until else None,
			complete=_parse(complete, "complete") or [],
			fail=_parse(fail, "fail") or [],
			definition=_parse(definition, "definition"),
		)
	except (DefinitionError, ValueError) as exc:
		frappe.throw(frappe.utils.escape_html(str(exc)), title=_("Cannot simulate"))
	return {**result.as_json(), "events": result.events, "timeline": format_timeline(result)}
