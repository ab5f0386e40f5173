import json
from datetime import datetime, timedelta

import pytest

from flow_engine.runtime import (
	Engine,
	FieldSpec,
	FlowStateError,
	KindSpec,
	RetryPolicy,
	Run,
	StepError,
	StepOutcome,
	StoreConflict,
	builtin_registry,
	idempotency_key,
	load_definition,
	validate_definition,
)
from flow_engine.runtime.ports import VirtualClock
from flow_engine.runtime.simulator import RecordingEffects

START = datetime(2026, 1, 5, 9, 0, 0)


class Probe:
	"""A kind whose handler records its calls and fails the first `failures[step]` attempts."""

	def __init__(self, failures=None, retryable=True):
		self.calls = []
		self.failures = dict(failures or {})
		self.retryable = retryable

	def handler(self, call):
		self.calls.append((call.step.id, call.attempt, call.idempotency_key, dict(call.payload)))
		if self.failures.get(call.step.id, 0) >= call.attempt:
			raise StepError(f"boom {call.attempt}", retryable=self.retryable)
		return StepOutcome(result={"echo": call.payload.get("text", "")})


def make_engine(probe=None, start=START):
	registry = builtin_registry()
	probe = probe or Probe()
	registry.register(
		KindSpec(
			"probe",
			"Probe",
			"bug_report",
			"#000",
			probe.handler,
			fields=(FieldSpec("text", "data", "Text"),),
			side_effect=True,
		)
	)
	clock = VirtualClock(start)
	return Engine(RecordingEffects(clock), clock, registry=registry), clock, probe


def flow(*steps, **extra):
	return {"version": 1, "steps": list(steps), **extra}


def step(step_id, kind="probe", **fields):
	return {"id": step_id, "kind": kind, **fields}


def statuses(run):
	return {sid: state["status"] for sid, state in run.steps.items()}


def test_a_chain_of_instant_steps_runs_in_one_advance_in_order():
	engine, _clock, probe = make_engine()
	run, report = engine.start(
		flow(step("a"), step("b", depends_on=["a"]), step("c", depends_on=["b"])), name="R1"
	)
	assert report.executed == ["a", "b", "c"]
	assert [call[0] for call in probe.calls] == ["a", "b", "c"]
	assert run.status == "completed"
	assert run.completed_at == "2026-01-05T09:00:00"


def test_untaken_branch_is_skipped_with_all_its_descendants():
	engine, _clock, _probe = make_engine()
	definition = flow(
		step("check", "condition", payload={"field": "doc.total", "op": ">", "value": "100"}),
		step("big", parent_id="check", branch="yes"),
		step("small", parent_id="check", branch="no"),
		step("after_small", depends_on=["small"]),
		step("child_of_small", parent_id="small"),
		step("either", depends_on=["big", "small"], join="any"),
		step("both", depends_on=["big", "small"]),
	)
	run, report = engine.start(definition, name="R1", context={"doc": {"total": 250}})
	assert statuses(run) == {
		"check": "done",
		"big": "done",
		"small": "skipped",
		"after_small": "skipped",
		"child_of_small": "skipped",
		"either": "done",
		"both": "skipped",
	}
	assert run.steps["check"]["branch"] == "yes"
	assert run.status == "completed"
	assert sorted(report.skipped) == ["after_small", "both", "child_of_small", "small"]


def test_join_any_is_skipped_only_when_every_dependency_is_skipped():
	engine, _clock, _probe = make_engine()
	definition = flow(
		step("check", "condition", payload={"field": "doc.total", "op": ">", "value": "100"}),
		step("big", parent_id="check", branch="yes"),
		step("bigger", parent_id="check", branch="yes"),
		step("either", depends_on=["big", "bigger"], join="any"),
	)
	run, _report = engine.start(definition, name="R1", context={"doc": {"total": 5}})
	assert statuses(run) == {"check": "done", "big": "skipped", "bigger": "skipped", "either": "skipped"}
	assert run.status == "completed"


