"""Running flows on a site: start, fire, complete, retry, cancel, simulate.

The one place that wires the runtime's Engine to Frappe: settings → retry defaults, FrappeEffects,
FrappeClock, the store. Callers (the API, the scheduler, event dispatch) hold the transaction.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import frappe
from frappe import _
from frappe.model.document import Document

from flow_engine.adapters.clock import FrappeClock
from flow_engine.adapters.effects import FrappeEffects, document_exists
from flow_engine.adapters.store import insert_run, load_run, new_run_name, run_from_row, save_run
from flow_engine.runtime import DefinitionError, Engine, FlowStateError, load_definition, registry
from flow_engine.runtime.state import AdvanceReport, Run
from flow_engine.settings import get_settings, retry_policy

MAX_DOC_SNAPSHOT_BYTES = 512 * 1024


def run_title(template_name: str, doctype: str | None, docname: str | None) -> str:
	"""What the Flow Run form and links show: the template's name and the document it runs for."""
	if doctype and docname:
		return _("{0}: {1} {2}").format(template_name, _(doctype), docname)[:140]
	return template_name[:140]


def engine_for(
	run_name: str, before_document_write=None, acting_user: str | None = None, new_run: bool = False
) -> Engine:
	"""`new_run`: the run's name was taken in this transaction (FrappeEffects)."""
	settings = get_settings()
	return Engine(
		FrappeEffects(
			run_name,
			settings,
			before_document_write=before_document_write,
			acting_user=acting_user,
			new_run=new_run,
		),
		FrappeClock(),
		registry=registry,
		default_retry=retry_policy(settings),
	)


def acting_user_of(template) -> str:
	"""Whose permissions a template's runs act with (Run As): Administrator (the default), the
	template's owner, or a named user."""
	if template.get("run_as") == "Template owner":
		return template.owner or "Administrator"
	if template.get("run_as") == "User" and template.get("run_as_user"):
		return template.run_as_user
	return "Administrator"


# --- definitions ------------------------------------------------------------------------------


def template_definition(template) -> dict:
	"""The template's flow as the runtime reads it: flow_definition with the form's trigger fields."""
	return {
		"name": template.name,
		"template_name": template.template_name,
		"applies_to": template.applies_to,
		"version": template.version,
		"trigger_event": template.trigger_event,
		"trigger_condition": template.trigger_condition,
		"trigger_doctype": template.trigger_doctype,
		"trigger_field": template.trigger_field,
		"flow_definition": template.flow_definition or "{}",
	}


class InvalidTemplate(frappe.ValidationError):
	"""A template whose definition is refused, so that no run of it starts. `text`: its problems
	(each naming its step and field), in English, for a run's error (a sub-flow step calling it)."""

	def __init__(self, template_name: str, error: DefinitionError):
		self.text = str(error)
		super().__init__(self.text)


def problems_message(exc: DefinitionError) -> str:
	from flow_engine.translation import problem_text

	return "<br>".join(frappe.utils.escape_html(problem_text(problem)) for problem in exc.problems)


# --- context ----------------------------------------------------------------------------------


def doc_data(doc) -> dict:
	"""A document as JSON-safe data for templates and conditions."""
	# one serialization, compact: its length is the size checked (no second dumps to measure it)
	text = frappe.as_json(doc.as_dict(convert_dates_to_str=True), indent=None, separators=(",", ":"))
	data = json.loads(text)
	if len(text) > MAX_DOC_SNAPSHOT_BYTES:
		# Keep the fields, drop the child tables of very large documents.
		data = {key: value for key, value in data.items() if not isinstance(value, list)}
	return data


def customer_of(doc_dict: dict) -> str | None:
	doctype = doc_dict.get("doctype")
	if doctype == "Customer":
		return doc_dict.get("name")
	if doc_dict.get("customer"):
		return doc_dict["customer"]
	if doc_dict.get("party_type") == "Customer":
		return doc_dict.get("party_name") or doc_dict.get("party")
	if doc_dict.get("quotation_to") == "Customer":
		return doc_dict.get("party_name")
	return None


def customer_data(name: str | None) -> dict:
	"""The Customer as data, from Frappe's document cache (dropped whenever the Customer is saved
	or deleted) rather than its row and five child tables again; {} for no name, or a name that is
	no Customer's (a Link left dangling)."""
	if not name:
		return {}
	try:
		return doc_data(frappe.get_cached_doc("Customer", name))
	except frappe.DoesNotExistError:
		frappe.clear_last_message()
		return {}


def build_context(
	doctype: str | None, docname: str | None, snapshot: dict | None = None, *, reload: bool = True
) -> dict:
	"""The document (reloaded, or `snapshot` as taken at the event when `reload` is off; the
	snapshot is also the fallback for a deleted document) and its Customer."""
	doc = snapshot or {}
	if (reload or not snapshot) and doctype and docname and document_exists(doctype, docname):
		doc = doc_data(frappe.get_doc(doctype, docname))
	customer_name = customer_of(doc)
	customer = doc if customer_name and doc.get("doctype") == "Customer" else customer_data(customer_name)
	context = {"doc": doc, "customer": customer}
	if doctype and docname:
		context["reference"] = {"doctype": doctype, "name": docname}
	return context


