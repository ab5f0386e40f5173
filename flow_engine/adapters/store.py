"""Run state in and out of the Flow Run and Flow Step Pending doctypes.

One engine call costs one write of the run (an UPDATE, or the INSERT of a new run), one bulk
insert of pending rows for newly scheduled steps, and one UPDATE for steps no longer to fire.

These rows are written with plain SQL rather than `frappe.db.get_value`/`set_value`: on the
scheduler's path those two cost more than the step itself (the query builder runs every field
name through sqlparse, and `set_value` clears a document cache in Redis that nothing reads for
these doctypes). See benchmarks/README.md for the measurements.
"""

from __future__ import annotations

import json
from datetime import datetime

import frappe
from frappe.utils import now_datetime

from flow_engine.runtime import AdvanceReport, Run, registry
from flow_engine.runtime.compiled import CompiledDefinitions

RUN_COLUMNS = (
	"name",
	"status",
	"definition_snapshot",
	"step_state",
	"variables",
	"run_state",
	"error",
	"depth",
	"flow_template",
	"context_doctype",
	"context_docname",
)
PENDING_COLUMNS = (
	"name",
	"flow_run",
	"step_id",
	"action",
	"trigger_at",
	"status",
	"retry_count",
	"creation",
	"modified",
	"owner",
	"modified_by",
	"docstatus",
)


def dumps(value) -> str:
	return json.dumps(value, separators=(",", ":"), default=str)


_RUN_SELECT = "select {} from `tabFlow Run` where name = %s".format(", ".join(f"`{c}`" for c in RUN_COLUMNS))


def load_run(name: str, *, for_update: bool = False) -> tuple[Run, frappe._dict]:
	rows = frappe.db.sql(_RUN_SELECT + (" for update" if for_update else ""), (name,), as_dict=True)
	if not rows:
		raise frappe.DoesNotExistError(frappe._("Flow Run {0} not found").format(name))
	row = rows[0]
	return run_from_row(row), row


# One per process: every run of a template version holds the same snapshot, compiled once.
DEFINITIONS = CompiledDefinitions(registry)


def run_from_row(row) -> Run:
	"""The runtime's Run from a Flow Run row holding the RUN_COLUMNS."""
	state = json.loads(row.run_state or "{}")
	definition, compiled = DEFINITIONS.get(row.definition_snapshot or "{}")
	run = Run(
		name=row.name,
		definition=definition,
		status=row.status,
		steps=json.loads(row.step_state or "{}"),
		variables=json.loads(row.variables or "{}"),
		context=state.get("context") or {},
		defaults=state.get("defaults") or {},
		started_at=state.get("started_at"),
		completed_at=state.get("completed_at"),
		error=row.error,
	)
	run._compiled = compiled
	return run


PENDING_READ = (
	"action",
	"flow_run",
	"step_id",
	"status",
	"claimed_by",
	"retry_count",
	"flow_template",
	"context_doctype",
	"context_docname",
	"trigger_event",
	"context_snapshot",
	"last_error",
	"trigger_at",
)
# One JSON column rather than 25: the Python MySQL driver (v15) spends about 20 µs per column of
# every result set on its description, more than the query itself (benchmarks/README.md).
_PENDING_WITH_RUN = (
	"select json_object({}) from `tabFlow Step Pending` p left join `tabFlow Run` r on r.name = p.flow_run"
	" where p.name = %s for update"
).format(", ".join([f"'{c}', p.`{c}`" for c in PENDING_READ] + [f"'run_{c}', r.`{c}`" for c in RUN_COLUMNS]))


def load_pending(name: str) -> tuple[frappe._dict | None, frappe._dict | None]:
	"""A queue row and its run's row, both locked, in one statement (the scheduler's per-step read):
	(None, None) when the row is gone, (row, None) when it has no run (a start) or the run is gone."""
	rows = frappe.db.sql(_PENDING_WITH_RUN, (name,))
	if not rows:
		return None, None
	values = json.loads(rows[0][0])
	row = frappe._dict({c: values[c] for c in PENDING_READ}, name=name)
	row.trigger_at = _datetime(row.trigger_at)
	run_row = frappe._dict({c: values[f"run_{c}"] for c in RUN_COLUMNS})
	return row, (run_row if run_row.name else None)


def _run_values(run: Run) -> dict:
	return {
		"status": run.status,
		"step_state": dumps(run.steps),
		"error": (run.error or None) and run.error[:1000],
		"completed_at": _datetime(run.completed_at),
		"run_state": dumps(
			{
				"context": run.context,
				"defaults": run.defaults,
				"started_at": run.started_at,
				"completed_at": run.completed_at,
			}
		),
	}


def insert_run(run: Run, report: AdvanceReport, fields: dict) -> None:
	doc = frappe.get_doc(
		{
			"doctype": "Flow Run",
			**fields,
			**_run_values(run),
			"definition_snapshot": dumps(run.definition),
			"variables": dumps(run.variables),
			"started_at": _datetime(run.started_at),
		}
	)
	doc.name = run.name
	doc.owner = doc.modified_by = frappe.session.user
	doc.db_insert()
	write_schedule(run, report)


