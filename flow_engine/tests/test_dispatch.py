"""Document events start runs after commit, never after rollback, and cost nothing elsewhere."""

import json
from unittest.mock import patch

import frappe

from flow_engine.dispatch import (
	_PROCESS_INDEX,
	INDEX_KEY,
	LISTENED_KEY,
	index_entries,
	listened_in,
	on_document_event,
)
from flow_engine.tests.utils import (
	FlowTestCase,
	make_template,
	new_request_with_the_hook,
	statuses,
	wipe_runs,
)

WAIT = [{"id": "a", "kind": "wait"}, {"id": "b", "kind": "wait", "depends_on": ["a"]}]


class TestDispatch(FlowTestCase):
	def setUp(self):
		wipe_runs()

	def tearDown(self):
		frappe.db.rollback()
		wipe_runs()

	def runs_for(self, doctype, name):
		return frappe.get_all(
			"Flow Run", filters={"context_doctype": doctype, "context_docname": name}, pluck="name"
		)

	def test_run_starts_after_commit(self):
		make_template("todo insert", WAIT, trigger_event="on_insert", trigger_doctype="ToDo")
		frappe.db.commit()
		todo = frappe.get_doc({"doctype": "ToDo", "description": "flow after commit"}).insert()
		# inside the transaction: only the outbox row, no run yet
		self.assertEqual(self.runs_for("ToDo", todo.name), [])
		self.assertEqual(
			frappe.get_all(
				"Flow Step Pending", filters={"context_docname": todo.name, "action": "start"}, pluck="status"
			),
			["pending"],
		)
		frappe.db.commit()  # after_commit enqueues the drain (run at once in tests)
		runs = self.runs_for("ToDo", todo.name)
		self.assertEqual(len(runs), 1)
		self.assertEqual(frappe.db.get_value("Flow Run", runs[0], "status"), "completed")
		self.assertEqual(statuses(runs[0]), {"a": "done", "b": "done"})

	def test_nothing_starts_when_the_save_rolls_back(self):
		make_template("todo rollback", WAIT, trigger_event="on_insert", trigger_doctype="ToDo")
		frappe.db.commit()
		todo = frappe.get_doc({"doctype": "ToDo", "description": "rolled back"}).insert()
		name = todo.name
		frappe.db.rollback()
		frappe.db.commit()
		self.assertEqual(self.runs_for("ToDo", name), [])
		self.assertEqual(frappe.get_all("Flow Step Pending", filters={"context_docname": name}), [])

	def test_trigger_condition_is_jsonlogic(self):
		make_template(
			"todo high only",
			WAIT,
			trigger_event="on_insert",
			trigger_doctype="ToDo",
			trigger_condition='{"==": [{"var": "doc.priority"}, "High"]}',
		)
		frappe.db.commit()
		low = frappe.get_doc({"doctype": "ToDo", "description": "low", "priority": "Low"}).insert()
		high = frappe.get_doc({"doctype": "ToDo", "description": "high", "priority": "High"}).insert()
		frappe.db.commit()
		self.assertEqual(self.runs_for("ToDo", low.name), [])
		self.assertEqual(len(self.runs_for("ToDo", high.name)), 1)

	def test_value_change_event(self):
		make_template(
			"todo closed",
			WAIT,
			trigger_event="on_value_change",
			trigger_doctype="ToDo",
			trigger_field="status",
		)
		frappe.db.commit()
		todo = frappe.get_doc({"doctype": "ToDo", "description": "watch status"}).insert()
		frappe.db.commit()
		self.assertEqual(len(self.runs_for("ToDo", todo.name)), 1)  # an insert is a change
		todo.description = "unrelated edit"
		todo.save()
		frappe.db.commit()
		self.assertEqual(len(self.runs_for("ToDo", todo.name)), 1)
		todo.status = "Closed"
		todo.save()
		frappe.db.commit()
		self.assertEqual(len(self.runs_for("ToDo", todo.name)), 2)

	def test_named_event_maps_to_erpnext_doctype(self):
		name = make_template("issue opened", WAIT, trigger_event="on_issue_opened")
		frappe.db.commit()
		issue = frappe.get_doc(
			{"doctype": "Issue", "subject": "flow named event", "raised_by": "a@example.com"}
		).insert()
		frappe.db.commit()
		runs = self.runs_for("Issue", issue.name)
		# ours, and the seeded repair_service, which listens to the same event
		started = sorted(frappe.db.get_value("Flow Run", r, "flow_template") for r in runs)
		repair = frappe.db.get_value("Flow Template", {"template_name": "repair_service", "is_system": 1})
		self.assertEqual(started, sorted([name, repair]))

	def test_inactive_templates_do_not_dispatch(self):
		name = make_template("todo inactive", WAIT, trigger_event="on_insert", trigger_doctype="ToDo")
		frappe.db.set_value("Flow Template", name, "is_active", 0)
		frappe.get_doc("Flow Template", name).save()
		frappe.db.commit()
		todo = frappe.get_doc({"doctype": "ToDo", "description": "inactive"}).insert()
		frappe.db.commit()
		self.assertEqual(self.runs_for("ToDo", todo.name), [])

	def test_a_broken_flow_never_breaks_the_save(self):
		make_template(
			"todo broken condition",
			WAIT,
			trigger_event="on_insert",
			trigger_doctype="ToDo",
			trigger_condition='{"==": [{"var": "doc.priority"}, "High"]}',
		)
		frappe.db.commit()
		# corrupt the cached index the way a bad deploy might: the save must still succeed
		listened = frappe.db.get_global(LISTENED_KEY)
		broken = [{"template": "FT-does-not-exist", "on": "insert"}]
		frappe.cache.hset(INDEX_KEY, "ToDo", {"listened": listened, "entries": broken})
		_PROCESS_INDEX.clear()
		self.addCleanup(_PROCESS_INDEX.clear)
		self.assertEqual(index_entries("ToDo", listened), broken)  # the broken one is used
		todo = frappe.get_doc({"doctype": "ToDo", "description": "still saved"}).insert()
		frappe.db.commit()
		self.assertTrue(frappe.db.exists("ToDo", todo.name))

	def test_save_of_a_doctype_without_flows_adds_no_query(self):
		make_template("todo only", WAIT, trigger_event="on_insert", trigger_doctype="ToDo")
		frappe.db.commit()
		note = frappe.get_doc({"doctype": "Note", "title": "no flows here"})
		note.insert()
		new_request_with_the_hook()
		with self.assertQueryCount(0), self.assertRedisCallCounts(0):
			on_document_event(note, "on_update")
			on_document_event(note, "after_insert")

	def test_a_listened_doctype_s_save_reads_its_index_from_the_process(self):
		make_template(
			"todo false",
			WAIT,
			trigger_event="on_update",
			trigger_doctype="ToDo",
			trigger_condition='{"==": [{"var": "doc.status"}, "Closed"]}',
		)
		frappe.db.commit()
		todo = frappe.get_doc({"doctype": "ToDo", "description": "open"}).insert()
		frappe.db.commit()
		new_request_with_the_hook()
		with self.assertQueryCount(0), self.assertRedisCallCounts(0):
			on_document_event(todo, "on_update")
		self.assertEqual(self.runs_for("ToDo", todo.name), [])

	def test_a_template_change_reaches_the_index_of_every_process(self):
		name = make_template("todo on update", WAIT, trigger_event="on_update", trigger_doctype="ToDo")
		make_template("todo stays", WAIT, trigger_event="on_update", trigger_doctype="ToDo")
		frappe.db.commit()
		before = frappe.db.get_global(LISTENED_KEY)
		self.assertIn(name, [entry["template"] for entry in index_entries("ToDo", before)])
		# another process (here: a second connection) turns the template off and commits
		with self.secondary_connection():
			frappe.get_doc("Flow Template", name).update({"is_active": 0}).save()
			frappe.db.commit()
		frappe.db.rollback()  # this process's next request
		frappe.local.cache = {}
		after = frappe.db.get_global(LISTENED_KEY)
		self.assertNotEqual(after, before)  # a new generation, the same DocTypes
		self.assertEqual(listened_in(after), listened_in(before))
		self.assertNotIn(name, [entry["template"] for entry in index_entries("ToDo", after)])
		# an index built under the old value (by a request that read it before the commit) is
		# never taken for the new one
		stale = {"listened": before, "entries": [{"template": name, "on": "update"}]}
		frappe.cache.hset(INDEX_KEY, "ToDo", stale)
		_PROCESS_INDEX.clear()
		self.assertNotIn(name, [entry["template"] for entry in index_entries("ToDo", after)])

	def test_the_fields_a_condition_reads_are_valued_as_in_the_whole_document(self):
		from flow_engine.dispatch import _SavedDoc
		from flow_engine.runs import doc_data

		todo = frappe.get_doc(
			{"doctype": "ToDo", "description": "fields", "date": "2026-12-24", "priority": "High"}
		).insert()
		docs = [todo, frappe.get_doc("User", "Administrator"), frappe.get_doc("DocType", "ToDo")]
		docs += [
			frappe.get_doc("Customer", name) for name in frappe.get_all("Customer", limit=1, pluck="name")
		]
		for doc in docs:
			whole = doc_data(doc)
			for name in sorted(set(whole) | {"no_such_field"}):
				got = _SavedDoc(doc).fields(frozenset({name}))
				self.assertEqual(  # repr: the same types too (an int, not Frappe's DocStatus)
					repr({key: got[key] for key in [name] if key in got}),
					repr({key: whole[key] for key in [name] if key in whole}),
					f"{doc.doctype}.{name}",
				)
		# a field alone is read alone, not with the rest of the document
		self.assertEqual(
			_SavedDoc(todo).fields(frozenset({"date", "status"})), {"date": "2026-12-24", "status": "Open"}
		)
		self.assertEqual(_SavedDoc(todo).fields(frozenset({"no_such_field"})), doc_data(todo))

	def test_conditions_on_the_customer_read_it_once_per_save(self):
		from frappe.utils.nestedset import get_root_of

		from flow_engine import runs

		group = get_root_of("Customer Group")
		matching = make_template(
			"customer of the group",
			WAIT,
			trigger_event="on_insert",
			trigger_doctype="Customer",
			trigger_condition=json.dumps({"==": [{"var": "customer.customer_group"}, group]}),
		)
		make_template(
			"customer of no group",
			WAIT,
			trigger_event="on_insert",
			trigger_doctype="Customer",
			trigger_condition=json.dumps({"==": [{"var": "customer.customer_group"}, "no such group"]}),
		)
		frappe.db.commit()
		with patch.object(runs, "customer_of", wraps=runs.customer_of) as customer_of:
			customer = frappe.get_doc(
				{
					"doctype": "Customer",
					"customer_name": f"_Test Flow Dispatch {frappe.generate_hash(length=6)}",
					"customer_group": group,
					"territory": get_root_of("Territory"),
				}
			).insert(ignore_permissions=True)
		self.assertEqual(customer_of.call_count, 1)  # two rules on the Customer, one read of it
		frappe.db.commit()
		started = [
			frappe.db.get_value("Flow Run", run, "flow_template")
			for run in self.runs_for("Customer", customer.name)
		]
		self.assertEqual(started, [matching])

	def test_the_listened_doctypes_follow_the_templates(self):
		def listened():
			frappe.local.cache = {}  # a new request
			value = frappe.db.get_global(LISTENED_KEY)
			self.assertRegex(value, r"^[0-9a-f]{10}\|(.+\|)?$")
			return listened_in(value)

		before = listened()  # the site's own templates (the seeded ones listen to a few doctypes)
		self.assertFalse(before & {"ToDo", "Customer"})
		todo = make_template("todo listened", WAIT, trigger_event="on_insert", trigger_doctype="ToDo")
		customer = make_template("customer listened", WAIT, trigger_event="on_customer_created")
		make_template("manual only", WAIT, applies_to="Note")
		self.assertEqual(listened(), before | {"Customer", "ToDo"})
		frappe.get_doc("Flow Template", customer).update({"is_active": 0}).save()
		self.assertEqual(listened(), before | {"ToDo"})
		frappe.delete_doc("Flow Template", todo, force=True)
		self.assertEqual(listened(), before)
		frappe.db.rollback()
		self.assertEqual(listened(), before)  # as committed by wipe_runs

	def test_dispatch_is_skipped_during_install_migrate_import_and_patch(self):
		make_template("todo flags", WAIT, trigger_event="on_insert", trigger_doctype="ToDo")
		frappe.db.commit()
		for flag in ("in_install", "in_migrate", "in_import", "in_patch"):
			frappe.local.flags[flag] = True
			try:
				todo = frappe.get_doc({"doctype": "ToDo", "description": f"during {flag}"}).insert()
			finally:
				frappe.local.flags[flag] = False
			self.assertEqual(
				frappe.get_all("Flow Step Pending", filters={"context_docname": todo.name}), [], flag
			)

	def test_emit_for_other_apps(self):
		from flow_engine import emit
		from flow_engine.runtime import register_event

		register_event("on_custom_signal", "Custom signal")
		name = make_template(
			"custom signal",
			[{"id": "a", "kind": "wait", "payload": {}}],
			trigger_event="on_custom_signal",
		)
		frappe.db.commit()
		todo = frappe.get_doc({"doctype": "ToDo", "description": "emit"}).insert()
		self.assertEqual(emit("on_custom_signal", todo, {"why": "test"}), [name])
		frappe.db.commit()
		runs = self.runs_for("ToDo", todo.name)
		self.assertEqual(len(runs), 1)
		self.assertEqual(frappe.db.get_value("Flow Run", runs[0], "trigger_event"), "on_custom_signal")
