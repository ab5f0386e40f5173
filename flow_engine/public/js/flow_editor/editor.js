// The visual editor in the Flow Template form's `flow_editor` HTML field: the seed's vertical
// tree, one card per step, branch columns under condition and switch steps, drag and drop within
// a peer group (Frappe's bundled Sortable), a palette of kinds from the catalog. The tree and the
// `flow_definition` JSON stay in step both ways; validate_definition's problems land on the cards.

import {
	add_step,
	build_tree,
	delete_step,
	dependency_chips,
	descendants,
	duplicate_step,
	empty_definition,
	move_step,
	parse_definition,
	peer_ids,
	problems_by_step,
	serialize_definition,
	step_by_id,
	update_step,
} from "./model.js";
import { kinds_of_catalog, trigger_summary } from "./text.js";
import { STEP_STATUS_COLORS, step_status_label } from "./runs.js";
import {
	ensure_styles,
	esc,
	get_catalog,
	indicator,
	kind_color,
	kind_icon,
	show_field_problem,
	template_record,
	validate_record,
} from "./desk.js";
import { open_step_dialog } from "./step_dialog.js";
import { choose_kind } from "./palette.js";
import { show_menu } from "./menu.js";
import { open_variable_picker } from "./variable_picker.js";
import { open_condition_helper } from "./condition_helper.js";
import { open_simulation } from "./simulate.js";

const VALIDATE_DELAY_MS = 450;
const FORM_FIELD_OF_PROBLEM = {
	"trigger.condition": "trigger_condition",
	"trigger.event": "trigger_event",
	"trigger.doctype": "trigger_doctype",
	"trigger.field": "trigger_field",
};

export class FlowEditor {
	constructor(frm, wrapper) {
		this.frm = frm;
		this.$wrapper = $(wrapper);
		this.definition = empty_definition();
		this.text = null;
		this.json_error = null;
		this.problems = { flow: [], steps: {} };
		this.validated = false;
		this.catalog = { kinds: {}, events: [] };
		this.sortables = [];
		this.groups = [];
		this.simulated = null;
		this.flash = new Set();
		this.validate_seq = 0;
		this.validate_timer = null;
		this.doc_name = null;
		this.$wrapper.on("click", "[data-action]", (event) => {
			event.preventDefault();
			this.on_action(event.currentTarget);
		});
		this.$wrapper.on("change", "select.fe-catalog", (event) => {
			if (!this.editable) return;
			const definition = { ...this.definition, catalog: event.currentTarget.value };
			if (!definition.catalog || definition.catalog === "default") delete definition.catalog;
			this.commit(definition);
		});
	}

	get kinds() {
		return (this.catalog && this.catalog.kinds) || {};
	}

	/** The kinds of the definition's catalog: what the palette offers. */
	get palette_kinds() {
		return kinds_of_catalog(this.kinds, this.catalog && this.catalog.catalogs, this.definition.catalog);
	}

	get editable() {
		const perm = this.frm.perm && this.frm.perm[0];
		return !!(perm && perm.write) && !this.json_error;
	}

	async setup() {
		ensure_styles();
		try {
			this.catalog = await get_catalog();
		} catch (e) {
			this.catalog = { kinds: {}, events: [] };
		}
		return this;
	}

	// --- the JSON side ---------------------------------------------------------------------------

	/** Read frm.doc.flow_definition (after a load, a save or a keystroke in the JSON field). */
	load_from_doc(force = false) {
		const text = this.frm.doc.flow_definition || "";
		if (this.doc_name !== this.frm.doc.name) {
			// the form now shows another template: forget what was said about the previous one
			this.doc_name = this.frm.doc.name;
			this.problems = { flow: [], steps: {} };
			this.validated = false;
		}
		if (!force && text === this.text) return;
		this.text = text;
		const { definition, error } = parse_definition(text);
		if (error) {
			this.json_error = error;
		} else {
			this.json_error = null;
			this.definition = definition;
			this.simulated = null;
		}
		this.render();
		this.validate_soon();
	}

	/** A change made in the tree: into the JSON field, then drawn and validated. */
	commit(definition, changed = []) {
		this.definition = definition;
		this.text = serialize_definition(definition);
		this.json_error = null;
		this.simulated = null;
		this.flash = new Set(changed);
		this.frm.set_value("flow_definition", this.text);
		this.render();
		this.validate_soon();
	}

	// --- validation -------------------------------------------------------------------------------

