"""The engine: advances a run over its definition's DAG.

A ready queue, not waves: every step whose predecessors are settled is looked at once more, so a
chain of any length runs in one call and linear time. Instant steps execute, delayed steps are
scheduled, webhook/manual steps wait; descendants of an untaken branch are skipped; a failed
attempt is retried per the step's retry policy and, past it, fails the run (fail-fast: nothing
more starts until someone retries the step).

Everything the engine needs from the world comes through its ports (Effects, Clock); the run
state it reads and writes is plain data (state.Run), so a store can save it between any two calls.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta

from .definition import (
	INSTANT_TRIGGERS,
	WAITING_TRIGGERS,
	FlowDefinition,
	Step,
	load_definition,
	parse_datetime,
)
from .errors import DefinitionError, FlowStateError, StepError, StoreConflict
from .i18n import _, message_data
from .kinds.registry import UNRENDERED_FIELD_TYPES, KindRegistry, KindSpec, StepCall, StepOutcome
from .limits import MAX_ERROR_LENGTH
from .rendering import render, render_deep
from .retry import RetryPolicy
from .state import TERMINAL_STEP_STATUSES, AdvanceReport, Run

_READY, _WAIT, _SKIP = "ready", "wait", "skip"


def idempotency_key(run_name: str, step_id: str) -> str:
	"""One key per (run, step), the same for every attempt: a retry finds what the first made."""
	return f"{run_name}:{step_id}"


class Engine:
	def __init__(
		self, effects, clock, registry: KindRegistry | None = None, default_retry: RetryPolicy | None = None
	):
		from . import registry as default_registry

		self.effects = effects
		self.clock = clock
		self.registry = registry or default_registry
		self.default_retry = default_retry or RetryPolicy()

	# --- public operations --------------------------------------------------------------------

	def start(
		self,
		definition,
		*,
		name: str,
		context: Mapping | None = None,
		variables: Mapping | None = None,
		defaults: Mapping | None = None,
	) -> tuple[Run, AdvanceReport]:
		"""Create a run of `definition` (a FlowDefinition, or anything load_definition reads) and advance it."""
		if not isinstance(definition, FlowDefinition):
			definition = load_definition(definition, self.registry)
		run = Run(
			name=name,
			definition=definition.raw,
			steps={step.id: {"status": "pending"} for step in definition.steps},
			variables={**definition.variables, **dict(variables or {})},
			context=dict(context or {}),
			defaults=dict(defaults or {}),
			started_at=_iso(self.clock.now()),
		)
		run._compiled = definition
		return run, self.advance(run)

	def advance(self, run: Run) -> AdvanceReport:
		"""Execute every ready step, and fire scheduled steps that are due."""
		report = AdvanceReport(run.name, run.status)
		definition = self._definition(run, report)
		if definition is None or run.status != "running":
			return self._finish(run, report, definition)
		now_iso = _iso(self.clock.now())
		due = [sid for sid in definition.order if _due(run.steps[sid], now_iso)]
		queue = deque(sid for sid in definition.order if run.steps[sid]["status"] == "pending")
		for step_id in due:
			if run.status != "running":
				break
			self._execute(run, definition, definition.by_id[step_id], report, queue)
		self._drive(run, definition, queue, report)
		return self._finish(run, report, definition)

	def fire(self, run: Run, step_id: str, *, force: bool = False, due: str | None = None) -> AdvanceReport:
		"""A scheduled step's time has come, or a waiting step's timeout. Firing twice, or a step that
		is neither, does nothing. `due`: the time the caller's timer was set for; with `force`, a
		waiting step times out only if that timer is its own (a timer left by an earlier wait is not)."""
		report = AdvanceReport(run.name, run.status)
		definition = self._definition(run, report)
		state = run.steps.get(step_id)
		if definition is None or state is None:
			report.note = f"no step {step_id!r} in run {run.name}" if definition else report.note
			return self._finish(run, report, definition)
		if run.status != "running":
			report.note = f"run is {run.status}"
			return self._finish(run, report, definition)
		if state["status"] == "waiting" and state.get("wait") is not None and state.get("timeout_at"):
			ceiling = (due or "9999") if force else _iso(self.clock.now())
			if state["timeout_at"] > ceiling:
				report.note = f"step {step_id} times out at {state['timeout_at']}"
				return self._finish(run, report, definition)
			queue = deque()
			self._execute(run, definition, definition.by_id[step_id], report, queue, timed_out=True)
			self._drive(run, definition, queue, report)
			return self._finish(run, report, definition)
		if state["status"] != "scheduled":
			report.note = f"step {step_id} is {state['status']}, not scheduled"
			return self._finish(run, report, definition)
		if not force and state.get("trigger_at", "") > _iso(self.clock.now()):
			report.note = f"step {step_id} is due at {state['trigger_at']}"
			return self._finish(run, report, definition)
		queue: deque[str] = deque()
		self._execute(run, definition, definition.by_id[step_id], report, queue)
		self._drive(run, definition, queue, report)
		return self._finish(run, report, definition)

	def complete(
		self, run: Run, step_id: str, data: Mapping | None = None, *, resume: bool = False
	) -> AdvanceReport:
		"""A waiting step is signalled: execute it, with `data` as `input`.

		Webhook and manual steps are completed by a person or a program. A step whose kind waits
		(a document event, a sub-flow) is told only by the machinery watching for it (`resume`)."""
		report = AdvanceReport(run.name, run.status)
		definition = self._definition(run, report)
		if definition is None:
			return self._finish(run, report, definition)
		state = run.steps.get(step_id)
		if state is None:
			raise FlowStateError(_("run {0} has no step {1!r}").format(run.name, step_id))
		if run.status != "running":
			raise FlowStateError(_("run {0} is {1}").format(run.name, run.status))
		if state["status"] != "waiting":
			raise FlowStateError(_("step {0} is {1}, not waiting").format(step_id, state["status"]))
		if state.get("wait") is not None and not resume:
			raise FlowStateError(
				_("step {0} waits for {1}; it goes on by itself when that happens").format(
					step_id, describe_wait(state["wait"])
				)
			)
		queue: deque[str] = deque()
		self._execute(run, definition, definition.by_id[step_id], report, queue, data=dict(data or {}))
		self._drive(run, definition, queue, report)
		return self._finish(run, report, definition)

	def retry(self, run: Run, step_id: str) -> AdvanceReport:
		"""Give a failed step a fresh set of attempts and resume the run."""
		state = run.steps.get(step_id)
		if state is None:
			raise FlowStateError(_("run {0} has no step {1!r}").format(run.name, step_id))
		if state["status"] != "failed":
			raise FlowStateError(_("step {0} is {1}, not failed").format(step_id, state["status"]))
		if run.status == "cancelled":
			raise FlowStateError(_("run {0} is cancelled").format(run.name))
		state.update(status="pending", tries=0, at=_iso(self.clock.now()))
		_clear_error(state)
		if not any(s["status"] == "failed" for s in run.steps.values()):
			run.status, run.error, run.completed_at = "running", None, None
		report = self.advance(run)
		# Scheduled steps whose pending rows were dropped while the run was failed come back.
		announced = {step for step, _at in report.scheduled}
		report.scheduled.extend(
			(sid, s["trigger_at"])
			for sid, s in run.steps.items()
			if s["status"] == "scheduled" and sid not in announced
		)
		return report

	def cancel(self, run: Run, reason: str | None = None) -> AdvanceReport:
		report = AdvanceReport(run.name, run.status)
		if run.status in ("completed", "cancelled"):
			report.note = f"run is {run.status}"
			return report
		run.status = "cancelled"
		run.error = reason or run.error
		run.completed_at = _iso(self.clock.now())
		report.unscheduled = [sid for sid, s in run.steps.items() if s["status"] in ("scheduled", "waiting")]
		report.status = run.status
		return report

	def pause(self, run: Run) -> AdvanceReport:
		"""Hold a running run: nothing of it runs until `resume`. Its timers and the news for its
		waiting steps are kept by the caller (the scheduler holds their rows) and come back then."""
		if run.status != "running":
			raise FlowStateError(_("run {0} is {1}, not running").format(run.name, run.status))
		run.status = "paused"
		return AdvanceReport(run.name, run.status)

	def resume(self, run: Run, *, fire_due: bool = True) -> AdvanceReport:
		"""A paused run goes on; steps and timeouts that came due meanwhile fire once, in their order
		of time. `fire_due` off: only the status changes (a store that held the timers' rows while
		the run was paused gives them back, and they fire in their order)."""
		if run.status != "paused":
			raise FlowStateError(_("run {0} is {1}, not paused").format(run.name, run.status))
		run.status = "running"
		report = AdvanceReport(run.name, run.status)
		if not fire_due:
			return report
		definition = self._definition(run, report)
		if definition is None:
			return self._finish(run, report, definition)
		now_iso = _iso(self.clock.now())
		position = {step_id: index for index, step_id in enumerate(definition.order)}
		due = sorted(
			(state.get("trigger_at") or state.get("timeout_at"), position[sid], sid)
			for sid, state in run.steps.items()
			if _due(state, now_iso)
			or (state["status"] == "waiting" and "" < (state.get("timeout_at") or "") <= now_iso)
		)
		queue: deque[str] = deque()
		for _at, _position, step_id in due:
			if run.status != "running":
				break
			timed_out = run.steps[step_id]["status"] == "waiting"
			self._execute(run, definition, definition.by_id[step_id], report, queue, timed_out=timed_out)
		self._drive(run, definition, queue, report)
		return self._finish(run, report, definition)

	def definition_of(self, run: Run) -> FlowDefinition:
		if run._compiled is None:
			run._compiled = load_definition(run.definition, self.registry)
		return run._compiled

	# --- the loop -----------------------------------------------------------------------------

	def _drive(self, run: Run, definition: FlowDefinition, queue: deque, report: AdvanceReport) -> None:
		steps, by_id, followers = run.steps, definition.by_id, definition.followers
		while queue and run.status == "running":
			step_id = queue.popleft()
			state = steps[step_id]
			if state["status"] != "pending":
				continue
			step = by_id[step_id]
			verdict = _gate(step, steps)
			if verdict is _WAIT:
				continue
			if verdict is _SKIP:
				state["status"] = "skipped"
				state["at"] = _iso(self.clock.now())
				report.skipped.append(step_id)
				queue.extend(followers[step_id])
				continue
			trigger = step.trigger.type
			if trigger in INSTANT_TRIGGERS:
				self._execute(run, definition, step, report, queue)
			elif trigger in WAITING_TRIGGERS:
				state["status"] = "waiting"
				state["at"] = _iso(self.clock.now())
				report.waiting.append(step_id)
			else:
				self._schedule_or_execute(run, definition, step, report, queue)

	def _schedule_or_execute(
		self, run: Run, definition: FlowDefinition, step: Step, report: AdvanceReport, queue: deque
	) -> None:
		now = self.clock.now()
		if step.trigger.type == "after_delay":
			when = now + timedelta(seconds=step.trigger.delay_seconds)
		else:
			text = render(step.trigger.at or "", self._context(run, definition, now))
			when = _naive(parse_datetime(text), getattr(self.clock, "tz", None)) if text else None
			if when is None:
				self._record_failure(
					run,
					definition,
					step,
					report,
					now,
					now,
					_("trigger.at rendered to {0!r}, not a date").format(text),
					retryable=False,
				)
				return
		if when <= now:
			self._execute(run, definition, step, report, queue)
			return
		state = run.steps[step.id]
		state.update(status="scheduled", trigger_at=_iso(when), at=_iso(now))
		report.scheduled.append((step.id, state["trigger_at"]))

	def _execute(
		self,
		run: Run,
		definition: FlowDefinition,
		step: Step,
		report: AdvanceReport,
		queue: deque,
		data: dict | None = None,
		timed_out: bool = False,
	) -> None:
		spec = self.registry.get(step.kind)
		state = run.steps[step.id]
		started = self.clock.now()
		# a step whose kind waits is called again when told: that is the same attempt, not a new one
		waiting = state.get("wait") if state["status"] == "waiting" else None
		tries = state.get("tries", 0) + (0 if waiting is not None else 1)
		state["tries"] = max(tries, 1)
		try:
			if spec is None:
				raise StepError(_("kind {0!r} is not installed").format(step.kind), retryable=False)
			context = self._context(run, definition, started, None if waiting is not None else data)
			payload = render_payload(spec, step.payload, context)
			outcome = spec.handler(
				StepCall(
					run_name=run.name,
					step=step,
					payload=payload,
					context=context,
					effects=self.effects,
					idempotency_key=idempotency_key(run.name, step.id),
					attempt=state["tries"],
					reference=context["__reference"],
					waiting=waiting,
					input=data if waiting is not None else None,
					timed_out=timed_out,
					serial=len(state.get("attempts", ())) + 1,
				)
			)
			if isinstance(outcome, StepOutcome) and outcome.wait is not None:
				self._park(run, spec, step, report, outcome, payload, started, resumed=waiting is not None)
				return
			result, branch = _checked_outcome(spec, step, payload, outcome)
			if data and waiting is None:
				result = {**result, "input": data}
		except StepError as exc:
			self._record_failure(
				run, definition, step, report, started, self.clock.now(), exc.message, exc.retryable
			)
			return
		except StoreConflict:
			raise  # the caller's transaction is gone: the whole operation is repeated, not the step
		except Exception as exc:  # a bug or an outage inside a handler or an effect: retry it
			self._record_failure(
				run, definition, step, report, started, self.clock.now(), f"{type(exc).__name__}: {exc}", True
			)
			return
		ended = self.clock.now()
		if waiting is not None:
			self._stop_waiting(state, step.id, report)
		state.setdefault("attempts", []).append(
			{
				"n": len(state.get("attempts", [])) + 1,
				"started_at": state.pop("wait_started", None) or _iso(started),
				"ended_at": _iso(ended),
				"outcome": "done",
			}
		)
		state["status"] = "done"
		state["at"] = _iso(ended)
		if result:
			state["result"] = result
		kept = _kept_payload(spec, payload)
		if kept:
			state["payload"] = kept
		if branch is not None:
			state["branch"] = branch
		_clear_error(state)
		state.pop("trigger_at", None)
		report.executed.append(step.id)
		queue.extend(definition.followers[step.id])

	def _record_failure(
		self,
		run: Run,
		definition: FlowDefinition,
		step: Step,
		report: AdvanceReport,
		started: datetime,
		ended: datetime,
		error,
		retryable: bool,
	) -> None:
		state = run.steps[step.id]
		# the English text is what logs, the API and searches read; a message made with i18n._ also
		# keeps its template and arguments, for the run view to show it in the reader's language
		message = message_data(error) if len(error) <= MAX_ERROR_LENGTH else None
		error = str(error)[:MAX_ERROR_LENGTH]
		if state["status"] == "waiting" and state.get("wait") is not None:
			self._stop_waiting(state, step.id, report)
			started = _parse_iso(state.get("wait_started")) or started
		state.pop("wait_started", None)
		attempts = state.setdefault("attempts", [])
		attempts.append(
			{
				"n": len(attempts) + 1,
				"started_at": _iso(started),
				"ended_at": _iso(ended),
				"outcome": "error",
				"error": error,
				**({"error_message": message} if message else {}),
			}
		)
		state["error"] = error
		if message:
			state["error_message"] = message
		else:
			state.pop("error_message", None)
		state["at"] = _iso(ended)
		state.setdefault("tries", 1)
		policy = self._policy(run, step)
		if retryable and state["tries"] < policy.max_attempts:
			when = ended + timedelta(
				seconds=policy.delay_after(state["tries"], idempotency_key(run.name, step.id))
			)
			state.update(status="scheduled", trigger_at=_iso(when))
			report.failed_attempts.append(step.id)
			report.scheduled.append((step.id, state["trigger_at"]))
			return
		state["status"] = "failed"
		state.pop("trigger_at", None)
		report.failed.append(step.id)
		run.status = "failed"
		run.error = f"step {step.id}: {error}"

	def _park(
		self,
		run: Run,
		spec: KindSpec,
		step: Step,
		report: AdvanceReport,
		outcome: StepOutcome,
		payload: Mapping,
		started: datetime,
		resumed: bool,
	) -> None:
		"""The handler says the step waits (for a document event, a sub-flow…)."""
		state = run.steps[step.id]
		if resumed:
			report.note = f"step {step.id} still waits for {describe_wait(state['wait'])}"
			return
		try:
			wait = json.loads(json.dumps(outcome.wait))
			result = json.loads(json.dumps(outcome.result or {}))
		except (TypeError, ValueError) as exc:
			raise StepError(
				_("kind {0} waits on data that is not JSON: {1}").format(spec.name, exc), retryable=False
			) from None
		state.update(status="waiting", at=_iso(started), wait=wait, wait_started=_iso(started))
		if result:
			state["result"] = result
		kept = _kept_payload(spec, payload)
		if kept:
			state["payload"] = kept
		_clear_error(state)
		state.pop("trigger_at", None)
		if outcome.timeout_at is not None:
			state["timeout_at"] = _iso(outcome.timeout_at)
			report.scheduled.append((step.id, state["timeout_at"]))
		report.waiting.append(step.id)

	@staticmethod
	def _stop_waiting(state: dict, step_id: str, report: AdvanceReport) -> None:
		"""The step no longer waits: its watch and its timeout timer go (the store drops them)."""
		state.pop("wait", None)
		state.pop("timeout_at", None)
		report.unscheduled.append(step_id)

	def _policy(self, run: Run, step: Step) -> RetryPolicy:
		policy = self.default_retry.merged(run.defaults.get("retry"))
		return policy.merged(run.definition.get("retry")).merged(step.retry)

	def _context(self, run: Run, definition: FlowDefinition, now: datetime, data: dict | None = None) -> dict:
		"""The render context: built once per engine call, only `now` (and `input`) change per step."""
		context = run._scope
		if context is None:
			context = dict(run.context)
			context.update(
				variables=run.variables,
				steps=run.steps,
				run={
					"name": run.name,
					"variables": run.variables,
					"step_state": run.steps,
					"started_at": run.started_at,
				},
			)
			context.setdefault("doc", {})
			context.setdefault("customer", {})
			context["__reference"] = _reference(run)
			run._scope = context
		context["now"] = _iso(now)
		if data is not None:
			return {**context, "input": data}
		return context

	def _definition(self, run: Run, report: AdvanceReport) -> FlowDefinition | None:
		run._scope = None  # every engine call renders against the run's context as it is now
		try:
			return self.definition_of(run)
		except DefinitionError as exc:
			if run.status == "running":
				run.status = "failed"
				run.error = f"definition: {exc}"[:MAX_ERROR_LENGTH]
			report.note = run.error
			return None

	def _finish(self, run: Run, report: AdvanceReport, definition: FlowDefinition | None) -> AdvanceReport:
		if run.status == "running" and all(s["status"] in TERMINAL_STEP_STATUSES for s in run.steps.values()):
			run.status = "completed"
			run.completed_at = _iso(self.clock.now())
		report.status = run.status
		return report


# --- helpers ------------------------------------------------------------------------------------


def _gate(step: Step, steps: Mapping[str, dict]):
	"""Is a pending step ready, still waiting for a predecessor, or never to run (skip)?"""
	if step.parent_id is not None:
		parent = steps[step.parent_id]
		status = parent["status"]
		if status == "skipped":
			return _SKIP
		if status != "done":
			return _WAIT
		if step.branch is not None and parent.get("branch") != step.branch:
			return _SKIP
	if step.depends_on:
		statuses = [steps[dep]["status"] for dep in step.depends_on]
		if step.join == "any":
			if "done" in statuses:
				return _READY
			return _SKIP if all(status == "skipped" for status in statuses) else _WAIT
		if "skipped" in statuses:
			return _SKIP
		if any(status != "done" for status in statuses):
			return _WAIT
	return _READY


def describe_wait(wait: Mapping) -> str:
	"""A waiting step's wait in words (errors, the run view)."""
	if wait.get("sub_flow"):
		return f"sub-flow run {wait['sub_flow']}"
	if wait.get("doctype"):
		what = f"{wait['doctype']} {wait.get('docname') or ''}".strip()
		return f"{what} ({wait.get('event') or 'event'})"
	return "an event"


