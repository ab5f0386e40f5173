// The editor's and the run views' styles, added to the page once (frappe.dom.set_style), so the
// bundle needs no CSS include. Frappe's CSS variables keep them right in the dark theme.

export const STYLE_ID = "flow-engine-styles";

export const CSS = `
.flow-editor { --fe-line: var(--gray-400, #c0c6cc); font-size: var(--text-md, 13px); }
.flow-editor .fe-toolbar { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin-bottom: 8px; }
.flow-editor .fe-toolbar .fe-spacer { flex: 1; }
.flow-editor .fe-status { font-size: var(--text-sm, 12px); }
.flow-editor .fe-palette { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; padding: 8px;
	border: 1px dashed var(--border-color); border-radius: var(--border-radius-md, 8px); margin-bottom: 10px; }
.flow-editor .fe-palette-title { color: var(--text-muted); font-size: var(--text-sm, 12px); margin-right: 4px; }
.fe-kind-chip { display: inline-flex; align-items: center; gap: 6px; padding: 3px 10px 3px 3px; border-radius: 999px;
	border: 1px solid var(--border-color); background: var(--card-bg, var(--fg-color)); cursor: pointer;
	font-size: var(--text-sm, 12px); color: var(--text-color); }
.fe-kind-chip:hover { border-color: var(--fe-kind, var(--primary)); box-shadow: var(--shadow-sm); }
.fe-kind-icon { display: inline-flex; align-items: center; justify-content: center; width: 22px; height: 22px;
	border-radius: 50%; color: #fff; font-weight: 600; font-size: 11px; flex: none; background: var(--fe-kind, var(--gray-600)); }
.fe-kind-icon .icon { stroke: #fff; --icon-stroke: #fff; width: 14px; height: 14px; }
.fe-kind-icon.fe-large { width: 30px; height: 30px; font-size: 13px; }
.fe-kind-icon.fe-large .icon { width: 16px; height: 16px; }
.flow-editor .fe-start { display: inline-flex; gap: 8px; align-items: center; padding: 6px 12px; border-radius: 999px;
	background: var(--bg-color); border: 1px solid var(--border-color); font-size: var(--text-sm, 12px); max-width: 100%; }
.flow-editor .fe-start code { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: 420px; display: inline-block; vertical-align: bottom; }
.flow-editor .fe-tree { overflow-x: auto; padding-bottom: 6px; }
.flow-editor .fe-group { position: relative; padding-left: 22px; min-height: 6px; }
.flow-editor .fe-group::before { content: ""; position: absolute; left: 10px; top: 0; bottom: 18px; border-left: 2px solid var(--fe-line); }
.flow-editor .fe-group.fe-empty::before { bottom: 0; }
.flow-editor .fe-node { position: relative; padding-top: 10px; }
.flow-editor .fe-node::before { content: ""; position: absolute; left: -12px; top: 30px; width: 12px; border-top: 2px solid var(--fe-line); }
.flow-editor .fe-card { position: relative; display: flex; gap: 10px; align-items: flex-start; width: 440px; max-width: 100%;
	padding: 8px 10px; background: var(--card-bg, var(--fg-color)); border: 1px solid var(--border-color);
	border-left: 4px solid var(--fe-kind, var(--gray-500)); border-radius: var(--border-radius-md, 8px); box-shadow: var(--shadow-xs, none); }
.flow-editor .fe-card.fe-has-problems { border-color: var(--red-300, #f5a3a3); border-left-color: var(--red-500, #e24c4c); }
.flow-editor .fe-card.fe-flash { animation: fe-flash 1.2s ease-out; }
@keyframes fe-flash { from { box-shadow: 0 0 0 3px var(--blue-200, #b3d4ff); } to { box-shadow: none; } }
.flow-editor .fe-drag { cursor: grab; color: var(--text-muted); padding-top: 4px; user-select: none; }
.flow-editor .fe-body { flex: 1; min-width: 0; }
.flow-editor .fe-title { font-weight: 600; color: var(--text-color); cursor: pointer; overflow-wrap: anywhere; }
.flow-editor .fe-title:hover { text-decoration: underline; }
.flow-editor .fe-meta { color: var(--text-muted); font-size: var(--text-xs, 11px); }
.flow-editor .fe-trigger { font-size: var(--text-sm, 12px); color: var(--text-color); margin-top: 2px; }
.flow-editor .fe-deps { margin-top: 4px; display: flex; flex-wrap: wrap; gap: 4px; align-items: center; font-size: var(--text-xs, 11px); }
.fe-chip { display: inline-block; padding: 0 8px; border-radius: 999px; background: var(--bg-color); border: 1px solid var(--border-color);
	font-size: var(--text-xs, 11px); line-height: 18px; cursor: pointer; color: var(--text-color); }
.fe-chip.fe-missing { border-color: var(--red-400, #f07c7c); color: var(--red-600, #c53030); }
.flow-editor .fe-problems { margin: 6px 0 0; padding-left: 16px; color: var(--red-600, #c53030); font-size: var(--text-xs, 11px); }
.flow-editor .fe-menu .dropdown-menu { min-width: 180px; }
.flow-editor .fe-sim { margin-left: 6px; }
.flow-editor .fe-branches { display: flex; gap: 18px; align-items: flex-start; margin-left: 22px; padding-top: 4px; }
.flow-editor .fe-branch { position: relative; min-width: 200px; }
.flow-editor .fe-branch-label { display: inline-block; margin: 8px 0 0 2px; padding: 0 10px; border-radius: 999px; font-size: var(--text-xs, 11px);
	line-height: 20px; font-weight: 600; background: var(--gray-100); color: var(--gray-700); border: 1px solid var(--border-color); }
.flow-editor .fe-branch-label.fe-yes { background: var(--green-50, #e6f7ec); color: var(--green-700, #1f7a3d); }
.flow-editor .fe-branch-label.fe-no { background: var(--red-50, #fdecec); color: var(--red-700, #b02a2a); }
.flow-editor .fe-branch-label.fe-unknown { background: var(--red-50, #fdecec); color: var(--red-700, #b02a2a); border-style: dashed; }
.flow-editor .fe-add-here { margin: 8px 0 0 22px; }
.flow-editor .fe-empty-flow { color: var(--text-muted); padding: 16px 0 6px 22px; }
.flow-editor .fe-detached { margin-top: 14px; padding-top: 8px; border-top: 1px dashed var(--border-color); }
.flow-editor .sortable-ghost .fe-card { opacity: 0.4; }
.flow-editor.fe-readonly .fe-drag { display: none; }
.fe-kind-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 8px; }
.fe-kind-tile { display: flex; gap: 10px; align-items: flex-start; padding: 10px; border: 1px solid var(--border-color);
	border-radius: var(--border-radius-md, 8px); cursor: pointer; background: var(--card-bg, var(--fg-color)); text-align: left; width: 100%; }
.fe-kind-tile:hover { border-color: var(--fe-kind, var(--primary)); box-shadow: var(--shadow-sm); }
.fe-kind-tile .fe-desc { color: var(--text-muted); font-size: var(--text-xs, 11px); }
.fe-field-error { color: var(--red-600, #c53030); font-size: var(--text-xs, 11px); margin-top: 2px; }
.fe-var-list { max-height: 50vh; overflow-y: auto; }
.fe-var-group { margin-bottom: 10px; }
.fe-var-group-title { font-weight: 600; font-size: var(--text-sm, 12px); margin-bottom: 4px; color: var(--text-muted); }
.fe-var-row { display: flex; align-items: center; gap: 8px; padding: 3px 6px; border-radius: 6px; }
.fe-var-row:hover { background: var(--bg-color); }
.fe-var-row .fe-var-label { flex: 1; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.fe-var-row code { font-size: var(--text-xs, 11px); }
.fe-examples { display: flex; flex-direction: column; gap: 4px; max-height: 40vh; overflow-y: auto; }
.fe-example { display: flex; gap: 8px; align-items: center; padding: 4px 6px; border-radius: 6px; border: 1px solid var(--border-color); }
.fe-example code { flex: 1; font-size: var(--text-xs, 11px); overflow-wrap: anywhere; }
.fe-inline-problem { color: var(--red-600, #c53030); font-size: var(--text-xs, 11px); margin-top: 4px; }
.fe-inline-ok { color: var(--green-700, #1f7a3d); font-size: var(--text-xs, 11px); margin-top: 4px; }
.fe-timeline { width: 100%; }
.fe-timeline td { vertical-align: top; }
.fe-timeline .fe-step-cell { display: flex; gap: 8px; align-items: flex-start; }
.fe-timeline .fe-branch-of { font-size: var(--text-xs, 11px); color: var(--text-muted); }
.fe-timeline .fe-pairs { margin: 0; font-size: var(--text-xs, 11px); }
.fe-timeline .fe-pairs dt { display: inline; color: var(--text-muted); font-weight: normal; }
.fe-timeline .fe-pairs dd { display: inline; margin: 0; overflow-wrap: anywhere; }
.fe-timeline .fe-pairs dd::after { content: ""; display: block; }
.fe-timeline .fe-attempt { font-size: var(--text-xs, 11px); color: var(--text-muted); }
.fe-timeline .fe-doc-link { display: inline-block; margin-right: 6px; }
.fe-sim-table td, .fe-sim-table th { font-size: var(--text-sm, 12px); vertical-align: top; }
.fe-sim-timeline { max-height: 30vh; overflow: auto; font-size: var(--text-xs, 11px); background: var(--bg-color); padding: 8px; border-radius: 6px; }
.fe-live { font-size: var(--text-xs, 11px); color: var(--text-muted); }
`;
