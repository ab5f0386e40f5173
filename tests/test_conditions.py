import json
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flow_engine.runtime.conditions import (
	OPERATORS,
	check_jsonlogic,
	compare,
	evaluate_checked,
	evaluate_field_condition,
	evaluate_jsonlogic,
	fields_read,
	jsonlogic_problems,
)

CONTEXT = {
	"doc": {
		"status": "Open",
		"grand_total": 1249.5,
		"qty": 3,
		"is_signed": 1,
		"tags": ["vip", "fibre"],
		"notes": "",
		"items": [{"item_code": "FIBRE-1G", "qty": 2}],
		"posting_date": "2026-01-05",
		"customer": None,
	},
	"variables": {"threshold": "1000", "plan": "1G"},
}


@pytest.mark.parametrize(
	"field, op, value, expected",
	[
		("doc.status", "==", "Open", True),
		("doc.status", "==", "open", False),
		("doc.qty", "==", "3", True),
		("doc.qty", "==", "3.0", True),
		("doc.is_signed", "==", True, True),
		("doc.is_signed", "==", "1", True),
		("doc.customer", "==", "", True),
		("doc.status", "!=", "Closed", True),
		("doc.status", "!=", "Open", False),
		("doc.grand_total", ">", "1000", True),
		("doc.grand_total", ">", 1249.5, False),
		("doc.grand_total", ">=", 1249.5, True),
		("doc.qty", "<", "10", True),
		("doc.qty", "<", "2", False),
		("doc.qty", "<=", 3, True),
		("doc.posting_date", "<", "2026-02-01", True),
		("doc.posting_date", ">", "2026-02-01", False),
		("doc.status", "<", 5, False),
		("doc.missing", ">", 0, False),
		("doc.status", "in", "Open,Replied", True),
		("doc.status", "in", ["Closed", "Resolved"], False),
		("doc.qty", "in", '["1", "3"]', True),
		("doc.status", "not_in", "Closed,Resolved", True),
		("doc.status", "not_in", "Open, Replied", False),
		("doc.notes", "empty", None, True),
		("doc.customer", "empty", None, True),
		("doc.missing", "empty", None, True),
		("doc.tags", "empty", None, False),
		("doc.qty", "not_empty", None, True),
		("doc.notes", "not_empty", None, False),
		("doc.tags", "contains", "vip", True),
		("doc.tags", "contains", "copper", False),
		("doc.status", "contains", "pe", True),
		("doc.items.0", "contains", "item_code", True),
		("doc.status", "starts_with", "Op", True),
		("doc.status", "starts_with", "pen", False),
		("doc.status", "ends_with", "en", True),
		("doc.missing", "starts_with", "", False),
		("doc.items.0.qty", "==", 2, True),
		("doc.items.5.qty", "empty", None, True),
	],
)
def test_condition_operators(field, op, value, expected):
	assert evaluate_field_condition(CONTEXT, field, op, value) is expected


def test_there_are_exactly_the_thirteen_seed_operators():
	assert sorted(OPERATORS) == sorted(
		[
			"==",
			"!=",
			"<",
			">",
			"<=",
			">=",
			"in",
			"not_in",
			"empty",
			"not_empty",
			"contains",
			"starts_with",
			"ends_with",
		]
	)


def test_unknown_operator_is_false():
	assert compare("a", "matches", "a") is False


def test_paths_never_reach_python_attributes():
	# A dotted path only follows mapping keys and list indexes.
	assert evaluate_field_condition({"doc": "text"}, "doc.__class__", "not_empty", None) is False
	assert evaluate_field_condition({"doc": {}}, "doc.items", "empty", None) is True
	assert evaluate_field_condition({"doc": {}}, "doc.__class__.__name__", "empty", None) is True


