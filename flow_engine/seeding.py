"""The six system templates shipped in seed_templates/: created when missing, never overwritten."""

from __future__ import annotations

import copy
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


def _as_shipped_in_0_1(step: dict) -> dict:
	"""A shipped step as version 0.1 shipped it (before `when_undeliverable` and the follow-up's
	fallback to the customer's email)."""
	old = copy.deepcopy(step)
	payload = old.get("payload") or {}
	payload.pop("when_undeliverable", None)
	if payload.get("to") == "{{doc.contact_email or customer.email_id}}":
		payload["to"] = "{{doc.contact_email}}"
	return old


def upgrade_seeded_templates() -> dict[str, list[str]]:
	"""Bring the system templates' steps that are still as an earlier version shipped them up to the
	shipped ones; a step someone changed is kept as it is. Returns {template_name: [step ids]}."""
	upgraded = {}
	for path in seed_files():
		record = json.loads(path.read_text())
		name = frappe.db.get_value(
			"Flow Template", {"template_name": record["template_name"], "is_system": 1}, "name"
		)
		if not name:
			continue
		doc = frappe.get_doc("Flow Template", name)
		stored = json.loads(doc.flow_definition or "{}")
		shipped = {step["id"]: step for step in record["flow_definition"]["steps"]}
		changed = []
		for index, step in enumerate(stored.get("steps") or []):
			new = shipped.get(step.get("id")) if isinstance(step, dict) else None
			if new and step != new and step == _as_shipped_in_0_1(new):
				stored["steps"][index] = new
				changed.append(step["id"])
		if changed:
			doc.flow_definition = json.dumps(stored, indent=1, ensure_ascii=False)
			doc.flags.ignore_permissions = True
			doc.save()
			upgraded[record["template_name"]] = changed
	return upgraded
