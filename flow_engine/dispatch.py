"""Document events → flow runs, after the transaction commits.

Modelled on Frappe's webhook dispatch. Every document save of the site passes through
`on_document_event`, so its common path must cost next to nothing. The doctypes that any active
template listens to are kept as one global default (`flow_engine_doctypes`): Frappe has already
loaded the global defaults into the request's memory to resolve the hook itself, so a save of
another doctype returns after a substring test, with no SQL and no Redis call. For a listened
doctype, the templates are looked up in a per-doctype index, kept in the process and in Redis
under the value of that default, which every change of templates or settings writes anew (a
generation token leads it): a save reads neither while nothing changed, and an index built
from rows that a commit then replaced is never taken for the new one. The trigger conditions in
the index are parsed and checked once, when it is built. When a template matches, a `start` row
is written to Flow Step Pending in the user's own transaction (an outbox): if the save rolls
back, so does the row, and nothing starts; once it commits, a background job (or, failing that,
the next scheduler tick) starts the run. Any error here is logged, never raised: a flow never
breaks a save.
"""

from __future__ import annotations

import json

import frappe
from frappe.utils import now_datetime

from flow_engine.events_map import DOC_METHODS, GENERIC_EVENTS, event_map

INDEX_KEY = "flow_engine:dispatch_index"
# global default: "<generation>|Customer|ToDo|" ("<generation>|" when none; "|Customer|ToDo|"
# as written before the generation led it)
LISTENED_KEY = "flow_engine_doctypes"
# (site, DocType) → (the listened value it was built under, its index entries): this process's
_PROCESS_INDEX: dict[tuple[str, str], tuple[str, list[dict]]] = {}
# Our own bookkeeping never starts flows (Dispatch Job does: its completion is an event).
IGNORED_DOCTYPES = frozenset(
	{
		"Flow Run",
		"Flow Step Pending",
		"Flow Effect",
		"Flow Event Wait",
		"Flow Time Start",
		"Flow Trigger State",
		"Flow Template",
		"Flow Settings",
		"Notification Log",
		"Email Queue",
		"Email Queue Recipient",
		"Error Log",
		"Version",
		"Comment",
		"Activity Log",
		"Scheduled Job Log",
		"Access Log",
		"Route History",
		"SMS Log",
		"Deleted Document",
	}
)
_METHOD_TO_KIND = {method: kind for kind, method in DOC_METHODS.items()}


def on_document_event(doc, method: str) -> None:
	flags = frappe.local.flags
	if flags.in_install or flags.in_migrate or flags.in_import or flags.in_patch or flags.in_uninstall:
		return
	doctype = doc.doctype
	if doctype in IGNORED_DOCTYPES:
		return
	listened = frappe.db.get_global(LISTENED_KEY)
	if listened is not None and f"|{doctype}|" not in listened:
		return  # (None: not computed yet on this site; the index below decides)
	entries = index_entries(doctype, listened)
	if not entries:
		return
	kind = _METHOD_TO_KIND.get(method)
	matching = [entry for entry in entries if entry["on"] == kind]
	if not matching:
		return
	try:
		starts = [entry for entry in matching if not entry.get("wait")]
		if starts:
			_dispatch(doc, kind, starts)
		if len(starts) < len(matching):
			_resume_waiting(doc, kind)
	except Exception:
		frappe.log_error(title=f"flow_engine: dispatch of {doctype} {doc.name} failed")


def emit(event: str, doc=None, variables: dict | None = None) -> list[str]:
	"""Start the active templates listening to `event` (for other apps: `flow_engine.emit`).

	Runs start after the caller's transaction commits; returns the templates queued.
	"""
	from flow_engine.runs import doc_data
	from flow_engine.runtime.conditions import evaluate_jsonlogic

	templates = frappe.get_all(
		"Flow Template",
		filters={"is_active": 1, "trigger_event": event},
		fields=["name", "trigger_condition"],
		order_by="creation asc",
	)
	snapshot = doc_data(doc) if doc is not None else {}
	data = {"doc": snapshot, "variables": variables or {}}
	queued = []
	for template in templates:
		condition = parse_condition(template.trigger_condition)
		if condition is not None and not evaluate_jsonlogic(condition, data)[0]:
			continue
		queue_start(
			template.name,
			event,
			doc.doctype if doc is not None else None,
			doc.name if doc is not None else None,
			snapshot,
			variables or {},
		)
		queued.append(template.name)
	return queued


