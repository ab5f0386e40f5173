"""Effects: what steps do to ERPNext, each at most once per idempotency key.

Every effect is recorded in a Flow Effect row named after its key, written in the same database
transaction as the effect itself (the created document, the Email Queue row, the Notification
Log): the rows of one advance go in one INSERT at the run's save. A retried step therefore finds
its earlier result instead of acting again, and when the transaction rolls back, the record goes
with the effect. HTTP calls and SMS leave the database; for those the key is sent along
(Idempotency-Key header), and a call made in a transaction that then rolls back is made again.
"""

from __future__ import annotations

import itertools
import json

import frappe
from frappe.utils import now_datetime

from flow_engine.adapters import net
from flow_engine.compat import is_write_conflict
from flow_engine.runtime import StepError, StoreConflict, i18n
from flow_engine.runtime.errors import Undeliverable

_savepoints = itertools.count(1)


class FrappeEffects:
	def __init__(
		self,
		run_name: str,
		settings,
		before_document_write=None,
		acting_user: str | None = None,
		new_run: bool = False,
	):
		self.run_name = run_name
		# new_run: the run's name was taken in this transaction, so the ledger holds nothing of it
		# but what this object writes (kept here too): a start reads no ledger row
		self.new_run = new_run
		# what this object performed, by ledger name; the rows not yet written go into one INSERT
		# at the run's save (write_ledger): same transaction, same savepoints as the run's row
		self._recorded: dict[str, dict] = {}
		self._unwritten: list[tuple] = []
		self.settings = settings
		# whose permissions side effects are checked against (the template's Run As); the
		# Administrator is refused nothing
		self.acting_user = acting_user or "Administrator"
		# called before a document is created or changed (a new run writes its row then, so that
		# the document can link to it)
		self.before_document_write = before_document_write or (lambda: None)

	# --- the ledger ---------------------------------------------------------------------------

	def _once(
		self,
		action: str,
		key: str,
		perform,
		reference: tuple[str, str] | None = None,
		keep=None,
		writes_document: bool = False,
	) -> dict:
		"""Perform once per key. Inside a savepoint, so a failed attempt leaves no half-written rows.
		`keep(result)` says whether a result is final (an HTTP 500 is not: the retry must call again).
		A deadlock or write conflict anywhere in here raises StoreConflict (see _undo_attempt)."""
		try:
			return self._ledgered(action, key, perform, reference, keep, writes_document)
		except StoreConflict:
			raise
		except Exception as exc:
			if is_write_conflict(exc):
				raise StoreConflict(_describe(exc)) from exc
			raise

	def _ledgered(self, action, key, perform, reference, keep, writes_document) -> dict:
		name = f"{key}|{action}"[:140]
		if name in self._recorded:
			return self._recorded[name]
		if not self.new_run:
			earlier = frappe.db.sql("select result from `tabFlow Effect` where name = %s", (name,))
			if earlier:
				return json.loads(earlier[0][0] or "{}")
		if writes_document:
			self.before_document_write()  # outside the savepoint: a failed attempt must not undo it
		# a name of its own: a sub-flow's effects, nested in this one, must not replace its savepoint
		savepoint = f"flow_effect_{next(_savepoints)}"
		frappe.db.savepoint(savepoint)
		try:
			result = perform()
		except BaseException as exc:
			_undo_attempt(savepoint, exc)
			raise
		if keep is None or keep(result):
			ref_doctype, ref_name = reference or (result.get("doctype"), result.get("name"))
			text = json.dumps(result, default=str)
			self._unwritten.append((name, key, action, ref_doctype, ref_name, text))
			self._recorded[name] = json.loads(text)  # as a later read of the row would give it
		return result

	def write_ledger(self) -> None:
		"""Write the Flow Effect rows of what was performed since the last call, in one INSERT.
		The run's save calls it, in the transaction (and the savepoint of a group's row) that holds
		the effects: rolled back with them, never written without them. Effects of an advance that
		fails before its save leave with this object."""
		if not self._unwritten:
			return
		now = now_datetime()
		rows = [
			(name, key, action, self.run_name, ref_doctype, ref_name, text, now, now)
			for name, key, action, ref_doctype, ref_name, text in self._unwritten
		]
		frappe.db.sql(
			"""insert into `tabFlow Effect`
			(name, idempotency_key, action, flow_run, reference_doctype, reference_name, result,
			creation, modified, owner, modified_by, docstatus)
			values """
			+ ", ".join(
				["(%s, %s, %s, %s, %s, %s, %s, %s, %s, 'Administrator', 'Administrator', 0)"] * len(rows)
			),
			tuple(value for row in rows for value in row),
		)
		self._unwritten.clear()

	def _allowed(self, ptype: str, doctype: str, doc=None) -> None:
		"""Refuse, as the step's error, what the acting user may not do."""
		if self.acting_user == "Administrator":
			return
		if not frappe.has_permission(doctype, ptype, doc=doc, user=self.acting_user):
			frappe.clear_last_message()
			name = getattr(doc, "name", None) or (doc if isinstance(doc, str) else "")
			target = f"{doctype} {name}" if name else doctype
			raise StepError(
				i18n._("{0} may not {1} {2} (the flow acts as this user: Run As of its template)").format(
					self.acting_user, ptype, target
				),
				retryable=False,
			)

	def _owned(self, doc) -> None:
		"""What a flow acting as a user creates is that user's (its owner), as if they had made it
		(Frappe's insert makes the session's user the owner: set afterwards)."""
		if self.acting_user != "Administrator":
			doc.db_set("owner", self.acting_user, update_modified=False)

	# --- documents ----------------------------------------------------------------------------

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
		def perform():
			_require_doctype(doctype)
			if strict:
				_refuse_unknown_fields(doctype, values)
			doc = frappe.get_doc({"doctype": doctype, **_known_fields(doctype, values)})
			if doctype == "Issue" and not strict:
				_drop_missing_links(doc, ("priority", "issue_type"))
			self._allowed("create", doctype, doc)
			_insert(doc)
			self._owned(doc)
			if submit:
				if not doc.meta.is_submittable:
					raise StepError(i18n._("{0} cannot be submitted").format(doctype), retryable=False)
				self._allowed("submit", doctype, doc)
				_submit(doc)
			return {"doctype": doctype, "name": doc.name}

		return self._once("create_document", idempotency_key, perform, writes_document=True)

	def set_value(
		self, doctype: str, name: str, field: str, value, *, operation: str, idempotency_key: str
	) -> dict:
		def perform():
			if not document_exists(doctype, name):  # also refuses an unknown DocType
				raise StepError(i18n._("{0} {1} does not exist").format(doctype, name), retryable=False)
			doc = frappe.get_doc(doctype, name, for_update=True)  # a counter: one writer at a time
			self._allowed("write", doctype, doc)
			docfield = doc.meta.get_field(field)
			if docfield is None:
				raise StepError(i18n._("{0} has no field {1}").format(doctype, field), retryable=False)
			before = doc.get(field)
			if operation == "set":
				after = value
			else:
				if docfield.fieldtype not in ("Int", "Float", "Currency", "Percent"):
					raise StepError(
						i18n._("{0}.{1} is a {2} field: only numbers can be counted").format(
							doctype, field, docfield.fieldtype
						),
						retryable=False,
					)
				after = (before or 0) + (value if operation == "increment" else -value)
			doc.set(field, after)
			_save(doc)
			return {"field": field, "before": before, "after": doc.get(field)}

		return self._once(
			"set_value", idempotency_key, perform, reference=(doctype, name), writes_document=True
		)

	def add_comment(self, doctype: str, name: str, text: str, *, idempotency_key: str, flow: dict) -> dict:
		def perform():
			if not document_exists(doctype, name):  # also refuses an unknown DocType
				raise StepError(i18n._("{0} {1} does not exist").format(doctype, name), retryable=False)
			from frappe.utils import get_link_to_form

			self._allowed("read", doctype, name)

			by = _("Flow {0}").format(
				get_link_to_form("Flow Run", flow.get("run"), label=flow.get("template") or flow.get("run"))
			)
			comment = frappe.get_doc(doctype, name).add_comment("Comment", f"{text}<br><small>{by}</small>")
			return {"doctype": "Comment", "name": comment.name}

		return self._once("add_comment", idempotency_key, perform, reference=(doctype, name))

	def update_document(self, doctype: str, name: str, values: dict, *, idempotency_key: str) -> dict:
		def perform():
			if not document_exists(doctype, name):
				raise StepError(i18n._("{0} {1} does not exist").format(doctype, name), retryable=False)
			doc = frappe.get_doc(doctype, name)
			self._allowed("write", doctype, doc)
			unknown = sorted(set(values) - {df.fieldname for df in doc.meta.fields})
			if unknown:
				raise StepError(
					i18n._("{0} has no field {1}").format(doctype, ", ".join(unknown)), retryable=False
				)
			doc.update(values)
			_save(doc)
			return {"doctype": doctype, "name": name, "updated": sorted(values)}

		return self._once("update_document", idempotency_key, perform, writes_document=True)

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
		from flow_engine import runs
		from flow_engine.runtime.kinds.waiting import sub_flow_summary

		def perform():
			depth = int(frappe.flags.flow_engine_depth or 0) + 1
			limit = int(self.settings.max_depth)
			if depth > limit:
				raise StepError(
					i18n._("sub-flows call one another more than {0} deep (Flow Settings): {1}").format(
						limit, " → ".join(lineage)
					),
					retryable=False,
				)
			found = frappe.db.get_value("Flow Template", template, ["name", "is_active"], as_dict=True)
			if not found:
				raise StepError(
					i18n._("no Flow Template {0!r} to run as a sub-flow").format(template), retryable=False
				)
			if not found.is_active:
				raise StepError(i18n._("Flow Template {0!r} is not active").format(template), retryable=False)
			if doctype and docname and not document_exists(doctype, docname):
				raise StepError(i18n._("{0} {1} does not exist").format(doctype, docname), retryable=False)
			try:
				run, _report = runs.start_run(
					template,
					doctype=doctype,
					docname=docname,
					event="sub_flow",
					variables=variables,
					depth=depth,
					parent=parent,
					lineage=lineage,
					tell_parent=False,
				)
			except runs.InvalidTemplate as exc:
				# its definition was refused: retrying will not mend it (Retry does, once it is fixed);
				# the error is the step's, not a message for whoever's request ran the step
				frappe.clear_last_message()
				raise StepError(
					i18n._("Flow Template {0!r} is invalid: {1}").format(template, exc.text), retryable=False
				) from None
			return sub_flow_summary(run, template)

		return self._once(
			"start_sub_flow",
			idempotency_key,
			perform,
			reference=("Flow Template", template),
			writes_document=True,
		)

	def create_dispatch_job(self, values: dict, *, idempotency_key: str, reference: dict | None) -> dict:
		doctype = self.settings.dispatch_doctype or "Dispatch Job"

		def perform():
			meta = frappe.get_meta(doctype)
			merge_key = values.get("merge_key")
			if merge_key and meta.has_field("merge_key"):
				existing = frappe.db.get_value(doctype, {"merge_key": merge_key})
				if existing:
					return {"doctype": doctype, "name": existing, "merged": True}
			data = dict(values)
			if reference:
				data.setdefault("reference_doctype", reference["doctype"])
				data.setdefault("reference_name", reference["name"])
			data["flow_run"] = self.run_name
			doc = frappe.get_doc({"doctype": doctype, **_known_fields(doctype, data)})
			self._allowed("create", doctype, doc)
			_insert(doc)
			self._owned(doc)
			return {"doctype": doctype, "name": doc.name}

		return self._once("create_dispatch_job", idempotency_key, perform, writes_document=True)

	def activate_subscription(self, name: str | None, *, idempotency_key: str, customer=None) -> dict:
		def perform():
			subscription = name or _pending_subscription(customer)
			if subscription is None:
				return {"skipped": _("Customer {0} has no subscription to activate").format(customer)}
			if not frappe.db.exists("Subscription", subscription):
				raise StepError(
					i18n._("Subscription {0} does not exist").format(subscription), retryable=False
				)
			doc = frappe.get_doc("Subscription", subscription)
			self._allowed("write", "Subscription", doc)
			before = doc.status
			doc.flags.ignore_permissions = True
			waiting = _activate(doc)
			if waiting:
				return {"doctype": "Subscription", "name": subscription, "status": before, **waiting}
			status = frappe.db.get_value("Subscription", subscription, "status")
			if status != "Active":
				raise StepError(
					i18n._("Subscription {0} is {1}, not Active").format(subscription, status),
					retryable=False,
				)
			return {"doctype": "Subscription", "name": subscription, "status": status, "was": before}

		return self._once("activate_subscription", idempotency_key, perform)

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
		def perform():
			from frappe.desk.form import assign_to

			if not document_exists(doctype, name):  # also refuses an unknown DocType
				raise StepError(i18n._("{0} {1} does not exist").format(doctype, name), retryable=False)
			self._allowed("write", doctype, name)
			known = [user for user in users if frappe.db.exists("User", {"name": user, "enabled": 1})]
			if users and not known:
				raise StepError(i18n._("no enabled user among {0}").format(", ".join(users)), retryable=False)
			if role:
				known.append(_pick_user(role, pick or "round_robin"))
			description_text = description or _("{0} {1}").format(_(doctype), name)  # a ToDo needs one
			args = {"assign_to": known, "doctype": doctype, "name": name, "description": description_text}
			if due_date:
				from frappe.utils import getdate

				try:
					args["date"] = str(getdate(due_date))
				except Exception:
					raise StepError(
						i18n._("payload.due_date: {0!r} is not a date").format(due_date), retryable=False
					) from None
			try:
				assign_to.add(args, ignore_permissions=True)
			except assign_to.DuplicateToDoError:
				pass  # already assigned: the goal is met
			except frappe.ValidationError as exc:
				raise StepError(f"ToDo: {frappe.utils.strip_html(str(exc))}"[:500], retryable=False) from None
			return {
				"doctype": doctype,
				"name": name,
				"assigned_to": known,
				**({"role": role} if role else {}),
			}

		return self._once(
			"assign_role" if role else "assign", idempotency_key, perform, reference=(doctype, name)
		)

	# --- messages -----------------------------------------------------------------------------

	def send_email(self, recipients, subject, body, *, idempotency_key, template, reference) -> dict:
		def perform():
			message_subject, message = subject, body
			if template:
				if not frappe.db.exists("Email Template", template):
					raise StepError(
						i18n._("Email Template {0} does not exist").format(template), retryable=False
					)
				from frappe.email.doctype.email_template.email_template import get_email_template

				rendered = get_email_template(template, {"subject": subject, "body": body})
				message_subject = subject or rendered.get("subject")
				message = body or rendered.get("message")
			try:
				frappe.sendmail(
					recipients=recipients,
					subject=message_subject or _("Message"),
					message=message or "",
					reference_doctype=(reference or {}).get("doctype"),
					reference_name=(reference or {}).get("name"),
					delayed=True,
				)
			except frappe.InvalidEmailAddressError as exc:
				raise Undeliverable(i18n._("invalid email address: {0}").format(exc)) from None
			return {"queued": len(recipients)}

		return self._once("send_email", idempotency_key, perform)

	def send_sms(self, recipients, body, *, idempotency_key) -> dict:
		def perform():
			return _send_sms(recipients, body, timeout=float(self.settings.webhook_timeout_seconds or 10))

		return self._once("send_sms", idempotency_key, perform)

	def notify_in_app(self, users, subject, body, *, idempotency_key, reference) -> dict:
		def perform():
			notified = []
			for user in users:
				# a user by name, else by email: one plain query (get_value's builder costs more)
				found = frappe.db.sql(
					"select name from `tabUser` where name = %s or email = %s order by name = %s desc limit 1",
					(user, user, user),
				)
				user_id = found[0][0] if found else None
				if not user_id:
					continue
				log = frappe.new_doc("Notification Log")
				log.update(
					{
						"for_user": user_id,
						"from_user": "Administrator",
						"type": "Alert",
						"subject": subject,
						"email_content": body,
						"document_type": (reference or {}).get("doctype"),
						"document_name": (reference or {}).get("name"),
					}
				)
				log.insert(ignore_permissions=True)
				notified.append(user_id)
			if not notified:
				raise Undeliverable(i18n._("no user among {0}").format(", ".join(users)))
			return {"notified": notified}

		return self._once("notify_in_app", idempotency_key, perform)

	def http_request(self, method, url, *, body, headers, idempotency_key, timeout) -> dict:
		def perform():
			limit = float(self.settings.webhook_timeout_seconds or 10)
			mark_external_call()
			return net.request(
				method,
				url,
				body=body,
				headers=headers,
				timeout=min(timeout, limit),
				allow_list=self.settings.webhook_allow_list,
			)

		return self._once(
			"http_request",
			idempotency_key,
			perform,
			reference=("", ""),
			keep=lambda r: 200 <= r["status_code"] < 300,
		)


