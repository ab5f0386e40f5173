"""What differs between the Frappe releases flow_engine runs on (v15 and v16), in one place.

Everything else in the app is written once, against APIs both releases share
(frappe.cache_manager.clear_defaults_cache, frappe.utils.get_form_link in the desk, has_permission
hooks that return True or False). When a difference appears, it goes here with a line on why.
"""

from __future__ import annotations

import frappe

FRAPPE_MAJOR = int(frappe.__version__.split(".")[0])

# The desk moved from /app to /desk in v16 (which redirects /app); the apps screen of v16 treats a
# route outside /desk as an external app.
DESK_ROUTE = "/desk" if FRAPPE_MAJOR >= 16 else "/app"

# v16's desktop: an app's Desktop Icons and Workspace Sidebars (made from its add_to_apps_screen
# hook, its workspace and its workspace_sidebar/ folder) are not removed with the app's module on
# uninstall. v15 has neither doctype.
DESKTOP_DOCTYPES = ("Desktop Icon", "Workspace Sidebar")

# MariaDB error codes that mean "the server rolled the whole transaction back; run it again":
# 1213 deadlock, and 1020 (ER_CHECKREAD) "Record has changed since last read", which MariaDB 11.6+
# raises by default (innodb_snapshot_isolation=ON) when a transaction locks a row another one
# changed after its snapshot. v16 maps both to QueryDeadlockError; v15 maps only 1213, so a v15
# site on MariaDB 11.x gets 1020 as a plain OperationalError.
_CONFLICT_CODES = frozenset({1213, 1020})


def is_write_conflict(exc: BaseException | None) -> bool:
	"""Did the database abort the transaction because it collided with another one?"""
	seen = set()
	while exc is not None and id(exc) not in seen:
		seen.add(id(exc))
		if isinstance(exc, frappe.QueryDeadlockError):
			return True
		args = getattr(exc, "args", ())
		if args and isinstance(args[0], int) and args[0] in _CONFLICT_CODES and _is_driver_error(exc):
			return True
		exc = exc.__cause__ or exc.__context__
	return False


def _is_driver_error(exc: BaseException) -> bool:
	# pymysql (v15) and mysqlclient (v16) raise errors from classes of their own modules
	return type(exc).__module__.split(".")[0] in ("pymysql", "MySQLdb")


def _commit_chains() -> bool:
	import inspect

	from frappe.database.database import Database

	return "chain" in inspect.signature(Database.commit).parameters


# v16's commit(chain=True) ends a transaction and starts the next with COMMIT AND CHAIN (one
# statement, the next transaction at the same isolation level); v15's commit has no such argument.
_COMMIT_CHAINS = _commit_chains()


def commit_and_chain() -> None:
	"""Frappe's commit (its callbacks, in its order), the next transaction started by the same
	statement and at the same isolation level as the one committed."""
	if _COMMIT_CHAINS:
		frappe.db.commit(chain=True)
		return
	db = frappe.db  # v15's commit, with COMMIT AND CHAIN in place of COMMIT then START TRANSACTION
	db.before_rollback.reset()
	db.after_rollback.reset()
	db.before_commit.run()
	db.sql("commit and chain")
	db.after_commit.run()


def __getattr__(name: str):
	# The test base class, imported only by the tests (frappe.tests is heavy for every request):
	# v16 has IntegrationTestCase (FrappeTestCase is deprecated there and removed in v17); v15 has
	# only FrappeTestCase.
	if name == "TestCase":
		try:
			from frappe.tests import IntegrationTestCase as test_case
		except ImportError:
			from frappe.tests.utils import FrappeTestCase as test_case
		return test_case
	raise AttributeError(name)
