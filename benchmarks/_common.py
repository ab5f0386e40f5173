"""Shared helpers of the site benchmarks (save_bench, drain_bench, event_bench).

They run against a real bench site, from the bench's `sites` folder, with the bench's Python:

    cd ~/frappe-bench/sites && ../env/bin/python ../apps/flow_engine/benchmarks/save_bench.py --site SITE

Everything a benchmark creates is named or tagged with BENCH_PREFIX and removed at the end (also
by `cleanup_bench.py` after an interrupted run).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import re
import statistics
import sys
import time
from collections import Counter

BENCH_PREFIX = "_Bench Flow "
BENCH_CUSTOMER = "_Bench Flow Customer"
BENCH_ITEM = "_Bench Flow Item"


# --- connection -----------------------------------------------------------------------------------


def parser(description: str) -> argparse.ArgumentParser:
	sys.stdout.reconfigure(line_buffering=True)  # figures appear as they are measured, even in a pipe
	p = argparse.ArgumentParser(description=description)
	p.add_argument("--site", required=True, help="a site with erpnext and flow_engine installed")
	p.add_argument("--sites-path", default=".", help="the bench's sites folder (default: the current folder)")
	return p


def connect(site: str, sites_path: str = ".") -> None:
	import frappe

	frappe.init(site=site, sites_path=sites_path)
	frappe.connect()
	frappe.set_user("Administrator")
	if "flow_engine" not in frappe.get_installed_apps():
		raise SystemExit(
			f"flow_engine is not installed on {site}: bench --site {site} install-app flow_engine"
		)


def disconnect() -> None:
	import frappe

	with contextlib.suppress(Exception):
		frappe.db.rollback()
	frappe.destroy()


def new_request() -> None:
	"""What frappe.init resets for every request: the request-local cache in front of Redis and
	the results of @request_cache functions (such as frappe.get_installed_apps)."""
	import frappe

	frappe.local.cache = {}
	if hasattr(frappe.local, "request_cache"):
		frappe.local.request_cache.clear()


# --- the machine -----------------------------------------------------------------------------------


def machine() -> str:
	import frappe

	try:
		with open("/etc/debian_version") as f:
			debian = f"Debian {f.read().strip()}"
	except OSError:
		debian = platform.platform()
	mariadb = frappe.db.sql("select version()")[0][0]
	versions = {}
	for app in ("frappe", "erpnext", "flow_engine"):
		with contextlib.suppress(Exception):
			versions[app] = frappe.get_attr(f"{app}.__version__")
	apps = ", ".join(f"{app} {version}" for app, version in versions.items())
	return (
		f"{os.cpu_count()} cores, {debian}, MariaDB {mariadb.split('-')[0]}, {apps}, "
		f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}"
	)


# --- counting ------------------------------------------------------------------------------------

_WRITE = re.compile(r"^\s*(insert|update|delete|replace)\b.*?`?tab([^`]+)`?", re.I | re.S)


class Calls:
	"""Counts frappe.db.sql calls (and the writes among them, per table) and Redis commands.

	Redis commands are counted the way frappe.tests.utils.assertRedisCallCounts does: by wrapping
	frappe.cache.execute_command (calls answered from frappe.local.cache never reach it)."""

	def __init__(self, keep_statements: bool = False):
		self.sql = 0
		self.redis = 0
		self.writes: Counter = Counter()
		self.kinds: Counter = Counter()  # first word: select, insert, update, commit, start, savepoint…
		self.redis_commands: Counter = Counter()
		self.statements: list[str] | None = [] if keep_statements else None
		self._orig_sql = None
		self._orig_exec = None

	def snapshot(self) -> tuple[int, int]:
		return self.sql, self.redis

	@property
	def queries(self) -> int:
		"""SQL statements other than transaction control (start transaction, commit, rollback, savepoint)."""
		control = sum(self.kinds[k] for k in ("start", "commit", "rollback", "savepoint", "release"))
		return self.sql - control

	def __enter__(self):
		import frappe

		db = frappe.db
		self._db = db
		self._orig_sql = db.sql
		self._cache = frappe.cache
		self._orig_exec = frappe.cache.execute_command
		calls = self

		def sql(query, *args, **kwargs):
			calls.sql += 1
			text = str(query)
			calls.kinds[text.split(None, 1)[0].lower() if text.strip() else "?"] += 1
			match = _WRITE.match(text)
			if match:
				calls.writes[f"{match.group(1).lower()} {match.group(2)}"] += 1
			if calls.statements is not None:
				calls.statements.append(" ".join(text.split())[:160])
			return calls._orig_sql(query, *args, **kwargs)

		def execute_command(*args, **kwargs):
			calls.redis += 1
			calls.redis_commands[str(args[0])] += 1
			if calls.statements is not None:
				key = args[1] if len(args) > 1 else ""
				key = key.decode(errors="replace") if isinstance(key, bytes) else str(key)
				calls.statements.append(f"REDIS {args[0]} {key.split('|', 1)[-1][:80]}")
			return calls._orig_exec(*args, **kwargs)

		db.sql = sql
		frappe.cache.execute_command = execute_command
		return self

	def __exit__(self, *exc):
		self._db.sql = self._orig_sql
		self._cache.execute_command = self._orig_exec
		# the instance attribute shadowed the class method: remove it rather than keep a bound copy
		for obj, attr in ((self._db, "sql"), (self._cache, "execute_command")):
			with contextlib.suppress(AttributeError):
				if attr in vars(obj):
					delattr(obj, attr)


# --- hooks -------------------------------------------------------------------------------------------


@contextlib.contextmanager
def flow_hooks_removed():
	"""The baseline: flow_engine's doc_events handlers taken out, as if the app were not installed."""
	import frappe

	hooks = frappe.get_doc_hooks()
	saved = copy.deepcopy(hooks)
	for methods in hooks.values():
		for method, handlers in methods.items():
			methods[method] = [h for h in handlers if not h.startswith("flow_engine.")]
	try:
		yield
	finally:
		frappe.local.doc_events_hooks = saved


