"""At most N starts per minute per template (Flow Template's Max Starts per Minute).

A start over the limit waits in the queue, and so do the template's other queued starts, in the
order they came: when the limit is reached, every queued start of the template moves later by the
same amount, to the minute's end (their order is kept, ties included), and a start queued
meanwhile goes after the last of them. So a bulk import of 10,000 customers starts its flows at
the pace asked, neither flooding the workers and the mail queue nor overtaking one another.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import frappe
from frappe.utils import now_datetime

WINDOW = timedelta(minutes=1)


def limit_of(template: str) -> int:
	return int(frappe.get_cached_value("Flow Template", template, "max_starts_per_minute") or 0)


def queue_time(template: str, now: datetime, limit: int | None = None) -> datetime:
	"""When a new start of `template` is due: now, or after the template's queued starts if it is
	throttled (so that it does not overtake them). `limit`: the template's, if the caller has it."""
	if not (limit_of(template) if limit is None else limit):
		return now
	last = frappe.db.sql(
		"""select max(trigger_at) from `tabFlow Step Pending`
		where flow_template = %s and status = 'pending' and action = 'start'""",
		(template,),
	)[0][0]
	return max(now, last + timedelta(microseconds=1)) if last else now


def hold_back(row) -> datetime | None:
	"""For a start row about to run: None if the template may start a run now; else the row and the
	template's other queued starts are moved later (and the new time of the row is returned)."""
	limit = limit_of(row.flow_template)
	if not limit:
		return None
	now = now_datetime()
	held = frappe.local.flags.setdefault("flow_engine_held_back", {})
	shift = held.get(row.flow_template)
	if shift is None:
		started = frappe.db.sql(
			"""select creation from `tabFlow Run` where flow_template = %s and creation > %s
			order by creation limit %s""",
			(row.flow_template, now - WINDOW, limit),
		)
		if len(started) < limit:
			return None
		slot = started[0][0] + WINDOW  # when the oldest start of the last minute leaves the window
		shift = max(slot - row.trigger_at, timedelta(0))
		held[row.flow_template] = shift  # the template's other rows claimed in this drain: the same
		frappe.db.sql(
			"""update `tabFlow Step Pending`
			set trigger_at = trigger_at + interval %s microsecond
			where flow_template = %s and status = 'pending' and action = 'start'""",
			(int(shift.total_seconds() * 1_000_000), row.flow_template),
		)
	return row.trigger_at + shift


def forget() -> None:
	"""At the end of a drain: the next one counts again."""
	frappe.local.flags.flow_engine_held_back = {}