def refresh_context(run: Run) -> None:
	"""Delayed steps see the document as it is now (or as it was, if it was deleted since)."""
	reference = run.context.get("reference") or {}
	if reference.get("doctype") and reference.get("name"):
		fresh = build_context(reference["doctype"], reference["name"], run.context.get("doc"))
		run.context.update(doc=fresh["doc"], customer=fresh["customer"] or run.context.get("customer") or {})


@contextmanager
def at_depth(depth: int):
	"""Documents changed by this run's steps start their own flows one level deeper."""
	previous = frappe.flags.flow_engine_depth
	frappe.flags.flow_engine_depth = depth
	try:
		yield
	finally:
		frappe.flags.flow_engine_depth = previous


# --- operations -------------------------------------------------------------------------------


def start_run(
	template_name,
	*,
	doctype: str | None = None,
	docname: str | None = None,
	event: str = "manual",
	variables: dict | None = None,
	depth: int = 0,
	doc_snapshot: dict | None = None,
	parent: dict | None = None,
	lineage: list[str] | None = None,
	tell_parent: bool = True,
) -> tuple[Run, AdvanceReport]:
	"""Start a run of a template (its name or its document). A start from a document event passes
	the document as it was at the event (`doc_snapshot`): the run's first steps see that, without
	loading the document again; steps fired later see the document as it is then.

	`parent` ({"run", "step", "wait"}): the run whose sub_flow step starts this one; `lineage`: the
	templates from the first run down to this one. `tell_parent` off: the parent's step starting
	it reads its outcome itself (a child that ends at once needs no news)."""
	template = (
		template_name
		if isinstance(template_name, Document)
		else frappe.get_doc("Flow Template", template_name)
	)
	template_name = template.name
	try:
		definition = load_definition(template_definition(template), registry)
	except DefinitionError as exc:
		# for the person who started it (a sub-flow step takes the message back: see effects)
		frappe.msgprint(
			problems_message(exc),
			title=_("Flow Template {0} is invalid").format(template_name),
			indicator="red",
		)
		raise InvalidTemplate(template_name, exc) from None
	context = build_context(doctype, docname, doc_snapshot, reload=doc_snapshot is None)
	context["template"] = {
		"name": template.name,
		"template_name": template.template_name,
		"version": template.version,
	}
	context["lineage"] = list(lineage or [template.name])
	if parent:
		context["parent"] = dict(parent)
	settings = get_settings()
	name = new_run_name()
	fields = {
		"title": run_title(template.template_name, doctype, docname),
		"flow_template": template.name,
		"template_version": template.version,
		"trigger_event": event,
		"context_doctype": doctype,
		"context_docname": docname,
		"customer": (context.get("customer") or {}).get("name"),
		"depth": depth,
		"parent_run": (parent or {}).get("run"),
		"parent_step": (parent or {}).get("step"),
		"acted_as": acting_user_of(template),
	}
	if depth > int(settings.max_depth):
		# A flow whose steps change documents that start flows… stops here, visibly.
		run = Run(
			name=name,
			definition=definition.raw,
			status="failed",
			context=context,
			steps={s.id: {"status": "pending"} for s in definition.steps},
		)
		run.started_at = run.completed_at = FrappeClock().now().isoformat()
		run.error = _(
			"Not started: {0} flows started one another in a row (the limit in Flow Settings is {1})"
		).format(depth, settings.max_depth)
		report = AdvanceReport(name, "failed")
		insert_run(run, report, fields)
		return run, report
	placeholder = Run(
		name=name,
		definition=definition.raw,
		variables={**definition.variables, **dict(variables or {})},
		context=context,
		steps={step.id: {"status": "pending"} for step in definition.steps},
		started_at=FrappeClock().now().isoformat(),
	)
	inserted = False

	def insert_placeholder() -> None:
		# Documents the first steps create or change may link to the run (Dispatch Job.flow_run is
		# a Link, validated on insert): its row must exist first. Only then is the run written
		# twice (this INSERT, the UPDATE below); otherwise once.
		nonlocal inserted
		if not inserted:
			insert_run(placeholder, AdvanceReport(name), fields)
			inserted = True

	engine = engine_for(
		name, before_document_write=insert_placeholder, acting_user=fields["acted_as"], new_run=True
	)
	with at_depth(depth):
		run, report = engine.start(
			definition,
			name=name,
			context=context,
			variables=variables,
			defaults={"retry": retry_policy(settings).as_dict(), "acting_user": fields["acted_as"]},
		)
	engine.effects.write_ledger()
	if inserted:
		save_run(run, report)
	else:
		insert_run(run, report, fields)
	after_report(run, report, tell_parent=tell_parent)
	return run, report


def _operate(run_name: str, operation, loaded=None) -> tuple[Run, AdvanceReport]:
	"""`loaded`: the run's row when the caller already read it locked (the scheduler does)."""
	if loaded is not None and loaded.name == run_name:
		run, row = run_from_row(loaded), loaded
	else:
		run, row = load_run(run_name, for_update=True)  # one advance of a run at a time
	refresh_context(run)
	engine = engine_for(run_name, acting_user=run.defaults.get("acting_user"))
	with at_depth(int(row.depth or 0)):
		report = operation(engine, run)
	engine.effects.write_ledger()
	save_run(run, report)
	after_report(run, report)
	return run, report


