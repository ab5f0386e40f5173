"""Property-based tests of the engine over random valid flow definitions (see strategies.py).

Most properties compare the engine with an independent reference model (`expected_run`): a plain
walk of the DAG in topological order that decides, from the documented semantics alone, each step's
final status, branch and time. Conditions there are evaluated with Python integers, not with the
runtime's operators.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import (
	NOTIFY_TO,
	START,
	docs,
	flaky_registry,
	flow_definitions,
	waiting_step_ids,
)

from flow_engine.runtime import Engine, FlowStateError, Run, load_definition
from flow_engine.runtime import registry as default_registry
from flow_engine.runtime.ports import VirtualClock
from flow_engine.runtime.simulator import SIMULATED_FAILURE, RecordingEffects, simulate

SETTINGS = {
	"deadline": None,
	"suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
RUN_NAME = "PROP-RUN"
# FLOW_PROPERTY_SCALE=10 runs ten times as many examples (a nightly job, a hunt for a rare bug).
SCALE = float(os.environ.get("FLOW_PROPERTY_SCALE") or 1)


def examples(count: int) -> int:
	return max(1, round(count * SCALE))


# --- the reference model --------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
	status: str  # done, skipped, waiting or pending
	at: datetime | None = None
	branch: str | None = None


def topological(steps: dict[str, dict]) -> list[str]:
	order: list[str] = []
	seen: set[str] = set()

	def visit(step_id: str) -> None:
		if step_id in seen:
			return
		seen.add(step_id)
		step = steps[step_id]
		for before in [*step.get("depends_on", []), *([step["parent_id"]] if step.get("parent_id") else [])]:
			visit(before)
		order.append(step_id)

	for step_id in sorted(steps):
		visit(step_id)
	return order


def _operand(value, doc: dict, variables: dict) -> int:
	if isinstance(value, int):
		return value
	if value == "{{doc.n}}":
		return doc["n"]
	if value == "{{variables.x}}":
		return variables["x"]
	return int(value)


def holds(cmp: dict, doc: dict, variables: dict) -> bool:
	"""A comparison as the seed documents it, for the integer data the strategies generate."""
	field = {"doc.n": doc.get("n"), "variables.x": variables.get("x"), "doc.missing": None}[cmp["field"]]
	op = cmp["op"]
	if op == "empty":
		return field is None
	if op == "not_empty":
		return field is not None
	if op in ("in", "not_in"):
		text = cmp["value"]
		options = json.loads(text) if text.startswith("[") else [int(part) for part in text.split(",")]
		found = field is not None and field in options
		return found if op == "in" else not found
	value = _operand(cmp["value"], doc, variables)
	if op == "==":
		return field is not None and field == value
	if op == "!=":
		return not (field is not None and field == value)
	if field is None:
		return False
	return {"<": field < value, ">": field > value, "<=": field <= value, ">=": field >= value}[op]


def chosen_branch(step: dict, doc: dict, variables: dict) -> str | None:
	payload = step.get("payload") or {}
	if step["kind"] == "condition":
		return "yes" if holds(payload, doc, variables) else "no"
	if step["kind"] == "switch":
		for case in payload["cases"]:
			if holds(case, doc, variables):
				return case["branch"]
		return payload.get("default_branch") or "default"
	return None


def trigger_type(step: dict) -> str:
	trigger = step.get("trigger") or {}
	default = "on_prev_complete" if step.get("parent_id") or step.get("depends_on") else "on_flow_start"
	return trigger.get("type") or default


def expected_run(definition: dict, doc: dict, complete: Iterable[str] = ()) -> dict[str, Expected]:
	"""Each step's final state when waiting steps in `complete` are completed as soon as they wait,
	every scheduled step fires at its time and nothing fails.

	- a step under a parent waits for it; it is skipped when the parent is skipped, or when it sits in
	  a branch the parent did not take;
	- join "all": skipped as soon as one dependency is skipped, ready when all are done;
	- join "any": ready when one dependency is done, skipped when all are skipped;
	- a ready step is done at once (instant), after its delay, at its date (or at once if the date has
	  passed), or waits for completion (webhook/manual).
	"""
	steps = {step["id"]: step for step in definition["steps"]}
	variables = definition.get("variables") or {}
	complete = set(complete)
	out: dict[str, Expected] = {}
	for step_id in topological(steps):
		step = steps[step_id]
		parent_id, deps = step.get("parent_id"), step.get("depends_on") or []
		verdict, when = "ready", START
		if parent_id is not None:
			parent = out[parent_id]
			if parent.status == "skipped":
				verdict, when = "skip", parent.at
			elif parent.status != "done":
				verdict = "wait"
			elif step.get("branch") is not None and parent.branch != step["branch"]:
				verdict, when = "skip", parent.at
			else:
				when = parent.at
		if verdict == "ready" and deps:
			done_at = [out[dep].at for dep in deps if out[dep].status == "done"]
			skipped_at = [out[dep].at for dep in deps if out[dep].status == "skipped"]
			if (step.get("join") or "all") == "any":
				if done_at:
					when = max(when, min(done_at))
				elif len(skipped_at) == len(deps):
					verdict, when = "skip", max(when, max(skipped_at))
				else:
					verdict = "wait"
			elif skipped_at:
				verdict, when = "skip", max(when, min(skipped_at))
			elif len(done_at) < len(deps):
				verdict = "wait"
			else:
				when = max(when, max(done_at))
		if verdict == "wait":
			out[step_id] = Expected("pending")
			continue
		if verdict == "skip":
			out[step_id] = Expected("skipped", when)
			continue
		trigger, kind = step.get("trigger") or {}, trigger_type(step)
		if kind in ("on_webhook", "manual") and step_id not in complete:
			out[step_id] = Expected("waiting", when)
			continue
		if kind == "after_delay":
			when += timedelta(hours=trigger.get("delay_hours", 0), days=trigger.get("delay_days", 0))
		elif kind == "on_date":
			when = max(when, datetime.fromisoformat(trigger["at"]))
		out[step_id] = Expected("done", when, chosen_branch(step, doc, variables))
	return out


def blocked_by(definition: dict, failed: str) -> set[str]:
	"""Steps that cannot become ready unless `failed` is done (itself included)."""
	steps = {step["id"]: step for step in definition["steps"]}
	blocked: set[str] = set()
	for step_id in topological(steps):
		step = steps[step_id]
		deps = step.get("depends_on") or []
		needed = [dep in blocked for dep in deps]
		if (
			step_id == failed
			or step.get("parent_id") in blocked
			or (deps and (all(needed) if step.get("join") == "any" else any(needed)))
		):
			blocked.add(step_id)
	return blocked


def max_attempts(definition: dict, step_id: str) -> int:
	step = next(step for step in definition["steps"] if step["id"] == step_id)
	for policy in (step.get("retry"), definition.get("retry")):
		if policy and "max_attempts" in policy:
			return policy["max_attempts"]
	return 3


def offset(moment: datetime | None) -> float | None:
	return None if moment is None else (moment - START).total_seconds()


# --- a hand driver: the simulator's loop, observable call by call ---------------------------------


class Side:
	"""One engine, its clock, effects and run; `roundtrip` reloads the run from JSON before each call."""

	def __init__(self, registry, roundtrip: bool):
		self.clock = VirtualClock(START)
		self.effects = RecordingEffects(self.clock)
		self.engine = Engine(self.effects, self.clock, registry=registry)
		self.roundtrip = roundtrip
		self.run: Run | None = None

	def call(self, op: str, step_id: str | None, definition: dict, doc: dict):
		if op == "start":
			self.run, report = self.engine.start(
				json.loads(json.dumps(definition)), name=RUN_NAME, context={"doc": dict(doc)}
			)
			return report
		if self.roundtrip:
			self.run = Run.from_json(self.run.to_json())
		return getattr(self.engine, op)(self.run, step_id)


@dataclass
class Call:
	op: str
	step: str | None
	at: datetime
	report: dict


class Driver:
	"""Drives one run (or two in lockstep, compared after every call) like `simulate` does:
	complete the waiting steps named in `complete`, else move the clock to the earliest scheduled
	step and fire every due step in the definition's order; on failure, optionally retry."""

	def __init__(self, definition: dict, doc: dict, *, registries=None, twice: bool = False):
		"""One side per registry (default: one side, built-in kinds); sides after the first reload
		the run from JSON before every call. `twice`: fire every scheduled step a second time at its
		time, complete every completed step again, and fire steps that are not yet due: all no-ops."""
		self.definition, self.doc = definition, doc
		registries = registries or [default_registry]
		self.order = load_definition(json.loads(json.dumps(definition)), registries[0]).order
		self.sides = [Side(registry, roundtrip=index > 0) for index, registry in enumerate(registries)]
		self.twice = twice
		self.calls: list[Call] = []
		self.executed: list[str] = []  # every executed step, in execution order across calls
		self.retries: dict[str, int] = {}

	@property
	def run(self) -> Run:
		return self.sides[0].run

	@property
	def now(self) -> datetime:
		return self.sides[0].clock.now()

	def call(self, op: str, step_id: str | None = None):
		reports = [side.call(op, step_id, self.definition, self.doc) for side in self.sides]
		first = reports[0]
		for side, report in zip(self.sides[1:], reports[1:], strict=True):
			assert side.clock.now() == self.now
			# Property 5: the run read back from JSON before the call behaves exactly the same.
			assert report.as_dict() == first.as_dict(), (op, step_id)
			assert side.run.to_dict() == self.run.to_dict(), (op, step_id)
			assert side.effects.actions == self.sides[0].effects.actions, (op, step_id)
		assert json.loads(self.run.to_json()) == self.run.to_dict(), "run state is not plain JSON"
		self.calls.append(Call(op, step_id, self.now, first.as_dict()))
		self.executed.extend(first.executed)
		return first

	def set_clock(self, moment: datetime) -> None:
		for side in self.sides:
			side.clock.set(moment)

	def drive(self, complete: Iterable[str] = (), *, retry_failed: bool = False, limit: int = 5000) -> Run:
		complete = set(complete)
		self.call("start")
		for _ in range(limit):
			run = self.run
			if run.status == "failed" and retry_failed:
				failed = [sid for sid in self.order if run.steps[sid]["status"] == "failed"]
				assert len(failed) == 1, f"fail-fast: one failed step, not {failed}"
				self.retries[failed[0]] = self.retries.get(failed[0], 0) + 1
				self.call("retry", failed[0])
				continue
			if run.status != "running":
				return run
			waiting = [sid for sid in self.order if sid in complete and run.steps[sid]["status"] == "waiting"]
			if waiting:
				for step_id in waiting:
					if self.run.status == "running":
						self._complete(step_id)
				continue
			due = [state["trigger_at"] for state in run.steps.values() if state["status"] == "scheduled"]
			if not due:
				return run
			if self.twice:
				self._fire_early(min(due))
			self.set_clock(datetime.fromisoformat(min(due)))
			now = self.now.isoformat()
			for step_id in self.order:
				state = self.run.steps[step_id]
				if state["status"] == "scheduled" and state["trigger_at"] <= now:
					self._fire(step_id)
		raise AssertionError("the driver did not reach an end")

	def _complete(self, step_id: str) -> None:
		self.call("complete", step_id)
		if not self.twice:
			return
		# Property 2: a step already completed cannot be completed again, and the attempt changes nothing.
		snapshot = json.loads(self.run.to_json())
		actions = len(self.sides[0].effects.actions)
		for side in self.sides:
			with pytest.raises(FlowStateError):
				side.call("complete", step_id, self.definition, self.doc)
		assert json.loads(self.run.to_json()) == snapshot
		assert len(self.sides[0].effects.actions) == actions

	def _fire(self, step_id: str) -> None:
		was_running = self.run.status == "running"
		tries = self.run.steps[step_id].get("tries", 0)
		report = self.call("fire", step_id)
		if not was_running:
			assert not report.changed and report.note == f"run is {self.run.status}", report.as_dict()
			return
		# A due scheduled step is attempted: it runs, or fails an attempt.
		assert self.run.steps[step_id]["tries"] == tries + 1, step_id
		assert report.executed[:1] == [step_id] or step_id in (*report.failed_attempts, *report.failed)
		if not self.twice:
			return
		state = self.run.steps[step_id]
		if state["status"] == "scheduled" and state["trigger_at"] <= self.now.isoformat():
			return  # a failed attempt with no retry delay is due again: a second fire is legitimate
		# Property 2: the same step fired again at its time does nothing.
		snapshot = json.loads(self.run.to_json())
		actions = len(self.sides[0].effects.actions)
		again = self.call("fire", step_id)
		assert not again.changed, again.as_dict()
		assert again.executed == []
		assert json.loads(self.run.to_json()) == snapshot
		assert len(self.sides[0].effects.actions) == actions

	def _fire_early(self, moment: str) -> None:
		"""Firing a scheduled step before its time does nothing."""
		snapshot = json.loads(self.run.to_json())
		for step_id in self.order:
			state = self.run.steps[step_id]
			if state["status"] == "scheduled" and state["trigger_at"] > self.now.isoformat():
				report = self.call("fire", step_id)
				assert not report.changed and report.note == f"step {step_id} is due at {state['trigger_at']}"
		assert json.loads(self.run.to_json()) == snapshot
		assert moment >= self.now.isoformat()  # equal: an attempt failed with no retry delay


