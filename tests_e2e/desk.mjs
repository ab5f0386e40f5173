// What both browser tests share: the browser, a run of named checks with screenshots and the
// page's errors, and the desk's dialogs and editor as the tests drive them.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const BASE = process.env.E2E_URL || "http://flow.localhost:8000";
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const SHOTS = process.env.E2E_SHOTS || "/tmp/shots";
export const KEEP = process.argv.includes("--keep");
export const STAMP = Date.now().toString(36);

export function launch(extra_args = []) {
	mkdirSync(SHOTS, { recursive: true });
	return chromium.launch({
		executablePath: CHROMIUM,
		args: [
			"--no-sandbox",
			"--disable-gpu",
			"--disable-quic",
			"--no-first-run",
			"--disable-background-networking",
			"--disable-component-update",
			"--disable-sync",
			...extra_args,
		],
	});
}

/** Named checks on `page`: `step(name, fn)` counts and prints them, a failure leaves a
 * screenshot; errors thrown in the page are kept, ours apart from Frappe's own. */
export function checks(page, prefix = "") {
	const run = { passed: 0, current: "", page_errors: [], other_errors: [] };
	page.on("pageerror", (error) => {
		const text = `${run.current}: ${error.message}\n${(error.stack || "")
			.split("\n")
			.slice(0, 4)
			.join("\n")}`;
		// ours: the bundle, or a doctype script (Frappe names those <doctype>__js)
		if (/flow_engine|__js|flow_editor/.test(error.stack || "")) run.page_errors.push(text);
		else run.other_errors.push(text);
	});
	run.shot = (name) => page.screenshot({ path: join(SHOTS, `${prefix}${name}.png`), fullPage: true });
	run.step = async (name, fn) => {
		run.current = name;
		const started = Date.now();
		try {
			await fn();
		} catch (error) {
			await run.shot(`FAILED-${name.replace(/\W+/g, "_")}`).catch(() => {});
			throw error;
		}
		run.passed++;
		console.log(`ok ${run.passed} - ${name} (${Date.now() - started} ms)`);
	};
	return run;
}

/** The desk as the tests drive it: API calls, the form's definition, dialogs, the editor. */
export function desk(page) {
	const modal = () => page.locator(".modal.show").last();
	const open_modals = () => page.evaluate(() => document.querySelectorAll(".modal.show").length);
	const wait_modal_closed = (count_before) =>
		page.waitForFunction((n) => document.querySelectorAll(".modal.show").length < n, count_before);
	return {
		call: (method, args = {}) => page.evaluate(([m, a]) => frappe.xcall(m, a), [method, args]),
		definition: () => page.evaluate(() => JSON.parse(cur_frm.doc.flow_definition || "{}")),
		modal,
		field: (name) => modal().locator(`[data-fieldname="${name}"]`).first(),
		run_timeline: () =>
			page.locator('#page-Flow\\ Run .frappe-control[data-fieldname="timeline"] .fe-timeline'),
		card: (id) => page.locator(`.flow-editor .fe-card[data-id="${id}"]`),
		open_modals,
		wait_modal_closed,
		async close_modal() {
			const before = await open_modals();
			await modal().locator(".btn-modal-close").click();
			await wait_modal_closed(before);
		},
		async apply_step_dialog() {
			const before = await open_modals();
			await modal().locator(".btn-modal-primary").click();
			await wait_modal_closed(before);
		},
		/** Wait until the dialog with this field is shown (Frappe sets cur_dialog once it is). */
		dialog_with: (fieldname) =>
			page.waitForFunction(
				(name) => window.cur_dialog && cur_dialog.display && cur_dialog.fields_dict[name],
				fieldname
			),
		async wait_validated() {
			await page.waitForFunction(() => {
				const editor = cur_frm && cur_frm.flow_editor;
				return editor && editor.validated && !editor.validating;
			});
			await page.waitForTimeout(700);
		},
	};
}

/** Delete, as the user logged in on `on`, a test's customer (with its runs, their effects and
 * queue rows), its template, and optionally a user of its own with the Contact Frappe made for
 * it. True when that user is still there afterwards. */
export function remove_records(on, customer, template, user = null) {
	return on.evaluate(
		async ([customer_name, template_name, user_name]) => {
			const remove = (doctype, name) =>
				frappe.xcall("frappe.client.delete", { doctype, name }).catch(() => null);
			const list = (doctype, filters) =>
				frappe.xcall("frappe.client.get_list", {
					doctype,
					filters,
					fields: ["name"],
					limit_page_length: 100,
				});
			if (customer_name) {
				for (const run of await list("Flow Run", {
					context_doctype: "Customer",
					context_docname: customer_name,
				})) {
					for (const effect of await list("Flow Effect", { flow_run: run.name }))
						await remove("Flow Effect", effect.name);
					for (const row of await list("Flow Step Pending", { flow_run: run.name }))
						await remove("Flow Step Pending", row.name);
					await remove("Flow Run", run.name);
				}
			}
			if (template_name) await remove("Flow Template", template_name);
			if (customer_name) await remove("Customer", customer_name);
			if (!user_name) return false;
			await remove("User", user_name);
			// the Contact Frappe made for the user and does not delete with it
			for (const contact of await list("Contact", { email_id: user_name }))
				await remove("Contact", contact.name);
			return !!(await frappe.db.exists("User", user_name));
		},
		[customer, template, user]
	);
}
