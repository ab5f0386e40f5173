"""Hypothesis strategies: random valid flow definitions (DAGs) and the documents they run against.

A definition is built step by step in a random topological order: each step may depend on up to three
earlier steps (join "all" or "any") and may sit under an earlier step (parent_id), in one of its
branches when that step is a condition or a switch. Kinds are wait, condition, switch and notify
(plus `flaky`, a test kind that fails a given number of times, when asked for). Conditions compare
`doc.n`, `variables.x` or a missing field with small integers, so branches go both ways. The steps
are then listed in a shuffled order: the flow language does not require a topological listing.

Every definition drawn passes `load_definition` (checked here, so a strategy bug shows at once).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import cache

from hypothesis import strategies as st

from flow_engine.runtime import load_definition
from flow_engine.runtime.errors import StepError
from flow_engine.runtime.kinds.builtin import BUILTIN_KINDS
from flow_engine.runtime.kinds.registry import FieldSpec, KindRegistry, KindSpec, StepCall, StepOutcome

START = datetime(2026, 1, 5, 9, 0, 0)  # the simulator's default start
BASE_KINDS = ("wait", "condition", "switch", "notify")
CONDITION_FIELDS = ("doc.n", "variables.x", "doc.missing")
COMPARE_OPS = ("==", "!=", "<", ">", "<=", ">=")
LIST_OPS = ("in", "not_in")
UNARY_OPS = ("empty", "not_empty")
SWITCH_LABELS = ("a", "b", "c", "d")
TEMPLATE_VALUES = ("{{doc.n}}", "{{variables.x}}")
WAITING_TRIGGERS = ("on_webhook", "manual")
NOTIFY_TO = "a@example.com"
NOTIFY_BODY = "n is {{doc.n}}"
NOTIFY_SUBJECT = "x is {{variables.x}}"

small_ints = st.integers(-3, 3)


# --- the flaky test kind --------------------------------------------------------------------------


def flaky_registry() -> tuple[KindRegistry, dict[str, int]]:
	"""The built-in kinds plus `flaky`: a step that sends one email, then fails its first
	`payload.fail_times` attempts (counted across Engine.retry), then succeeds.

	Returns the registry and its failure counter (step id -> failures so far).
	"""
	failures: dict[str, int] = {}

	def run_flaky(call: StepCall) -> StepOutcome:
		call.effects.send_email(
			["flaky@example.com"],
			"flaky",
			f"attempt {call.attempt} of {call.step.id}",
			idempotency_key=call.idempotency_key,
			template=None,
			reference=call.reference,
		)
		seen = failures.get(call.step.id, 0)
		if seen < int(call.payload.get("fail_times") or 0):
			failures[call.step.id] = seen + 1
			raise StepError(f"flaky failure {seen + 1}")
		return StepOutcome(result={"failures": seen})

	spec = KindSpec(
		"flaky",
		"Flaky",
		"bug_report",
		"#000000",
		run_flaky,
		fields=(FieldSpec("fail_times", "int", "Failures before success", default=0),),
		side_effect=True,
	)
	return KindRegistry((*BUILTIN_KINDS, spec)), failures


FLAKY_VALIDATION_REGISTRY = flaky_registry()[0]


# --- pieces of a step -----------------------------------------------------------------------------


@st.composite
def comparisons(draw) -> dict:
	"""`{"field", "op", "value"}` of a condition step or a switch case."""
	field = draw(st.sampled_from(CONDITION_FIELDS))
	kind = draw(st.sampled_from(("compare", "list", "unary")))
	if kind == "unary":
		op = draw(st.sampled_from(UNARY_OPS))
		cmp = {"field": field, "op": op}
		if draw(st.booleans()):
			cmp["value"] = ""
		return cmp
	if kind == "list":
		op = draw(st.sampled_from(LIST_OPS))
		options = draw(st.lists(small_ints, min_size=1, max_size=3))
		text = draw(st.sampled_from((",".join(str(o) for o in options), json.dumps(options))))
		return {"field": field, "op": op, "value": text}
	op = draw(st.sampled_from(COMPARE_OPS))
	value = draw(st.one_of(small_ints, small_ints.map(str), st.sampled_from(TEMPLATE_VALUES)))
	return {"field": field, "op": op, "value": value}


COMPARISONS = comparisons()


@st.composite
def switch_payloads(draw) -> dict:
	labels = draw(st.lists(st.sampled_from(SWITCH_LABELS), unique=True, min_size=1, max_size=3))
	cases = [{"branch": label, **draw(COMPARISONS)} for label in labels]
	payload = {"cases": cases}
	default = draw(st.sampled_from((None, "other", "default")))
	if default is not None:
		payload["default_branch"] = default
	return payload


SWITCH_PAYLOADS = switch_payloads()


def branch_labels(step: dict) -> list[str]:
	"""The branches of a generated step (empty for kinds without branches)."""
	if step["kind"] == "condition":
		return ["yes", "no"]
	if step["kind"] == "switch":
		payload = step["payload"]
		return [case["branch"] for case in payload["cases"]] + [payload.get("default_branch") or "default"]
	return []


@st.composite
def payloads(draw, kind: str) -> dict | None:
	if kind == "wait":
		return draw(st.sampled_from((None, {})))
	if kind == "condition":
		return draw(COMPARISONS)
	if kind == "switch":
		return draw(SWITCH_PAYLOADS)
	if kind == "notify":
		payload = {"channel": "email", "to": NOTIFY_TO, "body": NOTIFY_BODY}
		if draw(st.booleans()):
			payload["subject"] = NOTIFY_SUBJECT
		return payload
	if kind == "flaky":
		return {"fail_times": draw(st.integers(0, 4))}
	raise AssertionError(kind)


PAYLOADS = {kind: payloads(kind) for kind in (*BASE_KINDS, "flaky")}


@st.composite
def step_triggers(draw) -> dict | None:
	"""None (the default), an instant trigger, a delay, a date, or a waiting trigger."""
	choice = draw(
		st.sampled_from(("default", "instant", "after_delay", "on_date", "on_webhook", "manual", "default"))
	)
	if choice == "default":
		return None
	if choice == "instant":
		return {"type": draw(st.sampled_from(("on_prev_complete", "on_flow_start")))}
	if choice == "after_delay":
		trigger = {"type": "after_delay"}
		unit = draw(st.sampled_from(("hours", "days", "both")))
		if unit in ("hours", "both"):
			trigger["delay_hours"] = draw(st.integers(1, 48))
		if unit in ("days", "both"):
			trigger["delay_days"] = draw(st.integers(1, 30))
		return trigger
	if choice == "on_date":
		if draw(st.booleans()):
			moment = START + timedelta(minutes=draw(st.integers(1, 60 * 24 * 40)))
			return {"type": "on_date", "at": moment.isoformat()}
		day = START.date() + timedelta(days=draw(st.integers(1, 40)))
		return {"type": "on_date", "at": day.isoformat()}  # a date alone: midnight
	return {"type": choice}


STEP_TRIGGERS = step_triggers()
retry_policies = st.fixed_dictionaries(
	{},
	optional={
		"max_attempts": st.integers(1, 5),
		"initial_interval_seconds": st.one_of(st.just(0), st.integers(1, 600)),
		"backoff_factor": st.integers(1, 3),
		"jitter": st.sampled_from((0, 0.1, 0.5)),
	},
)


# --- whole definitions ----------------------------------------------------------------------------


@cache
def _earlier(position: int) -> st.SearchStrategy[int]:
	return st.integers(0, position - 1)


@cache
def _dependencies(position: int) -> st.SearchStrategy[list[int]]:
	return st.lists(_earlier(position), unique=True, min_size=1, max_size=3)


@st.composite
def flow_definitions(draw, min_steps: int = 1, max_steps: int = 40, flaky: bool = False) -> dict:
	"""A valid flow definition (a dict) whose steps form a DAG over parent_id and depends_on."""
	kinds = (*BASE_KINDS, "flaky") if flaky else BASE_KINDS
	count = draw(st.integers(min_steps, max_steps))
	numbers = draw(st.permutations(range(count)))
	ids = [f"step_{number}" for number in numbers]  # ids whose sort order is not the DAG's order
	steps: list[dict] = []
	for position, step_id in enumerate(ids):
		kind = draw(st.sampled_from(kinds))
		step: dict = {"id": step_id, "kind": kind}
		earlier = ids[:position]
		if earlier and draw(st.booleans()):
			step["depends_on"] = [ids[index] for index in draw(_dependencies(position))]
			join = draw(st.sampled_from((None, "any", "all")))
			if join is not None:
				step["join"] = join
		if earlier and draw(st.booleans()):
			parent = steps[draw(_earlier(position))]
			step["parent_id"] = parent["id"]
			labels = branch_labels(parent)
			if labels and draw(st.integers(0, 3)):
				step["branch"] = draw(st.sampled_from(labels))
		payload = draw(PAYLOADS[kind])
		if payload is not None:
			step["payload"] = payload
		trigger = draw(STEP_TRIGGERS)
		if trigger is not None:
			step["trigger"] = trigger
		if draw(st.integers(0, 3)) == 0:
			step["retry"] = draw(retry_policies)
		if draw(st.integers(0, 4)) == 0:
			step["label"] = f"Step {position}"
		steps.append(step)
	definition = {
		"version": 1,
		"trigger": {"event": "manual"},
		"variables": {"x": draw(small_ints)},
		"steps": draw(st.permutations(steps)),
	}
	if draw(st.integers(0, 3)) == 0:
		definition["retry"] = {"max_attempts": draw(st.integers(1, 4))}
	# The strategy only makes valid flows: a DefinitionError here is a strategy (or validator) bug.
	load_definition(json.loads(json.dumps(definition)), FLAKY_VALIDATION_REGISTRY if flaky else None)
	return definition


docs = st.fixed_dictionaries({"n": small_ints})


def waiting_step_ids(definition: dict) -> list[str]:
	return [
		step["id"]
		for step in definition["steps"]
		if (step.get("trigger") or {}).get("type") in WAITING_TRIGGERS
	]
