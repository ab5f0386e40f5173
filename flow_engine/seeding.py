"""The six system templates shipped in seed_templates/: created when missing, never overwritten."""

from __future__ import annotations

import json
from pathlib import Path

import frappe

SEED_DIR = Path(__file__).parent / "seed_templates"


def seed_files() -> list[Path]:
	return sorted(SEED_DIR.glob("*.json"))


def seed_templates() -> dict[str, str]:
	"""Create each system template that does not exist yet; returns {template_name: action}."""
	actions = {}
	frappe.flags.in_seed = True
	try:
		for path in seed_files():
			record = json.loads(path.read_text())
			existing = frappe.db.get_value(
				"Flow Template", {"template_name": record["template_name"], "is_system": 1}, "name"
			)
			if existing:
				actions[record["template_name"]] = f"kept {existing}"
				continue
			values = {key: value for key, value in record.items() if key != "doctype"}
			values["flow_definition"] = json.dumps(values["flow_definition"], indent=1, ensure_ascii=False)
			doc = frappe.get_doc({"doctype": "Flow Template", **values})
			doc.insert(ignore_permissions=True)
			actions[record["template_name"]] = f"created {doc.name}"
	finally:
		frappe.flags.in_seed = False
	return actions
