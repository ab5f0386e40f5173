// Copyright (c) 2026, flow_engine developers
// License: MIT

frappe.listview_settings["Flow Run"] = {
	add_fields: ["status"],
	get_indicator(doc) {
		const colors = {
			running: "blue",
			paused: "orange",
			completed: "green",
			failed: "red",
			cancelled: "gray",
		};
		return [__(doc.status), colors[doc.status] || "gray", `status,=,${doc.status}`];
	},
	onload(listview) {
		// the same checks as one run at a time (flow_engine.api.bulk_runs): runs that cannot be
		// done are listed with the reason, the others are done
		const actions = [
			["cancel", __("Cancel runs")],
			["pause", __("Pause runs")],
			["resume", __("Resume runs")],
			["retry", __("Retry failed steps")],
		];
		for (const [action, label] of actions) {
			listview.page.add_actions_menu_item(label, () => {
				const names = listview.get_checked_items(true);
				if (!names.length) return;
				frappe.confirm(__("{0}: {1} runs?", [label, names.length]), async () => {
					const result = await frappe.xcall("flow_engine.api.bulk_runs", { action, names });
					const refused = Object.entries(result.refused || {});
					const lines = refused.map(
						([name, why]) => `<li><b>${frappe.utils.escape_html(name)}</b>: ${frappe.utils.escape_html(why)}</li>`
					);
					frappe.msgprint({
						title: label,
						indicator: refused.length ? "orange" : "green",
						message:
							__("{0} done, {1} refused", [result.done.length, refused.length]) +
							(lines.length ? `<ul>${lines.join("")}</ul>` : ""),
					});
					listview.refresh();
				});
			});
		}
	},
};