	validate_soon() {
		this.validating = true;
		clearTimeout(this.validate_timer);
		this.validate_timer = setTimeout(() => this.validate(), VALIDATE_DELAY_MS);
	}

	async validate() {
		clearTimeout(this.validate_timer);
		const seq = ++this.validate_seq;
		if (this.json_error) {
			this.problems = { flow: [], steps: {} };
			this.show_form_problems([]);
			this.validating = false;
			return this.problems;
		}
		const definition = this.definition;
		let list;
		try {
			list = await validate_record(template_record(this.frm, definition));
		} catch (e) {
			if (seq === this.validate_seq) this.validating = false;
			return this.problems; // offline or no permission: the save validates anyway
		}
		if (seq !== this.validate_seq) return this.problems;
		this.validating = false;
		this.problems = problems_by_step(list, definition);
		this.validated = true;
		this.show_form_problems(this.problems.flow);
		this.render();
		return this.problems;
	}

	/** Problems of the form's trigger fields go under those fields, not in the tree. */
	show_form_problems(flow_problems) {
		const by_field = {};
		for (const problem of flow_problems) {
			const fieldname = FORM_FIELD_OF_PROBLEM[problem.field];
			if (fieldname) (by_field[fieldname] = by_field[fieldname] || []).push(problem.message);
		}
		for (const fieldname of Object.values(FORM_FIELD_OF_PROBLEM)) {
			show_field_problem(
				this.frm.get_field(fieldname),
				(by_field[fieldname] || []).join("; ")
			);
		}
	}

	problem_count() {
		return (
			this.problems.flow.length +
			Object.values(this.problems.steps).reduce((sum, list) => sum + list.length, 0)
		);
	}

	// --- drawing ----------------------------------------------------------------------------------

	render() {
		if (this.dragging) {
			this.render_after_drag = true; // redrawing now would drop the card being dragged
			return;
		}
		this.sortables.forEach((sortable) => sortable.destroy());
		this.sortables = [];
		this.groups = [];
		const tree = build_tree(this.definition, this.kinds);
		const editable = this.editable;
		const html = `
			<div class="flow-editor ${editable ? "" : "fe-readonly"}">
				${this.toolbar_html()}
				${editable ? this.palette_html() : ""}
				${this.alerts_html()}
				${this.start_html()}
				<div class="fe-tree">
					${this.group_html(null, null, tree.roots)}
					${
						tree.roots.length
							? ""
							: `<div class="fe-empty-flow">${
									editable
										? __(
												"No steps yet: pick a kind above to add the first step."
										  )
										: __("No steps.")
							  }</div>`
					}
				</div>
				${
					tree.detached.length
						? `<div class="fe-detached">
							<div class="text-muted small">${__(
								"Steps whose parent is missing or nested in a loop (fix parent_id in the JSON):"
							)}</div>
							${tree.detached.map((node) => this.node_html(node, false)).join("")}
						</div>`
						: ""
				}
			</div>`;
		this.$wrapper.html(html);
		if (editable) this.make_sortable();
		this.flash = new Set();
	}

	toolbar_html() {
		const count = this.problem_count();
		let status = "";
		if (this.json_error) status = indicator(__("JSON invalid"), "red");
		else if (this.validated && count) {
			status = indicator(count === 1 ? __("1 problem") : __("{0} problems", [count]), "red");
		} else if (this.validated) status = indicator(__("Valid"), "green");
		return `
			<div class="fe-toolbar">
				<button class="btn btn-xs btn-default" data-action="simulate">${__("Simulate")}</button>
				<button class="btn btn-xs btn-default" data-action="variables">${__("Variables")}</button>
				<button class="btn btn-xs btn-default" data-action="condition">${__("Condition Helper")}</button>
				<span class="fe-spacer"></span>
				<span class="fe-status">${status}</span>
			</div>`;
	}

	catalog_select_html() {
		const catalogs = (this.catalog && this.catalog.catalogs) || {};
		const names = Object.keys(catalogs);
		if (names.length < 2) return "";
		const current = this.definition.catalog || "default";
		const options = names
			.map(
				(name) =>
					`<option value="${esc(name)}" ${name === current ? "selected" : ""}>${esc(
						__(catalogs[name].label || name)
					)}</option>`
			)
			.join("");
		return `<label class="fe-catalog-label small text-muted">${__(
			"Kinds:"
		)} <select class="fe-catalog input-xs" title="${esc(
			__("The kind catalog this flow is made from")
		)}">${options}</select></label>`;
	}

