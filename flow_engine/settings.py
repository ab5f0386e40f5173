"""Flow Settings, read once per request or job."""

from __future__ import annotations

import frappe

from flow_engine.runtime import RetryPolicy

DEFAULTS = {
	"dispatch_enabled": 1,
	"max_attempts": 3,
	"initial_interval_seconds": 60,
	"backoff_factor": 2.0,
	"max_interval_seconds": 3600,
	"batch_size": 200,
	"time_budget_seconds": 50,
	"lease_seconds": 300,
	"fan_out_threshold": 1000,
	"max_depth": 5,
	"keep_finished_days": 30,
	"dispatch_doctype": "Dispatch Job",
	"webhook_allow_list": "",
	"webhook_timeout_seconds": 10,
	"notify_on_failure": 1,
	"disable_after_failures": 0,
}


def get_settings() -> frappe._dict:
	"""Flow Settings with defaults filled in; cached on frappe.local for the request or job."""
	cached = getattr(frappe.local, "flow_engine_settings", None)
	if cached is not None:
		return cached
	values = frappe._dict(DEFAULTS)
	try:
		# Frappe's document cache, which both releases drop on save, on set_single_value and again
		# after the transaction ends: a job reads its settings from Redis, not from tabSingles
		stored = frappe.get_cached_doc("Flow Settings")
	except frappe.DoesNotExistError:
		frappe.clear_last_message()
		stored = {}  # while the app is being installed: the DocType is not there yet
	for key, default in DEFAULTS.items():
		value = stored.get(key)
		if value in (None, ""):
			continue
		values[key] = type(default)(value) if isinstance(default, int | float) else value
	frappe.local.flow_engine_settings = values
	return values


def clear_settings_cache() -> None:
	frappe.local.flow_engine_settings = None


def default_retry_policy(settings=None) -> dict:
	settings = settings or get_settings()
	return {
		"max_attempts": max(int(settings.max_attempts), 1),
		"initial_interval_seconds": float(settings.initial_interval_seconds),
		"backoff_factor": max(float(settings.backoff_factor), 1.0),
		"max_interval_seconds": float(settings.max_interval_seconds),
	}


def retry_policy(settings=None) -> RetryPolicy:
	settings = settings or get_settings()
	cached = getattr(frappe.local, "flow_engine_retry_policy", None)
	if cached is not None and cached[0] is settings:  # one per settings read (the scheduler: per step)
		return cached[1]
	policy = RetryPolicy().merged(default_retry_policy(settings))
	frappe.local.flow_engine_retry_policy = (settings, policy)
	return policy