@given(a=st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.text(), st.booleans()))
def test_equality_is_reflexive_and_inequality_its_negation(a):
	for op in OPERATORS:
		assert compare(a, op, a) in (True, False)
	if not (isinstance(a, float) and a != a):
		assert compare(a, "==", a) is True
	assert compare(a, "!=", a) is (not compare(a, "==", a))


@given(st.integers(-(10**6), 10**6), st.integers(-(10**6), 10**6))
def test_numeric_order_matches_python_for_numbers_and_numeric_text(a, b):
	for op, fn in (("<", int.__lt__), (">", int.__gt__), ("<=", int.__le__), (">=", int.__ge__)):
		assert compare(a, op, b) is fn(a, b)
		assert compare(str(a), op, str(b)) is fn(a, b)


# --- JsonLogic ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
	"rule, expected",
	[
		(None, True),
		("", True),
		({}, True),
		({"==": [{"var": "doc.status"}, "Open"]}, True),
		({"==": [{"var": "doc.status"}, "Closed"]}, False),
		('{"==": [{"var": "doc.status"}, "Open"]}', True),
		({">": [{"var": "doc.grand_total"}, 1000]}, True),
		({"and": [{">": [{"var": "doc.qty"}, 1]}, {"in": ["vip", {"var": "doc.tags"}]}]}, True),
		({"or": [{"==": [{"var": "doc.status"}, "Closed"]}, {"!": {"var": "doc.is_signed"}}]}, False),
		({"some": [{"var": "doc.items"}, {">=": [{"var": "qty"}, 2]}]}, True),
		({"all": [{"var": "doc.items"}, {">": [{"var": "qty"}, 5]}]}, False),
		({"in": ["pe", {"var": "doc.status"}]}, True),
		({"==": [{"var": "doc.nothing.deeper"}, None]}, True),
		({"if": [{"var": "doc.is_signed"}, True, False]}, True),
		({"<": [1, {"var": "doc.qty"}, 5]}, True),
		({"missing": ["doc.status", "doc.nope"]}, True),
		({"!!": {"var": "doc.notes"}}, False),
	],
)
def test_jsonlogic_trigger_conditions(rule, expected):
	assert evaluate_jsonlogic(rule, CONTEXT) == (expected, None)


@pytest.mark.parametrize(
	"rule, error",
	[
		({"eval": ["1+1"]}, "unknown JsonLogic operator 'eval'"),
		({"log": ["x"]}, "unknown JsonLogic operator 'log'"),
		({"==": [1, 1], "!=": [1, 2]}, "an operation must have exactly one key, got 2"),
		(
			"{not json",
			"not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
		),
		({"%": [1, 0]}, "ZeroDivisionError: division by zero"),  # the same words on every Python
	],
)
def test_jsonlogic_errors_are_reported_not_raised(rule, error):
	assert evaluate_jsonlogic(rule, CONTEXT) == (False, error)


def test_jsonlogic_accumulator_doubling_is_bounded():
	doubling = {"reduce": [{"var": "items"}, {"cat": [{"var": "accumulator"}, {"var": "accumulator"}]}, "x"]}
	matched, error = evaluate_jsonlogic(doubling, {"items": list(range(60))})
	assert matched is False
	assert error == "ValueError: result longer than 200000"


def test_jsonlogic_structure_limits():
	deep = 1
	for _ in range(40):
		deep = {"!": deep}
	assert [p.message for p in jsonlogic_problems(deep)] == ["rule nested deeper than 32 levels"]
	wide = {"and": [{"==": [1, 1]}] * 700}
	assert [p.message for p in jsonlogic_problems(wide)] == ["rule too large (more than 2000 nodes)"]
	assert jsonlogic_problems({"and": [{"var": "a"}, {"==": [1, 1]}]}) == []


# --- a rule checked once, evaluated on every save (the dispatch index) -----------------------------

SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(["", "Open", "3", "x"]))
FIELDS = st.sampled_from(["doc.status", "doc.qty", "doc.items", "doc.none", "status", "", "doc"])