	palette_html() {
		const chips = Object.values(this.palette_kinds)
			.map(
				(kind) => `
				<button class="fe-kind-chip" data-action="add" data-kind="${esc(kind.name)}"
					style="--fe-kind: ${kind_color(kind)}" title="${esc(__(kind.description || ""))}">
					${kind_icon(kind)} ${esc(__(kind.label))}
				</button>`
			)
			.join("");
		return `<div class="fe-palette">${this.catalog_select_html()}<span class="fe-palette-title">${__(
			"Add a step:"
		)}</span>${chips}</div>`;
	}

	alerts_html() {
		const alerts = [];
		if (this.json_error) {
			alerts.push(
				`<div class="alert alert-danger small">${__(
					"The Flow Definition JSON below is not valid ({0}). The tree shows the last valid flow and cannot be edited until the JSON is fixed.",
					[esc(this.json_error)]
				)}</div>`
			);
		}
		const flow_problems = this.problems.flow.filter((p) => !FORM_FIELD_OF_PROBLEM[p.field]);
		if (flow_problems.length) {
			alerts.push(
				`<div class="alert alert-warning small"><b>${__(
					"Problems in the flow"
				)}</b><ul class="mb-0">${flow_problems
					.map(
						(p) =>
							`<li>${esc(p.step ? `${p.step}: ` : "")}${esc(p.field)}: ${esc(
								p.message
							)}</li>`
					)
					.join("")}</ul></div>`
			);
		}
		return alerts.join("");
	}

	start_html() {
		const doc = this.frm.doc;
		const event = ((this.catalog && this.catalog.events) || []).find(
			(e) => e.name === doc.trigger_event
		);
		const event_label = event ? __(event.label) : doc.trigger_event || __("manual");
		const doctype = doc.trigger_doctype || doc.applies_to;
		const condition = (doc.trigger_condition || "").trim();
		return `
			<div class="fe-start" title="${esc(event && event.description ? __(event.description) : "")}">
				${frappe.utils.icon("es-line-zap", "sm")}
				<b>${esc(event_label)}</b>
				${doctype ? `<span class="text-muted">${esc(__(doctype))}</span>` : ""}
				${
					condition
						? `<span class="text-muted">${__("if")}</span> <code>${esc(
								condition.replace(/\s+/g, " ")
						  )}</code>`
						: ""
				}
			</div>`;
	}

	register_group(parent_id, branch) {
		this.groups.push({ parent_id, branch });
		return this.groups.length - 1;
	}

	group_html(parent_id, branch, nodes) {
		const index = this.register_group(parent_id, branch);
		return `<div class="fe-group ${
			nodes.length ? "" : "fe-empty"
		}" data-group="${index}">${nodes
			.map((node) => this.node_html(node, true))
			.join("")}</div>`;
	}

