"""Event to run: from a Quotation submit to a 5-step flow started and its instant steps executed.

    cd ~/frappe-bench/sites && ../env/bin/python ../apps/flow_engine/benchmarks/event_bench.py --site SITE
        [--samples 20] [--experiment session4] [--show-statements] [--profile PATH]

The flow (`on_quotation_accepted`, condition grand_total > 0): a dispatch job; an in-app
notification and a condition after it; a wait on the condition's `yes` branch; an email follow-up
72 hours later. Starting it executes four steps (two side effects: a Dispatch Job and a
Notification Log) and schedules one.

Each sample: a draft Quotation is inserted and committed (not timed), then, as a new request,
`submit()` is timed with flow_engine's hooks active, and so is the commit, whose after-commit
callback enqueues the drain job (a real RQ enqueue; the job is then removed from the queue so that
no worker runs it); then what that job does (`flow_engine.scheduler.drain(starts_only=True)`) is
timed: the start row is claimed, the run created, its instant steps executed. Half the samples
submit with the hooks removed instead (the baseline), interleaved. Prints medians, SQL statements,
Redis commands and every write per start (table by table). The seeded templates listening to
the same event are off during the run (restored after); everything created is deleted.
Target: per advance one write of the run, the side-effect documents, one bulk insert of pending rows.
"""

from __future__ import annotations

import contextlib
import json
import random
import sys
import time
from collections import Counter

import _common as c

STEPS = [
	{
		"id": "job",
		"kind": "dispatch_job",
		"payload": {"subject": "Installation for {{doc.customer_name}} ({{doc.name}})", "priority": "medium"},
	},
	{
		"id": "tell_sales",
		"kind": "notify",
		"depends_on": ["job"],
		"payload": {
			"channel": "in_app",
			"to": "Administrator",
			"subject": "Quotation {{doc.name}} accepted",
			"body": "{{doc.customer_name}} accepted {{doc.name}} ({{doc.grand_total}} {{doc.currency}})",
		},
	},
	{
		"id": "check",
		"kind": "condition",
		"depends_on": ["job"],
		"payload": {"field": "doc.grand_total", "op": ">", "value": "50"},
	},
	{"id": "big", "kind": "wait", "parent_id": "check", "branch": "yes"},
	{
		"id": "follow_up",
		"kind": "notify",
		"depends_on": ["tell_sales"],
		"trigger": {"type": "after_delay", "delay_hours": 72},
		"payload": {
			"channel": "email",
			"to": "customer@example.com",
			"subject": "Next steps for {{doc.name}}",
			"body": "Hello {{doc.customer_name}}",
		},
	},
]


def new_quotation(company: str, customer: str, item: str):
	import frappe
	from frappe.utils import add_days, nowdate

	doc = frappe.get_doc(
		{
			"doctype": "Quotation",
			"quotation_to": "Customer",
			"party_name": customer,
			"company": company,
			"transaction_date": nowdate(),
			"valid_till": add_days(nowdate(), 30),
			"items": [{"item_code": item, "qty": 1, "rate": 100}],
		}
	)
	doc.insert(ignore_permissions=True)
	frappe.db.commit()
	return doc


