"""Flow Template: validation on save, versions, system templates, seeding, runs keep their snapshot."""

import html
import json

import frappe

from flow_engine import runs
from flow_engine.doctype_errors import FlowTemplateError
from flow_engine.seeding import seed_templates
from flow_engine.tests.utils import TEST_PREFIX, FlowTestCase, make_template, run_steps, wipe_runs

SEEDED = [
	"fiber_install",
	"move_service",
	"phone_service",
	"quotation_follow_up",
	"repair_service",
	"residential_onboarding",
]


class TestTemplates(FlowTestCase):
	def setUp(self):
		wipe_runs()

	def tearDown(self):
		frappe.db.rollback()
		wipe_runs()

	def test_install_seeded_the_six_system_templates_and_seeding_is_idempotent(self):
		seeded = frappe.get_all(
			"Flow Template", filters={"is_system": 1}, fields=["template_name", "step_count", "version"]
		)
		self.assertEqual(sorted(t.template_name for t in seeded), SEEDED)
		self.assertTrue(all(t.step_count >= 3 for t in seeded))
		before = frappe.db.count("Flow Template")
		actions = seed_templates()
		self.assertEqual(sorted(actions), SEEDED)
		self.assertTrue(all(action.startswith("kept ") for action in actions.values()))
		self.assertEqual(frappe.db.count("Flow Template"), before)

	def test_save_validates_and_names_step_and_field(self):
		doc = frappe.get_doc(
			{
				"doctype": "Flow Template",
				"template_name": f"{TEST_PREFIX}invalid",
				"trigger_event": "manual",
				"flow_definition": json.dumps(
					{
						"steps": [
							{"id": "a", "kind": "notify", "payload": {"channel": "fax"}},
							{"id": "b", "kind": "wait", "depends_on": ["zz"]},
						]
					}
				),
			}
		)
		with self.assertRaises(FlowTemplateError) as caught:
			doc.insert()
		message = html.unescape(str(caught.exception))
		self.assertEqual(
			message.split("<br>"),
			[
				"step a: payload.channel: 'fax' is not one of email, sms, in_app",
				"step a: payload.to: required",
				"step b: depends_on: no step with id 'zz'",
			],
		)

	def test_generic_event_needs_a_doctype(self):
		with self.assertRaises(FlowTemplateError) as caught:
			make_template("no doctype", [], trigger_event="on_update")
		self.assertIn("flow: trigger.doctype: required for event on_update", str(caught.exception))
		name = make_template("applies to", [], trigger_event="on_update", applies_to="ToDo")
		definition = json.loads(frappe.db.get_value("Flow Template", name, "flow_definition"))
		# the definition keeps what was given (applies_to stands in for the doctype when it runs)
		self.assertEqual(definition["trigger"], {"event": "on_update"})
		self.assertEqual(frappe.db.get_value("Flow Template", name, "trigger_doctype"), None)

	def test_version_bumps_and_step_count(self):
		name = make_template("versions", [{"id": "a", "kind": "wait"}, {"id": "b", "kind": "wait"}])
		doc = frappe.get_doc("Flow Template", name)
		self.assertEqual((doc.version, doc.step_count), (1, 2))
		doc.description = "edited"
		doc.save()
		self.assertEqual(doc.version, 2)

	def test_system_templates_cannot_be_deleted_or_renamed_but_can_be_duplicated(self):
		name = frappe.db.get_value("Flow Template", {"template_name": "fiber_install", "is_system": 1})
		with self.assertRaises(FlowTemplateError):
			frappe.delete_doc("Flow Template", name)
		with self.assertRaises(FlowTemplateError):
			frappe.rename_doc("Flow Template", name, "FT-RENAMED")
		doc = frappe.get_doc("Flow Template", name)
		doc.template_name = "something else"
		with self.assertRaises(FlowTemplateError):
			doc.save()
		copy = frappe.get_doc("Flow Template", name).duplicate(f"{TEST_PREFIX}fiber copy")
		self.assertEqual((copy.is_system, copy.is_active, copy.version), (0, 0, 1))
		self.assertEqual(json.loads(copy.flow_definition)["steps"], json.loads(doc.flow_definition)["steps"])
		frappe.delete_doc("Flow Template", copy.name)  # a copy is an ordinary template
		self.assertTrue(frappe.db.exists("Flow Template", name))

	def test_editing_a_template_does_not_change_runs_in_flight(self):
		name = make_template(
			"in flight",
			[
				{"id": "approve", "kind": "wait", "trigger": {"type": "manual"}},
				{
					"id": "job",
					"kind": "dispatch_job",
					"depends_on": ["approve"],
					"payload": {"subject": "v1 subject"},
				},
			],
		)
		run, _ = runs.start_run(name)
		frappe.db.commit()
		doc = frappe.get_doc("Flow Template", name)
		definition = json.loads(doc.flow_definition)
		definition["steps"][1]["payload"]["subject"] = "v2 subject"
		definition["steps"].append({"id": "extra", "kind": "wait", "depends_on": ["job"]})
		doc.flow_definition = json.dumps(definition)
		doc.save()
		frappe.db.commit()
		runs.complete_step(run.name, "approve")
		frappe.db.commit()
		self.assertEqual(frappe.db.get_value("Dispatch Job", {"flow_run": run.name}, "subject"), "v1 subject")
		self.assertEqual(sorted(run_steps(run.name)), ["approve", "job"])
		self.assertEqual(frappe.db.get_value("Flow Run", run.name, "template_version"), 1)
		self.assertEqual(frappe.db.get_value("Flow Run", run.name, "status"), "completed")
		# a new run takes the new version
		second, _ = runs.start_run(name)
		self.assertEqual(sorted(second.steps), ["approve", "extra", "job"])

	def test_depth_limit_stops_flows_starting_flows(self):
		name = make_template("deep", [{"id": "a", "kind": "wait"}])
		run, _report = runs.start_run(name, depth=99)
		self.assertEqual(run.status, "failed")
		self.assertIn("99 flows started one another in a row", run.error)
		self.assertEqual(frappe.db.get_value("Flow Run", run.name, "status"), "failed")
