"""The tick: delayed steps fire on time, retries back off, leases expire, no row fires twice."""

import json
from datetime import timedelta
from unittest.mock import patch

import frappe
from frappe.utils import add_days, get_datetime, now_datetime, nowdate

from flow_engine import runs
from flow_engine.scheduler import INFRASTRUCTURE_RETRY, Group, claim, drain, process, worker_id
from flow_engine.tests.utils import FlowTestCase, created_here, make_template, run_steps, statuses, wipe_runs

DELAYED = [
	{"id": "now", "kind": "wait"},
	{
		"id": "later",
		"kind": "wait",
		"depends_on": ["now"],
		"trigger": {"type": "after_delay", "delay_hours": 2},
	},
]
# a step that creates a document, fired an hour after its run starts (the group tests)
GROUP_JOB = {
	"id": "job",
	"kind": "dispatch_job",
	"trigger": {"type": "after_delay", "delay_hours": 1},
	"payload": {"subject": "group of {{run.name}}"},
}


class TestScheduler(FlowTestCase):
	def setUp(self):
		wipe_runs()

	def tearDown(self):
		frappe.db.rollback()
		wipe_runs()

	def pending(self, run_name):
		return frappe.get_all(
			"Flow Step Pending",
			filters={"flow_run": run_name},
			fields=["name", "step_id", "status", "trigger_at", "retry_count", "last_error"],
			order_by="creation asc",
		)

	def test_delayed_step_fires_when_due(self):
		template = make_template("delayed", DELAYED)
		run, _report = runs.start_run(template)
		frappe.db.commit()
		self.assertEqual(statuses(run.name), {"now": "done", "later": "scheduled"})
		rows = self.pending(run.name)
		self.assertEqual([(r.step_id, r.status) for r in rows], [("later", "pending")])
		self.assertEqual(drain(budget_seconds=5).completed, 0)  # not due yet
		with self.freeze_time(rows[0].trigger_at + timedelta(seconds=1)):
			stats = drain(budget_seconds=5)
		self.assertEqual((stats.claimed, stats.completed), (1, 1))
		self.assertEqual(frappe.db.get_value("Flow Run", run.name, "status"), "completed")
		self.assertEqual(self.pending(run.name)[0].status, "completed")

	def test_failed_attempts_back_off_then_fail_and_retry_action_resumes(self):
		template = make_template(
			"failing update",
			[
				{
					"id": "update",
					"kind": "erp_update",
					"payload": {
						"doctype": "ToDo",
						"docname_ref": "{{variables.todo}}",
						"fields_json": {"description": "x"},
					},
					"retry": {
						"max_attempts": 3,
						"initial_interval_seconds": 60,
						"backoff_factor": 2,
						"jitter": 0,
					},
				}
			],
		)
		# the document does not exist: a non-retryable failure fails at once
		run, report = runs.start_run(template, variables={"todo": "no-such-todo"})
		frappe.db.commit()
		self.assertEqual(report.failed, ["update"])
		self.assertEqual(frappe.db.get_value("Flow Run", run.name, "status"), "failed")
		self.assertIn("ToDo no-such-todo does not exist", frappe.db.get_value("Flow Run", run.name, "error"))
		# fix the cause and retry the step: the run resumes and completes
		todo = frappe.get_doc({"doctype": "ToDo", "description": "to update"}).insert()
		state = json.loads(frappe.db.get_value("Flow Run", run.name, "variables"))
		state["todo"] = todo.name
		frappe.db.set_value("Flow Run", run.name, "variables", json.dumps(state))
		runs.retry_step(run.name, "update")
		frappe.db.commit()
		self.assertEqual(frappe.db.get_value("Flow Run", run.name, "status"), "completed")
		self.assertEqual(frappe.db.get_value("ToDo", todo.name, "description"), "x")
		self.assertEqual([a["outcome"] for a in run_steps(run.name)["update"]["attempts"]], ["error", "done"])

	def test_retryable_step_failures_follow_the_step_policy(self):
		template = make_template(
			"flaky webhook",
			[
				{
					"id": "hook",
					"kind": "webhook",
					"payload": {"url": "http://127.0.0.1:9/nothing-listens-here", "method": "POST"},
					"retry": {
						"max_attempts": 3,
						"initial_interval_seconds": 60,
						"backoff_factor": 2,
						"jitter": 0,
					},
				}
			],
		)
		frappe.db.set_single_value("Flow Settings", "webhook_allow_list", "127.0.0.1")
		from flow_engine.settings import clear_settings_cache

		clear_settings_cache()
		start = get_datetime(f"{add_days(nowdate(), 1)} 10:00:00")  # never before the class began
		with self.freeze_time(start):
			run, report = runs.start_run(template)
			frappe.db.commit()
		self.assertEqual(report.failed_attempts, ["hook"])
		rows = self.pending(run.name)
		self.assertEqual([(r.step_id, r.trigger_at) for r in rows], [("hook", start + timedelta(seconds=60))])
		with self.freeze_time(start + timedelta(seconds=61)):
			drain(budget_seconds=5)
		rows = self.pending(run.name)
		self.assertEqual(rows[-1].trigger_at, start + timedelta(seconds=61 + 120))
		with self.freeze_time(start + timedelta(seconds=200)):
			drain(budget_seconds=5)
		self.assertEqual(frappe.db.get_value("Flow Run", run.name, "status"), "failed")
		self.assertEqual(len(run_steps(run.name)["hook"]["attempts"]), 3)
		frappe.db.set_single_value("Flow Settings", "webhook_allow_list", "")
		clear_settings_cache()

	def test_infrastructure_errors_are_retried_with_backoff_then_failed(self):
		template = make_template("delayed infra", DELAYED)
		run, _ = runs.start_run(template)
		frappe.db.commit()
		row = self.pending(run.name)[0]
		# the run row disappears: processing raises, the pending row is put back with backoff
		frappe.db.set_value("Flow Step Pending", row.name, "flow_run", "FR-missing")
		frappe.db.commit()
		moment = row.trigger_at + timedelta(seconds=1)
		for attempt in range(1, INFRASTRUCTURE_RETRY.max_attempts + 1):
			with self.freeze_time(moment):
				stats = drain(budget_seconds=5)
			state = frappe.db.get_value(
				"Flow Step Pending",
				row.name,
				["status", "retry_count", "trigger_at", "last_error"],
				as_dict=True,
			)
			self.assertEqual(state.retry_count, attempt)
			self.assertIn("DoesNotExistError", state.last_error)
			if attempt < INFRASTRUCTURE_RETRY.max_attempts:
				self.assertEqual((stats.retried, state.status), (1, "pending"))
				delay = (state.trigger_at - moment).total_seconds()
				base = 10 * 3 ** (attempt - 1)
				self.assertTrue(base * 0.8 - 1 <= delay <= base * 1.2 + 1, (attempt, delay))
				moment = state.trigger_at + timedelta(seconds=1)
			else:
				self.assertEqual((stats.failed, state.status), (1, "failed"))
		# the retry action puts it back (and with the run restored, it fires)
		frappe.db.set_value("Flow Step Pending", row.name, "flow_run", run.name)
		from flow_engine.api import retry_pending

		retry_pending(row.name)
		frappe.db.commit()
		with self.freeze_time(moment):
			drain(budget_seconds=5)
		self.assertEqual(frappe.db.get_value("Flow Step Pending", row.name, "status"), "completed")
		self.assertEqual(frappe.db.get_value("Flow Run", run.name, "status"), "completed")

	def test_expired_lease_is_reclaimed(self):
		template = make_template("lease", DELAYED)
		run, _ = runs.start_run(template)
		frappe.db.commit()
		row = self.pending(run.name)[0]
		due = row.trigger_at + timedelta(seconds=1)
		with self.freeze_time(due):
			crashed = worker_id()
			self.assertEqual(claim(10, crashed, lease_seconds=300), [row.name])
			# the worker dies here; before the lease expires nobody else takes the row
			self.assertEqual(claim(10, worker_id(), lease_seconds=300), [])
		with self.freeze_time(due + timedelta(seconds=301)):
			stats = drain(budget_seconds=5)
		self.assertEqual((stats.claimed, stats.completed), (1, 1))
		state = frappe.db.get_value(
			"Flow Step Pending", row.name, ["status", "retry_count", "claimed_by"], as_dict=True
		)
		self.assertEqual((state.status, state.retry_count), ("completed", 1))
		self.assertNotEqual(state.claimed_by, crashed)
		# the crashed worker coming back finds the row is no longer its own
		self.assertEqual(process(row.name, crashed), "lost")

	def test_two_connections_never_claim_the_same_rows(self):
		template = make_template("concurrent", DELAYED)
		for _ in range(6):
			runs.start_run(template)
		frappe.db.commit()
		due = now_datetime() + timedelta(hours=3)
		with self.freeze_time(due):
			with self.primary_connection():
				first = frappe.db.sql(
					"""select name from `tabFlow Step Pending` where status='pending' and trigger_at <= %s
					and creation >= %s order by trigger_at limit 4 for update skip locked""",
					(now_datetime(), frappe.flags.flow_engine_rows_since),
					pluck=True,
				)
			with self.secondary_connection():
				second = claim(10, "second-worker", lease_seconds=300)
			with self.primary_connection():
				frappe.db.rollback()
				third = claim(10, "first-worker", lease_seconds=300)
		self.assertEqual(len(first), 4)
		self.assertEqual(len(second), 2)
		self.assertFalse(set(first) & set(second))
		self.assertEqual(sorted(third), sorted(first))
		with self.freeze_time(due):
			for name in second:
				with self.secondary_connection():
					process(name, "second-worker")
			for name in third:
				process(name, "first-worker")
		fired = frappe.get_all(
			"Flow Step Pending", filters={"step_id": "later", **created_here()}, pluck="status"
		)
		self.assertEqual(sorted(fired), ["completed"] * 6)
		self.assertEqual(frappe.db.count("Flow Run", {"status": "completed", **created_here()}), 6)

	def test_firing_twice_executes_once(self):
		template = make_template(
			"once",
			[
				{
					"id": "job",
					"kind": "dispatch_job",
					"trigger": {"type": "after_delay", "delay_hours": 1},
					"payload": {"subject": "once only"},
				}
			],
		)
		run, _ = runs.start_run(template)
		frappe.db.commit()
		with self.freeze_time(now_datetime() + timedelta(hours=2)):
			runs.fire_step(run.name, "job")
			runs.fire_step(run.name, "job")
			frappe.db.commit()
		self.assertEqual(frappe.db.count("Dispatch Job", {"flow_run": run.name}), 1)
		self.assertEqual(len(run_steps(run.name)["job"]["attempts"]), 1)

	def due_rows(self, steps_by_run: list[list[dict]]) -> tuple[list[str], object]:
		"""One run per list of steps, each with one due row, due one second apart in that order."""
		names = []
		for steps in steps_by_run:
			run, _report = runs.start_run(make_template(f"group {len(names)}", steps))
			names.append(self.pending(run.name)[0].name)
		base = now_datetime() + timedelta(hours=3)
		for offset, name in enumerate(names):
			frappe.db.set_value("Flow Step Pending", name, "trigger_at", base + timedelta(seconds=offset))
		frappe.db.commit()
		return names, base + timedelta(seconds=len(names))

	def test_a_drain_commits_right_after_a_step_that_calls_outside_the_database(self):
		job = GROUP_JOB
		hook = {
			"id": "hook",
			"kind": "webhook",
			"trigger": {"type": "after_delay", "delay_hours": 1},
			"payload": {"url": "http://127.0.0.1:9/nothing-listens-here", "method": "POST"},
			"retry": {"max_attempts": 1},
		}
		frappe.db.set_single_value("Flow Settings", "webhook_allow_list", "127.0.0.1")
		from flow_engine.settings import clear_settings_cache

		clear_settings_cache()
		self.addCleanup(clear_settings_cache)
		self.addCleanup(frappe.db.commit)
		self.addCleanup(frappe.db.set_single_value, "Flow Settings", "webhook_allow_list", "")
		names, due = self.due_rows([[job], [hook], [job], [job]])
		commits = []
		real = Group.commit

		def recording(group, **kwargs):
			commits.append(list(group.rows))
			real(group, **kwargs)

		with patch.object(Group, "commit", recording), self.freeze_time(due):
			stats = drain(budget_seconds=30)
		self.assertEqual((stats.claimed, stats.completed), (4, 4))
		# the webhook's row ends its group; the rest commit together at the end of the batch
		self.assertEqual([rows for rows in commits if rows], [names[:2], names[2:]])

	def test_a_row_that_raises_sends_its_group_back_to_one_row_per_transaction(self):
		job = GROUP_JOB
		names, due = self.due_rows([[job], [job], [job]])
		real = runs.fire_step
		failing = frappe.db.get_value("Flow Step Pending", names[1], "flow_run")

		def fire_or_fail(run_name, step_id, **kwargs):
			answer = real(run_name, step_id, **kwargs)
			if run_name == failing:  # after the step's document was written: it must go too
				raise frappe.QueryTimeoutError("Lock wait timeout exceeded")
			return answer

		with patch("flow_engine.runs.fire_step", fire_or_fail), self.freeze_time(due):
			stats = drain(budget_seconds=30)
		self.assertEqual((stats.claimed, stats.completed, stats.retried), (3, 2, 1))
		rows = {
			name: frappe.db.get_value("Flow Step Pending", name, ["status", "retry_count"], as_dict=True)
			for name in names
		}
		self.assertEqual(rows[names[0]].status, "completed")
		self.assertEqual((rows[names[1]].status, rows[names[1]].retry_count), ("pending", 1))
		self.assertEqual(rows[names[2]].status, "completed")
		# one document per completed step: the rolled-back group's were undone, then made once
		run_names = [frappe.db.get_value("Flow Step Pending", name, "flow_run") for name in names]
		self.assertEqual([frappe.db.count("Dispatch Job", {"flow_run": run}) for run in run_names], [1, 0, 1])
		self.assertEqual([frappe.db.count("Flow Effect", {"flow_run": run}) for run in run_names], [1, 0, 1])
