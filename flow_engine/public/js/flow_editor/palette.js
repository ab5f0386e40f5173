// The palette as a dialog: one tile per kind of the catalog, for adding a step at a given place
// (after a step, inside a branch). The editor's palette bar adds at the end of the flow.

import { label_of } from "./model.js";
import { esc, kind_color, kind_icon } from "./desk.js";

function target_text(target, definition) {
	if (target.after_id) return __("After {0}", [label_of(definition, target.after_id)]);
	if (target.parent_id && target.branch !== null && target.branch !== undefined) {
		return __("In branch {0} of {1}", [target.branch, label_of(definition, target.parent_id)]);
	}
	if (target.parent_id) return __("Under {0}", [label_of(definition, target.parent_id)]);
	return __("At the end of the flow");
}

/** Resolves with the chosen kind's name, or null when the dialog is closed. */
export function choose_kind(kinds, target = {}, definition = null) {
	return new Promise((resolve) => {
		let chosen = null;
		const dialog = new frappe.ui.Dialog({
			title: __("Add a step"),
			size: "large",
			fields: [{ fieldname: "tiles", fieldtype: "HTML" }],
		});
		const tiles = Object.values(kinds)
			.map(
				(kind) => `
				<button type="button" class="fe-kind-tile" data-kind="${esc(
					kind.name
				)}" style="--fe-kind: ${kind_color(kind)}">
					${kind_icon(kind, { large: true })}
					<span><b>${esc(__(kind.label))}</b><div class="fe-desc">${esc(
					__(kind.description || "")
				)}</div></span>
				</button>`
			)
			.join("");
		dialog.fields_dict.tiles.$wrapper.html(`
			<p class="text-muted small">${esc(target_text(target, definition))}</p>
			<div class="fe-kind-grid">${tiles}</div>`);
		dialog.fields_dict.tiles.$wrapper.on("click", ".fe-kind-tile", (event) => {
			chosen = event.currentTarget.dataset.kind;
			dialog.hide();
		});
		dialog.onhide = () => resolve(chosen);
		dialog.show();
	});
}
