// Copyright (c) 2026, flow_engine developers
// License: MIT

frappe.listview_settings["Flow Step Pending"] = {
	add_fields: ["status"],
	get_indicator(doc) {
		const colors = {
			pending: "blue",
			running: "orange",
			completed: "green",
			failed: "red",
			cancelled: "gray",
		};
		return [__(doc.status), colors[doc.status] || "gray", `status,=,${doc.status}`];
	},
};
