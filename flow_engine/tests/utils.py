"""Helpers for the Frappe-tier tests (run by `bench --site SITE run-tests --app flow_engine`)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import frappe

TEST_PREFIX = "_Test Flow "


def wipe_runs() -> None:
	"""Our tests commit (the scheduler does), so they clean up after themselves."""
	for doctype in ("Flow Effect", "Flow Step Pending", "Flow Run", "Dispatch Job"):
		frappe.db.delete(doctype)
	for name in frappe.get_all(
		"Flow Template", filters={"template_name": ("like", f"{TEST_PREFIX}%")}, pluck="name"
	):
		frappe.delete_doc("Flow Template", name, force=True, ignore_permissions=True)
	from flow_engine.dispatch import clear_dispatch_cache

	clear_dispatch_cache()
	frappe.db.commit()


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
	if not frappe.db.exists("User", email):
		user = frappe.get_doc(
			{"doctype": "User", "email": email, "first_name": email.split("@")[0], "send_welcome_email": 0}
		)
		user.insert(ignore_permissions=True)
	user = frappe.get_doc("User", email)
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
