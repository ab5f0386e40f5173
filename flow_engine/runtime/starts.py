"""Starts that come from time rather than from a save: date-based and scheduled (cron) triggers.

The planning is here, without Frappe, so that the pure tier can run it over a virtual clock with
downtimes; the Frappe layer (flow_engine/time_starts.py) gives it the documents through indexed
queries and records what started.

- **Date-based** (`on_date_field`): a document starts once per value of its date field, at the
  first scheduler pass at or after `value + offset` (a date counts from midnight, in the site's
  time zone like every naive datetime here). Each pass looks at the window (last pass, this pass]:
  a date changed before its time moves the start; a date changed after its start starts again
  (a new value); a document whose time had already passed when it was created or changed does not
  start, unless the trigger says `start_past`. After a downtime the first pass covers it all.
- **Scheduled** (`on_schedule`): a cron expression (croniter, which Frappe ships), in site time.
  After a downtime only the latest missed occurrence fires, once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from .i18n import _

OFFSET_UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
MAX_OFFSET_SECONDS = 3650 * 86400
DATE_EVENT, SCHEDULE_EVENT = "on_date_field", "on_schedule"
TIME_EVENTS = frozenset({DATE_EVENT, SCHEDULE_EVENT})


def offset_seconds(offset, unit: str | None) -> float:
	"""The trigger's offset in seconds: negative is before the date, positive after."""
	return float(offset or 0) * OFFSET_UNITS.get(unit or "days", 86400)


def as_datetime(value) -> datetime | None:
	"""A date or datetime field's value (or its ISO text) as a naive datetime; None if empty."""
	if value in (None, ""):
		return None
	if isinstance(value, datetime):
		return value.replace(tzinfo=None)
	if isinstance(value, date):
		return datetime(value.year, value.month, value.day)
	try:
		return as_datetime(datetime.fromisoformat(str(value).strip()))
	except ValueError:
		return None


def start_time(value, offset: float) -> datetime | None:
	"""When a document whose date field holds `value` starts."""
	moment = as_datetime(value)
	return None if moment is None else moment + timedelta(seconds=offset)


def value_key(value) -> str:
	"""The date value as recorded with its start ("once per date value")."""
	moment = as_datetime(value)
	if moment is None:
		return ""
	if isinstance(value, date) and not isinstance(value, datetime):
		return moment.date().isoformat()
	return moment.isoformat(sep=" ")


@dataclass(frozen=True)
class DateWindow:
	"""Field values whose start falls in (after, until]: `lower < value <= upper`."""

	after: datetime
	until: datetime
	lower: datetime
	upper: datetime


def date_window(after: datetime, until: datetime, offset: float) -> DateWindow:
	shift = timedelta(seconds=offset)
	return DateWindow(after, until, after - shift, until - shift)


# --- cron -------------------------------------------------------------------------------------


def cron_problem(expression) -> str | None:
	"""Why a cron expression cannot be used (None if it can): not valid, or never fires."""
	if not isinstance(expression, str) or not expression.strip():
		return _("required: a cron expression such as 0 8 * * 1 (Mondays at 08:00)")
	text = expression.strip()
	if not text.startswith("@") and len(text.split()) != 5:
		return _("{0} is not a cron expression of five fields (minute hour day month weekday)").format(
			repr(text[:80])
		)
	base = datetime(2026, 1, 1)
	try:
		if not croniter.is_valid(text):
			return _("{0} is not a valid cron expression").format(repr(text[:80]))
		first = croniter(text, base).get_next(datetime)
	except (CroniterBadCronError, CroniterBadDateError, ValueError, KeyError):
		return _("{0} never fires").format(repr(text[:80]))
	if first - base > timedelta(days=3650):  # croniter looks years ahead for dates such as 30 February
		return _("{0} never fires").format(repr(text[:80]))
	return None


def latest_occurrence(expression: str, after: datetime, now: datetime) -> datetime | None:
	"""The latest occurrence in (after, now], or None: after a downtime the missed ones fire once."""
	try:
		previous = croniter(expression, now + timedelta(seconds=1)).get_prev(datetime)
	except (CroniterBadCronError, CroniterBadDateError, ValueError):
		return None
	return previous if after < previous <= now else None


def next_occurrence(expression: str, after: datetime) -> datetime | None:
	try:
		return croniter(expression, after).get_next(datetime)
	except (CroniterBadCronError, CroniterBadDateError, ValueError):
		return None


# --- a pass -----------------------------------------------------------------------------------


@dataclass
class DatePass:
	"""What one scheduler pass of a date-based template decided."""

	starts: list[tuple[str, str]]  # (document name, value key)
	checked_until: datetime  # where the next pass begins
	complete: bool  # False when the batch was full: the next pass goes on from here


def plan_date_pass(
	*,
	checked_until: datetime,
	now: datetime,
	offset: float,
	start_past: bool,
	due: Callable[[DateWindow, int], list[tuple[str, object]]],
	changed_late: Callable[[datetime, datetime, int], list[tuple[str, object]]] | None,
	limit: int,
) -> DatePass:
	"""One pass over (checked_until, now].

	`due(window, limit)`: documents whose value is in the window, created before their start time
	(unless `start_past`), and that have not started for that value, in value order. `changed_late(since, upper, limit)` (only with `start_past`):
	documents changed since `since` whose start time (value <= upper) had passed and that have not
	started for their value. Both are indexed queries in the Frappe layer.
	"""
	window = date_window(checked_until, now, offset)
	rows = due(window, limit)
	starts = [(name, value_key(value)) for name, value in rows]
	complete = len(rows) < limit
	if start_past and changed_late is not None and complete:
		late = changed_late(checked_until, window.lower, limit - len(rows))
		starts.extend((name, value_key(value)) for name, value in late)
		complete = len(late) < limit - len(rows)
	if complete:
		return DatePass(starts, now, True)
	# a full batch: the next pass takes the window again (what started is recorded, not repeated)
	return DatePass(starts, checked_until, False)


def unique(starts: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
	seen, kept = set(), []
	for item in starts:
		if item not in seen:
			seen.add(item)
			kept.append(item)
	return kept