def test_switch_takes_the_first_matching_case_else_the_default():
	definition = flow(
		step(
			"route",
			"switch",
			payload={
				"cases": [
					{"branch": "urgent", "field": "doc.priority", "op": "in", "value": "High,Urgent"},
					{"branch": "normal", "field": "doc.priority", "op": "==", "value": "Medium"},
				],
				"default_branch": "low",
			},
		),
		step("u", parent_id="route", branch="urgent"),
		step("n", parent_id="route", branch="normal"),
		step("l", parent_id="route", branch="low"),
	)
	for priority, taken in (("Urgent", "u"), ("Medium", "n"), ("Low", "l"), (None, "l")):
		engine, _clock, _probe = make_engine()
		run, _ = engine.start(definition, name="R", context={"doc": {"priority": priority}})
		assert [sid for sid in ("u", "n", "l") if run.steps[sid]["status"] == "done"] == [taken]


def test_delays_schedule_and_fire_at_their_time():
	engine, clock, probe = make_engine()
	definition = flow(
		step("a"),
		step("later", depends_on=["a"], trigger={"type": "after_delay", "delay_hours": 2, "delay_days": 1}),
		step("end", depends_on=["later"]),
	)
	run, report = engine.start(definition, name="R1")
	assert report.scheduled == [("later", "2026-01-06T11:00:00")]
	assert statuses(run) == {"a": "done", "later": "scheduled", "end": "pending"}
	# too early: nothing happens
	clock.set(datetime(2026, 1, 6, 10, 59, 59))
	early = engine.fire(run, "later")
	assert early.executed == [] and early.note == "step later is due at 2026-01-06T11:00:00"
	clock.set(datetime(2026, 1, 6, 11, 0, 0))
	report = engine.fire(run, "later")
	assert report.executed == ["later", "end"]
	assert run.status == "completed"
	# firing again is a no-op: a step never executes twice
	again = engine.fire(run, "later")
	assert again.executed == [] and again.note == "run is completed"
	assert [call[0] for call in probe.calls] == ["a", "later", "end"]


def test_advance_fires_steps_that_became_due():
	engine, clock, _probe = make_engine()
	run, _ = engine.start(flow(step("a", trigger={"type": "after_delay", "delay_hours": 1})), name="R1")
	clock.advance(3600)
	report = engine.advance(run)
	assert report.executed == ["a"]
	assert run.status == "completed"


def test_on_date_renders_its_date_and_runs_at_once_when_past():
	engine, _clock, _probe = make_engine()
	definition = flow(
		step("future", trigger={"type": "on_date", "at": "{{doc.delivery_date}}"}),
		step("past", trigger={"type": "on_date", "at": "2025-12-31T00:00:00"}),
		step("offset", trigger={"type": "on_date", "at": "2026-01-05T10:00:00+00:00"}),
	)
	run, report = engine.start(definition, name="R1", context={"doc": {"delivery_date": "2026-02-01"}})
	assert report.executed == ["past"]
	assert run.steps["future"]["trigger_at"] == "2026-02-01T00:00:00"
	assert run.steps["offset"]["status"] == "scheduled"


def test_on_date_that_renders_empty_fails_without_retry():
	engine, _clock, _probe = make_engine()
	run, report = engine.start(
		flow(step("x", trigger={"type": "on_date", "at": "{{doc.nothing}}"})), name="R1"
	)
	assert report.failed == ["x"]
	assert run.status == "failed"
	assert run.error == "step x: trigger.at rendered to '', not a date"


def test_waiting_steps_resume_on_complete_with_input_visible_downstream():
	engine, _clock, probe = make_engine()
	definition = flow(
		step("approve", trigger={"type": "manual"}),
		step("hook", trigger={"type": "on_webhook"}),
		step(
			"use", depends_on=["approve", "hook"], payload={"text": "by {{steps.approve.result.input.user}}"}
		),
	)
	run, report = engine.start(definition, name="R1")
	assert report.waiting == ["approve", "hook"]
	assert run.status == "running"
	with pytest.raises(FlowStateError, match="step use is pending, not waiting"):
		engine.complete(run, "use")
	engine.complete(run, "approve", {"user": "jane"})
	assert run.steps["approve"]["result"] == {"echo": "", "input": {"user": "jane"}}
	report = engine.complete(run, "hook")
	assert report.executed == ["hook", "use"]
	assert probe.calls[-1][3] == {"text": "by jane"}
	assert run.status == "completed"
	with pytest.raises(FlowStateError, match="run R1 is completed"):
		engine.complete(run, "hook")


