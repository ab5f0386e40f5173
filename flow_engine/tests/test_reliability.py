"""Promises that need more than one process, a crash, or a failure to prove."""

import json
import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from unittest.mock import patch

import frappe
from frappe.utils import now_datetime

from flow_engine import runs
from flow_engine.scheduler import drain
from flow_engine.settings import clear_settings_cache
from flow_engine.tests.utils import (
	FlowTestCase,
	created_here,
	make_template,
	make_user,
	own_email,
	statuses,
	wipe_runs,
)


def run_python(code: str, timeout: int = 600) -> subprocess.CompletedProcess:
	"""Run code in a new process connected to this site (a second worker, a process to kill)."""
	prelude = textwrap.dedent(
		f"""
		import frappe
		frappe.init(site={frappe.local.site!r}, sites_path={os.path.abspath(frappe.local.sites_path)!r})
		frappe.connect()
		frappe.flags.in_test = True
		frappe.flags.flow_engine_rows_since = {str(frappe.flags.flow_engine_rows_since)!r}
		"""
	)
	return subprocess.run(
		[sys.executable, "-c", prelude + textwrap.dedent(code)],
		capture_output=True,
		text=True,
		timeout=timeout,
		cwd=os.path.abspath(frappe.local.sites_path),
	)


def set_settings(**values) -> None:
	for key, value in values.items():
		frappe.db.set_single_value("Flow Settings", key, value)
	frappe.db.commit()
	clear_settings_cache()


DELAYED_JOBS = [
	{
		"id": f"job{i}",
		"kind": "dispatch_job",
		"trigger": {"type": "after_delay", "delay_hours": 1},
		"payload": {"subject": f"job {i} of {{{{run.name}}}}"},
	}
	for i in range(4)
]


