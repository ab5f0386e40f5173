"""Every API method for Guest, a plain desk user, a Flow Manager and a System Manager."""

import html
import json

import frappe

from flow_engine import api
from flow_engine.tests.utils import TEST_PREFIX, FlowTestCase, make_template, make_user, own_email, wipe_runs

PLAIN = own_email("plain")
MANAGER = own_email("manager")
SYSTEM = own_email("system")
WAITING = [
	{"id": "approve", "kind": "wait", "trigger": {"type": "manual"}},
	{"id": "after", "kind": "wait", "depends_on": ["approve"]},
]


def make_users() -> None:
	make_user(PLAIN, ["Desk User"])
	make_user(MANAGER, ["Desk User", "Flow Manager"])
	make_user(SYSTEM, ["Desk User", "System Manager"])
	frappe.db.commit()


class TestApiPermissions(FlowTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		make_users()

	def setUp(self):
		wipe_runs()
		self.template = make_template("api", WAITING)
		self.todo = frappe.get_doc(
			{"doctype": "ToDo", "description": "api target", "allocated_to": None}
		).insert()
		frappe.db.commit()

	def tearDown(self):
		frappe.set_user("Administrator")
		frappe.db.rollback()
		frappe.delete_doc("ToDo", self.todo.name, force=True, ignore_permissions=True)
		wipe_runs()

	def calls(self):
		"""Each API method with arguments that would succeed for a permitted user."""
		run = lambda: self.started_run()  # noqa: E731
		return {
			"list_templates": lambda: api.list_templates(),
			"get_template": lambda: api.get_template(self.template),
			"create_template": lambda: api.create_template(
				{"template_name": f"{TEST_PREFIX}created", "flow_definition": {"version": 1, "steps": []}}
			),
			"update_template": lambda: api.update_template(self.template, {"description": "changed"}),
			"duplicate_template": lambda: api.duplicate_template(self.template, f"{TEST_PREFIX}copy"),
			"delete_template": lambda: api.delete_template(make_template("to delete", [])),
			"validate_definition": lambda: api.validate_definition({"steps": []}),
			"kinds_catalog": lambda: api.kinds_catalog(),
			"start_flow": lambda: api.start_flow(self.template, "ToDo", self.todo.name),
			"advance": lambda: api.advance(run()),
			"complete_step": lambda: api.complete_step(run(), "approve"),
			"dispatch_event": lambda: api.dispatch_event("manual", "ToDo", self.todo.name),
			"list_runs": lambda: api.list_runs(),
			"get_run": lambda: api.get_run(run()),
			"cancel_run": lambda: api.cancel_run(run()),
			"pause_run": lambda: api.pause_run(run()),
			"resume_run": lambda: api.resume_run(self.paused_run()),
			"bulk_runs": lambda: self.bulk("cancel", run()),
			"cancel_template_runs": lambda: api.cancel_template_runs(self.template),
			"retry_step": lambda: api.retry_step(self.failed_run(), "bad"),
			"retry_pending": lambda: api.retry_pending(self.failed_row()),
			"simulate": lambda: api.simulate(self.template, "ToDo", self.todo.name),
		}

	def bulk(self, action: str, run: str) -> dict:
		"""bulk_runs reports runs it may not act on instead of raising: a refusal here is a denial."""
		result = api.bulk_runs(action, [run])
		if result["refused"]:
			raise frappe.PermissionError(result["refused"][run])
		return result

	def paused_run(self) -> str:
		name = self.started_run()
		with_user = frappe.session.user
		frappe.set_user("Administrator")
		from flow_engine import runs

		runs.pause_run(name)
		frappe.set_user(with_user)
		return name

	def started_run(self) -> str:
		with_user = frappe.session.user
		frappe.set_user("Administrator")
		from flow_engine import runs

		run, _ = runs.start_run(self.template, doctype="ToDo", docname=self.todo.name)
		frappe.set_user(with_user)
		return run.name

	def failed_run(self) -> str:
		with_user = frappe.session.user
		frappe.set_user("Administrator")
		from flow_engine import runs

		bad = make_template(
			"bad",
			[
				{
					"id": "bad",
					"kind": "erp_update",
					"payload": {"doctype": "ToDo", "docname_ref": "nope", "fields_json": {"a": 1}},
				}
			],
		)
		run, _ = runs.start_run(bad)
		frappe.set_user(with_user)
		return run.name

	def failed_row(self) -> str:
		from flow_engine.adapters.store import pending_name

		name = pending_name()
		frappe.db.sql(
			"""insert into `tabFlow Step Pending` (name, action, status, trigger_at, retry_count, creation, modified, owner, modified_by)
			values (%s, 'fire', 'failed', now(), 5, now(), now(), 'Administrator', 'Administrator')""",
			(name,),
		)
		return name

	def outcome(self, user, call) -> str:
		frappe.set_user(user)
		try:
			call()
			return "ok"
		except frappe.PermissionError:
			return "denied"
		finally:
			frappe.set_user("Administrator")
			frappe.db.rollback()

	def test_permission_matrix(self):
		# the plain user may write this ToDo (they own it), so they may start and drive flows on it
		frappe.db.set_value("ToDo", self.todo.name, {"owner": PLAIN, "allocated_to": PLAIN})
		frappe.db.commit()
		expected = {
			#                       Guest     plain     manager  system
			"list_templates": ("denied", "ok", "ok", "ok"),
			"get_template": ("denied", "ok", "ok", "ok"),
			"create_template": ("denied", "denied", "ok", "ok"),
			"update_template": ("denied", "denied", "ok", "ok"),
			"duplicate_template": ("denied", "denied", "ok", "ok"),
			"delete_template": ("denied", "denied", "ok", "ok"),
			"validate_definition": ("denied", "ok", "ok", "ok"),
			"kinds_catalog": ("denied", "ok", "ok", "ok"),
			"start_flow": ("denied", "ok", "ok", "ok"),
			"advance": ("denied", "ok", "ok", "ok"),
			"complete_step": ("denied", "ok", "ok", "ok"),
			"dispatch_event": ("denied", "ok", "ok", "ok"),
			"list_runs": ("denied", "ok", "ok", "ok"),
			"get_run": ("denied", "ok", "ok", "ok"),
			"cancel_run": ("denied", "ok", "ok", "ok"),
			"pause_run": ("denied", "ok", "ok", "ok"),
			"resume_run": ("denied", "ok", "ok", "ok"),
			"bulk_runs": ("denied", "ok", "ok", "ok"),
			"cancel_template_runs": ("denied", "denied", "ok", "ok"),
			"retry_step": ("denied", "denied", "ok", "ok"),
			"retry_pending": ("denied", "denied", "ok", "ok"),
			"simulate": ("denied", "ok", "ok", "ok"),
		}
		calls = self.calls()
		self.assertEqual(sorted(calls), sorted(expected))
		actual = {
			name: tuple(self.outcome(user, calls[name]) for user in ("Guest", PLAIN, MANAGER, SYSTEM))
			for name in calls
		}
		self.assertEqual(actual, expected)

	def test_a_user_who_cannot_write_the_document_cannot_start_or_see_its_runs(self):
		other = make_user(own_email("other"), ["Desk User"])
		frappe.db.commit()
		run = self.started_run()
		frappe.db.commit()
		for call in (
			lambda: api.start_flow(self.template, "ToDo", self.todo.name),
			lambda: api.get_run(run),
			lambda: api.complete_step(run, "approve"),
		):
			self.assertEqual(self.outcome(other, call), "denied")
		frappe.set_user(other)
		self.assertEqual(api.list_runs(), [])

	def test_every_whitelisted_method_checks_permission_on_its_first_line(self):
		import ast
		import inspect
		import textwrap

		checks = (
			"frappe.has_permission",
			"frappe.only_for",
			"_require_manager",
			"_require_doc_write",
			"_run_doc_access",
		)
		checked = []
		for name, fn in inspect.getmembers(api, inspect.isfunction):
			if fn.__module__ != api.__name__ or fn not in frappe.whitelisted:
				continue
			tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
			body = tree.body[0].body
			if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
				body = body[1:]  # the docstring
			self.assertTrue(ast.unparse(body[0]).startswith(checks), name)
			checked.append(name)
		self.assertEqual(len(checked), 22)

	def test_api_round_trip(self):
		frappe.set_user(MANAGER)
		created = api.create_template(
			{
				"template_name": f"{TEST_PREFIX}roundtrip",
				"flow_definition": {"version": 1, "steps": [{"id": "x", "kind": "wait"}]},
			}
		)
		self.assertEqual(created["step_count"], 1)
		self.assertEqual(created["version"], 1)
		with self.assertRaises(frappe.ValidationError) as caught:
			api.update_template(
				created["name"], {"flow_definition": {"steps": [{"id": "x", "kind": "nope"}]}}
			)
		self.assertIn("step x: kind: unknown kind 'nope'", html.unescape(str(caught.exception)))
		updated = api.update_template(created["name"], {"description": "v2"})
		self.assertEqual(updated["version"], 2)
		started = api.start_flow(self.template, "ToDo", self.todo.name, json.dumps({"k": 1}))
		self.assertEqual(started["waiting"], ["approve"])
		done = api.complete_step(started["run"], "approve", {"ok": True})
		self.assertEqual((done["status"], done["executed"]), ("completed", ["approve", "after"]))
		self.assertEqual(api.get_run(started["run"])["steps"]["approve"]["result"], {"input": {"ok": True}})


class TestDoctypePermissions(FlowTestCase):
	"""Role permissions of each flow_engine doctype for the four kinds of user."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		make_users()

	def test_doctype_matrix(self):
		expected = {
			# doctype: {ptype: (Guest, plain, manager, system)}
			"Flow Template": {
				"read": (False, True, True, True),
				"create": (False, False, True, True),
				"write": (False, False, True, True),
				"delete": (False, False, True, True),
			},
			"Flow Run": {
				"read": (False, True, True, True),  # plain users: only runs of documents they can read
				"create": (False, False, False, False),  # written by flow_engine only
				"write": (False, False, True, True),
			},
			"Flow Step Pending": {"read": (False, False, True, True), "create": (False, False, False, False)},
			"Flow Effect": {"read": (False, False, True, True), "write": (False, False, False, False)},
			"Flow Settings": {"read": (False, False, True, True), "write": (False, False, True, True)},
			"Dispatch Job": {
				"read": (False, True, True, True),
				"create": (False, True, True, True),
				"delete": (False, False, True, True),
			},
		}
		actual = {}
		for doctype, ptypes in expected.items():
			actual[doctype] = {}
			for ptype in ptypes:
				row = []
				for user in ("Guest", PLAIN, MANAGER, SYSTEM):
					frappe.set_user(user)
					row.append(bool(frappe.has_permission(doctype, ptype)))
				frappe.set_user("Administrator")
				actual[doctype][ptype] = tuple(row)
		self.assertEqual(actual, expected)
