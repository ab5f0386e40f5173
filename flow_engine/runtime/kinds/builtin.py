"""The built-in step kinds: the seed's eight plus a multi-way `switch` (and, in waiting.py,
`wait_for_event` and `sub_flow`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from ..conditions import OPERATORS, evaluate_field_condition
from ..errors import StepError, Undeliverable
from ..i18n import _
from .registry import CatalogSpec, FieldSpec, KindRegistry, KindSpec, StepCall, StepOutcome

CONDITION_OPERATORS = tuple(OPERATORS)
PRIORITIES = ("low", "medium", "high", "urgent")
NOTIFY_CHANNELS = ("email", "sms", "in_app")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def split_recipients(value) -> list[str]:
	if isinstance(value, list | tuple):
		parts = [str(item) for item in value]
	else:
		parts = re.split(r"[,;\n]", str(value or ""))
	return [part.strip() for part in parts if part and part.strip()]


def redact_url(url: str) -> str:
	"""The URL without credentials, query or fragment: tokens often ride there, and errors are
	kept in the run for anyone who can read it."""
	parts = urlsplit(str(url))
	host = parts.hostname or ""
	if parts.port:
		host = f"{host}:{parts.port}"
	hidden = "?…" if parts.query else ""
	return urlunsplit((parts.scheme, host, parts.path, "", "")) + hidden


def _required_text(call: StepCall, name: str) -> str:
	value = call.payload.get(name)
	text = "" if value is None else str(value).strip()
	if not text:
		raise StepError(_("payload.{0} rendered empty").format(name), retryable=False)
	return text


# --- handlers ---------------------------------------------------------------------------------


def _assign(call: StepCall, created: dict, subject: str) -> dict:
	users = split_recipients(call.payload.get("assign_to"))
	if not users or not created.get("doctype") or not created.get("name"):
		return created
	assigned = call.effects.assign(
		created["doctype"], created["name"], users, description=subject, idempotency_key=call.idempotency_key
	)
	return {**created, "assigned_to": list((assigned or {}).get("assigned_to", users))}


def run_dispatch_job(call: StepCall) -> StepOutcome:
	values = {
		key: value for key, value in call.payload.items() if value not in (None, "") and key != "assign_to"
	}
	values["subject"] = _required_text(call, "subject")
	created = call.effects.create_dispatch_job(
		values, idempotency_key=call.idempotency_key, reference=call.reference
	)
	return StepOutcome(result=_assign(call, dict(created or {}), values["subject"]))


def run_issue(call: StepCall) -> StepOutcome:
	values = {
		"subject": _required_text(call, "subject"),
		"description": call.payload.get("description") or "",
		"priority": call.payload.get("priority") or None,
		"issue_type": call.payload.get("issue_type") or None,
	}
	customer = call.context.get("customer") or {}
	if isinstance(customer, Mapping) and customer.get("name"):
		values["customer"] = customer["name"]
	values = {key: value for key, value in values.items() if value is not None}
	created = call.effects.create_document(
		"Issue", values, idempotency_key=call.idempotency_key, reference=call.reference
	)
	return StepOutcome(result=_assign(call, dict(created or {}), values["subject"]))


def run_notify(call: StepCall) -> StepOutcome:
	channel = call.payload.get("channel") or "email"
	recipients = split_recipients(call.payload.get("to"))
	try:
		sent = _send(call, channel, recipients)
	except Undeliverable as exc:
		if call.payload.get("when_undeliverable") != "skip":
			raise
		return StepOutcome(result={"channel": channel, "recipients": recipients, "skipped": str(exc)})
	return StepOutcome(result={"channel": channel, "recipients": recipients, **dict(sent or {})})


def _send(call: StepCall, channel: str, recipients: list[str]) -> dict | None:
	if channel not in NOTIFY_CHANNELS:
		raise StepError(_("payload.channel: unknown channel {0!r}").format(channel), retryable=False)
	if not recipients:
		raise Undeliverable(_("payload.to rendered to no recipient"))
	subject = str(call.payload.get("subject") or "")
	body = str(call.payload.get("body") or "")
	key = call.idempotency_key
	if channel == "email":
		template = call.payload.get("template_id") or None
		return call.effects.send_email(
			recipients, subject, body, idempotency_key=key, template=template, reference=call.reference
		)
	if channel == "sms":
		if not body:
			raise StepError(_("payload.body rendered empty"), retryable=False)
		return call.effects.send_sms(recipients, body, idempotency_key=key)
	return call.effects.notify_in_app(
		recipients, subject or body[:140], body, idempotency_key=key, reference=call.reference
	)


RETRYABLE_HTTP_STATUS = frozenset({408, 425, 429})


def run_webhook(call: StepCall) -> StepOutcome:
	url = _required_text(call, "url")
	method = str(call.payload.get("method") or "POST").upper()
	headers = call.payload.get("headers") or {}
	if not isinstance(headers, Mapping):
		raise StepError(_("payload.headers must be an object"), retryable=False)
	headers = {str(k): str(v) for k, v in headers.items()}
	headers.setdefault("Idempotency-Key", call.idempotency_key)
	timeout = float(call.payload.get("timeout_s") or 10)
	response = call.effects.http_request(
		method,
		url,
		body=call.payload.get("body_template"),
		headers=headers,
		idempotency_key=call.idempotency_key,
		timeout=min(max(timeout, 1.0), 60.0),
	)
	status = int(response.get("status_code") or 0)
	result = {"status_code": status, "body": str(response.get("body") or "")[:2000]}
	if not 200 <= status < 300:
		retryable = status >= 500 or status in RETRYABLE_HTTP_STATUS or status == 0
		raise StepError(
			_("{0} {1} answered HTTP {2}").format(method, redact_url(url), status), retryable=retryable
		)
	return StepOutcome(result=result)


def run_erp_update(call: StepCall) -> StepOutcome:
	doctype = _required_text(call, "doctype")
	name = _required_text(call, "docname_ref")
	values = call.payload.get("fields_json")
	if not isinstance(values, Mapping) or not values:
		raise StepError(_("payload.fields_json must be a non-empty object"), retryable=False)
	updated = call.effects.update_document(doctype, name, dict(values), idempotency_key=call.idempotency_key)
	return StepOutcome(result={"doctype": doctype, "name": name, **dict(updated or {})})


def run_subscription_activate(call: StepCall) -> StepOutcome:
	"""The subscription named, or else the run's customer's subscription that is not active yet."""
	name = str(call.payload.get("subscription_ref") or "").strip() or None
	customer = call.context.get("customer") or {}
	customer = customer.get("name") if isinstance(customer, Mapping) else None
	if not name and not customer:
		return StepOutcome(result={"skipped": "no subscription given and the run has no customer"})
	done = call.effects.activate_subscription(
		name, customer=None if name else customer, idempotency_key=call.idempotency_key
	)
	return StepOutcome(result={"subscription": name, **dict(done or {})})


def run_wait(call: StepCall) -> StepOutcome:
	return StepOutcome()


def run_condition(call: StepCall) -> StepOutcome:
	payload = call.payload
	matched = evaluate_field_condition(
		call.context, payload.get("field"), payload.get("op"), payload.get("value")
	)
	return StepOutcome(result={"matched": matched}, branch="yes" if matched else "no")


def switch_branches(payload: Mapping) -> list[str]:
	labels = [str(case.get("branch")) for case in payload.get("cases") or [] if isinstance(case, Mapping)]
	return [*labels, str(payload.get("default_branch") or "default")]


def run_switch(call: StepCall) -> StepOutcome:
	for index, case in enumerate(call.payload.get("cases") or []):
		if evaluate_field_condition(call.context, case.get("field"), case.get("op"), case.get("value")):
			return StepOutcome(result={"case": index}, branch=str(case.get("branch")))
	return StepOutcome(result={"case": None}, branch=str(call.payload.get("default_branch") or "default"))


# --- the catalog ------------------------------------------------------------------------------

_CONDITION_FIELDS = (
	FieldSpec("field", "path", "Field", required=True, description="Dotted path, e.g. doc.status"),
	FieldSpec("op", "select", "Operator", required=True, options=CONDITION_OPERATORS, default="=="),
	FieldSpec("value", "data", "Value", description="Compared with the field; may use {{ }}"),
)

BUILTIN_KINDS = (
	KindSpec(
		"dispatch_job",
		"Dispatch job",
		"engineering",
		"#6366f1",
		run_dispatch_job,
		fields=(
			FieldSpec("subject", "data", "Subject", required=True),
			FieldSpec(
				"job_type",
				"select",
				"Job type",
				options=("Installation", "Repair", "Maintenance", "Removal", "Survey", "Other"),
				default="Installation",
			),
			FieldSpec("priority", "select", "Priority", options=PRIORITIES, default="medium"),
			FieldSpec("duration_h", "float", "Duration (hours)", default=1),
			FieldSpec("assigned_group", "data", "Assigned group"),
			FieldSpec("on_open_webhook", "data", "Webhook when opened"),
			FieldSpec("on_close_webhook", "data", "Webhook when closed"),
			FieldSpec("merge_key", "data", "Merge key", description="Jobs with the same key are merged"),
			FieldSpec("assign_to", "data", "Assign to", description="Users, comma separated"),
		),
		side_effect=True,
		description="Create a dispatch job (the doctype is set in Flow Settings)",
	),
	KindSpec(
		"issue",
		"Issue",
		"support_agent",
		"#ef4444",
		run_issue,
		fields=(
			FieldSpec("subject", "data", "Subject", required=True),
			FieldSpec("description", "text", "Description"),
			FieldSpec("priority", "data", "Priority", default="Medium"),
			FieldSpec("issue_type", "data", "Issue type"),
			FieldSpec("assign_to", "data", "Assign to", description="Users, comma separated"),
		),
		side_effect=True,
		description="Open an ERPNext Issue for the run's customer",
	),
	KindSpec(
		"notify",
		"Notify",
		"notifications",
		"#0ea5e9",
		run_notify,
		fields=(
			FieldSpec(
				"channel", "select", "Channel", required=True, options=NOTIFY_CHANNELS, default="email"
			),
			FieldSpec(
				"to",
				"data",
				"To",
				required=True,
				description="Emails, phone numbers or users, comma separated",
			),
			FieldSpec("template_id", "data", "Email template"),
			FieldSpec("subject", "data", "Subject"),
			FieldSpec("body", "text", "Message"),
			FieldSpec(
				"when_undeliverable",
				"select",
				"When it cannot be sent",
				options=("fail", "skip"),
				description="No recipient, or a channel this site has not set up (SMS without a gateway): "
				"fail the step (the default), or complete it saying why",
			),
		),
		side_effect=True,
		description="Send an email, an SMS or an in-app notification",
	),
	KindSpec(
		"webhook",
		"Webhook",
		"webhook",
		"#a855f7",
		run_webhook,
		fields=(
			FieldSpec("url", "data", "URL", required=True),
			FieldSpec("method", "select", "Method", options=HTTP_METHODS, default="POST"),
			FieldSpec("body_template", "json", "Body (JSON)"),
			FieldSpec("headers", "json", "Headers (JSON)", options=("object",)),
			FieldSpec("timeout_s", "int", "Timeout (seconds)", default=10),
		),
		side_effect=True,
		description="Call an external HTTP endpoint",
	),
	KindSpec(
		"erp_update",
		"Update document",
		"edit_note",
		"#f59e0b",
		run_erp_update,
		fields=(
			FieldSpec("doctype", "data", "DocType", required=True),
			FieldSpec("docname_ref", "data", "Document name", required=True, description="e.g. {{doc.name}}"),
			FieldSpec("fields_json", "json", "Fields to set (JSON)", required=True, options=("object",)),
		),
		side_effect=True,
		description="Set fields on an ERPNext document",
	),
	KindSpec(
		"wait",
		"Wait",
		"hourglass_empty",
		"#64748b",
		run_wait,
		description="Do nothing; use a delayed or date trigger to pause the flow",
	),
	KindSpec(
		"condition",
		"Condition",
		"call_split",
		"#10b981",
		run_condition,
		fields=_CONDITION_FIELDS,
		branch_labels=("yes", "no"),
		description="Branch on a field of the context",
	),
	KindSpec(
		"switch",
		"Switch",
		"alt_route",
		"#14b8a6",
		run_switch,
		fields=(
			FieldSpec(
				"cases",
				"table",
				"Cases",
				required=True,
				fields=(FieldSpec("branch", "data", "Branch", required=True), *_CONDITION_FIELDS),
			),
			FieldSpec("default_branch", "data", "Default branch", default="default"),
		),
		dynamic_branches=switch_branches,
		description="Take the first case whose condition holds, else the default branch",
	),
	KindSpec(
		"subscription_activate",
		"Activate subscription",
		"autorenew",
		"#22c55e",
		run_subscription_activate,
		fields=(
			FieldSpec(
				"subscription_ref",
				"data",
				"Subscription",
				description="e.g. {{variables.subscription}}; empty: the customer's subscription that is "
				"not active yet (none: the step completes saying so)",
			),
		),
		side_effect=True,
		description="Activate an ERPNext Subscription",
	),
)


def builtin_registry() -> KindRegistry:
	from .documents import DOCUMENT_KINDS
	from .waiting import WAITING_KINDS

	return KindRegistry((*BUILTIN_KINDS, *DOCUMENT_KINDS, *WAITING_KINDS), BUILTIN_CATALOGS)


_FLOW_CONTROL = ("wait", "condition", "switch", "wait_for_event", "sub_flow")
BUILTIN_CATALOGS = (
	# the seed's PROJECT_KINDS: service-delivery automations (installations, repairs, renewals)
	CatalogSpec(
		"service_delivery",
		"Service delivery",
		("dispatch_job", "issue", "notify", "webhook", "erp_update", "subscription_activate", *_FLOW_CONTROL),
		"Installations, repairs and renewals: dispatch jobs, issues, messages, subscriptions",
	),
	CatalogSpec(
		"back_office",
		"Back office",
		("create_document", "assign", "set_value", "comment", "notify", "erp_update", *_FLOW_CONTROL),
		"Documents, assignments, counters and comments on any DocType",
	),
)
