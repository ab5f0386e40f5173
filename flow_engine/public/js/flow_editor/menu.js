// A small floating menu for a step card, attached to the page body so that the tree's scrolling
// container cannot clip it. Closed by a choice, a click elsewhere, Escape or scrolling.

import { esc } from "./desk.js";

let open_menu = null;

export function close_menu() {
	if (!open_menu) return;
	open_menu.remove();
	open_menu = null;
	$(document).off(".fe_menu");
	$(window).off(".fe_menu");
}

/** items: [{label, action, danger}] or {divider: true}. */
export function show_menu(anchor, items) {
	close_menu();
	const $menu = $(`<div class="dropdown-menu show fe-floating-menu" role="menu"></div>`).css({
		position: "absolute",
		zIndex: 1030,
		minWidth: "200px",
	});
	items.forEach((item, index) => {
		if (item.divider) {
			$menu.append('<div class="dropdown-divider"></div>');
			return;
		}
		$(`<a class="dropdown-item ${item.danger ? "text-danger" : ""}" href="#" role="menuitem"
			data-index="${index}">${esc(item.label)}</a>`)
			.on("click", (event) => {
				event.preventDefault();
				close_menu();
				item.action();
			})
			.appendTo($menu);
	});
	$("body").append($menu);
	const rect = anchor.getBoundingClientRect();
	const width = $menu.outerWidth();
	const left = Math.max(8, Math.min(rect.right - width, window.innerWidth - width - 8));
	$menu.css({ top: rect.bottom + window.scrollY + 4, left: left + window.scrollX });
	open_menu = $menu;
	setTimeout(() => {
		$(document).on("mousedown.fe_menu", (event) => {
			if (!$(event.target).closest(".fe-floating-menu").length) close_menu();
		});
		$(document).on("keydown.fe_menu", (event) => {
			if (event.key === "Escape") close_menu();
		});
		$(window).on("scroll.fe_menu resize.fe_menu", close_menu);
	}, 0);
	return $menu;
}