def test_failed_attempts_retry_with_backoff_then_succeed():
	probe = Probe(failures={"flaky": 2})
	engine, clock, _ = make_engine(probe)
	definition = flow(step("flaky", retry={"max_attempts": 3, "initial_interval_seconds": 60, "jitter": 0}))
	run, report = engine.start(definition, name="R1")
	assert report.failed_attempts == ["flaky"]
	assert report.scheduled == [("flaky", "2026-01-05T09:01:00")]
	clock.set(datetime(2026, 1, 5, 9, 1, 0))
	report = engine.fire(run, "flaky")
	assert report.scheduled == [("flaky", "2026-01-05T09:03:00")]  # 60 s × 2
	clock.set(datetime(2026, 1, 5, 9, 3, 0))
	report = engine.fire(run, "flaky")
	assert report.executed == ["flaky"]
	attempts = run.steps["flaky"]["attempts"]
	assert [(a["n"], a["outcome"], a.get("error")) for a in attempts] == [
		(1, "error", "boom 1"),
		(2, "error", "boom 2"),
		(3, "done", None),
	]
	assert run.status == "completed"
	# the same idempotency key on every attempt
	assert {call[2] for call in probe.calls} == {"R1:flaky"}


def test_retries_exhausted_fail_the_run_and_stop_it():
	probe = Probe(failures={"bad": 99})
	engine, clock, _ = make_engine(probe)
	definition = flow(
		step("bad", retry={"max_attempts": 2, "initial_interval_seconds": 10, "jitter": 0}),
		step("independent_later", trigger={"type": "after_delay", "delay_hours": 1}),
		step("after_bad", depends_on=["bad"]),
	)
	run, _ = engine.start(definition, name="R1")
	clock.advance(10)
	report = engine.fire(run, "bad")
	assert report.failed == ["bad"]
	assert run.status == "failed"
	assert run.error == "step bad: boom 2"
	assert run.steps["after_bad"]["status"] == "pending"
	clock.advance(7200)
	assert engine.fire(run, "independent_later").note == "run is failed"
	# a person fixes the cause and retries: the run resumes, the overdue step fires too
	probe.failures["bad"] = 0
	report = engine.retry(run, "bad")
	assert report.executed == ["independent_later", "bad", "after_bad"]
	assert run.status == "completed"
	assert len(run.steps["bad"]["attempts"]) == 3


def test_non_retryable_error_fails_at_once():
	engine, _clock, _probe = make_engine(Probe(failures={"a": 1}, retryable=False))
	run, report = engine.start(flow(step("a")), name="R1")
	assert report.failed == ["a"] and report.scheduled == []
	assert run.steps["a"]["tries"] == 1


def test_unexpected_exception_in_a_handler_is_a_retryable_failure():
	registry = builtin_registry()

	def crash(call):
		raise KeyError("oops")

	registry.register(KindSpec("crash", "Crash", "x", "#000", crash))
	clock = VirtualClock(START)
	engine = Engine(RecordingEffects(clock), clock, registry=registry)
	run, report = engine.start(flow(step("a", "crash")), name="R1")
	assert run.steps["a"]["error"] == "KeyError: 'oops'"
	assert report.failed_attempts == ["a"]
	assert run.steps["a"]["status"] == "scheduled"


def test_a_store_conflict_is_not_a_step_failure_it_reaches_the_caller():
	"""The store's transaction is gone (a deadlock, a write conflict): the caller repeats the whole
	operation on a fresh copy of the run, so the engine must neither record nor retry the attempt."""
	registry = builtin_registry()
	calls = []

	def collide(call):
		calls.append(call.step.id)
		raise StoreConflict("(1020, 'Record has changed since last read')")

	registry.register(KindSpec("collide", "Collide", "x", "#000", collide, side_effect=True))
	clock = VirtualClock(START)
	engine = Engine(RecordingEffects(clock), clock, registry=registry)
	definition = load_definition(flow(step("a", "collide")), registry)
	with pytest.raises(StoreConflict, match="1020"):
		engine.start(definition, name="R1")
	assert calls == ["a"]


