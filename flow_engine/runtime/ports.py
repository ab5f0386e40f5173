"""The engine's ports: how it reads time, keeps run state and acts on the world.

The Frappe adapter implements them over doctypes and ERPNext; the simulator implements them with
a virtual clock, an in-memory store and effects that record instead of acting.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
	def now(self) -> datetime:
		"""Current time as a naive datetime in the site's time zone (Frappe's convention)."""


class SystemClock:
	def __init__(self, tz: timezone | None = None):
		self.tz = tz

	def now(self) -> datetime:
		return datetime.now(self.tz).replace(tzinfo=None) if self.tz else datetime.now()


class VirtualClock:
	"""A clock that only moves when told to: deterministic simulations and tests."""

	def __init__(self, start: datetime, tz: timezone = timezone.utc):
		self._now = start.replace(tzinfo=None, microsecond=0)
		self.tz = tz  # dates written with an offset are converted to this zone: same result on any machine

	def now(self) -> datetime:
		return self._now

	def set(self, moment: datetime) -> None:
		if moment > self._now:
			self._now = moment

	def advance(self, seconds: float) -> None:
		self._now += timedelta(seconds=seconds)


class Effects(Protocol):
	"""Side effects a step may perform. Every call carries the step's idempotency key: an
	implementation must return the earlier result instead of acting twice for the same key.
	`reference` is the {"doctype", "name"} of the document the run is about, to link to."""

	def create_document(
		self,
		doctype: str,
		values: dict,
		*,
		idempotency_key: str,
		reference: dict | None,
		strict: bool = False,
		submit: bool = False,
	) -> dict:
		"""`strict`: a field the DocType does not have is an error (else it is left out)."""
		...

	def set_value(
		self, doctype: str, name: str, field: str, value, *, operation: str, idempotency_key: str
	) -> dict:
		"""operation: set, increment or decrement (value is then a number)."""
		...

	def add_comment(self, doctype: str, name: str, text: str, *, idempotency_key: str, flow: dict) -> dict:
		"""A comment on the document's timeline; `flow`: {"run", "template"} that wrote it."""
		...

	def update_document(self, doctype: str, name: str, values: dict, *, idempotency_key: str) -> dict: ...

	def create_dispatch_job(self, values: dict, *, idempotency_key: str, reference: dict | None) -> dict: ...

	def send_email(
		self,
		recipients: list[str],
		subject: str,
		body: str,
		*,
		idempotency_key: str,
		template: str | None,
		reference: dict | None,
	) -> dict: ...

	def send_sms(self, recipients: list[str], body: str, *, idempotency_key: str) -> dict: ...

	def notify_in_app(
		self, users: list[str], subject: str, body: str, *, idempotency_key: str, reference: dict | None
	) -> dict: ...

	def http_request(
		self, method: str, url: str, *, body, headers: dict, idempotency_key: str, timeout: float
	) -> dict:
		"""Returns {"status_code": int, "body": str}; raises StepError on a network failure."""

	def activate_subscription(
		self, name: str | None, *, idempotency_key: str, customer: str | None = None
	) -> dict:
		"""`name`, or (when None) the customer's subscription that is not active yet; a result with
		`skipped` when there is none."""
		...

	def assign(
		self,
		doctype: str,
		name: str,
		users: list[str],
		*,
		description: str,
		idempotency_key: str,
		role: str | None = None,
		pick: str | None = None,
		due_date: str | None = None,
	) -> dict:
		"""Assign a document to users (Frappe's assignments: a ToDo each), or to one enabled user
		of `role` chosen by `pick` (round_robin or least_loaded)."""

	def start_sub_flow(
		self,
		template: str,
		*,
		doctype: str | None,
		docname: str | None,
		variables: dict,
		lineage: list[str],
		parent: dict,
		idempotency_key: str,
	) -> dict:
		"""Start a run of `template` for a document, as a child of `parent` ({"run", "step", "wait"}).
		`lineage`: the templates from the first run down to this one. Returns the child as
		kinds.waiting.sub_flow_summary gives it; raises StepError when the template is unknown or
		inactive, or the lineage is deeper than allowed."""


class Store(Protocol):
	"""Run state in and out. `save` receives the report of what the advance changed so that an
	implementation can write only that (pending rows for newly scheduled steps, etc.)."""

	def load(self, run_name: str): ...

	def save(self, run, report) -> None: ...