def _(text: str) -> str:
	return frappe._(text)


def mark_external_call() -> None:
	"""Before a step reaches outside the database (HTTP), which no rollback undoes: the scheduler
	then commits its group of rows right after this one (scheduler.Group)."""
	frappe.local.flow_engine_external_call = True


def _require_doctype(doctype: str):
	"""The DocType's meta (cached for the request or job), or the step's error."""
	try:
		return frappe.get_meta(doctype)
	except frappe.DoesNotExistError:
		frappe.clear_last_message()
		raise StepError(i18n._("no DocType {0!r}").format(doctype), retryable=False) from None


def document_exists(doctype: str, name) -> bool:
	"""frappe.db.exists(doctype, name) for a name, as one plain query: Frappe's goes through its
	query builder, which costs more than the step's own statements (benchmarks/README.md)."""
	meta = _require_doctype(doctype)
	if meta.issingle:
		return True
	return bool(frappe.db.sql(f"select 1 from `tab{meta.name}` where name = %s", (name,)))


def _refuse_unknown_fields(doctype: str, values: dict) -> None:
	"""What a flow asks to write is written or refused, never silently dropped."""
	meta = frappe.get_meta(doctype)
	unknown = sorted(key for key in values if not meta.has_field(key) and key != "name")
	if unknown:
		raise StepError(i18n._("{0} has no field {1}").format(doctype, ", ".join(unknown)), retryable=False)
	for table in meta.get_table_fields():
		rows = values.get(table.fieldname)
		if rows is None:
			continue
		if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
			raise StepError(
				i18n._("{0}.{1} must be a list of rows").format(doctype, table.fieldname), retryable=False
			)
		child = frappe.get_meta(table.options)
		for row in rows:
			extra = sorted(key for key in row if not child.has_field(key))
			if extra:
				raise StepError(
					i18n._("{0} (in {1}) has no field {2}").format(
						table.options, table.fieldname, ", ".join(extra)
					),
					retryable=False,
				)


