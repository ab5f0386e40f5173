"""The daily purge of the queue: delete fired steps older than Flow Settings → Delete Finished Steps After.

    cd ~/frappe-bench/sites && ../env/bin/python ../apps/flow_engine/benchmarks/purge_bench.py --site SITE
        [--rows 100000] [--keep 10000]

Adds `--rows` completed queue rows finished 40 days ago and `--keep` recent ones (named
`_Bench Flow purge …`), runs `flow_engine.scheduler.purge_finished` as the daily job does, and prints
how long it took, how many rows it deleted per second and that the recent rows are still there;
then removes the recent rows. The site's own rows are untouched unless older than the setting
(the purge would delete those anyway, as the daily job does).
"""

from __future__ import annotations

import time
from datetime import timedelta

import _common as c

COLUMNS = (
	"name",
	"action",
	"step_id",
	"status",
	"trigger_at",
	"retry_count",
	"creation",
	"modified",
	"owner",
	"modified_by",
	"docstatus",
)


def add_rows(prefix: str, count: int, finished) -> None:
	import frappe

	for offset in range(0, count, 10_000):
		rows = [
			(
				f"{prefix}{i}",
				"fire",
				"bench",
				"completed",
				finished,
				0,
				finished,
				finished,
				"Administrator",
				"Administrator",
				0,
			)
			for i in range(offset, min(offset + 10_000, count))
		]
		frappe.db.bulk_insert("Flow Step Pending", COLUMNS, rows)
		frappe.db.commit()


def main() -> None:
	p = c.parser(__doc__.split("\n")[0])
	p.add_argument("--rows", type=int, default=100_000, help="old completed rows to purge")
	p.add_argument("--keep", type=int, default=10_000, help="recent completed rows that must stay")
	args = p.parse_args()
	c.connect(args.site, args.sites_path)
	import frappe
	from frappe.utils import now_datetime

	from flow_engine.scheduler import purge_finished
	from flow_engine.settings import get_settings

	print(f"queue purge on {args.site}: {c.machine()}")
	days = int(get_settings().keep_finished_days)
	if days <= 0:
		raise SystemExit("Delete Finished Steps After is 0 (keep) on this site: nothing to measure")
	old_prefix, recent_prefix = f"{c.BENCH_PREFIX}purge old ", f"{c.BENCH_PREFIX}purge recent "
	try:
		started = time.perf_counter()
		add_rows(old_prefix, args.rows, now_datetime() - timedelta(days=days + 10))
		add_rows(recent_prefix, args.keep, now_datetime() - timedelta(days=max(days - 1, 0)))
		print(
			f"added {args.rows} old and {args.keep} recent completed rows in {time.perf_counter() - started:.1f} s"
		)
		started = time.perf_counter()
		deleted = purge_finished()
		seconds = time.perf_counter() - started
		old_left = frappe.db.count("Flow Step Pending", {"name": ("like", f"{old_prefix}%")})
		recent_left = frappe.db.count("Flow Step Pending", {"name": ("like", f"{recent_prefix}%")})
		print(
			f"purge_finished: {deleted} rows deleted in {seconds:.2f} s ({deleted / seconds:,.0f} rows/s);"
			f" old bench rows left {old_left} (expected 0), recent bench rows left {recent_left}"
			f" (expected {args.keep})"
		)
	finally:
		frappe.db.rollback()
		frappe.db.sql(
			"delete from `tabFlow Step Pending` where name like %s or name like %s",
			(f"{old_prefix}%", f"{recent_prefix}%"),
		)
		frappe.db.commit()
		c.disconnect()


if __name__ == "__main__":
	main()
