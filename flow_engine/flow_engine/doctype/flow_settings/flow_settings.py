# Copyright (c) 2026, flow_engine developers
# License: MIT

import frappe
from frappe import _
from frappe.model.document import Document


class FlowSettings(Document):
	def validate(self):
		from flow_engine.adapters.net import parse_allow_list

		parse_allow_list(self.webhook_allow_list)
		if self.backoff_factor is not None and self.backoff_factor < 1:
			frappe.throw(_("Backoff Factor must be at least 1"))
		if self.dispatch_doctype and not frappe.db.exists("DocType", self.dispatch_doctype):
			frappe.throw(_("DocType {0} does not exist").format(self.dispatch_doctype))

	def on_update(self):
		from flow_engine.dispatch import clear_dispatch_cache
		from flow_engine.settings import clear_settings_cache

		clear_settings_cache()
		clear_dispatch_cache()
