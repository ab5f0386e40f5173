# Copyright (c) 2026, flow_engine developers
# License: MIT

from frappe.model.document import Document


class FlowEffect(Document):
	"""Written by flow_engine.adapters.effects, named `<run>:<step>|<action>`."""

	pass
