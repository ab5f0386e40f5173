app_name = "flow_engine"
app_title = "Flow Engine"
app_publisher = "flow_engine developers"
app_description = "Multi-step automation flows for ERPNext: designed in the desk, stored in doctypes, run by Frappe's workers"
app_email = "flow-engine@example.com"
app_license = "mit"

required_apps = ["frappe/erpnext"]

from flow_engine.compat import DESK_ROUTE  # noqa: E402

# The apps screen (/apps) and, on v16, the desktop (desktop_icon/, workspace_sidebar/)
add_to_apps_screen = [
	{
		"name": app_name,
		"logo": "/assets/flow_engine/images/flow_engine.svg",
		"title": app_title,
		"route": f"{DESK_ROUTE}/flow-engine",
		"has_permission": "flow_engine.permissions.has_app_permission",
	}
]

app_include_js = "flow_engine.bundle.js"

doctype_js = {
	"Contract": "public/js/erpnext/contract.js",
	"Customer": "public/js/erpnext/customer.js",
	"Issue": "public/js/erpnext/issue.js",
	"Quotation": "public/js/erpnext/quotation.js",
	"Sales Invoice": "public/js/erpnext/sales_invoice.js",
	"Subscription": "public/js/erpnext/subscription.js",
}

after_install = "flow_engine.install.after_install"
before_tests = "flow_engine.install.before_tests"
after_migrate = "flow_engine.install.after_migrate"
before_uninstall = "flow_engine.install.before_uninstall"

has_permission = {
	"Flow Run": "flow_engine.permissions.flow_run_has_permission",
}
permission_query_conditions = {
	"Flow Run": "flow_engine.permissions.flow_run_query_conditions",
}

doc_events = {
	"*": {
		"after_insert": "flow_engine.dispatch.on_document_event",
		"on_update": "flow_engine.dispatch.on_document_event",
		"on_submit": "flow_engine.dispatch.on_document_event",
		"on_cancel": "flow_engine.dispatch.on_document_event",
		"on_trash": "flow_engine.dispatch.on_document_event",
		"on_change": "flow_engine.dispatch.on_document_event",
	},
}

scheduler_events = {
	"cron": {
		"* * * * *": ["flow_engine.scheduler.tick"],
	},
	"daily_long": ["flow_engine.scheduler.purge_finished"],
}

# Other apps map their own named events to document events with a hook of the same shape as
# flow_engine.events_map.BUILTIN_EVENT_MAP, e.g.
# flow_engine_events = [{"event": "on_ticket_resolved", "doctype": "HD Ticket", "on": "value_change",
#                        "field": "status", "value": "Resolved"}]

# Other apps add kinds with flow_engine.runtime.register_kind(KindSpec(...)) (at import, e.g. in
# their app's __init__.py) and group kinds into catalogs the editor's palette offers, e.g.
# flow_engine_kind_catalogs = [{"name": "billing", "label": "Billing", "kinds": ["notify", "wait"]}]
