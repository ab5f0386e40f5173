# Copyright (c) 2026, flow_engine developers
# License: MIT

import frappe
from frappe.model.document import Document


class FlowTimeStart(Document):
	"""Written by flow_engine.time_starts; its name is a hash of (template, document, occurrence),
	so that a second insert of the same start fails instead of starting twice."""

	pass


def on_doctype_update():
	# the date pass asks, per document in its window, whether this value has started already
	frappe.db.add_index(
		"Flow Time Start", ["flow_template", "reference_name", "occurrence"], "template_document"
	)