def main() -> None:
	p = c.parser(__doc__.split("\n")[0])
	p.add_argument("--samples", type=int, default=20, help="submits with hooks (and as many without)")
	p.add_argument("--experiment", default="", help="apply proposed changes from experiments.py")
	p.add_argument("--show-statements", action="store_true", help="print the SQL of one start")
	p.add_argument(
		"--profile", default="", help="PATH: a pyinstrument profile of the starts (all samples) to PATH"
	)
	args = p.parse_args()
	c.connect(args.site, args.sites_path)
	import frappe

	import flow_engine.scheduler as scheduler

	print(f"event to run on {args.site}: {c.machine()}")
	if args.experiment:
		import experiments

		print(f"EXPERIMENT: proposed changes applied: {experiments.apply(args.experiment.split(','))}")
	company = c.ensure_erpnext_setup()
	customer, item = c.ensure_customer_and_item(company)
	c.delete_bench_templates()
	quotations: list[str] = []
	jobs: list = []
	original_enqueue_drain = scheduler.enqueue_drain

	def enqueue_drain(starts_only: bool = False) -> None:
		"""The real enqueue, timed; the job is removed right after (see cleanup)."""
		t0 = time.perf_counter()
		job = frappe.enqueue("flow_engine.scheduler.drain_job", queue="short", starts_only=starts_only)
		jobs.append((job, (time.perf_counter() - t0) * 1000))

	scheduler.enqueue_drain = enqueue_drain
	import flow_engine.dispatch as dispatch

	original_hook = dispatch.on_document_event
	timed_hook, in_hook = c.timed(original_hook)
	dispatch.on_document_event = timed_hook
	random.seed(11)
	rows = {"flow": [], "base": []}
	profiler = None
	if args.profile:
		from pyinstrument import Profiler

		profiler = Profiler(interval=0.0002)
	start_calls: list[c.Calls] = []
	try:
		with c.only_bench_templates_active() as deactivated:
			if deactivated:
				print(
					f"(the site's {len(deactivated)} active templates are off during the run, restored after)"
				)
			c.make_template(
				"quotation 5 steps",
				STEPS,
				trigger_event="on_quotation_accepted",
				trigger_condition=json.dumps({">": [{"var": "doc.grand_total"}, 0]}),
			)
			frappe.db.commit()
			plan = ["flow", "base"] * args.samples
			random.shuffle(plan)
			plan = ["flow", "base", *plan]  # the first two are warm-ups
			for index, config in enumerate(plan):
				doc = new_quotation(company, customer, item)
				quotations.append(doc.name)
				c.set_flow_hooks(config == "flow")
				c.new_request()
				jobs.clear()
				in_hook.update(seconds=0.0, calls=0)
				with c.Calls() as submit_calls:
					t0 = time.perf_counter()
					doc.submit()
					t1 = time.perf_counter()
				with c.Calls():
					frappe.db.commit()
					t2 = time.perf_counter()
				c.set_flow_hooks(True)
				row = {
					"submit": (t1 - t0) * 1000,
					"commit": (t2 - t1) * 1000,
					"hook_ms": in_hook["seconds"] * 1000,
					"hook_calls": in_hook["calls"],
					"submit_q": submit_calls.queries,
					"submit_redis": submit_calls.redis,
					"submit_writes": dict(submit_calls.writes),
					"enqueue": sum(ms for _job, ms in jobs),
					"jobs": len(jobs),
				}
				for job, _ms in jobs:
					job.delete()
				if config == "flow":
					# what the drain job does once a worker picks it up
					c.new_request()
					frappe.local.flow_engine_settings = None
					with c.Calls(keep_statements=args.show_statements) as calls:
						if profiler and index >= 2:
							profiler.start()
						t3 = time.perf_counter()
						with documents_inserted() as inserts:
							stats = scheduler.drain(budget_seconds=60, starts_only=True)
						t4 = time.perf_counter()
						if profiler and index >= 2:
							profiler.stop()
					row.update(
						start=(t4 - t3) * 1000,
						start_inserts=inserts["seconds"] * 1000,
						start_q=calls.queries,
						start_sql=calls.sql,
						start_redis=calls.redis,
						started=stats.completed,
						kinds=dict(calls.kinds),
					)
					run = frappe.db.get_value(
						"Flow Run",
						{"context_doctype": "Quotation", "context_docname": doc.name},
						["name", "status", "step_state"],
						as_dict=True,
					)
					states = {k: v["status"] for k, v in json.loads(run.step_state).items()}
					row["states"] = states
					if index >= 2:
						start_calls.append(calls)
				if index >= 2:
					rows[config].append(row)
			report(rows, start_calls, args.show_statements)
			if profiler:
				with open(args.profile, "w") as f:
					f.write(profiler.output_text(unicode=True, color=False, show_all=False))
				print(f"profile of the starts: {args.profile}")
	finally:
		scheduler.enqueue_drain = original_enqueue_drain
		dispatch.on_document_event = original_hook
		c.set_flow_hooks(True)
		cleanup(quotations)
		c.delete_bench_templates()
		c.disconnect()


@contextlib.contextmanager
def documents_inserted():
	"""Time spent in Frappe's Document.insert (outermost calls only): the side effects' own cost,
	as a floor doing the same inserts directly would pay it."""
	from frappe.model.document import Document

	spent = {"seconds": 0.0, "depth": 0}
	real = Document.insert

	def insert(self, *args, **kwargs):
		spent["depth"] += 1
		t0 = time.perf_counter()
		try:
			return real(self, *args, **kwargs)
		finally:
			spent["depth"] -= 1
			if not spent["depth"]:
				spent["seconds"] += time.perf_counter() - t0

	Document.insert = insert
	try:
		yield spent
	finally:
		Document.insert = real


