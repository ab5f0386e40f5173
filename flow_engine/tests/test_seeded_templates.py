"""The six seeded templates on a plain ERPNext site, fired from documents made as an operator makes
them, with nothing but ERPNext's own data; delayed steps fired by the scheduler's drain.

A plain site has no SMS gateway: SMS steps complete saying so. Emails are queued when the site has
an outgoing Email Account (the class adds one of its own only when the site has none)."""

import json
from datetime import timedelta

import frappe
from frappe.utils import add_days, get_datetime, getdate, nowdate
from frappe.utils.nestedset import get_root_of

from flow_engine import api
from flow_engine.scheduler import drain
from flow_engine.tests.utils import MARK, FlowTestCase, run_steps, wipe_runs

NO_GATEWAY = "SMS Settings has no gateway URL"


def seeded(template_name: str) -> str:
	return frappe.db.get_value("Flow Template", {"template_name": template_name, "is_system": 1})


def outcome(run_name: str) -> dict:
	"""Each step's status, with what a person reads first when it did not simply happen."""
	shown = {}
	for step_id, state in run_steps(run_name).items():
		result = state.get("result") or {}
		shown[step_id] = (state["status"], result.get("skipped") or state.get("error"))
	return shown


class TestSeededTemplates(FlowTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.company = (
			frappe.defaults.get_global_default("company")
			or frappe.get_all("Company", pluck="name", limit=1)[0]
		)
		cls.currency = frappe.get_cached_value("Company", cls.company, "default_currency")
		# a plain site: no SMS gateway (the class puts the site's own settings back at its end)
		frappe.db.set_single_value("SMS Settings", "sms_gateway_url", "")
		if not frappe.db.exists("Email Account", {"enable_outgoing": 1, "default_outgoing": 1}):
			frappe.get_doc(
				{
					"doctype": "Email Account",
					"email_account_name": f"_Test Flow Outgoing {MARK}",
					"email_id": f"flows-{MARK}@example.com",
					"enable_outgoing": 1,
					"default_outgoing": 1,
					"smtp_server": "127.0.0.1",
					"no_smtp_authentication": 1,
				}
			).insert(ignore_permissions=True)
		cls.made = 0
		cls.item = frappe.get_doc(
			{
				"doctype": "Item",
				"item_code": f"_Test Flow Fibre {MARK}",
				"item_group": get_root_of("Item Group"),
				"stock_uom": "Nos",
				"is_stock_item": 0,
			}
		).insert(ignore_permissions=True)
		cls.plan = frappe.get_doc(
			{
				"doctype": "Subscription Plan",
				"plan_name": f"_Test Flow Fibre {MARK}",
				"item": cls.item.name,
				"price_determination": "Fixed Rate",
				"cost": 50,
				"currency": cls.currency,
				"billing_interval": "Month",
				"billing_interval_count": 1,
			}
		).insert(ignore_permissions=True)
		frappe.db.commit()

	@classmethod
	def make_customer(cls, first_name: str, email: str | None = None, mobile: str | None = None) -> str:
		"""A Customer with its primary Contact, as the desk's quick entry makes them."""
		customer = frappe.get_doc(
			{
				"doctype": "Customer",
				"customer_name": f"_Test Flow {first_name} {MARK}",
				"customer_type": "Individual",
				"customer_group": get_root_of("Customer Group"),
				"territory": get_root_of("Territory"),
			}
		).insert(ignore_permissions=True)
		if email or mobile:
			contact = frappe.get_doc(
				{
					"doctype": "Contact",
					"first_name": first_name,
					"email_ids": [{"email_id": email, "is_primary": 1}] if email else [],
					"phone_nos": [{"phone": mobile, "is_primary_mobile_no": 1}] if mobile else [],
					"links": [{"link_doctype": "Customer", "link_name": customer.name}],
				}
			).insert(ignore_permissions=True)
			customer.reload()
			customer.customer_primary_contact = contact.name
			customer.save(ignore_permissions=True)
		return customer.name

	def setUp(self):
		wipe_runs()
		self.start = get_datetime(f"{add_days(nowdate(), 1)} 09:00:00")
		# each test its own customer, with a primary contact (email and mobile)
		type(self).made += 1
		self.ann = f"Ann{self.made}"
		self.email = f"ann{self.made}-{MARK}@example.com"
		self.customer = self.make_customer(self.ann, self.email, "+15145550142")
		frappe.db.commit()

	def tearDown(self):
		frappe.set_user("Administrator")
		frappe.db.rollback()
		wipe_runs()

	def cancelled_subscription(self, customer: str) -> str:
		"""A subscription prepared for the customer and not active: the flow activates it."""
		subscription = frappe.get_doc(
			{
				"doctype": "Subscription",
				"party_type": "Customer",
				"party": customer,
				"company": self.company,
				"start_date": nowdate(),
				"generate_invoice_at": "End of the current subscription period",
				"plans": [{"plan": self.plan.name, "qty": 1}],
			}
		).insert(ignore_permissions=True)
		subscription.cancel_subscription()
		self.assertEqual(frappe.db.get_value("Subscription", subscription.name, "status"), "Cancelled")
		return subscription.name

	def trialling_subscription(self, customer: str) -> str:
		"""A subscription in its trial: ERPNext makes it active when the trial ends."""
		subscription = frappe.get_doc(
			{
				"doctype": "Subscription",
				"party_type": "Customer",
				"party": customer,
				"company": self.company,
				"start_date": nowdate(),
				"trial_period_start": nowdate(),
				"trial_period_end": add_days(nowdate(), 30),
				"plans": [{"plan": self.plan.name, "qty": 1}],
			}
		).insert(ignore_permissions=True)
		self.assertNotIn(subscription.status, ("Active", "Cancelled"))
		return subscription.name

	def contract(self, customer: str, **values) -> frappe._dict:
		return frappe.get_doc(
			{
				"doctype": "Contract",
				"party_type": "Customer",
				"party_name": customer,
				"contract_terms": "Fibre 1G",
				"start_date": nowdate(),
				**values,
			}
		).insert(ignore_permissions=True)

	def runs_of(self, doctype: str, name: str) -> list[str]:
		return frappe.get_all(
			"Flow Run",
			filters={"context_doctype": doctype, "context_docname": name},
			pluck="name",
			order_by="creation",
		)

	def drain_at(self, moment) -> int:
		with self.freeze_time(moment):
			return drain(budget_seconds=20).completed

	def mails_to(self, address: str) -> list[str]:
		queue = frappe.qb.DocType("Email Queue")
		recipient = frappe.qb.DocType("Email Queue Recipient")
		return (
			frappe.qb.from_(queue)
			.join(recipient)
			.on(recipient.parent == queue.name)
			.select(queue.message)
			.where(recipient.recipient == address)
			.orderby(queue.creation)
		).run(pluck=True)

	# --- the templates ------------------------------------------------------------------------

	def test_residential_onboarding_from_a_signed_contract(self):
		subscription = self.cancelled_subscription(self.customer)
		frappe.db.commit()
		with self.freeze_time(self.start):
			contract = self.contract(self.customer)
			frappe.db.commit()
			self.assertEqual(self.runs_of("Contract", contract.name), [])  # not signed yet
			contract = frappe.get_doc("Contract", contract.name)  # as the form opens it again
			contract.is_signed = 1
			contract.signee = "Ann"
			contract.save(ignore_permissions=True)
			frappe.db.commit()
		(run,) = self.runs_of("Contract", contract.name)
		self.assertEqual(
			frappe.db.get_value("Flow Run", run, "title"), f"residential_onboarding: Contract {contract.name}"
		)
		self.assertEqual(
			outcome(run),
			{
				"install_job": ("done", None),
				"welcome_sms": ("done", NO_GATEWAY),
				"activate_subscription": ("done", None),
				"satisfaction_survey": ("scheduled", None),
				"renewal_reminder": ("scheduled", None),
			},
		)
		self.assertEqual(frappe.db.get_value("Subscription", subscription, "status"), "Active")
		self.assertEqual(
			frappe.get_all(
				"Dispatch Job",
				filters={"flow_run": run},
				fields=["subject", "job_type", "reference_name", "merge_key"],
			),
			[
				{
					"subject": f"Installation _Test Flow {self.ann} {MARK}",
					"job_type": "Installation",
					"reference_name": contract.name,
					"merge_key": f"install-{contract.name}",
				}
			],
		)
		self.assertEqual(self.drain_at(self.start + timedelta(hours=23, minutes=59)), 0)
		self.assertEqual(self.drain_at(self.start + timedelta(hours=24, minutes=1)), 1)
		self.assertEqual(self.drain_at(self.start + timedelta(days=335, minutes=1)), 1)
		self.assertEqual(frappe.db.get_value("Flow Run", run, "status"), "completed")
		mails = self.mails_to(self.email)
		self.assertEqual(len(mails), 2)
		self.assertIn(f"How was your installation, _Test Flow {self.ann} {MARK}?", mails[0])
		self.assertIn(f"Your contract {contract.name} renews next month", mails[1])

	def test_residential_onboarding_for_a_customer_without_subscription_or_contact(self):
		bare = self.make_customer("Bob")
		frappe.db.commit()
		with self.freeze_time(self.start):
			contract = self.contract(bare, is_signed=1, signee="Bob")
			frappe.db.commit()
		(run,) = self.runs_of("Contract", contract.name)
		self.assertEqual(
			outcome(run),
			{
				"install_job": ("done", None),
				"welcome_sms": ("done", "payload.to rendered to no recipient"),
				"activate_subscription": ("done", f"Customer {bare} has no subscription to activate"),
				"satisfaction_survey": ("scheduled", None),
				"renewal_reminder": ("scheduled", None),
			},
		)
		self.assertEqual(self.drain_at(self.start + timedelta(days=336)), 2)
		self.assertEqual(frappe.db.get_value("Flow Run", run, "status"), "completed")
		self.assertEqual(outcome(run)["satisfaction_survey"], ("done", "payload.to rendered to no recipient"))

	def test_quotation_follow_up_writes_to_the_quotations_contact(self):
		with self.freeze_time(self.start):
			quotation = frappe.get_doc(
				{
					"doctype": "Quotation",
					"quotation_to": "Customer",
					"party_name": self.customer,
					"company": self.company,
					"currency": self.currency,
					"transaction_date": nowdate(),
					"valid_till": add_days(nowdate(), 30),
					"items": [{"item_code": self.item.name, "qty": 1, "rate": 120}],
				}
			).insert(ignore_permissions=True)
			# made through the API, it names no contact: the flow writes to the customer's
			frappe.db.commit()
			self.assertEqual(self.runs_of("Quotation", quotation.name), [])  # a draft is not accepted
			quotation = frappe.get_doc("Quotation", quotation.name)  # as the form opens it again
			quotation.submit()
			frappe.db.commit()
		(run,) = self.runs_of("Quotation", quotation.name)
		scheduled = dict.fromkeys(("touch_d3", "touch_d7", "touch_d14"), ("scheduled", None))
		self.assertEqual(
			outcome(run), {**scheduled, "touch_d7": ("pending", None), "touch_d14": ("pending", None)}
		)
		for days in (3, 7, 14):
			self.assertEqual(self.drain_at(self.start + timedelta(days=days, minutes=1)), 1, outcome(run))
		self.assertEqual(outcome(run), dict.fromkeys(scheduled, ("done", None)))
		self.assertEqual(frappe.db.get_value("Flow Run", run, "status"), "completed")
		mails = self.mails_to(self.email)
		self.assertEqual(len(mails), 3)
		self.assertIn(f"Next steps for quotation {quotation.name}", mails[0])

	def test_repair_service_from_an_urgent_issue(self):
		priority = "High" if frappe.db.exists("Issue Priority", "High") else None
		if priority is None:
			self.skipTest("this site has no Issue Priority named High")
		with self.freeze_time(self.start):
			issue = frappe.get_doc(
				{
					"doctype": "Issue",
					"subject": f"No signal {MARK}",
					"raised_by": self.email,
					"customer": self.customer,
					"priority": priority,
				}
			).insert(ignore_permissions=True)
			frappe.db.commit()
		(run,) = self.runs_of("Issue", issue.name)
		self.assertEqual(
			outcome(run),
			{
				"triage": ("done", None),
				"urgent_repair": ("done", None),
				"normal_repair": ("skipped", None),
				"remote_check": ("skipped", None),
				"acknowledge": ("done", None),
				"sla_check": ("scheduled", None),
				"escalate": ("pending", None),
			},
		)
		self.assertEqual(
			frappe.get_all("Dispatch Job", filters={"flow_run": run}, pluck="subject"),
			[f"URGENT repair: No signal {MARK}"],
		)
		self.assertEqual(self.drain_at(self.start + timedelta(hours=24, minutes=1)), 1)
		self.assertEqual(outcome(run)["escalate"], ("done", None))  # still Open after 24 h
		self.assertEqual(frappe.db.get_value("Flow Run", run, "status"), "completed")
		self.assertEqual(
			frappe.get_all(
				"Notification Log",
				filters={"for_user": "Administrator", "subject": f"SLA: {issue.name} open for 24 h"},
				pluck="name",
			).__len__(),
			1,
		)

	def test_fiber_install_waits_for_the_technician_then_activates(self):
		subscription = self.trialling_subscription(self.customer)
		contract = self.contract(self.customer)
		frappe.db.commit()
		with self.freeze_time(self.start):
			run = api.start_flow(seeded("fiber_install"), "Contract", contract.name)["run"]
			frappe.db.commit()
		self.assertEqual(
			outcome(run),
			{
				"install": ("done", None),
				"confirm_sms": ("done", NO_GATEWAY),
				"install_done": ("waiting", None),
				"activate": ("pending", None),
				"survey": ("pending", None),
			},
		)
		with self.freeze_time(self.start + timedelta(hours=3)):
			api.complete_step(run, "install_done", {"technician": "jdoe"})
			frappe.db.commit()
		trial_end = frappe.db.get_value("Subscription", subscription, "trial_period_end")
		self.assertEqual(
			outcome(run)["activate"],
			(
				"done",
				f"Subscription {subscription} is in its trial until {trial_end}: ERPNext makes it active then",
			),
		)
		self.assertNotEqual(frappe.db.get_value("Subscription", subscription, "status"), "Active")
		self.assertEqual(outcome(run)["survey"], ("scheduled", None))
		self.assertEqual(self.drain_at(self.start + timedelta(hours=27, minutes=1)), 1)
		self.assertEqual(frappe.db.get_value("Flow Run", run, "status"), "completed")
		self.assertIn("Your fibre is live", self.mails_to(self.email)[0])

	def test_phone_service_with_and_without_a_number_to_port(self):
		contract = self.contract(self.customer)
		frappe.db.commit()
		new_line = api.start_flow(seeded("phone_service"), "Contract", contract.name)["run"]
		frappe.db.commit()
		self.assertEqual(
			outcome(new_line),
			{
				"check_port": ("done", None),
				"port_request": ("skipped", None),
				"new_number": ("done", None),
				"activate": ("done", f"Customer {self.customer} has no subscription to activate"),
				"welcome_sms": ("done", NO_GATEWAY),
			},
		)
		self.assertEqual(run_steps(new_line)["check_port"]["branch"], "no")
		subscription = self.cancelled_subscription(self.customer)
		frappe.db.commit()
		ported = api.start_flow(
			seeded("phone_service"), "Contract", contract.name, {"port_number": "+15145550199"}
		)["run"]
		frappe.db.commit()
		self.assertEqual(
			outcome(ported),
			{
				"check_port": ("done", None),
				"port_request": ("done", None),
				"new_number": ("skipped", None),
				"activate": ("done", None),
				"welcome_sms": ("done", NO_GATEWAY),
			},
		)
		issue = run_steps(ported)["port_request"]["result"]["name"]
		self.assertEqual(
			frappe.db.get_value("Issue", issue, ["subject", "customer"]),
			(f"Port +15145550199 for _Test Flow {self.ann} {MARK}", self.customer),
		)
		self.assertEqual(frappe.db.get_value("Subscription", subscription, "status"), "Active")
		for run in (new_line, ported):
			self.assertEqual(frappe.db.get_value("Flow Run", run, "status"), "completed")

	def test_move_service_on_its_moving_day(self):
		contract = self.contract(self.customer)
		frappe.db.commit()
		move_date = f"{add_days(getdate(self.start), 2)} 08:00:00"
		variables = {
			"old_address": "12 Rue Saint-Denis",
			"new_address": "88 Avenue du Parc",
			"move_date": move_date,
		}
		with self.freeze_time(self.start):
			run = api.start_flow(seeded("move_service"), "Contract", contract.name, json.dumps(variables))[
				"run"
			]
			frappe.db.commit()
		self.assertEqual(
			outcome(run),
			{
				"removal": ("done", None),
				"install_new": ("done", None),
				"move_day": ("scheduled", None),
				"update_customer": ("pending", None),
				"confirm": ("pending", None),
			},
		)
		self.assertEqual(
			sorted(frappe.get_all("Dispatch Job", filters={"flow_run": run}, pluck="job_type")),
			["Installation", "Removal"],
		)
		self.assertEqual(self.drain_at(get_datetime(move_date) - timedelta(minutes=1)), 0)
		self.assertEqual(self.drain_at(get_datetime(move_date) + timedelta(minutes=1)), 1)
		self.assertEqual(frappe.db.get_value("Flow Run", run, "status"), "completed")
		self.assertEqual(
			frappe.db.get_value("Customer", self.customer, "customer_details"),
			f"Moved to 88 Avenue du Parc on {move_date}",
		)
		self.assertIn("Your service moved to 88 Avenue du Parc", self.mails_to(self.email)[0])

	def test_an_upgrade_brings_shipped_steps_up_to_date_and_keeps_edited_ones(self):
		from flow_engine.seeding import _as_shipped_in_0_1, upgrade_seeded_templates

		name = seeded("quotation_follow_up")
		definition = json.loads(frappe.db.get_value("Flow Template", name, "flow_definition"))
		current = json.loads(json.dumps(definition))
		old = [_as_shipped_in_0_1(step) for step in definition["steps"]]
		old[2]["payload"]["subject"] = "Edited by the operator"
		frappe.db.set_value(
			"Flow Template", name, "flow_definition", json.dumps({**definition, "steps": old})
		)
		self.assertEqual(upgrade_seeded_templates(), {"quotation_follow_up": ["touch_d3", "touch_d7"]})
		steps = json.loads(frappe.db.get_value("Flow Template", name, "flow_definition"))["steps"]
		self.assertEqual(steps[:2], current["steps"][:2])
		self.assertEqual(steps[2], old[2])  # edited: left as it is
		self.assertEqual(upgrade_seeded_templates(), {})
