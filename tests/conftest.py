import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "flow_engine" / "seed_templates"
EXAMPLES = SEEDS / "examples"
SEED_NAMES = (
	"fiber_install",
	"phone_service",
	"move_service",
	"repair_service",
	"residential_onboarding",
	"quotation_follow_up",
)


@pytest.fixture
def seed():
	def load(name: str) -> dict:
		return json.loads((SEEDS / f"{name}.json").read_text())

	return load