	node_html(node, in_group) {
		const step = node.step;
		const kind = node.kind;
		const problems = this.problems.steps[step.id] || [];
		const chips = dependency_chips(this.definition, step)
			.map(
				(chip) =>
					`<span class="fe-chip ${
						chip.missing ? "fe-missing" : ""
					}" data-action="focus" data-id="${esc(chip.id)}"
						title="${esc(chip.id)}">${esc(chip.label)}</span>`
			)
			.join("");
		const retry =
			step.retry && step.retry.max_attempts
				? ` · ${__("{0} attempts", [step.retry.max_attempts])}`
				: "";
		const simulated = this.simulated && this.simulated[step.id];
		const card = `
			<div class="fe-card ${problems.length ? "fe-has-problems" : ""} ${
			this.flash.has(step.id) ? "fe-flash" : ""
		}"
				style="--fe-kind: ${kind_color(kind)}" data-id="${esc(step.id)}">
				${
					in_group && this.editable
						? `<span class="fe-drag" title="${esc(__("Drag to reorder"))}">⠿</span>`
						: ""
				}
				${kind_icon(kind, { large: true })}
				<div class="fe-body">
					<div class="fe-title" data-action="edit" data-id="${esc(step.id)}">${esc(
			step.label || step.id
		)}</div>
					<div class="fe-meta">${esc(kind ? __(kind.label) : __("Unknown kind {0}", [step.kind]))} · ${esc(
			step.id
		)}${esc(retry)}</div>
					<div class="fe-trigger">${frappe.utils.icon("es-line-time", "xs")} ${esc(
			trigger_summary(step, this.definition)
		)}</div>
					${
						chips
							? `<div class="fe-deps"><span class="text-muted">${__(
									"After"
							  )}</span> ${chips}${
									step.join === "any" && (step.depends_on || []).length > 1
										? ` <span class="text-muted">(${__("any")})</span>`
										: ""
							  }</div>`
							: ""
					}
					${
						problems.length
							? `<ul class="fe-problems">${problems
									.map((p) => `<li>${esc(p.field)}: ${esc(p.message)}</li>`)
									.join("")}</ul>`
							: ""
					}
				</div>
				${
					simulated
						? `<span class="fe-sim">${indicator(
								step_status_label(simulated),
								STEP_STATUS_COLORS[simulated]
						  )}</span>`
						: ""
				}
				<button class="btn btn-xs btn-default fe-menu-button" data-action="menu" data-id="${esc(step.id)}"
					title="${esc(__("Step menu"))}" aria-label="${esc(__("Step menu"))}">${frappe.utils.icon(
			"dot-horizontal",
			"xs"
		)}</button>
			</div>`;
		const branch_groups = node.groups.filter(
			(group) => group.branch !== null || (kind && kind.has_branches)
		);
		const plain_groups = node.groups.filter(
			(group) => !(group.branch !== null || (kind && kind.has_branches))
		);
		const branches = branch_groups.length
			? `<div class="fe-branches">${branch_groups
					.map((group) => {
						const label = group.branch === null ? __("(no branch)") : group.branch;
						const css = !group.known
							? "fe-unknown"
							: group.branch === "yes"
							? "fe-yes"
							: group.branch === "no"
							? "fe-no"
							: "";
						const body = this.group_html(step.id, group.branch, group.nodes);
						const add = this.editable
							? `<button class="btn btn-xs btn-default fe-add-here" data-action="add-child"
									data-id="${esc(step.id)}" data-group="${this.register_group(step.id, group.branch)}">
									+ ${__("Add step")}</button>`
							: "";
						return `<div class="fe-branch"><span class="fe-branch-label ${css}"
							title="${group.known ? "" : esc(__("Not a branch of this step"))}">${esc(
							label
						)}</span>${body}${add}</div>`;
					})
					.join("")}</div>`
			: "";
		const children = plain_groups
			.map((group) => this.group_html(step.id, null, group.nodes))
			.join("");
		return `<div class="fe-node" data-id="${esc(
			step.id
		)}">${card}${branches}${children}</div>`;
	}

	make_sortable() {
		if (!window.Sortable) return;
		this.$wrapper.find(".fe-group[data-group]").each((_, element) => {
			const group = this.groups[Number(element.dataset.group)];
			if (!group || element.querySelectorAll(":scope > .fe-node").length < 2) return;
			this.sortables.push(
				new window.Sortable(element, {
					handle: ".fe-drag",
					draggable: ".fe-node",
					group: { name: `fe-group-${element.dataset.group}`, pull: false, put: false },
					animation: 150,
					fallbackOnBody: true,
					swapThreshold: 0.65,
					onStart: () => {
						this.dragging = true;
					},
					onEnd: (event) => {
						this.dragging = false;
						const id = event.item && event.item.dataset.id;
						const redraw = this.render_after_drag;
						this.render_after_drag = false;
						// after Sortable has finished with the DOM it is about to lose
						setTimeout(() => {
							if (id && event.oldDraggableIndex !== event.newDraggableIndex) {
								this.move(id, event.newDraggableIndex);
							} else if (redraw) {
								this.render();
							}
						}, 0);
					},
				})
			);
		});
	}

	// --- actions ----------------------------------------------------------------------------------

	on_action(element) {
		const action = element.dataset.action;
		const id = element.dataset.id;
		if (action === "simulate") return this.simulate();
		if (action === "variables") return this.show_variables();
		if (action === "condition") return open_condition_helper(this.frm, this);
		if (action === "focus") return this.focus_step(id);
		if (action === "edit") return this.edit(id);
		if (!this.editable) return;
		if (action === "add") return this.add(element.dataset.kind, {});
		if (action === "add-child") {
			const group = this.groups[Number(element.dataset.group)] || {
				parent_id: id,
				branch: null,
			};
			return this.pick_and_add({ parent_id: group.parent_id, branch: group.branch });
		}
		if (action === "menu") return this.show_step_menu(element, id);
	}

