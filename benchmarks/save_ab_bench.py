"""Saves end to end: flow_engine's hook against a no-op put in its place, with the harness's A/A.

    cd ~/frappe-bench/sites && ../env/bin/python ../apps/flow_engine/benchmarks/save_ab_bench.py --site SITE
        [--samples 400] [--doctype ToDo] [--false-templates 0,5]

Each sample is one `insert()` of a new document, as a new request (frappe.local's request
caches emptied, as frappe.init does), then rolled back. Samples are taken in pairs in a random
order, so that both sides see the same moments of a shared machine:

    A/B   the real `flow_engine.dispatch.on_document_event` against a function that does nothing
          put in its place (Frappe still resolves and calls a handler for every event: what is
          compared is flow_engine's own work, wherever it happens)
    A/A   the real hook against itself: the harness's own noise, printed beside the A/B figure

Both run with no active template on the doctype and with `--false-templates N` active on_update
templates on it whose conditions are false. Prints medians, the ratio of medians B/A (flow_engine
against none) and A/A, and SQL statements and Redis commands per insert on each side.

The figure that counts is the paired one: the median of the pairs' own ratios (each pair's two
inserts ran next to each other, so a slow moment of the machine slows both), with a 95 %
bootstrap interval. The garbage collector runs between samples, not inside one (and what was
alive after the warm-up is frozen out of its work, `gc.freeze`).
Targets: no template: +0 SQL and ≤ 1 % end to end; five false templates: ≤ 5 %.

`--calibrate 50,200`: the same pairs with a no-op against a hook that only spins for that many
microseconds: the harness must find those known costs again (it resolves what it claims to).
`--decompose` also times, interleaved, the hook's first lines alone and its read of the listened
doctypes alone, each against the no-op (with a second no-op as the A/A).
"""

from __future__ import annotations

import gc
import random
import sys
import time

import _common as c
from save_bench import activate, make_false_templates


def _noop(doc, method=None) -> None:
	return None


def _spinning(microseconds: float):
	"""A hook that costs a known time (busy, like Python work) and does nothing else."""

	def hook(doc, method=None) -> None:
		until = time.perf_counter() + microseconds / 1e6
		while time.perf_counter() < until:
			pass

	return hook


def paired_ratio(a: list[float], b: list[float], resamples: int = 2000) -> tuple[float, float, float]:
	"""The median of the pairs' ratios b/a, and its 95 % bootstrap interval."""
	ratios = [y / x for x, y in zip(a, b, strict=True)]
	rng = random.Random(7)
	medians = sorted(c.median(rng.choices(ratios, k=len(ratios))) for _ in range(resamples))
	return c.median(ratios), medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def _percent(value: float) -> str:
	return f"{(value - 1) * 100:+.2f} %"


def _flags_only(doc, method=None) -> None:
	"""The hook's first lines: the flags and the ignored doctypes."""
	import frappe

	from flow_engine import dispatch

	flags = frappe.local.flags
	if flags.in_install or flags.in_migrate or flags.in_import or flags.in_patch or flags.in_uninstall:
		return
	if doc.doctype in dispatch.IGNORED_DOCTYPES:
		return


def _listened_only(doc, method=None) -> None:
	"""The hook's read of the listened doctypes (a global default) and nothing else."""
	import frappe

	from flow_engine import dispatch

	frappe.db.get_global(dispatch.LISTENED_KEY)


def decompose(doctype: str, samples: int, calls: c.Calls) -> dict:
	"""Every variant in one random order per sample: where the hook's cost goes, with an A/A."""
	from flow_engine import dispatch

	real = dispatch.on_document_event
	variants = {
		"no-op": _noop,
		"no-op again (A/A)": _noop,
		"flags only": _flags_only,
		"listened only": _listened_only,
		"flow_engine": real,
	}
	times: dict = {name: [] for name in variants}
	try:
		for n in range(samples):
			order = list(variants)
			random.shuffle(order)
			for name in order:
				dispatch.on_document_event = variants[name]
				times[name].append(insert_once(doctype, n, calls)[0])
	finally:
		dispatch.on_document_event = real
	return {name: c.median(values) for name, values in times.items()}


def insert_once(doctype: str, n: int, calls: c.Calls) -> tuple[float, int, int]:
	import frappe

	doc = frappe.get_doc({"doctype": doctype, "description": f"{c.BENCH_PREFIX}ab {n}"})
	c.new_request()
	gc.collect()
	gc.disable()  # a collection inside one sample would land on one side of a pair only
	try:
		sql0, redis0 = calls.snapshot()
		t0 = time.perf_counter()
		doc.insert()
		elapsed = (time.perf_counter() - t0) * 1000
		sql1, redis1 = calls.snapshot()
	finally:
		gc.enable()
	frappe.db.rollback()
	return elapsed, sql1 - sql0, redis1 - redis0