def index_entries(doctype: str, listened: str | None) -> list[dict]:
	"""The dispatch index of `doctype`: this process's while `listened` (the global default, read
	in this request) is the value it was built under, else Redis's if built under it, else built
	now (and kept in both). The entries are shared: read them, never change them."""
	if listened is None:  # not computed yet on this site: no value to key on
		return frappe.cache.hget(INDEX_KEY, doctype, lambda: build_index_entries(doctype)) or []
	key = (frappe.local.site, doctype)
	held = _PROCESS_INDEX.get(key)
	if held is not None and held[0] == listened:
		return held[1]
	shared = frappe.cache.hget(INDEX_KEY, doctype)
	if isinstance(shared, dict) and shared.get("listened") == listened:
		entries = shared["entries"]
	else:
		entries = build_index_entries(doctype)
		frappe.cache.hset(INDEX_KEY, doctype, {"listened": listened, "entries": entries})
	_PROCESS_INDEX[key] = (listened, entries)
	return entries


def listened_in(value: str | None) -> set[str]:
	"""The DocTypes a stored `flow_engine_doctypes` value names (its generation left out)."""
	return set((value or "").split("|")[1:]) - {""}


def _checked(rule) -> tuple[object, bool]:
	"""(the rule parsed, True) when it is sound: evaluated as it is on every save; else (the rule,
	False): evaluated the long way, which says what is wrong with it (logged at dispatch)."""
	from flow_engine.runtime.conditions import check_jsonlogic

	parsed, error = check_jsonlogic(rule)
	return (parsed, True) if error is None else (rule, False)


def _rule_reads(entry: dict) -> dict:
	"""What an entry's rules read of the saved document, worked out once with the index."""
	from flow_engine.runtime.conditions import fields_read

	rules = [entry.get("when"), entry.get("condition")]
	return {"reads": fields_read(rules), "reads_customer": any(_reads_customer(rule) for rule in rules)}


def _evaluate(rule, checked: bool, data: dict) -> tuple[bool, str | None]:
	from flow_engine.runtime.conditions import evaluate_checked, evaluate_jsonlogic

	return evaluate_checked(rule, data) if checked else evaluate_jsonlogic(rule, data)


def build_index_entries(doctype: str) -> list[dict]:
	"""The active templates that listen to `doctype`, with what they listen for (cached by doctype)."""
	from flow_engine.settings import get_settings

	settings = get_settings()
	if not int(settings.dispatch_enabled):
		return []
	named = {}
	for entry in event_map(settings.dispatch_doctype):
		if entry["doctype"] == doctype:
			named.setdefault(entry["event"], []).append(entry)
	# only the templates that can concern this doctype (with 1,000 templates on other doctypes the
	# rebuild after a template change reads a few rows, not all of them)
	or_filters = {"trigger_doctype": doctype, "applies_to": doctype}
	if named:
		or_filters["trigger_event"] = ("in", list(named))
	templates = frappe.get_all(
		"Flow Template",
		filters={"is_active": 1, "trigger_event": ("!=", "manual")},
		or_filters=or_filters,
		fields=[
			"name",
			"trigger_event",
			"trigger_doctype",
			"trigger_field",
			"applies_to",
			"trigger_condition",
			"max_starts_per_minute",
		],
		order_by="creation asc",
	)
	entries = [{"wait": True, "on": kind, "template": None} for kind in sorted(watched_events(doctype))]
	for template in templates:
		condition, condition_checked = _checked(parse_condition(template.trigger_condition))
		if template.trigger_event in GENERIC_EVENTS:
			if (template.trigger_doctype or template.applies_to) != doctype:
				continue
			entries.append(
				{
					"template": template.name,
					"event": template.trigger_event,
					"on": GENERIC_EVENTS[template.trigger_event],
					"field": template.trigger_field,
					"value": None,
					"when": None,
					"when_checked": True,
					"condition": condition,
					"condition_checked": condition_checked,
					"throttle": template.max_starts_per_minute or 0,
				}
			)
			entries[-1].update(_rule_reads(entries[-1]))
		for mapped in named.get(template.trigger_event, []):
			when, when_checked = _checked(mapped.get("when"))
			entries.append(
				{
					"template": template.name,
					"event": template.trigger_event,
					"on": mapped["on"],
					"field": mapped.get("field"),
					"value": mapped.get("value"),
					"when": when,
					"when_checked": when_checked,
					"condition": condition,
					"condition_checked": condition_checked,
					"throttle": template.max_starts_per_minute or 0,
				}
			)
			entries[-1].update(_rule_reads(entries[-1]))
	return entries


