"""Kind catalogs that other apps declare with a hook (the runtime's registry holds them)."""

from __future__ import annotations

import frappe

from flow_engine.runtime import CatalogSpec, registry


def load_catalog_hooks() -> None:
	"""Catalogs other apps declare with the `flow_engine_kind_catalogs` hook:
	[{"name": "billing", "label": "Billing", "kinds": ["notify", "my_invoice_kind"]}]."""
	for entry in frappe.get_hooks("flow_engine_kind_catalogs") or []:
		if isinstance(entry, dict) and entry.get("name") and isinstance(entry.get("kinds"), list):
			registry.register_catalog(
				CatalogSpec(
					entry["name"],
					entry.get("label") or entry["name"],
					tuple(entry["kinds"]),
					entry.get("description") or "",
				),
				replace=True,
			)
