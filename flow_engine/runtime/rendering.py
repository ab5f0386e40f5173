"""Template rendering for step payloads: `{{doc.customer_name}}` and Jinja expressions, sandboxed.

Frappe's own Notification and Email Template render with Jinja's sandbox; so does this, with three
additions that make it safe for text written by flow authors:
- dotted names read data only: `doc.items` is the document's `items` field, never `dict.items`;
- unknown names and paths render as "" (ChainableUndefined), and any error renders as "": a
  template never makes a step or a save fail;
- output and loops are bounded (`range`, string repetition and padding, total length), so a
  template cannot exhaust a worker's memory or time.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

from jinja2 import ChainableUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from .errors import describe_error
from .limits import MAX_JSON_DEPTH, MAX_RANGE_ITEMS, MAX_RENDERED_LENGTH, MAX_TEMPLATE_LENGTH

_TEMPLATE_MARKERS = ("{{", "{%", "{#")
_WIDTH_FILTERS = ("center", "indent", "wordwrap", "truncate", "format")
_FORMAT_WIDTH = re.compile(r"%[-+ #0]*(\d+)|\{[^{}]*:[^{}]*?(\d{4,})[^{}]*\}")


class _Budget:
	"""Counts loop items across one render so nested `range` loops cannot run for hours."""

	def __init__(self):
		self.items = 0

	def take(self, count: int) -> None:
		self.items += max(count, 0)
		if self.items > MAX_RANGE_ITEMS:
			raise SecurityError(f"template loops over more than {MAX_RANGE_ITEMS} items")


def _empty_for_none(value):
	return "" if value is None else value


class FlowTemplateEnvironment(ImmutableSandboxedEnvironment):
	intercepted_binops = frozenset({"*", "**", "%", "+"})

	def __init__(self):
		# an empty field (None in a document) renders empty, like an unknown path, not as "None"
		super().__init__(
			undefined=ChainableUndefined,
			autoescape=False,
			keep_trailing_newline=True,
			finalize=_empty_for_none,
		)
		self.globals.pop("lipsum", None)
		self.globals["range"] = self._bounded_range
		for name in _WIDTH_FILTERS:
			if name in self.filters:
				self.filters[name] = _width_checked(self.filters[name], format_spec=name == "format")
		self.filters["replace"] = _bounded_replace

	def _bounded_range(self, *args):
		result = range(*args)
		_current_budget().take(len(result))
		return result

	def getattr(self, obj, attribute):
		if isinstance(obj, Mapping):
			value = obj.get(attribute, _MISSING) if isinstance(attribute, str) else _MISSING
			return self.undefined(obj=obj, name=attribute) if value is _MISSING else value
		if isinstance(obj, str) and attribute in ("format", "format_map"):
			_check_format_widths(obj)
			return _int_args_checked(super().getattr(obj, attribute))
		return super().getattr(obj, attribute)

	def getitem(self, obj, argument):
		if isinstance(obj, Mapping):
			value = obj.get(argument, _MISSING) if isinstance(argument, str | int) else _MISSING
			return self.undefined(obj=obj, name=argument) if value is _MISSING else value
		return super().getitem(obj, argument)

	def call(__self, __context, __obj, *args, **kwargs):
		# str methods that pad or repeat (`ljust`, `zfill`, `format` with a nested width…) take
		# their size from an integer argument: bound it before the string is built.
		if isinstance(getattr(__obj, "__self__", None), str):
			for value in (*args, *kwargs.values()):
				if isinstance(value, int) and not isinstance(value, bool):
					_check_length(abs(value))
		return super().call(__context, __obj, *args, **kwargs)

	def call_binop(self, context, op, left, right):
		if op == "**":
			if isinstance(right, int | float) and abs(right) > 100:
				raise SecurityError("exponent too large")
			return operator.pow(left, right)
		if op == "*":
			for seq, times in ((left, right), (right, left)):
				if isinstance(seq, str | list | tuple) and isinstance(times, int):
					_check_length(len(seq) * times)
			return operator.mul(left, right)
		if op == "%":
			if isinstance(left, str):
				_check_format_widths(left)
			return operator.mod(left, right)
		result = operator.add(left, right)
		if isinstance(result, str | list | tuple):
			_check_length(len(result))
		return result


_MISSING = object()


def _check_length(length: int) -> None:
	if length > MAX_RENDERED_LENGTH:
		raise SecurityError(f"result longer than {MAX_RENDERED_LENGTH} characters")


def _check_format_widths(text: str) -> None:
	for match in _FORMAT_WIDTH.finditer(str(text)):
		width = int(match.group(1) or match.group(2) or 0)
		_check_length(width)


def _int_args_checked(fn):
	def checked(*args, **kwargs):
		for value in (*args, *kwargs.values()):
			if isinstance(value, int) and not isinstance(value, bool):
				_check_length(abs(value))
		return fn(*args, **kwargs)

	return checked


def _width_checked(filter_fn, *, format_spec: bool = False):
	"""Bound the integer arguments (widths) of a padding filter; for `format`, its format string too."""

	def checked(*args, **kwargs):
		values = [*args, *kwargs.values()]
		for value in values:
			if isinstance(value, int) and not isinstance(value, bool):
				_check_length(abs(value))
		if format_spec:
			first_text = next((value for value in args if isinstance(value, str)), "")
			_check_format_widths(first_text)
		return filter_fn(*args, **kwargs)

	checked.__name__ = getattr(filter_fn, "__name__", "filter")
	if hasattr(filter_fn, "jinja_pass_arg"):  # keep pass_environment / pass_context
		checked.jinja_pass_arg = filter_fn.jinja_pass_arg
	return checked


def _bounded_replace(value, old, new, count=None):
	text, old, new = str(value), str(old), str(new)
	occurrences = text.count(old) if old else len(text) + 1
	if count is not None:
		occurrences = min(occurrences, max(int(count), 0))
	_check_length(len(text) + occurrences * max(len(new) - len(old), 0))
	return text.replace(old, new, -1 if count is None else int(count))


_ENVIRONMENT = FlowTemplateEnvironment()
_budget_stack: list[_Budget] = []


def _current_budget() -> _Budget:
	return _budget_stack[-1] if _budget_stack else _Budget()


@lru_cache(maxsize=2048)
def _compile(source: str):
	return _ENVIRONMENT.from_string(source)


def is_template(value) -> bool:
	return isinstance(value, str) and any(marker in value for marker in _TEMPLATE_MARKERS)


def render(source, context: Mapping) -> str:
	"""Render one string. Never raises: a broken or hostile template renders as ""."""
	if not isinstance(source, str):
		return "" if source is None else str(source)
	if not is_template(source):
		return source
	text, _error = render_with_error(source, context)
	return text


def render_with_error(source: str, context: Mapping) -> tuple[str, str | None]:
	"""Like `render`, and also says why a template rendered as "" (for validation and previews)."""
	if len(source) > MAX_TEMPLATE_LENGTH:
		return "", f"template longer than {MAX_TEMPLATE_LENGTH} characters"
	_budget_stack.append(_Budget())
	try:
		text = _compile(source).render(context)
	except (TemplateError, SecurityError) as exc:
		return "", describe_error(exc)
	except RecursionError:
		return "", "template nested too deeply"
	except Exception as exc:  # any error inside a filter or an operation on odd data
		return "", describe_error(exc)
	finally:
		_budget_stack.pop()
	if len(text) > MAX_RENDERED_LENGTH:
		return "", f"rendered text longer than {MAX_RENDERED_LENGTH} characters"
	return text, None


def template_syntax_error(source: str) -> str | None:
	"""The syntax error of a template, or None; used by validation to point at the field."""
	if not is_template(source):
		return None
	if len(source) > MAX_TEMPLATE_LENGTH:
		return f"template longer than {MAX_TEMPLATE_LENGTH} characters"
	try:
		_compile(source)
	except TemplateError as exc:
		return f"template syntax error: {exc}"[:500]
	except (RecursionError, SyntaxError, MemoryError):  # Jinja compiles to Python: deep nesting breaks it
		return "template nested too deeply"
	return None


def render_deep(value, context: Mapping, _depth: int = 0):
	"""Render every string inside dicts and lists; other values are returned as they are."""
	if _depth > MAX_JSON_DEPTH:
		return None
	if isinstance(value, str):
		return render(value, context)
	if isinstance(value, Mapping):
		return {key: render_deep(item, context, _depth + 1) for key, item in value.items()}
	if isinstance(value, Sequence) and not isinstance(value, bytes):
		return [render_deep(item, context, _depth + 1) for item in value]
	return value
