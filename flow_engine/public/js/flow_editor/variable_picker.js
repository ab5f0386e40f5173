// The variable picker: the fields of the flow's document (applies_to) and of the linked Customer
// from Frappe's meta, the run's variables, earlier steps, the run and `now`. A pick is inserted
// where the cursor was (on_pick) or copied to the clipboard.

import { filter_variables, variable_groups, variable_snippet } from "./text.js";
import { esc } from "./desk.js";

function with_doctype(doctype) {
	return new Promise((resolve) => {
		if (!doctype) return resolve([]);
		try {
			frappe.model.with_doctype(doctype, () => {
				const meta = frappe.get_meta(doctype);
				resolve((meta && meta.fields) || []);
			});
		} catch (e) {
			resolve([]);
		}
	});
}

export async function load_variable_groups(applies_to, definition) {
	const [doc_fields, customer_fields] = await Promise.all([
		with_doctype(applies_to),
		with_doctype("Customer"),
	]);
	return variable_groups({
		doctype: applies_to || null,
		doc_fields,
		customer_fields,
		definition,
	});
}

/**
 * mode: "template" ({{ path }}), "path" (bare) or "jsonlogic" ({"var": path}).
 * on_pick(snippet): where a pick goes; without it, picks are copied.
 */
export async function open_variable_picker({
	applies_to,
	definition,
	mode = "template",
	title,
	on_pick = null,
}) {
	const groups = await load_variable_groups(applies_to, definition);
	const dialog = new frappe.ui.Dialog({
		title: title || __("Variables"),
		size: "large",
		fields: [
			{
				fieldname: "search",
				fieldtype: "Data",
				label: __("Search"),
				placeholder: __("Field name or label"),
			},
			{ fieldname: "list", fieldtype: "HTML" },
		],
	});
	const $list = dialog.fields_dict.list.$wrapper;
	const render = () => {
		const query = dialog.get_value("search");
		const shown = filter_variables(groups, query);
		$list.html(
			`<p class="text-muted small">${
				on_pick
					? __("Click a variable to insert it at the cursor, or copy it.")
					: __("Copy a variable and paste it into a field, e.g. {0}.", [
							"<code>{{ doc.name }}</code>",
					  ])
			}${applies_to ? "" : " " + __("Set Applies To to list the document's fields.")}</p>
			<div class="fe-var-list">${
				shown
					.map(
						(group) => `
					<div class="fe-var-group">
						<div class="fe-var-group-title">${esc(group.title)}</div>
						${
							group.items.length
								? group.items
										.map(
											(item) => `
							<div class="fe-var-row" data-path="${esc(item.path)}">
								<span class="fe-var-label">${esc(item.label)} <span class="text-muted small">${esc(
												item.fieldtype
											)}</span></span>
								<code>${esc(variable_snippet(item.path, mode))}</code>
								${
									on_pick
										? `<button class="btn btn-xs btn-primary" data-pick="insert">${__(
												"Insert"
										  )}</button>`
										: ""
								}
								<button class="btn btn-xs btn-default" data-pick="copy">${__("Copy")}</button>
							</div>`
										)
										.join("")
								: `<div class="text-muted small">${__("None")}</div>`
						}
					</div>`
					)
					.join("") || `<div class="text-muted">${__("Nothing matches.")}</div>`
			}</div>`
		);
	};
	$list.on("click", "[data-pick]", (event) => {
		const path = $(event.currentTarget).closest(".fe-var-row").attr("data-path");
		const snippet = variable_snippet(path, mode);
		if (event.currentTarget.dataset.pick === "insert" && on_pick) {
			dialog.hide();
			on_pick(snippet);
		} else {
			frappe.utils.copy_to_clipboard(snippet);
		}
	});
	dialog.fields_dict.search.$input.on("input", frappe.utils.debounce(render, 150));
	render();
	dialog.show();
	setTimeout(() => dialog.fields_dict.search.$input.trigger("focus"), 300);
	return dialog;
}