def set_flow_hooks(active: bool) -> None:
	import frappe

	if not hasattr(frappe.local, "flow_bench_all_hooks"):
		frappe.local.flow_bench_all_hooks = copy.deepcopy(frappe.get_doc_hooks())
	hooks = copy.deepcopy(frappe.local.flow_bench_all_hooks)
	if not active:
		for methods in hooks.values():
			for method, handlers in methods.items():
				methods[method] = [h for h in handlers if not h.startswith("flow_engine.")]
	frappe.local.doc_events_hooks = hooks


@contextlib.contextmanager
def inline_delete_jobs():
	"""frappe.delete_doc enqueues `delete_dynamic_links` for every deleted document; run it inline
	instead, so that cleaning up leaves no job in the bench's shared queue."""
	import frappe

	original = frappe.enqueue

	def enqueue(method, *args, **kwargs):
		if method == "frappe.model.delete_doc.delete_dynamic_links":
			kwargs["now"] = True
		return original(method, *args, **kwargs)

	frappe.enqueue = enqueue
	try:
		yield
	finally:
		frappe.enqueue = original


def forget_deleted(doctype: str) -> None:
	"""Drop the Deleted Document copies of what the benchmarks deleted (named with BENCH_PREFIX)."""
	import frappe

	frappe.db.sql(
		"delete from `tabDeleted Document` where deleted_doctype = %s and deleted_name like %s",
		(doctype, f"{BENCH_PREFIX}%"),
	)
	frappe.db.commit()


# --- site data ----------------------------------------------------------------------------------------


def ensure_erpnext_setup() -> str:
	"""A Company and the masters a Customer and a Quotation need (ERPNext's setup wizard, once)."""
	import frappe

	company = frappe.db.get_value("Company", {}, "name")
	if not company:
		from frappe.desk.page.setup_wizard.setup_wizard import setup_complete

		year = frappe.utils.now_datetime().year
		print("ERPNext setup is not complete on this site: running the setup wizard once (a minute)…")
		setup_complete(
			{
				"currency": "USD",
				"full_name": "Bench User",
				"company_name": "Flow Bench LLC",
				"timezone": frappe.db.get_single_value("System Settings", "time_zone") or "UTC",
				"company_abbr": "FBL",
				"industry": "Manufacturing",
				"country": "United States",
				"fy_start_date": f"{year}-01-01",
				"fy_end_date": f"{year}-12-31",
				"language": "english",
				"company_tagline": "Benchmarks",
				"email": "bench-user@example.com",
				"password": frappe.generate_hash(length=16),
				"chart_of_accounts": "Standard",
			}
		)
		frappe.db.commit()
		frappe.clear_cache()
		company = frappe.db.get_value("Company", {}, "name")
	return company


def ensure_customer_and_item(company: str) -> tuple[str, str]:
	import frappe

	if not frappe.db.exists("Customer", BENCH_CUSTOMER):
		frappe.get_doc(
			{
				"doctype": "Customer",
				"customer_name": BENCH_CUSTOMER,
				"customer_type": "Company",
				"customer_group": _leaf("Customer Group"),
				"territory": _leaf("Territory"),
			}
		).insert(ignore_permissions=True)
	if not frappe.db.exists("Item", BENCH_ITEM):
		frappe.get_doc(
			{
				"doctype": "Item",
				"item_code": BENCH_ITEM,
				"item_name": BENCH_ITEM,
				"item_group": _leaf("Item Group"),
				"stock_uom": "Nos",
				"is_stock_item": 0,
			}
		).insert(ignore_permissions=True)
	frappe.db.commit()
	return BENCH_CUSTOMER, BENCH_ITEM


def _leaf(doctype: str) -> str | None:
	import frappe

	return frappe.db.get_value(doctype, {"is_group": 0}, "name", order_by="creation asc")


