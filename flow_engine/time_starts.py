"""Date-based and scheduled starts on a site: each scheduler tick, one pass per such template.

The planning is the runtime's (runtime/starts.py); here it gets its documents through indexed
queries and records each start in Flow Time Start, whose name is a hash of (template, document,
occurrence): a second start of the same thing cannot be inserted, so two ticks at once, or a tick
repeated after a crash, start it once. Where each template has got to is in Flow Trigger State.
A start is queued as the document events' starts are (an outbox row in Flow Step Pending), and
the drain that follows in the same tick starts the runs.
"""

from __future__ import annotations

import hashlib
import json

import frappe
from frappe.utils import now_datetime

from flow_engine.runtime.starts import (
	DATE_EVENT,
	SCHEDULE_EVENT,
	as_datetime,
	latest_occurrence,
	offset_seconds,
	plan_date_pass,
)

BATCH = 500  # documents per template per pass: a large doctype is worked through over several ticks
DATE_FIELD_TYPES = ("Date", "Datetime")
_INDEXED: set[tuple[str, str]] = set()  # date fields this process has seen indexed


def queue_time_starts(now=None) -> dict[str, int]:
	"""One pass of every active date-based or scheduled template; returns starts queued by template."""
	from flow_engine.scheduler import _ReadCommitted

	now = now or now_datetime()
	templates = frappe.get_all(
		"Flow Template",
		filters={"is_active": 1, "trigger_event": ("in", [DATE_EVENT, SCHEDULE_EVENT])},
		fields=[
			"name",
			"trigger_event",
			"trigger_doctype",
			"applies_to",
			"trigger_field",
			"trigger_offset",
			"trigger_offset_unit",
			"trigger_start_past",
			"trigger_schedule",
			"trigger_filters",
			"trigger_condition",
		],
		order_by="creation asc",
	)
	queued = {}
	for template in templates:
		if template.trigger_event == DATE_EVENT:
			ensure_date_index(template.trigger_doctype or template.applies_to, template.trigger_field)
		with _ReadCommitted():
			try:
				state = _lock_state(template.name, now)
				if state is None:
					queued[template.name] = 0  # first pass: from now on, nothing from before
				elif template.trigger_event == DATE_EVENT:
					queued[template.name] = _date_pass(template, state, now)
				else:
					queued[template.name] = _schedule_pass(template, state, now)
				frappe.db.commit()
			except Exception:
				frappe.db.rollback()
				frappe.log_error(title=f"flow_engine: time starts of {template.name} failed")
	return queued


def _lock_state(template: str, now):
	"""The template's Flow Trigger State, locked for this pass (a second tick waits); created (and
	None returned) on the first pass."""
	rows = frappe.db.sql(
		"""select name, checked_until, occurrence, occurrence_done, last_docname from `tabFlow Trigger State`
		where name = %s for update""",
		(template,),
		as_dict=True,
	)
	if rows:
		return rows[0]
	frappe.db.sql(
		"""insert ignore into `tabFlow Trigger State`
		(name, flow_template, checked_until, occurrence_done, creation, modified, owner, modified_by, docstatus)
		values (%s, %s, %s, 1, %s, %s, 'Administrator', 'Administrator', 0)""",
		(template, template, now, now, now),
	)
	return None


def _save_state(template: str, values: dict) -> None:
	from flow_engine.adapters.store import update_row

	update_row("Flow Trigger State", template, values)


def forget_state(template: str) -> None:
	"""A template turned on again starts from then: what it missed while off does not start."""
	frappe.db.delete("Flow Trigger State", {"name": template})


def begin_state(template: str) -> None:
	"""A date-based or scheduled template counts from when it is turned on (not from its first
	scheduler pass): what comes due between the save and that pass starts at the pass."""
	now = now_datetime()
	frappe.db.sql(
		"""insert ignore into `tabFlow Trigger State`
		(name, flow_template, checked_until, occurrence_done, creation, modified, owner, modified_by, docstatus)
		values (%s, %s, %s, 1, %s, %s, 'Administrator', 'Administrator', 0)""",
		(template, template, now, now, now),
	)


