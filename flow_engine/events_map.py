"""Which document event is which named flow event: data, extended by sites and apps.

Each entry: `event` (the named event), `doctype`, `on` (insert, update, submit, cancel, delete or
value_change), and for value_change the `field` and optionally the `value` it must become; `when`
is an optional JsonLogic rule over the document. Apps add entries with the `flow_engine_events`
hook; `doctype: "$dispatch"` means the dispatch doctype chosen in Flow Settings.
"""

from __future__ import annotations

import frappe

from flow_engine.runtime import register_event

BUILTIN_EVENT_MAP = (
	{"event": "on_customer_created", "doctype": "Customer", "on": "insert"},
	{"event": "on_quotation_created", "doctype": "Quotation", "on": "insert"},
	{"event": "on_quotation_accepted", "doctype": "Quotation", "on": "submit"},
	{
		"event": "on_payment_received",
		"doctype": "Payment Entry",
		"on": "submit",
		"when": {"==": [{"var": "doc.payment_type"}, "Receive"]},
	},
	{"event": "on_issue_opened", "doctype": "Issue", "on": "insert"},
	{
		"event": "on_subscription_active",
		"doctype": "Subscription",
		"on": "value_change",
		"field": "status",
		"value": "Active",
	},
	{
		"event": "on_contract_signed",
		"doctype": "Contract",
		"on": "value_change",
		"field": "is_signed",
		"value": 1,
	},
	{
		"event": "on_dispatch_completed",
		"doctype": "$dispatch",
		"on": "value_change",
		"field": "status",
		"value": "Completed",
	},
)

# Generic events name their doctype in the template (trigger_doctype, else applies_to).
GENERIC_EVENTS = {
	"on_insert": "insert",
	"on_update": "update",
	"on_submit": "submit",
	"on_cancel": "cancel",
	"on_delete": "delete",
	"on_value_change": "value_change",
}

# Frappe's document method behind each kind of event.
DOC_METHODS = {
	"insert": "after_insert",
	"update": "on_update",
	"submit": "on_submit",
	"cancel": "on_cancel",
	"delete": "on_trash",
	"value_change": "on_change",
}


def event_map(dispatch_doctype: str = "Dispatch Job") -> list[dict]:
	entries = [dict(entry) for entry in BUILTIN_EVENT_MAP]
	for entry in frappe.get_hooks("flow_engine_events") or []:
		if (
			isinstance(entry, dict)
			and entry.get("event")
			and entry.get("doctype")
			and entry.get("on") in DOC_METHODS
		):
			entries.append(dict(entry))
	for entry in entries:
		if entry["doctype"] == "$dispatch":
			entry["doctype"] = dispatch_doctype
		register_event(entry["event"], entry.get("label") or entry["event"])
	return entries