def make_template(name: str, steps: list[dict], **fields) -> str:
	"""A Flow Template through the real doctype (validated), tagged with BENCH_PREFIX."""
	import frappe

	doc = frappe.get_doc(
		{
			"doctype": "Flow Template",
			"template_name": f"{BENCH_PREFIX}{name}",
			"category": "other",
			"trigger_event": fields.pop("trigger_event", "manual"),
			"flow_definition": json.dumps({"version": 1, "steps": steps}),
			"is_active": fields.pop("is_active", 1),
			**fields,
		}
	)
	doc.insert(ignore_permissions=True)
	return doc.name


def clone_rows(doctype: str, source: str, names: list[str], overrides: list[dict]) -> None:
	"""Bulk-insert copies of one row of `doctype` (names and fields from `overrides`), 1,000 a query."""
	import frappe

	row = frappe.db.sql(f"select * from `tab{doctype}` where name = %s", (source,), as_dict=True)[0]
	columns = list(row)
	values = []
	for name, override in zip(names, overrides, strict=True):
		copy_ = dict(row, **override)
		copy_["name"] = name
		values.append(tuple(copy_[c] for c in columns))
	frappe.db.bulk_insert(doctype, columns, values, chunk_size=1000)


def bench_templates() -> list[str]:
	import frappe

	return frappe.get_all(
		"Flow Template", filters={"template_name": ("like", f"{BENCH_PREFIX}%")}, pluck="name"
	)


def delete_bench_runs(templates: list[str] | None = None) -> int:
	"""Runs of bench templates, their pending rows and effects (SQL, in chunks); returns runs deleted."""
	import frappe

	templates = bench_templates() if templates is None else templates
	if not templates:
		return 0
	deleted = 0
	placeholders = ", ".join(["%s"] * len(templates))
	while True:
		names = frappe.db.sql_list(
			f"select name from `tabFlow Run` where flow_template in ({placeholders}) limit 5000",
			tuple(templates),
		)
		if not names:
			break
		marks = ", ".join(["%s"] * len(names))
		frappe.db.sql(f"delete from `tabFlow Step Pending` where flow_run in ({marks})", tuple(names))
		frappe.db.sql(f"delete from `tabFlow Effect` where flow_run in ({marks})", tuple(names))
		frappe.db.sql(f"delete from `tabFlow Run` where name in ({marks})", tuple(names))
		frappe.db.commit()
		deleted += len(names)
	frappe.db.sql(
		f"delete from `tabFlow Step Pending` where flow_template in ({placeholders})", tuple(templates)
	)
	frappe.db.commit()
	return deleted


def delete_bench_templates() -> None:
	import frappe

	from flow_engine.dispatch import clear_dispatch_cache

	templates = bench_templates()
	delete_bench_runs(templates)
	frappe.db.sql("delete from `tabFlow Template` where template_name like %s", (f"{BENCH_PREFIX}%",))
	clear_dispatch_cache()  # stores the listened doctypes: before the commit
	frappe.db.commit()


@contextlib.contextmanager
def only_bench_templates_active():
	"""Deactivate the site's own templates for the duration (restored afterwards, even on error)."""
	import frappe

	from flow_engine.dispatch import clear_dispatch_cache

	others = frappe.get_all(
		"Flow Template",
		filters={"is_active": 1, "template_name": ("not like", f"{BENCH_PREFIX}%")},
		pluck="name",
	)
	if others:
		frappe.db.sql(
			f"update `tabFlow Template` set is_active = 0 where name in ({', '.join(['%s'] * len(others))})",
			tuple(others),
		)
		clear_dispatch_cache()
		frappe.db.commit()
	try:
		yield others
	finally:
		with contextlib.suppress(Exception):
			frappe.db.rollback()
		if others:
			frappe.db.sql(
				f"update `tabFlow Template` set is_active = 1 where name in ({', '.join(['%s'] * len(others))})",
				tuple(others),
			)
		clear_dispatch_cache()
		frappe.db.commit()


# --- figures ------------------------------------------------------------------------------------


def timed(fn):
	"""(fn wrapped, a dict it adds to): the seconds spent in fn and its calls, for a hook timed
	around itself."""
	spent = {"seconds": 0.0, "calls": 0}

	def wrapper(*args, **kwargs):
		t0 = time.perf_counter()
		try:
			return fn(*args, **kwargs)
		finally:
			spent["seconds"] += time.perf_counter() - t0
			spent["calls"] += 1

	return wrapper, spent


def median(values) -> float:
	return statistics.median(values) if values else float("nan")


def quantile(values, q: float) -> float:
	if not values:
		return float("nan")
	ordered = sorted(values)
	return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def rss_kb() -> int:
	with open("/proc/self/status") as f:
		for line in f:
			if line.startswith("VmRSS:"):
				return int(line.split()[1])
	return 0


def now() -> float:
	return time.perf_counter()
