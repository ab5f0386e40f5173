from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from frappe.utils import get_system_timezone, now_datetime


class FrappeClock:
	"""Naive datetimes in the site's time zone, as Frappe stores them."""

	def __init__(self):
		self.tz = ZoneInfo(get_system_timezone())

	def now(self) -> datetime:
		return now_datetime().replace(microsecond=0)
