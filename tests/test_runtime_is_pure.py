"""The runtime must never import frappe: it runs in the CLI and in CI where Frappe is absent."""

import ast
import subprocess
import sys

from conftest import ROOT

RUNTIME = ROOT / "flow_engine" / "runtime"


def test_no_module_of_the_runtime_imports_frappe():
	offenders = []
	for path in sorted(RUNTIME.rglob("*.py")):
		tree = ast.parse(path.read_text(), filename=str(path))
		for node in ast.walk(tree):
			names = []
			if isinstance(node, ast.Import):
				names = [alias.name for alias in node.names]
			elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
				names = [node.module]
			offenders += [
				f"{path.name}: {name}" for name in names if name.split(".")[0] in ("frappe", "erpnext")
			]
	assert offenders == []


def test_importing_every_runtime_module_loads_no_frappe():
	modules = sorted(
		"flow_engine." + ".".join(path.relative_to(ROOT / "flow_engine").with_suffix("").parts)
		for path in RUNTIME.rglob("*.py")
	)
	code = (
		"import importlib, sys\n"
		"class Block:\n"
		"    def find_spec(self, name, path=None, target=None):\n"
		"        if name.split('.')[0] in ('frappe', 'erpnext'):\n"
		"            raise ImportError('blocked: ' + name)\n"
		"sys.meta_path.insert(0, Block())\n"
		f"for name in {modules!r}:\n"
		"    importlib.import_module(name.replace('.__init__', ''))\n"
		"print(sorted(m for m in sys.modules if m.split('.')[0] in ('frappe', 'erpnext')))\n"
	)
	out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
	assert out.stdout.strip() == "[]"
	assert len(modules) >= 15
