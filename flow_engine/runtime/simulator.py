"""The simulator: the real engine on a virtual clock, with effects recorded instead of performed.

Deterministic: the same definition and context always give the same timeline. Between any two
engine calls the run is saved to JSON text and read back, as a real store would, so a simulation
also proves that run state survives a round trip.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .definition import FlowDefinition, load_definition
from .engine import Engine
from .errors import StepError
from .kinds.registry import KindRegistry, KindSpec, StepCall
from .ports import VirtualClock
from .state import AdvanceReport, Run

DEFAULT_START = datetime(2026, 1, 5, 9, 0, 0)  # a Monday morning: readable offsets
SIMULATED_FAILURE = "simulated failure"


class RecordingEffects:
	"""Effects that act on nothing: each call is recorded and answered with a plausible result.

	Idempotent like the real ones: a second call with the same key returns the first answer.
	"""

	def __init__(self, clock):
		self.clock = clock
		self.actions: list[dict] = []
		self._answers: dict[tuple[str, str], dict] = {}
		self._counters: dict[str, int] = {}

	def _record(self, action: str, key: str, args: dict, answer: dict) -> dict:
		earlier = self._answers.get((action, key))
		if earlier is not None:
			return earlier
		self.actions.append(
			{"at": self.clock.now().isoformat(), "action": action, "idempotency_key": key, **args}
		)
		self._answers[(action, key)] = answer
		return answer

	def _new_name(self, doctype: str) -> str:
		self._counters[doctype] = self._counters.get(doctype, 0) + 1
		return f"SIM-{doctype.replace(' ', '')}-{self._counters[doctype]:04d}"

	def create_document(self, doctype, values, *, idempotency_key, reference):
		key = ("create_document", idempotency_key)
		if key in self._answers:
			return self._answers[key]
		answer = {"doctype": doctype, "name": self._new_name(doctype)}
		return self._record(
			"create_document", idempotency_key, {"doctype": doctype, "values": values}, answer
		)

	def update_document(self, doctype, name, values, *, idempotency_key):
		return self._record(
			"update_document",
			idempotency_key,
			{"doctype": doctype, "name": name, "values": values},
			{"updated": sorted(values)},
		)

	def create_dispatch_job(self, values, *, idempotency_key, reference):
		key = ("create_dispatch_job", idempotency_key)
		if key in self._answers:
			return self._answers[key]
		answer = {"doctype": "Dispatch Job", "name": self._new_name("Dispatch Job")}
		return self._record("create_dispatch_job", idempotency_key, {"values": values}, answer)

	def send_email(self, recipients, subject, body, *, idempotency_key, template, reference):
		args = {"recipients": recipients, "subject": subject, "body": body, "template": template}
		return self._record("send_email", idempotency_key, args, {"queued": len(recipients)})

	def send_sms(self, recipients, body, *, idempotency_key):
		return self._record(
			"send_sms", idempotency_key, {"recipients": recipients, "body": body}, {"sent": len(recipients)}
		)

	def notify_in_app(self, users, subject, body, *, idempotency_key, reference):
		args = {"users": users, "subject": subject, "body": body}
		return self._record("notify_in_app", idempotency_key, args, {"notified": len(users)})

	def http_request(self, method, url, *, body, headers, idempotency_key, timeout):
		args = {"method": method, "url": url, "body": body, "headers": headers}
		return self._record("http_request", idempotency_key, args, {"status_code": 200, "body": ""})

	def assign(self, doctype, name, users, *, description, idempotency_key):
		args = {"doctype": doctype, "name": name, "users": users, "description": description}
		return self._record("assign", idempotency_key, args, {"assigned_to": users})

	def activate_subscription(self, name, *, idempotency_key, customer=None):
		args = {"subscription": name} if name else {"customer": customer}
		return self._record("activate_subscription", idempotency_key, args, {"status": "Active"})


class MemoryStore:
	"""Keeps runs as JSON text, so every load is a fresh object read back from a round trip."""

	def __init__(self):
		self._runs: dict[str, str] = {}

	def save(self, run: Run, report: AdvanceReport | None = None) -> None:
		self._runs[run.name] = run.to_json()

	def load(self, run_name: str) -> Run:
		return Run.from_json(self._runs[run_name])


@dataclass
class SimulationResult:
	run: Run
	definition: FlowDefinition
	start: datetime
	events: list[dict] = field(default_factory=list)  # the timeline, in order
	effects: list[dict] = field(default_factory=list)  # one per side-effecting step that ran
	actions: list[dict] = field(default_factory=list)  # the effect calls themselves
	positions: dict[str, int] = field(default_factory=dict)  # step id -> place in execution order

	def __post_init__(self):
		self.positions = {step_id: index for index, step_id in enumerate(self.definition.order)}

	def offset(self, iso: str | None) -> float | None:
		if not iso:
			return None
		return (datetime.fromisoformat(iso) - self.start).total_seconds()

	def as_json(self) -> dict:
		steps = {}
		for step in self.definition.steps:
			state = self.run.steps[step.id]
			when = state.get("trigger_at") if state["status"] == "scheduled" else state.get("at")
			steps[step.id] = {
				"status": state["status"],
				"at": self.offset(when),
				"attempts": len(state.get("attempts", [])),
				"branch": state.get("branch"),
			}
		return {"status": self.run.status, "steps": steps, "effects": self.effects}


def simulate(
	definition,
	*,
	doc: Mapping | None = None,
	customer: Mapping | None = None,
	variables: Mapping | None = None,
	until_seconds: float | None = None,
	complete: Iterable[str] = (),
	fail: Iterable[str] = (),
	start: datetime = DEFAULT_START,
	run_name: str = "SIM-RUN",
	registry: KindRegistry | None = None,
	template: Mapping | None = None,
) -> SimulationResult:
	"""Run `definition` from its start through every delay (up to `until_seconds` after the start).

	`complete` names waiting (webhook/manual) steps to complete when reached; `fail` names steps
	whose every attempt fails, to see retries and failure handling.
	"""
	from . import registry as default_registry

	base_registry = registry or default_registry
	if not isinstance(definition, FlowDefinition):
		definition = load_definition(definition, base_registry)
	clock = VirtualClock(start)
	effects = RecordingEffects(clock)
	result = SimulationResult(run=None, definition=definition, start=clock.now())  # type: ignore[arg-type]
	fail_set, complete_set = set(fail), set(complete)

	def wrap(spec: KindSpec, handler):
		def simulated(call: StepCall):
			if call.step.id in fail_set:
				raise StepError(SIMULATED_FAILURE)
			outcome = handler(call)
			if spec.side_effect:
				result.effects.append(
					{
						"at": result.offset(clock.now().isoformat()),
						"step": call.step.id,
						"kind": spec.name,
						"payload": call.payload,
					}
				)
			return outcome

		return simulated

	engine = Engine(effects, clock, registry=base_registry.wrapped(wrap))
	store = MemoryStore()
	context = {"doc": dict(doc or {}), "customer": dict(customer or {}), "template": dict(template or {})}
	run, report = engine.start(definition, name=run_name, context=context, variables=variables)
	_log(result, run, definition, report, clock)
	store.save(run, report)
	horizon = start + timedelta(seconds=until_seconds) if until_seconds is not None else None

	# Each pass completes a waiting step or moves the clock to the next scheduled step; attempts
	# are capped, so this ends. The bound is a guard against an engine bug, not a limit users meet.
	for _ in range(50 * (len(definition.steps) + 1) * 25):
		run = store.load(run_name)
		if run.status != "running":
			break
		to_complete = [
			sid for sid in definition.order if sid in complete_set and run.steps[sid]["status"] == "waiting"
		]
		if to_complete:
			for step_id in to_complete:
				if run.status != "running":
					break  # an earlier completion failed the run
				report = engine.complete(run, step_id)
				_log(result, run, definition, report, clock)
			store.save(run, report)
			continue
		due_times = [s["trigger_at"] for s in run.steps.values() if s["status"] == "scheduled"]
		if not due_times:
			break
		moment = datetime.fromisoformat(min(due_times))
		if horizon is not None and moment > horizon:
			break
		clock.set(moment)
		now = clock.now().isoformat()
		for step_id in definition.order:
			state = run.steps[step_id]
			if state["status"] == "scheduled" and state["trigger_at"] <= now:
				report = engine.fire(run, step_id)
				_log(result, run, definition, report, clock)
		store.save(run, report)
	result.run = store.load(run_name)
	result.actions = effects.actions
	return result


def _log(
	result: SimulationResult, run: Run, definition: FlowDefinition, report: AdvanceReport, clock
) -> None:
	at = result.offset(clock.now().isoformat())
	retried = set(report.failed_attempts)
	for status, step_ids in (
		("done", report.executed),
		("skipped", report.skipped),
		("waiting", report.waiting),
		("failed", report.failed),
	):
		for step_id in step_ids:
			result.events.append(_event(result, run, definition, step_id, status, at))
	for step_id, trigger_at in report.scheduled:
		status = "retry" if step_id in retried else "scheduled"
		event = _event(result, run, definition, step_id, status, at)
		event["trigger_at"] = result.offset(trigger_at)
		result.events.append(event)
	position = result.positions
	result.events.sort(key=lambda e: (e["at"], position[e["step"]]))


def _event(result, run: Run, definition: FlowDefinition, step_id: str, status: str, at: float) -> dict:
	step = definition.by_id[step_id]
	state = run.steps[step_id]
	event = {
		"at": at,
		"step": step_id,
		"label": step.label,
		"kind": step.kind,
		"status": status,
		"branch": state.get("branch"),
	}
	if state.get("error") and status in ("failed", "retry"):
		event["error"] = state["error"]
	payload = next((e["payload"] for e in reversed(result.effects) if e["step"] == step_id), None)
	if payload is not None and status == "done":
		event["payload"] = payload
	return event


# --- durations and the printed timeline --------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|s)", re.IGNORECASE)
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> float:
	"""'30d', '12h', '1d12h', '90m', '45s', '2w', or a number of seconds."""
	text = str(text).strip()
	try:
		seconds = float(text)
	except ValueError:
		parts = _DURATION_PART.findall(text)
		if not parts or _DURATION_PART.sub("", text).strip():
			raise ValueError(f"{text!r} is not a duration (examples: 30d, 12h, 1d12h, 90m)") from None
		seconds = sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts)
	if seconds < 0:
		raise ValueError("a duration cannot be negative")
	return seconds


def format_offset(seconds: float | None) -> str:
	if seconds is None:
		return "-"
	seconds = round(seconds)
	days, rest = divmod(seconds, 86400)
	hours, rest = divmod(rest, 3600)
	minutes, secs = divmod(rest, 60)
	clock_part = f"{hours:02d}:{minutes:02d}:{secs:02d}"
	return f"+{days}d {clock_part}" if days else f"+{clock_part}"


def summarize(payload: Mapping | None, width: int = 100) -> str:
	if not payload:
		return ""
	parts = []
	for key, value in payload.items():
		if value in (None, "", [], {}):
			continue
		text = value if isinstance(value, str) else repr(value)
		text = " ".join(str(text).split())
		parts.append(f"{key}={text[:40] + '…' if len(text) > 40 else text}")
	line = "  ".join(parts)
	return line if len(line) <= width else line[: width - 1] + "…"


def format_timeline(result: SimulationResult) -> str:
	definition, run = result.definition, result.run
	lines = [f"{'offset':<15} {'step':<32} {'kind':<22} {'status':<10} {'branch':<8} details"]
	for event in result.events:
		if event["status"] in ("scheduled", "retry"):
			details = f"fires at {format_offset(event['trigger_at'])}"
			if event.get("error"):
				details = f"{event['error'][:60]}; retry at {format_offset(event['trigger_at'])}"
		elif event["status"] == "failed":
			details = event.get("error", "")[:100]
		else:
			details = summarize(event.get("payload"))
		label = event["label"] if len(event["label"]) <= 32 else event["label"][:31] + "…"
		lines.append(
			f"{format_offset(event['at']):<15} {label:<32} {event['kind']:<22} {event['status']:<10} {event['branch'] or '':<8} {details}".rstrip()
		)
	counts: dict[str, int] = {}
	for state in run.steps.values():
		counts[state["status"]] = counts.get(state["status"], 0) + 1
	summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
	lines.append("")
	lines.append(
		f"run {run.status}: {len(definition.steps)} steps ({summary}); {len(result.effects)} effects"
	)
	if run.error:
		lines.append(f"error: {run.error}")
	return "\n".join(lines)
