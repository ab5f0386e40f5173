"""Scheduler drain: due steps per second, with one and with two processes draining at once.

    cd ~/frappe-bench/sites && ../env/bin/python ../apps/flow_engine/benchmarks/drain_bench.py --site SITE
        [--backlogs 10000,100000] [--procs 1,2] [--floor 10000] [--batch-size N] [--with-doc]
        [--tracemalloc]

For each backlog size and process count: creates that many real Flow Runs of a two-step template
(`now`: wait, done; `later`: wait after a delay, scheduled) and one due Flow Step Pending `fire`
row each (bulk SQL: one run is started through the engine, then its rows are copied), then starts
the processes together; each connects on its own and calls flow_engine.scheduler.drain (the
tick's work) until nothing is due. Prints steps/s (completed rows over the wall time from the
common start to the last process's end), per-process figures, SQL statements and writes per step,
and the growth of each process's memory (VmRSS at the start of the drain, ru_maxrss at the end;
with --tracemalloc also Python's own peak) so that 10k and 100k backlogs can be compared.

The floor (same run, same rows, --floor N rows, one process) claims rows with the scheduler's own
`claim` (`FOR UPDATE SKIP LOCKED`) and then does the least a row needs: one UPDATE marking it
completed and one commit. That is what one transaction per row costs on this machine, against
which flow_engine's per-step work is measured.

--with-doc makes every run reference a ToDo, so each step also reloads the document (as runs of
real flows do). Targets (2 cores, MariaDB): ≥ 300 steps/s with one process, more with two,
100,000 drained in ≤ 6 minutes, peak memory independent of the backlog size.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from datetime import timedelta

import _common as c

TEMPLATE = "drain"
NOTE = f"{c.BENCH_PREFIX}note"
# --kind: what the fired step does (`wait`: nothing), and the same side effect done directly for
# the floor it is measured against (--kind other than wait adds that floor to the run).
KINDS = {
	"wait": ("wait", {}),
	"notify_in_app": ("notify", {"channel": "in_app", "to": "Administrator", "subject": NOTE, "body": "b"}),
	"notify_email": (
		"notify",
		{"channel": "email", "to": "bench-flow@example.com", "subject": NOTE, "body": "b"},
	),
	"create_document": ("create_document", {"doctype": "ToDo", "values": {"description": NOTE}}),
	"dispatch_job": ("dispatch_job", {"subject": NOTE}),
}


def steps_of(kind: str) -> list[dict]:
	step_kind, payload = KINDS[kind]
	later = {"id": "later", "kind": step_kind, "depends_on": ["now"]}
	later["trigger"] = {"type": "after_delay", "delay_hours": 1}
	if payload:
		later["payload"] = payload
	return [{"id": "now", "kind": "wait"}, later]


BENCH_MAIL_ACCOUNT = f"{c.BENCH_PREFIX}outgoing"


def ensure_outgoing_mail() -> bool:
	"""Frappe queues mail only with an outgoing Email Account. A site without one gets a disabled
	stand-in for the run (outgoing to an SMTP server nobody runs: nothing is sent, no worker is
	needed, the Email Queue rows are deleted with the rest); returns whether it was made."""
	import frappe

	if frappe.db.exists("Email Account", {"enable_outgoing": 1, "default_outgoing": 1}):
		return False
	doc = frappe.get_doc(
		{
			"doctype": "Email Account",
			"email_account_name": BENCH_MAIL_ACCOUNT,
			"email_id": "bench-flow-sender@example.com",
			"enable_outgoing": 1,
			"default_outgoing": 1,
			"smtp_server": "127.0.0.1",
			"smtp_port": 9,
			"no_smtp_authentication": 1,
		}
	)
	doc.db_insert()  # without validate: it would try to log in to that server
	frappe.db.commit()
	frappe.cache.delete_value("outgoing_email_account")
	return True


def remove_outgoing_mail() -> None:
	import frappe

	frappe.db.delete("Email Account", {"email_account_name": BENCH_MAIL_ACCOUNT})
	frappe.db.commit()
	frappe.cache.delete_value("outgoing_email_account")


def direct_effect(kind: str, flow_run: str | None) -> None:
	"""The side effect of a `kind` step, done as a developer would without flow_engine: the same
	document (a Dispatch Job links to its run, as the step's does)."""
	import frappe

	if kind == "notify_in_app":
		frappe.get_doc(
			{
				"doctype": "Notification Log",
				"for_user": "Administrator",
				"from_user": "Administrator",
				"type": "Alert",
				"subject": NOTE,
				"email_content": "b",
			}
		).insert(ignore_permissions=True)
	elif kind == "notify_email":
		frappe.sendmail(recipients=["bench-flow@example.com"], subject=NOTE, message="b", delayed=True)
	elif kind == "create_document":
		frappe.get_doc({"doctype": "ToDo", "description": NOTE}).insert(ignore_permissions=True)
	elif kind == "dispatch_job":
		frappe.get_doc({"doctype": "Dispatch Job", "subject": NOTE, "flow_run": flow_run}).insert(
			ignore_permissions=True
		)


# --- the backlog ----------------------------------------------------------------------------------


def template_name(kind: str = "wait") -> str:
	import frappe

	title = TEMPLATE if kind == "wait" else f"{TEMPLATE} {kind}"
	name = frappe.db.get_value("Flow Template", {"template_name": f"{c.BENCH_PREFIX}{title}"})
	return name or c.make_template(title, steps_of(kind))


def make_backlog(count: int, with_doc: bool, kind: str = "wait") -> tuple[str, float]:
	"""`count` running Flow Runs with one due pending `fire` row each; returns (template, seconds)."""
	import frappe
	from frappe.utils import now_datetime

	from flow_engine import runs
	from flow_engine.adapters.store import pending_name, reserve_names

	started = time.perf_counter()
	template = template_name(kind)
	todo = None
	if with_doc:
		todo = frappe.get_doc({"doctype": "ToDo", "description": f"{c.BENCH_PREFIX}drain reference"})
		todo.insert(ignore_permissions=True)
	run, _report = runs.start_run(
		template, doctype="ToDo" if todo else None, docname=todo.name if todo else None
	)
	source_pending = frappe.db.get_value("Flow Step Pending", {"flow_run": run.name}, "name")
	frappe.db.commit()
	due = now_datetime() - timedelta(minutes=5)
	chunk = 10_000
	for offset in range(0, count, chunk):
		n = min(chunk, count - offset)
		run_names = reserve_names("FR-", n)
		pending_names = [pending_name() for _ in run_names]
		c.clone_rows("Flow Run", run.name, run_names, [{} for _ in run_names])
		c.clone_rows(
			"Flow Step Pending",
			source_pending,
			pending_names,
			[{"flow_run": r, "trigger_at": due} for r in run_names],
		)
		frappe.db.commit()
	# the source run's own row is due in an hour: it stays out of the drain
	return template, time.perf_counter() - started


def innodb_deadlocks() -> int:
	"""MariaDB's server-wide count of deadlocks detected (the claim retries them, so the drain
	itself reports none)."""
	import frappe

	rows = frappe.db.sql("show global status like 'Innodb_deadlocks'")
	return int(rows[0][1]) if rows else 0


def backlog_status(template: str) -> dict:
	import frappe

	rows = frappe.db.sql(
		"""select p.status, count(*) from `tabFlow Step Pending` p
		join `tabFlow Run` r on r.name = p.flow_run where r.flow_template = %s group by p.status""",
		(template,),
	)
	runs_ = frappe.db.sql(
		"select status, count(*) from `tabFlow Run` where flow_template = %s group by status", (template,)
	)
	return {"pending_rows": dict(rows), "runs": dict(runs_)}


def cleanup(with_doc_too: bool = True) -> None:
	import frappe

	c.delete_bench_runs()
	if with_doc_too:
		frappe.db.sql("delete from `tabToDo` where description like %s", (f"{c.BENCH_PREFIX}%",))
	# what --kind steps and their floor made
	frappe.db.sql("delete from `tabNotification Log` where subject = %s", (NOTE,))
	frappe.db.sql("delete from `tabDispatch Job` where subject = %s", (NOTE,))
	mails = frappe.db.sql_list(
		"""select q.name from `tabEmail Queue` q join `tabEmail Queue Recipient` r on r.parent = q.name
		where r.recipient = 'bench-flow@example.com'"""
	)
	for start in range(0, len(mails), 1000):
		chunk = tuple(mails[start : start + 1000])
		frappe.db.sql("delete from `tabEmail Queue Recipient` where parent in %s", (chunk,))
		frappe.db.sql("delete from `tabEmail Queue` where name in %s", (chunk,))
	frappe.db.commit()


# --- the workers ------------------------------------------------------------------------------------


def worker(args) -> None:
	c.connect(args.site, args.sites_path)
	import frappe

	import flow_engine.runs
	import flow_engine.runtime.kinds.builtin  # noqa: F401
	from flow_engine import scheduler
	from flow_engine.settings import get_settings

	if args.experiment:
		import experiments

		experiments.apply(args.experiment.split(","))
		from flow_engine import scheduler
	settings = get_settings()
	batch_size = args.batch_size or int(settings.batch_size)
	frappe.db.commit()
	rss_start = c.rss_kb()
	if args.tracemalloc:
		tracemalloc.start()
	delay = args.start_at - time.time()
	if delay > 0:
		time.sleep(delay)
	cpu0 = time.process_time()
	profiler = None
	if args.profile:
		from pyinstrument import Profiler  # pip install pyinstrument (into the bench env)

		profiler = Profiler(interval=0.0005)
		profiler.start()
	with c.Calls() as calls:
		t0 = time.time()
		if args.mode in ("floor", "floor_effect"):
			effect = args.kind if args.mode == "floor_effect" else None
			done = floor_drain(batch_size, int(settings.lease_seconds), effect)
			stats = {"completed": done, "claimed": done}
		else:
			stats = drain_until_empty(scheduler, args.budget, batch_size)
		t1 = time.time()
	if profiler:
		profiler.stop()
		with open(f"{args.profile}.{os.getpid()}.txt", "w") as f:
			f.write(profiler.output_text(unicode=True, color=False, show_all=False))
	traced_peak = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
	result = {
		"pid": os.getpid(),
		"mode": args.mode,
		"start": t0,
		"end": t1,
		"cpu_s": time.process_time() - cpu0,
		"stats": stats,
		"sql": calls.sql,
		"queries": calls.queries,
		"redis": calls.redis,
		"kinds": dict(calls.kinds),
		"writes": dict(calls.writes),
		"rss_start_kb": rss_start,
		"rss_end_kb": c.rss_kb(),
		"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
		"traced_peak_kb": traced_peak and traced_peak // 1024,
		"batch_size": batch_size,
	}
	print("RESULT " + json.dumps(result), flush=True)
	c.disconnect()


def drain_until_empty(scheduler, budget: float, batch_size: int) -> dict:
	"""scheduler.drain until nothing is due. A drain that raises (a deadlock in `claim`) is counted
	and called again, as the next tick or drain job would."""
	import frappe

	total: dict = {"drain_calls": 0, "drain_errors": 0, "error_samples": []}
	deadline = time.monotonic() + budget
	while time.monotonic() < deadline:
		total["drain_calls"] += 1
		try:
			stats = scheduler.drain(budget_seconds=deadline - time.monotonic(), batch_size=batch_size)
		except Exception as exc:
			frappe.db.rollback()
			total["drain_errors"] += 1
			if len(total["error_samples"]) < 3:
				total["error_samples"].append(f"{type(exc).__name__}: {str(exc)[:120]}")
			continue
		for key, value in stats.as_dict().items():
			if isinstance(value, int | float) and key != "seconds":
				total[key] = total.get(key, 0) + value
		if not stats.claimed:
			break
	return total


def floor_drain(batch_size: int, lease: int, effect: str | None = None) -> int:
	"""The least a claimed row needs: one UPDATE marking it completed, and a commit (one transaction
	per row, as a worker that keeps no group of rows open would do); with `effect`, the same side
	effect as the step's, done directly, in that transaction."""
	import frappe
	from frappe.utils import now_datetime

	from flow_engine.scheduler import claim, worker_id

	me = worker_id()
	done = 0
	while True:
		names = claim(batch_size, me, lease)
		if not names:
			return done
		names = tuple(names)
		runs_of = (
			dict(
				frappe.db.sql("select name, flow_run from `tabFlow Step Pending` where name in %s", (names,))
			)
			if effect
			else {}
		)
		for name in names:
			if effect:
				direct_effect(effect, runs_of.get(name))
			frappe.db.sql(
				"""update `tabFlow Step Pending` set status = 'completed', executed_at = %s,
				lease_expires_at = null where name = %s""",
				(now_datetime(), name),
			)
			frappe.db.commit()
			done += 1


def run_workers(args, procs: int, mode: str, experiment: str = "") -> list[dict]:
	start_at = time.time() + 6 + procs  # time for every process to import and connect
	command = [
		sys.executable,
		os.path.abspath(__file__),
		"--site",
		args.site,
		"--sites-path",
		args.sites_path,
		"--worker",
		"--mode",
		mode,
		"--start-at",
		str(start_at),
		"--budget",
		str(args.budget),
		"--kind",
		args.kind,
	]
	if args.batch_size:
		command += ["--batch-size", str(args.batch_size)]
	if args.tracemalloc:
		command.append("--tracemalloc")
	if args.profile:
		command += ["--profile", args.profile]
	if experiment and mode == "drain":
		command += ["--experiment", experiment]
	children = [
		subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
		for _ in range(procs)
	]
	results = []
	for child in children:
		out, err = child.communicate()
		lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
		if child.returncode or not lines:
			print(err[-3000:], file=sys.stderr)
			raise SystemExit(f"a drain process failed (exit {child.returncode})")
		result = json.loads(lines[-1][7:])
		result["start_at"] = start_at
		results.append(result)
	return results


# --- report ---------------------------------------------------------------------------------------


def summarize(label: str, backlog: int, results: list[dict], status: dict) -> dict:
	start = min(r["start"] for r in results)
	end = max(r["end"] for r in results)
	completed = sum(r["stats"]["completed"] for r in results)
	wall = end - start
	rate = completed / wall if wall else float("nan")
	queries = sum(r["queries"] for r in results)
	redis = sum(r["redis"] for r in results)
	writes: dict = {}
	for r in results:
		for key, n in r["writes"].items():
			writes[key] = writes.get(key, 0) + n
	per = max(completed, 1)
	growth = [(r["maxrss_kb"] - r["rss_start_kb"]) / 1024 for r in results]
	print(
		f"{label[:6]:<6} {backlog:>7} {len(results):>5} {completed:>9} {wall:8.1f} {rate:8.1f}"
		f" {queries / per:7.2f} {sum(writes.values()) / per:7.2f} {redis / per:6.2f}"
		f" {max(r['rss_start_kb'] for r in results) / 1024:7.1f} {max(growth):8.1f}"
		+ (
			f" {max(r['traced_peak_kb'] for r in results) / 1024:8.1f}"
			if results[0]["traced_peak_kb"] is not None
			else ""
		)
	)
	for r in results:
		s = r["stats"]
		print(
			f"         pid {r['pid']}: {s['completed']} completed"
			+ (
				f", {s.get('lost', 0)} lost, {s.get('retried', 0)} retried, {s.get('failed', 0)} failed,"
				f" {s.get('batches', 0)} batches, {s.get('drain_errors', 0)} drain calls raised"
				+ (f" {s['error_samples']}" if s.get("error_samples") else "")
				if r["mode"] == "drain"
				else ""
			)
			+ f" in {r['end'] - r['start']:.1f} s, CPU {r['cpu_s']:.1f} s"
			f" ({r['cpu_s'] / max(r['end'] - r['start'], 1e-9) * 100:.0f}%), started"
			f" {r['start'] - r['start_at']:+.2f} s after the common start"
		)
	print("         writes per step: " + ", ".join(f"{k} {n / per:.2f}" for k, n in sorted(writes.items())))
	print(f"         after: {status}")
	return {
		"label": label,
		"backlog": backlog,
		"procs": len(results),
		"rate": rate,
		"wall": wall,
		"growth": max(growth),
	}


def main() -> None:
	p = c.parser(__doc__.split("\n")[0])
	p.add_argument("--backlogs", default="10000,100000")
	p.add_argument("--procs", default="1,2")
	p.add_argument("--floor", type=int, default=10000, help="rows for the floor measurement (0: none)")
	p.add_argument("--batch-size", type=int, default=0, help="default: Flow Settings batch_size")
	p.add_argument("--budget", type=float, default=3600.0, help="drain's time budget, seconds")
	p.add_argument("--with-doc", action="store_true", help="every run references a ToDo")
	p.add_argument(
		"--kind",
		default="wait",
		choices=sorted(KINDS),
		help="what the fired step does; other than wait: also a floor doing the same effect directly",
	)
	p.add_argument("--tracemalloc", action="store_true", help="also Python's traced peak (slower)")
	p.add_argument(
		"--experiment", default="", help="apply proposed changes from experiments.py (comma-separated)"
	)
	p.add_argument(
		"--variants",
		default="",
		help="A/B runs: experiment sets separated by ';' ('none' = the code as it is), interleaved"
		" --repeat times on each backlog and process count",
	)
	p.add_argument("--repeat", type=int, default=1, help="rounds (floors and drains interleaved)")
	p.add_argument(
		"--profile", default="", help="PATH: pyinstrument profile of each process to PATH.<pid>.txt"
	)
	p.add_argument("--worker", action="store_true", help=argparse_hidden())
	p.add_argument("--mode", default="drain", help=argparse_hidden())
	p.add_argument("--start-at", type=float, default=0.0, help=argparse_hidden())
	args = p.parse_args()
	if args.worker:
		return worker(args)
	c.connect(args.site, args.sites_path)
	import frappe

	print(f"scheduler drain on {args.site}: {c.machine()}")
	other_due = frappe.db.sql(
		"select count(*) from `tabFlow Step Pending` where status in ('pending', 'running')"
	)[0][0]
	if other_due:
		print(f"note: {other_due} pending/running rows of the site itself are in the queue too")
	from flow_engine.settings import get_settings

	settings = get_settings()
	print(
		f"Flow Settings: batch_size {args.batch_size or settings.batch_size}, lease {settings.lease_seconds} s;"
		f" drain budget {args.budget:.0f} s; runs {'reference a ToDo' if args.with_doc else 'reference no document'}"
	)
	if args.experiment and not args.variants:
		print(f"EXPERIMENT: proposed changes applied in the drain processes: {args.experiment}")
	cleanup()
	made_mail_account = args.kind == "notify_email" and ensure_outgoing_mail()
	if made_mail_account:
		print(f"(no outgoing Email Account on the site: {BENCH_MAIL_ACCOUNT!r} stands in, removed after)")
	summary = []
	traced = " traced MB" if args.tracemalloc else ""
	header = (
		f"{'what':<6} {'backlog':>7} {'procs':>5} {'completed':>9} {'wall s':>8} {'steps/s':>8}"
		f" {'SQL/st':>7} {'wr/st':>7} {'rds/st':>6} {'RSS MB':>7} {'+peak MB':>8}{traced}"
	)
	try:
		plan = []
		variants = [v.strip() for v in args.variants.split(";") if v.strip()] or [args.experiment or "none"]
		for _round in range(args.repeat):
			# the floors in every round, beside the drains they are compared with
			if args.floor:
				plan.append(("floor", args.floor, 1))
				if args.kind != "wait":
					plan.append(("floor_effect", args.floor, 1))
			for backlog in [int(x) for x in args.backlogs.split(",") if x]:
				for procs in [int(x) for x in args.procs.split(",") if x]:
					for variant in variants:
						plan.append(("drain", backlog, procs, "" if variant == "none" else variant))
		for mode, backlog, procs, *rest in plan:
			experiment = rest[0] if rest else ""
			template, seconds = make_backlog(backlog, args.with_doc, args.kind)
			deadlocks_before = innodb_deadlocks()
			print(
				f"\n{backlog} due rows created in {seconds:.1f} s; {procs} process(es), {mode}"
				+ (f", EXPERIMENT {experiment}" if experiment else "")
			)
			print(header)
			results = run_workers(args, procs, mode, experiment)
			row = summarize(mode, backlog, results, backlog_status(template))
			row["deadlocks"] = innodb_deadlocks() - deadlocks_before
			print(
				f"         InnoDB deadlocks during the run (all sessions of the server): {row['deadlocks']}"
			)
			row["variant"] = experiment or ("none" if mode == "drain" else "")
			row["load"] = os.getloadavg()[0]
			summary.append(row)
			cleanup()
	finally:
		cleanup()
		c.delete_bench_templates()
		if made_mail_account:
			remove_outgoing_mail()
		frappe.db.commit()
	print("\nsummary:")
	for s in summary:
		extra = ""
		if s["label"] == "drain" and s["rate"]:
			extra = f", 100,000 at this rate: {100_000 / s['rate'] / 60:.1f} min"
		print(
			f"  {s['label']:<12} backlog {s['backlog']:>6}, {s['procs']} proc: {s['rate']:7.1f} steps/s,"
			f" wall {s['wall']:.1f} s, peak growth {s['growth']:.1f} MB{extra}"
			+ (f"  [{s['variant']}]" if args.variants or args.experiment else "")
			+ f"  (load {s['load']:.1f})"
		)
	floors = {
		label: c.median([s["rate"] for s in summary if s["label"] == label])
		for label in ("floor", "floor_effect")
		if any(s["label"] == label for s in summary)
	}
	if floors:
		base = "floor_effect" if "floor_effect" in floors else "floor"
		print(
			f"\nagainst the floor ({base}: median {floors[base]:.1f} rows/s"
			+ (f"; without the effect {floors['floor']:.1f}" if base == "floor_effect" else "")
			+ f"; kind {args.kind}):"
		)
		keys = sorted({(s["backlog"], s["procs"], s["variant"]) for s in summary if s["label"] == "drain"})
		for backlog, procs, variant in keys:
			rates = [
				s["rate"]
				for s in summary
				if s["label"] == "drain"
				and (s["backlog"], s["procs"], s["variant"]) == (backlog, procs, variant)
			]
			print(
				f"  drain backlog {backlog}, {procs} proc [{variant}]: median {c.median(rates):.1f} steps/s"
				f" = {c.median(rates) / floors[base]:.2f} of the floor (runs: {', '.join(f'{r:.0f}' for r in rates)})"
			)
	if args.variants:
		print("\nmedian steps/s per variant (interleaved rounds):")
		keys = sorted({(s["backlog"], s["procs"], s["variant"]) for s in summary if s["label"] == "drain"})
		for backlog, procs, variant in keys:
			rates = [
				s["rate"]
				for s in summary
				if (s["backlog"], s["procs"], s["variant"]) == (backlog, procs, variant)
			]
			deadlocks = [
				s["deadlocks"]
				for s in summary
				if (s["backlog"], s["procs"], s["variant"]) == (backlog, procs, variant)
			]
			print(
				f"  backlog {backlog}, {procs} proc, {variant:<40} {c.median(rates):7.1f}"
				f"  (runs: {', '.join(f'{r:.0f}' for r in rates)}; InnoDB deadlocks: {sum(deadlocks)})"
			)
	c.disconnect()


def argparse_hidden():
	import argparse

	return argparse.SUPPRESS


if __name__ == "__main__":
	sys.exit(main())
