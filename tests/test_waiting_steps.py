"""Steps that wait for a document event (with a timeout) and sub-flows: engine and simulator."""

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flow_engine.runtime import Engine, FlowStateError, load_definition, validate_definition
from flow_engine.runtime.conditions import bind_data, evaluate_jsonlogic
from flow_engine.runtime.kinds.waiting import match_data
from flow_engine.runtime.ports import VirtualClock
from flow_engine.runtime.simulator import RecordingEffects, simulate

START = datetime(2026, 1, 5, 9, 0)


def wait_flow(on_timeout="branch", **payload):
	return {
		"steps": [
			{
				"id": "job",
				"kind": "dispatch_job",
				"payload": {"subject": "Install {{doc.name}}"},
			},
			{
				"id": "done",
				"kind": "wait_for_event",
				"depends_on": ["job"],
				"payload": {
					"doctype": "Dispatch Job",
					"event": "value_change",
					"field": "status",
					"value": "Completed",
					"docname": "{{steps.job.result.name}}",
					"timeout_days": 2,
					"on_timeout": on_timeout,
					**payload,
				},
			},
			{
				"id": "thanks",
				"kind": "notify",
				"parent_id": "done",
				"branch": "event",
				"payload": {
					"channel": "in_app",
					"to": "a@example.com",
					"body": "{{steps.done.result.name}} done",
				},
			},
			{
				"id": "chase",
				"kind": "notify",
				"parent_id": "done",
				"branch": "timeout",
				"payload": {"channel": "in_app", "to": "a@example.com", "body": "late"},
			},
		]
	}


def test_an_event_before_the_timeout_takes_the_event_branch_with_the_document():
	result = simulate(wait_flow(), doc={"doctype": "Contract", "name": "C-1"}, complete=["done"])
	steps = result.as_json()["steps"]
	assert steps["done"] == {"status": "done", "at": 0.0, "attempts": 1, "branch": "event"}
	assert steps["chase"]["status"] == "skipped"
	# the event's document is what later steps read
	thanks = next(e for e in result.effects if e["step"] == "thanks")
	assert thanks["payload"]["body"] == "SIM-DispatchJob-0001 done"
	assert result.run.steps["done"]["result"]["doctype"] == "Dispatch Job"
	assert "wait" not in result.run.steps["done"] and "timeout_at" not in result.run.steps["done"]


def test_without_the_event_the_timeout_branch_runs_at_the_timeout():
	result = simulate(wait_flow(), doc={"doctype": "Contract", "name": "C-1"})
	steps = result.as_json()["steps"]
	assert steps["done"] == {"status": "done", "at": 2 * 86400.0, "attempts": 1, "branch": "timeout"}
	assert steps["chase"] == {"status": "done", "at": 2 * 86400.0, "attempts": 1, "branch": None}
	assert steps["thanks"]["status"] == "skipped"
	waiting = next(e for e in result.events if e["step"] == "done" and e["status"] == "waiting")
	assert waiting["at"] == 0.0 and waiting["trigger_at"] == 2 * 86400.0


def test_a_timeout_that_says_fail_fails_the_run_naming_the_wait():
	result = simulate(wait_flow(on_timeout="fail"), doc={"doctype": "Contract", "name": "C-1"})
	assert result.run.status == "failed"
	assert result.run.error == (
		"step done: timed out: no Dispatch Job value_change matched before 2026-01-07T09:00:00"
	)


def test_a_wait_is_refused_without_a_timeout_or_with_a_templated_doctype():
	flow = wait_flow(timeout_days="", doctype="{{doc.doctype}}", field="")
	assert [str(p) for p in validate_definition(flow)] == [
		"step done: payload.doctype: must be a DocType name, not a template: it decides which saves are watched",
		"step done: payload.field: required for event value_change",
		"step done: payload.timeout_hours: a wait needs a timeout: timeout_hours or timeout_days above 0",
	]
	flow = wait_flow(event="submit", timeout_hours=-1)
	assert [str(p) for p in validate_definition(flow)] == [
		"step done: payload.value: only for event value_change (the value the field becomes)",
		"step done: payload.timeout_hours: must not be negative",
	]


def engine_at(moment):
	clock = VirtualClock(moment)
	return Engine(RecordingEffects(clock), clock), clock