# --- date-based ---------------------------------------------------------------------------------


def _date_pass(template, state, now) -> int:
	doctype = template.trigger_doctype or template.applies_to
	field = template.trigger_field
	if date_field_problem(doctype, field):
		return 0  # the template's save says why; a field deleted since stops it quietly
	table = f"`tab{doctype}`"
	column = f"`{field}`"
	not_started = f"""not exists (select 1 from `tabFlow Time Start` s where s.flow_template = %(template)s
		and s.reference_name = d.name and s.occurrence = d.{column})"""

	offset = offset_seconds(template.trigger_offset, template.trigger_offset_unit)
	# a document created after its time does not start (unless start_past): even when a backlog
	# keeps the window open for a while
	in_time = (
		""
		if template.trigger_start_past
		else f"and d.creation <= timestamp(d.{column}) + interval %(offset)s second"
	)

	def due(window, limit):
		return frappe.db.sql(
			f"""select d.name, d.{column} from {table} d
			where d.{column} > %(lower)s and d.{column} <= %(upper)s and d.docstatus < 2 {in_time}
			and {not_started}
			order by d.{column}, d.name limit %(limit)s""",
			{
				"lower": window.lower,
				"upper": window.upper,
				"template": template.name,
				"limit": limit,
				"offset": round(offset),
			},
		)

	def changed_late(since, upper, limit):
		return frappe.db.sql(
			f"""select d.name, d.{column} from {table} d
			where d.modified > %(since)s and d.{column} <= %(upper)s and d.docstatus < 2 and {not_started}
			order by d.modified, d.name limit %(limit)s""",
			{"since": since, "upper": upper, "template": template.name, "limit": limit},
		)

	result = plan_date_pass(
		checked_until=state.checked_until,
		now=now,
		offset=offset,
		start_past=bool(template.trigger_start_past),
		due=due,
		changed_late=changed_late,
		limit=BATCH,
	)
	queued = 0
	for name, value in result.starts:
		queued += _start(template, doctype, name, as_datetime(value))
	_save_state(template.name, {"checked_until": result.checked_until})
	return queued


def date_field_problem(doctype: str | None, field: str | None) -> str | None:
	"""Why a date-based trigger cannot read this field (None if it can)."""
	from frappe import _

	if not doctype or not frappe.db.exists("DocType", doctype):
		return _("no DocType {0}").format(repr(doctype))
	meta = frappe.get_meta(doctype)
	if meta.issingle or meta.istable or meta.is_virtual:
		return _("{0} is not a DocType whose documents have dates").format(doctype)
	docfield = meta.get_field(field) if field else None
	if field in ("creation", "modified"):
		return None
	if docfield is None:
		return _("{0} has no field {1}").format(doctype, repr(field))
	if docfield.fieldtype not in DATE_FIELD_TYPES:
		return _("{0} of {1} is a {2} field, not a Date or Datetime").format(
			field, doctype, docfield.fieldtype
		)
	return None


def ensure_date_index(doctype: str | None, field: str | None) -> None:
	"""The date pass queries the field by range: it needs an index. Declared with a Property
	Setter (what Customize Form's "Index" does), so that a migrate keeps it; the setter belongs to
	flow_engine's module, so that uninstalling the app removes it (Frappe deletes what links to an
	app's Module Def), and Frappe drops the index the next time it syncs the doctype's table."""
	if not doctype or not field or (doctype, field) in _INDEXED or date_field_problem(doctype, field):
		return
	if field in ("creation", "modified") or frappe.db.get_column_index(f"tab{doctype}", field, unique=False):
		_INDEXED.add((doctype, field))
		return
	from frappe.custom.doctype.property_setter.property_setter import make_property_setter

	frappe.db.add_index(doctype, [field])  # DDL: MariaDB commits around it
	# after the index: v16's add_index declares it too, with a setter of the same name and no
	# module, which this one replaces
	setter = make_property_setter(doctype, field, "search_index", "1", "Check", for_doctype=False)
	setter.db_set("module", "Flow Engine", update_modified=False)
	frappe.db.commit()
	_INDEXED.add((doctype, field))


