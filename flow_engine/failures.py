"""When a step fails for good: tell a person, and stop a template that keeps failing."""

from __future__ import annotations

import frappe
from frappe import _

from flow_engine.settings import get_settings


def on_run_failed(run, report) -> None:
	settings = get_settings()
	template = frappe.db.get_value("Flow Run", run.name, "flow_template") or (
		run.context.get("template") or {}
	).get("name")
	if settings.notify_on_failure:
		_notify(run, template, report.failed)
	if template and int(settings.disable_after_failures or 0) > 0:
		_maybe_disable(template, int(settings.disable_after_failures))


def _recipients(template: str | None) -> list[str]:
	users = set(
		frappe.get_all(
			"Has Role", filters={"role": "Flow Manager", "parenttype": "User"}, pluck="parent", distinct=True
		)
	)
	owner = frappe.db.get_value("Flow Template", template, "owner") if template else None
	if owner:
		users.add(owner)
	enabled = frappe.get_all(
		"User", filters={"name": ("in", list(users)), "enabled": 1, "user_type": "System User"}, pluck="name"
	)
	return sorted(enabled)


def _notify(run, template, failed_steps) -> None:
	subject = _("Flow {0} failed at step {1}").format(template or run.name, ", ".join(failed_steps))
	for user in _recipients(template):
		log = frappe.new_doc("Notification Log")
		log.update(
			{
				"for_user": user,
				"from_user": "Administrator",
				"type": "Alert",
				"subject": subject,
				"email_content": frappe.utils.escape_html(run.error or ""),
				"document_type": "Flow Run",
				"document_name": run.name,
			}
		)
		log.insert(ignore_permissions=True)


def _maybe_disable(template: str, limit: int) -> None:
	"""A circuit breaker: after `limit` failed runs in a row, the template stops dispatching."""
	statuses = frappe.get_all(
		"Flow Run",
		filters={"flow_template": template, "status": ("in", ("completed", "failed"))},
		pluck="status",
		order_by="creation desc",
		limit=limit,
	)
	if len(statuses) == limit and all(status == "failed" for status in statuses):
		# saved as a document: the template's own hooks then stop its dispatch
		doc = frappe.get_doc("Flow Template", template)
		doc.is_active = 0
		doc.disabled_reason = _("Disabled automatically after {0} failed runs in a row").format(limit)
		doc.flags.ignore_permissions = True
		doc.save()