def test_only_the_watching_machinery_completes_a_wait_and_a_stale_timer_is_ignored():
	engine, clock = engine_at(START)
	run, report = engine.start(wait_flow(), name="R", context={"doc": {"doctype": "Contract", "name": "C"}})
	assert report.waiting == ["done"] and report.scheduled == [("done", "2026-01-07T09:00:00")]
	state = run.steps["done"]
	assert state["wait"]["docname"] == "SIM-DispatchJob-0001" and state["wait"]["value"] == "Completed"
	with pytest.raises(FlowStateError, match="waits for Dispatch Job SIM-DispatchJob-0001"):
		engine.complete(run, "done", {"name": "x"})
	# a timer set before this wait (due earlier than its timeout) does not end it
	note = engine.fire(run, "done", force=True, due="2026-01-06T09:00:00").note
	assert note == "step done times out at 2026-01-07T09:00:00"
	assert engine.fire(run, "done").note == "step done times out at 2026-01-07T09:00:00"
	report = engine.complete(
		run, "done", {"doctype": "Dispatch Job", "name": "J", "event": "value_change"}, resume=True
	)
	assert report.unscheduled == ["done"] and report.executed == ["done", "thanks"]
	assert run.steps["done"]["attempts"][0]["started_at"] == "2026-01-05T09:00:00"
	# the timer that fires afterwards finds nothing to do
	clock.advance(3 * 86400)
	assert engine.fire(run, "done", force=True).note == "run is completed"


def test_cancelling_a_run_drops_its_waits():
	engine, _clock = engine_at(START)
	run, _ = engine.start(wait_flow(), name="R")
	assert engine.cancel(run).unscheduled == ["done"]


def test_the_match_rule_is_bound_to_the_run_when_the_wait_starts():
	flow = wait_flow(
		event="submit",
		field="",
		value="",
		docname="",
		doctype="Payment Entry",
		match={"==": [{"var": "doc.party"}, {"var": "run.customer"}]},
	)
	engine, _clock = engine_at(START)
	run, _ = engine.start(
		flow, name="R", context={"doc": {"name": "C"}, "customer": {"name": "CUST-1", "big": "x" * 50}}
	)
	wait = run.steps["done"]["wait"]
	assert wait["bound"] == {"run": {"customer": "CUST-1"}}
	assert evaluate_jsonlogic(wait["match"], {**wait["bound"], "doc": {"party": "CUST-1"}}) == (True, None)
	assert evaluate_jsonlogic(wait["match"], {**wait["bound"], "doc": {"party": "CUST-2"}}) == (False, None)


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["a", "b", ""]))
PATHS = st.sampled_from(
	[
		"doc.x",
		"doc.y",
		"run.customer",
		"run.doc.x",
		"variables.v",
		"steps.s.result.n",
		"customer.name",
		"run.nope",
	]
)


@st.composite
def rules(draw, depth=0):
	if depth > 2 or draw(st.booleans()):
		return draw(st.one_of(SCALARS, PATHS.map(lambda p: {"var": p}), PATHS.map(lambda p: {"var": [p, 0]})))
	op = draw(st.sampled_from(["==", "!=", "<", "and", "or", "!", "in", "missing"]))
	if op == "!":
		return {op: [draw(rules(depth + 1))]}
	if op == "missing":
		return {op: draw(st.lists(PATHS, max_size=2))}
	return {op: [draw(rules(depth + 1)), draw(rules(depth + 1))]}


@settings(max_examples=300, deadline=None)
@given(rules(), SCALARS, SCALARS, SCALARS, SCALARS)
def test_a_bound_rule_decides_as_the_rule_over_the_whole_run(rule, x, y, v, n):
	context = {
		"doc": {"x": x, "name": "D"},
		"customer": {"name": "C", "other": 1},
		"variables": {"v": v, "w": 2},
		"steps": {"s": {"status": "done", "result": {"n": n, "m": 1}}, "t": {"status": "done"}},
		"run": {"name": "R"},
	}
	data = match_data(context)
	event_doc = {"x": y, "y": x}
	bound = bind_data(rule, data)
	assert evaluate_jsonlogic(rule, {**bound, "doc": event_doc}) == evaluate_jsonlogic(
		rule, {**data, "doc": event_doc}
	)


# --- sub-flows --------------------------------------------------------------------------------

CHILD = {
	"steps": [
		{
			"id": "visit",
			"kind": "dispatch_job",
			"payload": {"subject": "Visit {{doc.name}} {{variables.why}}"},
		},
		{
			"id": "later",
			"kind": "wait",
			"depends_on": ["visit"],
			"trigger": {"type": "after_delay", "delay_hours": 3},
		},
	]
}


