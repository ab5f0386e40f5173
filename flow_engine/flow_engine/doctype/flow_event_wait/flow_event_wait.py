# Copyright (c) 2026, flow_engine developers
# License: MIT

import frappe
from frappe.model.document import Document


class FlowEventWait(Document):
	"""Written and deleted by flow_engine.adapters.store as steps start and stop waiting; read by
	flow_engine.dispatch on the events of its DocType (index: watched_doctype, watched_event)."""

	pass


def on_doctype_update():
	# a document event reads the waits of its DocType and event; a run's end drops its waits
	frappe.db.add_index(
		"Flow Event Wait", ["watched_doctype", "watched_event", "watched_docname"], "watched_doctype_event"
	)
	frappe.db.add_index("Flow Event Wait", ["flow_run", "step_id"], "flow_run_step_id")