def fire_step(
	run_name: str, step_id: str, *, force: bool = False, due: str | None = None, loaded=None
) -> tuple[Run, AdvanceReport]:
	"""Fire a scheduled step, or a waiting step's timeout. The scheduler passes force=True: its
	claim already decided the row was due, and an application server whose clock lags the
	database's must not drop the step; `due` is the row's time (a wait's own timer, or an older one)."""
	return _operate(run_name, lambda engine, run: engine.fire(run, step_id, force=force, due=due), loaded)


def resume_step(run_name: str, step_id: str, data: dict, loaded=None) -> tuple[Run, AdvanceReport]:
	"""News for a step that waits (a document event, the end of a sub-flow). News that comes
	too late (the step timed out, or went on with earlier news) does nothing."""

	def operation(engine, run):
		state = run.steps.get(step_id) or {}
		if run.status != "running" or state.get("status") != "waiting" or state.get("wait") is None:
			report = AdvanceReport(run.name, run.status)
			report.note = f"step {step_id} is no longer waiting (run {run.status})"
			return report
		return engine.complete(run, step_id, data, resume=True)

	return _operate(run_name, operation, loaded)


def advance_run(run_name: str) -> tuple[Run, AdvanceReport]:
	return _operate(run_name, lambda engine, run: engine.advance(run))


def complete_step(run_name: str, step_id: str, data: dict | None = None) -> tuple[Run, AdvanceReport]:
	return _operate(run_name, lambda engine, run: engine.complete(run, step_id, data))


def retry_step(run_name: str, step_id: str) -> tuple[Run, AdvanceReport]:
	return _operate(run_name, lambda engine, run: engine.retry(run, step_id))


def cancel_run(run_name: str, reason: str | None = None) -> tuple[Run, AdvanceReport]:
	"""Cancel a run, and the sub-flows it started that are still running."""
	run, report = _operate(run_name, lambda engine, run: engine.cancel(run, reason))
	for child in frappe.get_all(
		"Flow Run", filters={"parent_run": run_name, "status": "running"}, pluck="name", order_by="creation"
	):
		cancel_run(child, _("its parent run {0} was cancelled").format(run_name))
	return run, report


def pause_run(run_name: str) -> tuple[Run, AdvanceReport]:
	"""Hold a running run: its steps that come due, and news for its waiting steps, are held
	(Flow Step Pending status `held`) until it resumes."""
	return _operate(run_name, lambda engine, run: engine.pause(run))


def resume_run(run_name: str) -> tuple[Run, AdvanceReport]:
	"""A paused run goes on: what came due while it was paused is due again, and the scheduler
	fires it once, in the order it came due."""
	run, report = _operate(run_name, lambda engine, run: engine.resume(run, fire_due=False))
	table = frappe.qb.DocType("Flow Step Pending")
	(
		frappe.qb.update(table)
		.set(table.status, "pending")
		.where((table.flow_run == run_name) & (table.status == "held"))
	).run()
	from flow_engine.scheduler import enqueue_drain

	frappe.db.after_commit.add(enqueue_drain)
	return run, report


def after_report(run: Run, report: AdvanceReport, *, tell_parent: bool = True) -> None:
	"""What follows a run's change: failure notices (flow_engine.failures); a sub-flow that ended
	tells its parent's waiting step."""
	if report.failed:
		from flow_engine.failures import on_run_failed

		on_run_failed(run, report)
	parent = run.context.get("parent") or {}
	ended = run.status != "running" and (report.changed or run.status == "cancelled")
	if tell_parent and ended and parent.get("wait"):
		from flow_engine.dispatch import queue_resume
		from flow_engine.runtime.kinds.waiting import sub_flow_summary

		template = (run.context.get("template") or {}).get("name")
		queue_resume(parent["run"], parent["step"], {"child": sub_flow_summary(run, template)})


def simulate_template(
	template_name: str, doctype: str | None, docname: str | None, definition: dict | None = None, **options
):
	"""The runtime's simulator on a real document: nothing is written, nothing is sent.
	`definition` (the flow as edited, not yet saved) replaces the template's saved one."""
	from flow_engine.runtime.simulator import simulate

	template = frappe.get_doc("Flow Template", template_name)
	if definition is not None:
		template = frappe._dict(template.as_dict())
		template.flow_definition = json.dumps(definition.get("flow_definition", definition))
	definition = load_definition(template_definition(template), registry)
	context = build_context(doctype, docname)
	return simulate(
		definition,
		doc=context["doc"],
		customer=context["customer"],
		template={
			"name": template.name,
			"template_name": template.template_name,
			"version": template.version,
		},
		**options,
	)


__all__ = [
	"FlowStateError",
	"advance_run",
	"cancel_run",
	"complete_step",
	"fire_step",
	"pause_run",
	"resume_run",
	"retry_step",
	"simulate_template",
	"start_run",
]
