"""Who may see a Flow Run: Flow Managers and System Managers, and whoever can read its document."""

from __future__ import annotations

import frappe

MANAGER_ROLES = ("System Manager", "Flow Manager")


def is_flow_manager(user: str | None = None) -> bool:
	user = user or frappe.session.user
	return user == "Administrator" or bool(set(frappe.get_roles(user)) & set(MANAGER_ROLES))


def has_app_permission() -> bool:
	"""The apps screen shows Flow Engine to those who may read its templates."""
	return bool(frappe.has_permission("Flow Template", "read"))


def flow_run_has_permission(doc, ptype: str = "read", user: str | None = None) -> bool:
	"""A has_permission hook can only deny what role permissions allow. True means "no objection"
	on v15 and v16 alike (v16 reads None as a denial, v15 as no opinion)."""
	user = user or frappe.session.user
	if is_flow_manager(user):
		return True  # the doctype's role permissions decide
	if ptype != "read" or not doc.context_doctype or not doc.context_docname:
		return False
	if not frappe.db.exists(doc.context_doctype, doc.context_docname):
		return False
	return frappe.has_permission(doc.context_doctype, "read", doc.context_docname, user=user)


def flow_run_query_conditions(user: str | None = None) -> str:
	user = user or frappe.session.user
	if is_flow_manager(user):
		return ""
	from frappe.utils.user import UserPermissions

	readable = UserPermissions(user).get_can_read() if user != "Guest" else []
	if not readable:
		return "1=0"
	quoted = ", ".join(frappe.db.escape(doctype) for doctype in readable)
	return f"`tabFlow Run`.context_doctype in ({quoted})"