def _pick_user(role: str, pick: str) -> str:
	"""One enabled user of `role`: in turn (round_robin: the one assigned longest ago, or never),
	or the one with the fewest open ToDos (least_loaded); ties go by name."""
	users = sorted(
		set(
			frappe.get_all(
				"Has Role",
				filters={
					"role": role,
					"parenttype": "User",
					"parent": ("not in", ("Administrator", "Guest")),
				},
				pluck="parent",
			)
		)
		& set(frappe.get_all("User", filters={"enabled": 1, "user_type": "System User"}, pluck="name"))
	)
	if not users:
		raise StepError(i18n._("role {0!r} has no enabled user to assign").format(role), retryable=False)
	if pick == "least_loaded":
		load = dict(
			frappe.db.sql(
				"""select allocated_to, count(*) from `tabToDo`
				where allocated_to in %s and status = 'Open' group by allocated_to""",
				(tuple(users),),
			)
		)
		return min(users, key=lambda user: (load.get(user, 0), user))
	last = {
		user: str(moment)
		for user, moment in frappe.db.sql(
			"select allocated_to, max(creation) from `tabToDo` where allocated_to in %s group by allocated_to",
			(tuple(users),),
		)
	}
	return min(users, key=lambda user: (last.get(user) is not None, last.get(user) or "", user))


