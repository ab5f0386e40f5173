"""The standalone CLI on the six seeded templates, and the published JSON Schema."""

import json

import jsonschema
import pytest
from conftest import EXAMPLES, ROOT, SEED_NAMES, SEEDS

from flow_engine.runtime import load_definition
from flow_engine.runtime.cli import main
from flow_engine.runtime.schema import SCHEMA_FILE, build_schema

CUSTOMER = str(EXAMPLES / "customer.json")


def simulate_json(capsys, name, *extra):
	args = [
		"simulate",
		str(SEEDS / f"{name}.json"),
		"--doc",
		str(EXAMPLES / f"{name}.doc.json"),
		"--customer",
		CUSTOMER,
	]
	variables = EXAMPLES / f"{name}.variables.json"
	if variables.exists():
		args += ["--variables", str(variables)]
	assert main([*args, *extra, "--json"]) == 0
	return json.loads(capsys.readouterr().out)


def test_all_six_seeded_templates_validate(capsys):
	assert main(["validate", *(str(SEEDS / f"{name}.json") for name in SEED_NAMES)]) == 0
	assert capsys.readouterr().out == ""


@pytest.mark.parametrize("name", SEED_NAMES)
def test_seeded_templates_are_system_records_with_their_name(seed, name):
	record = seed(name)
	assert record["template_name"] == name
	assert record["is_system"] == 1
	assert record["flow_definition"]["trigger"]["event"] == record["trigger_event"]
	load_definition(record)


def test_residential_onboarding_timeline(capsys):
	out = simulate_json(capsys, "residential_onboarding")
	assert out["status"] == "completed"
	assert {sid: (s["status"], s["at"], s["attempts"]) for sid, s in out["steps"].items()} == {
		"install_job": ("done", 0.0, 1),
		"welcome_sms": ("done", 0.0, 1),
		"activate_subscription": ("done", 0.0, 1),
		"satisfaction_survey": ("done", 86400.0, 1),
		"renewal_reminder": ("done", 335 * 86400.0, 1),
	}
	effects = [(e["at"], e["step"], e["kind"]) for e in out["effects"]]
	assert effects == [
		(0.0, "install_job", "dispatch_job"),
		(0.0, "welcome_sms", "notify"),
		(0.0, "activate_subscription", "subscription_activate"),
		(86400.0, "satisfaction_survey", "notify"),
		(335 * 86400.0, "renewal_reminder", "notify"),
	]
	sms = out["effects"][1]["payload"]
	assert sms["to"] == "+15145550142"
	assert sms["body"].startswith("Welcome Ann Tremblay! Your contract CONTR-2026-0007 is signed")
	assert out["effects"][2]["payload"] == {"subscription_ref": "ACC-SUB-2026-00012"}


def test_until_stops_the_clock(capsys):
	out = simulate_json(capsys, "residential_onboarding", "--until", "30d")
	assert out["status"] == "running"
	assert out["steps"]["satisfaction_survey"]["status"] == "done"
	assert out["steps"]["renewal_reminder"] == {
		"status": "scheduled",
		"at": 335 * 86400.0,
		"attempts": 0,
		"branch": None,
	}


def test_quotation_follow_up_sends_at_d3_d7_d14(capsys):
	out = simulate_json(capsys, "quotation_follow_up")
	assert [(e["at"] / 86400, e["step"]) for e in out["effects"]] == [
		(3, "touch_d3"),
		(7, "touch_d7"),
		(14, "touch_d14"),
	]
	assert out["effects"][0]["payload"]["subject"] == "Next steps for quotation SAL-QTN-2026-00005"
	assert out["status"] == "completed"


def test_waiting_step_blocks_until_completed(capsys):
	out = simulate_json(capsys, "fiber_install")
	assert out["status"] == "running"
	assert out["steps"]["install_done"]["status"] == "waiting"
	assert out["steps"]["activate"]["status"] == "pending"
	out = simulate_json(capsys, "fiber_install", "--complete", "install_done")
	assert out["status"] == "completed"
	assert out["steps"]["survey"]["at"] == 86400.0


def test_branches_and_skips(capsys):
	out = simulate_json(capsys, "repair_service")
	assert {sid: (s["status"], s["branch"]) for sid, s in out["steps"].items()} == {
		"triage": ("done", "urgent"),
		"urgent_repair": ("done", None),
		"normal_repair": ("skipped", None),
		"remote_check": ("skipped", None),
		"acknowledge": ("done", None),
		"sla_check": ("done", "yes"),
		"escalate": ("done", None),
	}
	out = simulate_json(capsys, "phone_service")
	assert out["steps"]["new_number"]["status"] == "skipped"
	assert out["steps"]["activate"]["status"] == "done"


def test_fail_injection_retries_then_fails(capsys):
	out = simulate_json(capsys, "repair_service", "--fail", "urgent_repair")
	assert out["status"] == "failed"
	assert out["steps"]["urgent_repair"]["status"] == "failed"
	assert out["steps"]["urgent_repair"]["attempts"] == 3
	assert out["steps"]["acknowledge"]["status"] == "pending"
	assert [e["step"] for e in out["effects"]] == []


