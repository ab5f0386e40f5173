"""Run state in and out of the Flow Run and Flow Step Pending doctypes.

One engine call costs one write of the run (an UPDATE, or the INSERT of a new run), one bulk
insert of pending rows for newly scheduled steps, and one UPDATE for steps no longer to fire.
"""

from __future__ import annotations

import json
from datetime import datetime

import frappe
from frappe.utils import now_datetime

from flow_engine.runtime import AdvanceReport, Run

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


def load_run(name: str, *, for_update: bool = False) -> tuple[Run, frappe._dict]:
	row = frappe.db.get_value("Flow Run", name, RUN_COLUMNS, as_dict=True, for_update=for_update)
	if not row:
		raise frappe.DoesNotExistError(frappe._("Flow Run {0} not found").format(name))
	state = json.loads(row.run_state or "{}")
	run = Run(
		name=row.name,
		definition=json.loads(row.definition_snapshot or "{}"),
		status=row.status,
		steps=json.loads(row.step_state or "{}"),
		variables=json.loads(row.variables or "{}"),
		context=state.get("context") or {},
		defaults=state.get("defaults") or {},
		started_at=state.get("started_at"),
		completed_at=state.get("completed_at"),
		error=row.error,
	)
	return run, row


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
	frappe.db.set_value("Flow Run", run.name, _run_values(run))
	write_schedule(run, report)
	# an open Flow Run form reloads itself (its poll is only the fallback)
	frappe.publish_realtime(
		"doc_update",
		{
			"doctype": "Flow Run",
			"name": run.name,
			"modified": str(frappe.db.get_value("Flow Run", run.name, "modified")),
		},
		doctype="Flow Run",
		docname=run.name,
		after_commit=True,
	)


def write_schedule(run: Run, report: AdvanceReport) -> None:
	"""Pending rows for newly scheduled steps (one bulk insert); cancel rows no longer to fire."""
	if report.unscheduled:
		table = frappe.qb.DocType("Flow Step Pending")
		(
			frappe.qb.update(table)
			.set(table.status, "cancelled")
			.set(table.last_error, f"run {run.status}")
			.where(
				(table.flow_run == run.name)
				& table.step_id.isin(report.unscheduled)
				& (table.status == "pending")
			)
		).run()
	if not report.scheduled:
		return
	scheduled = dict(report.scheduled)  # a step scheduled twice in one call keeps its last time
	names = reserve_names("FSP-", len(scheduled))
	now = now_datetime()
	user = frappe.session.user
	rows = [
		(name, run.name, step_id, "fire", _datetime(at), "pending", 0, now, now, user, user, 0)
		for name, (step_id, at) in zip(names, scheduled.items(), strict=True)
	]
	frappe.db.bulk_insert("Flow Step Pending", PENDING_COLUMNS, rows)


def reserve_names(prefix: str, count: int) -> list[str]:
	"""`count` consecutive names of a naming series (FSP-00001…) in two queries, not one per name."""
	if count <= 0:
		return []
	frappe.db.sql("insert ignore into `tabSeries` (name, current) values (%s, 0)", (prefix,))
	frappe.db.sql("update `tabSeries` set current = current + %s where name = %s", (count, prefix))
	last = frappe.db.sql("select current from `tabSeries` where name = %s", (prefix,))[0][0]
	return [f"{prefix}{number:05d}" for number in range(last - count + 1, last + 1)]


def new_run_name() -> str:
	return reserve_names("FR-", 1)[0]


def _datetime(value: str | None) -> datetime | None:
	return datetime.fromisoformat(value) if value else None
