"""Errors of the flow language and of step execution."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
	"""One thing wrong with a definition: where (a step id, or None for the flow) and which field."""

	step_id: str | None
	field: str
	message: str

	@property
	def location(self) -> str:
		return "flow" if self.step_id is None else f"step {printable(self.step_id)}"

	def __str__(self) -> str:
		"""One line, whatever the input contained (newlines, control characters, lone surrogates)."""
		return f"{self.location}: {printable(self.field)}: {printable(self.message, 2000)}"

	def as_dict(self) -> dict:
		return {"step": self.step_id, "field": self.field, "message": self.message}


def printable(text, limit: int = 120) -> str:
	text = str(text)
	if not text.isprintable() or any(0xD800 <= ord(c) <= 0xDFFF for c in text):
		text = "".join(
			c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF else repr(c)[1:-1] for c in text
		)
	return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_error(exc: BaseException) -> str:
	"""`Type: message` of an error met while evaluating a rule or a template, in words that do not
	change with the Python release (CPython 3.14 says "division by zero" where 3.11 says "integer
	modulo by zero" or "float modulo")."""
	if isinstance(exc, ZeroDivisionError):
		return "ZeroDivisionError: division by zero"
	return f"{type(exc).__name__}: {exc}"[:500]


class DefinitionError(ValueError):
	"""A flow definition that cannot run; carries every problem found, not just the first."""

	def __init__(self, problems: list[Problem]):
		self.problems = sorted(set(problems), key=_problem_order)
		super().__init__("; ".join(str(p) for p in self.problems))


def _problem_order(problem: Problem) -> tuple:
	return (problem.step_id is not None, problem.step_id or "", problem.field, problem.message)


class StepError(Exception):
	"""Raised by a kind handler or an effect when a step attempt fails.

	`retryable=False` marks errors that another attempt cannot fix (a malformed payload, a
	document that does not exist); the step then fails at once instead of using its retries.
	"""

	def __init__(self, message: str, *, retryable: bool = True):
		super().__init__(message)
		self.message = message  # an i18n Message keeps its template, for the reader's language
		self.retryable = retryable


class Undeliverable(StepError):
	"""A message with nobody to send it to, or a channel this site has not set up (SMS Settings
	without a gateway). Another attempt cannot fix it; a notify step set to `when_undeliverable:
	skip` completes noting why instead of failing."""

	def __init__(self, message: str):
		super().__init__(message, retryable=False)


class StoreConflict(Exception):
	"""Raised by an effect when the store aborted the whole transaction under it (a deadlock, a
	write conflict with another worker). Nothing of the attempt is left, so it is not a step
	failure: the engine lets it through, and the caller rolls back and repeats the operation."""


class FlowStateError(Exception):
	"""An operation that does not fit the run's current state (completing a step that is not waiting…)."""