def clear_dispatch_cache(*_args, leaving: str | None = None, **_kwargs) -> None:
	"""After any change to templates or settings: store the listened doctypes again (in the
	caller's transaction) and drop the cached index and defaults, now and again when the
	transaction ends: until then another request (or this one) may cache rows that the commit
	replaces or the rollback undoes. `leaving`: a template being deleted, still in the table while
	its on_trash runs. Callers commit afterwards (document hooks and migrate do)."""
	store_listened_doctypes(leaving)
	_drop_caches()
	frappe.db.after_commit.add(_drop_caches)
	frappe.db.after_rollback.add(_drop_caches)


def _drop_caches() -> None:
	from frappe.cache_manager import clear_defaults_cache

	frappe.cache.delete_value(INDEX_KEY)
	# the global defaults, wherever the release keeps them (v15: Redis hash "defaults"; v16: the
	# client cache, "defaults::__global"); the function has the same meaning in both
	clear_defaults_cache("__global")


def listened_doctypes(leaving: str | None = None) -> set[str]:
	"""The doctypes whose events some active template listens to."""
	from flow_engine.settings import get_settings

	settings = get_settings()
	if not int(settings.dispatch_enabled):
		return set()
	by_event: dict[str, set[str]] = {}
	for entry in event_map(settings.dispatch_doctype):
		by_event.setdefault(entry["event"], set()).add(entry["doctype"])
	doctypes = set()
	for template in frappe.get_all(
		"Flow Template",
		filters={"is_active": 1, "trigger_event": ("!=", "manual")},
		fields=["name", "trigger_event", "trigger_doctype", "applies_to"],
	):
		if template.name == leaving:
			continue
		if template.trigger_event in GENERIC_EVENTS:
			doctypes.add(template.trigger_doctype or template.applies_to)
		doctypes.update(by_event.get(template.trigger_event, ()))
	doctypes.update(doctype for doctype, _event in watched_pairs(leaving))
	doctypes.discard(None)
	doctypes.discard("")
	return doctypes


# --- steps waiting for document events (wait_for_event) -----------------------------------------


def watched_pairs(leaving: str | None = None) -> set[tuple[str, str]]:
	"""(DocType, event) pairs that some step waits for: in the definitions of active templates
	(their `watched_doctypes`, set on save), and in the waits of runs under way (a run keeps the
	definition it started with, whatever became of its template)."""
	pairs = set()
	if not frappe.db.table_exists("Flow Event Wait"):  # during the install or the migrate that adds it
		return pairs
	for template in frappe.get_all(
		"Flow Template",
		filters={"is_active": 1, "watched_doctypes": ("is", "set")},
		fields=["name", "watched_doctypes"],
	):
		if template.name != leaving:
			pairs.update(parse_watched(template.watched_doctypes))
	pairs.update(
		tuple(row)
		for row in frappe.db.sql("select distinct watched_doctype, watched_event from `tabFlow Event Wait`")
	)
	return pairs


