"""The scheduler: fire due steps and start queued runs, in batches, with leases.

Every minute Frappe's scheduler calls `tick`. It claims due Flow Step Pending rows with
`SELECT … FOR UPDATE SKIP LOCKED` (so concurrent ticks and workers never take the same row),
marks them `running` with a lease, commits, then processes each row in its own transaction.
A worker that dies leaves its rows `running`; when their lease expires another claim takes them
again. A row whose processing raises (a deadlock, a lock timeout, an outage) is put back with
exponential backoff and jitter; past the maximum it is `failed` and keeps its error, and
`retry_pending` puts it back. When the backlog is large the tick also enqueues a few drain jobs,
one per batch of rows (never one job per step), so that several workers share the work.
"""

from __future__ import annotations

import math
import os
import random
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import frappe
from frappe.utils import now_datetime

from flow_engine.adapters.store import load_pending, update_row
from flow_engine.compat import commit_and_chain, is_write_conflict
from flow_engine.runtime import RetryPolicy, StoreConflict
from flow_engine.settings import get_settings

# Failures of the machinery itself (not of a step: those follow the step's own retry policy).
INFRASTRUCTURE_RETRY = RetryPolicy(
	max_attempts=5, initial_interval_seconds=10, backoff_factor=3, max_interval_seconds=3600, jitter=0.2
)
MAX_EXTRA_WORKERS = 4
# A row whose transaction collides with another worker's is run again at once up to this many times.
CONFLICT_RETRIES = 5
# A drain commits its rows in groups: at most this many rows, or this long, per transaction.
GROUP_ROWS = 50
GROUP_SECONDS = 0.25


@dataclass
class DrainStats:
	worker: str
	claimed: int = 0
	completed: int = 0
	cancelled: int = 0
	held: int = 0  # due while their run was paused
	throttled: int = 0  # starts over their template's limit per minute, back in the queue
	retried: int = 0
	failed: int = 0
	lost: int = 0
	batches: int = 0
	seconds: float = 0.0
	errors: list[str] = field(default_factory=list)

	def as_dict(self) -> dict:
		return {k: getattr(self, k) for k in self.__dataclass_fields__}


def worker_id() -> str:
	return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def tick() -> None:
	"""scheduler_events, every minute."""
	settings = get_settings()
	batch_size = max(int(settings.batch_size), 1)
	due = count_due()
	if due > int(settings.fan_out_threshold):
		helpers = min(math.ceil(due / batch_size) - 1, MAX_EXTRA_WORKERS)
		for index in range(helpers):
			frappe.enqueue(
				"flow_engine.scheduler.drain_job",
				queue="long",
				job_id=f"flow_engine_drain_{frappe.local.site}_{index}",
				deduplicate=True,
			)
	from flow_engine.time_starts import queue_time_starts

	try:
		queue_time_starts()
	except Exception:
		frappe.db.rollback()
		frappe.log_error(title="flow_engine: date-based and scheduled starts failed")
	drain()


def enqueue_drain(starts_only: bool = False) -> None:
	"""Run queued flow starts soon (after a document event), in one job for the whole transaction."""
	frappe.enqueue(
		"flow_engine.scheduler.drain_job",
		queue="short",
		now=bool(frappe.flags.in_test),
		starts_only=starts_only,
	)


def drain_job(starts_only: bool = False) -> None:
	drain(starts_only=starts_only)


def count_due() -> int:
	return frappe.db.sql(
		"select count(*) from `tabFlow Step Pending` where status = 'pending' and trigger_at <= %s",
		(now_datetime(),),
	)[0][0]


def drain(
	budget_seconds: float | None = None,
	batch_size: int | None = None,
	worker: str | None = None,
	starts_only: bool = False,
) -> DrainStats:
	"""Claim and process due rows until none is due or the time budget is spent."""
	settings = get_settings()
	budget = float(settings.time_budget_seconds if budget_seconds is None else budget_seconds)
	batch_size = max(int(batch_size or settings.batch_size), 1)
	from flow_engine.throttle import forget

	forget()
	stats = DrainStats(worker or worker_id())
	started = time.monotonic()
	deadline = started + budget
	with _ReadCommitted() as isolation:
		group = Group(stats, isolation)
		while time.monotonic() < deadline:
			names = _claim_retrying(batch_size, stats.worker, int(settings.lease_seconds), starts_only)
			if not names:
				break
			stats.batches += 1
			stats.claimed += len(names)
			for index, name in enumerate(names):
				if time.monotonic() >= deadline:
					group.commit()
					release(names[index:], stats.worker)
					break
				group.process(name)
			last = len(names) < batch_size  # that was all that was due: rows due since are the next tick's
			group.commit(last=last)
			if last:
				break
	forget()
	stats.seconds = round(time.monotonic() - started, 3)
	return stats


