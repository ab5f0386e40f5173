"""Helpers for the Frappe-tier tests (run by `bench --site SITE run-tests --app flow_engine`)."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer

import frappe
from frappe.utils import now_datetime

from flow_engine.compat import TestCase

# What the tests create carries a per-process mark, so that it collides neither with a site's own
# records (the tier runs on copies of real sites) nor with what an interrupted run left behind.
MARK = frappe.generate_hash(length=6)
TEST_PREFIX = f"_Test Flow {MARK} "

# Rows the Frappe tier and the flows it runs create; removed at the end of each test class when
# created after the class started. Users go first, through delete_doc (their roles, settings and
# contact go with them).
CREATED_ROWS = (
	"Flow Event Wait",
	"Flow Time Start",
	"Flow Trigger State",
	"Flow Effect",
	"Flow Step Pending",
	"Flow Run",
	"Dispatch Job",
	"Notification Log",
	"Email Queue",
	"SMS Log",
	"Error Log",
	"ToDo",
	"Note",
	"Comment",
	"Communication",
	"Version",
	"Issue",
	"Task",
	"Quotation",
	"Contract",
	"Sales Invoice",
	"Subscription",
	"Subscription Plan",
	"Item Price",
	"Item",
	"Contact",
	"Address",
	"Customer",
	"Email Account",
	"Deleted Document",
)
FLOW_ROWS = CREATED_ROWS[:7]
SETTINGS = ("Flow Settings", "SMS Settings")
TEMPLATE_FIELDS = (
	"name",
	"template_name",
	"is_active",
	"is_system",
	"disabled_reason",
	"version",
	"step_count",
	"trigger_event",
	"trigger_condition",
	"trigger_doctype",
	"trigger_field",
	"applies_to",
	"flow_definition",
)


def site_state() -> dict:
	"""What a test may change on the site and must give back: settings, system templates, users,
	email accounts."""
	return {
		"settings": {
			doctype: sorted(
				frappe.db.sql(
					"select field, value from `tabSingles` where doctype = %s", (doctype,), as_list=True
				)
			)
			for doctype in SETTINGS
		},
		"settings_rows": {
			table.options: frappe.db.sql(
				f"select * from `tab{table.options}` where parent = %s order by idx", (doctype,), as_dict=True
			)
			for doctype in SETTINGS
			for table in frappe.get_meta(doctype).get_table_fields()
		},
		"system_templates": frappe.get_all(
			"Flow Template", filters={"is_system": 1}, fields=list(TEMPLATE_FIELDS), order_by="name"
		),
		"users": sorted(frappe.get_all("User", pluck="name")),
		"email_accounts": sorted(frappe.get_all("Email Account", pluck="name")),
	}


def dated_since(since) -> dict:
	"""The rows that already carry a creation time at or after `since` (made by an earlier run
	under a frozen clock): they are the site's, not this class's."""
	dated = {}
	for doctype in ("User", *CREATED_ROWS):
		if frappe.db.table_exists(doctype):
			dated[doctype] = set(frappe.get_all(doctype, filters={"creation": (">=", since)}, pluck="name"))
	return dated


def restore_site(before: dict, since, dated: dict) -> None:
	"""Delete what was created since `since` (but the rows in `dated`), put settings and system
	templates back."""
	frappe.set_user("Administrator")
	frappe.db.rollback()
	existing = set(before["users"]) | dated.get("User", set())
	for user in frappe.get_all("User", filters={"creation": (">=", since)}, pluck="name"):
		if user not in existing:
			frappe.delete_doc("User", user, force=True, ignore_permissions=True)
	for doctype in CREATED_ROWS:
		if not frappe.db.table_exists(doctype):
			continue
		names = frappe.get_all(doctype, filters={"creation": (">=", since)}, pluck="name")
		names = [name for name in names if name not in dated.get(doctype, ())]
		if not names:
			continue
		for table in frappe.get_meta(doctype).get_table_fields():
			frappe.db.delete(table.options, {"parent": ("in", names), "parenttype": doctype})
		frappe.db.delete(doctype, {"name": ("in", names)})
	for doctype, rows in before["settings"].items():
		frappe.db.delete("Singles", {"doctype": doctype})
		for field, value in rows:
			frappe.db.sql(
				"insert into `tabSingles` (doctype, field, value) values (%s, %s, %s)",
				(doctype, field, value),
			)
		frappe.clear_document_cache(doctype, doctype)
	for table, rows in before["settings_rows"].items():
		frappe.db.delete(table, {"parenttype": ("in", SETTINGS)})
		for row in rows:
			columns = ", ".join(f"`{column}`" for column in row)
			marks = ", ".join(["%s"] * len(row))
			frappe.db.sql(f"insert into `tab{table}` ({columns}) values ({marks})", tuple(row.values()))
	_restore_system_templates(before["system_templates"])
	from flow_engine.dispatch import clear_dispatch_cache
	from flow_engine.settings import clear_settings_cache

	clear_settings_cache()
	clear_dispatch_cache()
	frappe.db.commit()


def _restore_system_templates(rows: list) -> None:
	kept = {row.name for row in rows}
	for name in frappe.get_all("Flow Template", filters={"is_system": 1}, pluck="name"):
		if name not in kept:
			frappe.db.delete("Flow Template", {"name": name})
	for row in rows:
		values = {field: row[field] for field in TEMPLATE_FIELDS if field != "name"}
		if frappe.db.exists("Flow Template", row.name):
			frappe.db.set_value("Flow Template", row.name, values, update_modified=False)
		else:
			frappe.throw(f"the tests deleted system template {row.name}")
		frappe.clear_document_cache("Flow Template", row.name)


class FlowTestCase(TestCase):
	"""The base of the Frappe tier. These tests commit (the scheduler does), so a rollback cannot
	undo them: each class notes the site's state when it starts, and at its end deletes what was
	created since, puts settings and system templates back, and checks that the site is as it was.
	While a class runs, drains fire only queue rows created since it started, never the site's own;
	so a test may freeze the clock later than the class's start, never earlier."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		frappe.db.commit()
		cls.site_before = site_state()
		cls.since = now_datetime()
		cls.dated = dated_since(cls.since)
		frappe.flags.flow_engine_rows_since = cls.since
		frappe.flags.flow_engine_dated = cls.dated
		cls.addClassCleanup(cls.give_the_site_back)

	@contextmanager
	def secondary_connection(self):
		"""Frappe's, except that the connection in use before the block is in use after it: on
		its first use, Frappe's (v15 and v16) notes the connection in use after connecting the
		second one, and leaves that second one in place for the rest of the class."""
		current = frappe.local.db
		try:
			with super().secondary_connection():
				yield
		finally:
			frappe.local.db = current

	@classmethod
	def give_the_site_back(cls):
		frappe.flags.flow_engine_rows_since = None
		restore_site(cls.site_before, cls.since, cls.dated)
		after = site_state()
		for key, value in cls.site_before.items():
			if after[key] != value:
				raise AssertionError(f"{cls.__name__} left the site changed: {key}: {value} != {after[key]}")