def statuses(run: Run) -> dict[str, str]:
	return {sid: state["status"] for sid, state in run.steps.items()}


# --- 1. termination and final status ---------------------------------------------------------------


@settings(max_examples=examples(100), **SETTINGS)
@given(flow_definitions(), docs, st.data())
def test_simulation_terminates_in_the_expected_final_state(definition, doc, data):
	waiting = waiting_step_ids(definition)
	complete = data.draw(st.sets(st.sampled_from(waiting))) if waiting else set()
	result = simulate(definition, doc=doc, complete=complete)
	run = result.run
	expected = expected_run(definition, doc, complete)
	assert run.status in ("running", "completed", "failed")
	assert run.status != "failed"  # nothing fails when nothing is made to fail
	assert statuses(run) == {sid: exp.status for sid, exp in expected.items()}
	# Nothing is left to do: no step is still scheduled; a waiting step not completed holds the run.
	if all(exp.status in ("done", "skipped") for exp in expected.values()):
		assert run.status == "completed" and run.error is None
		assert run.completed_at == max(exp.at for exp in expected.values()).isoformat()
	else:
		assert run.status == "running" and run.completed_at is None
		assert "waiting" in statuses(run).values()


@settings(max_examples=examples(60), **SETTINGS)
@given(flow_definitions(), docs)
def test_completing_every_waiting_step_completes_the_run(definition, doc):
	result = simulate(definition, doc=doc, complete=waiting_step_ids(definition))
	assert result.run.status == "completed"
	assert set(statuses(result.run).values()) <= {"done", "skipped"}


