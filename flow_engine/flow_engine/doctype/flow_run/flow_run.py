# Copyright (c) 2026, flow_engine developers
# License: MIT

import frappe
from frappe import _
from frappe.model.document import Document


class FlowRun(Document):
	def validate(self):
		if not frappe.flags.in_flow_engine:
			frappe.throw(_("Flow Runs are written by flow_engine only"))

	def onload(self):
		# the run view shows the steps' errors in the reader's language (they are stored in English)
		import json

		from flow_engine.translation import run_error_texts

		try:
			steps = json.loads(self.step_state or "{}")
		except ValueError:
			steps = {}
		self.set_onload("error_texts", run_error_texts(self.error, steps))

	def on_trash(self):
		# a run deleted by hand takes its watches and its queued timers with it
		frappe.db.delete("Flow Event Wait", {"flow_run": self.name})
		frappe.db.sql(
			"""update `tabFlow Step Pending` set status = 'cancelled', last_error = 'run deleted'
			where flow_run = %s and status in ('pending', 'held')""",
			(self.name,),
		)

	@frappe.whitelist()
	def retry_step(self, step_id: str) -> dict:
		from flow_engine.api import retry_step

		return retry_step(self.name, step_id)

	@frappe.whitelist()
	def complete_step(self, step_id: str, result: dict | None = None) -> dict:
		from flow_engine.api import complete_step

		return complete_step(self.name, step_id, result)

	@frappe.whitelist()
	def cancel_run(self, reason: str | None = None) -> dict:
		from flow_engine.api import cancel_run

		return cancel_run(self.name, reason)


def on_doctype_update():
	# a throttled template counts its runs of the last minute
	frappe.db.add_index("Flow Run", ["flow_template", "creation"], "flow_template_creation")