def _claim_retrying(batch_size: int, worker: str, lease_seconds: int, starts_only: bool) -> list[str]:
	"""A claim that deadlocks anyway (READ COMMITTED makes it rare) is harmless to repeat: back
	off briefly and claim again rather than end the drain.

	The claim commits its lease before any row runs, although the rows could stay locked by it
	until their group commits: a worker that dies on a row (killed, out of memory) must leave its
	rows leased, so that the lease's expiry counts an attempt; with the lease rolled back with it,
	a row that kills every worker would be claimed again for ever, and its batch with it."""
	for attempt in range(5):
		try:
			return claim(batch_size, worker, lease_seconds, starts_only=starts_only)
		except Exception as exc:
			if not is_write_conflict(exc):
				raise
			frappe.db.rollback()
			time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))
	return claim(batch_size, worker, lease_seconds, starts_only=starts_only)


def claim(batch_size: int, worker: str, lease_seconds: int, *, starts_only: bool = False) -> list[str]:
	"""Take up to `batch_size` due rows (and rows whose lease expired) for `worker`; commits."""
	with _ReadCommitted():
		return _claim(batch_size, worker, lease_seconds, starts_only)


def _new_transaction() -> None:
	"""End the open transaction and start another. With nothing written in it and no callback
	waiting for its commit, START TRANSACTION alone does both (it ends the open one as a COMMIT
	would); otherwise Frappe's commit, so that the caller's callbacks run as they would have."""
	db = frappe.db
	# (the callback queues' only way to tell they are empty is their deque, in both releases)
	if db.transaction_writes or db.before_commit._functions or db.after_commit._functions:
		db.commit()
	else:
		db.begin()


class _ReadCommitted:
	"""Run the drain's transactions (claims and steps) in READ COMMITTED, then give the session
	its own level back.

	- The claim: under REPEATABLE READ its `UPDATE … WHERE name IN (…)` may scan the primary key
	  (a small table) and lock every row it reads, rows another worker has just claimed included:
	  two workers then deadlock. READ COMMITTED locks only the rows it updates.
	- The steps: each row and its run are locked (`FOR UPDATE`) before anything is read, so a step
	  sees a stable run either way. Under REPEATABLE READ with MariaDB 11's default snapshot
	  isolation, every locking read of a row another worker committed since this transaction's
	  first read fails with error 1020, and Frappe locks its naming series that way: workers
	  creating documents of one series conflicted on most attempts. READ COMMITTED reads the
	  latest committed row instead, as MariaDB 10 did under REPEATABLE READ.

	A transaction takes the session's level when it starts (at START TRANSACTION, which Frappe's
	commit sends after COMMIT; a SET after it changes only the transactions after). The session's
	own level is kept in a variable of the session by the same SET that changes it, and the
	drain's last commit (`restore` just before it) starts the caller's next transaction at that
	level again, with no commit of its own.
	"""

	def __init__(self):
		self.active = False  # False inside a drain already (its level is this one's)
		self.restored = False

	def __enter__(self):
		if frappe.local.flags.get("flow_engine_read_committed"):
			return self
		frappe.db.sql(
			"set @flow_engine_isolation = @@session.tx_isolation, session tx_isolation = 'READ-COMMITTED'"
		)
		_new_transaction()  # the next transaction starts at the new level
		frappe.local.flags.flow_engine_read_committed = True
		self.active = True
		return self

	def restore(self) -> None:
		"""The session's own level for the transactions that start after the next commit."""
		if self.active and not self.restored:
			# (a connection opened again since has no such variable: it had the server's default)
			frappe.db.sql(
				"set session tx_isolation = coalesce(@flow_engine_isolation, @@global.tx_isolation)"
			)
			self.restored = True

	def unrestore(self) -> None:
		"""READ COMMITTED again (the commit meant to be the last failed: its rows are run again)."""
		if self.active and self.restored:
			frappe.db.sql("set session tx_isolation = 'READ-COMMITTED'")
			self.restored = False

	def __exit__(self, exc_type, exc, tb) -> bool:
		if not self.active:
			return False
		frappe.local.flags.flow_engine_read_committed = False
		if exc_type is not None:
			frappe.db.rollback()
		if not self.restored:
			self.restore()
			frappe.db.commit()
		return False