# --- 2. no step executes twice --------------------------------------------------------------------


@settings(max_examples=examples(80), **SETTINGS)
@given(flow_definitions(), docs)
def test_each_step_executes_at_most_once_in_a_simulation(definition, doc):
	result = simulate(definition, doc=doc, complete=waiting_step_ids(definition))
	summary = result.as_json()["steps"]
	for step_id, state in result.run.steps.items():
		assert summary[step_id]["attempts"] == (1 if state["status"] == "done" else 0), step_id
		assert state.get("tries", 0) == summary[step_id]["attempts"]
	executed = [event["step"] for event in result.events if event["status"] == "done"]
	assert sorted(executed) == sorted(sid for sid, s in statuses(result.run).items() if s == "done")
	assert len(executed) == len(set(executed))
	# One effect per side-effecting step that ran, rendered from the run's context.
	kinds = {step["id"]: step for step in definition["steps"]}
	done_notify = sorted(
		sid for sid, s in statuses(result.run).items() if s == "done" and kinds[sid]["kind"] == "notify"
	)
	assert sorted(effect["step"] for effect in result.effects) == done_notify
	x = definition["variables"]["x"]
	for effect in result.effects:
		expected_payload = {"channel": "email", "to": NOTIFY_TO, "body": f"n is {doc['n']}"}
		if "subject" in kinds[effect["step"]]["payload"]:
			expected_payload["subject"] = f"x is {x}"
		assert effect["payload"] == expected_payload
		assert effect["at"] == result.as_json()["steps"][effect["step"]]["at"]
	keys = [action["idempotency_key"] for action in result.actions]
	assert sorted(keys) == [f"SIM-RUN:{sid}" for sid in done_notify]


