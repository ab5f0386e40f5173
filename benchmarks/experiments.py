"""Changes to flow_engine applied by monkeypatching, to compare them in the same benchmark run
(drain_bench.py --experiment NAME[,NAME…] or --variants "none;NAME"; event_bench.py and
save_bench.py --experiment …).

They are measurements, not part of flow_engine:

    session4     the drain path as it was before the speed work of issue #13 (commit f4276a7): one
                 transaction per row, the queue row and the run read by two statements of 14 and
                 11 columns, the run's snapshot compiled again on every step, documents' existence
                 through frappe.db.exists, the run's Customer read again (not the document
                 cache). Not put back: a drain now stops after a batch smaller than its size
                 instead of claiming once more. The same-run baseline for the gain of the rest.
                 Not put back either: this session's fewer statements per start and drain
                 (the isolation level, the naming series, the ledger and settings reads).
"""

from __future__ import annotations

import json

EXPERIMENTS = ("session4",)


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
