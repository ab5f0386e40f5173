"""Remove what an interrupted benchmark left on a site (each benchmark cleans up after itself).

    cd ~/frappe-bench/sites && ../env/bin/python ../apps/flow_engine/benchmarks/cleanup_bench.py --site SITE
        [--all]

Deletes the Flow Templates named `_Bench Flow …` with their runs, pending rows and effects, the
Dispatch Jobs and Notification Logs of those runs, the benchmark's Notifications, ToDos and
Customers `_Bench Flow C …`, and re-activates templates the benchmarks deactivate (it cannot know
which ones were active before: it lists the inactive system templates and, with --all, turns them
on). The `_Bench Flow Customer` and `_Bench Flow Item` masters are kept for the next run.
"""

from __future__ import annotations

import sys

import _common as c


def main() -> None:
	p = c.parser(__doc__.split("\n")[0])
	p.add_argument("--all", action="store_true", help="re-activate every inactive system template")
	args = p.parse_args()
	c.connect(args.site, args.sites_path)
	import frappe

	from flow_engine.dispatch import clear_dispatch_cache

	templates = c.bench_templates()
	if templates:
		marks = ", ".join(["%s"] * len(templates))
		frappe.db.sql(
			f"""delete from `tabDispatch Job` where flow_run in
			(select name from `tabFlow Run` where flow_template in ({marks}))""",
			tuple(templates),
		)
		frappe.db.sql(
			f"""delete from `tabNotification Log` where document_type = 'Quotation' and document_name in
			(select context_docname from `tabFlow Run` where flow_template in ({marks}))""",
			tuple(templates),
		)
	runs = c.delete_bench_runs(templates)
	c.delete_bench_templates()
	with c.inline_delete_jobs():
		for name in frappe.get_all(
			"Notification", filters={"name": ("like", f"{c.BENCH_PREFIX}%")}, pluck="name"
		):
			frappe.delete_doc("Notification", name, force=True, ignore_permissions=True)
		for name in frappe.get_all(
			"Customer", filters={"name": ("like", f"{c.BENCH_PREFIX}C %")}, pluck="name"
		):
			frappe.delete_doc("Customer", name, force=True, ignore_permissions=True)
	frappe.db.sql(
		"delete from `tabToDo` where description like %s or description like 'bench todo %%'",
		(f"{c.BENCH_PREFIX}%",),
	)
	for doctype in ("Notification", "Customer"):
		c.forget_deleted(doctype)
	inactive = frappe.get_all(
		"Flow Template", filters={"is_system": 1, "is_active": 0}, pluck="template_name"
	)
	if args.all and inactive:
		frappe.db.sql("update `tabFlow Template` set is_active = 1 where is_system = 1")
	clear_dispatch_cache()  # stores the listened doctypes: before the commit
	frappe.db.commit()
	print(f"removed {len(templates)} bench templates and {runs} runs")
	if inactive:
		print(
			f"inactive system templates: {', '.join(inactive)}"
			+ (" (re-activated)" if args.all else " (use --all to re-activate them)")
		)
	c.disconnect()


if __name__ == "__main__":
	sys.exit(main())
