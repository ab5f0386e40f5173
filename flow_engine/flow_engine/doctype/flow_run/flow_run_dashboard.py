from frappe import _


def get_data():
	"""The Flow Run form's Connections: the sub-flows this run started."""
	return {
		"fieldname": "parent_run",
		"transactions": [{"label": _("Sub-flows"), "items": ["Flow Run"]}],
	}