@settings(max_examples=examples(60), **SETTINGS)
@given(flow_definitions(), docs)
def test_firing_a_scheduled_step_twice_executes_it_once(definition, doc):
	driver = Driver(definition, doc, twice=True)
	run = driver.drive(complete=waiting_step_ids(definition))
	assert run.status == "completed"
	assert len(driver.executed) == len(set(driver.executed))
	assert sorted(driver.executed) == sorted(sid for sid, s in statuses(run).items() if s == "done")
	for state in run.steps.values():
		assert len(state.get("attempts", [])) == (1 if state["status"] == "done" else 0)
	fires = [call for call in driver.calls if call.op == "fire"]
	executed_by_fire = [call.step for call in fires if call.report["executed"][:1] == [call.step]]
	assert len(executed_by_fire) == len(set(executed_by_fire))


def test_firing_twice_by_hand():
	definition = {
		"steps": [
			{"id": "first", "kind": "wait"},
			{
				"id": "later",
				"kind": "notify",
				"depends_on": ["first"],
				"trigger": {"type": "after_delay", "delay_hours": 2},
				"payload": {"channel": "email", "to": NOTIFY_TO, "body": "n is {{doc.n}}"},
			},
		]
	}
	clock = VirtualClock(START)
	effects = RecordingEffects(clock)
	engine = Engine(effects, clock)
	run, report = engine.start(definition, name="R", context={"doc": {"n": 1}})
	assert report.scheduled == [("later", "2026-01-05T11:00:00")]
	early = engine.fire(run, "later")
	assert early.executed == [] and run.steps["later"]["status"] == "scheduled"
	clock.set(datetime(2026, 1, 5, 11))
	assert engine.fire(run, "later").executed == ["later"]
	again = engine.fire(run, "later")
	assert again.executed == [] and not again.changed
	assert run.status == "completed"
	assert len(run.steps["later"]["attempts"]) == 1
	assert [action["idempotency_key"] for action in effects.actions] == ["R:later"]


