"""A snapshot compiled once serves every run that holds the same text, and only those."""

import json
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import flow_definitions

from flow_engine.runtime import Engine, KindSpec, Run, builtin_registry, load_definition
from flow_engine.runtime.compiled import CompiledDefinitions
from flow_engine.runtime.ports import VirtualClock
from flow_engine.runtime.simulator import RecordingEffects

START = datetime(2026, 1, 5, 9, 0, 0)


def text_of(definition: dict) -> str:
	return json.dumps(definition, separators=(",", ":"))


@settings(max_examples=60, deadline=None)
@given(flow_definitions(max_steps=12))
def test_a_cached_compilation_is_the_one_a_fresh_load_gives_and_is_reused(definition):
	cache = CompiledDefinitions(builtin_registry())
	data, compiled = cache.get(text_of(definition))
	fresh = load_definition(definition, builtin_registry())
	assert data == definition
	assert [step.id for step in compiled.steps] == [step.id for step in fresh.steps]
	assert compiled.followers == fresh.followers
	again_data, again = cache.get(text_of(definition))
	assert again is compiled and again_data is data  # the same objects: nothing compiled twice
	assert (cache.hits, cache.misses, len(cache)) == (1, 1, 1)


@given(st.lists(st.integers(0, 9), min_size=1, max_size=60))
def test_the_cache_keeps_the_most_recently_used_texts_up_to_its_size(uses):
	cache = CompiledDefinitions(builtin_registry(), size=3)
	texts = [text_of({"version": 1, "steps": [{"id": f"s{n}", "kind": "wait"}]}) for n in range(10)]
	recent: list[int] = []
	for n in uses:
		hit = n in recent
		before = cache.hits
		_data, compiled = cache.get(texts[n])
		assert cache.hits == before + (1 if hit else 0)
		assert [step.id for step in compiled.steps] == [f"s{n}"]
		recent = [m for m in recent if m != n] + [n]
		recent = recent[-3:]
		assert len(cache) == len(recent)


def test_a_definition_that_does_not_compile_is_returned_without_its_compilation_and_not_kept():
	cache = CompiledDefinitions(builtin_registry())
	text = text_of({"version": 1, "steps": [{"id": "a", "kind": "no_such_kind"}]})
	assert cache.get(text) == ({"version": 1, "steps": [{"id": "a", "kind": "no_such_kind"}]}, None)
	assert len(cache) == 0
	# the engine then fails the run, naming the problem, as without the cache
	registry = builtin_registry()
	engine = Engine(RecordingEffects(VirtualClock(START)), VirtualClock(START), registry=registry)
	definition, compiled = cache.get(text)
	run = Run(name="R1", definition=definition, steps={"a": {"status": "pending"}})
	run._compiled = compiled
	report = engine.advance(run)
	assert run.status == "failed" and "unknown kind 'no_such_kind'" in run.error
	assert report.note == run.error


def test_a_kind_registered_later_makes_definitions_compile_again():
	registry = builtin_registry()
	cache = CompiledDefinitions(registry)
	text = text_of({"version": 1, "steps": [{"id": "a", "kind": "late"}]})
	assert cache.get(text)[1] is None
	registry.register(KindSpec("late", "Late", "x", "#000", lambda call: None))
	_data, compiled = cache.get(text)
	assert compiled is not None and compiled.by_id["a"].kind == "late"
	assert cache.get(text)[1] is compiled


def test_texts_that_differ_by_one_character_are_compiled_apart():
	cache = CompiledDefinitions(builtin_registry())
	one = {"version": 1, "steps": [{"id": "a", "kind": "wait"}]}
	two = {"version": 1, "steps": [{"id": "b", "kind": "wait"}]}
	assert cache.get(text_of(one))[1].by_id.keys() == {"a"}
	assert cache.get(text_of(two))[1].by_id.keys() == {"b"}
	assert cache.misses == 2
