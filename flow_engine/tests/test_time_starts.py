"""Date-based and scheduled starts on a real site: ERPNext Contracts and Issues, time moved by the
scheduler's own clock (frozen at each tick), the site's time zone, and a downtime."""

from datetime import datetime, timedelta

import frappe
from frappe.utils import add_days, get_datetime, getdate, nowdate
from frappe.utils.nestedset import get_root_of

from flow_engine.scheduler import tick
from flow_engine.tests.utils import MARK, FlowTestCase, make_template, wipe_runs

STEPS = [{"id": "remind", "kind": "wait"}]


def forget_system_settings():
	"""Drop this request's System Settings (a test replaced its time zone there, not on the site)."""
	try:
		del frappe.local.system_settings
	except AttributeError:
		pass


class TestTimeStarts(FlowTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.customer = frappe.get_doc(
			{
				"doctype": "Customer",
				"customer_name": f"_Test Flow Renewals {MARK}",
				"customer_group": get_root_of("Customer Group"),
				"territory": get_root_of("Territory"),
			}
		).insert(ignore_permissions=True)
		# the date pass needs an index on Contract.end_date: note whether the site had one
		cls.had_index = bool(frappe.db.get_column_index("tabContract", "end_date", unique=False))
		cls.had_setter = frappe.db.exists(
			"Property Setter", {"doc_type": "Contract", "field_name": "end_date", "property": "search_index"}
		)
		frappe.db.commit()
		cls.addClassCleanup(cls.drop_index)

	@classmethod
	def drop_index(cls):
		if not cls.had_setter:
			frappe.db.delete(
				"Property Setter",
				{"doc_type": "Contract", "field_name": "end_date", "property": "search_index"},
			)
			frappe.clear_cache(doctype="Contract")
		frappe.db.commit()
		index = frappe.db.get_column_index("tabContract", "end_date", unique=False)
		if index and not cls.had_index:
			frappe.db.sql_ddl(f"alter table `tabContract` drop index `{index.Key_name}`")
		from flow_engine import time_starts

		time_starts._INDEXED.clear()

	def setUp(self):
		wipe_runs()
		self.t0 = get_datetime(f"{add_days(nowdate(), 1)} 09:00:00")

	def tearDown(self):
		frappe.db.rollback()
		forget_system_settings()
		wipe_runs()

	def contract(self, end_date, **values):
		doc = frappe.get_doc(
			{
				"doctype": "Contract",
				"party_type": "Customer",
				"party_name": self.customer.name,
				"contract_terms": f"_Test Flow {MARK}",
				"start_date": getdate(self.t0),
				"end_date": end_date,
				**values,
			}
		).insert(ignore_permissions=True)
		frappe.db.commit()
		return doc.name

	def tick_at(self, moment) -> None:
		with self.freeze_time(moment):
			tick()

	def runs(self, template: str) -> list[str]:
		return frappe.get_all(
			"Flow Run", filters={"flow_template": template}, pluck="context_docname", order_by="creation"
		)

	def renewal_template(self, name: str = "renewal", **trigger) -> str:
		return make_template(
			name,
			STEPS,
			trigger_event="on_date_field",
			trigger_doctype="Contract",
			trigger_field="end_date",
			trigger_offset=-30,
			trigger_offset_unit="days",
			**trigger,
		)

	def test_a_contract_starts_30_days_before_its_end_once_per_date(self):
		with self.freeze_time(self.t0):
			template = self.renewal_template()
			frappe.db.commit()
		# no pass until after the contract's time: the template counts from its save, not its first pass
		end = getdate(add_days(self.t0, 40))
		first = self.contract(end)
		due = get_datetime(f"{add_days(end, -30)} 00:00:00")
		self.tick_at(due + timedelta(seconds=30))
		self.assertEqual(self.runs(template), [first])
		self.tick_at(due + timedelta(minutes=1, seconds=30))
		self.assertEqual(self.runs(template), [first], "once per date value")
		# the contract is extended: the new end date starts it again, 30 days before
		doc = frappe.get_doc("Contract", first)
		doc.end_date = add_days(end, 10)
		with self.freeze_time(due + timedelta(hours=1)):
			doc.save(ignore_permissions=True)
			frappe.db.commit()
		self.tick_at(due + timedelta(days=10, minutes=1))
		self.assertEqual(self.runs(template), [first, first])
		self.assertEqual(
			sorted(frappe.get_all("Flow Time Start", filters={"flow_template": template}, pluck="outcome")),
			["queued", "queued"],
		)
		# the field is indexed (and declared so, for migrate to keep it)
		self.assertTrue(frappe.db.get_column_index("tabContract", "end_date", unique=False))
		if not self.had_index and not self.had_setter:
			# flow_engine's declaration: Frappe removes it with the app's module on uninstall
			setter = frappe.get_all(
				"Property Setter",
				filters={"doc_type": "Contract", "field_name": "end_date", "property": "search_index"},
				fields=["value", "module"],
			)
			self.assertEqual([(s.value, s.module) for s in setter], [("1", "Flow Engine")])

	def test_a_moved_date_moves_the_start_and_a_late_contract_starts_only_if_asked(self):
		with self.freeze_time(self.t0):
			plain = self.renewal_template()
			frappe.db.commit()
		self.tick_at(self.t0)
		moved = self.contract(getdate(add_days(self.t0, 35)))
		late = self.contract(getdate(add_days(self.t0, 10)))  # its start time passed before it came
		doc = frappe.get_doc("Contract", moved)
		doc.end_date = add_days(doc.end_date, 3)
		doc.save(ignore_permissions=True)
		frappe.db.commit()
		self.tick_at(self.t0 + timedelta(days=6, hours=15, minutes=1))  # old start time: nothing
		self.assertEqual(self.runs(plain), [])
		self.tick_at(self.t0 + timedelta(days=8, hours=15, minutes=1))
		self.assertEqual(self.runs(plain), [moved])
		frappe.db.set_value("Flow Template", plain, "is_active", 0)
		with self.freeze_time(self.t0 + timedelta(days=8, hours=16)):
			eager = self.renewal_template("renewal, late ones too", trigger_start_past=1)
			frappe.db.commit()
		self.tick_at(self.t0 + timedelta(days=8, hours=16))
		with self.freeze_time(self.t0 + timedelta(days=8, hours=16, seconds=30)):
			later = self.contract(getdate(add_days(self.t0, 12)))  # came after its start time
		self.tick_at(self.t0 + timedelta(days=8, hours=16, minutes=1))
		self.assertEqual(self.runs(eager), [later])
		self.assertNotIn(late, self.runs(eager), "a contract older than the template is left alone")

	def test_the_date_counts_from_midnight_in_the_sites_time_zone_and_a_downtime_is_made_up(self):
		for zone in ("Asia/Kolkata", "America/New_York"):
			settings = frappe.get_cached_doc("System Settings").as_dict()
			settings.time_zone = zone
			frappe.local.system_settings = settings
			with self.freeze_time(self.t0):
				template = make_template(
					f"tz {zone}",
					STEPS,
					trigger_event="on_date_field",
					trigger_doctype="Contract",
					trigger_field="end_date",
				)
				frappe.db.commit()
			self.tick_at(self.t0)
			ends = [getdate(add_days(self.t0, days)) for days in (2, 3, 4)]
			names = [self.contract(end) for end in ends]
			midnight = get_datetime(f"{ends[0]} 00:00:00")
			self.tick_at(midnight - timedelta(minutes=1))
			self.assertEqual(self.runs(template), [], zone)
			self.tick_at(midnight + timedelta(minutes=1))
			self.assertEqual(self.runs(template), names[:1], zone)
			# the scheduler is down for two days; its first tick starts both missed contracts once
			self.tick_at(midnight + timedelta(days=2, hours=5))
			self.assertEqual(sorted(self.runs(template)), sorted(names), zone)
			self.tick_at(midnight + timedelta(days=2, hours=5, minutes=1))
			self.assertEqual(len(self.runs(template)), 3, zone)
			frappe.db.set_value("Flow Template", template, "is_active", 0)
			for name in names:  # the next zone's template would see them too
				frappe.delete_doc("Contract", name, force=True, ignore_permissions=True)
			frappe.db.commit()
			forget_system_settings()

	def test_a_schedule_starts_once_per_occurrence_and_once_after_a_downtime(self):
		monday = self.t0 + timedelta(days=(7 - self.t0.weekday()) % 7 or 7)
		monday_8 = datetime(monday.year, monday.month, monday.day, 8, 0)
		with self.freeze_time(monday_8 - timedelta(days=1)):
			weekly = make_template("weekly", STEPS, trigger_event="on_schedule", trigger_schedule="0 8 * * 1")
			per_issue = make_template(
				"open issues",
				STEPS,
				trigger_event="on_schedule",
				trigger_schedule="0 8 * * 1",
				trigger_doctype="Issue",
				trigger_filters=f'[["status", "=", "Open"], ["subject", "like", "%{MARK} sched%"]]',
			)
			frappe.db.commit()
			issues = [
				frappe.get_doc({"doctype": "Issue", "subject": f"_Test Flow {MARK} sched {n}"}).insert().name
				for n in range(3)
			]
			closed = frappe.get_doc("Issue", issues[2])
			closed.status = "Closed"
			closed.save()
			frappe.db.commit()
		self.tick_at(monday_8 - timedelta(days=1))
		self.tick_at(monday_8 - timedelta(minutes=1))
		self.assertEqual((self.runs(weekly), self.runs(per_issue)), ([], []))
		self.tick_at(monday_8 + timedelta(seconds=20))
		self.tick_at(monday_8 + timedelta(minutes=1))
		self.assertEqual(len(self.runs(weekly)), 1)
		self.assertEqual(sorted(self.runs(per_issue)), sorted(issues[:2]))
		# down for three weeks: one more occurrence, not three
		self.tick_at(monday_8 + timedelta(days=21, hours=2))
		self.tick_at(monday_8 + timedelta(days=21, hours=2, minutes=1))
		self.assertEqual(len(self.runs(weekly)), 2)
		self.assertEqual(len(self.runs(per_issue)), 4)

	def test_bad_time_triggers_are_refused_naming_the_field(self):
		cases = {
			"trigger.field: status of Contract is a Select field, not a Date or Datetime": {
				"trigger_event": "on_date_field",
				"trigger_doctype": "Contract",
				"trigger_field": "status",
			},
			"trigger.schedule: &#x27;0 0 30 2 *&#x27; never fires": {
				"trigger_event": "on_schedule",
				"trigger_schedule": "0 0 30 2 *",
			},
		}
		for expected, fields in cases.items():
			with self.assertRaises(frappe.ValidationError) as caught:
				make_template("bad", STEPS, **fields)
			text = str(caught.exception).replace("&apos;", "&#x27;")
			self.assertIn(expected, text)
