"""A short run of the fuzzer in CI (the full 100,000-input run: python fuzz/fuzz_runtime.py)."""

import runpy
import sys
from pathlib import Path

FUZZ = Path(__file__).resolve().parent.parent / "fuzz" / "fuzz_runtime.py"


def test_fuzzer_finds_no_escape_and_no_hang(monkeypatch, capsys):
	monkeypatch.setattr(sys, "argv", ["fuzz_runtime.py", "--count", "3000", "--seed", "3"])
	module = runpy.run_path(str(FUZZ))
	assert module["main"]() == 0
	out = capsys.readouterr().out
	assert out.strip().endswith("0 escaped exceptions, 0 targets slower than 1 s per input")


def test_condition_operator_paths_cannot_walk_attributes():
	from flow_engine.runtime.conditions import evaluate_field_condition, evaluate_jsonlogic

	context = {"doc": {"name": "x"}}
	for path in ("doc.__class__", "doc.name.__class__.__mro__", "doc.__dict__", "doc.name.upper"):
		assert evaluate_field_condition(context, path, "not_empty", None) is False
	for rule in (
		{"var": "doc.__class__"},
		{"var": "doc.name.__class__.__mro__"},
		{"__class__": []},
		{"eval": ["__import__('os')"]},
		{"var": ["doc.__init__.__globals__"]},
	):
		matched, _error = evaluate_jsonlogic(rule, context)
		assert matched is False
