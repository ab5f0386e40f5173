"""Definitions compiled once and reused by every run that holds the same snapshot.

A run keeps the definition it started with as JSON text. Parsing and checking that text costs
more than most steps (a 2-step flow: about 0.3 ms), and every run of a template version holds the
same text, so a store keeps one `CompiledDefinitions` per process and asks it for each run it
loads. The key is the text itself (with the registry's generation: a kind registered later makes
definitions compile again), so a run whose snapshot differs by one character gets its own entry
and an edited template can never be served an older compilation.

The parsed definition and its compilation are shared between runs: the engine only reads them.
"""

from __future__ import annotations

import json
from collections import OrderedDict

from .definition import FlowDefinition, load_definition
from .errors import DefinitionError
from .kinds.registry import KindRegistry


class CompiledDefinitions:
	"""The last `size` definitions compiled, by their JSON text (least recently used out first)."""

	def __init__(self, registry: KindRegistry, size: int = 256):
		self.registry = registry
		self.size = size
		self._entries: OrderedDict[tuple[str, int], tuple[dict, FlowDefinition]] = OrderedDict()
		self.hits = 0
		self.misses = 0

	def get(self, text: str) -> tuple[dict, FlowDefinition | None]:
		"""(the definition as data, its compilation). A definition that does not compile is
		returned with None and not kept: the engine then fails its run with the problems found."""
		key = (text, self.registry.generation)
		entry = self._entries.get(key)
		if entry is not None:
			self._entries.move_to_end(key)
			self.hits += 1
			return entry
		self.misses += 1
		definition = json.loads(text or "{}")
		try:
			compiled = load_definition(definition, self.registry)
		except DefinitionError:
			return definition, None
		self._entries[key] = (definition, compiled)
		if len(self._entries) > self.size:
			self._entries.popitem(last=False)
		return definition, compiled

	def __len__(self) -> int:
		return len(self._entries)
