"""`flow-engine`: validate and simulate flow definitions without Frappe.

    flow-engine validate PATH...
    flow-engine simulate PATH [--doc DOC.json] [--customer C.json] [--variables V.json]
                              [--until DURATION] [--complete STEP]... [--fail STEP]...
                              [--templates DIR]... [--json]
    flow-engine kinds | schema

Exit codes: 0 fine, 2 invalid input (every problem is printed, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .definition import check_definition, read_source
from .limits import MAX_DEFINITION_BYTES

EXIT_OK, EXIT_INVALID = 0, 2


class _Parser(argparse.ArgumentParser):
	def error(self, message):  # argparse exits 2 with usage on bad arguments, as we want
		self.print_usage(sys.stderr)
		self.exit(EXIT_INVALID, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
	parser = _build_parser()
	args = parser.parse_args(argv)
	try:
		return args.handler(args)
	except KeyboardInterrupt:
		return 130
	except BrokenPipeError:
		return EXIT_OK
	except Exception as exc:  # the promise is "never a traceback"
		print(f"flow-engine: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
		return EXIT_INVALID


def _build_parser() -> argparse.ArgumentParser:
	parser = _Parser(prog="flow-engine", description="Validate and simulate flow_engine flow definitions.")
	commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

	validate = commands.add_parser("validate", help="check definitions; one line per problem")
	validate.add_argument("paths", nargs="+", metavar="PATH")
	validate.set_defaults(handler=_validate)

	simulate = commands.add_parser("simulate", help="run a flow on a virtual clock, with no side effects")
	simulate.add_argument("path", metavar="PATH")
	simulate.add_argument("--doc", help="JSON file: the document that starts the flow")
	simulate.add_argument("--customer", help="JSON file: the customer")
	simulate.add_argument("--variables", help="JSON file: run variables")
	simulate.add_argument(
		"--until", help="stop after this long, e.g. 30d, 12h (default: until nothing can progress)"
	)
	simulate.add_argument(
		"--complete",
		action="append",
		default=[],
		metavar="STEP_ID",
		help="complete this waiting step when reached",
	)
	simulate.add_argument(
		"--fail", action="append", default=[], metavar="STEP_ID", help="make every attempt of this step fail"
	)
	simulate.add_argument(
		"--templates",
		action="append",
		default=[],
		metavar="DIR",
		help="where sub-flows' templates are found, by file name, name or template_name "
		"(default: PATH's folder)",
	)
	simulate.add_argument("--start", help="virtual start time, ISO 8601 (default 2026-01-05T09:00:00)")
	simulate.add_argument("--json", action="store_true", help="print one JSON object instead of a timeline")
	simulate.set_defaults(handler=_simulate)

	kinds = commands.add_parser("kinds", help="print the kind catalog as JSON")
	kinds.set_defaults(handler=lambda _args: _print_json(_catalog()))

	schema = commands.add_parser("schema", help="print the JSON Schema of the flow language")
	schema.set_defaults(handler=lambda _args: _print_json(_schema()))
	return parser


def _read(path: str) -> tuple[bytes | None, str | None]:
	try:
		file = Path(path)
		if file.is_dir():
			return None, "is a directory"
		size = file.stat().st_size
		if size > MAX_DEFINITION_BYTES:
			return None, f"file larger than {MAX_DEFINITION_BYTES // (1024 * 1024)} MiB"
		return file.read_bytes(), None
	except OSError as exc:
		return None, f"cannot read: {exc.strerror or exc}"


def _validate(args) -> int:
	failed = False
	for path in args.paths:
		data, error = _read(path)
		if error:
			print(f"{path}: file: {error}")
			failed = True
			continue
		_definition, problems = check_definition(data)
		for problem in problems:
			print(f"{path}: {problem}")
		failed = failed or bool(problems)
	return EXIT_INVALID if failed else EXIT_OK


def _load_json_file(path: str | None, what: str):
	if path is None:
		return None, None
	data, error = _read(path)
	if error:
		return None, f"{path}: {what}: {error}"
	try:
		value = json.loads(data)
	except (ValueError, RecursionError) as exc:
		return None, f"{path}: {what}: invalid JSON: {getattr(exc, 'msg', exc)}"
	if not isinstance(value, dict):
		return None, f"{path}: {what}: must be a JSON object"
	return value, None


def _simulate(args) -> int:
	from datetime import datetime

	from .simulator import DEFAULT_START, format_timeline, parse_duration, simulate

	data, error = _read(args.path)
	if error:
		print(f"{args.path}: file: {error}")
		return EXIT_INVALID
	definition, problems = check_definition(data)
	if problems:
		for problem in problems:
			print(f"{args.path}: {problem}")
		return EXIT_INVALID
	_raw, record, _ = read_source(data)
	inputs = {}
	for name in ("doc", "customer", "variables"):
		value, error = _load_json_file(getattr(args, name), f"--{name}")
		if error:
			print(error)
			return EXIT_INVALID
		inputs[name] = value
	try:
		until = parse_duration(args.until) if args.until else None
		start = datetime.fromisoformat(args.start).replace(tzinfo=None) if args.start else DEFAULT_START
	except ValueError as exc:
		print(f"flow-engine simulate: {exc}")
		return EXIT_INVALID
	templates = TemplateFolder(args.templates or [str(Path(args.path).parent)])
	unknown = [
		sid
		for sid in (*args.complete, *args.fail)
		if sid not in definition.by_id and not templates.has_step(sid)
	]
	if unknown:
		print(f"{args.path}: no step with id {', '.join(map(repr, unknown))}")
		return EXIT_INVALID
	template = (
		{"name": record.name, "template_name": record.template_name, "version": record.version}
		if record
		else {}
	)
	result = simulate(
		definition,
		doc=inputs["doc"],
		customer=inputs["customer"],
		variables=inputs["variables"],
		until_seconds=until,
		complete=args.complete,
		fail=args.fail,
		start=start,
		template=template,
		templates=templates,
	)
	if args.json:
		_print_json(result.as_json())
	else:
		title = (record.template_name if record else None) or Path(args.path).stem
		print(
			f"{title}: simulated from {start.isoformat(sep=' ')}"
			+ (f" for {args.until}" if args.until else "")
		)
		print(format_timeline(result))
	return EXIT_OK


class TemplateFolder:
	"""Sub-flows' templates for `simulate`: the valid definitions in some folders, found by file
	name, `name` or `template_name` (a Flow Template exported from the desk has the last two)."""

	def __init__(self, folders: list[str]):
		self.folders = folders
		self._found: dict | None = None

	def _index(self) -> dict:
		if self._found is None:
			self._found = {}
			for folder in self.folders:
				for file in sorted(Path(folder).glob("*.json")) if Path(folder).is_dir() else []:
					data, error = _read(str(file))
					definition, problems = check_definition(data) if not error else (None, [error])
					if definition is None or problems:
						continue
					_raw, record, _ = read_source(data)
					names = [file.stem, definition.raw.get("name")]
					if record:
						names += [record.name, record.template_name]
					for name in names:
						if isinstance(name, str) and name:
							self._found.setdefault(name, definition)
		return self._found

	def __call__(self, name: str):
		return self._index().get(name)

	def has_step(self, step_id: str) -> bool:
		return any(step_id in definition.by_id for definition in self._index().values())


def _catalog() -> dict:
	from . import registry
	from .events import events_catalog

	return {"kinds": registry.catalog(), "events": events_catalog()}


def _schema() -> dict:
	from .schema import build_schema

	return build_schema()


def _print_json(value) -> int:
	print(json.dumps(value, indent=2, ensure_ascii=False, default=str))
	return EXIT_OK


if __name__ == "__main__":
	sys.exit(main())
