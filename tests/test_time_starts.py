"""Date-based and scheduled starts: the planning (runtime/starts.py) over a virtual clock."""

from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from flow_engine.runtime import validate_definition
from flow_engine.runtime.starts import (
	cron_problem,
	latest_occurrence,
	plan_date_pass,
	start_time,
	value_key,
)

T0 = datetime(2026, 3, 1, 0, 0)
MINUTE = timedelta(minutes=1)


class Documents:
	"""An in-memory doctype: each document's date value over time, and what started."""

	def __init__(self):
		self.history: dict[str, list[tuple[datetime, object]]] = {}  # name -> [(from, value)]
		self.started: dict[tuple[str, str], datetime] = {}

	def value_at(self, name, moment):
		value = None
		for since, held in self.history[name]:
			if since <= moment:
				value = held
		return value

	def modified_at(self, name, moment):
		return max(since for since, _ in self.history[name] if since <= moment)

	def visible(self, moment):
		return [name for name, history in self.history.items() if history[0][0] <= moment]

	def due(self, moment, offset, start_past):
		"""As the Frappe layer's query: values in the window, of documents created before their
		start time (unless start_past), not started for that value."""

		def query(window, limit):
			rows = []
			for name in self.visible(moment):
				value = self.value_at(name, moment)
				moment_value = start_time(value, 0)
				if moment_value is not None and window.lower < moment_value <= window.upper:
					created = self.history[name][0][0]
					if not start_past and created > start_time(value, offset):
						continue
					if (name, value_key(value)) not in self.started:
						rows.append((moment_value, name, value))
			return [(name, value) for _m, name, value in sorted(rows)[:limit]]

		return query

	def changed_late(self, moment):
		def query(since, upper, limit):
			rows = []
			for name in self.visible(moment):
				value = self.value_at(name, moment)
				held = start_time(value, 0)
				if held is not None and held <= upper and self.modified_at(name, moment) > since:
					if (name, value_key(value)) not in self.started:
						rows.append((held, name, value))
			return [(name, value) for _m, name, value in sorted(rows)[:limit]]

		return query


def run_passes(docs, *, offset, start_past, until, down=(), limit=3, first=T0, every=MINUTE):
	"""A scheduler pass every minute (or `every`) from `first` to `until`, none while `down`."""
	checked = first
	moment = first
	while moment < until:
		moment += every
		if any(a <= moment < b for a, b in down):
			continue
		result = plan_date_pass(
			checked_until=checked,
			now=moment,
			offset=offset,
			start_past=start_past,
			due=docs.due(moment, offset, start_past),
			changed_late=docs.changed_late(moment),
			limit=limit,
		)
		for item in result.starts:
			assert item not in docs.started, f"{item} started twice"
			docs.started[item] = moment
		checked = result.checked_until
	return docs.started


def test_a_document_starts_at_the_first_pass_after_its_date_minus_the_offset():
	docs = Documents()
	docs.history["SINV-1"] = [(T0, date(2026, 3, 10))]
	docs.history["SINV-2"] = [(T0, datetime(2026, 3, 4, 12, 30, 30))]
	started = run_passes(docs, offset=-3 * 86400, start_past=False, until=T0 + timedelta(days=12))
	assert started == {
		("SINV-1", "2026-03-10"): datetime(2026, 3, 7, 0, 0),
		("SINV-2", "2026-03-04 12:30:30"): datetime(2026, 3, 1, 12, 31),
	}


def test_a_moved_date_moves_the_start_and_a_new_date_after_the_start_starts_again():
	docs = Documents()
	docs.history["A"] = [(T0, date(2026, 3, 5)), (datetime(2026, 3, 2), date(2026, 3, 8))]
	docs.history["B"] = [(T0, date(2026, 3, 3)), (datetime(2026, 3, 4), date(2026, 3, 9))]
	started = run_passes(docs, offset=0, start_past=False, until=T0 + timedelta(days=10))
	assert started == {
		("A", "2026-03-08"): datetime(2026, 3, 8),
		("B", "2026-03-03"): datetime(2026, 3, 3),
		("B", "2026-03-09"): datetime(2026, 3, 9),
	}


def test_a_document_that_comes_after_its_time_starts_only_when_the_template_says_so():
	docs = Documents()
	docs.history["LATE"] = [(datetime(2026, 3, 5, 10), date(2026, 3, 2))]
	assert run_passes(docs, offset=0, start_past=False, until=T0 + timedelta(days=6)) == {}
	docs.started.clear()
	started = run_passes(docs, offset=0, start_past=True, until=T0 + timedelta(days=6))
	assert started == {("LATE", "2026-03-02"): datetime(2026, 3, 5, 10, 0)}


def test_after_a_downtime_the_first_pass_starts_what_was_missed_once_in_batches():
	docs = Documents()
	for index in range(7):
		docs.history[f"D{index}"] = [(T0, date(2026, 3, 2 + index % 2))]
	down = [(datetime(2026, 3, 1, 12), datetime(2026, 3, 4, 8))]
	started = run_passes(docs, offset=0, start_past=False, until=datetime(2026, 3, 5), down=down, limit=3)
	assert len(started) == 7
	# three per pass, from the first pass after the downtime
	assert sorted(started.values()) == [datetime(2026, 3, 4, 8, 0)] * 3 + [datetime(2026, 3, 4, 8, 1)] * 3 + [
		datetime(2026, 3, 4, 8, 2)
	]


DAYS = st.integers(min_value=0, max_value=8)
OFFSETS = st.sampled_from([-2 * 86400, -3600, 0, 90 * 60, 86400])