def _known_fields(doctype: str, values: dict) -> dict:
	meta = frappe.get_meta(doctype)
	return {key: value for key, value in values.items() if meta.has_field(key) or key in ("name",)}


def _drop_missing_links(doc, fieldnames) -> None:
	for fieldname in fieldnames:
		df = doc.meta.get_field(fieldname)
		value = doc.get(fieldname)
		if df and df.fieldtype == "Link" and value and not document_exists(df.options, value):
			doc.set(fieldname, None)


# Subscription statuses that need no activation (named alike in v15 and v16; the trial is
# "Trialling" in v15 and "Trialing" in v16, so it is recognised by its dates instead).
_SETTLED_SUBSCRIPTION = ("Active", "Completed")


def _pending_subscription(customer: str | None) -> str | None:
	"""The customer's newest subscription that is not active yet (cancelled ones last)."""
	if not customer:
		return None
	rows = frappe.get_all(
		"Subscription",
		filters={"party_type": "Customer", "party": customer, "status": ("not in", _SETTLED_SUBSCRIPTION)},
		fields=["name", "status"],
		order_by="creation desc",
	)
	rows.sort(key=lambda row: row.status == "Cancelled")
	return rows[0].name if rows else None


def _activate(doc) -> dict | None:
	"""Make an ERPNext Subscription active from today (its billing then follows ERPNext's own
	rules), or say why it cannot be: ERPNext does not let a trial be shortened (its dates are set
	only once), so a subscription in its trial becomes active when the trial ends."""
	from frappe.utils import getdate, nowdate

	if doc.status == "Cancelled":
		doc.restart_subscription()
		return None
	if doc.trial_period_end and getdate(doc.trial_period_end) >= getdate(nowdate()):
		return {
			"skipped": _("Subscription {0} is in its trial until {1}: ERPNext makes it active then").format(
				doc.name, doc.trial_period_end
			)
		}
	if doc.status != "Active":
		doc.process()
	return None


