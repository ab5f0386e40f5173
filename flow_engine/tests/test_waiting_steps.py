"""Steps that wait for a document event, and sub-flows, on a real site with ERPNext documents."""

import json
from datetime import timedelta
from unittest.mock import patch

import frappe
from frappe.utils import now_datetime

from flow_engine import runs
from flow_engine.dispatch import LISTENED_KEY, on_document_event
from flow_engine.scheduler import drain
from flow_engine.tests.utils import (
	MARK,
	FlowTestCase,
	make_template,
	new_request_with_the_hook,
	run_steps,
	statuses,
	wipe_runs,
)


def resolve_issue_flow(on_timeout="branch"):
	return [
		{
			"id": "resolved",
			"kind": "wait_for_event",
			"payload": {
				"doctype": "Issue",
				"event": "value_change",
				"field": "status",
				"value": "Resolved",
				"docname": "{{doc.name}}",
				"timeout_days": 2,
				"on_timeout": on_timeout,
			},
		},
		{
			"id": "thanks",
			"kind": "erp_update",
			"parent_id": "resolved",
			"branch": "event",
			"payload": {
				"doctype": "Issue",
				"docname_ref": "{{steps.resolved.result.name}}",
				"fields_json": {"resolution_details": "closed by {{steps.resolved.result.doc.status}}"},
			},
		},
		{"id": "escalate", "kind": "wait", "parent_id": "resolved", "branch": "timeout"},
	]


def new_issue(subject: str):
	doc = frappe.get_doc({"doctype": "Issue", "subject": f"_Test Flow {subject} {MARK}"}).insert()
	frappe.db.commit()
	return doc


