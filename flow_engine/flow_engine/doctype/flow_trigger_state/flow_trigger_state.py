# Copyright (c) 2026, flow_engine developers
# License: MIT

from frappe.model.document import Document


class FlowTriggerState(Document):
	"""Written by flow_engine.time_starts on each scheduler pass; dropped when the template is
	turned on again, so that a template turned off and on does not start what it missed."""

	pass