def report(rows: dict, start_calls: list, show_statements: bool) -> None:
	flow, base = rows["flow"], rows["base"]
	med = lambda rs, k: c.median([r[k] for r in rs])  # noqa: E731
	print(f"\n{len(flow)} submits with flow_engine's hooks, {len(base)} without (interleaved), medians:")
	print(f"{'':<34} {'with flow':>10} {'baseline':>10} {'added':>8}")
	for key, label in (
		("submit", "Quotation.submit() ms"),
		("submit_q", "  SQL statements"),
		("submit_redis", "  Redis commands"),
		("commit", "commit ms (incl. after-commit)"),
		("enqueue", "  of which enqueue of the job ms"),
	):
		f, b = med(flow, key), med(base, key)
		print(f"{label:<34} {f:10.2f} {b:10.2f} {f - b:+8.2f}")
	print(
		f"time inside flow_engine.dispatch.on_document_event during the submit: {med(flow, 'hook_ms'):.2f} ms"
		f" ({med(flow, 'hook_calls'):.0f} calls; {med(flow, 'hook_ms') / med(base, 'submit') * 100:.1f}% of the"
		" baseline submit)"
	)
	writes = Counter()
	for r in flow:
		writes.update(r["submit_writes"])
	base_writes = Counter()
	for r in base:
		base_writes.update(r["submit_writes"])
	added = {k: (writes[k] / len(flow) - base_writes.get(k, 0) / len(base)) for k in writes}
	print(
		"writes the hooks add to the submit's transaction (per submit): "
		+ ", ".join(f"{k} {v:.2f}" for k, v in sorted(added.items()) if abs(v) > 0.01)
	)
	print(f"jobs enqueued per submit: {med(flow, 'jobs'):.0f}")
	print(
		"\nthe start (drain job, starts_only): claim the start row, create the run, execute its instant steps"
	)
	print(
		f"  time {med(flow, 'start'):.2f} ms median (p90 {c.quantile([r['start'] for r in flow], 0.9):.2f});"
		f" {med(flow, 'start_q'):.0f} SQL statements + {med(flow, 'start_sql') - med(flow, 'start_q'):.0f}"
		f" transaction control; {med(flow, 'start_redis'):.0f} Redis commands; runs started per job"
		f" {med(flow, 'started'):.0f}"
	)
	inserts = med(flow, "start_inserts")
	own = c.median([r["start"] - r["start_inserts"] for r in flow])
	print(
		f"  of which Frappe's insert() of the documents the steps create: {inserts:.2f} ms;"
		f" the rest (the claim, the run, the engine, the commits): {own:.2f} ms"
	)
	print(f"  step states after the start: {flow[-1]['states']}")
	total = Counter()
	for calls in start_calls:
		total.update(calls.writes)
	print("  writes per start (table: count):")
	for key, n in sorted(total.items(), key=lambda kv: (-kv[1], kv[0])):
		print(f"    {key:<40} {n / len(start_calls):5.2f}")
	kinds = Counter()
	for r in flow:
		kinds.update(r["kinds"])
	redis = Counter()
	for calls in start_calls:
		redis.update(calls.redis_commands)
	print(
		"  Redis commands per start: "
		+ ", ".join(f"{k} {n / len(start_calls):.1f}" for k, n in redis.most_common())
	)
	print(
		"  statements per start by kind: "
		+ ", ".join(f"{k} {n / len(flow):.1f}" for k, n in kinds.most_common())
	)
	print(
		f"\nevent to run (submit overhead + commit overhead + the job, queue latency excluded): "
		f"{med(flow, 'submit') - med(base, 'submit') + med(flow, 'commit') - med(base, 'commit') + med(flow, 'start'):.1f} ms"
	)
	if show_statements and start_calls:
		print("\nstatements of one start:")
		for statement in start_calls[-1].statements or []:
			print("   ", statement)


def cleanup(quotations: list[str]) -> None:
	"""Cancel and delete the bench Quotations and what their runs created."""
	import frappe

	frappe.db.rollback()
	runs_ = c.bench_templates()
	if quotations:
		marks = ", ".join(["%s"] * len(quotations))
		run_names = frappe.db.sql_list(
			f"select name from `tabFlow Run` where context_doctype = 'Quotation' and context_docname in ({marks})",
			tuple(quotations),
		)
		if run_names:
			rmarks = ", ".join(["%s"] * len(run_names))
			frappe.db.sql(f"delete from `tabDispatch Job` where flow_run in ({rmarks})", tuple(run_names))
		frappe.db.sql(
			f"delete from `tabNotification Log` where document_type = 'Quotation' and document_name in ({marks})",
			tuple(quotations),
		)
		c.set_flow_hooks(False)
		with c.inline_delete_jobs():
			for name in quotations:
				try:
					doc = frappe.get_doc("Quotation", name)
					if doc.docstatus == 1:
						doc.cancel()
					frappe.delete_doc("Quotation", name, force=True, ignore_permissions=True)
				except Exception as exc:
					print(f"could not delete Quotation {name}: {exc}")
					frappe.db.rollback()
		c.set_flow_hooks(True)
		for table, field in (
			("Version", "docname"),
			("Comment", "reference_name"),
			("Deleted Document", "deleted_name"),
		):
			doctype_field = {
				"Version": "ref_doctype",
				"Comment": "reference_doctype",
				"Deleted Document": "deleted_doctype",
			}[table]
			frappe.db.sql(
				f"delete from `tab{table}` where {doctype_field} = 'Quotation' and {field} in ({marks})",
				tuple(quotations),
			)
		frappe.db.commit()
	c.delete_bench_runs(runs_)
	frappe.db.commit()


if __name__ == "__main__":
	sys.exit(main())
