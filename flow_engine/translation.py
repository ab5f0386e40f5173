"""The runtime's messages in the reader's language (the runtime itself has no Frappe).

Messages made with flow_engine.runtime.i18n keep their template and arguments; here they go
through Frappe's own `_()`, so a site's or the app's catalog (flow_engine/locale/*.po) translates
them as it translates everything else. Anything else is looked up as it is (and stays English
when the catalog has nothing for it).
"""

from __future__ import annotations

from frappe import _

from flow_engine.runtime.errors import Problem, printable
from flow_engine.runtime.i18n import Message, Template


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
