"""0.2: seeded templates skip messages that cannot be sent, and the quotation follow-up writes to
the customer when the quotation names no contact. Steps an operator changed are left alone."""

from flow_engine.seeding import upgrade_seeded_templates


def execute():
	upgrade_seeded_templates()