def paired(doctype: str, samples: int, sides: tuple, calls: c.Calls) -> dict:
	"""`samples` pairs; sides: (first side, second side), each True (the real hook), False (the
	no-op) or a function put in the hook's place."""
	from flow_engine import dispatch

	real = dispatch.on_document_event
	hooks = [real if side is True else _noop if side is False else side for side in sides]
	out = {0: [], 1: []}
	stats = {0: [0, 0], 1: [0, 0]}
	try:
		for n in range(samples):
			order = [0, 1]
			random.shuffle(order)
			for side in order:
				dispatch.on_document_event = hooks[side]
				ms, sql, redis = insert_once(doctype, n, calls)
				out[side].append(ms)
				stats[side][0] += sql
				stats[side][1] += redis
	finally:
		dispatch.on_document_event = real
	return {
		"a": c.median(out[0]),
		"b": c.median(out[1]),
		"paired": paired_ratio(out[0], out[1]),
		"sql": (stats[0][0] / samples, stats[1][0] / samples),
		"redis": (stats[0][1] / samples, stats[1][1] / samples),
	}


def hook_time(doctype: str, samples: int, calls: c.Calls) -> tuple[float, float]:
	"""(median µs spent inside the real hook per insert, its calls per insert), timed around it in
	a pass of its own (the timer is not in the A/B's samples)."""
	from flow_engine import dispatch

	real = dispatch.on_document_event
	timed, spent = c.timed(real)
	per_insert = []
	dispatch.on_document_event = timed
	try:
		for n in range(samples):
			spent["seconds"] = 0.0
			insert_once(doctype, n, calls)
			per_insert.append(spent["seconds"] * 1e6)
	finally:
		dispatch.on_document_event = real
	return c.median(per_insert), spent["calls"] / max(samples, 1)


def main() -> None:
	p = c.parser(__doc__.split("\n")[0])
	p.add_argument("--samples", type=int, default=400)
	p.add_argument("--doctype", default="ToDo")
	p.add_argument("--false-templates", default="0,5", help="counts of false templates to measure with")
	p.add_argument(
		"--calibrate",
		default="",
		help="MICROSECONDS,…: also a no-op against a hook that spins that long (the harness's resolution)",
	)
	p.add_argument(
		"--decompose",
		action="store_true",
		help="also: the hook's parts (flags only, the listened doctypes only) against a no-op, interleaved",
	)
	args = p.parse_args()
	c.connect(args.site, args.sites_path)
	import frappe

	print(f"saves end to end on {args.site}: {c.machine()}")
	c.delete_bench_templates()
	random.seed(11)
	try:
		with c.only_bench_templates_active() as deactivated:
			if deactivated:
				print(
					f"(the site's {len(deactivated)} active templates are off during the run, restored after)"
				)
			false_sets = make_false_templates(args.doctype)
			every = [name for names in false_sets.values() for name in names]
			frappe.db.commit()
			for count in [int(x) for x in args.false_templates.split(",") if x.strip()]:
				activate(false_sets["t5false"][:count], every, [], False)
				with c.Calls() as calls:
					insert_once(args.doctype, -1, calls)  # warm-up: the dispatch index
					# what is alive now is left out of every later collection: the one before each
					# sample then costs little, and the run takes a third of the time
					gc.collect()
					gc.freeze()
					ab = paired(args.doctype, args.samples, (False, True), calls)
					aa = paired(args.doctype, args.samples, (True, True), calls)
				print(f"\n{args.doctype} insert, {count} false templates on it, {args.samples} pairs each:")
				report_pairs("A/B  no-op / flow_engine", ab)
				print(
					f"       SQL {ab['sql'][0]:.2f} / {ab['sql'][1]:.2f},"
					f" Redis {ab['redis'][0]:.2f} / {ab['redis'][1]:.2f} per insert"
				)
				report_pairs("A/A  flow_engine / flow_engine (the harness's own noise)", aa)
				with c.Calls() as calls:
					inside, per_insert = hook_time(args.doctype, max(args.samples // 4, 50), calls)
				print(
					f"  time inside flow_engine's hook, timed around it (a pass of its own): {inside:.1f} µs"
					f" per insert ({per_insert:.0f} calls), {inside / 1000 / ab['a'] * 100:.2f} % of the"
					" no-op's median insert"
				)
				if args.calibrate and count == 0:
					for microseconds in [float(x) for x in args.calibrate.split(",") if x.strip()]:
						with c.Calls() as calls:
							known = paired(
								args.doctype, args.samples, (False, _spinning(microseconds)), calls
							)
						report_pairs(
							f"calibration: no-op / a hook spinning {microseconds:.0f} µs a call", known
						)
				if args.decompose and count == 0:
					with c.Calls() as calls:
						parts = decompose(args.doctype, args.samples, calls)
					print("  the hook's parts, each against the no-op (medians, interleaved):")
					for name, ms in parts.items():
						print(f"    {name:<20} {ms:.3f} ms  {ms / parts['no-op']:.4f}")
	finally:
		frappe.db.rollback()
		c.delete_bench_templates()
		frappe.db.commit()
		c.disconnect()


def report_pairs(label: str, result: dict) -> None:
	ratio = result["b"] / result["a"]
	median, low, high = result["paired"]
	print(
		f"  {label}:\n       medians {result['a']:.3f} / {result['b']:.3f} ms ({_percent(ratio)});"
		f" paired: {_percent(median)}, 95 % interval {_percent(low)} to {_percent(high)}"
	)


if __name__ == "__main__":
	sys.exit(main())
