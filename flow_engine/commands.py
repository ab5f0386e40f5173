"""bench commands: `bench --site SITE flow-engine seed|tick|simulate|validate`."""

from __future__ import annotations

import json
import sys

import click
from frappe.commands import get_site, pass_context


@click.group("flow-engine")
def flow_engine_group():
	"""flow_engine: seed templates, fire due steps, simulate and validate flows."""


@flow_engine_group.command("seed")
@pass_context
def seed(context):
	"""Create the six system templates that are missing (idempotent)."""
	import frappe

	from flow_engine.seeding import seed_templates

	with _site(context):
		actions = seed_templates()
		frappe.db.commit()
	for name, action in actions.items():
		click.echo(f"{name}: {action}")


@flow_engine_group.command("tick")
@click.option("--budget", type=float, default=None, help="Seconds to keep draining (default: Flow Settings)")
@pass_context
def tick(context, budget):
	"""Fire due steps and start queued runs now, as the scheduler does every minute."""
	from flow_engine.scheduler import drain

	with _site(context):
		stats = drain(budget_seconds=budget)
	click.echo(json.dumps(stats.as_dict()))


@flow_engine_group.command("simulate")
@click.argument("template")
@click.option("--doctype", help="Document type of the document to simulate against")
@click.option("--docname", help="Name of the document")
@click.option("--until", help="Stop after this long, e.g. 30d")
@click.option("--complete", multiple=True, help="Complete this waiting step when reached")
@click.option("--fail", multiple=True, help="Make every attempt of this step fail")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a timeline")
@pass_context
def simulate(context, template, doctype, docname, until, complete, fail, as_json):
	"""Simulate TEMPLATE (a Flow Template name, FT-…, or its template_name) on a document: no side effects."""
	import frappe

	from flow_engine.runs import simulate_template
	from flow_engine.runtime.simulator import format_timeline, parse_duration

	with _site(context):
		name = (
			template
			if frappe.db.exists("Flow Template", template)
			else frappe.db.get_value("Flow Template", {"template_name": template})
		)
		if not name:
			click.echo(f"no Flow Template {template!r}", err=True)
			sys.exit(2)
		result = simulate_template(
			name,
			doctype,
			docname,
			until_seconds=parse_duration(until) if until else None,
			complete=complete,
			fail=fail,
		)
	click.echo(json.dumps(result.as_json(), indent=2, default=str) if as_json else format_timeline(result))


@flow_engine_group.command("validate")
@click.argument("paths", nargs=-1, required=True)
def validate(paths):
	"""Validate flow definition files (same as the standalone `flow-engine validate`)."""
	import os

	from flow_engine.runtime.cli import main

	# bench runs commands from sites/; relative paths mean the caller's directory
	caller = os.environ.get("PWD") or os.getcwd()
	sys.exit(main(["validate", *(p if os.path.isabs(p) else os.path.join(caller, p) for p in paths)]))


class _site:
	def __init__(self, context):
		self.site = get_site(context)

	def __enter__(self):
		import frappe

		frappe.init(site=self.site)
		frappe.connect()
		return self

	def __exit__(self, *exc):
		import frappe

		frappe.destroy()


commands = [flow_engine_group]