class TestWaitForEvent(FlowTestCase):
	def setUp(self):
		wipe_runs()

	def tearDown(self):
		frappe.set_user("Administrator")
		frappe.db.rollback()
		wipe_runs()

	def start(self, template: str, issue) -> str:
		run, _report = runs.start_run(template, doctype="Issue", docname=issue.name)
		frappe.db.commit()
		return run.name

	def test_the_event_takes_the_event_branch_with_the_document(self):
		template = make_template("resolved", resolve_issue_flow(), applies_to="Issue")
		frappe.db.commit()
		issue, other = new_issue("waits"), new_issue("other")
		run = self.start(template, issue)
		self.assertEqual(statuses(run)["resolved"], "waiting")
		watch = frappe.get_all(
			"Flow Event Wait",
			filters={"flow_run": run},
			fields=["step_id", "watched_doctype", "watched_event", "watched_docname", "watched_value"],
		)
		self.assertEqual(
			[dict(w) for w in watch],
			[
				{
					"step_id": "resolved",
					"watched_doctype": "Issue",
					"watched_event": "value_change",
					"watched_docname": issue.name,
					"watched_value": "Resolved",
				}
			],
		)
		# another issue resolved, and this one saved without resolving: the step still waits
		other.status = "Resolved"
		other.save()
		issue.priority = issue.priority
		issue.description = "still open"
		issue.save()
		frappe.db.commit()
		self.assertEqual(statuses(run)["resolved"], "waiting")
		issue.reload()
		issue.status = "Resolved"
		issue.save()
		frappe.db.commit()  # the news is queued with the save and run once it commits
		self.assertEqual(frappe.db.get_value("Flow Run", run, "status"), "completed")
		state = run_steps(run)
		self.assertEqual(state["resolved"]["branch"], "event")
		self.assertEqual(state["resolved"]["result"]["name"], issue.name)
		self.assertEqual(state["escalate"]["status"], "skipped")
		self.assertEqual(frappe.db.get_value("Issue", issue.name, "resolution_details"), "closed by Resolved")
		# the watch and the timeout timer are gone
		self.assertFalse(frappe.db.exists("Flow Event Wait", {"flow_run": run}))
		self.assertEqual(
			frappe.get_all("Flow Step Pending", filters={"flow_run": run, "action": "fire"}, pluck="status"),
			["cancelled"],
		)

	def test_the_timeout_takes_the_timeout_branch_or_fails(self):
		branch = make_template("timeout branch", resolve_issue_flow(), applies_to="Issue")
		failing = make_template("timeout fails", resolve_issue_flow("fail"), applies_to="Issue")
		frappe.db.commit()
		issue = new_issue("never resolved")
		started = now_datetime()
		first, second = self.start(branch, issue), self.start(failing, issue)
		with self.freeze_time(started + timedelta(days=1)):
			drain(budget_seconds=20)
		self.assertEqual((statuses(first)["resolved"], statuses(second)["resolved"]), ("waiting", "waiting"))
		with self.freeze_time(started + timedelta(days=2, minutes=1)):
			drain(budget_seconds=20)
		self.assertEqual(statuses(first), {"resolved": "done", "thanks": "skipped", "escalate": "done"})
		self.assertEqual(run_steps(first)["resolved"]["branch"], "timeout")
		self.assertEqual(frappe.db.get_value("Flow Run", second, "status"), "failed")
		self.assertIn(
			"timed out: no Issue value_change matched before",
			frappe.db.get_value("Flow Run", second, "error"),
		)
		# resolving it now changes nothing
		issue.reload()
		issue.status = "Resolved"
		issue.save()
		frappe.db.commit()
		self.assertEqual(statuses(first)["thanks"], "skipped")

	def test_a_match_rule_over_the_run_chooses_among_documents(self):
		steps = [
			{
				"id": "reply",
				"kind": "wait_for_event",
				"payload": {
					"doctype": "Issue",
					"event": "insert",
					"match": {"==": [{"var": "doc.raised_by"}, {"var": "variables.contact"}]},
					"timeout_hours": 4,
				},
			}
		]
		template = make_template("match", steps, applies_to="Issue")
		frappe.db.commit()
		issue = new_issue("first")
		run, _report = runs.start_run(
			template, doctype="Issue", docname=issue.name, variables={"contact": f"ann-{MARK}@example.com"}
		)
		frappe.db.commit()
		frappe.get_doc(
			{"doctype": "Issue", "subject": f"_Test Flow other {MARK}", "raised_by": "bob@example.com"}
		).insert()
		frappe.db.commit()
		self.assertEqual(statuses(run.name)["reply"], "waiting")
		reply = frappe.get_doc(
			{
				"doctype": "Issue",
				"subject": f"_Test Flow reply {MARK}",
				"raised_by": f"ann-{MARK}@example.com",
			}
		).insert()
		frappe.db.commit()
		state = run_steps(run.name)["reply"]
		self.assertEqual(
			(state["status"], state["branch"], state["result"]["name"]), ("done", "event", reply.name)
		)

	def test_the_waited_doctype_is_listened_and_other_saves_still_cost_nothing(self):
		template = make_template("listened", resolve_issue_flow(), applies_to="Issue")
		frappe.db.commit()
		frappe.local.cache = {}
		self.assertIn("|Issue|", frappe.db.get_global(LISTENED_KEY))
		# a run keeps waiting when its template is turned off: the DocType stays listened
		run = self.start(template, new_issue("kept"))
		frappe.db.set_value("Flow Template", template, "is_active", 0)
		frappe.get_doc("Flow Template", template).save()
		frappe.db.commit()
		frappe.local.cache = {}
		self.assertIn("|Issue|", frappe.db.get_global(LISTENED_KEY))
		note = frappe.get_doc({"doctype": "Note", "title": f"no flows {MARK}"}).insert()
		new_request_with_the_hook()
		with self.assertQueryCount(0), self.assertRedisCallCounts(0):
			on_document_event(note, "on_update")
		self.assertEqual(statuses(run)["resolved"], "waiting")

	def test_a_person_cannot_complete_a_wait_through_the_api(self):
		from flow_engine.api import complete_step

		template = make_template("api", resolve_issue_flow(), applies_to="Issue")
		frappe.db.commit()
		run = self.start(template, new_issue("api"))
		with self.assertRaises(frappe.ValidationError) as caught:
			complete_step(run, "resolved", "{}")
		self.assertIn("it goes on by itself when that happens", str(caught.exception))


CHILD = [
	{
		"id": "note",
		"kind": "erp_update",
		"payload": {
			"doctype": "Issue",
			"docname_ref": "{{doc.name}}",
			"fields_json": {"resolution_details": "child {{variables.why}}"},
		},
	},
	{
		"id": "later",
		"kind": "wait",
		"depends_on": ["note"],
		"trigger": {"type": "after_delay", "delay_hours": 1},
	},
]