def _parse_iso(text: str | None) -> datetime | None:
	return datetime.fromisoformat(text) if text else None


def _due(state: dict, now_iso: str) -> bool:
	return state["status"] == "scheduled" and state.get("trigger_at", "") <= now_iso


def render_payload(spec: KindSpec, payload: Mapping, context: Mapping) -> dict:
	"""Render a step's payload by its field descriptors; fill defaults; coerce numbers and checks."""
	rendered = {}
	for key, value in payload.items():
		field_spec = spec.field(key)
		rendered[key] = _render_field(field_spec, value, context)
	for field_spec in spec.fields:
		if rendered.get(field_spec.name) in (None, "") and field_spec.default is not None:
			rendered[field_spec.name] = field_spec.default
	return rendered


def _render_field(field_spec, value, context):
	if field_spec is None:
		return render_deep(value, context)
	kind = field_spec.type
	if kind in UNRENDERED_FIELD_TYPES:
		return value
	if kind == "json":
		if isinstance(value, str):
			try:
				value = json.loads(value)
			except ValueError:
				return render(value, context)
		return render_deep(value, context)
	if kind == "table":
		rows = value if isinstance(value, list) else []
		return [
			{
				key: _render_field(next((c for c in field_spec.fields if c.name == key), None), cell, context)
				for key, cell in row.items()
			}
			for row in rows
			if isinstance(row, Mapping)
		]
	rendered = render_deep(value, context)
	if kind in ("int", "float") and isinstance(rendered, str) and rendered.strip():
		try:
			number = float(rendered)
		except ValueError:
			raise StepError(
				_("payload.{0} rendered to {1!r}, not a number").format(field_spec.name, rendered[:80]),
				retryable=False,
			) from None
		return int(number) if kind == "int" else number
	if kind == "check" and isinstance(rendered, str):
		return rendered.strip().lower() in ("1", "true", "yes")
	return rendered


