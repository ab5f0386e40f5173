"""Exceptions raised by flow_engine's doctype controllers."""

import frappe


class FlowTemplateError(frappe.ValidationError):
	"""An invalid flow, or a change a system template does not allow."""
