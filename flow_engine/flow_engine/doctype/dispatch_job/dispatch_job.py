# Copyright (c) 2026, flow_engine developers
# License: MIT

from frappe.model.document import Document


class DispatchJob(Document):
	"""A unit of field work. Flows create it; its status becoming Completed is the
	on_dispatch_completed event (see flow_engine.events_map)."""

	pass
