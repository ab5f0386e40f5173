"""What the operator writes is what runs: a trigger given in the definition, in the fields or in
both is kept, never overwritten; an exported template imported again runs for the same documents."""

import html
import json

import frappe

from flow_engine import api
from flow_engine.api import EDITABLE_TEMPLATE_FIELDS
from flow_engine.doctype_errors import FlowTemplateError
from flow_engine.tests.utils import TEST_PREFIX, FlowTestCase, wipe_runs

HIGH_OR_LOW = {"in": [{"var": "doc.priority"}, ["High", "Low"]]}
STEPS = [{"id": "a", "kind": "wait"}]


def definition(trigger: dict | None = None) -> dict:
	flow = {"version": 1, "steps": STEPS}
	if trigger is not None:
		flow["trigger"] = trigger
	return flow


class TestTriggerSource(FlowTestCase):
	def setUp(self):
		wipe_runs()

	def tearDown(self):
		frappe.db.rollback()
		wipe_runs()

	def create(self, name: str, **values) -> dict:
		return api.create_template({"template_name": f"{TEST_PREFIX}{name}", "is_active": 1, **values})

	def started_for(self, template: str) -> list[str]:
		"""The priorities of the ToDos (one of each) that start a run of `template`."""
		started = []
		for priority in ("Low", "Medium", "High"):
			todo = frappe.get_doc(
				{"doctype": "ToDo", "description": f"trigger {priority}", "priority": priority}
			)
			todo.insert()
			frappe.db.commit()
			if frappe.get_all("Flow Run", filters={"flow_template": template, "context_docname": todo.name}):
				started.append(priority)
		return started

	def test_a_condition_given_only_in_the_definition_is_kept_and_decides(self):
		created = self.create(
			"definition only",
			flow_definition=definition({"event": "on_insert", "doctype": "ToDo", "condition": HIGH_OR_LOW}),
		)
		self.assertEqual(
			(created["trigger_event"], created["trigger_doctype"], json.loads(created["trigger_condition"])),
			("on_insert", "ToDo", HIGH_OR_LOW),
		)
		self.assertEqual(created["flow_definition"]["trigger"]["condition"], HIGH_OR_LOW)
		self.assertEqual(self.started_for(created["name"]), ["Low", "High"])

	def test_a_condition_given_only_in_the_fields_fills_the_definition(self):
		created = self.create(
			"fields only",
			trigger_event="on_insert",
			trigger_doctype="ToDo",
			trigger_condition=json.dumps(HIGH_OR_LOW),
			flow_definition=definition(),
		)
		self.assertEqual(
			created["flow_definition"]["trigger"],
			{"event": "on_insert", "doctype": "ToDo", "condition": HIGH_OR_LOW},
		)
		self.assertEqual(self.started_for(created["name"]), ["Low", "High"])

	def test_the_same_condition_in_both_is_accepted_and_different_ones_refused(self):
		same = self.create(
			"both same",
			trigger_event="on_insert",
			trigger_doctype="ToDo",
			trigger_condition='{"in": [{"var": "doc.priority"}, ["High", "Low"]]}',
			flow_definition=definition({"condition": HIGH_OR_LOW}),
		)
		self.assertEqual(self.started_for(same["name"]), ["Low", "High"])
		with self.assertRaises(FlowTemplateError) as caught:
			self.create(
				"both different",
				trigger_event="on_insert",
				trigger_doctype="ToDo",
				trigger_condition='{"==": [{"var": "doc.priority"}, "High"]}',
				flow_definition=definition({"condition": HIGH_OR_LOW}),
			)
		self.assertEqual(
			html.unescape(str(caught.exception)),
			"flow: trigger.condition: the definition says "
			'\'{"in": [{"var": "doc.priority"}, ["High", "Low"]]}\' but Trigger Condition says '
			'\'{"==": [{"var": "doc.priority"}, "High"]}\': give the same value in both, or in one place only',
		)
		self.assertFalse(frappe.db.exists("Flow Template", {"template_name": f"{TEST_PREFIX}both different"}))

	def test_an_edit_of_either_side_on_update_wins_over_the_side_left_alone(self):
		created = self.create(
			"edited",
			flow_definition=definition({"event": "on_insert", "doctype": "ToDo", "condition": HIGH_OR_LOW}),
		)
		only_high = {"==": [{"var": "doc.priority"}, "High"]}
		updated = api.update_template(created["name"], {"trigger_condition": json.dumps(only_high)})
		self.assertEqual(updated["flow_definition"]["trigger"]["condition"], only_high)
		self.assertEqual(self.started_for(created["name"]), ["High"])
		moved = dict(
			updated["flow_definition"],
			trigger={**updated["flow_definition"]["trigger"], "condition": HIGH_OR_LOW},
		)
		updated = api.update_template(created["name"], {"flow_definition": moved})
		self.assertEqual(json.loads(updated["trigger_condition"]), HIGH_OR_LOW)

	def test_an_exported_template_imported_again_runs_for_the_same_documents(self):
		original = self.create(
			"exported",
			flow_definition=definition({"event": "on_insert", "doctype": "ToDo", "condition": HIGH_OR_LOW}),
		)
		exported = api.get_template(original["name"])
		record = {key: value for key, value in exported.items() if key in EDITABLE_TEMPLATE_FIELDS}
		api.delete_template(original["name"])
		imported = api.create_template(record)
		self.assertEqual(imported["flow_definition"], exported["flow_definition"])
		self.assertEqual(
			frappe.db.get_value("Flow Template", imported["name"], "flow_definition"),
			json.dumps(exported["flow_definition"], indent=1, ensure_ascii=False),
		)
		self.assertEqual(self.started_for(imported["name"]), ["Low", "High"])
