"""Malformed flow definitions: `flow-engine validate` names every problem exactly, and never crashes.

Stored cases live in corpus/invalid/: NNN_name.json (or .txt for input that is not JSON) beside
NNN_name.expected, the lines the CLI must print with the file's path written as `{path}`. An expected
file says what the validator *should* print; where that differs from what it prints today the case
fails on purpose until the validator is fixed. Inputs too large to store are built by the tests below.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

import pytest
from conftest import SEED_NAMES, SEEDS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flow_engine.runtime as runtime
from flow_engine.runtime.cli import main
from flow_engine.runtime.kinds.registry import FieldSpec, KindSpec, StepOutcome

CORPUS = Path(__file__).resolve().parent / "corpus" / "invalid"
CASES = sorted(path for path in CORPUS.iterdir() if path.suffix in (".json", ".txt"))

KINDS = "assign, comment, condition, create_document, dispatch_job, erp_update, issue, notify, set_value, sub_flow, subscription_activate, switch, wait, wait_for_event, webhook"
RETRY_KEYS = "max_attempts, initial_interval_seconds, backoff_factor, max_interval_seconds, jitter"


def expected_lines(text: str, path: str) -> list[str]:
	# str.replace, not str.format: messages quote `{{ }}` templates.
	return [line.replace("{path}", path) for line in text.split("\n")[:-1]]


def output_lines(text: str) -> list[str]:
	# split("\n"), not splitlines(): a message must not be cut at \r, \x0b or \u2028 either.
	lines = text.split("\n")
	if lines[-1] == "":
		lines.pop()
	return lines


def validate(path: Path, capsys) -> dict:
	capsys.readouterr()
	code = main(["validate", str(path)])
	out, err = capsys.readouterr()
	return {"exit": code, "stdout": output_lines(out), "stderr": err}


# --- the stored corpus ----------------------------------------------------------------------------


def test_the_corpus_has_enough_cases_each_with_its_expected_lines():
	assert len(CASES) >= 60
	expected = sorted(path.stem for path in CORPUS.glob("*.expected"))
	assert expected == [path.stem for path in CASES]
	for path in CASES:
		number, _, name = path.stem.partition("_")
		assert number.isdigit() and name, path.name
		assert path.with_suffix(".expected").read_text(encoding="utf-8").strip(), path.name


@pytest.mark.parametrize("case", CASES, ids=[path.stem for path in CASES])
def test_stored_case(case: Path, capsys):
	lines = expected_lines(case.with_suffix(".expected").read_text(encoding="utf-8"), str(case))
	assert validate(case, capsys) == {"exit": 2, "stdout": lines, "stderr": ""}


# --- generated cases: inputs too large to store ---------------------------------------------------


def _wait(step_id: str, **fields) -> dict:
	return {"id": step_id, "kind": "wait", **fields}


def _flow(*steps, **top) -> dict:
	return {"version": 1, **top, "steps": list(steps)}


def _nested_list_text(depth: int) -> str:
	return "[" * depth + "]" * depth


def _not_rule(depth: int):
	rule = True
	for _ in range(depth):
		rule = {"!": [rule]}
	return rule


def _big_or_rule() -> dict:
	# 2 nodes for the `or` and its list, 5 for each comparison: 5,002 nodes.
	return {"or": [{"==": [{"var": "doc.status"}, f"S{index}"]} for index in range(1000)]}


def _json(data) -> bytes:
	return json.dumps(data).encode("utf-8")


GENERATED = [
	pytest.param(
		lambda: _json(_flow(*(_wait(f"s{index}") for index in range(10_001)))),
		["{path}: flow: steps: 10001 steps; at most 10000 are allowed"],
		id="10001_steps",
	),
	pytest.param(
		lambda: _json(_flow(_wait("a"), description="x" * (6 * 1024 * 1024))),
		["{path}: file: file larger than 5 MiB"],
		id="file_of_6_mib",
	),
	pytest.param(
		lambda: _nested_list_text(100_000).encode(),
		["{path}: flow: json: JSON nested too deeply"],
		id="json_nested_100000_deep",
	),
	pytest.param(
		lambda: ('{"steps": [], "variables": ' + '{"a": ' * 100_000 + "1" + "}" * 100_001).encode(),
		["{path}: flow: json: JSON nested too deeply"],
		id="variables_nested_100000_deep",
	),
	pytest.param(
		lambda: _json({"doctype": "Flow Template", "flow_definition": _nested_list_text(100_000)}),
		["{path}: flow: flow_definition: JSON nested too deeply"],
		id="record_flow_definition_text_nested_100000_deep",
	),
	pytest.param(
		lambda: _json(_flow(_wait("a", label="L" * 10_000))),
		["{path}: step a: label: longer than 240 characters"],
		id="label_of_10000_chars",
	),
	pytest.param(
		lambda: _json(
			_flow(
				{
					"id": "n",
					"kind": "notify",
					"payload": {
						"channel": "email",
						"to": "a@example.com",
						"body": "{{ doc.name }}" + "x" * 30_000,
					},
				}
			)
		),
		["{path}: step n: payload.body: template longer than 10000 characters"],
		id="payload_template_of_30000_chars",
	),
	pytest.param(
		lambda: _json(
			_flow(_wait("a", trigger={"type": "on_date", "at": "{{ doc.end_date }}" + " " * 30_000}))
		),
		["{path}: step a: trigger.at: template longer than 10000 characters"],
		id="trigger_at_template_of_30000_chars",
	),
	pytest.param(
		lambda: _json(_flow(trigger={"event": "manual", "condition": _big_or_rule()})),
		["{path}: flow: trigger.condition: rule too large (more than 2000 nodes)"],
		id="jsonlogic_rule_of_5000_nodes",
	),
	pytest.param(
		lambda: _json(_flow(trigger={"event": "manual", "condition": _not_rule(100)})),
		["{path}: flow: trigger.condition: rule nested deeper than 32 levels"],
		id="jsonlogic_rule_nested_100_deep",
	),
	pytest.param(
		lambda: _json(_flow(trigger={"event": "manual", "condition": _nested_list_text(100_000)})),
		["{path}: flow: trigger.condition: rule nested deeper than 32 levels"],
		id="jsonlogic_rule_text_nested_100000_deep",
	),
	pytest.param(
		lambda: _json(
			_flow(
				{
					"id": "u",
					"kind": "erp_update",
					"payload": {
						"doctype": "Contract",
						"docname_ref": "{{ doc.name }}",
						"fields_json": '{"a": ' + _nested_list_text(100_000) + "}",
					},
				}
			)
		),
		["{path}: step u: payload.fields_json: JSON nested too deeply"],
		id="json_field_text_nested_100000_deep",
	),
	pytest.param(
		lambda: _json(_flow(retry={"k" * 10_000: 1})),
		[f"{{path}}: flow: retry.{'k' * 80}: unknown setting (known: {RETRY_KEYS})"],
		id="retry_key_of_10000_chars",
	),
	pytest.param(
		lambda: _json(_flow(_wait("a", **{"k" * 10_000: 1}))),
		[f"{{path}}: step a: {'k' * 80}: unknown key"],
		id="step_key_of_10000_chars",
	),
	pytest.param(
		lambda: _json(_flow({"id": "a", "kind": "k" * 10_000})),
		[f"{{path}}: step a: kind: unknown kind '{'k' * 80}' (known: {KINDS})"],
		id="kind_of_10000_chars",
	),
]


@pytest.mark.parametrize(("build", "expected"), GENERATED)
def test_generated_case(build, expected, tmp_path, capsys):
	path = tmp_path / "case.json"
	path.write_bytes(build())
	lines = [line.replace("{path}", str(path)) for line in expected]
	assert validate(path, capsys) == {"exit": 2, "stdout": lines, "stderr": ""}


def test_a_long_cycle_is_reported_in_bounded_lines(tmp_path, capsys):
	"""A cycle through 2,000 steps: one bounded line per problem, not the whole cycle 2,000 times."""
	count = 2000
	steps = [_wait(f"s{index}", depends_on=[f"s{(index - 1) % count}"]) for index in range(count)]
	path = tmp_path / "cycle.json"
	path.write_bytes(_json(_flow(*steps)))
	result = validate(path, capsys)
	assert (result["exit"], result["stderr"]) == (2, "")
	assert result["stdout"] and all(line.startswith(f"{path}: step ") for line in result["stdout"])
	assert max(len(line) for line in result["stdout"]) <= 1000


def test_a_missing_file_and_a_directory_are_file_problems(tmp_path, capsys):
	missing = tmp_path / "missing.json"
	assert validate(missing, capsys) == {
		"exit": 2,
		"stdout": [f"{missing}: file: cannot read: No such file or directory"],
		"stderr": "",
	}
	assert validate(tmp_path, capsys) == {
		"exit": 2,
		"stdout": [f"{tmp_path}: file: is a directory"],
		"stderr": "",
	}


def test_several_paths_report_each_file_in_turn(capsys):
	seed = SEEDS / f"{SEED_NAMES[0]}.json"
	first, second = CASES[0], CASES[-1]
	expected = [
		*expected_lines(first.with_suffix(".expected").read_text(encoding="utf-8"), str(first)),
		*expected_lines(second.with_suffix(".expected").read_text(encoding="utf-8"), str(second)),
	]
	code = main(["validate", str(first), str(seed), str(second)])
	out, err = capsys.readouterr()
	assert {"exit": code, "stdout": output_lines(out), "stderr": err} == {
		"exit": 2,
		"stdout": expected,
		"stderr": "",
	}


# --- field types no built-in kind uses: check, datetime, jsonlogic ---------------------------------

PROBE = KindSpec(
	"probe",
	"Probe",
	"science",
	"#000000",
	lambda call: StepOutcome(),
	fields=(
		FieldSpec("flag", "check", "Flag"),
		FieldSpec("due", "datetime", "Due"),
		FieldSpec("rule", "jsonlogic", "Rule"),
	),
)

PROBE_CASES = [
	pytest.param({"flag": "yes"}, ["payload.flag: must be true or false"], id="check_text"),
	pytest.param({"flag": 2}, ["payload.flag: must be true or false"], id="check_number"),
	pytest.param(
		{"flag": "{{ doc.flag"},
		[
			"payload.flag: template syntax error: unexpected end of template, expected 'end of print statement'."
		],
		id="check_template_syntax_error",
	),
	pytest.param(
		{"due": "tomorrow"}, ["payload.due: must be an ISO 8601 date or datetime"], id="datetime_text"
	),
	pytest.param(
		{"due": 20260101}, ["payload.due: must be an ISO 8601 date or datetime"], id="datetime_number"
	),
	pytest.param(
		{"due": "2026-02-30"}, ["payload.due: must be an ISO 8601 date or datetime"], id="datetime_impossible"
	),
	pytest.param(
		{"rule": {"regex": ["a", "b"]}},
		["payload.rule: unknown JsonLogic operator 'regex'"],
		id="jsonlogic_unknown_op",
	),
	pytest.param(
		{"rule": "not json"},
		["payload.rule: not valid JSON: Expecting value: line 1 column 1 (char 0)"],
		id="jsonlogic_invalid_text",
	),
	pytest.param(
		{"rule": ["x"] * 3000},
		["payload.rule: rule too large (more than 2000 nodes)"],
		id="jsonlogic_too_large",
	),
	pytest.param(
		{"rule": _nested_list_text(100_000)},
		["payload.rule: rule nested deeper than 32 levels"],
		id="jsonlogic_text_nested_100000_deep",
	),
	pytest.param(
		{"flag": "no", "due": "soon", "rule": {"nope": 1}},
		[
			"payload.flag: must be true or false",
			"payload.due: must be an ISO 8601 date or datetime",
			"payload.rule: unknown JsonLogic operator 'nope'",
		],
		id="all_three",
	),
]


@pytest.mark.parametrize(("payload", "expected"), PROBE_CASES)
def test_field_types_of_a_registered_kind(payload, expected, tmp_path, capsys, monkeypatch):
	registry = runtime.registry.copy()
	registry.register(PROBE)
	monkeypatch.setattr(runtime, "registry", registry)
	path = tmp_path / "probe.json"
	path.write_bytes(_json(_flow({"id": "p", "kind": "probe", "payload": payload})))
	lines = [f"{path}: step p: {line}" for line in expected]
	assert validate(path, capsys) == {"exit": 2, "stdout": lines, "stderr": ""}


# --- the seeded templates are valid ---------------------------------------------------------------


@pytest.mark.parametrize("name", SEED_NAMES)
def test_every_seeded_template_validates(name, capsys):
	assert validate(SEEDS / f"{name}.json", capsys) == {"exit": 0, "stdout": [], "stderr": ""}


def test_every_seed_file_is_listed():
	assert sorted(path.stem for path in SEEDS.glob("*.json")) == sorted(SEED_NAMES)


# --- property: any input gives 0 or 2 and well-formed lines, never a crash -----------------------

SEED_DATA = {name: json.loads((SEEDS / f"{name}.json").read_text()) for name in SEED_NAMES}

# Strings that are easy to mishandle: blanks, line breaks, odd separators, broken templates, long text.
awkward_text = st.sampled_from(
	["", " ", "\n", "a\nb", "\t", "\u2028", "é", "{{", "{{ x", "{% if %}", "x" * 100]
)
texts = st.text(max_size=12) | awkward_text
scalars = st.none() | st.booleans() | st.integers() | st.floats() | texts
json_values = st.recursive(
	scalars,
	lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
	max_leaves=12,
)
step_ids = st.sampled_from(["a", "b", "c", "a b", "a\n", "", "x" * 65])
step_keys = (
	st.sampled_from("id kind label parent_id branch depends_on join trigger payload retry _x".split()) | texts
)
step_values = (
	json_values
	| step_ids
	| st.sampled_from(sorted(runtime.registry.names()))
	| st.lists(step_ids, max_size=3)
	| st.fixed_dictionaries(
		{},
		optional={
			"type": st.sampled_from(["on_flow_start", "after_delay", "on_date", "manual", "nope"]),
			"delay_hours": json_values,
			"at": json_values,
		},
	)
)
flow_shaped = st.fixed_dictionaries(
	{"steps": st.lists(st.dictionaries(step_keys, step_values, max_size=8), max_size=4)},
	optional={
		"version": st.sampled_from([1, 2, "1"]) | json_values,
		"trigger": st.fixed_dictionaries(
			{},
			optional={
				"event": st.sampled_from(["manual", "on_update", "nope"]) | json_values,
				"condition": json_values,
			},
		)
		| json_values,
		"variables": json_values,
		"retry": st.dictionaries(st.sampled_from(["max_attempts", "jitter", "x"]), json_values, max_size=3),
	},
)


def _paths(value, prefix=()):
	"""Every (path, value) inside a JSON value, the root included."""
	yield prefix, value
	if isinstance(value, dict):
		for key, item in value.items():
			yield from _paths(item, (*prefix, key))
	elif isinstance(value, list):
		for index, item in enumerate(value):
			yield from _paths(item, (*prefix, index))


def _other_type(value):
	"""Values of another JSON type than `value`."""
	candidates = [None, True, 0, 1.5, "text", "{{ broken", [], [value], {}, {"value": value}]
	return [c for c in candidates if type(c) is not type(value)]


@st.composite
def mutated_seeds(draw):
	data = copy.deepcopy(SEED_DATA[draw(st.sampled_from(SEED_NAMES))])
	for _ in range(draw(st.integers(1, 3))):
		paths = list(_paths(data))
		path, value = draw(st.sampled_from(paths))
		if not path:
			continue
		*parents, last = path
		container = data
		for key in parents:
			container = container[key]
		operation = draw(st.sampled_from(["delete", "retype", "replace", "duplicate", "rename"]))
		if operation == "delete":
			del container[last]
		elif operation == "retype":
			container[last] = draw(st.sampled_from(_other_type(value)))
		elif operation == "replace":
			container[last] = draw(json_values)
		elif operation == "duplicate" and isinstance(container, list):
			container.append(copy.deepcopy(value))
		elif operation == "rename" and isinstance(container, dict):
			container[f"{last}_x"] = container.pop(last)
	return data


def _run_cli(path: Path) -> tuple[int, str, str]:
	# A strict UTF-8 stream, like a real stdout: printing text that cannot be encoded fails here too.
	out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="", write_through=True)
	err = io.StringIO()
	with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
		code = main(["validate", str(path)])
	return code, out.buffer.getvalue().decode("utf-8"), err.getvalue()


def _check_any_input(directory: Path, data: bytes) -> None:
	path = directory / "input.json"
	path.write_bytes(data)
	code, out, err = _run_cli(path)
	assert err == ""
	lines = output_lines(out) if out else []
	assert code == (2 if lines else 0)
	prefixes = tuple(f"{path}: {where}" for where in ("flow: ", "step ", "file: "))
	for line in lines:
		assert line.startswith(prefixes), line


PROPERTY_SETTINGS = settings(
	max_examples=150,
	deadline=None,
	derandomize=True,
	database=None,
	suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
	return tmp_path_factory.mktemp("property")


@PROPERTY_SETTINGS
@given(data=st.binary(max_size=200))
def test_random_bytes(scratch, data):
	_check_any_input(scratch, data)


@PROPERTY_SETTINGS
@given(value=json_values)
def test_random_json_values(scratch, value):
	_check_any_input(scratch, json.dumps(value).encode("utf-8"))


@PROPERTY_SETTINGS
@given(value=flow_shaped)
def test_random_flow_shaped_definitions(scratch, value):
	_check_any_input(scratch, json.dumps(value).encode("utf-8"))


@PROPERTY_SETTINGS
@given(value=mutated_seeds())
def test_mutated_seeded_templates(scratch, value):
	_check_any_input(scratch, json.dumps(value, ensure_ascii=False).encode("utf-8"))
