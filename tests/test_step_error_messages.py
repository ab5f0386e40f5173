"""A step's error keeps its message template and arguments, so a reader sees it in their language.

(Templates here are made with `Template`, not `_`, so that Frappe's string extractor does not put
these test texts in the app's catalog.)"""

import json
from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from flow_engine.runtime import Engine, KindSpec, StepError, StepOutcome, builtin_registry
from flow_engine.runtime.i18n import Message, Template, message_data, message_from_data
from flow_engine.runtime.limits import MAX_ERROR_LENGTH
from flow_engine.runtime.ports import VirtualClock
from flow_engine.runtime.simulator import RecordingEffects

START = datetime(2026, 1, 5, 9, 0, 0)

words = st.text(st.characters(blacklist_characters="{}", blacklist_categories=("Cs",)), max_size=12)
plain_args = st.one_of(words, st.integers(), st.booleans(), st.none())


@st.composite
def messages(draw, depth=2):
	"""A template of literal words and `{n}` / `{n!r}` slots, with arguments (some of them
	messages themselves)."""
	count = draw(st.integers(0, 3))
	parts = [draw(words)]
	for n in range(count):
		parts.append("{" + str(n) + draw(st.sampled_from(["", "!r"])) + "}")
		parts.append(draw(words))
	args = [draw(messages(depth - 1) if depth and draw(st.booleans()) else plain_args) for _n in range(count)]
	return Template("".join(parts)).format(*args)


@given(messages())
def test_a_stored_message_comes_back_as_the_same_text_template_and_arguments(message):
	stored = json.loads(json.dumps(message_data(message)))
	again = message_from_data(stored)
	assert isinstance(again, Message)
	assert str(again) == str(message)
	assert again.template == message.template
	assert message_data(again) == stored


@given(
	st.recursive(
		st.none() | st.booleans() | st.integers() | st.text(),
		lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
	)
)
def test_anything_else_stored_gives_no_message_and_never_raises(data):
	again = message_from_data(data)
	assert again is None or (isinstance(again, Message) and isinstance(data, dict))


def test_a_template_that_no_longer_fits_its_arguments_gives_none():
	assert message_from_data({"text": "step {0} and {1}", "args": ["a"]}) is None
	assert message_from_data({"text": "step {0} and {name}", "args": ["a"]}) is None
	assert message_from_data({"text": "ok", "args": "a"}) is None
	assert message_from_data({"text": 3, "args": []}) is None


def test_plain_text_has_no_message_to_store():
	assert message_data("payload.to rendered to no recipient") is None
	assert message_data(Template("payload.to rendered to no recipient")) == {
		"text": "payload.to rendered to no recipient",
		"args": [],
	}


def engine_with(handler):
	registry = builtin_registry()
	registry.register(KindSpec("probe", "Probe", "x", "#000", handler, side_effect=True))
	clock = VirtualClock(START)
	return Engine(RecordingEffects(clock), clock, registry=registry), clock


def flow(kind="probe"):
	return {"version": 1, "steps": [{"id": "a", "kind": kind}]}


def test_a_failed_attempt_keeps_the_message_beside_its_english_text_and_a_success_drops_both():
	tries = []

	def handler(call):
		tries.append(call.attempt)
		if call.attempt == 1:
			raise StepError(Template("{0} {1} does not exist").format("Customer", "C-1"))
		return StepOutcome(result={})

	engine, clock = engine_with(handler)
	run, _report = engine.start(flow(), name="R1")
	state = run.steps["a"]
	stored = {"text": "{0} {1} does not exist", "args": ["Customer", "C-1"]}
	assert state["status"] == "scheduled"
	assert state["error"] == "Customer C-1 does not exist"
	assert state["error_message"] == stored
	assert state["attempts"][0]["error"] == "Customer C-1 does not exist"
	assert state["attempts"][0]["error_message"] == stored
	assert json.loads(run.to_json())["steps"]["a"]["error_message"] == stored
	clock.advance(3600)
	engine.fire(run, "a")
	state = run.steps["a"]
	assert tries == [1, 2] and state["status"] == "done"
	assert "error" not in state and "error_message" not in state
	assert state["attempts"][0]["error_message"] == stored  # the history keeps what happened


def test_an_error_not_made_to_be_translated_and_an_overlong_one_keep_only_their_text():
	def crash(call):
		raise KeyError("oops")

	engine, _clock = engine_with(crash)
	run, _report = engine.start(flow(), name="R1")
	assert run.steps["a"]["error"] == "KeyError: 'oops'"
	assert "error_message" not in run.steps["a"]
	assert "error_message" not in run.steps["a"]["attempts"][0]

	def long_error(call):
		raise StepError(Template("too long: {0}").format("x" * MAX_ERROR_LENGTH), retryable=False)

	engine, _clock = engine_with(long_error)
	run, _report = engine.start(flow(), name="R2")
	assert run.steps["a"]["status"] == "failed"
	assert run.steps["a"]["error"] == ("too long: " + "x" * MAX_ERROR_LENGTH)[:MAX_ERROR_LENGTH]
	assert "error_message" not in run.steps["a"]


def test_a_builtin_kind_and_the_engine_itself_make_translatable_errors():
	engine = Engine(RecordingEffects(VirtualClock(START)), VirtualClock(START), registry=builtin_registry())
	notify = {"channel": "email", "to": "{{customer.email_id}}", "subject": "Hi", "body": "Hello"}
	run, _report = engine.start(
		{"version": 1, "steps": [{"id": "a", "kind": "notify", "payload": notify}]}, name="R1"
	)
	assert run.steps["a"]["error_message"] == {"text": "payload.to rendered to no recipient", "args": []}
	dated = {"id": "a", "kind": "wait", "trigger": {"type": "on_date", "at": "{{doc.nothing}}"}}
	run, _report = engine.start({"version": 1, "steps": [dated]}, name="R2")
	assert run.steps["a"]["error_message"] == {
		"text": "trigger.at rendered to {0!r}, not a date",
		"args": [""],
	}
	assert run.steps["a"]["error"] == "trigger.at rendered to '', not a date"
