"""Changes to flow_engine applied by monkeypatching, to compare them in the same benchmark run
(drain_bench.py --experiment NAME[,NAME…] or --variants "none;NAME"; event_bench.py and
save_bench.py --experiment …).

They are measurements, not part of flow_engine:

    before       the drain path as it was before commit d2f4616 (load_run through frappe.db.get_value
                 with 11 fields, save_run and the row's finish through frappe.db.set_value plus a
                 read-back of `modified` for the realtime message, the claim in REPEATABLE READ):
                 the same-run baseline for the figures of the changes that were applied
    def_cache    proposed, not applied: the compiled definition of a run's snapshot cached per
                 process (keyed by the snapshot text), instead of validating the snapshot again on
                 every step
    lazy_dispatch  proposed, not applied: dispatch._dispatch evaluates `when` and trigger
                 conditions on the few document fields they name (JsonLogic `var` paths) and
                 serializes the whole document (doc_data) only for a template that matches
"""

from __future__ import annotations

import json

EXPERIMENTS = ("before", "def_cache", "lazy_dispatch")


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


def _apply_before() -> None:
	import frappe
	from frappe.utils import now_datetime

	from flow_engine import runs, scheduler
	from flow_engine.adapters import store

	def load_run(name: str, *, for_update: bool = False):
		row = frappe.db.get_value("Flow Run", name, store.RUN_COLUMNS, as_dict=True, for_update=for_update)
		if not row:
			raise frappe.DoesNotExistError(frappe._("Flow Run {0} not found").format(name))
		return store.run_from_row(row), row

	def save_run(run, report) -> None:
		frappe.db.set_value("Flow Run", run.name, store._run_values(run))
		store.write_schedule(run, report)
		frappe.publish_realtime(
			"doc_update",
			{
				"doctype": "Flow Run",
				"name": run.name,
				"modified": str(frappe.db.get_value("Flow Run", run.name, "modified")),
			},
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
		frappe.db.set_value("Flow Step Pending", name, values, update_modified=True)

	def claim(batch_size, worker, lease_seconds, *, starts_only=False):
		return scheduler._claim(batch_size, worker, lease_seconds, starts_only)

	store.load_run = runs.load_run = load_run
	store.save_run = runs.save_run = save_run
	scheduler._finish = _finish
	scheduler.claim = claim


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
			dispatch.queue_start(entry["template"], entry["event"], doc.doctype, doc.name, full)

	dispatch._dispatch = _dispatch
