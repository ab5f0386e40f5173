"""Hard limits that keep a hostile or accidental definition from exhausting a worker.

They are generous for real flows (the largest seeded template has 6 steps) and small enough that
validation, rendering and condition evaluation stay bounded in time and memory.
"""

MAX_DEFINITION_BYTES = 5 * 1024 * 1024
MAX_STEPS = 10_000
MAX_STEP_ID_LENGTH = 64
MAX_LABEL_LENGTH = 240
MAX_DEPENDS_ON = 200
MAX_JSON_DEPTH = 32
MAX_TEMPLATE_LENGTH = 10_000
MAX_TEMPLATE_TOTAL = 500_000  # template text in one definition (compiling is the slow part)
MAX_RENDERED_LENGTH = 200_000
MAX_RANGE_ITEMS = 10_000
MAX_LOGIC_NODES = 2_000
MAX_LOGIC_DEPTH = 32
MAX_ATTEMPTS = 25
MAX_ERROR_LENGTH = 2_000