def _claim(batch_size: int, worker: str, lease_seconds: int, starts_only: bool) -> list[str]:
	now = now_datetime()
	# after a save: the starts and the news for waiting steps it queued (not every due step)
	scope = " and action in ('start', 'resume')" if starts_only else ""
	since = frappe.flags.flow_engine_rows_since
	if since:
		# the Frappe tier runs on copies of real sites: its drains leave the site's own rows alone
		scope += f" and creation >= {frappe.db.escape(str(since))}"
	rows = frappe.db.sql(
		f"""select name, trigger_at from `tabFlow Step Pending`
		where status = 'pending' and trigger_at <= %s{scope}
		order by trigger_at, name limit %s for update skip locked""",
		(now, batch_size),
	)
	expired = []
	# rows whose worker died are taken back by the tick's drain; a drain after a save only starts
	if len(rows) < batch_size and not starts_only:
		expired = frappe.db.sql(
			f"""select name, trigger_at from `tabFlow Step Pending`
			where status = 'running' and lease_expires_at < %s{scope}
			order by trigger_at, name limit %s for update skip locked""",
			(now, batch_size - len(rows)),
		)
	names = [row[0] for row in sorted([*rows, *expired], key=lambda row: (row[1], row[0]))]
	if names:
		table = frappe.qb.DocType("Flow Step Pending")
		lease_until = now + timedelta(seconds=lease_seconds)
		(
			frappe.qb.update(table)
			.set(table.status, "running")
			.set(table.claimed_by, worker)
			.set(table.lease_expires_at, lease_until)
			.set(table.modified, now)
			.where(table.name.isin(names))
		).run()
		if expired:
			# A lease that expired means a worker died on the row: that counts as an attempt.
			expired_names = [row[0] for row in expired]
			(
				frappe.qb.update(table)
				.set(table.retry_count, table.retry_count + 1)
				.set(table.last_error, "lease expired: the worker that claimed it stopped")
				.where(table.name.isin(expired_names))
			).run()
	commit_and_chain()  # the next transaction at this one's level (READ COMMITTED in a drain)
	return names


def release(names: list[str], worker: str) -> None:
	"""Give back claimed rows this worker will not process (its time budget ran out)."""
	if not names:
		return
	table = frappe.qb.DocType("Flow Step Pending")
	(
		frappe.qb.update(table)
		.set(table.status, "pending")
		.set(table.claimed_by, None)
		.set(table.lease_expires_at, None)
		.where(table.name.isin(names) & (table.claimed_by == worker) & (table.status == "running"))
	).run()
	frappe.db.commit()


