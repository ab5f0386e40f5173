"""Proposed changes to flow_engine, applied by monkeypatching, to measure their gain in the same
benchmark run (drain_bench.py --experiment NAME[,NAME…]; event_bench.py --experiment …).

They are measurements of proposals, not part of flow_engine: each mirrors a change proposed in
benchmarks/README.md ("Proposed changes"), written here so that its effect can be measured on the
same machine, in the same run, against the unchanged code.

    raw_load     store.load_run: one plain `select … for update` instead of frappe.db.get_value with
                 11 fields (which runs every field name through sqlparse: ~1 ms of CPU per call)
    raw_save     store.save_run and scheduler._finish: a plain UPDATE instead of frappe.db.set_value
                 (which builds a pypika query and clears the document cache in Redis twice per call);
                 save_run's realtime `doc_update` (if the code has it) is kept, with the `modified`
                 just written instead of a query reading it back
    rc_claim     the drain's session in READ COMMITTED: no next-key/gap locks, so that two processes
                 claiming at once do not deadlock in `claim`
    def_cache    the compiled definition of a run's snapshot cached per process (keyed by the
                 snapshot text), instead of validating the snapshot again on every step
    lazy_dispatch  dispatch._dispatch: evaluate `when` and trigger conditions on the few document
                 fields they name (JsonLogic `var` paths, found once per condition) and serialize
                 the whole document (doc_data) only for a template that matches; fetch the
                 Customer only when a path starts with `customer` (not when the word appears in
                 a field name such as doc.customer_type), and take it from the document itself
                 when the saved document is the Customer
    snapshot_start  runs.start_run from the outbox: build the context from the document snapshot
                 taken at the event (it is in the start row) instead of loading the document
                 again with all its child tables (delayed steps still reload it)
"""

from __future__ import annotations

import json

EXPERIMENTS = ("raw_load", "raw_save", "rc_claim", "def_cache", "lazy_dispatch", "snapshot_start")