class TestSubFlows(FlowTestCase):
	def setUp(self):
		wipe_runs()

	def tearDown(self):
		frappe.set_user("Administrator")
		frappe.db.rollback()
		wipe_runs()

	def parent(self, child: str, wait: bool = True, name: str = "parent") -> str:
		steps = [
			{
				"id": "sub",
				"kind": "sub_flow",
				"payload": {"template": child, "variables": {"why": "{{doc.subject}}"}, "wait": wait},
			},
			{"id": "after", "kind": "wait", "depends_on": ["sub"]},
		]
		return make_template(name, steps, applies_to="Issue")

	def test_a_waited_sub_flow_links_both_runs_and_gives_its_results(self):
		child = make_template("child", CHILD, applies_to="Issue")
		parent = self.parent(child)
		frappe.db.commit()
		issue = new_issue("sub")
		started = now_datetime()
		run, _report = runs.start_run(parent, doctype="Issue", docname=issue.name)
		frappe.db.commit()
		children = frappe.get_all(
			"Flow Run",
			filters={"parent_run": run.name},
			fields=["name", "parent_step", "status", "flow_template"],
		)
		self.assertEqual(
			[(c.parent_step, c.status, c.flow_template) for c in children], [("sub", "running", child)]
		)
		self.assertEqual(statuses(run.name), {"sub": "waiting", "after": "pending"})
		self.assertEqual(
			frappe.db.get_value("Issue", issue.name, "resolution_details"), f"child _Test Flow sub {MARK}"
		)
		with self.freeze_time(started + timedelta(hours=1, minutes=1)):
			drain(budget_seconds=20)
		self.assertEqual(frappe.db.get_value("Flow Run", children[0].name, "status"), "completed")
		self.assertEqual(statuses(run.name), {"sub": "done", "after": "done"})
		result = run_steps(run.name)["sub"]["result"]
		self.assertEqual(
			(result["run"], result["status"], result["template"]), (children[0].name, "completed", child)
		)
		self.assertEqual(result["steps"]["note"]["result"]["name"], issue.name)

	def test_a_sub_flow_not_waited_for_lets_the_parent_finish(self):
		child = make_template("child nowait", CHILD, applies_to="Issue")
		parent = self.parent(child, wait=False)
		frappe.db.commit()
		issue = new_issue("nowait")
		run, _report = runs.start_run(parent, doctype="Issue", docname=issue.name)
		frappe.db.commit()
		self.assertEqual(run.status, "completed")
		self.assertEqual(
			frappe.get_all("Flow Run", filters={"parent_run": run.name}, pluck="status"), ["running"]
		)

	def test_templates_calling_each_other_stop_at_the_depth_limit(self):
		ping = make_template("ping", [{"id": "sub", "kind": "wait"}], applies_to="Issue")
		pong = self.parent(ping, name="pong")
		doc = frappe.get_doc("Flow Template", ping)
		doc.flow_definition = json.dumps(
			{"steps": json.loads(frappe.db.get_value("Flow Template", pong, "flow_definition"))["steps"]}
		)
		definition = json.loads(doc.flow_definition)
		definition["steps"][0]["payload"]["template"] = pong
		doc.flow_definition = json.dumps(definition)
		doc.save()
		frappe.db.commit()
		issue = new_issue("ping")
		runs.start_run(ping, doctype="Issue", docname=issue.name)
		frappe.db.commit()
		chain = frappe.get_all(
			"Flow Run",
			filters={"flow_template": ("in", [ping, pong]), "creation": (">=", self.since)},
			fields=["name", "status", "error", "depth"],
			order_by="depth",
		)
		self.assertEqual(len(chain), 6)  # depths 0…5 (Flow Settings' limit is 5)
		self.assertIn("sub-flows call one another more than 5 deep (Flow Settings):", chain[-1].error)
		self.assertIn(f"{ping} → {pong} → {ping}", chain[-1].error)

	def test_a_sub_flow_that_fails_after_its_steps_leaves_nothing_behind(self):
		# the child's effects run in savepoints of their own, inside the parent step's: undoing the
		# parent's step undoes the child's run and what its steps wrote, not only the child's last effect
		child = make_template("child undone", CHILD, applies_to="Issue")
		parent = self.parent(child)
		frappe.db.commit()
		issue = new_issue("undone")
		real = runs.after_report

		def child_fails(run, report, *, tell_parent=True):
			if not tell_parent:  # the child's start, inside the parent's sub step
				raise RuntimeError("the child's start fails after its steps")
			return real(run, report, tell_parent=tell_parent)

		with patch.object(runs, "after_report", child_fails):
			run, _report = runs.start_run(parent, doctype="Issue", docname=issue.name)
		frappe.db.commit()
		self.assertEqual(frappe.get_all("Flow Run", filters={"flow_template": child}), [])
		self.assertFalse(frappe.db.get_value("Issue", issue.name, "resolution_details"))
		state = run_steps(run.name)["sub"]
		self.assertEqual(state["status"], "scheduled")  # retried, as an outage would be
		self.assertEqual(state["error"], "RuntimeError: the child's start fails after its steps")
		self.assertEqual(frappe.db.count("Flow Effect", {"flow_run": run.name}), 0)

	def test_a_sub_flow_whose_template_became_invalid_fails_its_step_at_once(self):
		child = make_template("child broken", CHILD, applies_to="Issue")
		parent = self.parent(child)
		# broken after the parent was saved (its check passed), by a write that skipped validation
		broken = json.dumps({"steps": [{"id": "orphan", "kind": "wait", "depends_on": ["nowhere"]}]})
		frappe.db.set_value("Flow Template", child, "flow_definition", broken)
		frappe.db.commit()
		issue = new_issue("broken")
		run, _report = runs.start_run(parent, doctype="Issue", docname=issue.name)
		frappe.db.commit()
		state = run_steps(run.name)["sub"]
		# no retry: a template does not mend itself; Retry runs it again once it is fixed
		self.assertEqual((state["status"], state["tries"]), ("failed", 1))
		self.assertTrue(state["error"].startswith(f"Flow Template {child!r} is invalid: "), state["error"])
		self.assertIn("orphan", state["error"])
		self.assertIn("nowhere", state["error"])
		self.assertEqual(frappe.db.get_value("Flow Run", run.name, "status"), "failed")
		self.assertEqual(frappe.get_all("Flow Run", filters={"flow_template": child}), [])

	def test_starting_an_invalid_template_tells_the_person_why(self):
		template = make_template("broken start", CHILD, applies_to="Issue")
		broken = json.dumps({"steps": [{"id": "orphan", "kind": "wait", "depends_on": ["nowhere"]}]})
		frappe.db.set_value("Flow Template", template, "flow_definition", broken)
		frappe.db.commit()
		frappe.clear_messages()
		with self.assertRaises(frappe.ValidationError) as caught:
			runs.start_run(template)
		self.assertIsInstance(caught.exception, runs.InvalidTemplate)
		message = frappe.local.message_log[-1]
		message = json.loads(message) if isinstance(message, str) else message
		self.assertEqual(message["title"], f"Flow Template {template} is invalid")
		self.assertIn("step orphan: depends_on", message["message"])
		self.assertIn("nowhere", message["message"])
		frappe.clear_messages()

	def test_cancelling_a_parent_cancels_its_running_sub_flow(self):
		child = make_template("child cancel", CHILD, applies_to="Issue")
		parent = self.parent(child)
		frappe.db.commit()
		issue = new_issue("cancel")
		run, _report = runs.start_run(parent, doctype="Issue", docname=issue.name)
		frappe.db.commit()
		runs.cancel_run(run.name, "no longer needed")
		frappe.db.commit()
		child_run = frappe.get_all("Flow Run", filters={"parent_run": run.name}, fields=["status", "error"])[
			0
		]
		self.assertEqual(child_run.status, "cancelled")
		self.assertEqual(child_run.error, f"its parent run {run.name} was cancelled")

	def test_an_unknown_sub_flow_template_is_refused_on_save(self):
		with self.assertRaises(frappe.ValidationError) as caught:
			self.parent("no such template")
		self.assertIn("step sub: payload.template: no Flow Template", str(caught.exception))