class Group:
	"""A drain's rows, committed together: one transaction for up to GROUP_ROWS rows or
	GROUP_SECONDS (a commit, with its flush to disk, costs more than a step's own statements).

	Exactly once, whatever happens mid-group:
	- A step's own failure is not an error here: the engine records it in the run (and schedules
	  its retry) like any other outcome.
	- Anything that raises out of a row (a deadlock with another worker, a lock timeout, an outage)
	  rolls back the whole transaction: the group's earlier rows are undone, their effects and their
	  Flow Effect ledger rows with them, and run again one row per transaction (`process`). For the
	  row that raised this was an attempt, counted as it would be alone: a collision is repeated at
	  once (CONFLICT_RETRIES in all), another error is recorded and retried later with backoff.
	  A worker that dies mid-group leaves its rows `running`, their effects rolled back; another
	  claim takes them when their lease expires.
	- A step that reaches outside the database (a webhook, an SMS gateway:
	  effects.mark_external_call) cannot be rolled back, so the group commits right after its row:
	  only a crash between that call and the commit makes the call again (with the same
	  Idempotency-Key header), as with one row per transaction.
	- A step that commits by itself (nothing in flow_engine does) commits the group's earlier
	  rows; run again after a rollback, they are found finished and counted as such.

	Rows that simply completed are marked so in one UPDATE at the commit (their `executed_at` is
	the group's commit time, at most GROUP_SECONDS after the step ran).
	"""

	def __init__(self, stats: DrainStats, isolation: _ReadCommitted | None = None):
		self.stats = stats
		self.isolation = isolation
		self.rows: list[str] = []
		self.outcomes: list[str] = []
		self.completed: list[str] = []  # rows to mark completed in one UPDATE at the commit
		self.started = 0.0

	def process(self, name: str) -> None:
		if not self.rows:
			self.started = time.monotonic()
		frappe.local.flow_engine_external_call = False
		# what dispatch deduplicates "per transaction" stays per row, as if each had its own
		frappe.local.flags.flow_engine_queued = set()
		seen: dict = {}
		try:
			outcome = _row_work(name, self.stats.worker, seen, finish=self._finish)
		except Exception as exc:
			self._run_alone()
			if _collided(exc):  # that was its first attempt: the rest, alone
				self._count([process(name, self.stats.worker, tried=1)])
			elif "row" in seen:  # an attempt that failed, as it would have alone
				self._count([_record_failure(seen["row"], exc)])
			else:
				self._count([process(name, self.stats.worker)])
			return
		self.rows.append(name)
		self.outcomes.append(outcome)
		if (
			frappe.local.flow_engine_external_call
			or len(self.rows) >= GROUP_ROWS
			or time.monotonic() - self.started >= GROUP_SECONDS
		):
			self.commit()

	def _finish(self, name: str, status: str, note: str | None = None, run_name: str | None = None) -> None:
		if status == "completed" and note is None and run_name is None:
			self.completed.append(name)  # the common case: one statement for the group
		else:
			_finish(name, status, note, run_name)

	def commit(self, last: bool = False) -> None:
		"""`last`: the drain's last commit, which also gives the session its own level back."""
		if not self.rows:
			return
		restore = last and self.isolation is not None
		try:
			if self.completed:
				now = now_datetime()
				frappe.db.sql(
					"""update `tabFlow Step Pending` set status = 'completed', executed_at = %s,
					lease_expires_at = null, last_error = null, modified = %s, modified_by = %s
					where name in %s""",
					(now, now, frappe.session.user, tuple(self.completed)),
				)
			if restore:
				self.isolation.restore()
				frappe.db.commit()  # the next transaction at the level restored
			else:
				commit_and_chain()
		except Exception:
			if restore:
				self.isolation.unrestore()  # the rows run again alone, read committed
			self._run_alone()
			return
		self._count(self.outcomes)
		self.rows, self.outcomes, self.completed = [], [], []

	def _run_alone(self) -> None:
		"""Roll the transaction back and run the group's rows again, one per transaction."""
		from flow_engine.throttle import forget

		frappe.db.rollback()
		forget()  # the throttle's shifts of this transaction were rolled back with it
		redo, self.rows, self.outcomes, self.completed = self.rows, [], [], []
		self._count([process(row, self.stats.worker) for row in redo])

	def _count(self, outcomes: list[str]) -> None:
		for outcome in outcomes:
			setattr(self.stats, outcome, getattr(self.stats, outcome) + 1)


def process(name: str, worker: str, *, tried: int = 0) -> str:
	"""Process one claimed row in its own transaction; returns the outcome for the stats.

	A transaction that collides with another worker's (a deadlock; on MariaDB 11, also a write
	conflict under snapshot isolation) has been rolled back whole by the server: nothing of it
	happened, so it is run again at once, a few times, before it counts as a failed attempt
	(`tried`: how many of those times were spent already, in a group that collided)."""
	for attempt in range(1 + tried, CONFLICT_RETRIES + 1):
		seen: dict = {}
		try:
			outcome = _row_work(name, worker, seen)
			frappe.db.commit()
			return outcome
		except Exception as exc:
			frappe.db.rollback()
			if attempt < CONFLICT_RETRIES and _collided(exc):
				time.sleep(random.uniform(0.005, 0.05) * attempt)
				continue
			if "row" not in seen:
				raise
			return _record_failure(seen["row"], exc)
	raise AssertionError("unreachable")


# A row this worker already finished (a group that committed in a step, then run again) counts as
# its status says.
_FINISHED = frozenset({"completed", "cancelled", "held", "failed"})


def _row_work(name: str, worker: str, seen: dict, finish=None) -> str:
	"""A claimed row's work in the open transaction (no commit): its outcome for the stats.
	`finish`: how the row is marked done (default `_finish`, at once)."""
	finish = finish or _finish
	row, run_row = load_pending(name)  # the row and its run, locked, in one statement
	if row is None or row.status != "running" or row.claimed_by != worker:
		if row is not None and row.claimed_by == worker and row.status in _FINISHED:
			return row.status
		return "lost"  # another worker reclaimed it after our lease expired
	seen["row"] = row
	if row.retry_count >= INFRASTRUCTURE_RETRY.max_attempts:
		_finish(name, "failed", row.last_error or "too many attempts")
		return "failed"
	status, note, run_name = _execute(row, run_row)
	if status == "throttled":  # back in the queue, later (note: when), not an attempt
		update_row(
			"Flow Step Pending",
			name,
			{"status": "pending", "trigger_at": note, "claimed_by": None, "lease_expires_at": None},
		)
		return "throttled"
	finish(name, status, note, run_name)
	return status if status in ("cancelled", "held") else "completed"


