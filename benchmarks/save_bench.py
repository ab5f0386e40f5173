"""Save overhead: what flow_engine's doc_events hooks add to every document save of a site.

    cd ~/frappe-bench/sites && ../env/bin/python ../apps/flow_engine/benchmarks/save_bench.py --site SITE
        [--samples 200] [--block 10] [--doctypes ToDo,Customer] [--no-notification]

For ToDo and an ERPNext Customer, times `insert()` and then `save()` after a change, each as a new
request (the request-local cache in front of Redis is emptied before each), in these
configurations, interleaved in blocks in a random order per round so that the noise of a shared
machine spreads over all of them alike:

    baseline    flow_engine's doc_events handlers removed (as if the app were not installed)
    t0          hooks active, no active Flow Template on the site
    t1000       hooks active, 1,000 active templates on other doctypes (generic and named events;
                one in five also has a step waiting for an event of its doctype)
    t5false     hooks active, 5 active on_update templates on the saved doctype, conditions false
    t5false_nc  (Customer) the same with conditions whose paths do not contain "customer"
    notif5      (ToDo only, for comparison) no flow hooks; 5 enabled Frappe Notifications on ToDo,
                event Save, conditions false

Every iteration is rolled back (nothing is kept). Prints, per doctype and configuration: median
and p90 of insert and update, the ratio of medians to the baseline, SQL statements and Redis
commands per operation (frappe.db.sql and frappe.cache.execute_command wrapped) and what the
hooks add; then the time spent inside flow_engine.dispatch.on_document_event itself (a
noise-free figure) and the cost of rebuilding a doctype's dispatch index.
Targets: t0 and t1000 ≤ 1.03 and zero added SQL; t5false ≤ 1.10.
"""

from __future__ import annotations

import gc
import json
import random
import sys
import time

import _common as c

TEMPLATE_DOCTYPES = (
	"Contract",
	"Issue",
	"Quotation",
	"Sales Order",
	"Sales Invoice",
	"Lead",
	"Opportunity",
	"Project",
	"Task",
	"Address",
	"Contact",
	"Item",
	"Supplier",
	"Purchase Order",
	"Delivery Note",
	"Payment Entry",
	"Subscription",
	"Dispatch Job",
	"Event",
	"Note",
)
GENERIC = ("on_insert", "on_update", "on_submit", "on_cancel", "on_delete", "on_value_change")
NAMED = (
	"on_contract_signed",
	"on_quotation_created",
	"on_quotation_accepted",
	"on_payment_received",
	"on_issue_opened",
	"on_subscription_active",
	"on_dispatch_completed",
)
WAIT = [{"id": "w", "kind": "wait"}]
# Conditions that are false for the documents the benchmark saves. Customer has two sets: field
# names as users write them (doc.customer_type…), and the same kind of rules without the word
# "customer" in any path (dispatch fetches the Customer when a condition mentions it).
FALSE_CONDITIONS = {
	"ToDo": {
		"t5false": [
			{"==": [{"var": "doc.status"}, "Closed"]},
			{"==": [{"var": "doc.priority"}, "High"]},
			{"in": ["__never__", {"var": "doc.description"}]},
			{"==": [{"var": "doc.reference_type"}, "Contract"]},
			{
				"and": [
					{"==": [{"var": "doc.status"}, "Open"]},
					{"==": [{"var": "doc.allocated_to"}, "x@example.com"]},
				]
			},
		],
	},
	"Customer": {
		"t5false": [
			{"==": [{"var": "doc.customer_type"}, "Individual"]},
			{"==": [{"var": "doc.territory"}, "Mars"]},
			{"in": ["__never__", {"var": "doc.customer_name"}]},
			{"==": [{"var": "doc.disabled"}, 1]},
			{
				"and": [
					{"==": [{"var": "doc.customer_group"}, "Nobody"]},
					{">": [{"var": "doc.credit_limit"}, 1e9]},
				]
			},
		],
		"t5false_nc": [
			{"==": [{"var": "doc.language"}, "xx"]},
			{"==": [{"var": "doc.territory"}, "Mars"]},
			{"==": [{"var": "doc.is_frozen"}, 1]},
			{"==": [{"var": "doc.disabled"}, 1]},
			{
				"and": [
					{"==": [{"var": "doc.territory"}, "Mars"]},
					{">": [{"var": "doc.default_commission_rate"}, 100]},
				]
			},
		],
	},
}
NOTIFICATION_CONDITIONS = [
	"doc.status == 'Closed'",
	"doc.priority == 'High'",
	"'__never__' in (doc.description or '')",
	"doc.reference_type == 'Contract'",
	"doc.status == 'Open' and doc.allocated_to == 'x@example.com'",
]


