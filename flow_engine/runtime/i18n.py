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
