# Copyright (c) 2026, flow_engine developers
# License: MIT

import json

import frappe
from frappe import _
from frappe.model.document import Document

from flow_engine.dispatch import format_watched
from flow_engine.doctype_errors import FlowTemplateError
from flow_engine.runtime import DefinitionError, load_definition, registry
from flow_engine.runtime.definition import strict_json_loads
from flow_engine.runtime.trigger_fields import sync_trigger


class FlowTemplate(Document):
	def validate(self):
		self.validate_run_as()
		self.validate_definition()
		self.validate_unique_name()
		self.protect_system_name()
		self.version = (self.version or 0) + 1

	def validate_definition(self):
		from flow_engine.events_map import event_map
		from flow_engine.kind_catalogs import load_catalog_hooks
		from flow_engine.runs import problems_message, template_definition

		event_map()  # events and catalogs added by other apps are known to the validator
		load_catalog_hooks()
		if not self.flow_definition or not self.flow_definition.strip():
			self.flow_definition = json.dumps({"version": 1, "steps": []})
		self.sync_trigger()
		try:
			definition = load_definition(template_definition(self), registry)
		except DefinitionError as exc:
			frappe.throw(problems_message(exc), FlowTemplateError, title=_("Invalid flow"))
		self.step_count = len(definition.steps)
		self.validate_site_references(definition)
		self.watched_doctypes = format_watched(
			(step.payload["doctype"], step.payload.get("event") or "update")
			for step in definition.steps
			if step.kind == "wait_for_event"
		)
		if self.is_active and self.has_value_changed("is_active"):
			self.disabled_reason = None

	def sync_trigger(self):
		"""The trigger fields and the definition's `trigger` are one source of truth: what is given
		in one place fills the other, a disagreement is refused (runtime/trigger_fields.py)."""
		from flow_engine.runs import problems_message

		try:
			raw = strict_json_loads(self.flow_definition)
		except ValueError:
			return  # load_definition reports it, with the line and column
		if not isinstance(raw, dict):
			return
		before = self.get_doc_before_save()
		before_trigger = None
		if before:
			try:
				before_trigger = (strict_json_loads(before.flow_definition or "{}") or {}).get("trigger")
			except (ValueError, AttributeError):
				before_trigger = None
		synced = sync_trigger(
			self.as_dict(), raw.get("trigger"), before.as_dict() if before else None, before_trigger
		)
		if synced.problems:
			frappe.throw(
				problems_message(DefinitionError(synced.problems)), FlowTemplateError, title=_("Invalid flow")
			)
		self.update(synced.fields)
		raw["trigger"] = synced.trigger
		self.flow_definition = json.dumps(raw, indent=1, ensure_ascii=False)

	def validate_site_references(self, definition):
		"""What only the site can check: the DocTypes and templates the flow names exist, and a
		date-based trigger's field is a date. Each problem names its step (or the trigger) and field."""
		from flow_engine.runs import problems_message
		from flow_engine.runtime import Problem
		from flow_engine.runtime.rendering import is_template
		from flow_engine.time_starts import date_field_problem

		problems = []
		trigger = definition.trigger
		if trigger.event == "on_date_field":
			problem = date_field_problem(trigger.doctype or self.applies_to, trigger.field)
			if problem:
				problems.append(Problem(None, "trigger.field", problem))
		if (
			trigger.event == "on_schedule"
			and trigger.doctype
			and not frappe.db.exists("DocType", trigger.doctype)
		):
			problems.append(
				Problem(None, "trigger.doctype", _("no DocType {0}").format(repr(trigger.doctype)))
			)
		for step in definition.steps:
			if step.kind == "wait_for_event" and not frappe.db.exists("DocType", step.payload.get("doctype")):
				problems.append(
					Problem(
						step.id,
						"payload.doctype",
						_("no DocType {0}").format(repr(step.payload.get("doctype"))),
					)
				)
			if step.kind == "sub_flow":
				name = str(step.payload.get("template") or "")
				if name and not is_template(name) and not frappe.db.exists("Flow Template", name):
					problems.append(
						Problem(step.id, "payload.template", _("no Flow Template {0}").format(repr(name)))
					)
		if problems:
			frappe.throw(
				problems_message(DefinitionError(problems)), FlowTemplateError, title=_("Invalid flow")
			)

	def validate_run_as(self):
		"""Acting as a named user is impersonation: only a System Manager may name someone else."""
		if self.run_as != "User":
			self.run_as_user = None
			return
		if not self.run_as_user:
			frappe.throw(_("Run As User: required when Run As is User"), FlowTemplateError)
		changed = self.is_new() or self.has_value_changed("run_as") or self.has_value_changed("run_as_user")
		if changed and self.run_as_user != frappe.session.user and "System Manager" not in frappe.get_roles():
			frappe.throw(
				_("Run As User: only a System Manager can make a flow act as another user ({0})").format(
					self.run_as_user
				),
				frappe.PermissionError,
			)

	def validate_unique_name(self):
		duplicate = frappe.db.get_value(
			"Flow Template",
			{"template_name": self.template_name, "category": self.category, "name": ("!=", self.name)},
		)
		if duplicate:
			frappe.throw(
				_("A template named {0} already exists in category {1} ({2})").format(
					frappe.bold(self.template_name), self.category, duplicate
				)
			)

	def protect_system_name(self):
		if (
			self.is_system
			and not self.is_new()
			and self.has_value_changed("template_name")
			and not frappe.flags.in_seed
		):
			frappe.throw(_("System templates cannot be renamed; duplicate it instead"), FlowTemplateError)

	def on_update(self):
		from flow_engine.dispatch import clear_dispatch_cache
		from flow_engine.time_starts import begin_state, forget_state

		clear_dispatch_cache()
		if self.has_value_changed("is_active") or self.has_value_changed("trigger_event"):
			forget_state(self.name)  # turned on again: what it missed while off does not start
		if self.is_active and self.trigger_event in ("on_date_field", "on_schedule"):
			begin_state(self.name)  # counts from now (kept if it was counting already)

	def on_trash(self):
		if self.is_system and not (frappe.flags.in_seed or frappe.flags.in_uninstall):
			frappe.throw(
				_("System templates cannot be deleted; deactivate or duplicate it instead"), FlowTemplateError
			)
		from flow_engine.dispatch import clear_dispatch_cache

		clear_dispatch_cache(leaving=self.name)

	def before_rename(self, old, new, merge=False):
		if self.is_system:
			frappe.throw(_("System templates cannot be renamed; duplicate it instead"), FlowTemplateError)

	def after_rename(self, old, new, merge=False):
		from flow_engine.dispatch import clear_dispatch_cache

		clear_dispatch_cache()

	@frappe.whitelist()
	def duplicate(self, new_name: str | None = None) -> "FlowTemplate":
		frappe.has_permission("Flow Template", "create", throw=True)
		copy = frappe.copy_doc(self)
		copy.template_name = new_name or _("{0} (copy)").format(self.template_name)
		copy.is_system = 0
		copy.is_active = 0  # a copy dispatches only once someone turns it on
		copy.version = 0
		copy.disabled_reason = None
		copy.insert()
		return copy