@st.composite
def histories(draw):
	docs = Documents()
	for index in range(draw(st.integers(1, 6))):
		created = T0 + timedelta(hours=draw(st.integers(0, 5 * 24)))
		history = [(created, date(2026, 3, 1) + timedelta(days=draw(DAYS)))]
		if draw(st.booleans()):
			changed = created + timedelta(hours=draw(st.integers(1, 72)))
			history.append((changed, date(2026, 3, 1) + timedelta(days=draw(DAYS))))
		docs.history[f"D{index}"] = history
	return docs


PASS = timedelta(minutes=10)  # the property runs passes every ten minutes: same rules, fewer passes


@settings(max_examples=40, deadline=None)
@given(histories(), OFFSETS, st.booleans(), st.booleans(), st.integers(1, 4))
def test_each_document_starts_once_per_value_never_early_and_never_lost(
	docs, offset, start_past, downtime, limit
):
	until = datetime(2026, 3, 12)
	down = [(datetime(2026, 3, 3, 6), datetime(2026, 3, 4, 18))] if downtime else []
	started = run_passes(
		docs, offset=offset, start_past=start_past, until=until, down=down, limit=limit, every=PASS
	)
	for (name, key), at in started.items():
		due = start_time(date.fromisoformat(key), offset)
		assert at >= due, "never before its time"
		assert value_key(docs.value_at(name, at)) == key, "the value it held when it started"
	backlog = PASS * (2 * len(docs.history) + 1)  # a full batch leaves the rest to the next passes
	for name, history in docs.history.items():
		for index, (since, value) in enumerate(history):
			ends = history[index + 1][0] if index + 1 < len(history) else until
			due = start_time(value, offset)
			key = (name, value_key(value))
			if since <= due - PASS and due + backlog + PASS < min(ends, until):
				# held from before its time until well after: it started, at the first pass after
				# its time (after the downtime, if it was down then), give or take the backlog
				first_pass = T0 + PASS * -(-(due - T0) // PASS)
				for a, b in down:
					if a <= first_pass < b:
						first_pass = T0 + PASS * -(-(b - T0) // PASS)
				if first_pass + backlog < min(ends, until):
					assert key in started, f"{key} was lost"
					assert first_pass <= started[key] <= first_pass + backlog
			if index == 0 and since > due and not start_past:
				assert key not in started, "no start for a document that came after its time"


# --- cron -------------------------------------------------------------------------------------


def test_a_cron_that_cannot_be_used_says_why():
	assert cron_problem("0 8 * * 1") is None
	assert cron_problem("@daily") is None
	assert cron_problem("0 0 30 2 *") == "'0 0 30 2 *' never fires"
	assert cron_problem("61 * * * *") == "'61 * * * *' is not a valid cron expression"
	assert cron_problem("0 8 * *") == (
		"'0 8 * *' is not a cron expression of five fields (minute hour day month weekday)"
	)
	assert cron_problem("") == "required: a cron expression such as 0 8 * * 1 (Mondays at 08:00)"


def test_after_a_downtime_only_the_latest_missed_occurrence_fires():
	monday_8 = "0 8 * * 1"
	assert latest_occurrence(monday_8, datetime(2026, 1, 5, 8), datetime(2026, 1, 5, 8, 0, 30)) is None
	assert latest_occurrence(monday_8, datetime(2026, 1, 5, 7, 59), datetime(2026, 1, 5, 8)) == datetime(
		2026, 1, 5, 8
	)
	# down for three weeks: one occurrence, the latest
	assert latest_occurrence(monday_8, datetime(2026, 1, 5, 8), datetime(2026, 1, 27, 9)) == datetime(
		2026, 1, 26, 8
	)
	every_minute = "* * * * *"
	assert latest_occurrence(every_minute, datetime(2026, 1, 5, 8), datetime(2026, 1, 5, 10, 0, 20)) == (
		datetime(2026, 1, 5, 10, 0)
	)


def flow(trigger):
	return {"trigger": trigger, "steps": [{"id": "a", "kind": "wait"}]}


def test_time_triggers_are_refused_with_the_field_named():
	problems = validate_definition(
		flow({"event": "on_date_field", "doctype": "Sales Invoice", "offset": "soon", "offset_unit": "weeks"})
	)
	assert [str(p) for p in problems] == [
		"flow: trigger.field: required for event on_date_field",
		"flow: trigger.offset: must be a number (negative: before the date)",
		"flow: trigger.offset_unit: must be one of minutes, hours, days",
	]
	problems = validate_definition(
		flow(
			{"event": "on_schedule", "schedule": "0 0 31 2 *", "filters": [["status", "~", 1]], "field": "x"}
		)
	)
	assert [str(p) for p in problems] == [
		"flow: trigger.schedule: '0 0 31 2 *' never fires",
		"flow: trigger.filters: only with trigger.doctype (one run per matching document)",
		"flow: trigger.filters: row 1: unknown operator '~' (known: =, !=, >, <, >=, <=, like, not like, in, not in, is, between, timespan)",
		"flow: trigger.field: not used by event on_schedule",
	]
	assert [
		str(p) for p in validate_definition(flow({"event": "on_issue_opened", "schedule": "* * * * *"}))
	] == ["flow: trigger.schedule: only for event on_schedule"]
	assert (
		validate_definition(
			flow(
				{
					"event": "on_date_field",
					"doctype": "Contract",
					"field": "end_date",
					"offset": -30,
					"start_past": True,
				}
			)
		)
		== []
	)