	show_step_menu(anchor, id) {
		const step = step_by_id(this.definition, id);
		if (!step) return;
		const kind = this.kinds[step.kind];
		const peers = peer_ids(this.definition, step.parent_id || null, step.branch ?? null);
		const position = peers.indexOf(id);
		const items = [{ label: __("Edit"), action: () => this.edit(id) }];
		if (this.editable) {
			items.push({ label: __("Duplicate"), action: () => this.duplicate(id) });
			items.push({
				label: __("Add step after"),
				action: () =>
					this.pick_and_add({
						parent_id: step.parent_id || null,
						branch: step.branch ?? null,
						after_id: id,
					}),
			});
			if (kind && kind.has_branches) {
				const tree = build_tree(this.definition, this.kinds);
				const find = (nodes) => {
					for (const node of nodes) {
						if (node.step.id === id) return node;
						for (const group of node.groups) {
							const found = find(group.nodes);
							if (found) return found;
						}
					}
					return null;
				};
				const node = find([...tree.roots, ...tree.detached]);
				for (const group of (node && node.groups) || []) {
					if (group.branch === null) continue;
					items.push({
						label: __("Add child in branch {0}", [group.branch]),
						action: () => this.pick_and_add({ parent_id: id, branch: group.branch }),
					});
				}
			} else {
				items.push({
					label: __("Add child step"),
					action: () => this.pick_and_add({ parent_id: id, branch: null }),
				});
			}
			if (position > 0)
				items.push({ label: __("Move up"), action: () => this.move(id, position - 1) });
			if (position >= 0 && position < peers.length - 1) {
				items.push({ label: __("Move down"), action: () => this.move(id, position + 1) });
			}
			items.push({ divider: true });
			items.push({ label: __("Delete"), danger: true, action: () => this.remove(id) });
		}
		show_menu(anchor, items);
	}

	async pick_and_add(target) {
		const kind_name = await choose_kind(this.palette_kinds, target, this.definition);
		if (kind_name) this.add(kind_name, target);
	}

	add(kind_name, target) {
		const { definition, step } = add_step(
			this.definition,
			this.kinds,
			kind_name,
			target || {}
		);
		this.commit(definition, [step.id]);
		this.edit(step.id, { is_new: true });
	}

	duplicate(id) {
		const { definition, step } = duplicate_step(this.definition, id);
		if (step) this.commit(definition, [step.id]);
	}

	move(id, to_index) {
		const { definition, changed } = move_step(this.definition, id, to_index);
		this.commit(definition, [id, ...changed]);
	}

	remove(id) {
		const nested = descendants(this.definition, id).size;
		const label = (step_by_id(this.definition, id) || {}).label || id;
		const message = nested
			? __("Delete {0} and the {1} steps nested under it?", [esc(label), nested])
			: __("Delete {0}?", [esc(label)]);
		frappe.confirm(message, () => {
			const { definition, changed } = delete_step(this.definition, id);
			this.commit(definition, changed);
		});
	}

	edit(id, options = {}) {
		const step = step_by_id(this.definition, id);
		if (!step) return;
		open_step_dialog({
			editor: this,
			step,
			is_new: !!options.is_new,
			read_only: !this.editable,
			on_apply: (edited) => {
				if (JSON.stringify(edited) === JSON.stringify(step_by_id(this.definition, id)))
					return;
				this.commit(update_step(this.definition, id, edited), [edited.id]);
			},
		});
	}

	focus_step(id) {
		const $card = this.$wrapper.find(`.fe-card[data-id="${CSS.escape(id)}"]`);
		if (!$card.length) return;
		$card[0].scrollIntoView({ behavior: "smooth", block: "center" });
		$card.removeClass("fe-flash");
		setTimeout(() => $card.addClass("fe-flash"), 10);
	}

	show_variables() {
		open_variable_picker({
			applies_to: this.frm.doc.applies_to,
			definition: this.definition,
			title: __("Variables you can use in templates"),
		});
	}

	async simulate() {
		if (this.frm.is_new() || this.frm.is_dirty()) {
			frappe.confirm(__("The simulator runs the saved template. Save it now?"), async () => {
				try {
					await this.frm.save();
				} catch (e) {
					return; // the form shows why it could not be saved
				}
				if (!this.frm.is_new() && !this.frm.is_dirty()) open_simulation(this.frm, this);
			});
			return;
		}
		open_simulation(this.frm, this);
	}

	/** Simulated statuses on the cards ({step_id: status}); cleared by the next edit. */
	show_simulation(statuses) {
		this.simulated = statuses;
		this.render();
	}
}