def watched_events(doctype: str) -> set[str]:
	"""The events of `doctype` that some step waits for (for the dispatch index)."""
	if not frappe.db.table_exists("Flow Event Wait"):
		return set()
	events = {
		event
		for text in frappe.get_all(
			"Flow Template",
			filters={"is_active": 1, "watched_doctypes": ("like", f"%|{doctype}:%")},
			pluck="watched_doctypes",
		)
		for watched_doctype, event in parse_watched(text)
		if watched_doctype == doctype
	}
	events.update(
		row[0]
		for row in frappe.db.sql(
			"select distinct watched_event from `tabFlow Event Wait` where watched_doctype = %s", (doctype,)
		)
	)
	return events


def format_watched(pairs) -> str | None:
	"""`|Payment Entry:submit|Issue:value_change|`, or None when the definition watches nothing."""
	pairs = sorted(set(pairs))
	return "|" + "".join(f"{doctype}:{event}|" for doctype, event in pairs) if pairs else None


def parse_watched(text: str | None) -> set[tuple[str, str]]:
	pairs = set()
	for item in (text or "").split("|"):
		doctype, _sep, event = item.rpartition(":")
		if doctype and event:
			pairs.add((doctype, event))
	return pairs


def watch_is_listened(doctype: str, event: str) -> None:
	"""A new wait of a run whose template does not (or no longer) watch that DocType and event:
	store the listened DocTypes and drop the index again, so that its events reach the wait."""
	listened = frappe.db.get_global(LISTENED_KEY)
	entries = index_entries(doctype, listened)
	covered = any(entry.get("wait") and entry["on"] == event for entry in entries)
	if not covered or listened is None or f"|{doctype}|" not in listened:
		clear_dispatch_cache()


def _resume_waiting(doc, kind: str) -> None:
	"""Tell the steps waiting for this event of this document (an outbox row each, written in the
	caller's transaction like a start, run by a worker once it commits)."""
	from flow_engine.runs import doc_data
	from flow_engine.runtime.conditions import compare, evaluate_jsonlogic

	waits = frappe.db.sql(
		"""select flow_run, step_id, watched_field, watched_value, match_rule from `tabFlow Event Wait`
		where watched_doctype = %s and watched_event = %s
		and (watched_docname is null or watched_docname = %s)""",
		(doc.doctype, kind, doc.name),
		as_dict=True,
	)
	data = None
	for wait in waits:
		if kind == "value_change":
			if not wait.watched_field or not doc.has_value_changed(wait.watched_field):
				continue
			if wait.watched_value is not None and not compare(
				doc.get(wait.watched_field), "==", wait.watched_value
			):
				continue
		if data is None:
			data = {key: value for key, value in doc_data(doc).items() if not isinstance(value, list)}
		if wait.match_rule:
			rule = json.loads(wait.match_rule)
			matched, error = evaluate_jsonlogic(rule.get("match"), {**(rule.get("bound") or {}), "doc": data})
			if error:
				frappe.log_error(
					title=f"flow_engine: match of step {wait.step_id} of {wait.flow_run} failed",
					message=error,
				)
			if not matched:
				continue
		queue_resume(
			wait.flow_run,
			wait.step_id,
			{"doctype": doc.doctype, "name": doc.name, "event": kind, "doc": data},
		)


def queue_resume(run_name: str, step_id: str, data: dict) -> None:
	"""An outbox row telling a waiting step what happened; the worker decides (a second piece of
	news for the same step finds it no longer waiting, and does nothing)."""
	queued = frappe.local.flags.setdefault("flow_engine_queued", set())
	key = ("resume", run_name, step_id)
	if key in queued:
		return
	queued.add(key)
	from flow_engine.adapters.store import pending_name

	now = now_datetime()
	frappe.db.sql(
		"""insert into `tabFlow Step Pending`
		(name, action, status, trigger_at, retry_count, flow_run, step_id, context_snapshot,
		creation, modified, owner, modified_by, docstatus)
		values (%s, 'resume', 'pending', %s, 0, %s, %s, %s, %s, %s, %s, %s, 0)""",
		(
			pending_name(),
			now,
			run_name,
			step_id,
			json.dumps(data, default=str),
			now,
			now,
			frappe.session.user,
			frappe.session.user,
		),
	)
	_enqueue_after_commit()


