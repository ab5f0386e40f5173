// Desk helpers shared by the editor and the run views: API calls (with the kind catalog cached
// for the page's life), escaping, kind icons, links to documents.

import { icon_for } from "./text.js";
import { CSS, STYLE_ID } from "./styles.js";

let catalog_promise = null;

/** {kinds, events, trigger_types?} from flow_engine.api.kinds_catalog, fetched once. */
export function get_catalog() {
	if (!catalog_promise) {
		catalog_promise = frappe.xcall("flow_engine.api.kinds_catalog").catch((error) => {
			catalog_promise = null;
			throw error;
		});
	}
	return catalog_promise;
}

/**
 * Problems of a definition, from the server. `record` has the form's trigger fields beside
 * flow_definition, so that what is checked is what a save would check.
 */
export function validate_record(record) {
	return frappe
		.call({
			method: "flow_engine.api.validate_definition",
			args: { definition: JSON.stringify(record) },
			type: "POST",
			freeze: false,
		})
		.then((r) => r.message || []);
}

export function template_record(frm, definition) {
	return {
		flow_definition: definition,
		trigger_event: frm.doc.trigger_event || "manual",
		trigger_condition: frm.doc.trigger_condition || "",
		trigger_doctype: frm.doc.trigger_doctype || null,
		trigger_field: frm.doc.trigger_field || null,
		applies_to: frm.doc.applies_to || null,
	};
}

export function ensure_styles() {
	if (!document.getElementById(STYLE_ID)) frappe.dom.set_style(CSS, STYLE_ID);
}

export function esc(value) {
	return frappe.utils.escape_html(value === null || value === undefined ? "" : String(value));
}

const SAFE_COLOR = /^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}|var\(--[a-z0-9-]+\))$/;

export function kind_color(kind) {
	const color = kind && typeof kind.color === "string" ? kind.color.trim() : "";
	return SAFE_COLOR.test(color) ? color : "var(--gray-600)";
}

/** The kind's round icon: its Frappe icon when the sprite has one, else its initial. */
export function kind_icon(kind, { large = false } = {}) {
	const { frappe_icon, letter } = icon_for(kind && kind.icon, kind ? __(kind.label) : "?");
	const inner =
		frappe_icon &&
		document.getElementById(
			frappe_icon.startsWith("es-") ? frappe_icon : `icon-${frappe_icon}`
		)
			? frappe.utils.icon(frappe_icon, "sm")
			: esc(letter);
	return `<span class="fe-kind-icon${large ? " fe-large" : ""}" style="--fe-kind: ${kind_color(
		kind
	)}">${inner}</span>`;
}

export function doc_url(doctype, name) {
	// Frappe's own helper: /app/… on v15, /desk/… on v16
	return frappe.utils.get_form_link(doctype, name);
}

export function doc_link(doctype, name) {
	return `<a class="fe-doc-link" href="${esc(doc_url(doctype, name))}">${esc(__(doctype))} ${esc(
		name
	)}</a>`;
}

export function indicator(label, color) {
	return `<span class="indicator-pill ${esc(color || "gray")}">${esc(label)}</span>`;
}

export function pairs_html(pairs) {
	if (!pairs || !pairs.length) return "";
	return `<dl class="fe-pairs">${pairs
		.map((pair) => `<dt>${esc(pair.key)}:</dt> <dd>${esc(pair.value)}</dd>`)
		.join("")}</dl>`;
}

/** Show a field's problem (or none) right under a dialog or form control. */
export function show_field_problem(field, message) {
	if (!field || !field.$wrapper) return;
	field.$wrapper.toggleClass("has-error", !!message);
	let $message = field.$wrapper.find(".fe-field-error");
	if (!$message.length) {
		$message = $('<div class="fe-field-error"></div>');
		const $input = field.$wrapper.find(".control-input-wrapper").first();
		if ($input.length) $message.insertAfter($input);
		else $message.appendTo(field.$wrapper);
	}
	$message.text(message || "").toggle(!!message);
}

export function datetime_text(value) {
	if (!value) return "";
	try {
		return frappe.datetime.str_to_user(String(value).replace("T", " ").slice(0, 19));
	} catch (e) {
		return String(value);
	}
}
