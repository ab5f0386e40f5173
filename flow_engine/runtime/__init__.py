"""flow_engine's pure runtime: the flow language, the engine, the kinds and the simulator.

Nothing here imports frappe; the Frappe layer adapts these ports to doctypes and ERPNext.
"""

from .definition import SCHEMA_VERSION, FlowDefinition, Step, load_definition, validate_definition
from .engine import Engine, idempotency_key
from .errors import DefinitionError, FlowStateError, Problem, StepError, StoreConflict
from .events import event_names, events_catalog, register_event
from .kinds.builtin import builtin_registry
from .kinds.registry import CatalogSpec, FieldSpec, KindRegistry, KindSpec, StepCall, StepOutcome
from .retry import RetryPolicy
from .state import AdvanceReport, Run

registry: KindRegistry = builtin_registry()


def register_kind(spec: KindSpec, *, replace: bool = False) -> KindSpec:
	"""Add a step kind (from another app); it appears in validation, the engine and the editor."""
	return registry.register(spec, replace=replace)


def register_catalog(spec: CatalogSpec, *, replace: bool = False) -> CatalogSpec:
	"""Add a catalog of kinds (from another app): a template that names it offers those kinds."""
	return registry.register_catalog(spec, replace=replace)


__all__ = [
	"SCHEMA_VERSION",
	"AdvanceReport",
	"CatalogSpec",
	"DefinitionError",
	"Engine",
	"FieldSpec",
	"FlowDefinition",
	"FlowStateError",
	"KindRegistry",
	"KindSpec",
	"Problem",
	"RetryPolicy",
	"Run",
	"Step",
	"StepCall",
	"StepError",
	"StepOutcome",
	"StoreConflict",
	"event_names",
	"events_catalog",
	"idempotency_key",
	"load_definition",
	"register_catalog",
	"register_event",
	"register_kind",
	"registry",
	"validate_definition",
]