def test_on_date_uses_the_rendered_variable(capsys):
	out = simulate_json(capsys, "move_service")
	assert out["steps"]["move_day"]["at"] == (27 * 86400.0 - 3600)  # 2026-02-01 08:00 from 2026-01-05 09:00
	assert out["effects"][-2]["payload"]["fields_json"] == {
		"customer_details": "Moved to 88 Avenue du Parc, Montréal on 2026-02-01T08:00:00"
	}


def test_readable_timeline(capsys):
	path = str(SEEDS / "quotation_follow_up.json")
	assert main(["simulate", path, "--doc", str(EXAMPLES / "quotation_follow_up.doc.json")]) == 0
	lines = capsys.readouterr().out.splitlines()
	assert lines[0] == "quotation_follow_up: simulated from 2026-01-05 09:00:00"
	assert lines[1].split() == ["offset", "step", "kind", "status", "branch", "details"]
	assert lines[2].split()[:5] == ["+00:00:00", "Follow-up", "D+3", "notify", "scheduled"]
	assert lines[2].endswith("fires at +3d 00:00:00")
	assert lines[3].startswith("+3d 00:00:00    Follow-up D+3")
	assert "subject=Next steps for quotation SAL-QTN-2026-00…" in lines[3]
	assert lines[-1] == "run completed: 3 steps (3 done); 3 effects"


@pytest.mark.parametrize(
	"args, expected",
	[
		(
			["--until", "soon"],
			"flow-engine simulate: 'soon' is not a duration (examples: 30d, 12h, 1d12h, 90m)",
		),
		(["--complete", "nope"], "{path}: no step with id 'nope'"),
		(["--doc", "/nonexistent.json"], "/nonexistent.json: --doc: cannot read: No such file or directory"),
		(["--start", "yesterday"], "flow-engine simulate: Invalid isoformat string: 'yesterday'"),
	],
)
def test_simulate_reports_bad_arguments(capsys, args, expected):
	path = str(SEEDS / "quotation_follow_up.json")
	assert main(["simulate", path, *args]) == 2
	assert capsys.readouterr().out.strip() == expected.format(path=path)


def test_simulate_refuses_an_invalid_flow(capsys, tmp_path):
	bad = tmp_path / "bad.json"
	bad.write_text('{"steps": [{"id": "a", "kind": "nope"}]}')
	assert main(["simulate", str(bad)]) == 2
	assert capsys.readouterr().out.startswith(f"{bad}: step a: kind: unknown kind 'nope'")


def test_kinds_command_prints_the_catalog(capsys):
	assert main(["kinds"]) == 0
	catalog = json.loads(capsys.readouterr().out)
	assert sorted(catalog["kinds"]) == [
		"assign",
		"comment",
		"condition",
		"create_document",
		"dispatch_job",
		"erp_update",
		"issue",
		"notify",
		"set_value",
		"sub_flow",
		"subscription_activate",
		"switch",
		"wait",
		"wait_for_event",
		"webhook",
	]
	assert catalog["kinds"]["condition"]["branch_labels"] == ["yes", "no"]
	assert catalog["kinds"]["switch"]["dynamic_branches"] is True
	assert [e["name"] for e in catalog["events"]][:9] == [
		"on_contract_signed",
		"on_payment_received",
		"on_subscription_active",
		"on_quotation_created",
		"on_quotation_accepted",
		"on_issue_opened",
		"on_customer_created",
		"on_dispatch_completed",
		"manual",
	]


def test_published_schema_matches_the_registry():
	published = json.loads((ROOT / "flow_engine" / "runtime" / SCHEMA_FILE).read_text())
	assert published == build_schema()
	assert published["x-schema-version"] == 1


@pytest.mark.parametrize("name", SEED_NAMES)
def test_seeded_definitions_conform_to_the_schema(seed, name):
	schema = build_schema()
	jsonschema.Draft202012Validator.check_schema(schema)
	jsonschema.validate(seed(name)["flow_definition"], schema)


def test_schema_rejects_what_the_validator_rejects_structurally():
	schema = build_schema()
	validator = jsonschema.Draft202012Validator(schema)
	assert not validator.is_valid({"steps": [{"id": "a", "kind": "nope"}]})
	assert not validator.is_valid(
		{"steps": [{"id": "a", "kind": "notify", "payload": {"channel": "fax", "to": "x"}}]}
	)
	assert not validator.is_valid({"steps": [], "extra": 1})
	assert validator.is_valid({"steps": [{"id": "a", "kind": "wait", "_editor": {"x": 1}}]})


def test_desk_fixture_of_the_kind_catalog_matches_the_registry():
	from flow_engine.runtime import registry

	fixture = json.loads((ROOT / "tests_js" / "fixtures" / "kinds_catalog.json").read_text())
	assert fixture["kinds"] == registry.catalog()