# --- 3. order and times ---------------------------------------------------------------------------


def check_order(definition: dict, driver: Driver) -> None:
	run = driver.run
	position = {sid: index for index, sid in enumerate(driver.executed)}
	at = {sid: state.get("at") for sid, state in run.steps.items()}
	for step in definition["steps"]:
		sid = step["id"]
		if run.steps[sid]["status"] != "done":
			continue
		parent, deps = step.get("parent_id"), step.get("depends_on") or []
		required = [parent] if parent else []
		if step.get("join") == "any":
			done_deps = [dep for dep in deps if run.steps[dep]["status"] == "done" and dep in position]
			assert any(position[dep] < position[sid] for dep in done_deps), (sid, deps)
		else:
			required += deps
		for before in required:
			assert run.steps[before]["status"] == "done", (sid, before)
			assert position[before] < position[sid], (sid, before)
			assert at[before] <= at[sid], (sid, before)
	# Within one call, report.executed lists the steps in an order that respects the DAG as well.
	for call in driver.calls:
		for index, sid in enumerate(call.report["executed"]):
			step = next(s for s in definition["steps"] if s["id"] == sid)
			later = set(call.report["executed"][index + 1 :])
			assert step.get("parent_id") not in later
			if step.get("join") != "any":
				assert not later & set(step.get("depends_on") or []), (sid, call.report)


