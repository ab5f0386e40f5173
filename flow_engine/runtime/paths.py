"""Dotted-path lookup over plain data (dicts, lists), never over Python attributes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

MISSING = object()


def resolve_path(data, path: str, default=None):
	"""`resolve_path({"doc": {"items": [{"qty": 2}]}}, "doc.items.0.qty") == 2`.

	Only mapping keys and list indexes are followed, so no path can reach an object's attributes.
	"""
	if not isinstance(path, str) or not path:
		return default
	current = data
	for part in path.split("."):
		if isinstance(current, Mapping):
			current = current.get(part, MISSING)
		elif isinstance(current, Sequence) and not isinstance(current, str | bytes):
			try:
				current = current[int(part)]
			except (ValueError, IndexError):
				return default
		else:
			return default
		if current is MISSING:
			return default
	return current
