"""Fuzz the validator, the condition evaluators and the renderer with hostile inputs.

    python fuzz/fuzz_runtime.py [--count 100000] [--seed 1]

Inputs are random mutations of the seeded templates, random JSON, random JsonLogic rules and
random Jinja templates built from dangerous pieces (attribute walks, format tricks, loops, huge
numbers). For each input: no exception may escape, no call may take longer than a second, and
peak memory stays bounded. Prints the counts, the slowest call per target and the peak memory;
exits 1 on any escape or hang.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
import tracemalloc
from pathlib import Path

from flow_engine.runtime.conditions import compare, evaluate_jsonlogic
from flow_engine.runtime.definition import validate_definition
from flow_engine.runtime.rendering import render_deep, render_with_error

SEEDS = [
	json.loads(p.read_text())
	for p in sorted((Path(__file__).parent.parent / "flow_engine" / "seed_templates").glob("*.json"))
]
PIECES = [
	"{{",
	"}}",
	"{%",
	"%}",
	"doc",
	".",
	"__class__",
	"__mro__",
	"__subclasses__()",
	"__globals__",
	"__init__",
	"__builtins__",
	"[",
	"]",
	"(",
	")",
	"|",
	"attr(",
	"'__class__'",
	"format",
	"'%s'",
	"'{0.__class__}'",
	"*",
	"**",
	"9999999",
	"range(",
	"for x in",
	"endfor",
	"if",
	"endif",
	"cycler",
	"joiner",
	"namespace",
	"lipsum",
	"self",
	"config",
	"request",
	"import",
	"'os'",
	"~",
	"'x'",
	"center(",
	"ljust(",
	"replace(",
	",",
	" ",
	"0",
	"customer",
	"variables",
	"items",
	"keys",
	"pop()",
	"update(",
	"{}",
	"[]",
	"\n",
	"%",
	"-",
]
OPERATORS = [
	"==",
	"!=",
	"<",
	">",
	"in",
	"and",
	"or",
	"!",
	"!!",
	"var",
	"cat",
	"merge",
	"reduce",
	"map",
	"filter",
	"all",
	"some",
	"none",
	"if",
	"+",
	"*",
	"/",
	"%",
	"substr",
	"missing",
	"min",
	"max",
	"log",
	"eval",
	"__class__",
]


def random_json(rng: random.Random, depth: int = 0):
	kind = rng.randrange(8 if depth < 6 else 5)
	if kind == 0:
		return None
	if kind == 1:
		return rng.choice([True, False])
	if kind == 2:
		return rng.choice([0, -1, 10 ** rng.randrange(1, 400), 1.5, 1e308, -1e-308])
	if kind in (3, 4):
		return "".join(rng.choice(PIECES) for _ in range(rng.randrange(6)))
	if kind == 5:
		return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
	return {
		rng.choice(["id", "kind", "steps", "payload", "trigger", "x", "__proto__", "\ud800"]): random_json(
			rng, depth + 1
		)
		for _ in range(rng.randrange(4))
	}


def mutate(rng: random.Random, value):
	data = copy.deepcopy(value)
	for _ in range(rng.randrange(1, 6)):
		node = data
		path = []
		while isinstance(node, dict | list) and node and rng.random() < 0.8:
			key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
			path.append((node, key))
			node = node[key]
		if not path:
			continue
		parent, key = path[-1]
		action = rng.randrange(4)
		if action == 0 and isinstance(parent, dict):
			del parent[key]
		elif action == 1:
			parent[key] = random_json(rng)
		elif action == 2 and isinstance(parent, list):
			parent.append(copy.deepcopy(parent[key]))
		else:
			parent[key] = "".join(rng.choice(PIECES) for _ in range(rng.randrange(10)))
	return data


def random_rule(rng: random.Random, depth: int = 0):
	if depth > rng.randrange(2, 40) or rng.random() < 0.25:
		return rng.choice(
			[{"var": rng.choice(["doc.a", "doc", "", "doc.items.0", "accumulator"])}, 1, "x", None, [1, 2]]
		)
	op = rng.choice(OPERATORS)
	return {op: [random_rule(rng, depth + 1) for _ in range(rng.randrange(4))]}


CONTEXT = {
	"doc": {"a": 1, "name": "D-1", "items": [{"qty": 2}] * 50, "text": "x" * 100},
	"customer": {},
	"variables": {},
}


def main() -> int:
	parser = argparse.ArgumentParser()
	parser.add_argument("--count", type=int, default=100_000)
	parser.add_argument("--seed", type=int, default=1)
	args = parser.parse_args()
	rng = random.Random(args.seed)
	targets = {
		"validate": lambda: validate_definition(
			mutate(rng, rng.choice(SEEDS)) if rng.random() < 0.7 else random_json(rng)
		),
		"validate_text": lambda: validate_definition(
			json.dumps(mutate(rng, rng.choice(SEEDS)))[: rng.randrange(1, 3000)]
		),
		"jsonlogic": lambda: evaluate_jsonlogic(random_rule(rng), CONTEXT),
		"compare": lambda: compare(
			random_json(rng), rng.choice(["==", "<", "in", "contains", "empty", "bogus"]), random_json(rng)
		),
		"render": lambda: render_with_error(
			"".join(rng.choice(PIECES) for _ in range(rng.randrange(40))), CONTEXT
		),
		"render_deep": lambda: render_deep(random_json(rng), CONTEXT),
	}
	names = list(targets)
	counts = dict.fromkeys(names, 0)
	slowest = dict.fromkeys(names, 0.0)
	escapes = []
	tracemalloc.start()
	started = time.perf_counter()
	for index in range(args.count):
		name = names[index % len(names)]
		t0 = time.perf_counter()
		try:
			targets[name]()
		except Exception as exc:  # any escape is a failure
			escapes.append(f"{name}: {type(exc).__name__}: {exc}"[:300])
		elapsed = time.perf_counter() - t0
		counts[name] += 1
		slowest[name] = max(slowest[name], elapsed)
	_current, peak = tracemalloc.get_traced_memory()
	total = time.perf_counter() - started
	print(f"{args.count} inputs in {total:.1f} s (seed {args.seed}); peak traced memory {peak / 1e6:.1f} MB")
	for name in names:
		print(f"  {name:<14} {counts[name]:>7} inputs, slowest {slowest[name] * 1000:8.1f} ms")
	hung = [name for name in names if slowest[name] > 1.0]
	for line in escapes[:20]:
		print("ESCAPE", line)
	if hung:
		print("SLOW (> 1 s):", ", ".join(hung))
	print(f"{len(escapes)} escaped exceptions, {len(hung)} targets slower than 1 s per input")
	return 1 if escapes or hung else 0


if __name__ == "__main__":
	sys.exit(main())
