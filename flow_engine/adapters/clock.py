from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from frappe.utils import get_system_timezone


class FrappeClock:
	"""Naive datetimes in the site's time zone, as Frappe stores them."""

	def __init__(self):
		self.tz = ZoneInfo(get_system_timezone())

	def now(self) -> datetime:
		# what now_datetime() gives, with the zone read once per clock rather than once per call
		return datetime.now(self.tz).replace(tzinfo=None, microsecond=0)
