"""The runtime's messages in the reader's language (the runtime itself has no Frappe).

Messages made with flow_engine.runtime.i18n keep their template and arguments; here they go
through Frappe's own `_()`, so a site's or the app's catalog (flow_engine/locale/*.po) translates
them as it translates everything else. Anything else is looked up as it is (and stays English
when the catalog has nothing for it).
"""

from __future__ import annotations

from frappe import _

from flow_engine.runtime.errors import Problem, printable
from flow_engine.runtime.i18n import Message, Template, message_from_data


def translated(message) -> str:
	if isinstance(message, Message):
		return _(message.template).format(*(translated(arg) for arg in message.args))
	if isinstance(message, Template):
		return _(str(message))
	return message if not isinstance(message, str) or not message else _(message)


def problem_text(problem: Problem) -> str:
	"""`step <id>: <field>: <message>`, as Problem prints it, in the reader's language (the step id
	and the field are the flow's own words and stay as they are)."""
	where = _("flow") if problem.step_id is None else _("step {0}").format(printable(problem.step_id))
	return f"{where}: {printable(problem.field)}: {printable(translated(problem.message), 2000)}"


def problem_dict(problem: Problem) -> dict:
	return {**problem.as_dict(), "message": translated(problem.message)}


def stored_text(text: str | None, data) -> str | None:
	"""An error as a run stored it (`error` and its `error_message`), in the reader's language."""
	message = message_from_data(data)
	return text if message is None else translated(message)


def run_error_texts(run_error: str | None, steps: dict) -> dict:
	"""The errors of a run's steps and attempts, and the run's own, in the reader's language, for the
	run view (`{"error", "steps": {id: {"error", "attempts": {n: text}}}}`); English-only errors are
	left out, the view then shows them as stored."""
	texts: dict = {"error": None, "steps": {}}
	for step_id, state in (steps or {}).items():
		if not isinstance(state, dict):
			continue
		step_texts = {"attempts": {}}
		for attempt in state.get("attempts") or ():
			if isinstance(attempt, dict) and attempt.get("error_message"):
				step_texts["attempts"][str(attempt.get("n"))] = stored_text(
					attempt.get("error"), attempt["error_message"]
				)
		if state.get("error_message"):
			step_texts["error"] = stored_text(state.get("error"), state["error_message"])
			# the run's error is its failed step's, as the engine wrote it
			if run_error and run_error == f"step {step_id}: {state.get('error')}":
				texts["error"] = _("step {0}: {1}").format(step_id, step_texts["error"])
		if step_texts["attempts"] or "error" in step_texts:
			texts["steps"][step_id] = step_texts
	return texts