def parent_flow(wait=True, template="child", **payload):
	return {
		"steps": [
			{
				"id": "sub",
				"kind": "sub_flow",
				"payload": {
					"template": template,
					"variables": {"why": "{{doc.name}}!"},
					"wait": wait,
					**payload,
				},
			},
			{
				"id": "after",
				"kind": "notify",
				"depends_on": ["sub"],
				"payload": {
					"channel": "in_app",
					"to": "a@example.com",
					"body": "{{steps.sub.result.steps.visit.result.name}}",
				},
			},
		]
	}


def test_a_sub_flow_that_is_waited_for_gives_its_steps_to_the_parent():
	result = simulate(parent_flow(), doc={"doctype": "Contract", "name": "C-1"}, templates={"child": CHILD})
	data = result.as_json()
	assert data["status"] == "completed"
	assert data["steps"]["sub"] == {"status": "done", "at": 3 * 3600.0, "attempts": 1, "branch": None}
	assert data["runs"] == {
		"SIM-RUN/sub": {
			"template": "child",
			"parent": {"run": "SIM-RUN", "step": "sub"},
			"status": "completed",
			"steps": {
				"visit": {"status": "done", "at": 0.0, "attempts": 1, "branch": None},
				"later": {"status": "done", "at": 3 * 3600.0, "attempts": 1, "branch": None},
			},
		}
	}
	visit = next(e for e in result.effects if e["step"] == "visit")
	assert visit["run"] == "SIM-RUN/sub" and visit["payload"]["subject"] == "Visit C-1 C-1!"
	after = next(e for e in result.effects if e["step"] == "after")
	assert after["at"] == 3 * 3600.0 and after["payload"]["body"] == "SIM-DispatchJob-0001"
	# the child's steps are in the timeline, after the parent's step that started them
	order = [(e.get("run", "SIM-RUN"), e["step"], e["status"]) for e in result.events]
	assert order.index(("SIM-RUN", "sub", "waiting")) < order.index(("SIM-RUN/sub", "visit", "done"))


def test_a_sub_flow_not_waited_for_lets_the_parent_go_on():
	result = simulate(
		parent_flow(wait=False), doc={"doctype": "Contract", "name": "C-1"}, templates={"child": CHILD}
	)
	assert result.as_json()["steps"]["after"]["at"] == 0.0
	assert result.run.steps["sub"]["result"] == {
		"run": "SIM-RUN/sub",
		"template": "child",
		"status": "running",
	}
	assert result.children["SIM-RUN/sub"]["run"].status == "completed"


def test_a_failed_sub_flow_fails_the_step_under_its_retry_policy():
	flow = parent_flow()
	flow["steps"][0]["retry"] = {"max_attempts": 2, "initial_interval_seconds": 60, "jitter": 0}
	result = simulate(
		flow, doc={"doctype": "Contract", "name": "C-1"}, templates={"child": CHILD}, fail=["visit"]
	)
	assert result.run.status == "failed"
	assert sorted(result.children) == ["SIM-RUN/sub", "SIM-RUN/sub#2"]
	assert result.run.error.startswith("step sub: sub-flow child (run SIM-RUN/sub#2) failed: step visit:")
	assert result.run.steps["sub"]["tries"] == 2


def test_templates_calling_each_other_stop_at_the_depth_limit_naming_the_chain():
	ping = parent_flow(template="pong")
	pong = parent_flow(template="ping")
	result = simulate(ping, templates={"ping": ping, "pong": pong}, template={"name": "ping"}, max_depth=3)
	assert result.run.status == "failed"
	deepest = [c["run"] for c in result.children.values() if c["run"].status == "failed"]
	errors = sorted(run.error for run in deepest)
	assert "step sub: sub-flows call one another more than 3 deep: ping → pong → ping → pong → ping" in errors


def test_an_unknown_sub_flow_template_fails_the_step_at_once():
	result = simulate(parent_flow(template="nope"), templates={})
	assert result.run.error == "step sub: no Flow Template 'nope' to run as a sub-flow"
	assert result.run.steps["sub"]["tries"] == 1


def test_a_sub_flow_names_its_document_whole_or_not_at_all():
	assert [str(p) for p in validate_definition(parent_flow(doctype="Issue"))] == [
		"step sub: payload.docname: give the document's DocType and name together"
	]


def test_a_child_that_ends_at_once_completes_the_step_in_the_same_call():
	engine, _clock = engine_at(START)
	started = []

	def start_sub_flow(template, **kwargs):
		started.append((template, kwargs["lineage"], kwargs["idempotency_key"]))
		return {"run": "C1", "template": template, "status": "completed", "steps": {"x": {"status": "done"}}}

	engine.effects.start_sub_flow = start_sub_flow
	definition = load_definition(parent_flow(template="instant"))
	run, report = engine.start(definition, name="P", context={"template": {"name": "main"}})
	assert report.executed == ["sub", "after"] and run.status == "completed"
	assert started == [("instant", ["main", "instant"], "P:sub")]
	assert run.steps["sub"]["result"]["run"] == "C1"


