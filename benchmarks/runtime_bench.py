"""Pure-engine benchmark: chains and fan-outs of instant steps, and validation of large flows.

    python benchmarks/runtime_bench.py [--repeat 7]

Prints the median of several runs for each size and the growth ratio between sizes (linear growth
means ×10 time for ×10 steps). Target (issue #2): a 10,000-step chain advances in ≤ 100 ms on a
2-core machine.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import time
from datetime import datetime

from flow_engine.runtime import Engine, load_definition
from flow_engine.runtime.ports import VirtualClock
from flow_engine.runtime.simulator import RecordingEffects

SIZES = (100, 1_000, 10_000)


def chain(n: int, kind: str = "wait") -> dict:
	steps = [{"id": "s0", "kind": kind}]
	steps += [{"id": f"s{i}", "kind": kind, "depends_on": [f"s{i - 1}"]} for i in range(1, n)]
	return {"version": 1, "steps": steps}


def fan_out(n: int, kind: str = "wait") -> dict:
	steps = [{"id": "root", "kind": kind}]
	steps += [{"id": f"s{i}", "kind": kind, "depends_on": ["root"]} for i in range(1, n)]
	return {"version": 1, "steps": steps}


def notify_chain(n: int) -> dict:
	payload = {
		"channel": "email",
		"to": "{{customer.email_id}}",
		"subject": "Step {{doc.name}}",
		"body": "Hello {{customer.customer_name}}",
	}
	flow = chain(n, "notify")
	for step in flow["steps"]:
		step["payload"] = dict(payload)
	return flow


def median_ms(fn, repeat: int) -> float:
	samples = []
	for _ in range(repeat):
		gc.collect()
		started = time.perf_counter()
		fn()
		samples.append((time.perf_counter() - started) * 1000)
	return statistics.median(samples)


def advance_once(definition) -> None:
	clock = VirtualClock(datetime(2026, 1, 5, 9))
	engine = Engine(RecordingEffects(clock), clock)
	run, report = engine.start(
		definition,
		name="BENCH",
		context={"doc": {"name": "D-1"}, "customer": {"customer_name": "Ann", "email_id": "a@example.com"}},
	)
	assert run.status == "completed", run.error
	assert len(report.executed) == len(definition.steps)


def main() -> None:
	parser = argparse.ArgumentParser()
	parser.add_argument("--repeat", type=int, default=7)
	args = parser.parse_args()
	print(f"python {platform.python_version()} on {platform.machine()}, median of {args.repeat} runs")
	print(
		f"{'shape':<14} {'steps':>7} {'validate+compile ms':>20} {'advance ms':>11} {'µs/step':>8} {'growth':>7}"
	)
	for name, build in (("chain", chain), ("fan-out", fan_out), ("notify chain", notify_chain)):
		previous = None
		for size in SIZES:
			raw = build(size)
			compile_ms = median_ms(lambda raw=raw: load_definition(raw), args.repeat)
			definition = load_definition(raw)
			advance_ms = median_ms(lambda d=definition: advance_once(d), args.repeat)
			growth = f"×{advance_ms / previous:.1f}" if previous else ""
			previous = advance_ms
			print(
				f"{name:<14} {size:>7} {compile_ms:>20.1f} {advance_ms:>11.1f} {advance_ms * 1000 / size:>8.1f} {growth:>7}"
			)
	roundtrip = load_definition(chain(10_000))
	clock = VirtualClock(datetime(2026, 1, 5, 9))
	run, _ = Engine(RecordingEffects(clock), clock).start(roundtrip, name="BENCH")
	from flow_engine.runtime.state import Run

	ms = median_ms(lambda: Run.from_json(run.to_json()), args.repeat)
	print(f"JSON round trip of a finished 10,000-step run: {ms:.1f} ms ({len(run.to_json()) / 1e6:.1f} MB)")


if __name__ == "__main__":
	main()