class TestReliability(FlowTestCase):
	def setUp(self):
		wipe_runs()

	def tearDown(self):
		frappe.db.rollback()
		set_settings(
			lease_seconds=300, batch_size=200, notify_on_failure=1, disable_after_failures=0, max_depth=5
		)
		wipe_runs()

	def test_four_processes_fire_ten_thousand_rows_exactly_once(self):
		template = make_template("exactly once", DELAYED_JOBS)
		run_names = [runs.start_run(template)[0].name for _ in range(2500)]
		frappe.db.commit()
		self.assertEqual(
			frappe.db.count("Flow Step Pending", {"status": "pending", "action": "fire", **created_here()}),
			10_000,
		)
		due = (now_datetime() + timedelta(hours=2)).isoformat()
		workers = [
			subprocess.Popen(
				[
					sys.executable,
					"-c",
					textwrap.dedent(
						f"""
					import frappe, json
					from freezegun import freeze_time
					frappe.init(site={frappe.local.site!r}, sites_path={os.path.abspath(frappe.local.sites_path)!r})
					frappe.connect()
					frappe.flags.flow_engine_rows_since = {str(frappe.flags.flow_engine_rows_since)!r}
					from flow_engine.scheduler import drain
					import pytz, datetime
					from frappe.utils import get_system_timezone
					due = pytz.timezone(get_system_timezone()).localize(datetime.datetime.fromisoformat({due!r}))
					with freeze_time(due.astimezone(pytz.utc), tick=True):
						stats = drain(budget_seconds=500, batch_size=100)
					print(json.dumps(stats.as_dict()))
					"""
					),
				],
				cwd=os.path.abspath(frappe.local.sites_path),
				stdout=subprocess.PIPE,
				stderr=subprocess.PIPE,
				text=True,
			)
			for _ in range(4)
		]
		outputs = [worker.communicate(timeout=900) for worker in workers]
		stats = [json.loads(out.strip().splitlines()[-1]) for out, _err in outputs]
		self.assertEqual(sum(s["completed"] for s in stats), 10_000, [err[-2000:] for _o, err in outputs])
		self.assertTrue(all(s["claimed"] > 0 for s in stats), stats)  # every process took a share
		frappe.db.rollback()
		# count documents, not log lines
		jobs = frappe.db.sql(
			"select flow_run, subject, count(*) from `tabDispatch Job` group by flow_run, subject having count(*) > 1"
		)
		self.assertEqual(jobs, ())
		self.assertEqual(frappe.db.count("Dispatch Job", {"flow_run": ("in", run_names)}), 10_000)
		self.assertEqual(
			frappe.db.count("Flow Run", {"status": "completed", "name": ("in", run_names)}), 2500
		)
		self.assertEqual(
			frappe.db.count(
				"Flow Step Pending", {"status": ("!=", "completed"), "action": "fire", **created_here()}
			),
			0,
		)
		self.assertEqual(frappe.db.count("Flow Effect", {"flow_run": ("in", run_names)}), 10_000)

	def test_killed_worker_loses_nothing_and_duplicates_nothing(self):
		template = make_template("crash", DELAYED_JOBS)
		run_names = [runs.start_run(template)[0].name for _ in range(10)]
		set_settings(lease_seconds=60, batch_size=40)
		frappe.db.commit()
		due = now_datetime() + timedelta(hours=2)
		# The worker creates documents for 6 steps; on the 7th it dies with SIGKILL after the
		# document is created and before the commit. It commits its rows in groups
		# (scheduler.Group): what the open group did dies with it, documents and ledger included.
		result = run_python(
			f"""
			import os, signal
			from freezegun import freeze_time
			from flow_engine.adapters import effects
			from flow_engine.scheduler import drain
			real = effects.FrappeEffects.create_dispatch_job
			calls = []
			def create_then_die(self, values, **kwargs):
				answer = real(self, values, **kwargs)
				calls.append(answer)
				if len(calls) == 7:
					os.kill(os.getpid(), signal.SIGKILL)
				return answer
			effects.FrappeEffects.create_dispatch_job = create_then_die
			import pytz
			from frappe.utils import get_system_timezone
			due = pytz.timezone(get_system_timezone()).localize(frappe.utils.get_datetime({due.isoformat()!r}))
			with freeze_time(due.astimezone(pytz.utc)):
				drain(budget_seconds=60)
			"""
		)
		self.assertEqual(result.returncode, -9, result.stderr[-2000:])
		frappe.db.rollback()
		# a group commits after 50 rows or 0.25 s: on a slow machine some of the first six may
		# have been committed, and then exactly those, each with its document and ledger row
		committed = frappe.db.count("Flow Step Pending", {"status": "completed", **created_here()})
		self.assertLessEqual(committed, 6)
		self.assertEqual(frappe.db.count("Dispatch Job", {"flow_run": ("in", run_names)}), committed)
		self.assertEqual(frappe.db.count("Flow Effect", {"flow_run": ("in", run_names)}), committed)
		running = frappe.get_all("Flow Step Pending", filters={"status": "running"}, pluck="name")
		self.assertEqual(len(running), 40 - committed)  # claimed by the dead worker, leased
		with self.freeze_time(due + timedelta(seconds=30)):
			self.assertEqual(drain(budget_seconds=30).claimed, 0)  # the lease still holds
		with self.freeze_time(due + timedelta(seconds=61)):
			stats = drain(budget_seconds=60)
		self.assertEqual(stats.completed, 40 - committed)
		self.assertEqual(frappe.db.count("Dispatch Job", {"flow_run": ("in", run_names)}), 40)
		self.assertEqual(frappe.db.count("Flow Effect", {"flow_run": ("in", run_names)}), 40)
		self.assertEqual(
			frappe.db.sql(
				"select count(distinct flow_run, subject) from `tabDispatch Job` where flow_run in %s",
				(run_names,),
			)[0][0],
			40,
		)
		self.assertEqual(frappe.db.count("Flow Run", {"status": "completed", "name": ("in", run_names)}), 10)

	def test_a_step_that_raises_never_fails_the_users_save(self):
		make_template(
			"todo failing",
			[
				{
					"id": "boom",
					"kind": "erp_update",
					"payload": {
						"doctype": "ToDo",
						"docname_ref": "nope",
						"fields_json": {"description": "x"},
					},
				}
			],
			trigger_event="on_insert",
			trigger_doctype="ToDo",
		)
		frappe.db.commit()
		todo = frappe.get_doc({"doctype": "ToDo", "description": "saved anyway"}).insert()
		frappe.db.commit()
		self.assertTrue(frappe.db.exists("ToDo", todo.name))
		run = frappe.get_all(
			"Flow Run", filters={"context_docname": todo.name}, fields=["name", "status", "error"]
		)
		self.assertEqual(
			[(r.status, r.error) for r in run], [("failed", "step boom: ToDo nope does not exist")]
		)

	def test_deadlock_during_a_tick_is_retried_and_nothing_is_lost(self):
		from flow_engine.scheduler import CONFLICT_RETRIES

		template = make_template("deadlock", DELAYED_JOBS[:1])
		run, _ = runs.start_run(template)
		frappe.db.commit()
		due = now_datetime() + timedelta(hours=2)
		real_fire = runs.fire_step
		attempts = []

		def deadlock_until(times):
			def fire(*args, **kwargs):
				attempts.append(args)
				if len(attempts) <= times:
					raise frappe.QueryDeadlockError("Deadlock found when trying to get lock")
				return real_fire(*args, **kwargs)

			return fire

		# a collision that keeps happening: the row backs off and keeps its error
		with patch("flow_engine.runs.fire_step", deadlock_until(CONFLICT_RETRIES)):
			with self.freeze_time(due):
				first = drain(budget_seconds=10)
		row = frappe.get_all(
			"Flow Step Pending",
			filters={"flow_run": run.name},
			fields=["status", "retry_count", "trigger_at", "last_error"],
		)[0]
		self.assertEqual(len(attempts), CONFLICT_RETRIES)
		self.assertEqual((first.retried, row.status, row.retry_count), (1, "pending", 1))
		self.assertIn("QueryDeadlockError", row.last_error)
		# once due again, a single collision is repeated at once, in the same drain
		attempts.clear()
		with patch("flow_engine.runs.fire_step", deadlock_until(1)):
			with self.freeze_time(row.trigger_at + timedelta(seconds=1)):
				second = drain(budget_seconds=10)
		self.assertEqual((second.completed, second.retried, len(attempts)), (1, 0, 2))
		self.assertEqual(statuses(run.name), {"job0": "done"})
		self.assertEqual(frappe.db.count("Dispatch Job", {"flow_run": run.name}), 1)

	def test_after_downtime_overdue_steps_fire_once_in_order_in_batches(self):
		template = make_template(
			"downtime",
			[
				{"id": f"s{i}", "kind": "wait", "trigger": {"type": "after_delay", "delay_hours": i + 1}}
				for i in range(12)
			],
		)
		run, _ = runs.start_run(template)
		frappe.db.commit()
		set_settings(batch_size=5)
		fired = []
		real_fire = runs.fire_step

		def record(run_name, step_id, **kwargs):
			fired.append(step_id)
			return real_fire(run_name, step_id, **kwargs)

		with (
			patch("flow_engine.runs.fire_step", record),
			self.freeze_time(now_datetime() + timedelta(days=1)),
		):
			stats = drain(budget_seconds=30)
		self.assertEqual(fired, [f"s{i}" for i in range(12)])  # trigger_at order
		self.assertEqual((stats.batches, stats.completed), (3, 12))  # 5 + 5 + 2: never above the batch size
		self.assertEqual(frappe.db.get_value("Flow Run", run.name, "status"), "completed")

	def test_a_flow_that_retriggers_itself_stops_at_the_depth_limit(self):
		set_settings(max_depth=3)
		make_template(
			"self trigger",
			[
				{
					"id": "touch",
					"kind": "erp_update",
					"payload": {
						"doctype": "ToDo",
						"docname_ref": "{{doc.name}}",
						"fields_json": {"description": "{{doc.description}}+"},
					},
				}
			],
			trigger_event="on_update",
			trigger_doctype="ToDo",
		)
		frappe.db.commit()
		todo = frappe.get_doc({"doctype": "ToDo", "description": "loop"}).insert()
		frappe.db.commit()
		found = frappe.get_all(
			"Flow Run",
			filters={"context_docname": todo.name},
			fields=["depth", "status", "error"],
			order_by="depth asc",
		)
		self.assertEqual(
			[(r.depth, r.status) for r in found],
			[(0, "completed"), (1, "completed"), (2, "completed"), (3, "completed"), (4, "failed")],
		)
		self.assertIn(
			"4 flows started one another in a row (the limit in Flow Settings is 3)", found[-1].error
		)
		self.assertEqual(frappe.db.get_value("ToDo", todo.name, "description"), "loop++++")

	def test_failures_reach_a_person_and_trip_the_circuit_breaker(self):
		owner = make_user(own_email("owner"), ["Desk User", "Flow Manager"])
		set_settings(notify_on_failure=1, disable_after_failures=2)
		frappe.set_user(owner)
		name = make_template(
			"breaker",
			[
				{
					"id": "bad",
					"kind": "erp_update",
					"payload": {"doctype": "ToDo", "docname_ref": "nope", "fields_json": {"a": 1}},
				}
			],
		)
		frappe.set_user("Administrator")
		frappe.db.commit()
		first, _ = runs.start_run(name)
		notices = frappe.get_all(
			"Notification Log",
			filters={"document_type": "Flow Run", "document_name": first.name},
			pluck="for_user",
		)
		self.assertIn(owner, notices)
		self.assertTrue(frappe.db.get_value("Flow Template", name, "is_active"))
		runs.start_run(name)
		template = frappe.get_doc("Flow Template", name)
		self.assertEqual(template.is_active, 0)
		self.assertEqual(template.disabled_reason, "Disabled automatically after 2 failed runs in a row")
		# one click: turning it on again clears the reason
		template.is_active = 1
		template.save()
		self.assertEqual((template.is_active, template.disabled_reason), (1, None))
		frappe.db.delete(
			"Notification Log",
			{"document_type": "Flow Run", "creation": (">=", frappe.flags.flow_engine_rows_since)},
		)
