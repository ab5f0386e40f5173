"""Messages a reader's language can be given later, without Frappe here.

`_("unknown kind {0} (known: {1})").format(name, known)` reads as in Frappe and gives the English
text, as a `Message` that also keeps its template and arguments. The Frappe layer translates it
with Frappe's own `_()` (flow_engine.translation); everywhere else (the CLI, the pure tier) it is
the English text it always was. Frappe's string extractor finds these `_()` calls like any other.
"""

from __future__ import annotations


class Message(str):
	"""English text that remembers the template and arguments it was made from."""

	template: str
	args: tuple

	def __new__(cls, template: str, args: tuple = ()):
		message = super().__new__(cls, template.format(*args) if args else template)
		message.template = template
		message.args = tuple(args)
		return message

	def __reduce__(self):
		return (Message, (self.template, self.args))


class Template(str):
	"""A message template: `.format()` gives a Message."""

	def format(self, *args, **kwargs) -> Message:
		if kwargs:
			raise TypeError("message templates take positional arguments ({0}, {1}…)")
		return Message(str(self), args)


def _(text: str) -> Template:
	return Template(text)


def message_data(message) -> dict | None:
	"""A Message or Template as JSON (`{"text", "args"}`, nested messages alike), to store beside its
	English text; None for any other text, which has nothing to translate later."""
	if isinstance(message, Message):
		return {"text": message.template, "args": [_arg_data(arg) for arg in message.args]}
	if isinstance(message, Template):
		return {"text": str(message), "args": []}
	return None


def message_from_data(data) -> Message | None:
	"""The Message that `message_data` stored; None for anything that is not one (an older run's
	state, or a hand-edited one)."""
	if not isinstance(data, dict) or not isinstance(data.get("text"), str):
		return None
	args = data.get("args")
	if not isinstance(args, list):
		return None
	try:
		return Message(data["text"], tuple(_arg_from_data(arg) for arg in args))
	except (IndexError, KeyError, ValueError):  # a template and arguments that no longer fit
		return None


def _arg_data(arg):
	nested = message_data(arg)
	if nested is not None:
		return nested
	return arg if isinstance(arg, str | int | float | bool) or arg is None else str(arg)


def _arg_from_data(arg):
	nested = message_from_data(arg)
	return arg if nested is None else nested
