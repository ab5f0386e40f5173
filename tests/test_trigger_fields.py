"""A template's trigger fields and its definition's trigger: one source of truth, never overwritten."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from flow_engine.runtime.trigger_fields import TRIGGER_FIELDS, _comparable, sync_trigger

IN_LIST = {"in": [{"var": "doc.priority"}, ["High", "Low"]]}
HIGH = {"==": [{"var": "doc.priority"}, "High"]}


# every trigger field, unset: the fields a test does not name come back as None
UNSET = {name: None for _key, name, _label in TRIGGER_FIELDS}


def fields(**values):
	return {name: values.get(key) for key, name, _label in TRIGGER_FIELDS}


def test_a_condition_given_only_in_the_definition_fills_the_field():
	synced = sync_trigger(fields(), {"event": "on_issue_opened", "condition": IN_LIST})
	assert synced.problems == []
	assert synced.trigger == {"event": "on_issue_opened", "condition": IN_LIST}
	assert synced.fields == UNSET | {
		"trigger_event": "on_issue_opened",
		"trigger_condition": json.dumps(IN_LIST),
		"trigger_doctype": None,
		"trigger_field": None,
	}


def test_values_given_only_in_the_fields_fill_the_definition():
	text = '{"==": [{"var": "doc.status"}, "Open"]}'
	synced = sync_trigger(
		fields(event="on_value_change", condition=text, doctype="ToDo", field="status"), {"condition": ""}
	)
	assert synced.problems == []
	assert synced.trigger == {
		"event": "on_value_change",
		"condition": {"==": [{"var": "doc.status"}, "Open"]},
		"doctype": "ToDo",
		"field": "status",
	}
	assert synced.fields["trigger_condition"] == text  # stored as sent


def test_the_same_value_in_both_places_is_kept_as_sent():
	text = '{ "in" : [ {"var":"doc.priority"}, ["High","Low"] ] }'
	synced = sync_trigger(fields(event="on_issue_opened", condition=text), {"condition": IN_LIST})
	assert synced.problems == []
	assert synced.fields["trigger_condition"] == text
	assert synced.trigger["condition"] == IN_LIST


def test_different_values_are_refused_naming_both():
	synced = sync_trigger(
		fields(event="on_issue_opened", condition=json.dumps(HIGH)),
		{"event": "on_contract_signed", "condition": IN_LIST},
	)
	assert [str(problem) for problem in synced.problems] == [
		"flow: trigger.event: the definition says 'on_contract_signed' but Trigger Event says "
		"'on_issue_opened': give the same value in both, or in one place only",
		"flow: trigger.condition: the definition says "
		'\'{"in": [{"var": "doc.priority"}, ["High", "Low"]]}\' but Trigger Condition says '
		'\'{"==": [{"var": "doc.priority"}, "High"]}\': give the same value in both, or in one place only',
	]


def test_no_event_anywhere_is_manual_in_both():
	synced = sync_trigger(fields(), None)
	assert synced.problems == []
	assert synced.trigger == {"event": "manual"}
	assert synced.fields["trigger_event"] == "manual"


def test_a_trigger_that_is_not_an_object_is_left_for_validation():
	synced = sync_trigger(fields(event="on_issue_opened"), ["not", "an", "object"])
	assert synced.trigger == ["not", "an", "object"] and synced.problems == []


def stored(event="on_issue_opened", condition=None, doctype=None, field=None):
	"""A synced template as saved: (fields, trigger)."""
	return sync_trigger(fields(event=event, condition=condition, doctype=doctype, field=field), {})


def test_on_update_an_edited_field_wins_over_the_unchanged_definition():
	before = stored(condition=json.dumps(HIGH))
	synced = sync_trigger(
		{**before.fields, "trigger_condition": json.dumps(IN_LIST)},
		before.trigger,
		before.fields,
		before.trigger,
	)
	assert synced.problems == []
	assert synced.trigger["condition"] == IN_LIST


def test_on_update_an_edited_definition_wins_over_the_unchanged_field():
	before = stored(condition=json.dumps(HIGH))
	synced = sync_trigger(
		before.fields, {**before.trigger, "event": "on_customer_created"}, before.fields, before.trigger
	)
	assert synced.problems == []
	assert synced.fields["trigger_event"] == "on_customer_created"
	assert synced.fields["trigger_condition"] == json.dumps(HIGH)


def test_on_update_both_edited_to_different_values_is_refused():
	before = stored(condition=json.dumps(HIGH))
	synced = sync_trigger(
		{**before.fields, "trigger_event": "on_quotation_created"},
		{**before.trigger, "event": "on_customer_created"},
		before.fields,
		before.trigger,
	)
	assert [problem.field for problem in synced.problems] == ["trigger.event"]


def test_on_update_a_cleared_field_clears_the_definition_and_an_absent_one_fills_it():
	before = stored(condition=json.dumps(HIGH))
	cleared = sync_trigger(
		{**before.fields, "trigger_condition": ""}, before.trigger, before.fields, before.trigger
	)
	assert cleared.problems == [] and "condition" not in cleared.trigger
	# a definition sent without its trigger (steps only) keeps the trigger of the fields
	refilled = sync_trigger(before.fields, None, before.fields, before.trigger)
	assert refilled.problems == [] and refilled.trigger == before.trigger


# --- properties -----------------------------------------------------------------------------------

EVENTS = st.sampled_from([None, "", "manual", "on_issue_opened", "on_value_change", "on_insert"])
CONDITIONS = st.sampled_from([None, "", HIGH, IN_LIST, {"!": [{"var": "doc.disabled"}]}])
DOCTYPES = st.sampled_from([None, "", "Issue", "ToDo"])
FIELD_NAMES = st.sampled_from([None, "", "status", "priority"])
# a Float or Check field holds 0 (or "0") when nobody filled it
OFFSETS = st.sampled_from([None, "", 0, 0.0, "0", 3, 3.0, -3, "-3", 1.5])
UNITS = st.sampled_from([None, "", "days", "hours", "minutes"])
START_PAST = st.sampled_from([None, 0, 1, True, False])
SCHEDULES = st.sampled_from([None, "", "0 8 * * 1", "*/5 * * * *"])
FILTERS = st.sampled_from([None, "", [["status", "=", "Overdue"]], {"status": "Overdue"}])


@st.composite
def sides(draw):
	"""Random field values (conditions as JSON text, spaced or not) and definition values."""
	values = {
		"event": (draw(EVENTS), draw(EVENTS)),
		"condition": (draw(CONDITIONS), draw(CONDITIONS)),
		"doctype": (draw(DOCTYPES), draw(DOCTYPES)),
		"field": (draw(FIELD_NAMES), draw(FIELD_NAMES)),
		"offset": (draw(OFFSETS), draw(OFFSETS)),
		"offset_unit": (draw(UNITS), draw(UNITS)),
		"start_past": (draw(START_PAST), draw(START_PAST)),
		"schedule": (draw(SCHEDULES), draw(SCHEDULES)),
		"filters": (draw(FILTERS), draw(FILTERS)),
	}
	indent = draw(st.sampled_from([None, 2]))
	field_values, trigger = {}, {}
	for key, name, _label in TRIGGER_FIELDS:
		in_field, in_definition = values[key]
		if key in ("condition", "filters") and isinstance(in_field, dict | list):
			in_field = json.dumps(in_field, indent=indent)
		field_values[name] = in_field
		if in_definition is not None or draw(st.booleans()):
			trigger[key] = in_definition
	return field_values, trigger


def given_value(value, key: str = "") -> bool:
	return _comparable(value, key) is not None


@settings(max_examples=400, deadline=None)
@given(sides())
def test_a_new_template_keeps_every_value_given_and_both_sides_agree(case):
	field_values, trigger = case
	synced = sync_trigger(field_values, trigger)
	disagreements = {
		f"trigger.{key}"
		for key, name, _label in TRIGGER_FIELDS
		if given_value(field_values[name], key)
		and given_value(trigger.get(key), key)
		and _comparable(field_values[name], key) != _comparable(trigger.get(key), key)
	}
	assert {problem.field for problem in synced.problems} == disagreements
	if disagreements:
		return
	for key, name, _label in TRIGGER_FIELDS:
		# the two sides agree, as data
		assert _comparable(synced.fields[name], key) == _comparable(synced.trigger.get(key), key)
		# what was given is what is stored, on the side it was given on
		if given_value(field_values[name], key):
			assert synced.fields[name] == field_values[name]
		if given_value(trigger.get(key), key):
			assert synced.trigger[key] == trigger[key]
	# saving again what was stored changes nothing
	again = sync_trigger(synced.fields, synced.trigger, synced.fields, synced.trigger)
	assert (again.problems, again.fields, again.trigger) == ([], synced.fields, synced.trigger)


@settings(max_examples=400, deadline=None)
@given(sides(), sides(), st.sampled_from(["fields", "definition"]))
def test_on_update_the_side_that_was_edited_wins(start, edit, edited_side):
	before = sync_trigger(*start)
	if before.problems:
		return
	new_fields, new_trigger = dict(before.fields), dict(before.trigger)
	if edited_side == "fields":
		new_fields = edit[0]
	else:
		new_trigger = {key: value for key, value in edit[1].items() if given_value(value, key)}
	synced = sync_trigger(new_fields, new_trigger, before.fields, before.trigger)
	assert synced.problems == []
	for key, name, _label in TRIGGER_FIELDS:
		assert _comparable(synced.fields[name], key) == _comparable(synced.trigger.get(key), key)
		if edited_side == "fields" and given_value(new_fields[name], key):
			assert synced.fields[name] == new_fields[name]
		if edited_side == "definition" and key in new_trigger:
			assert synced.trigger[key] == new_trigger[key]