def test_retry_policy_defaults_compose_run_flow_and_step():
	probe = Probe(failures={"a": 99})
	engine, clock, _ = make_engine(probe)
	definition = flow(
		step("a", retry={"initial_interval_seconds": 5}), retry={"max_attempts": 4, "jitter": 0}
	)
	run, _ = engine.start(definition, name="R1", defaults={"retry": {"max_attempts": 2, "backoff_factor": 3}})
	for _ in range(10):
		if run.steps["a"]["status"] != "scheduled":
			break
		clock.set(datetime.fromisoformat(run.steps["a"]["trigger_at"]))
		engine.fire(run, "a")
	times = [a["started_at"] for a in run.steps["a"]["attempts"]]
	assert times == [
		"2026-01-05T09:00:00",
		"2026-01-05T09:00:05",
		"2026-01-05T09:00:20",
		"2026-01-05T09:01:05",
	]
	assert run.steps["a"]["status"] == "failed"


def test_backoff_is_capped_and_jitter_deterministic():
	policy = RetryPolicy(initial_interval_seconds=60, backoff_factor=2, max_interval_seconds=300, jitter=0.1)
	delays = [policy.delay_after(n, "R1:a") for n in range(1, 8)]
	assert delays == [policy.delay_after(n, "R1:a") for n in range(1, 8)]
	for n, delay in enumerate(delays, start=1):
		base = min(60 * 2 ** (n - 1), 300)
		assert base * 0.9 <= delay <= base * 1.1 + 1
	assert delays != [policy.delay_after(n, "R1:b") for n in range(1, 8)]


def test_cancel_lists_what_no_longer_fires():
	engine, _clock, _probe = make_engine()
	run, _ = engine.start(
		flow(
			step("a", trigger={"type": "after_delay", "delay_hours": 1}),
			step("b", trigger={"type": "manual"}),
		),
		name="R1",
	)
	report = engine.cancel(run, "customer left")
	assert report.unscheduled == ["a", "b"]
	assert run.status == "cancelled" and run.error == "customer left"
	assert engine.fire(run, "a").note == "run is cancelled"


def test_each_side_effect_gets_the_run_and_step_idempotency_key():
	clock = VirtualClock(START)
	effects = RecordingEffects(clock)
	engine = Engine(effects, clock)
	definition = flow(
		step("job", "dispatch_job", payload={"subject": "Install {{customer.customer_name}}"}),
		step(
			"mail",
			"notify",
			payload={"channel": "email", "to": "a@example.com, b@example.com", "subject": "Hi", "body": "x"},
		),
		step("iss", "issue", payload={"subject": "Problem on {{doc.name}}"}),
	)
	run, _ = engine.start(
		definition,
		name="FR-9",
		context={
			"doc": {"doctype": "Contract", "name": "C-1"},
			"customer": {"name": "CUST-1", "customer_name": "Ann"},
		},
	)
	assert [(a["action"], a["idempotency_key"]) for a in effects.actions] == [
		("create_dispatch_job", "FR-9:job"),
		("send_email", "FR-9:mail"),
		("create_document", "FR-9:iss"),
	]
	assert effects.actions[0]["values"]["subject"] == "Install Ann"
	assert effects.actions[0]["values"]["priority"] == "medium"  # the field's default
	assert effects.actions[1]["recipients"] == ["a@example.com", "b@example.com"]
	assert effects.actions[2]["values"] == {
		"subject": "Problem on C-1",
		"description": "",
		"priority": "Medium",
		"customer": "CUST-1",
	}
	assert run.steps["job"]["result"] == {"doctype": "Dispatch Job", "name": "SIM-DispatchJob-0001"}
	assert idempotency_key("FR-9", "job") == "FR-9:job"


def test_payload_numbers_from_templates_are_coerced_and_bad_numbers_fail_cleanly():
	clock = VirtualClock(START)
	effects = RecordingEffects(clock)
	engine = Engine(effects, clock)
	good = flow(step("job", "dispatch_job", payload={"subject": "x", "duration_h": "{{doc.hours}}"}))
	engine.start(good, name="R1", context={"doc": {"hours": "2.5"}})
	assert effects.actions[0]["values"]["duration_h"] == 2.5
	run, report = engine.start(good, name="R2", context={"doc": {"hours": "soon"}})
	assert report.failed == ["job"]
	assert run.error == "step job: payload.duration_h rendered to 'soon', not a number"