@settings(max_examples=examples(90), **SETTINGS)
@given(flow_definitions(), docs, st.data())
def test_execution_respects_dependencies_and_expected_times(definition, doc, data):
	waiting = waiting_step_ids(definition)
	complete = data.draw(st.sets(st.sampled_from(waiting))) if waiting else set()
	driver = Driver(definition, doc)
	run = driver.drive(complete=complete)
	check_order(definition, driver)
	expected = expected_run(definition, doc, complete)
	for sid, exp in expected.items():
		state = run.steps[sid]
		assert state["status"] == exp.status, sid
		if exp.status in ("done", "skipped", "waiting"):
			assert state["at"] == exp.at.isoformat(), (sid, exp)
		assert state.get("branch") == exp.branch, sid
	# The simulator gives the same timeline.
	result = simulate(definition, doc=doc, complete=complete)
	assert result.run.steps == run.steps
	summary = result.as_json()["steps"]
	assert {sid: summary[sid]["at"] for sid in expected} == {
		sid: offset(exp.at) for sid, exp in expected.items()
	}


# --- 4. skipped only under untaken branches -------------------------------------------------------


@settings(max_examples=examples(100), **SETTINGS)
@given(flow_definitions(), docs, st.data())
def test_skipped_exactly_under_untaken_branches(definition, doc, data):
	waiting = waiting_step_ids(definition)
	complete = data.draw(st.sets(st.sampled_from(waiting))) if waiting else set()
	result = simulate(definition, doc=doc, complete=complete)
	run = result.run
	expected = expected_run(definition, doc, complete)
	skipped = {sid for sid, s in statuses(run).items() if s == "skipped"}
	assert skipped == {sid for sid, exp in expected.items() if exp.status == "skipped"}
	for sid, exp in expected.items():
		if exp.status == "done":
			assert run.steps[sid].get("branch") == exp.branch, sid
	# Each skipped step lies below a cut: a step in a branch its (done) parent did not take.
	steps = {step["id"]: step for step in definition["steps"]}
	cuts = {
		sid
		for sid, step in steps.items()
		if step.get("branch") is not None
		and run.steps[step["parent_id"]]["status"] == "done"
		and run.steps[step["parent_id"]].get("branch") != step["branch"]
	}

	def below_a_cut(sid: str, seen: set) -> bool:
		if sid in cuts:
			return True
		if sid in seen:
			return False
		seen.add(sid)
		step = steps[sid]
		above = [*(step.get("depends_on") or []), *([step["parent_id"]] if step.get("parent_id") else [])]
		return any(run.steps[a]["status"] == "skipped" and below_a_cut(a, seen) for a in above)

	for sid in skipped:
		assert below_a_cut(sid, set()), sid
	for sid in cuts:
		assert sid in skipped


# --- 5. a JSON round trip between calls changes nothing -------------------------------------------


@settings(max_examples=examples(70), **SETTINGS)
@given(flow_definitions(flaky=True), docs, st.data())
def test_json_round_trip_between_calls_changes_nothing(definition, doc, data):
	waiting = waiting_step_ids(definition)
	complete = data.draw(st.sets(st.sampled_from(waiting))) if waiting else set()
	# Each side has its own flaky counters, so both see the same failures.
	registries = [flaky_registry()[0], flaky_registry()[0]]
	driver = Driver(definition, doc, registries=registries, twice=data.draw(st.booleans()))
	run = driver.drive(complete=complete, retry_failed=True)
	assert run.status in ("running", "completed")
	assert driver.sides[1].run.to_dict() == run.to_dict()


# --- 6. determinism -------------------------------------------------------------------------------


@settings(max_examples=examples(40), **SETTINGS)
@given(flow_definitions(), docs, st.data())
def test_simulating_twice_gives_the_same_result(definition, doc, data):
	waiting = waiting_step_ids(definition)
	complete = data.draw(st.sets(st.sampled_from(waiting))) if waiting else set()
	steps = [step["id"] for step in definition["steps"]]
	fail = data.draw(st.sets(st.sampled_from(steps), max_size=2))
	first = simulate(definition, doc=doc, complete=complete, fail=fail)
	second = simulate(json.loads(json.dumps(definition)), doc=dict(doc), complete=complete, fail=fail)
	assert first.as_json() == second.as_json()
	assert first.events == second.events
	assert first.actions == second.actions
	assert first.run.to_dict() == second.run.to_dict()


