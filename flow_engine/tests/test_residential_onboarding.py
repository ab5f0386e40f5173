"""The seeded residential onboarding flow, end to end on ERPNext, with its delays fired by the tick."""

import json
from datetime import timedelta

import frappe
from frappe.utils import add_days, get_datetime, nowdate

from flow_engine.compat import TestCase
from flow_engine.scheduler import drain
from flow_engine.tests.utils import RecordingGateway, run_steps, wipe_runs

test_dependencies = ["Customer", "Item", "Company"]


class TestResidentialOnboarding(TestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		from erpnext.accounts.doctype.subscription.test_subscription import create_plan

		create_plan(plan_name="_Test Flow Plan", cost=50, currency="INR", item="_Test Non Stock Item")
		if not frappe.db.exists("Customer", "_Test Flow Customer"):
			frappe.get_doc(
				{
					"doctype": "Customer",
					"customer_name": "_Test Flow Customer",
					"customer_group": "_Test Customer Group",
					"territory": "_Test Territory",
				}
			).insert()
		frappe.db.set_value(
			"Customer",
			"_Test Flow Customer",
			{"email_id": "ann.flow@example.com", "mobile_no": "+15145550142"},
		)
		frappe.db.commit()

	def setUp(self):
		wipe_runs()
		if not frappe.db.exists("Email Account", "_Test Flow Outgoing"):
			# Emails are only queued in tests, but the queue wants an outgoing account to exist.
			frappe.get_doc(
				{
					"doctype": "Email Account",
					"email_account_name": "_Test Flow Outgoing",
					"email_id": "flows@example.com",
					"enable_outgoing": 1,
					"default_outgoing": 1,
					"smtp_server": "127.0.0.1",
					"no_smtp_authentication": 1,
				}
			).insert()
			frappe.db.commit()

	def tearDown(self):
		frappe.db.rollback()
		frappe.delete_doc("Email Account", "_Test Flow Outgoing", force=True, ignore_permissions=True)
		wipe_runs()

	def make_subscription(self) -> str:
		subscription = frappe.get_doc(
			{
				"doctype": "Subscription",
				"party_type": "Customer",
				"party": "_Test Flow Customer",
				"company": "_Test Company",
				"start_date": nowdate(),
				"generate_invoice_at": "End of the current subscription period",
				"plans": [{"plan": "_Test Flow Plan", "qty": 1}],
			}
		).insert()
		subscription.cancel_subscription()  # the flow activates it again
		return subscription.name

	def test_contract_signed_runs_the_whole_onboarding(self):
		template = frappe.db.get_value(
			"Flow Template", {"template_name": "residential_onboarding", "is_system": 1}
		)
		frappe.db.set_value("Flow Template", template, "is_active", 1)
		frappe.get_doc("Flow Template", template).save()
		subscription = self.make_subscription()
		frappe.db.commit()
		start = get_datetime(f"{add_days(nowdate(), 1)} 09:00:00")
		with RecordingGateway() as sms_gateway:
			settings = frappe.get_single("SMS Settings")
			settings.sms_gateway_url = sms_gateway.url + "/send"
			settings.message_parameter = "text"
			settings.receiver_parameter = "to"
			settings.use_post = 1
			settings.save()
			with self.freeze_time(start):
				contract = frappe.get_doc(
					{
						"doctype": "Contract",
						"party_type": "Customer",
						"party_name": "_Test Flow Customer",
						"contract_terms": "Fibre 1G",
						"start_date": nowdate(),
						"is_signed": 1,
						"signee": "Ann",
					}
				).insert()
				# The variables a real integration passes (subscription to activate) come with emit;
				# here the template's own variables are extended through the run's start row.
				frappe.db.commit()
			run_name = frappe.get_all(
				"Flow Run",
				filters={"context_doctype": "Contract", "context_docname": contract.name},
				pluck="name",
			)
			self.assertEqual(len(run_name), 1)
			run_name = run_name[0]
			steps = run_steps(run_name)
			# the subscription variable is missing: activation fails cleanly, visible in the run
			self.assertEqual(steps["install_job"]["status"], "done", steps["install_job"].get("error"))
			self.assertEqual(steps["welcome_sms"]["status"], "done", steps["welcome_sms"].get("error"))
			self.assertEqual(steps["activate_subscription"]["status"], "failed")
			self.assertEqual(
				steps["activate_subscription"]["error"], "payload.subscription_ref rendered empty"
			)
			# an operator supplies the subscription and retries the step
			variables = json.loads(frappe.db.get_value("Flow Run", run_name, "variables"))
			variables["subscription"] = subscription
			frappe.db.set_value("Flow Run", run_name, "variables", json.dumps(variables))
			with self.freeze_time(start + timedelta(minutes=5)):
				from flow_engine.api import retry_step

				retry_step(run_name, "activate_subscription")
				frappe.db.commit()
			self.assertEqual(frappe.db.get_value("Subscription", subscription, "status"), "Active")
			pending = frappe.get_all(
				"Flow Step Pending",
				filters={"flow_run": run_name, "action": "fire"},
				fields=["step_id", "trigger_at"],
				order_by="trigger_at",
			)
			self.assertEqual(
				[(p.step_id, p.trigger_at) for p in pending],
				[
					("satisfaction_survey", start + timedelta(minutes=5, hours=24)),
					("renewal_reminder", start + timedelta(minutes=5, days=335)),
				],
			)
			# the scheduler's tick before, at and after each due time
			with self.freeze_time(start + timedelta(hours=24)):
				self.assertEqual(drain(budget_seconds=10).completed, 0)
			with self.freeze_time(start + timedelta(minutes=6, hours=24)):
				self.assertEqual(drain(budget_seconds=10).completed, 1)
			with self.freeze_time(start + timedelta(minutes=6, days=335)):
				self.assertEqual(drain(budget_seconds=10).completed, 1, run_steps(run_name))
		run = frappe.get_doc("Flow Run", run_name)
		self.assertEqual(run.status, "completed")
		self.assertEqual(
			{k: v["status"] for k, v in json.loads(run.step_state).items()},
			dict.fromkeys(
				[
					"install_job",
					"welcome_sms",
					"activate_subscription",
					"satisfaction_survey",
					"renewal_reminder",
				],
				"done",
			),
		)
		# what the flow did, in ERPNext
		job = frappe.get_all(
			"Dispatch Job",
			filters={"flow_run": run_name},
			fields=["subject", "job_type", "reference_name", "merge_key"],
		)
		self.assertEqual(
			job,
			[
				{
					"subject": "Installation _Test Flow Customer",
					"job_type": "Installation",
					"reference_name": contract.name,
					"merge_key": f"install-{contract.name}",
				}
			],
		)
		self.assertEqual(len(sms_gateway.requests), 1)
		self.assertIn("to=%2B15145550142", sms_gateway.requests[0]["body"])
		self.assertIn("Welcome+_Test+Flow+Customer", sms_gateway.requests[0]["body"])
		mails = frappe.get_all(
			"Email Queue",
			filters={"reference_doctype": "Contract", "reference_name": contract.name},
			pluck="message",
		)
		self.assertEqual(len(mails), 2)
		self.assertTrue(any("How was your installation" in m for m in mails))
		self.assertTrue(any(f"Your contract {contract.name} renews next month" in m for m in mails))
		effects = frappe.get_all(
			"Flow Effect", filters={"flow_run": run_name}, pluck="action", order_by="creation"
		)
		self.assertCountEqual(  # same frozen instant: order by creation is not defined
			effects, ["create_dispatch_job", "send_sms", "activate_subscription", "send_email", "send_email"]
		)
