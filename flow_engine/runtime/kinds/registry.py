"""The kind registry: the single source of truth for step kinds.

Each kind carries its handler and everything an editor needs to draw and edit it (label, icon,
colour, branch labels, payload field descriptors). The desk editor reads `catalog()` through an
API call, so front end and back end cannot drift apart. Other apps add kinds with `register_kind`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

FIELD_TYPES = frozenset(
	{"data", "text", "int", "float", "select", "datetime", "check", "json", "path", "jsonlogic", "table"}
)
# Field types whose values are data paths or rules, not text to render.
UNRENDERED_FIELD_TYPES = frozenset({"path", "jsonlogic"})


@dataclass(frozen=True)
class FieldSpec:
	name: str
	type: str
	label: str
	required: bool = False
	options: tuple[str, ...] = ()  # a select's choices; ("object",) for a json field that must be an object
	default: Any = None
	description: str = ""
	fields: tuple[FieldSpec, ...] = ()  # the columns of a `table` field

	def __post_init__(self):
		if self.type not in FIELD_TYPES:
			raise ValueError(f"field {self.name}: unknown field type {self.type!r}")
		if self.type == "select" and not self.options:
			raise ValueError(f"field {self.name}: a select needs options")
		if self.type == "json" and self.options not in ((), ("object",)):
			raise ValueError(f"field {self.name}: a json field's options are () or ('object',)")

	def as_dict(self) -> dict:
		data = {"name": self.name, "type": self.type, "label": self.label, "required": self.required}
		if self.options:
			data["options"] = list(self.options)
		if self.default is not None:
			data["default"] = self.default
		if self.description:
			data["description"] = self.description
		if self.fields:
			data["fields"] = [column.as_dict() for column in self.fields]
		return data


@dataclass(frozen=True)
class StepOutcome:
	"""What a handler returns: a JSON-able result (kept on the step) and, for branching kinds, a branch.

	`wait`: the step is not done yet. It waits (JSON-able data saying for what: a document event, a
	sub-flow's run) until the engine is told (`Engine.complete`) or, with `timeout_at`, until then
	(`Engine.fire`); the handler is then called again with `call.waiting` set and decides."""

	result: dict = field(default_factory=dict)
	branch: str | None = None
	wait: dict | None = None
	timeout_at: datetime | None = None


@dataclass
class StepCall:
	"""Everything a handler may use for one attempt of one step."""

	run_name: str
	step: Any  # definition.Step
	payload: dict  # rendered
	context: Mapping  # the render context (doc, customer, variables, steps, now…)
	effects: Any  # ports.Effects
	idempotency_key: str
	attempt: int
	reference: dict | None  # {"doctype", "name"} of the document the run is about
	# a step that waits (StepOutcome.wait) is called again when told: with what it waited for,
	# the data it was told (`input`) or, when its timeout passed first, `timed_out`
	waiting: dict | None = None
	input: dict | None = None
	timed_out: bool = False
	serial: int = 1  # this attempt's number over the step's whole life (a retry does not reset it)


Handler = Callable[[StepCall], StepOutcome]


@dataclass(frozen=True)
class KindSpec:
	name: str
	label: str
	icon: str
	color: str
	handler: Handler
	fields: tuple[FieldSpec, ...] = ()
	branch_labels: tuple[str, ...] = ()
	# For kinds whose branches depend on the payload (switch): payload -> labels.
	dynamic_branches: Callable[[Mapping], list[str]] | None = None
	side_effect: bool = False
	description: str = ""
	# Checks across payload fields that field descriptors cannot say (payload -> [(field, problem)]).
	check: Callable[[Mapping], list[tuple[str, str]]] | None = None

	@property
	def has_branches(self) -> bool:
		return bool(self.branch_labels) or self.dynamic_branches is not None

	def branches_for(self, payload: Mapping | None) -> list[str]:
		if self.dynamic_branches is not None:
			try:
				return list(self.dynamic_branches(payload or {}))
			except Exception:
				return []
		return list(self.branch_labels)

	def field(self, name: str) -> FieldSpec | None:
		return next((f for f in self.fields if f.name == name), None)

	def as_dict(self) -> dict:
		return {
			"name": self.name,
			"label": self.label,
			"icon": self.icon,
			"color": self.color,
			"description": self.description,
			"has_branches": self.has_branches,
			"branch_labels": list(self.branch_labels),
			"dynamic_branches": self.dynamic_branches is not None,
			"side_effect": self.side_effect,
			"fields": [f.as_dict() for f in self.fields],
		}


DEFAULT_CATALOG = "default"


@dataclass(frozen=True)
class CatalogSpec:
	"""A named set of kinds: what one kind of flow (service delivery, back office…) offers in the
	editor's palette. A definition names its catalog (`"catalog"`); the default holds every kind."""

	name: str
	label: str
	kinds: tuple[str, ...]
	description: str = ""


class KindRegistry:
	def __init__(self, kinds: Iterable[KindSpec] = (), catalogs: Iterable[CatalogSpec] = ()):
		self._kinds: dict[str, KindSpec] = {}
		self._catalogs: dict[str, CatalogSpec] = {}
		# moves on with every change, so that definitions compiled against the registry as it was
		# are compiled again (runtime.compiled.CompiledDefinitions)
		self.generation = 0
		for spec in kinds:
			self.register(spec)
		for catalog in catalogs:
			self.register_catalog(catalog)

	def register_catalog(self, spec: CatalogSpec, *, replace: bool = False) -> CatalogSpec:
		if not isinstance(spec, CatalogSpec):
			raise TypeError("register_catalog() takes a CatalogSpec")
		if not spec.name.isidentifier() or spec.name == DEFAULT_CATALOG:
			raise ValueError(
				f"catalog name {spec.name!r} must be an identifier other than {DEFAULT_CATALOG!r}"
			)
		if spec.name in self._catalogs and not replace and self._catalogs[spec.name] != spec:
			raise ValueError(f"catalog {spec.name!r} is already registered")
		self._catalogs[spec.name] = spec
		self.generation += 1
		return spec

	def catalog_kinds(self, name: str | None) -> list[str] | None:
		"""The kinds of a catalog (of those installed), or None when there is no such catalog."""
		if name in (None, "", DEFAULT_CATALOG):
			return self.names()
		spec = self._catalogs.get(name) if isinstance(name, str) else None
		return None if spec is None else [kind for kind in spec.kinds if kind in self._kinds]

	def catalogs(self) -> dict[str, dict]:
		"""Every catalog and its kinds, for the editor (the default first)."""
		listed = {DEFAULT_CATALOG: {"label": "All kinds", "description": "", "kinds": self.names()}}
		for name in sorted(self._catalogs):
			spec = self._catalogs[name]
			listed[name] = {
				"label": spec.label,
				"description": spec.description,
				"kinds": self.catalog_kinds(name),
			}
		return listed

	def register(self, spec: KindSpec, *, replace: bool = False) -> KindSpec:
		if not isinstance(spec, KindSpec):
			raise TypeError("register() takes a KindSpec")
		if not spec.name.isidentifier():
			raise ValueError(f"kind name {spec.name!r} must be an identifier")
		if spec.name in self._kinds and not replace:
			raise ValueError(f"kind {spec.name!r} is already registered")
		self._kinds[spec.name] = spec
		self.generation += 1
		return spec

	def get(self, name: str) -> KindSpec | None:
		return self._kinds.get(name) if isinstance(name, str) else None

	def __contains__(self, name) -> bool:
		return isinstance(name, str) and name in self._kinds

	def names(self) -> list[str]:
		return sorted(self._kinds)

	def catalog(self) -> dict[str, dict]:
		"""What the editor needs, as JSON-able data."""
		return {name: self._kinds[name].as_dict() for name in self.names()}

	def copy(self) -> KindRegistry:
		return KindRegistry(self._kinds.values(), self._catalogs.values())

	def wrapped(self, wrap: Callable[[KindSpec, Handler], Handler]) -> KindRegistry:
		"""A copy whose handlers are `wrap(spec, handler)`; the simulator injects failures this way."""
		from dataclasses import replace

		return KindRegistry(
			(replace(spec, handler=wrap(spec, spec.handler)) for spec in self._kinds.values()),
			self._catalogs.values(),
		)