def test_a_restarted_step_starts_a_new_child_under_a_new_key():
	engine, clock = engine_at(START)
	keys = []

	def start_sub_flow(template, **kwargs):
		keys.append(kwargs["idempotency_key"])
		return {"run": f"C{len(keys)}", "template": template, "status": "running"}

	engine.effects.start_sub_flow = start_sub_flow
	run, _ = engine.start(parent_flow(), name="P")
	assert run.steps["sub"]["wait"] == {"sub_flow": "C1", "template": "child"}
	# news of another run is not this step's child: it keeps waiting
	report = engine.complete(run, "sub", {"child": {"run": "C0", "status": "completed"}}, resume=True)
	assert (
		report.note == "step sub still waits for sub-flow run C1" and run.steps["sub"]["status"] == "waiting"
	)
	engine.complete(
		run, "sub", {"child": {"run": "C1", "status": "cancelled", "template": "child"}}, resume=True
	)
	assert run.status == "failed" and run.error == "step sub: sub-flow child (run C1) was cancelled"
	clock.advance(60)
	engine.retry(run, "sub")
	assert keys == ["P:sub", "P:sub#2"]


# --- pause and resume ---------------------------------------------------------------------------


def test_a_paused_run_holds_its_timers_and_on_resume_fires_the_overdue_ones_once_in_order():
	flow = {
		"steps": [
			{"id": "a", "kind": "wait", "trigger": {"type": "after_delay", "delay_hours": 2}},
			{"id": "b", "kind": "wait", "trigger": {"type": "after_delay", "delay_hours": 1}},
			{"id": "c", "kind": "wait", "trigger": {"type": "after_delay", "delay_hours": 30}},
			*wait_flow()["steps"],
		]
	}
	engine, clock = engine_at(START)
	run, _ = engine.start(flow, name="R", context={"doc": {"doctype": "Contract", "name": "C"}})
	engine.pause(run)
	with pytest.raises(FlowStateError, match="run R is paused, not running"):
		engine.pause(run)
	clock.advance(3 * 86400)
	assert engine.fire(run, "a").note == "run is paused"
	with pytest.raises(FlowStateError, match="run R is paused"):
		engine.complete(run, "done", {}, resume=True)
	assert run.steps["a"]["status"] == "scheduled"
	report = engine.resume(run)
	# b (due at +1h), a (+2h), c (+30h), then the wait's timeout (+2d): each once, in time order
	assert report.executed == ["b", "a", "c", "done", "chase"]
	assert run.status == "completed"
	with pytest.raises(FlowStateError, match="not paused"):
		engine.resume(run)


# --- kind catalogs ------------------------------------------------------------------------------


def test_a_flow_that_names_its_catalog_uses_only_its_kinds():
	from flow_engine.runtime import CatalogSpec
	from flow_engine.runtime.kinds.builtin import builtin_registry

	registry = builtin_registry()
	steps = [
		{"id": "job", "kind": "dispatch_job", "payload": {"subject": "x"}},
		{"id": "note", "kind": "comment", "payload": {"text": "t"}},
	]
	assert [
		str(p) for p in validate_definition({"catalog": "service_delivery", "steps": steps}, registry)
	] == [
		"step note: kind: 'comment' is not in catalog service_delivery (its kinds: dispatch_job, issue, notify, "
		"webhook, erp_update, subscription_activate, wait, condition, switch, wait_for_event, sub_flow)"
	]
	assert validate_definition({"catalog": "default", "steps": steps}, registry) == []
	assert validate_definition({"steps": steps}, registry) == []
	assert [str(p) for p in validate_definition({"catalog": "billing", "steps": []}, registry)] == [
		"flow: catalog: unknown catalog 'billing' (known: default, back_office, service_delivery)"
	]
	# another app's catalog: its kinds, of those installed, in its order
	registry.register_catalog(CatalogSpec("billing", "Billing", ("notify", "not_installed", "wait")))
	assert registry.catalog_kinds("billing") == ["notify", "wait"]
	assert validate_definition({"catalog": "billing", "steps": [steps[0]]}, registry)[0].message.startswith(
		"'dispatch_job' is not in catalog billing"
	)
	with pytest.raises(ValueError, match="must be an identifier other than 'default'"):
		registry.register_catalog(CatalogSpec("default", "Mine", ()))
	assert list(registry.catalogs()) == ["default", "back_office", "billing", "service_delivery"]