def store_listened_doctypes(leaving: str | None = None) -> None:
	"""Written as a DefaultValue row directly: `frappe.db.set_global` would clear the whole site
	cache (frappe.clear_cache) on every template save; dropping the cached global defaults is enough."""
	if not frappe.db.table_exists("Flow Template"):
		return
	# a new generation on every write, even when the DocTypes are the same: the indexes kept under
	# the old value (in processes, in Redis) are then never used again
	generation = frappe.generate_hash(length=10)
	value = f"{generation}|" + "".join(f"{doctype}|" for doctype in sorted(listened_doctypes(leaving)))
	frappe.db.delete("DefaultValue", {"parent": "__global", "defkey": LISTENED_KEY})
	row = frappe.get_doc(
		{
			"doctype": "DefaultValue",
			"parent": "__global",
			"parenttype": "__default",
			"parentfield": "system_defaults",
			"defkey": LISTENED_KEY,
			"defvalue": value,
		}
	)
	row.name = frappe.generate_hash(length=10)
	row.db_insert()


def forget_listened_doctypes() -> None:
	"""On uninstall: no row left behind."""
	frappe.db.delete("DefaultValue", {"parent": "__global", "defkey": LISTENED_KEY})
	_drop_caches()


def _reads_customer(rule) -> bool:
	"""Does a JsonLogic rule read `customer.…`? (Only then is the Customer loaded: a rule on
	`doc.customer_name` must not cost a Customer fetch on every save.)"""
	if isinstance(rule, dict):
		for op, args in rule.items():
			if op == "var":
				path = args[0] if isinstance(args, list) and args else args
				if isinstance(path, str) and (path == "customer" or path.startswith("customer.")):
					return True
			elif _reads_customer(args):
				return True
	elif isinstance(rule, list):
		return any(_reads_customer(item) for item in rule)
	return False


def parse_condition(text):
	if not text or not str(text).strip():
		return None
	try:
		return json.loads(text) if isinstance(text, str) else text
	except ValueError:
		return {"invalid": text}  # evaluates as an error, logged at dispatch


# keys that Document.as_dict adds to (or sets over) the fields of get_valid_dict
_AS_DICT_OWN_KEYS = frozenset(
	{"doctype", "_user_tags", "__islocal", "__onload", "_liked_by", "__run_link_triggers", "__unsaved"}
)


class _SavedDoc:
	"""The saved document as a template's rules read it: the whole of doc_data when they may read
	it whole, else only the fields they name, valued as doc_data values them (Frappe's
	get_valid_dict, then JSON), without serializing the rest: a false condition on a status costs
	no copy of the document."""

	def __init__(self, doc):
		self.doc = doc
		self._whole: dict | None = None
		self._valid: dict | None = None
		self._customer: dict | None = None

	def customer(self) -> dict:
		"""The document's Customer, as a run's context has it (read once for all the rules that
		read `customer.…`)."""
		if self._customer is None:
			from flow_engine.runs import customer_data, customer_of

			# (customer_of reads the few link fields it needs from the document itself)
			self._customer = customer_data(customer_of(self.doc))
		return self._customer

	def whole(self) -> dict:
		if self._whole is None:
			from flow_engine.runs import doc_data

			self._whole = doc_data(self.doc)
		return self._whole

	def fields(self, names: frozenset[str] | None) -> dict:
		if names is None or self._whole is not None or not names.isdisjoint(_AS_DICT_OWN_KEYS):
			return self.whole()
		if self._valid is None:
			self._valid = self.doc.get_valid_dict(convert_dates_to_str=True)
		valid = self._valid
		if not names.issubset(valid):
			return self.whole()  # a child table (computed ones too, in v16), or no field at all
		return {name: _as_json_value(valid[name]) for name in names}


