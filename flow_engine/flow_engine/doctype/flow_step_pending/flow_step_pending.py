# Copyright (c) 2026, flow_engine developers
# License: MIT

import frappe
from frappe.model.document import Document


class FlowStepPending(Document):
	@frappe.whitelist()
	def retry(self) -> dict:
		from flow_engine.api import retry_pending

		return retry_pending(self.name)


def on_doctype_update():
	# The scheduler's two queries: due rows, and rows whose lease expired.
	frappe.db.add_index("Flow Step Pending", ["status", "trigger_at"], "status_trigger_at")
	frappe.db.add_index("Flow Step Pending", ["status", "lease_expires_at"], "status_lease_expires_at")
	frappe.db.add_index("Flow Step Pending", ["flow_run", "step_id"], "flow_run_step_id")
	# a throttled template's queued starts (flow_engine.throttle)
	frappe.db.add_index(
		"Flow Step Pending", ["flow_template", "status", "trigger_at"], "template_status_trigger_at"
	)