def _insert(doc) -> None:
	try:
		doc.insert(ignore_permissions=True)
	except (frappe.ValidationError, frappe.LinkValidationError, frappe.MandatoryError) as exc:
		raise StepError(
			f"{doc.doctype}: {frappe.utils.strip_html(str(exc))}"[:500], retryable=False
		) from None


def _submit(doc) -> None:
	try:
		doc.flags.ignore_permissions = True
		doc.submit()
	except frappe.ValidationError as exc:
		raise StepError(
			f"{doc.doctype} {doc.name}: {frappe.utils.strip_html(str(exc))}"[:500], retryable=False
		) from None


def _save(doc) -> None:
	try:
		doc.save(ignore_permissions=True)
	except (frappe.ValidationError, frappe.TimestampMismatchError) as exc:
		raise StepError(
			f"{doc.doctype} {doc.name}: {frappe.utils.strip_html(str(exc))}"[:500], retryable=False
		) from None


def _send_sms(recipients: list[str], body: str, timeout: float) -> dict:
	"""Through SMS Settings, like frappe's send_sms, but with a timeout and errors that surface."""
	settings = frappe.get_doc("SMS Settings", "SMS Settings")
	if not settings.sms_gateway_url:
		raise Undeliverable(i18n._("SMS Settings has no gateway URL"))
	import requests
	from frappe.core.doctype.sms_settings.sms_settings import (
		create_sms_log,
		get_headers,
		validate_receiver_nos,
	)

	numbers = validate_receiver_nos(recipients)
	headers = get_headers(settings)
	params = {d.parameter: d.value for d in settings.get("parameters") if not d.header}
	params[settings.message_parameter] = body
	sent, failures = [], []
	for number in numbers:
		params[settings.receiver_parameter] = number
		kwargs = {"headers": headers, "timeout": timeout}
		if headers.get("Content-Type") == "application/json":
			kwargs["json"] = params
		elif settings.use_post:
			kwargs["data"] = params
		else:
			kwargs["params"] = params
		mark_external_call()
		try:
			response = requests.request(
				"POST" if settings.use_post else "GET", settings.sms_gateway_url, **kwargs
			)
			(sent if 200 <= response.status_code < 300 else failures).append(number)
		except requests.RequestException as exc:
			failures.append(f"{number} ({type(exc).__name__})")
	if sent:
		create_sms_log({"message": body.encode("utf-8"), "receiver_list": numbers}, sent)
	if failures and not sent:
		raise StepError(i18n._("SMS gateway refused {0}").format(", ".join(failures)))
	return {"sent": sent, "failed": failures}


def _undo_attempt(savepoint: str, exc: BaseException) -> None:
	"""Undo a failed attempt back to its savepoint, so that the step's failure is recorded in a
	clean transaction. After a deadlock or a write conflict the server has already rolled the whole
	transaction back and the savepoint is gone with it: raise StoreConflict, carrying the first
	error, so that the caller repeats the whole operation (a step failure recorded now would be
	written outside any transaction, beside an effect that never happened)."""
	if is_write_conflict(exc):
		raise StoreConflict(_describe(exc)) from exc
	try:
		frappe.db.rollback(save_point=savepoint)
	except Exception:
		raise StoreConflict(_describe(exc)) from exc


def _describe(exc: BaseException) -> str:
	return f"{type(exc).__name__}: {exc}"[:1000]