def save_run(run: Run, report: AdvanceReport) -> None:
	modified = update_row("Flow Run", run.name, _run_values(run))
	write_schedule(run, report)
	# an open Flow Run form reloads itself (its poll is only the fallback)
	frappe.publish_realtime(
		"doc_update",
		{"doctype": "Flow Run", "name": run.name, "modified": str(modified)},
		doctype="Flow Run",
		docname=run.name,
		after_commit=True,
	)


def update_row(doctype: str, name: str, values: dict) -> datetime:
	"""One plain UPDATE of a flow_engine row by name, stamping `modified`; returns that stamp.
	Only for flow_engine's own bookkeeping doctypes: no controller hooks, no cache to clear."""
	modified = now_datetime()
	values = {**values, "modified": modified, "modified_by": frappe.session.user}
	assignments = ", ".join(f"`{field}` = %s" for field in values)
	frappe.db.sql(f"update `tab{doctype}` set {assignments} where name = %s", (*values.values(), name))
	return modified


def write_schedule(run: Run, report: AdvanceReport) -> None:
	"""Pending rows for newly scheduled steps (one bulk insert); cancel rows no longer to fire;
	the watches of steps that stopped or started waiting for a document event."""
	if report.unscheduled:
		frappe.db.sql(
			"delete from `tabFlow Event Wait` where flow_run = %s and step_id in %s",
			(run.name, tuple(report.unscheduled)),
		)
		table = frappe.qb.DocType("Flow Step Pending")
		(
			frappe.qb.update(table)
			.set(table.status, "cancelled")
			.set(table.last_error, f"run {run.status}")
			.where(
				(table.flow_run == run.name)
				& table.step_id.isin(report.unscheduled)
				& table.status.isin(("pending", "held"))
			)
		).run()
	watching = [sid for sid in report.waiting if (run.steps[sid].get("wait") or {}).get("doctype")]
	if watching:
		write_watches(run, watching)
	if not report.scheduled:
		return
	scheduled = dict(report.scheduled)  # a step scheduled twice in one call keeps its last time
	now = now_datetime()
	user = frappe.session.user
	rows = [
		(pending_name(), run.name, step_id, "fire", _datetime(at), "pending", 0, now, now, user, user, 0)
		for step_id, at in scheduled.items()
	]
	frappe.db.bulk_insert("Flow Step Pending", PENDING_COLUMNS, rows)


WATCH_COLUMNS = (
	"name",
	"flow_run",
	"step_id",
	"watched_doctype",
	"watched_event",
	"watched_field",
	"watched_value",
	"watched_docname",
	"match_rule",
	"timeout_at",
	"creation",
	"modified",
	"owner",
	"modified_by",
	"docstatus",
)


def write_watches(run: Run, step_ids: list[str]) -> None:
	"""One Flow Event Wait row per step that waits for a document event. Document events of its
	DocType read them only if the DocType is listened to: a run of a template that no longer
	watches it (edited, or turned off) makes it listened again."""
	from flow_engine.dispatch import watch_is_listened

	now = now_datetime()
	user = frappe.session.user
	rows = []
	for step_id in step_ids:
		wait = run.steps[step_id]["wait"]
		rule = {"match": wait.get("match"), "bound": wait.get("bound") or {}} if wait.get("match") else None
		value = wait.get("value")
		rows.append(
			(
				pending_name(),
				run.name,
				step_id,
				wait["doctype"],
				wait.get("event") or "update",
				wait.get("field"),
				None if value is None else str(value),
				wait.get("docname"),
				dumps(rule) if rule else None,
				_datetime(run.steps[step_id].get("timeout_at")),
				now,
				now,
				user,
				user,
				0,
			)
		)
	frappe.db.bulk_insert("Flow Event Wait", WATCH_COLUMNS, rows)
	for step_id in step_ids:
		wait = run.steps[step_id]["wait"]
		watch_is_listened(wait["doctype"], wait.get("event") or "update")


def pending_name() -> str:
	"""Pending rows are named at random, like Frappe's own queues (Email Queue, RQ Job): a naming
	series would lock its `tabSeries` row until the transaction ends, and the outbox row is
	written inside the user's save, so every save that queues a flow would wait on every other."""
	return frappe.generate_hash(length=12)


def reserve_names(prefix: str, count: int) -> list[str]:
	"""`count` consecutive names of a naming series (FR-00001…) in one statement, not one per name."""
	if count <= 0:
		return []
	last = _advance_series(prefix, count)
	if last is None:
		# first use of the prefix: create it (another process may do the same at once), then again
		frappe.db.sql("insert ignore into `tabSeries` (name, current) values (%s, 0)", (prefix,))
		last = _advance_series(prefix, count)
	return [f"{prefix}{number:05d}" for number in range(last - count + 1, last + 1)]


def _advance_series(prefix: str, count: int) -> int | None:
	"""The series' new current value, or None when the series has no row yet.

	An UPDATE that sets LAST_INSERT_ID(expr) gets the value back in the server's reply to it, as
	for an insert: the cursor's lastrowid (both drivers: pymysql on v15, mysqlclient on v16), with
	no `select last_insert_id()` after it."""
	frappe.db.sql(
		"update `tabSeries` set current = last_insert_id(current + %s) where name = %s", (count, prefix)
	)
	cursor = frappe.db._cursor
	return int(cursor.lastrowid) if cursor.rowcount else None


def new_run_name() -> str:
	return reserve_names("FR-", 1)[0]


def _datetime(value: str | None) -> datetime | None:
	return datetime.fromisoformat(value) if value else None