# --- scheduled ----------------------------------------------------------------------------------


def _schedule_pass(template, state, now) -> int:
	occurrence = state.occurrence if state.occurrence and not state.occurrence_done else None
	values = {"checked_until": now}
	if occurrence is None:
		occurrence = latest_occurrence(template.trigger_schedule, state.checked_until, now)
		if occurrence is None:
			_save_state(template.name, values)
			return 0
		values.update(occurrence=occurrence, occurrence_done=0, last_docname=None)
		state.last_docname = None
	doctype = template.trigger_doctype
	if not doctype:
		queued = _start(template, None, None, occurrence)
		_save_state(template.name, {**values, "occurrence": occurrence, "occurrence_done": 1})
		return queued
	filters = _filter_rows(template.trigger_filters)
	if state.last_docname:
		filters.append(["name", ">", state.last_docname])
	names = frappe.get_all(doctype, filters=filters, pluck="name", order_by="name asc", limit=BATCH)
	queued = sum(_start(template, doctype, name, occurrence) for name in names)
	values.update(occurrence=occurrence, occurrence_done=int(len(names) < BATCH))
	values["last_docname"] = names[-1] if names else state.last_docname
	_save_state(template.name, values)
	return queued


def _filter_rows(text) -> list:
	filters = json.loads(text) if isinstance(text, str) and text.strip() else (text or [])
	if isinstance(filters, dict):
		return [
			[key, *(value if isinstance(value, list) and len(value) == 2 else ["=", value])]
			for key, value in filters.items()
		]
	return [list(row) for row in filters]


# --- one start ----------------------------------------------------------------------------------


def start_key(template: str, doctype: str | None, docname: str | None, occurrence) -> str:
	text = "|".join([template, doctype or "", docname or "", occurrence.isoformat(sep=" ")])
	return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:20]


def _start(template, doctype: str | None, docname: str | None, occurrence) -> int:
	"""Record the start (at most once) and queue it if the template's condition holds; 1 if queued."""
	from flow_engine.dispatch import parse_condition, queue_start
	from flow_engine.runs import build_context, doc_data
	from flow_engine.runtime.conditions import evaluate_jsonlogic

	snapshot = {}
	outcome = "queued"
	condition = parse_condition(template.trigger_condition)
	if doctype and docname:
		snapshot = doc_data(frappe.get_doc(doctype, docname))
	if condition is not None:
		context = build_context(doctype, docname, snapshot, reload=False) if doctype else {"doc": {}}
		matched, error = evaluate_jsonlogic(
			condition, {"doc": context["doc"], "customer": context.get("customer") or {}}
		)
		if error:
			frappe.log_error(title=f"flow_engine: trigger condition of {template.name} failed", message=error)
		if not matched:
			outcome = "condition not met" if not error else f"condition failed: {error}"[:140]
	now = now_datetime()
	frappe.db.sql(
		"""insert ignore into `tabFlow Time Start`
		(name, flow_template, reference_doctype, reference_name, occurrence, outcome,
		creation, modified, owner, modified_by, docstatus)
		values (%s, %s, %s, %s, %s, %s, %s, %s, 'Administrator', 'Administrator', 0)""",
		(
			start_key(template.name, doctype, docname, occurrence),
			template.name,
			doctype,
			docname,
			occurrence,
			outcome,
			now,
			now,
		),
	)
	if frappe.db.sql("select row_count()")[0][0] != 1 or outcome != "queued":
		return 0  # started already (another tick), or its condition does not hold
	queue_start(template.name, template.trigger_event, doctype, docname, snapshot)
	return 1