def _collided(exc: BaseException) -> bool:
	return isinstance(exc, StoreConflict) or is_write_conflict(exc)


def _execute(row, run_row=None) -> tuple[str, str | None, str | None]:
	"""`run_row`: the run's row, already read and locked with the queue row (None: read it)."""
	from flow_engine import runs

	if row.action == "start":
		import json

		try:
			template = frappe.get_cached_doc("Flow Template", row.flow_template)
		except frappe.DoesNotExistError:
			frappe.clear_last_message()
			return "cancelled", "template was deleted", None
		if not template.is_active:
			return "cancelled", "template is not active", None
		from flow_engine.throttle import hold_back

		later = hold_back(row)
		if later is not None:
			return "throttled", later, None
		snapshot = json.loads(row.context_snapshot or "{}")
		run, _report = runs.start_run(
			template,
			doctype=row.context_doctype,
			docname=row.context_docname,
			event=row.trigger_event or "manual",
			variables=snapshot.get("variables"),
			depth=int(snapshot.get("depth") or 0),
			doc_snapshot=snapshot.get("doc"),
		)
		return "completed", None, run.name
	if row.action == "resume":
		import json

		run, report = runs.resume_step(
			row.flow_run, row.step_id, json.loads(row.context_snapshot or "{}"), loaded=run_row
		)
		if run.status == "paused":
			return "held", None, None  # given back (pending) when the run resumes
		return "completed", report.note, None
	due = row.trigger_at.isoformat() if row.trigger_at else None
	run, report = runs.fire_step(row.flow_run, row.step_id, force=True, due=due, loaded=run_row)
	if run.status == "paused":
		return "held", None, None
	if report.note and run.status in ("failed", "cancelled"):
		return "cancelled", report.note, None
	return "completed", report.note, None


def _finish(name: str, status: str, note: str | None = None, run_name: str | None = None) -> None:
	values = {"status": status, "executed_at": now_datetime(), "lease_expires_at": None, "last_error": note}
	if run_name:
		values["flow_run"] = run_name
	update_row("Flow Step Pending", name, values)


def _record_failure(row, exc: Exception) -> str:
	attempts = int(row.retry_count or 0) + 1
	error = f"{type(exc).__name__}: {exc}"[:1000]
	if attempts >= INFRASTRUCTURE_RETRY.max_attempts:
		values = {"status": "failed", "retry_count": attempts, "last_error": error, "lease_expires_at": None}
		outcome = "failed"
	else:
		delay = INFRASTRUCTURE_RETRY.delay_after(attempts, row.name)
		values = {
			"status": "pending",
			"retry_count": attempts,
			"last_error": error,
			"trigger_at": now_datetime() + timedelta(seconds=delay),
			"claimed_by": None,
			"lease_expires_at": None,
		}
		outcome = "retried"
	update_row("Flow Step Pending", row.name, values)
	frappe.db.commit()
	if outcome == "failed":
		frappe.log_error(title=f"flow_engine: pending row {row.name} failed", message=error)
	return outcome


def retry_pending(name: str) -> None:
	"""Put a failed (or cancelled) pending row back in the queue, due now."""
	update_row(
		"Flow Step Pending",
		name,
		{
			"status": "pending",
			"retry_count": 0,
			"trigger_at": now_datetime(),
			"claimed_by": None,
			"lease_expires_at": None,
		},
	)


def purge_finished(batch: int = 10_000) -> int:
	"""scheduler_events, daily: delete queue rows finished more than `keep_finished_days` ago.

	One row is written per fired step; without this the queue table (and the claim's index) grows
	forever. Failed rows stay until an operator retries or deletes them (a failed start row holds
	the only copy of its event). Deleted in batches, each its own transaction, so that the purge
	never holds many locks at once."""
	days = int(get_settings().keep_finished_days)
	if days <= 0:
		return 0
	before = now_datetime() - timedelta(days=days)
	since = frappe.flags.flow_engine_rows_since
	scope = f" and creation >= {frappe.db.escape(str(since))}" if since else ""  # see _claim
	deleted = 0
	while True:
		frappe.db.sql(
			f"""delete from `tabFlow Step Pending`
			where status in ('completed', 'cancelled') and modified < %s{scope} limit %s""",
			(before, batch),
		)
		count = frappe.db.sql("select row_count()")[0][0]
		frappe.db.commit()
		deleted += count
		if count < batch:
			return deleted
