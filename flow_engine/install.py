"""Install, migrate and uninstall hooks."""

from __future__ import annotations

import frappe

ROLE = "Flow Manager"
APP_TITLE = "Flow Engine"


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
	forget_desktop_entries()
	forget_jobs_and_patches()
	if frappe.db.exists("Role", ROLE):
		frappe.db.delete("Has Role", {"role": ROLE})
		frappe.delete_doc("Role", ROLE, ignore_permissions=True, force=True)


def forget_jobs_and_patches() -> None:
	"""Frappe keeps an uninstalled app's scheduled job types (until a later migrate) and patch log."""
	jobs = frappe.get_all("Scheduled Job Type", filters={"method": ("like", "flow_engine.%")}, pluck="name")
	if jobs:
		frappe.db.delete("Scheduled Job Log", {"scheduled_job_type": ("in", jobs)})
		frappe.db.delete("Scheduled Job Type", {"name": ("in", jobs)})
	frappe.db.delete("Patch Log", {"patch": ("like", "flow_engine.%")})


def forget_desktop_entries() -> None:
	"""v16's desktop icon and sidebar of the app (made at install from hooks and files)."""
	from flow_engine.compat import DESKTOP_DOCTYPES

	for doctype in DESKTOP_DOCTYPES:
		if not frappe.db.table_exists(doctype):
			continue
		names = set(frappe.get_all(doctype, filters={"app": "flow_engine"}, pluck="name"))
		if frappe.db.exists(doctype, APP_TITLE):
			names.add(APP_TITLE)  # generated from the workspace, without its app
		for name in names:
			frappe.delete_doc(doctype, name, force=True, ignore_permissions=True, ignore_on_trash=True)


def before_tests() -> None:
	"""`bench run-tests --app flow_engine` runs only flow_engine's before_tests hooks (v15 and v16):
	on a site whose ERPNext set-up was never completed (a new site) complete it as ERPNext's own
	tests do. A site already set up (a copy of a real one) is left as it is."""
	if "erpnext" in frappe.get_installed_apps() and not frappe.db.a_row_exists("Company"):
		from erpnext.setup.utils import before_tests as prepare_erpnext

		prepare_erpnext()


def ensure_role() -> None:
	if not frappe.db.exists("Role", ROLE):
		frappe.get_doc({"doctype": "Role", "role_name": ROLE, "desk_access": 1}).insert(
			ignore_permissions=True
		)
