"""The simulator: the real engine on a virtual clock, with effects recorded instead of performed.

Deterministic: the same definition and context always give the same timeline. Between any two
engine calls the run is saved to JSON text and read back, as a real store would, so a simulation
also proves that run state survives a round trip.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .definition import FlowDefinition, load_definition
from .engine import Engine
from .errors import StepError
from .kinds.registry import KindRegistry, KindSpec, StepCall
from .kinds.waiting import sub_flow_summary
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

	def create_document(self, doctype, values, *, idempotency_key, reference, strict=False, submit=False):
		key = ("create_document", idempotency_key)
		if key in self._answers:
			return self._answers[key]
		answer = {"doctype": doctype, "name": self._new_name(doctype)}
		args = {"doctype": doctype, "values": values, **({"submit": True} if submit else {})}
		return self._record("create_document", idempotency_key, args, answer)

	def set_value(self, doctype, name, field, value, *, operation, idempotency_key):
		args = {"doctype": doctype, "name": name, "field": field, "value": value, "operation": operation}
		return self._record("set_value", idempotency_key, args, {"field": field, "operation": operation})

	def add_comment(self, doctype, name, text, *, idempotency_key, flow):
		args = {"doctype": doctype, "name": name, "text": text}
		return self._record(
			"add_comment", idempotency_key, args, {"doctype": "Comment", "name": self._new_name("Comment")}
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

	def assign(
		self, doctype, name, users, *, description, idempotency_key, role=None, pick=None, due_date=None
	):
		args = {"doctype": doctype, "name": name, "users": users, "description": description}
		if role:
			args.update(role=role, pick=pick)
		if due_date:
			args["due_date"] = due_date
		# a role's user cannot be known without a site: the simulation names the role
		return self._record("assign", idempotency_key, args, {"assigned_to": users or [f"({role})"]})

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
	# sub-flows' runs, by name: {"run": Run, "definition", "template", "parent": {"run", "step"}}
	children: dict[str, dict] = field(default_factory=dict)
	root: str = ""  # the first run's name (effects and events of sub-flows carry their own "run")

	def __post_init__(self):
		self.positions = {step_id: index for index, step_id in enumerate(self.definition.order)}

	def offset(self, iso: str | None) -> float | None:
		if not iso:
			return None
		return (datetime.fromisoformat(iso) - self.start).total_seconds()

	def _steps_json(self, run: Run, definition: FlowDefinition) -> dict:
		steps = {}
		for step in definition.steps:
			state = run.steps[step.id]
			when = state.get("trigger_at") if state["status"] == "scheduled" else state.get("at")
			steps[step.id] = {
				"status": state["status"],
				"at": self.offset(when),
				"attempts": len(state.get("attempts", [])),
				"branch": state.get("branch"),
			}
		return steps

	def as_json(self) -> dict:
		data = {
			"status": self.run.status,
			"steps": self._steps_json(self.run, self.definition),
			"effects": self.effects,
		}
		if self.children:
			data["runs"] = {
				name: {
					"template": child["template"],
					"parent": child["parent"],
					"status": child["run"].status,
					"steps": self._steps_json(child["run"], child["definition"]),
				}
				for name, child in self.children.items()
			}
		return data


DEFAULT_MAX_DEPTH = 5  # sub-flows within sub-flows (Flow Settings' "max depth" on a site)
SIMULATED_EVENT_NAME = "SIM-EVENT"


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
	templates: Mapping | Callable | None = None,
	max_depth: int = DEFAULT_MAX_DEPTH,
) -> SimulationResult:
	"""Run `definition` from its start through every delay (up to `until_seconds` after the start).

	`complete` names waiting steps to complete when reached (a webhook or manual step; for a
	`wait_for_event` step, the event happens); `fail` names steps whose every attempt fails, to see
	retries and failure handling. A `sub_flow` step runs the template `templates` gives for its name
	(a mapping of name to definition, or a function), as a child run on the same clock; `complete`
	and `fail` name steps of any run.
	"""
	from . import registry as default_registry

	base_registry = registry or default_registry
	if not isinstance(definition, FlowDefinition):
		definition = load_definition(definition, base_registry)
	clock = VirtualClock(start)
	effects = RecordingEffects(clock)
	result = SimulationResult(run=None, definition=definition, start=clock.now(), root=run_name)  # type: ignore[arg-type]
	fail_set, complete_set = set(fail), set(complete)

	def wrap(spec: KindSpec, handler):
		def simulated(call: StepCall):
			if call.step.id in fail_set:
				raise StepError(SIMULATED_FAILURE)
			outcome = handler(call)
			if spec.side_effect and call.waiting is None:
				effect = {
					"at": result.offset(clock.now().isoformat()),
					"step": call.step.id,
					"kind": spec.name,
					"payload": call.payload,
				}
				if call.run_name != run_name:
					effect["run"] = call.run_name
				result.effects.append(effect)
			return outcome

		return simulated

	engine = Engine(effects, clock, registry=base_registry.wrapped(wrap))
	sim = _Runs(engine, result, clock, base_registry, templates, max_depth, run_name)
	effects.start_sub_flow = sim.start_child
	template = dict(template or {})
	context = {"doc": dict(doc or {}), "customer": dict(customer or {}), "template": template}
	if context["doc"].get("doctype") and context["doc"].get("name"):
		sim.documents[(context["doc"]["doctype"], context["doc"]["name"])] = (
			context["doc"],
			context["customer"],
		)
	if template.get("name"):
		context["lineage"] = [template["name"]]
	run, report = engine.start(definition, name=run_name, context=context, variables=variables)
	sim.add(run, definition, None, None)
	sim.log(run, report)
	horizon = start + timedelta(seconds=until_seconds) if until_seconds is not None else None

	# Each pass completes waiting steps, tells parents that their sub-flows ended, or moves the
	# clock to the next timer; attempts are capped, so this ends. The bound is a guard against an
	# engine bug, not a limit users meet.
	for _ in range(50 * (len(definition.steps) + 1) * 25):
		if not sim.running():
			break
		if sim.complete_waiting(complete_set) or sim.tell_parents():
			continue
		moment = sim.next_timer()
		if moment is None or (horizon is not None and moment > horizon):
			break
		clock.set(moment)
		sim.fire_due()
	result.run = sim.store.load(run_name)
	for event in result.events:
		event.pop("_order", None)
	for name, child in result.children.items():
		child["run"] = sim.store.load(name)
	result.actions = effects.actions
	return result


class _Runs:
	"""The runs of one simulation (the first and its sub-flows), saved between engine calls."""

	def __init__(self, engine, result, clock, registry, templates, max_depth, root):
		self.engine, self.result, self.clock = engine, result, clock
		self.registry, self.templates, self.max_depth = registry, templates, max_depth
		self.root = root
		self.store = MemoryStore()
		self.definitions: dict[str, FlowDefinition] = {}
		self.parents: dict[str, dict] = {}  # child run -> {"run", "step", "wait", "told"}
		self._deferred: list[tuple[Run, AdvanceReport]] = []
		self._sequence = 0
		self.documents: dict[tuple, tuple[dict, dict]] = {}  # (doctype, name) -> (doc, customer)

	def add(self, run: Run, definition: FlowDefinition, template: str | None, parent: dict | None) -> None:
		self.definitions[run.name] = definition
		self.store.save(run)
		if parent is not None:
			self.parents[run.name] = {**parent, "told": False}
			self.result.children[run.name] = {
				"run": run,
				"definition": definition,
				"template": template,
				"parent": {"run": parent["run"], "step": parent["step"]},
			}

	def log(self, run: Run, report: AdvanceReport) -> None:
		self._sequence += 1
		_log(self.result, run, self.definitions[run.name], report, self.clock, self._sequence, self.root)
		deferred, self._deferred = self._deferred, []
		for child, child_report in deferred:  # sub-flows started during that call, after it
			self.log(child, child_report)

	def running(self) -> bool:
		return any(self.store.load(name).status == "running" for name in self.definitions)

	def start_child(self, template, *, doctype, docname, variables, lineage, parent, idempotency_key):
		chain = " → ".join(lineage)
		if len(lineage) - 1 > self.max_depth:
			raise StepError(
				f"sub-flows call one another more than {self.max_depth} deep: {chain}", retryable=False
			)
		source = (
			self.templates(template) if callable(self.templates) else (self.templates or {}).get(template)
		)
		if source is None:
			raise StepError(f"no Flow Template {template!r} to run as a sub-flow", retryable=False)
		definition = source if isinstance(source, FlowDefinition) else load_definition(source, self.registry)
		name = f"{parent['run']}/{parent['step']}"
		if idempotency_key.rpartition("#")[1]:
			name += f"#{idempotency_key.rpartition('#')[2]}"
		context = {"template": {"name": template}, "lineage": list(lineage)}
		known = self.documents.get((doctype, docname))  # the simulated documents are the first run's
		context["doc"] = dict(known[0]) if known else {"doctype": doctype, "name": docname}
		context["customer"] = dict(known[1]) if known else {}
		run, report = self.engine.start(definition, name=name, context=context, variables=variables)
		self.add(run, definition, template, parent)
		self._deferred.append((run, report))
		return sub_flow_summary(run, template)

	def complete_waiting(self, names: set[str]) -> bool:
		done = False
		for run_name in list(self.definitions):
			run = self.store.load(run_name)
			for step_id in self.definitions[run_name].order:
				state = run.steps[step_id]
				if run.status != "running" or step_id not in names or state["status"] != "waiting":
					continue
				wait = state.get("wait")
				if wait is not None and wait.get("sub_flow"):
					continue  # ends when its child does
				data = None
				if wait is not None:
					doctype, name = wait.get("doctype"), wait.get("docname") or SIMULATED_EVENT_NAME
					data = {
						"doctype": doctype,
						"name": name,
						"event": wait.get("event"),
						"doc": {"doctype": doctype, "name": name},
					}
				report = self.engine.complete(run, step_id, data, resume=wait is not None)
				self.store.save(run)
				self.log(run, report)
				done = True
		return done

	def tell_parents(self) -> bool:
		told = False
		for child_name, parent in self.parents.items():
			child = self.store.load(child_name)
			if parent["told"] or child.status == "running":
				continue
			parent["told"] = True
			if not parent["wait"]:
				continue
			summary = sub_flow_summary(child, self.result.children[child_name]["template"])
			run = self.store.load(parent["run"])
			state = run.steps.get(parent["step"]) or {}
			if run.status == "running" and (state.get("wait") or {}).get("sub_flow") == child_name:
				report = self.engine.complete(run, parent["step"], {"child": summary}, resume=True)
				self.store.save(run)
				self.log(run, report)
				told = True
		return told

	def next_timer(self) -> datetime | None:
		times = []
		for name in self.definitions:
			run = self.store.load(name)
			if run.status != "running":
				continue
			for state in run.steps.values():
				if state["status"] == "scheduled":
					times.append(state["trigger_at"])
				elif state["status"] == "waiting" and state.get("timeout_at"):
					times.append(state["timeout_at"])
		return datetime.fromisoformat(min(times)) if times else None

	def fire_due(self) -> None:
		now = self.clock.now().isoformat()
		for name in list(self.definitions):
			run = self.store.load(name)
			for step_id in self.definitions[name].order:
				state = run.steps[step_id]
				due = (state["status"] == "scheduled" and state["trigger_at"] <= now) or (
					state["status"] == "waiting" and state.get("timeout_at") and state["timeout_at"] <= now
				)
				if due and run.status == "running":
					report = self.engine.fire(run, step_id)
					self.store.save(run)
					self.log(run, report)


def _log(
	result: SimulationResult,
	run: Run,
	definition: FlowDefinition,
	report: AdvanceReport,
	clock,
	sequence: int = 0,
	root: str | None = None,
) -> None:
	at = result.offset(clock.now().isoformat())
	retried = set(report.failed_attempts)
	events = []
	for status, step_ids in (
		("done", report.executed),
		("skipped", report.skipped),
		("waiting", report.waiting),
		("failed", report.failed),
	):
		for step_id in step_ids:
			events.append(_event(result, run, definition, step_id, status, at))
	for step_id, trigger_at in report.scheduled:
		if run.steps[step_id]["status"] == "waiting":
			continue  # a wait's timeout: its "waiting" event says when
		status = "retry" if step_id in retried else "scheduled"
		event = _event(result, run, definition, step_id, status, at)
		event["trigger_at"] = result.offset(trigger_at)
		events.append(event)
	position = {step_id: index for index, step_id in enumerate(definition.order)}
	for event in events:
		event["_order"] = (sequence, position[event["step"]])
		if root is not None and run.name != root:
			event["run"] = run.name
	result.events.extend(events)
	result.events.sort(key=lambda e: (e["at"], e["_order"]))


def _event(result, run: Run, definition: FlowDefinition, step_id: str, status: str, at: float) -> dict:
	step = definition.by_id[step_id]
	state = run.steps[step_id]
	event: dict = {
		"at": at,
		"step": step_id,
		"label": step.label,
		"kind": step.kind,
		"status": status,
		"branch": state.get("branch"),
	}
	if state.get("error") and status in ("failed", "retry"):
		event["error"] = state["error"]
	if status == "waiting" and state.get("timeout_at"):
		event["trigger_at"] = result.offset(state["timeout_at"])
	payload = next(
		(
			e["payload"]
			for e in reversed(result.effects)
			if e["step"] == step_id and e.get("run", result.root) == run.name
		),
		None,
	)
	if payload is not None and status in ("done", "waiting"):
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
		label = event["label"] if not event.get("run") else f"↳ {event['label']}"
		label = label if len(label) <= 32 else label[:31] + "…"
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
	for name, child in result.children.items():
		line = f"sub-flow {child['template']} (run {name}, from step {child['parent']['step']}): {child['run'].status}"
		lines.append(line + (f": {child['run'].error}" if child["run"].error else ""))
	return "\n".join(lines)
