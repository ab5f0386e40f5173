"""Run state: plain JSON-able data, so that any store can keep it and a round trip changes nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

RUN_STATUSES = ("running", "paused", "completed", "failed", "cancelled")
STEP_STATUSES = ("pending", "scheduled", "waiting", "done", "failed", "skipped")
TERMINAL_STEP_STATUSES = frozenset({"done", "skipped"})


@dataclass
class Run:
	"""One execution of a flow definition against one context.

	`definition` is the snapshot the run started with: it keeps executing that snapshot even if
	the template is edited. `steps` maps step id to its state:
	`{"status", "at", "trigger_at", "tries", "attempts": [...], "result", "branch", "error",
	"error_message"}` (keys appear as they become meaningful; `error_message` is the error's
	template and arguments, `i18n.message_data`, when it was made to be translated).
	"""

	name: str
	definition: dict
	status: str = "running"
	steps: dict[str, dict] = field(default_factory=dict)
	variables: dict = field(default_factory=dict)
	context: dict = field(default_factory=dict)
	defaults: dict = field(default_factory=dict)
	started_at: str | None = None
	completed_at: str | None = None
	error: str | None = None
	_compiled: object = field(default=None, repr=False, compare=False)
	# The render context of the engine call under way (rebuilt at the start of every call).
	_scope: dict | None = field(default=None, repr=False, compare=False)

	def to_dict(self) -> dict:
		return {
			"name": self.name,
			"definition": self.definition,
			"status": self.status,
			"steps": self.steps,
			"variables": self.variables,
			"context": self.context,
			"defaults": self.defaults,
			"started_at": self.started_at,
			"completed_at": self.completed_at,
			"error": self.error,
		}

	@classmethod
	def from_dict(cls, data: dict) -> Run:
		return cls(
			name=data["name"],
			definition=data["definition"],
			status=data.get("status", "running"),
			steps=data.get("steps") or {},
			variables=data.get("variables") or {},
			context=data.get("context") or {},
			defaults=data.get("defaults") or {},
			started_at=data.get("started_at"),
			completed_at=data.get("completed_at"),
			error=data.get("error"),
		)

	def to_json(self) -> str:
		return json.dumps(self.to_dict(), separators=(",", ":"))

	@classmethod
	def from_json(cls, text: str) -> Run:
		return cls.from_dict(json.loads(text))

	def step_status(self, step_id: str) -> str | None:
		state = self.steps.get(step_id)
		return state["status"] if state else None


@dataclass
class AdvanceReport:
	"""What one engine call changed: a store writes exactly this (one run row, pending rows…)."""

	run: str
	status: str = "running"
	executed: list[str] = field(default_factory=list)
	failed_attempts: list[str] = field(default_factory=list)
	scheduled: list[tuple[str, str]] = field(default_factory=list)  # (step id, trigger_at ISO)
	waiting: list[str] = field(default_factory=list)
	skipped: list[str] = field(default_factory=list)
	failed: list[str] = field(default_factory=list)
	unscheduled: list[str] = field(default_factory=list)  # scheduled steps no longer to fire (cancel)
	note: str | None = None

	@property
	def changed(self) -> bool:
		return bool(
			self.executed
			or self.failed_attempts
			or self.scheduled
			or self.waiting
			or self.skipped
			or self.failed
			or self.unscheduled
		)

	def as_dict(self) -> dict:
		return {
			"run": self.run,
			"status": self.status,
			"executed": self.executed,
			"failed_attempts": self.failed_attempts,
			"scheduled": [list(item) for item in self.scheduled],
			"waiting": self.waiting,
			"skipped": self.skipped,
			"failed": self.failed,
			"unscheduled": self.unscheduled,
			"note": self.note,
		}
