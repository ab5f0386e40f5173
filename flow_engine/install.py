"""Install, migrate and uninstall hooks."""

from __future__ import annotations

import frappe

ROLE = "Flow Manager"


def after_install() -> None:
	ensure_role()
	from flow_engine.seeding import seed_templates

	seed_templates()


def after_migrate() -> None:
	ensure_role()
	from flow_engine.dispatch import clear_dispatch_cache
	from flow_engine.seeding import seed_templates

	seed_templates()
	clear_dispatch_cache()


def before_uninstall() -> None:
	from flow_engine.dispatch import forget_listened_doctypes

	frappe.flags.in_uninstall = True
	forget_listened_doctypes()
	if frappe.db.exists("Role", ROLE):
		frappe.db.delete("Has Role", {"role": ROLE})
		frappe.delete_doc("Role", ROLE, ignore_permissions=True, force=True)


def ensure_role() -> None:
	if not frappe.db.exists("Role", ROLE):
		frappe.get_doc({"doctype": "Role", "role_name": ROLE, "desk_access": 1}).insert(
			ignore_permissions=True
		)