def apply(names: list[str]) -> list[str]:
	applied = []
	for name in names:
		name = name.strip()
		if not name:
			continue
		if name not in EXPERIMENTS:
			raise SystemExit(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
		globals()[f"_apply_{name}"]()
		applied.append(name)
	return applied


def _apply_raw_load() -> None:
	import frappe

	from flow_engine import runs
	from flow_engine.adapters import store
	from flow_engine.runtime import Run

	columns = ", ".join(f"`{c}`" for c in store.RUN_COLUMNS)

	def load_run(name: str, *, for_update: bool = False):
		rows = frappe.db.sql(
			f"select {columns} from `tabFlow Run` where name = %s{' for update' if for_update else ''}",
			(name,),
			as_dict=True,
		)
		if not rows:
			raise frappe.DoesNotExistError(frappe._("Flow Run {0} not found").format(name))
		row = rows[0]
		state = json.loads(row.run_state or "{}")
		run = Run(
			name=row.name,
			definition=json.loads(row.definition_snapshot or "{}"),
			status=row.status,
			steps=json.loads(row.step_state or "{}"),
			variables=json.loads(row.variables or "{}"),
			context=state.get("context") or {},
			defaults=state.get("defaults") or {},
			started_at=state.get("started_at"),
			completed_at=state.get("completed_at"),
			error=row.error,
		)
		return run, row

	store.load_run = load_run
	runs.load_run = load_run


def _apply_raw_save() -> None:
	import frappe
	from frappe.utils import now_datetime

	from flow_engine import runs, scheduler
	from flow_engine.adapters import store

	def update(doctype: str, name: str, values: dict) -> None:
		values = {"modified": now_datetime(), **values, "modified_by": frappe.session.user}
		assignments = ", ".join(f"`{key}` = %s" for key in values)
		frappe.db.sql(f"update `tab{doctype}` set {assignments} where name = %s", (*values.values(), name))

	import inspect

	publishes = "publish_realtime" in inspect.getsource(store.save_run)

	def save_run(run, report) -> None:
		values = store._run_values(run)
		modified = now_datetime()
		update("Flow Run", run.name, {**values, "modified": modified})
		store.write_schedule(run, report)
		if publishes:
			# as the code measured does (an open form reloads), with the `modified` just written
			# instead of reading it back
			frappe.publish_realtime(
				"doc_update",
				{"doctype": "Flow Run", "name": run.name, "modified": str(modified)},
				doctype="Flow Run",
				docname=run.name,
				after_commit=True,
			)

	def _finish(name, status, note=None, run_name=None) -> None:
		values = {
			"status": status,
			"executed_at": now_datetime(),
			"lease_expires_at": None,
			"last_error": note,
		}
		if run_name:
			values["flow_run"] = run_name
		update("Flow Step Pending", name, values)

	store.save_run = save_run
	runs.save_run = save_run
	scheduler._finish = _finish


def _apply_rc_claim() -> None:
	import frappe

	from flow_engine import scheduler

	original = scheduler.drain

	def drain(*args, **kwargs):
		frappe.db.commit()
		frappe.db.sql("set session transaction isolation level read committed")
		frappe.db.commit()  # the next transaction starts in READ COMMITTED
		try:
			return original(*args, **kwargs)
		finally:
			frappe.db.rollback()
			frappe.db.sql("set session transaction isolation level repeatable read")
			frappe.db.commit()

	scheduler.drain = drain


def _apply_def_cache() -> None:
	from flow_engine.runtime import engine as engine_module

	cache: dict = {}
	original = engine_module.Engine.definition_of

	def definition_of(self, run):
		if run._compiled is None:
			key = json.dumps(run.definition, sort_keys=True, separators=(",", ":"))
			compiled = cache.get(key)
			if compiled is None:
				if len(cache) > 256:
					cache.clear()
				compiled = cache[key] = original(self, run)
			run._compiled = compiled
		return run._compiled

	engine_module.Engine.definition_of = definition_of


def _var_paths(rule, out: set) -> set:
	if isinstance(rule, dict):
		for op, args in rule.items():
			if op == "var":
				path = args[0] if isinstance(args, list) and args else args
				out.add(path if isinstance(path, str) else "")
			else:
				_var_paths(args, out)
	elif isinstance(rule, list):
		for item in rule:
			_var_paths(item, out)
	return out


def _apply_lazy_dispatch() -> None:
	import frappe

	from flow_engine import dispatch
	from flow_engine.runs import customer_of, doc_data
	from flow_engine.runtime.conditions import compare, evaluate_jsonlogic

	plans: dict = {}

	def plan(entry) -> tuple:
		"""(doc fields the rules read or None if they need the whole document, needs_customer)"""
		key = json.dumps([entry.get("when"), entry.get("condition")], sort_keys=True, default=str)
		found = plans.get(key)
		if found is None:
			paths = _var_paths([entry.get("when"), entry.get("condition")], set())
			needs_customer = any(p == "customer" or p.startswith("customer.") for p in paths)
			fields: set | None = set()
			for path in paths:
				if path.startswith("customer"):
					continue
				parts = path.split(".")
				if parts[0] != "doc" or len(parts) != 2:
					fields = None  # the whole document, a child table or another root: serialize it all
					break
				fields.add(parts[1])
			found = plans[key] = (frozenset(fields) if fields is not None else None, needs_customer)
		return found

	def lite(doc, fields) -> dict | None:
		out = {}
		for field in fields:
			value = doc.get(field)
			if isinstance(value, list):
				return None
			if not (value is None or isinstance(value, str | int | float | bool)):
				value = json.loads(frappe.as_json(value))
			out[field] = value
		return out

	def _dispatch(doc, kind, entries) -> None:
		full = None
		customer = None
		for entry in entries:
			if kind == "value_change":
				field = entry["field"]
				if not field or not doc.has_value_changed(field):
					continue
				if entry["value"] is not None and not compare(doc.get(field), "==", entry["value"]):
					continue
			if entry.get("when") is None and entry["condition"] is None:
				matched = True
			else:
				fields, needs_customer = plan(entry)
				data_doc = lite(doc, fields) if fields is not None and full is None else None
				if data_doc is None:
					if full is None:
						full = doc_data(doc)
					data_doc = full
				data = {"doc": data_doc}
				if needs_customer:
					if customer is None:
						if full is None:
							full = doc_data(doc)
						if doc.doctype == "Customer":
							customer = full
						else:
							name = customer_of(full)
							customer = (
								json.loads(frappe.as_json(frappe.get_cached_doc("Customer", name).as_dict()))
								if name and frappe.db.exists("Customer", name)
								else {}
							)
					data["customer"] = customer
				if entry.get("when") and not evaluate_jsonlogic(entry["when"], data)[0]:
					continue
				matched = True
				if entry["condition"] is not None:
					matched, error = evaluate_jsonlogic(entry["condition"], data)
					if error:
						frappe.log_error(
							title=f"flow_engine: trigger condition of {entry['template']} failed",
							message=error,
						)
			if not matched:
				continue
			if full is None:
				full = doc_data(doc)
			dispatch._queue_start(entry["template"], entry["event"], doc.doctype, doc.name, full)

	dispatch._dispatch = _dispatch


def _apply_snapshot_start() -> None:
	import frappe

	from flow_engine import runs

	original_build = runs.build_context
	original_start = runs.start_run
	state = {"starting": False}

	def build_context(doctype, docname, snapshot=None):
		if not (state["starting"] and snapshot):
			return original_build(doctype, docname, snapshot)
		doc = snapshot
		customer = {}
		name = runs.customer_of(doc)
		if name and frappe.db.exists("Customer", name):
			customer = (
				doc if doc.get("doctype") == "Customer" else runs.doc_data(frappe.get_doc("Customer", name))
			)
		context = {"doc": doc, "customer": customer}
		if doctype and docname:
			context["reference"] = {"doctype": doctype, "name": docname}
		return context

	def start_run(*args, **kwargs):
		state["starting"] = True
		try:
			return original_start(*args, **kwargs)
		finally:
			state["starting"] = False

	runs.build_context = build_context
	runs.start_run = start_run