@st.composite
def jsonlogic_rules(draw, depth=0):
	"""Rules the checker accepts and rules it refuses (unknown operators, two keys, odd values)."""
	if depth > 3 or draw(st.integers(0, 3)) == 0:
		return draw(
			st.one_of(SCALAR, FIELDS.map(lambda f: {"var": f}), FIELDS.map(lambda f: {"var": [f, 0]}))
		)
	op = draw(st.sampled_from(["==", "!=", "<", ">", "and", "or", "!", "in", "missing", "some", "if", "%"]))
	if op == "!":
		return {op: [draw(jsonlogic_rules(depth + 1))]}
	if op == "missing":
		return {op: draw(st.lists(FIELDS, max_size=2))}
	rule = {op: [draw(jsonlogic_rules(depth + 1)) for _ in range(draw(st.integers(1, 3)))]}
	broken = draw(st.integers(0, 9))
	if broken == 0:
		return {"eval": rule[op]}  # unknown operator
	if broken == 1:
		return {**rule, "and": []}  # two keys
	return rule


@settings(max_examples=400, deadline=None)
@given(
	st.one_of(jsonlogic_rules(), jsonlogic_rules().map(json.dumps), st.just("{not json"), st.just("")),
	SCALAR,
	SCALAR,
)
def test_a_rule_checked_once_decides_as_the_rule_evaluated_each_time(rule, status, qty):
	data = {"doc": {"status": status, "qty": qty, "items": [{"qty": qty}, {"qty": 2}]}}
	checked, error = check_jsonlogic(rule)
	if error is None:
		checked = pickle.loads(pickle.dumps(checked))  # the index is kept in Redis
		assert evaluate_checked(checked, data) == evaluate_jsonlogic(rule, data)
	else:
		assert checked is None
		assert evaluate_jsonlogic(rule, data) == (False, error)


def test_a_checked_rule_is_the_parsed_rule():
	assert check_jsonlogic('{"==": [{"var": "doc.status"}, "Open"]}') == (
		{"==": [{"var": "doc.status"}, "Open"]},
		None,
	)
	assert check_jsonlogic("") == (None, None)
	assert evaluate_checked(None, CONTEXT) == (True, None)
	assert check_jsonlogic({"eval": ["1"]}) == (None, "unknown JsonLogic operator 'eval'")


@settings(max_examples=400, deadline=None)
@given(st.lists(jsonlogic_rules(), min_size=1, max_size=2), SCALAR, SCALAR, SCALAR)
def test_rules_decide_the_same_over_the_fields_they_read(rules, status, qty, other):
	doc = {"status": status, "qty": qty, "other": other, "items": [{"qty": qty}], "none": None}
	data = {"doc": doc, "status": other}
	fields = fields_read(rules)
	if fields is None:
		return  # they may read the whole document: it is given whole
	assert fields <= {"status", "qty", "items", "none"}
	restricted = {"doc": {key: value for key, value in doc.items() if key in fields}, "status": other}
	for rule in rules:
		assert evaluate_jsonlogic(rule, restricted) == evaluate_jsonlogic(rule, data)


@pytest.mark.parametrize(
	"rules, fields",
	[
		([{"==": [{"var": "doc.status"}, "Closed"]}], {"status"}),
		([{"var": "doc.items.0.qty"}, {"missing": ["doc.owner"]}], {"items", "owner"}),
		([{"missing_some": [1, ["doc.a", "doc.b"]]}], {"a", "b"}),
		([{"==": [{"var": "customer.name"}, "C"]}, None], set()),
		([{"var": "doc"}], None),
		([{"var": ""}], None),
		([{"var": {"cat": ["doc.", "status"]}}], None),
		([{"some": [{"var": "doc.items"}, {">": [{"var": "qty"}, 1]}]}], {"items"}),
	],
)
def test_the_fields_a_rule_reads(rules, fields):
	assert fields_read(rules) == (frozenset(fields) if fields is not None else None)