def new_request_with_the_hook() -> None:
	"""As at the start of a request in which Frappe has resolved flow_engine's document hook: the
	request-local caches emptied (as frappe.init does), the hook's module imported."""
	frappe.local.cache = {}
	frappe.local.request_cache.clear()
	frappe.get_attr("flow_engine.dispatch.on_document_event")


def wipe_runs() -> None:
	"""Between tests: the flow rows and test templates created since the class started."""
	since = frappe.flags.flow_engine_rows_since
	if since is None:
		raise RuntimeError("wipe_runs outside a FlowTestCase")
	for doctype in FLOW_ROWS:
		dated = frappe.flags.flow_engine_dated.get(doctype) or ()
		filters = {"creation": (">=", since)}
		if dated:
			filters["name"] = ("not in", list(dated))
		frappe.db.delete(doctype, filters)
	for name in frappe.get_all(
		"Flow Template",
		filters={"template_name": ("like", f"{TEST_PREFIX}%"), "creation": (">=", since)},
		pluck="name",
	):
		frappe.delete_doc("Flow Template", name, force=True, ignore_permissions=True)
	from flow_engine.dispatch import clear_dispatch_cache

	clear_dispatch_cache()
	frappe.db.commit()


def created_here() -> dict:
	"""Filters for the rows created since the test class started (the site may have others)."""
	return {"creation": (">=", frappe.flags.flow_engine_rows_since)}


def own_email(name: str) -> str:
	"""An address of the tests' own (the site may have users or accounts of any other name)."""
	return f"flow-{name}-{MARK}@example.com"


def make_template(name: str, steps: list[dict], **fields) -> str:
	doc = frappe.get_doc(
		{
			"doctype": "Flow Template",
			"template_name": f"{TEST_PREFIX}{name}",
			"category": "other",
			"trigger_event": fields.pop("trigger_event", "manual"),
			"flow_definition": json.dumps({"version": 1, "steps": steps}),
			"is_active": 1,
			**fields,
		}
	)
	doc.insert(ignore_permissions=True)
	return doc.name


def run_steps(run_name: str) -> dict:
	return json.loads(frappe.db.get_value("Flow Run", run_name, "step_state") or "{}")


def statuses(run_name: str) -> dict:
	return {step: state["status"] for step, state in run_steps(run_name).items()}


def make_user(email: str, roles: list[str]) -> str:
	"""A user of the tests' own (see test_email), deleted at the end of the class."""
	if frappe.db.exists("User", email):
		user = frappe.get_doc("User", email)
		if user.creation < frappe.flags.flow_engine_rows_since:
			raise RuntimeError(f"{email} belongs to the site: the tests do not change it")
	else:
		user = frappe.get_doc(
			{"doctype": "User", "email": email, "first_name": email.split("@")[0], "send_welcome_email": 0}
		)
		user.insert(ignore_permissions=True)
	user.remove_roles(*[r.role for r in user.roles if r.role not in roles])
	user.add_roles(*roles)
	return email


class RecordingGateway:
	"""A local HTTP endpoint (SMS gateway, webhook target) that records what it receives."""

	def __init__(self, status: int = 200):
		self.requests: list[dict] = []
		self.status = status
		gateway = self

		class Handler(BaseHTTPRequestHandler):
			def _record(self):
				length = int(self.headers.get("Content-Length") or 0)
				body = self.rfile.read(length).decode() if length else ""
				gateway.requests.append(
					{"method": self.command, "path": self.path, "body": body, "headers": dict(self.headers)}
				)
				self.send_response(gateway.status)
				self.end_headers()
				self.wfile.write(b"ok")

			do_GET = do_POST = do_PUT = _record

			def log_message(self, *args):
				pass

		self.server = HTTPServer(("127.0.0.1", 0), Handler)
		self.url = f"http://127.0.0.1:{self.server.server_port}"
		self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

	def __enter__(self):
		self.thread.start()
		return self

	def __exit__(self, *exc):
		self.server.shutdown()
		self.server.server_close()
