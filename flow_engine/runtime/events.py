"""Flow-level trigger events: which signal starts a run of a template.

The named events are the seed's; the Frappe layer maps each to an ERPNext document event (a table
that sites and apps extend). Generic document events name their doctype in the trigger itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventSpec:
	name: str
	label: str
	needs_doctype: bool = False  # trigger.doctype required (generic document events)
	needs_field: bool = False  # trigger.field required (value change)
	description: str = ""


NAMED_EVENTS = (
	EventSpec("on_contract_signed", "Contract signed", description="Contract is_signed becomes 1"),
	EventSpec("on_payment_received", "Payment received", description="Payment Entry (Receive) submitted"),
	EventSpec(
		"on_subscription_active", "Subscription active", description="Subscription status becomes Active"
	),
	EventSpec("on_quotation_created", "Quotation created", description="Quotation inserted"),
	EventSpec("on_quotation_accepted", "Quotation accepted", description="Quotation submitted"),
	EventSpec("on_issue_opened", "Issue opened", description="Issue inserted"),
	EventSpec("on_customer_created", "Customer created", description="Customer inserted"),
	EventSpec(
		"on_dispatch_completed", "Dispatch completed", description="Dispatch job status becomes Completed"
	),
	EventSpec("manual", "Manual", description="Started by a person or by the API"),
)

DOCUMENT_EVENTS = (
	EventSpec("on_insert", "Document inserted", needs_doctype=True),
	EventSpec("on_update", "Document saved", needs_doctype=True),
	EventSpec("on_submit", "Document submitted", needs_doctype=True),
	EventSpec("on_cancel", "Document cancelled", needs_doctype=True),
	EventSpec("on_delete", "Document deleted", needs_doctype=True),
	EventSpec("on_value_change", "Field value changed", needs_doctype=True, needs_field=True),
)

# Starts that come from time (runtime/starts.py), found by the scheduler
TIME_EVENTS = (
	EventSpec(
		"on_date_field",
		"Date reached",
		needs_doctype=True,
		needs_field=True,
		description="A date or datetime field of a document, with an offset before or after it",
	),
	EventSpec(
		"on_schedule",
		"On a schedule",
		description="A cron schedule; with a DocType, one run per matching document",
	),
)

_EVENTS: dict[str, EventSpec] = {spec.name: spec for spec in (*NAMED_EVENTS, *DOCUMENT_EVENTS, *TIME_EVENTS)}


def register_event(name: str, label: str, *, description: str = "") -> EventSpec:
	"""Let another app add an event that it emits with `flow_engine.emit(name, doc)`."""
	if not isinstance(name, str) or not name.isidentifier():
		raise ValueError(f"event name {name!r} must be an identifier")
	spec = _EVENTS.get(name)
	if spec is None:
		spec = _EVENTS[name] = EventSpec(name, label, description=description)
	return spec


def get_event(name) -> EventSpec | None:
	return _EVENTS.get(name) if isinstance(name, str) else None


def event_names() -> list[str]:
	return list(_EVENTS)


def events_catalog() -> list[dict]:
	return [
		{
			"name": spec.name,
			"label": spec.label,
			"needs_doctype": spec.needs_doctype,
			"needs_field": spec.needs_field,
			"description": spec.description,
		}
		for spec in _EVENTS.values()
	]
