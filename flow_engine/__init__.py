__version__ = "0.1.0"


def emit(event: str, doc=None, variables: dict | None = None) -> list[str]:
	"""Start the active flows that listen to `event`, once the current transaction commits.

	For other apps: `flow_engine.emit("on_ticket_resolved", ticket, {"resolved_by": user})`.
	Register the event first (flow_engine.runtime.register_event, or the flow_engine_events hook)
	so that templates can name it. Returns the names of the templates queued.
	"""
	from flow_engine.dispatch import emit as _emit

	return _emit(event, doc, variables)
