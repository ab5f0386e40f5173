"""What a start and a fired step write, and the queue's housekeeping (see benchmarks/README.md)."""

import json
import re
from contextlib import contextmanager
from datetime import timedelta
from unittest.mock import patch

import frappe
from frappe.utils import now_datetime

from flow_engine import runs
from flow_engine.adapters.store import reserve_names
from flow_engine.scheduler import claim, drain, purge_finished, worker_id
from flow_engine.tests.utils import FlowTestCase, make_template, statuses, wipe_runs

DELAYED = [
	{"id": "now", "kind": "wait"},
	{
		"id": "later",
		"kind": "wait",
		"depends_on": ["now"],
		"trigger": {"type": "after_delay", "delay_hours": 1},
	},
]
WRITE = re.compile(r"^\s*(insert|update|delete)\b[^`]*`(tab[^`]+)`", re.IGNORECASE)


@contextmanager
def recorded_statements():
	"""Every statement sent through frappe.db.sql, as text."""
	statements: list[str] = []
	real = frappe.db.sql

	def sql(query, *args, **kwargs):
		statements.append(str(query).strip())
		return real(query, *args, **kwargs)

	with patch.object(frappe.db, "sql", sql):
		yield statements


@contextmanager
def counted_writes():
	"""The statements that write, counted per statement kind and table once the block is over:
	{("update", "tabFlow Run"): 1}."""
	writes: dict[tuple[str, str], int] = {}
	with recorded_statements() as statements:
		yield writes
	for statement in statements:
		found = WRITE.match(statement)
		if found:
			key = (found.group(1).lower(), found.group(2))
			writes[key] = writes.get(key, 0) + 1


def transaction_control(statements: list[str]) -> list[str]:
	return [q.lower() for q in statements if q.split()[0].lower() in ("start", "commit", "rollback")]