def test_simulate_stops_when_completing_a_waiting_step_fails_the_run():
	"""Two steps wait at the same time; completing the first fails the run (one attempt allowed).
	The simulation should end with the run failed, not raise on completing the second one."""
	definition = {
		"steps": [
			{"id": "a", "kind": "wait", "trigger": {"type": "manual"}, "retry": {"max_attempts": 1}},
			{"id": "b", "kind": "wait", "trigger": {"type": "manual"}},
		]
	}
	result = simulate(definition, complete=["a", "b"], fail=["a"])
	assert result.run.status == "failed"
	assert statuses(result.run) == {"a": "failed", "b": "waiting"}


# --- 7. failure injection -------------------------------------------------------------------------


@settings(max_examples=examples(90), **SETTINGS)
@given(flow_definitions(), docs, st.data())
def test_an_always_failing_step_fails_the_run_after_its_attempts(definition, doc, data):
	waiting = waiting_step_ids(definition)
	expected = expected_run(definition, doc, waiting)
	reachable = sorted(sid for sid, exp in expected.items() if exp.status == "done")
	victim = data.draw(st.sampled_from(reachable))
	result = simulate(definition, doc=doc, complete=waiting, fail=[victim])
	run = result.run
	state = run.steps[victim]
	attempts = max_attempts(definition, victim)
	assert run.status == "failed"
	assert run.error == f"step {victim}: {SIMULATED_FAILURE}"
	assert state["status"] == "failed"
	assert state["tries"] == attempts
	assert [a["outcome"] for a in state["attempts"]] == ["error"] * attempts
	assert [s for s in statuses(run).values() if s == "failed"] == ["failed"]
	failed_at = state["at"]
	blocked = blocked_by(definition, victim)
	for sid, other in run.steps.items():
		if other["status"] == "done":
			assert sid not in blocked, sid
			assert other["at"] <= failed_at, sid  # fail-fast: nothing runs after the failure
			assert expected[sid].status == "done"
		if other["status"] == "skipped":
			assert expected[sid].status == "skipped"
	assert all(effect["step"] not in blocked for effect in result.effects)


# --- 8. Engine.retry after a flaky step -----------------------------------------------------------


@settings(max_examples=examples(70), **SETTINGS)
@given(flow_definitions(flaky=True), docs, st.booleans())
def test_retry_resumes_a_run_failed_by_a_flaky_step(definition, doc, twice):
	registry, failures = flaky_registry()
	waiting = waiting_step_ids(definition)
	driver = Driver(definition, doc, registries=[registry], twice=twice)
	run = driver.drive(complete=waiting, retry_failed=True)
	expected = expected_run(definition, doc, waiting)
	assert run.status == "completed"
	assert statuses(run) == {sid: exp.status for sid, exp in expected.items()}
	steps = {step["id"]: step for step in definition["steps"]}
	per_step_actions: dict[str, int] = {}
	for action in driver.sides[0].effects.actions:
		per_step_actions[action["idempotency_key"]] = per_step_actions.get(action["idempotency_key"], 0) + 1
	assert set(per_step_actions.values()) <= {1}
	for sid, state in run.steps.items():
		step = steps[sid]
		if state["status"] != "done":
			assert "attempts" not in state and driver.retries.get(sid, 0) == 0
			continue
		fail_times = step["payload"]["fail_times"] if step["kind"] == "flaky" else 0
		outcomes = [a["outcome"] for a in state["attempts"]]
		assert outcomes == ["error"] * fail_times + ["done"], sid
		assert driver.retries.get(sid, 0) == fail_times // max_attempts(definition, sid), sid
		assert failures.get(sid, 0) == fail_times
		if step["kind"] == "flaky":
			assert per_step_actions[f"{RUN_NAME}:{sid}"] == 1


def test_retry_refuses_a_step_that_is_not_failed():
	clock = VirtualClock(START)
	engine = Engine(RecordingEffects(clock), clock)
	run, _ = engine.start({"steps": [{"id": "a", "kind": "wait"}]}, name="R")
	with pytest.raises(FlowStateError):
		engine.retry(run, "a")