def test_run_keeps_its_definition_snapshot():
	engine, _clock, probe = make_engine()
	definition = flow(
		step("a", trigger={"type": "manual"}), step("b", depends_on=["a"], payload={"text": "v1"})
	)
	run, _ = engine.start(definition, name="R1")
	definition["steps"][1]["payload"]["text"] = "v2"  # the template is edited meanwhile
	definition["steps"].append(step("c"))
	stored = Run.from_json(run.to_json())
	engine.complete(stored, "a")
	assert probe.calls[-1][3] == {"text": "v1"}
	assert sorted(stored.steps) == ["a", "b"]
	assert stored.status == "completed"


def test_a_run_whose_kind_disappeared_fails_with_a_clear_error():
	engine, _clock, _probe = make_engine()
	run, _ = engine.start(flow(step("a", trigger={"type": "manual"})), name="R1")
	stored = Run.from_json(run.to_json())
	clock = VirtualClock(START)
	bare = Engine(RecordingEffects(clock), clock, registry=builtin_registry())  # no "probe" kind
	report = bare.advance(stored)
	assert stored.status == "failed"
	assert report.note.startswith("definition: step a: kind: unknown kind 'probe'")


def test_long_chains_have_no_wave_cap():
	engine, _clock, _probe = make_engine()
	steps = [step("s0", "wait")] + [step(f"s{i}", "wait", depends_on=[f"s{i - 1}"]) for i in range(1, 500)]
	run, report = engine.start(flow(*steps), name="R1")
	assert len(report.executed) == 500
	assert run.status == "completed"


def test_definition_is_compiled_once_per_run_object():
	engine, _clock, _probe = make_engine()
	definition = load_definition(flow(step("a", trigger={"type": "manual"})), engine.registry)
	run, _ = engine.start(definition, name="R1")
	assert engine.definition_of(run) is definition
	clock_later = START + timedelta(days=1)
	assert clock_later > START


def test_created_documents_can_be_assigned():
	clock = VirtualClock(START)
	effects = RecordingEffects(clock)
	engine = Engine(effects, clock)
	definition = flow(
		step(
			"job",
			"dispatch_job",
			payload={"subject": "Install", "assign_to": "tech1@example.com, tech2@example.com"},
		),
		step("plain", "issue", payload={"subject": "No one assigned"}),
	)
	run, _ = engine.start(definition, name="FR-7")
	assert [(a["action"], a["idempotency_key"]) for a in effects.actions] == [
		("create_dispatch_job", "FR-7:job"),
		("assign", "FR-7:job"),
		("create_document", "FR-7:plain"),
	]
	assert effects.actions[1]["users"] == ["tech1@example.com", "tech2@example.com"]
	assert effects.actions[1]["doctype"] == "Dispatch Job"
	assert "assign_to" not in effects.actions[0]["values"]
	assert run.steps["job"]["result"]["assigned_to"] == ["tech1@example.com", "tech2@example.com"]


def test_webhook_failures_keep_no_secret_in_the_run():
	class Answer500(RecordingEffects):
		def http_request(self, method, url, *, body, headers, idempotency_key, timeout):
			return {"status_code": 503, "body": "down"}

	clock = VirtualClock(START)
	engine = Engine(Answer500(clock), clock)
	definition = flow(
		step(
			"hook",
			"webhook",
			payload={
				"url": "https://hooks.example.com/in?token={{variables.token}}",
				"headers": {"Authorization": "Bearer {{variables.token}}"},
			},
			retry={"max_attempts": 1},
		)
	)
	run, _ = engine.start(definition, name="R1", variables={"token": "s3cr3t"})
	assert run.error == "step hook: POST https://hooks.example.com/in?… answered HTTP 503"
	assert "s3cr3t" not in run.to_json().replace('"token":"s3cr3t"', "")


