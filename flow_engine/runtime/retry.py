"""Retry policy of a step: how many attempts, and how long to wait between them.

Shaped after Temporal's RetryPolicy. The jitter is derived from a hash of the step and attempt,
not from a random generator, so that a simulation (and a test) gives the same times every run
while two steps failing together still spread out.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from .errors import Problem
from .i18n import _
from .limits import MAX_ATTEMPTS


@dataclass(frozen=True)
class RetryPolicy:
	max_attempts: int = 3  # attempts in all, the first included; 1 = never retry
	initial_interval_seconds: float = 60.0  # wait before the second attempt
	backoff_factor: float = 2.0  # each further wait is this many times the previous one
	max_interval_seconds: float = 3600.0  # cap of one wait
	jitter: float = 0.1  # each wait moves by up to ±10 %

	def merged(self, overrides: Mapping | None) -> RetryPolicy:
		if not overrides:
			return self
		known = {f.name for f in fields(self)}
		values = {key: value for key, value in overrides.items() if key in known and value is not None}
		if "max_attempts" in values:
			values["max_attempts"] = int(values["max_attempts"])
		for key in known - {"max_attempts"}:
			if key in values:
				values[key] = float(values[key])
		return replace(self, **values)

	def delay_after(self, failed_attempts: int, seed: str) -> float:
		"""Seconds to wait after the `failed_attempts`-th failure before trying again."""
		base = self.initial_interval_seconds * self.backoff_factor ** max(failed_attempts - 1, 0)
		base = min(base, self.max_interval_seconds)
		digest = hashlib.sha256(f"{seed}#{failed_attempts}".encode()).digest()
		unit = int.from_bytes(digest[:8], "big") / 2**64  # in [0, 1)
		# Whole seconds: schedules stay readable and compare exactly after a JSON round trip.
		return float(max(0, math.ceil(base * (1 + self.jitter * (2 * unit - 1)))))

	def as_dict(self) -> dict:
		return {f.name: getattr(self, f.name) for f in fields(self)}


_BOUNDS = {
	"max_attempts": (1, MAX_ATTEMPTS),
	"initial_interval_seconds": (0, 30 * 86400),
	"backoff_factor": (1, 10),
	"max_interval_seconds": (0, 30 * 86400),
	"jitter": (0, 1),
}


def retry_problems(raw, step_id: str | None, field: str = "retry") -> list[Problem]:
	if raw is None:
		return []
	if not isinstance(raw, Mapping):
		return [Problem(step_id, field, _("must be an object"))]
	problems = []
	for key, value in raw.items():
		if key not in _BOUNDS:
			problems.append(
				Problem(
					step_id,
					f"{field}.{str(key)[:80]}",
					_("unknown setting (known: {0})").format(", ".join(_BOUNDS)),
				)
			)
			continue
		low, high = _BOUNDS[key]
		if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
			problems.append(Problem(step_id, f"{field}.{key}", _("must be a number")))
		elif key == "max_attempts" and int(value) != value:
			problems.append(Problem(step_id, f"{field}.{key}", _("must be a whole number")))
		elif not low <= value <= high:
			problems.append(
				Problem(step_id, f"{field}.{key}", _("must be between {0} and {1}").format(low, high))
			)
	return problems


def _finite(value) -> bool:
	try:
		return math.isfinite(value)
	except OverflowError:
		return False