def _checked_outcome(spec: KindSpec, step: Step, payload: Mapping, outcome) -> tuple[dict, str | None]:
	if outcome is None:
		outcome = StepOutcome()
	if not isinstance(outcome, StepOutcome):
		raise StepError(
			_("kind {0} returned {1}, not a StepOutcome").format(spec.name, type(outcome).__name__),
			retryable=False,
		)
	result = outcome.result or {}
	if not isinstance(result, Mapping):
		raise StepError(
			_("kind {0} returned a result that is not an object").format(spec.name), retryable=False
		)
	if result:
		try:
			result = json.loads(json.dumps(result, default=str))
		except (TypeError, ValueError) as exc:
			raise StepError(
				_("kind {0} returned a result that is not JSON: {1}").format(spec.name, exc), retryable=False
			) from None
	branch = outcome.branch
	if spec.has_branches:
		labels = spec.branches_for(step.payload)
		if branch not in labels:
			raise StepError(
				_("kind {0} chose branch {1!r}, not one of {2}").format(spec.name, branch, ", ".join(labels)),
				retryable=False,
			)
	elif branch is not None:
		branch = None
	return dict(result), branch


KEPT_TEXT = 500


def _kept_payload(spec: KindSpec, payload: Mapping) -> dict:
	"""The rendered payload, for the run's timeline: short, and without what may hold secrets
	(a webhook's URL query, headers and body; an SMS or email body is the message itself)."""
	if not spec.side_effect or not payload:
		return {}
	kept = {}
	for key, value in payload.items():
		if spec.name == "webhook" and key in ("headers", "body_template"):
			continue
		if spec.name == "webhook" and key == "url":
			from .kinds.builtin import redact_url

			value = redact_url(value)
		if isinstance(value, str) and len(value) > KEPT_TEXT:
			value = value[: KEPT_TEXT - 1] + "…"
		kept[key] = value
	return kept


def _reference(run: Run) -> dict | None:
	doc = run.context.get("doc")
	if isinstance(doc, Mapping) and doc.get("doctype") and doc.get("name"):
		return {"doctype": doc["doctype"], "name": doc["name"]}
	return run.context.get("reference")


_last_iso: tuple = (None, "")


def _iso(moment: datetime) -> str:
	"""isoformat with a one-entry memo: within one engine call the clock often returns one instant."""
	global _last_iso
	last = _last_iso
	if last[0] is moment:
		return last[1]
	text = moment.isoformat()
	_last_iso = (moment, text)
	return text


def _naive(moment: datetime | None, tz) -> datetime | None:
	"""Datetimes are naive in the site's time zone (Frappe's convention); convert an explicit offset."""
	if moment is None or moment.tzinfo is None:
		return moment
	return moment.astimezone(tz).replace(tzinfo=None)


def _clear_error(state: dict) -> None:
	"""A step that goes on no longer shows its last error (its attempts keep theirs)."""
	state.pop("error", None)
	state.pop("error_message", None)