def test_template_budget_counts_distinct_text_and_reports_once():
	from flow_engine.runtime import validate_definition

	same = "{{customer.customer_name}} " + "x" * 1000
	repeated = flow(
		*[
			step(f"s{i}", "notify", payload={"channel": "email", "to": "a@example.com", "body": same})
			for i in range(2000)
		]
	)
	assert validate_definition(repeated) == []
	distinct = flow(
		*[
			step(
				f"s{i}",
				"notify",
				payload={
					"channel": "email",
					"to": "a@example.com",
					"body": f"{{{{doc.n}}}} {i} " + "y" * 9000,
				},
			)
			for i in range(80)
		]
	)
	problems = [str(p) for p in validate_definition(distinct)]
	assert problems == [
		"step s55: payload.body: the definition's distinct templates total more than 500000 characters"
	]


def test_rendered_payloads_are_kept_without_webhook_secrets():
	class Answer200(RecordingEffects):
		def http_request(self, method, url, *, body, headers, idempotency_key, timeout):
			return {"status_code": 200, "body": "ok"}

	clock = VirtualClock(START)
	engine = Engine(Answer200(clock), clock)
	definition = flow(
		step(
			"mail",
			"notify",
			payload={"channel": "email", "to": "a@example.com", "body": "Hi {{doc.name}} " + "x" * 600},
		),
		step(
			"hook",
			"webhook",
			payload={
				"url": "https://h.example.com/x?token=s3cr3t",
				"headers": {"Authorization": "Bearer s3cr3t"},
				"body_template": {"k": "s3cr3t"},
			},
		),
		step("pause", "wait"),
	)
	run, _ = engine.start(definition, name="R1", context={"doc": {"name": "D-1"}})
	mail = run.steps["mail"]["payload"]
	assert mail["body"].startswith("Hi D-1 xxx") and len(mail["body"]) == 500
	assert run.steps["hook"]["payload"] == {
		"url": "https://h.example.com/x?…",
		"method": "POST",
		"timeout_s": 10,
	}
	assert "payload" not in run.steps["pause"]
	assert "s3cr3t" not in json.dumps(run.steps)  # the definition itself holds what its author wrote


def builtin_engine():
	clock = VirtualClock(START)
	effects = RecordingEffects(clock)
	return Engine(effects, clock, registry=builtin_registry()), effects


def test_a_message_with_nobody_to_send_to_fails_unless_the_step_says_skip():
	engine, effects = builtin_engine()
	notify = {"channel": "email", "to": "{{customer.email_id}}", "subject": "Hi", "body": "Hello"}
	run, report = engine.start(flow(step("a", "notify", payload=notify)), name="R1")
	assert report.failed == ["a"]
	assert run.steps["a"]["error"] == "payload.to rendered to no recipient"
	run, report = engine.start(
		flow(step("a", "notify", payload={**notify, "when_undeliverable": "skip"})), name="R2"
	)
	assert run.status == "completed" and report.failed == []
	assert run.steps["a"]["result"] == {
		"channel": "email",
		"recipients": [],
		"skipped": "payload.to rendered to no recipient",
	}
	assert effects.actions == []  # nothing was sent


def test_an_unknown_channel_is_refused_even_when_undeliverable_messages_are_skipped():
	payload = {"channel": "fax", "to": "a@example.com", "when_undeliverable": "skip"}
	definition = {"version": 1, "steps": [{"id": "a", "kind": "notify", "payload": payload}]}
	assert [p.field for p in validate_definition(definition)] == ["payload.channel"]


def test_subscription_without_a_reference_is_the_customers_and_without_a_customer_a_clear_skip():
	engine, effects = builtin_engine()
	activate = step("a", "subscription_activate", payload={"subscription_ref": "{{variables.subscription}}"})
	run, _report = engine.start(flow(activate), name="R1", context={"customer": {"name": "CUST-1"}})
	assert run.status == "completed"
	assert [(a["action"], a.get("customer"), a.get("subscription")) for a in effects.actions] == [
		("activate_subscription", "CUST-1", None)
	]
	assert run.steps["a"]["result"] == {"subscription": None, "status": "Active"}
	run, _report = engine.start(flow(activate), name="R2", context={})
	assert run.status == "completed" and len(effects.actions) == 1
	assert run.steps["a"]["result"] == {"skipped": "no subscription given and the run has no customer"}
	run, _report = engine.start(flow(activate), name="R3", variables={"subscription": "SUB-9"})
	assert effects.actions[-1]["subscription"] == "SUB-9" and "customer" not in effects.actions[-1]