class TestWriteCosts(FlowTestCase):
	def setUp(self):
		wipe_runs()

	def tearDown(self):
		frappe.db.rollback()
		wipe_runs()

	def test_a_start_writes_its_run_once(self):
		template = make_template("one write", DELAYED)
		with counted_writes() as writes:
			run, _report = runs.start_run(template)
		self.assertEqual(writes.get(("insert", "tabFlow Run")), 1)
		self.assertNotIn(("update", "tabFlow Run"), writes)
		self.assertEqual(writes.get(("insert", "tabFlow Step Pending")), 1)  # one bulk insert
		self.assertEqual(statuses(run.name), {"now": "done", "later": "scheduled"})
		self.assertEqual(frappe.db.get_value("Flow Run", run.name, "status"), "running")

	def test_a_step_that_creates_a_linked_document_finds_the_run_written(self):
		template = make_template(
			"linked", [{"id": "job", "kind": "dispatch_job", "payload": {"subject": "for {{run.name}}"}}]
		)
		with counted_writes() as writes:
			run, _report = runs.start_run(template)
		# Dispatch Job.flow_run is a Link, validated on insert: the run's row is written first
		self.assertEqual(writes.get(("insert", "tabFlow Run")), 1)
		self.assertEqual(writes.get(("update", "tabFlow Run")), 1)
		job = frappe.get_all("Dispatch Job", filters={"flow_run": run.name}, fields=["subject"])
		self.assertEqual([j.subject for j in job], [f"for {run.name}"])
		self.assertEqual(frappe.db.get_value("Flow Run", run.name, "status"), "completed")

	def test_a_failed_document_step_keeps_the_run_row(self):
		# the run row is written outside the effect's savepoint: the failed attempt rolls back only
		# its own writes, and the run is saved with the failure
		template = make_template(
			"failing update",
			[
				{
					"id": "update",
					"kind": "erp_update",
					"payload": {
						"doctype": "ToDo",
						"docname_ref": "missing",
						"fields_json": {"description": "x"},
					},
				}
			],
		)
		run, report = runs.start_run(template)
		self.assertEqual(report.failed, ["update"])
		self.assertEqual(frappe.db.get_value("Flow Run", run.name, "status"), "failed")

	def test_a_fired_step_writes_the_run_once_and_its_row_once(self):
		template = make_template("fired", DELAYED)
		run, _report = runs.start_run(template)
		frappe.db.commit()
		due = frappe.db.get_value("Flow Step Pending", {"flow_run": run.name}, "trigger_at")
		with self.freeze_time(due + timedelta(seconds=1)), counted_writes() as writes:
			stats = drain(budget_seconds=5)
		self.assertEqual((stats.claimed, stats.completed), (1, 1))
		self.assertEqual(writes.get(("update", "tabFlow Run")), 1)
		# the claim (one UPDATE for the batch) and the finish
		self.assertEqual(writes.get(("update", "tabFlow Step Pending")), 2)
		self.assertNotIn(("insert", "tabFlow Step Pending"), writes)
		self.assertEqual(frappe.db.get_value("Flow Run", run.name, "status"), "completed")

	def test_an_event_start_sees_the_document_as_it_was_at_the_event(self):
		make_template(
			"snapshot", [{"id": "a", "kind": "wait"}], trigger_event="on_insert", trigger_doctype="ToDo"
		)
		frappe.db.commit()
		with patch("flow_engine.dispatch._enqueue_drain"):  # start it by hand, after a later change
			todo = frappe.get_doc({"doctype": "ToDo", "description": "at the event"}).insert()
			frappe.db.commit()
		frappe.db.set_value("ToDo", todo.name, "description", "changed later")
		frappe.db.commit()
		stats = drain(budget_seconds=5, starts_only=True)
		self.assertEqual(stats.completed, 1)
		run = frappe.get_all(
			"Flow Run", filters={"context_docname": todo.name}, fields=["name", "run_state", "status"]
		)[0]
		self.assertEqual(run.status, "completed")
		self.assertEqual(json.loads(run.run_state)["context"]["doc"]["description"], "at the event")

	def test_a_start_of_a_deleted_template_is_cancelled(self):
		template = make_template(
			"deleted", [{"id": "a", "kind": "wait"}], trigger_event="on_insert", trigger_doctype="ToDo"
		)
		frappe.db.commit()
		with patch("flow_engine.dispatch._enqueue_drain"):
			todo = frappe.get_doc({"doctype": "ToDo", "description": "orphan"}).insert()
			frappe.db.commit()
		frappe.delete_doc("Flow Template", template, force=True, ignore_permissions=True)
		frappe.db.commit()
		stats = drain(budget_seconds=5, starts_only=True)
		self.assertEqual((stats.cancelled, stats.retried, stats.failed), (1, 0, 0))
		row = frappe.get_all(
			"Flow Step Pending", filters={"context_docname": todo.name}, fields=["status", "last_error"]
		)
		self.assertEqual([(r.status, r.last_error) for r in row], [("cancelled", "template was deleted")])

	def test_reserve_names_counts_on_from_a_new_or_an_existing_series(self):
		prefix = "_TFLOW-"
		frappe.db.sql("delete from `tabSeries` where name = %s", (prefix,))
		try:
			self.assertEqual(reserve_names(prefix, 3), [f"{prefix}00001", f"{prefix}00002", f"{prefix}00003"])
			self.assertEqual(reserve_names(prefix, 1), [f"{prefix}00004"])
			self.assertEqual(reserve_names(prefix, 0), [])
			self.assertEqual(
				frappe.db.sql("select current from `tabSeries` where name = %s", (prefix,))[0][0], 4
			)
		finally:
			frappe.db.sql("delete from `tabSeries` where name = %s", (prefix,))

	def test_the_claim_reads_committed_and_gives_the_session_its_level_back(self):
		template = make_template("claim", DELAYED)
		run, _report = runs.start_run(template)
		frappe.db.commit()
		levels = []
		real = frappe.db.sql

		def sql(query, *args, **kwargs):
			if "skip locked" in str(query):
				levels.append(real("select @@session.tx_isolation")[0][0])
			return real(query, *args, **kwargs)

		due = frappe.db.get_value("Flow Step Pending", {"flow_run": run.name}, "trigger_at")
		with self.freeze_time(due + timedelta(seconds=1)), patch.object(frappe.db, "sql", sql):
			names = claim(10, worker_id(), 300)
		self.assertEqual(len(names), 1)
		self.assertEqual(set(levels), {"READ-COMMITTED"})
		self.assertEqual(frappe.db.sql("select @@session.tx_isolation")[0][0], "REPEATABLE-READ")

	def test_a_drain_fires_its_steps_in_read_committed_too(self):
		# MariaDB 11's snapshot isolation makes REPEATABLE READ workers that create documents of one
		# naming series fail on most attempts (error 1020): the drain's transactions read committed
		template = make_template("steps read committed", DELAYED)
		run, _report = runs.start_run(template)
		frappe.db.commit()
		levels = []
		real_fire = runs.fire_step

		def fire(*args, **kwargs):
			levels.append(frappe.db.sql("select @@session.tx_isolation")[0][0])
			return real_fire(*args, **kwargs)

		due = frappe.db.get_value("Flow Step Pending", {"flow_run": run.name}, "trigger_at")
		with self.freeze_time(due + timedelta(seconds=1)), patch("flow_engine.runs.fire_step", fire):
			stats = drain(budget_seconds=10)
		self.assertEqual((stats.completed, levels), (1, ["READ-COMMITTED"]))
		self.assertEqual(frappe.db.sql("select @@session.tx_isolation")[0][0], "REPEATABLE-READ")

	def test_the_drain_gives_the_level_back_with_its_last_commit(self):
		template = make_template("level back", DELAYED)
		run, _report = runs.start_run(template)
		frappe.db.commit()
		due = frappe.db.get_value("Flow Step Pending", {"flow_run": run.name}, "trigger_at")
		with self.freeze_time(due + timedelta(seconds=1)), recorded_statements() as statements:
			stats = drain(budget_seconds=5)
		self.assertEqual((stats.claimed, stats.completed), (1, 1))
		# to READ COMMITTED with nothing to commit first: START TRANSACTION alone; the claim's commit
		# starts the next transaction (at its level); the group's commit gives the level back
		self.assertEqual(
			transaction_control(statements),
			["start transaction", "commit and chain", "commit", "start transaction"],
		)
		self.assertEqual(frappe.db.sql("select @@session.tx_isolation")[0][0], "REPEATABLE-READ")
		# and the transaction open after the drain is at that level: it reads the same row twice
		query = "select modified from `tabFlow Run` where name = %s"
		with self.primary_connection():
			first = frappe.db.sql(query, (run.name,))[0][0]
		with self.secondary_connection():
			frappe.db.sql(
				"update `tabFlow Run` set modified = modified + interval 1 second where name = %s",
				(run.name,),
			)
			frappe.db.commit()
		with self.primary_connection():
			self.assertEqual(frappe.db.sql(query, (run.name,))[0][0], first)
			frappe.db.commit()
			self.assertEqual(frappe.db.sql(query, (run.name,))[0][0], first + timedelta(seconds=1))

	def test_a_drain_commits_first_what_its_caller_left_to_commit(self):
		template = make_template("level after writes", DELAYED)
		run, _report = runs.start_run(template)
		frappe.db.commit()
		due = frappe.db.get_value("Flow Step Pending", {"flow_run": run.name}, "trigger_at")
		committed = []
		frappe.db.after_commit.add(lambda: committed.append("the caller's callback"))
		with self.freeze_time(due + timedelta(seconds=1)), recorded_statements() as statements:
			drain(budget_seconds=5)
		self.assertEqual(committed, ["the caller's callback"])
		self.assertEqual(
			transaction_control(statements)[:3], ["commit", "start transaction", "commit and chain"]
		)

	def test_a_session_that_lost_the_saved_level_gets_the_server_s(self):
		from flow_engine import scheduler

		real = scheduler._claim

		def claim_then_forget(*args, **kwargs):
			frappe.db.sql("set @flow_engine_isolation = null")  # as on a connection opened again
			return real(*args, **kwargs)

		with patch.object(scheduler, "_claim", claim_then_forget):
			drain(budget_seconds=5)
		self.assertEqual(
			frappe.db.sql("select @@session.tx_isolation")[0][0],
			frappe.db.sql("select @@global.tx_isolation")[0][0],
		)

	def test_a_start_reads_no_ledger_row_and_a_later_step_reads_its_own(self):
		# a run named in this transaction has no Flow Effect rows but those its start writes
		template = make_template(
			"ledger reads",
			[
				{"id": "job", "kind": "dispatch_job", "payload": {"subject": "first of {{run.name}}"}},
				{
					"id": "later",
					"kind": "dispatch_job",
					"depends_on": ["job"],
					"trigger": {"type": "after_delay", "delay_hours": 1},
					"payload": {"subject": "later of {{run.name}}"},
				},
			],
		)
		ledger = "from `tabFlow Effect`"
		with recorded_statements() as statements:
			run, _report = runs.start_run(template)
		self.assertEqual([q for q in statements if ledger in q], [])
		frappe.db.commit()
		due = frappe.db.get_value("Flow Step Pending", {"flow_run": run.name}, "trigger_at")
		with self.freeze_time(due + timedelta(seconds=1)), recorded_statements() as statements:
			stats = drain(budget_seconds=5)
		self.assertEqual(stats.completed, 1)
		self.assertEqual(len([q for q in statements if ledger in q]), 1)
		subjects = frappe.get_all("Dispatch Job", filters={"flow_run": run.name}, pluck="subject")
		self.assertEqual(sorted(subjects), [f"first of {run.name}", f"later of {run.name}"])
		self.assertEqual(frappe.db.count("Flow Effect", {"flow_run": run.name}), 2)

	def test_an_effect_of_a_new_run_asked_twice_acts_once(self):
		from flow_engine.adapters.effects import FrappeEffects
		from flow_engine.settings import get_settings

		effects = FrappeEffects("FR-new-run-test", get_settings(), new_run=True)
		subject = f"once {frappe.generate_hash(length=8)}"
		key = "FR-new-run-test:tell"
		first = effects.notify_in_app(["Administrator"], subject, "body", idempotency_key=key, reference=None)
		second = effects.notify_in_app(
			["Administrator"], subject, "body", idempotency_key=key, reference=None
		)
		self.assertEqual(second, first)
		self.assertEqual(frappe.db.count("Notification Log", {"subject": subject}), 1)
		# the ledger row waits for the run's save, in the same transaction
		self.assertEqual(frappe.db.count("Flow Effect", {"idempotency_key": key}), 0)
		effects.write_ledger()
		effects.write_ledger()  # nothing new: no second row, no error
		row = frappe.db.get_value(
			"Flow Effect",
			{"idempotency_key": key},
			["name", "action", "flow_run", "result", "owner"],
			as_dict=True,
		)
		self.assertEqual(
			(row.name, row.action, row.flow_run, json.loads(row.result), row.owner),
			(f"{key}|notify_in_app", "notify_in_app", "FR-new-run-test", first, "Administrator"),
		)

	def test_the_ledger_of_an_advance_is_one_insert_with_the_run(self):
		template = make_template(
			"ledger rows",
			[
				{"id": "job", "kind": "dispatch_job", "payload": {"subject": "job of {{run.name}}"}},
				{
					"id": "tell",
					"kind": "notify",
					"depends_on": ["job"],
					"payload": {"channel": "in_app", "to": "Administrator", "subject": "s {{run.name}}"},
				},
				{
					"id": "again",
					"kind": "dispatch_job",
					"depends_on": ["tell"],
					"payload": {"subject": "again of {{run.name}}"},
				},
			],
		)
		with counted_writes() as writes:
			run, _report = runs.start_run(template)
		self.assertEqual(writes[("insert", "tabFlow Effect")], 1)
		effects = frappe.get_all(
			"Flow Effect",
			filters={"flow_run": run.name},
			fields=["idempotency_key", "action", "reference_doctype"],
		)
		self.assertEqual(
			sorted((e.idempotency_key.split(":")[-1], e.action, e.reference_doctype) for e in effects),
			[
				("again", "create_dispatch_job", "Dispatch Job"),
				("job", "create_dispatch_job", "Dispatch Job"),
				("tell", "notify_in_app", None),
			],
		)

	def test_an_advance_that_fails_before_its_save_writes_no_ledger(self):
		template = make_template(
			"ledger lost with its effect",
			[{"id": "job", "kind": "dispatch_job", "payload": {"subject": "lost {{run.name}}"}}],
		)
		before = frappe.db.count("Flow Effect")
		with patch.object(runs, "save_run", side_effect=RuntimeError("the save fails")):
			with self.assertRaises(RuntimeError):
				runs.start_run(template)
		frappe.db.rollback()
		self.assertEqual(frappe.db.count("Flow Effect"), before)
		self.assertEqual(frappe.db.count("Dispatch Job", {"subject": ("like", "lost FR-%")}), 0)

	def test_purge_deletes_only_old_fired_and_cancelled_rows(self):
		old = now_datetime() - timedelta(days=31)
		recent = now_datetime() - timedelta(days=29)
		rows = {
			"old completed": ("completed", old),
			"old cancelled": ("cancelled", old),
			"old failed": ("failed", old),
			"old pending": ("pending", old),
			"old running": ("running", old),
			"recent completed": ("completed", recent),
		}
		names = []
		for step_id, (status, modified) in rows.items():
			names.append(frappe.generate_hash(length=12))
			frappe.db.sql(
				"""insert into `tabFlow Step Pending` (name, action, step_id, status, trigger_at, retry_count,
				creation, modified, owner, modified_by, docstatus)
				values (%s, 'fire', %s, %s, %s, 0, %s, %s, 'Administrator', 'Administrator', 0)""",
				(names[-1], step_id, status, modified, now_datetime(), modified),
			)
		frappe.db.commit()
		self.assertEqual(purge_finished(batch=1), 2)  # batches of one: the loop goes on until done
		left = frappe.get_all("Flow Step Pending", filters={"name": ("in", list(names))}, pluck="step_id")
		self.assertEqual(sorted(left), ["old failed", "old pending", "old running", "recent completed"])
		frappe.db.set_single_value("Flow Settings", "keep_finished_days", 0)
		try:
			from flow_engine.settings import clear_settings_cache

			clear_settings_cache()
			frappe.db.sql(
				"update `tabFlow Step Pending` set modified = %s where name in %s", (old, tuple(names))
			)
			self.assertEqual(purge_finished(), 0)  # 0 keeps them
		finally:
			frappe.db.set_single_value("Flow Settings", "keep_finished_days", 30)
			clear_settings_cache()
			frappe.db.commit()
