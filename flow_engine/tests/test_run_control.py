"""Pause and resume, the Flow Run list's bulk actions, and turning a template off."""

from datetime import timedelta

import frappe
from frappe.utils import now_datetime

from flow_engine import api, runs
from flow_engine.scheduler import drain
from flow_engine.tests.utils import FlowTestCase, make_template, run_steps, statuses, wipe_runs

DELAYED = [
	{"id": "later", "kind": "wait", "trigger": {"type": "after_delay", "delay_hours": 2}},
	{"id": "sooner", "kind": "wait", "trigger": {"type": "after_delay", "delay_hours": 1}},
]


class TestRunControl(FlowTestCase):
	def setUp(self):
		wipe_runs()

	def tearDown(self):
		frappe.set_user("Administrator")
		frappe.db.rollback()
		wipe_runs()

	def start(self, template: str) -> str:
		run, _report = runs.start_run(template)
		frappe.db.commit()
		return run.name

	def rows(self, run: str) -> list[tuple[str, str]]:
		return sorted(
			(row.step_id, row.status)
			for row in frappe.get_all(
				"Flow Step Pending", filters={"flow_run": run}, fields=["step_id", "status"]
			)
		)

	def test_a_paused_run_holds_its_due_steps_and_fires_them_once_on_resume(self):
		template = make_template("pause", DELAYED)
		frappe.db.commit()
		started = now_datetime()
		run = self.start(template)
		api.pause_run(run)
		frappe.db.commit()
		self.assertEqual(frappe.db.get_value("Flow Run", run, "status"), "paused")
		with self.freeze_time(started + timedelta(hours=3)):
			stats = drain(budget_seconds=20)
		self.assertGreaterEqual(stats.held, 2)
		self.assertEqual(self.rows(run), [("later", "held"), ("sooner", "held")])
		self.assertEqual(statuses(run), {"later": "scheduled", "sooner": "scheduled"})
		with self.assertRaises(frappe.ValidationError):
			api.pause_run(run)  # already paused
		with self.freeze_time(started + timedelta(hours=3, minutes=1)):
			api.resume_run(run)
			frappe.db.commit()
			drain(budget_seconds=20)
		self.assertEqual(frappe.db.get_value("Flow Run", run, "status"), "completed")
		state = run_steps(run)
		self.assertEqual([len(state[s]["attempts"]) for s in ("sooner", "later")], [1, 1])
		self.assertEqual(self.rows(run), [("later", "completed"), ("sooner", "completed")])

	def test_cancelling_a_paused_run_drops_its_held_rows(self):
		template = make_template("pause cancel", DELAYED)
		frappe.db.commit()
		started = now_datetime()
		run = self.start(template)
		api.pause_run(run)
		frappe.db.commit()
		with self.freeze_time(started + timedelta(hours=3)):
			drain(budget_seconds=20)
		api.cancel_run(run)
		frappe.db.commit()
		self.assertEqual(self.rows(run), [("later", "cancelled"), ("sooner", "cancelled")])

	def test_bulk_actions_do_what_they_can_and_say_why_not_for_the_rest(self):
		template = make_template("bulk", DELAYED)
		done_template = make_template("bulk done", [{"id": "a", "kind": "wait"}])
		frappe.db.commit()
		first, second = self.start(template), self.start(template)
		finished = self.start(done_template)
		result = api.bulk_runs("pause", [first, second, finished])
		self.assertEqual(result["done"], [first, second])
		self.assertEqual(list(result["refused"]), [finished])
		self.assertIn("is completed, not running", result["refused"][finished])
		result = api.bulk_runs("resume", [first, "FR-does-not-exist"])
		self.assertEqual(result["done"], [first])
		self.assertIn("FR-does-not-exist", result["refused"])
		result = api.bulk_runs("cancel", f'["{first}", "{second}"]')
		self.assertEqual(result, {"done": [first, second], "refused": {}})
		self.assertEqual(
			{frappe.db.get_value("Flow Run", name, "status") for name in (first, second)}, {"cancelled"}
		)
		with self.assertRaises(frappe.ValidationError):
			api.bulk_runs("explode", [first])

	def test_turning_a_template_off_cancels_its_runs_only_when_asked(self):
		template = make_template("turn off", DELAYED)
		frappe.db.commit()
		kept, other = self.start(template), self.start(template)
		doc = frappe.get_doc("Flow Template", template)
		doc.is_active = 0
		doc.save()
		frappe.db.commit()
		self.assertEqual({frappe.db.get_value("Flow Run", n, "status") for n in (kept, other)}, {"running"})
		self.assertEqual(api.cancel_template_runs(template), {"cancelled": 2})
		frappe.db.commit()
		self.assertEqual(
			frappe.db.get_value("Flow Run", kept, "error"), f"its template {template} was turned off"
		)


class TestThrottle(FlowTestCase):
	def setUp(self):
		wipe_runs()

	def tearDown(self):
		frappe.db.rollback()
		wipe_runs()

	def test_over_the_limit_starts_wait_in_the_queue_in_order(self):
		template = make_template(
			"throttled",
			[{"id": "a", "kind": "wait"}],
			trigger_event="on_insert",
			trigger_doctype="ToDo",
			max_starts_per_minute=2,
		)
		frappe.db.commit()
		started = now_datetime()
		todos = [
			frappe.get_doc({"doctype": "ToDo", "description": f"import {n}"}).insert().name for n in range(5)
		]
		frappe.db.commit()  # the drain after the commit starts two

		def started_for():
			rows = frappe.get_all(
				"Flow Run",
				filters={"flow_template": template},
				fields=["context_docname"],
				order_by="creation, name",
			)
			return [row.context_docname for row in rows]

		self.assertEqual(started_for(), todos[:2])
		queued = frappe.get_all(
			"Flow Step Pending",
			filters={"flow_template": template, "status": "pending"},
			fields=["context_docname", "trigger_at"],
			order_by="trigger_at, name",
		)
		self.assertEqual([row.context_docname for row in queued], todos[2:])
		self.assertTrue(all(row.trigger_at >= started + timedelta(seconds=59) for row in queued))
		# a start queued now goes after them
		late = frappe.get_doc({"doctype": "ToDo", "description": "import late"}).insert().name
		frappe.db.commit()
		with self.freeze_time(started + timedelta(seconds=61)):
			drain(budget_seconds=20)
		self.assertEqual(started_for(), todos[:4])
		with self.freeze_time(started + timedelta(seconds=125)):
			drain(budget_seconds=20)
		self.assertEqual(started_for(), [*todos, late])