# --- set-up -------------------------------------------------------------------------------------


def make_other_templates(count: int) -> list[str]:
	"""`count` active templates on doctypes other than ToDo and Customer: one validated insert,
	then bulk-inserted copies with varied events, doctypes and conditions."""
	import frappe

	from flow_engine.adapters.store import reserve_names

	first = c.make_template(
		"other 0",
		WAIT,
		trigger_event="on_insert",
		trigger_doctype="Contract",
		trigger_condition=json.dumps({"==": [{"var": "doc.status"}, "Active"]}),
	)
	names = reserve_names("FT-", count - 1)
	overrides = []
	for i in range(1, count):
		if i % 4 == 3:
			event, doctype = NAMED[i % len(NAMED)], None
		else:
			event, doctype = GENERIC[i % len(GENERIC)], TEMPLATE_DOCTYPES[i % len(TEMPLATE_DOCTYPES)]
		row = {
			"template_name": f"{c.BENCH_PREFIX}other {i}",
			"trigger_event": event,
			"trigger_doctype": doctype,
			"trigger_field": "status" if event == "on_value_change" else None,
			"trigger_condition": json.dumps({"==": [{"var": "doc.status"}, f"S{i}"]}) if i % 2 else None,
		}
		if i % 5 == 0:  # a step waiting for an event of another doctype: those saves are watched too
			watched = TEMPLATE_DOCTYPES[(i // 5) % len(TEMPLATE_DOCTYPES)]
			row["flow_definition"] = json.dumps({"steps": [*WAIT, waiting_step(watched)]})
			row["watched_doctypes"] = f"|{watched}:update|"
		overrides.append(row)
	c.clone_rows("Flow Template", first, names, overrides)
	frappe.db.commit()
	return [first, *names]


def waiting_step(doctype: str) -> dict:
	return {
		"id": "reply",
		"kind": "wait_for_event",
		"depends_on": [WAIT[-1]["id"]],
		"payload": {"doctype": doctype, "event": "update", "timeout_days": 1},
	}


def make_false_templates(doctype: str) -> dict[str, list[str]]:
	return {
		label: [
			c.make_template(
				f"{doctype} {label} {i}",
				WAIT,
				trigger_event="on_update",
				trigger_doctype=doctype,
				trigger_condition=json.dumps(condition),
			)
			for i, condition in enumerate(conditions)
		]
		for label, conditions in FALSE_CONDITIONS[doctype].items()
	}


def make_notifications() -> list[str]:
	import frappe

	names = []
	for i, condition in enumerate(NOTIFICATION_CONDITIONS):
		name = f"{c.BENCH_PREFIX}ToDo {i}"
		if frappe.db.exists("Notification", name):
			with c.inline_delete_jobs():
				frappe.delete_doc("Notification", name, force=True, ignore_permissions=True)
		doc = frappe.get_doc(
			{
				"doctype": "Notification",
				"name": name,
				"subject": "ToDo {{ doc.name }}",
				"document_type": "ToDo",
				"event": "Save",
				"channel": "System Notification",
				"condition": condition,
				"message": "{{ doc.description }}",
				"recipients": [{"receiver_by_document_field": "owner"}],
				"enabled": 0,
			}
		)
		doc.insert(ignore_permissions=True)
		names.append(doc.name)
	frappe.db.commit()
	return names


def activate(templates: list[str], all_bench: list[str], notifications: list[str], notify: bool) -> None:
	import frappe

	from flow_engine.dispatch import clear_dispatch_cache

	if all_bench:
		frappe.db.sql(
			f"update `tabFlow Template` set is_active = 0 where name in ({', '.join(['%s'] * len(all_bench))})",
			tuple(all_bench),
		)
	if templates:
		frappe.db.sql(
			f"update `tabFlow Template` set is_active = 1 where name in ({', '.join(['%s'] * len(templates))})",
			tuple(templates),
		)
	if notifications:
		frappe.db.sql(
			f"update `tabNotification` set enabled = %s where name in ({', '.join(['%s'] * len(notifications))})",
			(1 if notify else 0, *notifications),
		)
		frappe.cache.hdel("notifications", "ToDo")
	clear_dispatch_cache()  # stores the listened doctypes: before the commit
	frappe.db.commit()
	frappe.clear_document_cache("Notification")  # get_cached_doc of rules
	c.new_request()


# --- the operations -------------------------------------------------------------------------------


class Ops:
	def __init__(self, doctype: str, customer_group: str | None, territory: str | None):
		self.doctype = doctype
		self.customer_group = customer_group
		self.territory = territory
		self.n = 0

	def new_doc(self):
		import frappe

		self.n += 1
		if self.doctype == "ToDo":
			return frappe.get_doc({"doctype": "ToDo", "description": f"bench todo {self.n}"})
		return frappe.get_doc(
			{
				"doctype": "Customer",
				"customer_name": f"{c.BENCH_PREFIX}C {self.n} {random.random():.6f}",
				"customer_type": "Company",
				"customer_group": self.customer_group,
				"territory": self.territory,
			}
		)

	def change(self, doc) -> None:
		if self.doctype == "ToDo":
			doc.description = f"{doc.description} (edited)"
		else:
			doc.customer_details = "edited"

	def once(self, calls: c.Calls) -> tuple[float, float, tuple[int, int], tuple[int, int]]:
		"""insert, then update after a change; each a new request; rolled back. Times in ms."""
		import frappe

		doc = self.new_doc()
		c.new_request()
		sql0, redis0 = calls.snapshot()
		t0 = time.perf_counter()
		doc.insert()
		t1 = time.perf_counter()
		sql1, redis1 = calls.snapshot()
		self.change(doc)
		c.new_request()
		t2 = time.perf_counter()
		doc.save()
		t3 = time.perf_counter()
		sql2, redis2 = calls.snapshot()
		frappe.db.rollback()
		return (
			(t1 - t0) * 1000,
			(t3 - t2) * 1000,
			(sql1 - sql0, redis1 - redis0),
			(sql2 - sql1, redis2 - redis1),
		)


# --- measuring --------------------------------------------------------------------------------------


def measure(doctype: str, configs: dict, ops: Ops, samples: int, block: int) -> dict:
	"""configs: name -> (hooks_active, templates, notify). Returns per config the samples."""
	import frappe

	results = {
		name: {"insert": [], "update": [], "q_ins": [], "q_upd": [], "b_ins": [], "b_upd": []}
		for name in configs
	}
	rounds = max(samples // block, 1)
	with c.Calls() as calls:
		for _round in range(rounds):
			order = list(configs)
			random.shuffle(order)
			for name in order:
				hooks, templates, notify = configs[name]
				activate(templates, ALL_BENCH, NOTIFICATIONS, notify)
				c.set_flow_hooks(hooks)
				ops.once(calls)  # warm-up: rebuilds the dispatch index / notification list
				gc.collect()
				r = results[name]
				block_ins, block_upd = [], []
				for _ in range(block):
					ins, upd, q_ins, q_upd = ops.once(calls)
					block_ins.append(ins)
					block_upd.append(upd)
					r["q_ins"].append(q_ins)
					r["q_upd"].append(q_upd)
				r["insert"] += block_ins
				r["update"] += block_upd
				# one median per block: rounds pair each configuration with the baseline of the same round
				r["b_ins"].append(c.median(block_ins))
				r["b_upd"].append(c.median(block_upd))
		c.set_flow_hooks(True)
	frappe.db.rollback()
	return results


def hook_attribution(doctype: str, configs: dict, ops: Ops, samples: int) -> dict:
	"""Time, SQL and Redis spent inside on_document_event itself, per operation."""
	import flow_engine.dispatch as dispatch

	original = dispatch.on_document_event
	out = {}
	with c.Calls() as calls:
		state = {"t": 0.0, "n": 0, "sql": 0, "redis": 0}

		def timed(doc, method):
			s0, r0 = calls.snapshot()
			t0 = time.perf_counter()
			try:
				return original(doc, method)
			finally:
				state["t"] += time.perf_counter() - t0
				s1, r1 = calls.snapshot()
				state["n"] += 1
				state["sql"] += s1 - s0
				state["redis"] += r1 - r0

		dispatch.on_document_event = timed
		try:
			for name, (hooks, templates, notify) in configs.items():
				if not hooks:
					continue
				activate(templates, ALL_BENCH, NOTIFICATIONS, notify)
				c.set_flow_hooks(True)
				ops.once(calls)
				per_op = {"insert": [], "update": []}
				for _ in range(samples):
					doc = ops.new_doc()
					for op in ("insert", "update"):
						state.update(t=0.0, n=0, sql=0, redis=0)
						c.new_request()
						if op == "insert":
							doc.insert()
						else:
							ops.change(doc)
							doc.save()
						per_op[op].append(dict(state))
					import frappe

					frappe.db.rollback()
				out[name] = per_op
		finally:
			dispatch.on_document_event = original
	return out


def index_rebuild(doctype: str, templates: list[str]) -> tuple[float, int, int]:
	"""Cost of the first save of a doctype after any template change: build_index_entries."""
	import frappe

	from flow_engine.dispatch import build_index_entries

	activate(templates, ALL_BENCH, NOTIFICATIONS, False)
	times, queries = [], 0
	for _ in range(20):
		frappe.local.flow_engine_settings = None  # a new request reads the settings again
		with c.Calls() as calls:
			t0 = time.perf_counter()
			entries = build_index_entries(doctype)
			times.append((time.perf_counter() - t0) * 1000)
		queries = calls.queries
	return c.median(times), queries, len(entries)


# --- report -------------------------------------------------------------------------------------------


def get_attr_us() -> float:
	"""What Frappe's Document.hook pays per hooked method call to find the handler (frappe.get_attr)."""
	import timeit

	import frappe

	n = 5000
	return (
		min(
			timeit.repeat(
				lambda: frappe.get_attr("flow_engine.dispatch.on_document_event"), number=n, repeat=5
			)
		)
		/ n
		* 1e6
	)


def paired(r: dict, base: dict, key: str) -> tuple[float, float, float]:
	"""Median, first and third quartile of the per-round ratio (block median / baseline block median)."""
	ratios = sorted(a / b for a, b in zip(r[key], base[key], strict=True))
	return c.median(ratios), c.quantile(ratios, 0.25), c.quantile(ratios, 0.75)


def report(doctype: str, results: dict, attribution: dict, targets: dict, attr_us: float) -> None:
	base = results["baseline"]
	b_ins, b_upd = c.median(base["insert"]), c.median(base["update"])
	b_q_ins = c.median([q for q, _r in base["q_ins"]])
	b_q_upd = c.median([q for q, _r in base["q_upd"]])
	b_r_ins = c.median([r for _q, r in base["q_ins"]])
	b_r_upd = c.median([r for _q, r in base["q_upd"]])
	print(f"\n== {doctype}: {len(base['insert'])} samples per configuration ==")
	print(
		f"{'config':<10} {'insert ms':>9} {'p90':>6} {'ratio':>6} {'update ms':>9} {'p90':>6} {'ratio':>6}"
		f" {'SQL ins/upd':>11} {'+SQL':>7} {'redis ins/upd':>13} {'+redis':>7}  target"
	)
	for name, r in results.items():
		ins, upd = c.median(r["insert"]), c.median(r["update"])
		q_ins = c.median([q for q, _r in r["q_ins"]])
		q_upd = c.median([q for q, _r in r["q_upd"]])
		r_ins = c.median([x for _q, x in r["q_ins"]])
		r_upd = c.median([x for _q, x in r["q_upd"]])
		target = targets.get(name, "")
		print(
			f"{name:<10} {ins:9.2f} {c.quantile(r['insert'], 0.9):6.2f} {ins / b_ins:6.3f}"
			f" {upd:9.2f} {c.quantile(r['update'], 0.9):6.2f} {upd / b_upd:6.3f}"
			f" {q_ins:5.0f}/{q_upd:<5.0f} {q_ins - b_q_ins:+3.0f}/{q_upd - b_q_upd:<+3.0f}"
			f" {r_ins:7.0f}/{r_upd:<5.0f} {r_ins - b_r_ins:+3.0f}/{r_upd - b_r_upd:<+3.0f}  {target}"
		)
	print("paired per round (each block's median over the baseline block's median of the same round):")
	print(f"{'config':<10} {'insert ratio [IQR]':>24} {'update ratio [IQR]':>24}")
	for name, r in results.items():
		if name == "baseline":
			continue
		mi, qi1, qi3 = paired(r, base, "b_ins")
		mu, qu1, qu3 = paired(r, base, "b_upd")
		print(f"{name:<10} {mi:8.3f} [{qi1:.3f}–{qi3:.3f}]   {mu:8.3f} [{qu1:.3f}–{qu3:.3f}]")
	print(
		"time flow_engine adds, measured directly (per operation, median): inside"
		f" on_document_event, plus Frappe's handler lookup (frappe.get_attr, {attr_us:.1f} µs a call):"
	)
	print(
		f"{'config':<10} {'op':<7} {'calls':>5} {'in hook µs':>10} {'+lookup µs':>10} {'total µs':>9}"
		f" {'% of baseline':>13} {'SQL':>4} {'redis':>5}"
	)
	for name, per_op in attribution.items():
		for op, rows in per_op.items():
			us = c.median([row["t"] for row in rows]) * 1e6
			calls = c.median([row["n"] for row in rows])
			lookup = calls * attr_us
			base_ms = b_ins if op == "insert" else b_upd
			print(
				f"{name:<10} {op:<7} {calls:5.0f} {us:10.1f} {lookup:10.1f} {us + lookup:9.1f}"
				f" {(us + lookup) / 10 / base_ms:12.2f}% {c.median([row['sql'] for row in rows]):4.0f}"
				f" {c.median([row['redis'] for row in rows]):5.0f}"
			)


ALL_BENCH: list[str] = []
NOTIFICATIONS: list[str] = []


def main() -> None:
	p = c.parser(__doc__.split("\n")[0])
	p.add_argument("--samples", type=int, default=200, help="timed insert+update pairs per configuration")
	p.add_argument("--block", type=int, default=10, help="pairs per configuration in a row")
	p.add_argument("--doctypes", default="ToDo,Customer")
	p.add_argument("--others", type=int, default=1000, help="templates on other doctypes")
	p.add_argument("--no-notification", action="store_true", help="skip Frappe Notification comparison")
	p.add_argument("--keep", action="store_true", help="keep the bench templates (debugging)")
	p.add_argument("--experiment", default="", help="apply proposed changes from experiments.py")
	args = p.parse_args()
	c.connect(args.site, args.sites_path)
	import frappe

	if args.experiment:
		import experiments

		print(f"EXPERIMENT: proposed changes applied: {experiments.apply(args.experiment.split(','))}")

	global ALL_BENCH, NOTIFICATIONS
	print(f"save overhead on {args.site}: {c.machine()}")
	company = c.ensure_erpnext_setup()
	c.ensure_customer_and_item(company)
	c.delete_bench_templates()
	random.seed(7)
	started = time.time()
	try:
		with c.only_bench_templates_active() as deactivated:
			if deactivated:
				print(
					f"(the site's {len(deactivated)} active templates are off during the run, restored after)"
				)
			t = time.perf_counter()
			others = make_other_templates(args.others)
			print(f"created {len(others)} templates on other doctypes in {time.perf_counter() - t:.1f} s")
			doctypes = [d.strip() for d in args.doctypes.split(",") if d.strip()]
			false_sets = {doctype: make_false_templates(doctype) for doctype in doctypes}
			ALL_BENCH = others + [n for sets in false_sets.values() for ns in sets.values() for n in ns]
			NOTIFICATIONS = [] if args.no_notification else make_notifications()
			frappe.db.commit()
			for doctype in doctypes:
				ops = Ops(
					doctype,
					c._leaf("Customer Group"),
					c._leaf("Territory"),
				)
				configs = {
					"baseline": (False, [], False),
					"t0": (True, [], False),
					"t1000": (True, others, False),
				}
				for label, names in false_sets[doctype].items():
					configs[label] = (True, names, False)
				if doctype == "ToDo" and NOTIFICATIONS:
					configs["notif5"] = (False, [], True)
				samples = args.samples if doctype == "ToDo" else max(args.samples // 2, 20)
				results = measure(doctype, configs, ops, samples, args.block)
				attribution = hook_attribution(doctype, configs, ops, 50)
				report(
					doctype,
					results,
					attribution,
					{
						"t0": "≤1.03, +0 SQL",
						"t1000": "≤1.03, +0 SQL",
						"t5false": "≤1.10",
						"t5false_nc": "≤1.10",
					},
					get_attr_us(),
				)
				print(f"dispatch index rebuild for {doctype} (first save after a template change):")
				for label, templates in (
					("0 templates", []),
					(f"{len(others)} others", others),
					(f"{len(others)} others + 5 on {doctype}", others + false_sets[doctype]["t5false"]),
				):
					ms, queries, entries = index_rebuild(doctype, templates)
					print(f"  {label:<32} {ms:7.2f} ms  {queries} SQL  {entries} entries")
	finally:
		frappe.db.rollback()
		c.set_flow_hooks(True)
		if not args.keep:
			c.delete_bench_templates()
			with c.inline_delete_jobs():
				for name in NOTIFICATIONS:
					frappe.delete_doc("Notification", name, force=True, ignore_permissions=True)
			c.forget_deleted("Notification")
			frappe.db.commit()
		print(f"\ndone in {time.time() - started:.0f} s; bench templates and notifications removed")
		c.disconnect()


if __name__ == "__main__":
	sys.exit(main())
