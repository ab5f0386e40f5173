"""Changes to flow_engine applied by monkeypatching, to compare them in the same benchmark run
(drain_bench.py --experiment NAME[,NAME…] or --variants "none;NAME"; event_bench.py and
save_bench.py --experiment …).

They are measurements, not part of flow_engine:

    session4     the drain path as it was before the speed work of issue #13 (commit f4276a7): one
                 transaction per row, the queue row and the run read by two statements of 14 and
                 11 columns, the run's snapshot compiled again on every step, documents' existence
                 through frappe.db.exists, the run's Customer read again (not the document
                 cache). Not put back: a drain now stops after a batch smaller than its size
                 instead of claiming once more. The same-run baseline for the gain of the rest
    lazy_dispatch  proposed, not applied: dispatch._dispatch evaluates `when` and trigger
                 conditions on the few document fields they name (JsonLogic `var` paths) and
                 serializes the whole document (doc_data) only for a template that matches
"""

from __future__ import annotations

import json

EXPERIMENTS = ("session4", "lazy_dispatch")


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


def _apply_session4() -> None:
	import frappe

	from flow_engine import scheduler
	from flow_engine.adapters import store

	scheduler.GROUP_ROWS = 1  # a commit after every row

	def load_pending(name: str):
		rows = frappe.db.sql(
			"""select name, action, flow_run, step_id, status, claimed_by, retry_count, flow_template,
			context_doctype, context_docname, trigger_event, context_snapshot, last_error, trigger_at
			from `tabFlow Step Pending` where name = %s for update""",
			(name,),
			as_dict=True,
		)
		return (rows[0], None) if rows else (None, None)  # the run: read again by runs._operate

	class Uncompiled:
		def get(self, text):
			return json.loads(text or "{}"), None  # the engine compiles the snapshot on every step

	scheduler.load_pending = load_pending
	store.DEFINITIONS = Uncompiled()

	from flow_engine import runs
	from flow_engine.adapters import effects

	def document_exists(doctype, name) -> bool:
		return bool(frappe.db.exists(doctype, name))  # through Frappe's query builder

	def _require_doctype(doctype):
		if not frappe.db.exists("DocType", doctype):
			raise effects.StepError(f"no DocType {doctype!r}", retryable=False)
		return frappe.get_meta(doctype)

	def build_context(doctype, docname, snapshot=None, *, reload=True):
		doc = snapshot or {}
		if (reload or not snapshot) and doctype and docname and frappe.db.exists(doctype, docname):
			doc = runs.doc_data(frappe.get_doc(doctype, docname))
		customer = {}
		customer_name = runs.customer_of(doc)
		if customer_name and frappe.db.exists("Customer", customer_name):
			customer = (
				doc
				if doc.get("doctype") == "Customer"
				else runs.doc_data(frappe.get_doc("Customer", customer_name))
			)
		context = {"doc": doc, "customer": customer}
		if doctype and docname:
			context["reference"] = {"doctype": doctype, "name": docname}
		return context

	effects.document_exists = runs.document_exists = document_exists
	effects._require_doctype = _require_doctype
	runs.build_context = build_context


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