_JSON_SCALARS = (str, int, float, bool, type(None))


def _as_json_value(value):
	"""`value` as doc_data's JSON round trip gives it back."""
	if type(value) in _JSON_SCALARS:
		return value
	return json.loads(frappe.as_json(value, indent=None))


def _dispatch(doc, kind: str, entries: list[dict]) -> None:
	from flow_engine.runtime.conditions import compare

	saved = _SavedDoc(doc)
	for entry in entries:
		if kind == "value_change":
			field = entry["field"]
			if not field or not doc.has_value_changed(field):
				continue
			if entry["value"] is not None and not compare(doc.get(field), "==", entry["value"]):
				continue
		if entry.get("when") is not None or entry["condition"] is not None:
			data = {"doc": saved.fields(entry.get("reads"))}
			if entry.get("reads_customer", True):
				data["customer"] = saved.customer()
			if entry.get("when") and not _evaluate(entry["when"], entry.get("when_checked"), data)[0]:
				continue
			if entry["condition"] is not None:
				matched, error = _evaluate(entry["condition"], entry.get("condition_checked"), data)
				if error:
					frappe.log_error(
						title=f"flow_engine: trigger condition of {entry['template']} failed", message=error
					)
				if not matched:
					continue
		queue_start(
			entry["template"],
			entry["event"],
			doc.doctype,
			doc.name,
			saved.whole(),
			throttle=entry.get("throttle"),
		)


def queue_start(
	template: str,
	event: str,
	doctype: str | None,
	docname: str | None,
	snapshot: dict,
	variables: dict | None = None,
	throttle: int | None = None,
) -> None:
	"""Write the outbox row in the caller's transaction; start it once that transaction commits.
	`throttle`: the template's Max Starts per Minute when the caller knows it (the dispatch index
	does: a save then reads nothing more)."""
	queued = frappe.local.flags.setdefault("flow_engine_queued", set())
	key = (template, doctype, docname, event)
	if key in queued and variables is None:
		return  # the same document saved twice in one transaction starts the flow once
	queued.add(key)
	from flow_engine.adapters.store import pending_name
	from flow_engine.throttle import queue_time

	now = now_datetime()
	due = queue_time(template, now, throttle)  # a throttled template's starts keep their order
	depth = int(frappe.flags.flow_engine_depth or 0) + 1 if frappe.flags.flow_engine_depth is not None else 0
	name = pending_name()
	frappe.db.sql(
		"""insert into `tabFlow Step Pending`
		(name, action, status, trigger_at, retry_count, flow_template, context_doctype, context_docname,
		trigger_event, context_snapshot, creation, modified, owner, modified_by, docstatus)
		values (%s, 'start', 'pending', %s, 0, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0)""",
		(
			name,
			due,
			template,
			doctype,
			docname,
			event,
			json.dumps({"doc": snapshot, "depth": depth, "variables": variables}, default=str),
			now,
			now,
			frappe.session.user,
			frappe.session.user,
		),
	)
	_enqueue_after_commit()


def _enqueue_after_commit() -> None:
	if not frappe.local.flags.get("flow_engine_drain_enqueued"):
		frappe.local.flags.flow_engine_drain_enqueued = True
		frappe.db.after_commit.add(_enqueue_drain)
		frappe.db.after_rollback.add(_forget_queue)


def _enqueue_drain() -> None:
	_forget_queue()
	from flow_engine.scheduler import enqueue_drain

	try:
		enqueue_drain(starts_only=True)
	except Exception:
		# Redis down: the rows are committed, the next scheduler tick starts them.
		frappe.log_error(title="flow_engine: could not enqueue flow starts")


def _forget_queue() -> None:
	frappe.local.flags.flow_engine_queued = set()
	frappe.local.flags.flow_engine_drain_enqueued = False
