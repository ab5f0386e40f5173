"""Predicates: the condition step's operators on dotted paths, and JsonLogic trigger conditions.

Neither evaluates code: the operators are a fixed table, JsonLogic is data walked by the
panzi-json-logic library (complete JsonLogic spec, pure Python, no dependencies) with an operator
table we restrict and bound.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping

from json_logic.apply import apply as jsonlogic_apply
from json_logic.builtins import BUILTINS, to_string

from .errors import Problem, describe_error
from .i18n import _
from .limits import MAX_LOGIC_DEPTH, MAX_LOGIC_NODES, MAX_RENDERED_LENGTH
from .paths import resolve_path

# --- the condition step's operators -------------------------------------------------------------


def _number(value):
	"""The value as a float when it is a number or a numeric string, else None."""
	if isinstance(value, bool):
		return None
	if isinstance(value, int | float):
		return float(value) if math.isfinite(value) else None
	if isinstance(value, str):
		try:
			number = float(value.strip())
		except ValueError:
			return None
		return number if math.isfinite(number) else None
	return None


def _loose_equal(a, b) -> bool:
	"""Equality as an operator typing into a form expects: 1 == "1", True == "true", None == ""."""
	if a is None or b is None:
		return (a is None or a == "") and (b is None or b == "")
	if isinstance(a, bool) or isinstance(b, bool):
		return _truthy_text(a) == _truthy_text(b)
	na, nb = _number(a), _number(b)
	if na is not None and nb is not None:
		return na == nb
	if isinstance(a, str | int | float) and isinstance(b, str | int | float):
		return str(a) == str(b)
	return a == b


def _truthy_text(value) -> str:
	if isinstance(value, bool):
		return "true" if value else "false"
	text = str(value).strip().lower()
	return {"1": "true", "0": "false", "yes": "true", "no": "false"}.get(text, text)


def _ordered(a, b, compare: Callable[[object, object], bool]) -> bool:
	na, nb = _number(a), _number(b)
	if na is not None and nb is not None:
		return compare(na, nb)
	if isinstance(a, str) and isinstance(b, str):
		# ISO dates and datetimes order correctly as text.
		return compare(a, b)
	return False


def _as_list(value) -> list:
	if isinstance(value, list | tuple):
		return list(value)
	if isinstance(value, str):
		text = value.strip()
		if text.startswith("["):
			try:
				parsed = json.loads(text)
			except ValueError:
				parsed = None
			if isinstance(parsed, list):
				return parsed
		return [part.strip() for part in value.split(",")] if text else []
	return [] if value is None else [value]


def _is_empty(value) -> bool:
	if value is None:
		return True
	if isinstance(value, str):
		return not value.strip()
	if isinstance(value, list | tuple | dict | Mapping):
		return len(value) == 0
	return False


def _contains(container, item) -> bool:
	if isinstance(container, str):
		return str(item) in container if item is not None else False
	if isinstance(container, list | tuple):
		return any(_loose_equal(element, item) for element in container)
	if isinstance(container, Mapping):
		return str(item) in container
	return False


OPERATORS: dict[str, Callable[[object, object], bool]] = {
	"==": _loose_equal,
	"!=": lambda a, b: not _loose_equal(a, b),
	"<": lambda a, b: _ordered(a, b, lambda x, y: x < y),
	">": lambda a, b: _ordered(a, b, lambda x, y: x > y),
	"<=": lambda a, b: _ordered(a, b, lambda x, y: x <= y),
	">=": lambda a, b: _ordered(a, b, lambda x, y: x >= y),
	"in": lambda a, b: any(_loose_equal(a, option) for option in _as_list(b)),
	"not_in": lambda a, b: not any(_loose_equal(a, option) for option in _as_list(b)),
	"empty": lambda a, _b: _is_empty(a),
	"not_empty": lambda a, _b: not _is_empty(a),
	"contains": _contains,
	"starts_with": lambda a, b: a is not None and b is not None and str(a).startswith(str(b)),
	"ends_with": lambda a, b: a is not None and b is not None and str(a).endswith(str(b)),
}

UNARY_OPERATORS = frozenset({"empty", "not_empty"})


def compare(field_value, op: str, value) -> bool:
	"""Apply one of the 13 operators; an unknown operator is False (validation rejects it earlier)."""
	operator = OPERATORS.get(op)
	if operator is None:
		return False
	try:
		return bool(operator(field_value, value))
	except Exception:
		return False


def evaluate_field_condition(context, field: str, op: str, value) -> bool:
	"""The condition step: `field` is a dotted path into the context, `value` already rendered."""
	return compare(resolve_path(context, field), op, value)


# --- JsonLogic ----------------------------------------------------------------------------------

CONTROL_OPERATORS = frozenset({"if", "?:", "and", "or", "filter", "reduce", "map", "all", "some", "none"})


def _bounded(result):
	size = len(result) if isinstance(result, str | list) else 0
	if size > MAX_RENDERED_LENGTH:
		raise ValueError(f"result longer than {MAX_RENDERED_LENGTH}")
	return result


def _safe_cat(data=None, *args):
	return _bounded("".join(to_string(arg) for arg in args))


def _safe_merge(data=None, *args):
	items: list = []
	for arg in args:
		if isinstance(arg, list):
			items.extend(arg)
		else:
			items.append(arg)
		_bounded(items)
	return items


# `log` writes to stdout, the rest is kept; `cat` and `merge` are bounded so that a `reduce`
# doubling its accumulator cannot exhaust memory.
JSONLOGIC_OPERATIONS = {name: fn for name, fn in BUILTINS.items() if name != "log"}
JSONLOGIC_OPERATIONS.update({"cat": _safe_cat, "merge": _safe_merge})
KNOWN_JSONLOGIC_OPERATORS = frozenset(JSONLOGIC_OPERATIONS) | CONTROL_OPERATORS


def parse_jsonlogic(condition):
	"""Accept a rule as an object or as JSON text; '' and None mean "always". Raises ValueError."""
	if condition is None:
		return None
	if isinstance(condition, str):
		text = condition.strip()
		if not text:
			return None
		try:
			condition = json.loads(text)
		except RecursionError:
			raise ValueError(f"rule nested deeper than {MAX_LOGIC_DEPTH} levels") from None
		except ValueError as exc:
			raise ValueError(f"not valid JSON: {exc}") from None
	if condition in ({}, None):
		return None
	return condition


def jsonlogic_problems(rule, field: str = "trigger.condition", step_id: str | None = None) -> list[Problem]:
	"""Structural check of a JsonLogic rule: known operators only, bounded size and depth."""
	problems: list[Problem] = []
	nodes = 0

	def walk(node, depth: int) -> None:
		nonlocal nodes
		nodes += 1
		if nodes > MAX_LOGIC_NODES or depth > MAX_LOGIC_DEPTH:
			return
		if isinstance(node, list):
			for item in node:
				walk(item, depth + 1)
		elif isinstance(node, dict):
			if len(node) != 1:
				problems.append(
					Problem(
						step_id, field, _("an operation must have exactly one key, got {0}").format(len(node))
					)
				)
				return
			((op, args),) = node.items()
			if op not in KNOWN_JSONLOGIC_OPERATORS:
				problems.append(Problem(step_id, field, _("unknown JsonLogic operator {0}").format(repr(op))))
				return
			walk(args, depth + 1)
		elif not (node is None or isinstance(node, str | int | float | bool)):
			problems.append(
				Problem(step_id, field, _("unsupported value of type {0}").format(type(node).__name__))
			)

	walk(rule, 0)
	if nodes > MAX_LOGIC_NODES:
		problems.append(
			Problem(step_id, field, _("rule too large (more than {0} nodes)").format(MAX_LOGIC_NODES))
		)
	elif not problems and _depth(rule) > MAX_LOGIC_DEPTH:
		problems.append(
			Problem(step_id, field, _("rule nested deeper than {0} levels").format(MAX_LOGIC_DEPTH))
		)
	return problems


def _depth(node, level: int = 0) -> int:
	if level > MAX_LOGIC_DEPTH:
		return level
	if isinstance(node, dict):
		return max((_depth(v, level + 1) for v in node.values()), default=level + 1)
	if isinstance(node, list):
		return max((_depth(v, level + 1) for v in node), default=level + 1)
	return level


def evaluate_jsonlogic(rule, data) -> tuple[bool, str | None]:
	"""(matched, error). A missing rule matches; a rule that fails to evaluate does not, with why.

	The rule is checked structurally first, so an unknown operator or an oversized rule is an
	error, never an exception.
	"""
	checked, error = check_jsonlogic(rule)
	if error is not None:
		return False, error
	return evaluate_checked(checked, data)


def check_jsonlogic(rule) -> tuple[object, str | None]:
	"""(the rule parsed, None), or (None, why it cannot be evaluated). A rule evaluated many times
	(a trigger condition, on every save) is checked once and then given to `evaluate_checked`."""
	try:
		rule = parse_jsonlogic(rule)
	except ValueError as exc:
		return None, str(exc)
	if rule is None:
		return None, None
	problems = jsonlogic_problems(rule)
	if problems:
		return None, problems[0].message
	return rule, None


def evaluate_checked(rule, data) -> tuple[bool, str | None]:
	"""`evaluate_jsonlogic` of a rule that `check_jsonlogic` gave (parsed and sound; None matches)."""
	if rule is None:
		return True, None
	try:
		result = jsonlogic_apply(rule, data, JSONLOGIC_OPERATIONS)
	except RecursionError:
		return False, "rule nested too deeply"
	except Exception as exc:
		return False, describe_error(exc)
	return _jsonlogic_truthy(result), None


def _jsonlogic_truthy(value) -> bool:
	if isinstance(value, float) and math.isnan(value):
		return False
	if isinstance(value, dict):
		return True
	return bool(value)


def bind_data(rule, data: Mapping, later: str = "doc") -> dict:
	"""The part of `data` that `rule` reads, leaving out `later` (given at evaluation time).

	A rule that waits (for a document event) is stored with this instead of the whole run: then
	`evaluate_jsonlogic(rule, {**bound, later: value})` decides as it would over
	`{**data, later: value}`. A rule whose paths are computed (`{"var": {"cat": …}}`) or that reads
	the whole data binds all of it but `later`."""
	paths, computed = _read_paths(rule)
	if computed or "" in paths:
		return {key: value for key, value in data.items() if key != later}
	bound: dict = {}
	for path in sorted(paths):
		parts = path.split(".")
		if parts[0] == later:
			continue
		_copy_path(data, bound, parts)
	return bound


def fields_read(rules, root: str = "doc") -> frozenset[str] | None:
	"""The fields of `root` (its top-level keys) that the rules read, or None when they may read
	it whole (a path that is `root` itself, the whole data, or computed).

	Evaluated over `{root: {f: data[root][f] for f in these}}` instead of the whole of it, the
	rules decide the same (paths that start elsewhere read nothing of `root`)."""
	fields: set[str] = set()
	for rule in rules:
		paths, computed = _read_paths(rule)
		if computed:
			return None
		for path in paths:
			first, _dot, rest = path.partition(".")
			if path == "" or (first == root and not rest):
				return None
			if first == root:
				fields.add(rest.partition(".")[0])
	return frozenset(fields)


def _read_paths(rule) -> tuple[set[str], bool]:
	"""The data paths a rule names (`var`, `missing`, `missing_some`), and whether any is computed."""
	paths: set[str] = set()
	computed = False

	def path_of(value) -> None:
		nonlocal computed
		if isinstance(value, str):
			paths.add(value)
		elif isinstance(value, int | float) and not isinstance(value, bool):
			paths.add(str(value))
		elif value is not None:
			computed = True

	def walk(node) -> None:
		if isinstance(node, list):
			for item in node:
				walk(item)
		elif isinstance(node, dict):
			for op, args in node.items():
				if op == "var":
					first = args[0] if isinstance(args, list) and args else args
					path_of([] if isinstance(args, list) and not args else first)
					walk(args[1:] if isinstance(args, list) else [])
				elif op in ("missing", "missing_some"):
					names = (
						args[1] if op == "missing_some" and isinstance(args, list) and len(args) > 1 else args
					)
					for name in names if isinstance(names, list) else [names]:
						path_of(name) if not isinstance(name, dict | list) else walk(name)
					walk(args)
				else:
					walk(args)

	walk(rule)
	return paths, computed


def _copy_path(source, target: dict, parts: list[str]) -> None:
	"""Copy source[parts…] into target, keeping the nesting; a list on the way is copied whole."""
	current, into = source, target
	for index, part in enumerate(parts):
		if not isinstance(current, Mapping) or part not in current:
			return
		value = current[part]
		last = index == len(parts) - 1
		if last or not isinstance(value, Mapping):
			into[part] = value
			return
		into = into.setdefault(part, {})
		current = value
