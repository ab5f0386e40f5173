"""create_document, assign, set_value and comment on a real site."""

import frappe

from flow_engine import api, runs
from flow_engine.tests.utils import (
	MARK,
	FlowTestCase,
	make_template,
	make_user,
	own_email,
	run_steps,
	wipe_runs,
)


class TestDocumentKinds(FlowTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.role = f"_Test Flow Dispatcher {MARK}"
		frappe.get_doc({"doctype": "Role", "role_name": cls.role, "desk_access": 1}).insert(
			ignore_permissions=True
		)
		cls.users = [make_user(own_email(f"disp{n}"), [cls.role]) for n in (1, 2)]
		frappe.db.commit()
		cls.addClassCleanup(cls.drop_role)

	@classmethod
	def drop_role(cls):
		frappe.db.delete("Has Role", {"role": cls.role})
		frappe.db.delete("Role", {"name": cls.role})
		frappe.db.commit()

	def setUp(self):
		wipe_runs()

	def tearDown(self):
		frappe.db.rollback()
		wipe_runs()

	def run_once(self, steps, doctype=None, docname=None):
		template = make_template(f"kinds {frappe.generate_hash(length=4)}", steps)
		frappe.db.commit()
		run, _report = runs.start_run(template, doctype=doctype, docname=docname)
		frappe.db.commit()
		return run

	def test_create_document_with_child_rows_then_comment_and_count_on_it(self):
		email = own_email("contact")
		run = self.run_once(
			[
				{
					"id": "contact",
					"kind": "create_document",
					"payload": {
						"doctype": "Contact",
						"values": {
							"first_name": f"Flow {MARK}",
							"email_ids": [{"email_id": email, "is_primary": 1}],
						},
					},
				},
				{
					"id": "task",
					"kind": "create_document",
					"depends_on": ["contact"],
					"payload": {
						"doctype": "Task",
						"values": {"subject": "Call {{steps.contact.result.name}}"},
					},
				},
				{
					"id": "more",
					"kind": "set_value",
					"depends_on": ["task"],
					"payload": {
						"doctype": "Task",
						"docname": "{{steps.task.result.name}}",
						"field": "expected_time",
						"op": "increment",
						"value": "2.5",
					},
				},
				{
					"id": "less",
					"kind": "set_value",
					"depends_on": ["more"],
					"payload": {
						"doctype": "Task",
						"docname": "{{steps.task.result.name}}",
						"field": "expected_time",
						"op": "decrement",
						"value": 1,
					},
				},
				{
					"id": "note",
					"kind": "comment",
					"depends_on": ["less"],
					"payload": {
						"doctype": "Task",
						"docname": "{{steps.task.result.name}}",
						"text": "Created for {{steps.contact.result.name}}",
					},
				},
			]
		)
		self.assertEqual(run.status, "completed", run.error)
		state = run_steps(run.name)
		contact = frappe.get_doc("Contact", state["contact"]["result"]["name"])
		self.assertEqual([row.email_id for row in contact.email_ids], [email])
		task = state["task"]["result"]["name"]
		self.assertEqual(frappe.db.get_value("Task", task, "subject"), f"Call {contact.name}")
		self.assertEqual(frappe.db.get_value("Task", task, "expected_time"), 1.5)
		self.assertEqual((state["less"]["result"]["before"], state["less"]["result"]["after"]), (2.5, 1.5))
		comment = frappe.get_doc("Comment", state["note"]["result"]["name"])
		self.assertEqual((comment.reference_doctype, comment.reference_name), ("Task", task))
		self.assertIn(f"Created for {contact.name}", comment.content)
		self.assertIn(run.name, comment.content)  # which flow wrote it
		frappe.delete_doc("Task", task, force=True, ignore_permissions=True)
		frappe.db.commit()

	def test_fields_a_doctype_does_not_have_are_refused_not_dropped(self):
		run = self.run_once(
			[
				{
					"id": "todo",
					"kind": "create_document",
					"payload": {"doctype": "ToDo", "values": {"description": "x", "colour": "red"}},
				}
			]
		)
		self.assertEqual(run.status, "failed")
		self.assertEqual(run.error, "step todo: ToDo has no field colour")
		run = self.run_once(
			[
				{
					"id": "count",
					"kind": "set_value",
					"payload": {
						"doctype": "ToDo",
						"docname": "nope",
						"field": "description",
						"op": "increment",
						"value": 1,
					},
				}
			]
		)
		self.assertEqual(run.error, "step count: ToDo nope does not exist")

	def test_assign_to_a_role_in_turn_and_to_the_least_loaded(self):
		todos = [
			frappe.get_doc({"doctype": "ToDo", "description": f"assign me {n} {MARK}"}).insert().name
			for n in range(4)
		]
		frappe.db.commit()
		chosen = []
		for todo in todos[:2]:
			run = self.run_once(
				[
					{
						"id": "give",
						"kind": "assign",
						"payload": {"role": self.role, "due_date": "2030-01-31", "description": "please"},
					}
				],
				"ToDo",
				todo,
			)
			self.assertEqual(run.status, "completed", run.error)
			chosen.append(run_steps(run.name)["give"]["result"]["assigned_to"])
		self.assertEqual(sorted(chosen), [[self.users[0]], [self.users[1]]], "each in turn")
		assigned = frappe.get_all(
			"ToDo",
			filters={"reference_type": "ToDo", "reference_name": todos[0], "status": "Open"},
			fields=["allocated_to", "date"],
		)
		self.assertEqual([str(row.date) for row in assigned], ["2030-01-31"])
		# one of them gets two more open ToDos: the other is the least loaded
		busy = chosen[0][0]
		for n in range(2):
			frappe.get_doc(
				{"doctype": "ToDo", "description": f"busy {n} {MARK}", "allocated_to": busy}
			).insert()
		frappe.db.commit()
		run = self.run_once(
			[{"id": "give", "kind": "assign", "payload": {"role": self.role, "pick": "least_loaded"}}],
			"ToDo",
			todos[2],
		)
		self.assertEqual(
			run_steps(run.name)["give"]["result"]["assigned_to"], [u for u in self.users if u != busy]
		)

	def test_kinds_are_refused_with_step_and_field_named(self):
		with self.assertRaises(frappe.ValidationError) as caught:
			make_template("bad kinds", [{"id": "a", "kind": "assign", "payload": {"doctype": "ToDo"}}])
		text = str(caught.exception)
		self.assertIn(
			"step a: payload.docname: give the document&#x27;s DocType and name together".replace(
				"&#x27;", "'"
			),
			text.replace("&#x27;", "'").replace("&apos;", "'"),
		)
		self.assertIn("step a: payload.users: give users, or a role to choose one of its users", text)


class TestRunAs(FlowTestCase):
	def setUp(self):
		wipe_runs()
		self.clerk = make_user(own_email("clerk"), ["Desk User"])
		self.planner = make_user(own_email("planner"), ["Desk User", "Projects User"])
		self.manager = make_user(own_email("flowmgr"), ["Desk User", "Flow Manager"])
		frappe.db.commit()

	def tearDown(self):
		frappe.set_user("Administrator")
		frappe.db.rollback()
		wipe_runs()

	def task_flow(self, **fields) -> str:
		steps = [
			{
				"id": "task",
				"kind": "create_document",
				"payload": {"doctype": "Task", "values": {"subject": f"as user {MARK}"}},
			}
		]
		name = make_template(f"run as {frappe.generate_hash(length=4)}", steps, **fields)
		frappe.db.commit()
		return name

	def test_side_effects_are_checked_against_the_user_the_flow_acts_as(self):
		refused = self.task_flow(run_as="User", run_as_user=self.clerk)
		run, _report = runs.start_run(refused)
		frappe.db.commit()
		self.assertEqual(frappe.db.get_value("Flow Run", run.name, "acted_as"), self.clerk)
		self.assertEqual(run.status, "failed")
		self.assertEqual(
			run.error,
			f"step task: {self.clerk} may not create Task (the flow acts as this user: Run As of its template)",
		)
		allowed = self.task_flow(run_as="User", run_as_user=self.planner)
		run, _report = runs.start_run(allowed)
		frappe.db.commit()
		task = run_steps(run.name)["task"]["result"]["name"]
		self.assertEqual(frappe.db.get_value("Task", task, "owner"), self.planner)
		# the default acts as Administrator, as before
		run, _report = runs.start_run(self.task_flow())
		frappe.db.commit()
		self.assertEqual(
			(run.status, frappe.db.get_value("Flow Run", run.name, "acted_as")),
			("completed", "Administrator"),
		)

	def test_only_a_system_manager_makes_a_flow_act_as_someone_else(self):
		frappe.set_user(self.manager)
		with self.assertRaises(frappe.PermissionError) as caught:
			self.task_flow(run_as="User", run_as_user=self.planner)
		self.assertIn("only a System Manager can make a flow act as another user", str(caught.exception))
		own = self.task_flow(run_as="Template owner")
		frappe.set_user("Administrator")
		run, _report = runs.start_run(own)
		frappe.db.commit()
		self.assertEqual(frappe.db.get_value("Flow Run", run.name, "acted_as"), self.manager)
		self.assertEqual(
			run.error,
			f"step task: {self.manager} may not create Task (the flow acts as this user: Run As of its template)",
		)


class TestMessagesInFrench(FlowTestCase):
	def tearDown(self):
		frappe.local.lang = "en"
		frappe.db.rollback()

	def test_validation_problems_are_in_the_readers_language_and_name_step_and_field(self):
		frappe.local.lang = "fr"
		with self.assertRaises(frappe.ValidationError) as caught:
			make_template(
				"fr",
				[{"id": "w", "kind": "wait_for_event", "payload": {"doctype": "Issue", "event": "update"}}],
			)
		text = str(caught.exception).replace("&apos;", "'").replace("&#x27;", "'")
		self.assertIn("étape w: payload.timeout_hours: une attente demande un délai d'expiration", text)

	def test_a_steps_error_is_stored_in_english_and_shown_in_the_readers_language(self):
		wipe_runs()
		self.addCleanup(wipe_runs)
		template = make_template(
			f"fr errors {frappe.generate_hash(length=4)}",
			[
				{
					"id": "todo",
					"kind": "create_document",
					"payload": {"doctype": "ToDo", "values": {"description": "x", "colour": "red"}},
				}
			],
		)
		frappe.db.commit()
		run, _report = runs.start_run(template)
		frappe.db.commit()
		# what logs, searches and the API read stays as the engine wrote it
		self.assertEqual(run.error, "step todo: ToDo has no field colour")
		stored = frappe.get_doc("Flow Run", run.name)
		self.assertEqual(stored.error, "step todo: ToDo has no field colour")

		frappe.local.lang = "fr"
		# the arguments are translated too, the doctype's name as Frappe's catalog has it
		french = f"{frappe._('ToDo')} n'a pas de champ colour"
		self.assertNotEqual(frappe._("ToDo"), "ToDo")
		data = api.get_run(run.name)
		self.assertEqual(data["error"], "step todo: ToDo has no field colour")
		self.assertEqual(data["steps"]["todo"]["error"], "ToDo has no field colour")
		self.assertEqual(
			data["error_texts"],
			{
				"error": f"étape todo : {french}",
				"steps": {"todo": {"attempts": {"1": french}, "error": french}},
			},
		)
		listed = {row["name"]: row for row in api.list_runs(template=template)}
		self.assertEqual(listed[run.name]["error_text"], f"étape todo : {french}")
		self.assertEqual(listed[run.name]["error"], "step todo: ToDo has no field colour")
		# the Flow Run form, as desk loads it
		from frappe.desk.form.load import getdoc

		frappe.response.docs = []
		getdoc("Flow Run", run.name)
		self.assertEqual(frappe.response.docs[0].get_onload("error_texts"), data["error_texts"])

		frappe.local.lang = "en"
		self.assertEqual(api.get_run(run.name)["error_texts"]["error"], "step todo: ToDo has no field colour")
