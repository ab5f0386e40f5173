// End-to-end check that flow_engine's desk UI speaks French (not part of CI).
//
//   cd tests_e2e && npm ci && node flow_editor_fr.e2e.mjs [--keep]
//
// Needs flow_engine/locale/fr.po compiled on the bench (`bench compile-po-to-mo --app
// flow_engine --locale fr --force`, or `bench build --app flow_engine`) and the cache cleared.
// Environment: E2E_URL (default http://flow.localhost:8000), E2E_USER / E2E_PASSWORD (an
// administrator, Administrator / admin), CHROMIUM (/usr/bin/chromium), E2E_SHOTS (/tmp/shots).
//
// As the administrator it creates a user of its own (System Manager and Sales Master Manager,
// language fr) and a Customer, then logs in as that user and checks French text in: the Flow
// Template form (labels, tabs, sections, a Select's options), the editor (toolbar, palette,
// cards, step menu), a step's dialog (title, sections, labels, trigger choices, problems under
// the fields), the server's messages that go through _() (the "Invalid flow" title, a step naming
// a DocType that does not exist, a duplicate template name), the simulation, the "Flows" group of
// a Customer, a Flow Run's form and timeline (completing its waiting step), the Flow Run list and
// the workspace. Every expected string is a msgstr of flow_engine/locale/fr.po.
// It removes what it made (its runs, template, customer, the user and the Contact Frappe made for
// it) unless --keep is given. What stays is Frappe's own audit trail, as the other e2e test leaves
// for its records: the user's logins (Activity Log), the Version the flow's update step wrote on
// the customer, the "Shared" Comment Frappe wrote on the user, its time_zone row in
// tabDefaultValue (Frappe does not delete it with the user, and no API does) and a Deleted
// Document per deletion.

import assert from "node:assert/strict";

import { BASE, KEEP, SHOTS, STAMP, checks, desk, launch, remove_records } from "./desk.mjs";

const ADMIN = process.env.E2E_USER || "Administrator";
const ADMIN_PASSWORD = process.env.E2E_PASSWORD || "admin";
const FR_USER = `e2e-fr-${STAMP}@example.com`;
const FR_PASSWORD = `Fr-${STAMP}-Qx7!mZ2#pL`;

const browser = await launch(["--lang=en-US"]); // the browser's language must not matter: the user's does
// two sessions: the administrator (makes and removes the user) and the French user
const admin = await (await browser.newContext()).newPage();
const page = await (
	await browser.newContext({ viewport: { width: 1440, height: 1000 }, locale: "en-US" })
).newPage();
const run = checks(page, "fr-");
const { step, shot } = run;
const {
	call,
	modal,
	field,
	run_timeline,
	card,
	open_modals,
	dialog_with,
	close_modal,
	apply_step_dialog,
	wait_validated,
} = desk(page);
const admin_call = (method, args = {}) =>
	admin.evaluate(([m, a]) => frappe.xcall(m, a), [method, args]);
const form_label = (name) =>
	page
		.locator(
			`.frappe-control[data-fieldname="${name}"] .control-label, .frappe-control[data-fieldname="${name}"] label`
		)
		.first();
const text_of = async (locator) => (await locator.innerText()).replace(/\s+/g, " ").trim();
// the desk's prefix, read after login: /app on Frappe v15, /desk on v16
let DESK = "/app";

/** Press Ctrl+S on a form that the server refuses: the message dialog's title and text. */
async function refused_save() {
	const before = await open_modals();
	await page.keyboard.press("Control+s");
	await page.waitForFunction(
		(n) => document.querySelectorAll(".modal.show").length > n,
		before,
		{
			timeout: 30000,
		}
	);
	const dialog = modal();
	const title = await text_of(dialog.locator(".modal-title"));
	const body = await text_of(dialog.locator(".modal-body"));
	await close_modal();
	return { title, body };
}

async function login(on, user, password) {
	await on.goto(`${BASE}/login`);
	await on.fill("#login_email", user);
	await on.fill("#login_password", password);
	await on.click(".btn-login");
	await on.waitForURL(/\/(app|desk)(\/|$)/, { timeout: 60000 });
	await on.waitForFunction(() => window.frappe && frappe.boot && frappe.boot.user);
	return new URL(on.url()).pathname.startsWith("/desk") ? "/desk" : "/app";
}

let user_made = false;
let customer = null;
let template = null;
let error_template = null;

try {
	await step("the administrator makes a French-speaking System Manager", async () => {
		await login(admin, ADMIN, ADMIN_PASSWORD);
		const doc = await admin_call("frappe.client.insert", {
			doc: {
				doctype: "User",
				email: FR_USER,
				first_name: "E2E",
				last_name: `Français ${STAMP}`,
				language: "fr",
				user_type: "System User",
				send_welcome_email: 0,
				new_password: FR_PASSWORD,
				// System Manager for the desk and flow_engine; ERPNext gives Customers to the
				// sales roles only (a flow is started on a document one may write)
				roles: [{ role: "System Manager" }, { role: "Sales Master Manager" }],
			},
		});
		user_made = true;
		assert.equal(doc.language, "fr");
	});

	await step("log in as that user: the desk is in French", async () => {
		DESK = await login(page, FR_USER, FR_PASSWORD);
		assert.equal(await page.evaluate(() => frappe.boot.lang), "fr");
		// flow_engine's catalog is loaded (fr.po compiled into sites/assets/locale/fr/…)
		const probe = await page.evaluate(() => [
			__("Flow Template"),
			__("Add a step:"),
			__("Update document"),
			__("{0} attempts", [3]),
		]);
		assert.deepEqual(
			probe,
			["Modèle de flux", "Ajouter une étape :", "Mettre à jour un document", "3 tentatives"],
			"fr.po compiled and the cache cleared? (bench compile-po-to-mo --app flow_engine --force; bench clear-cache)"
		);
	});

	await step("a customer of our own", async () => {
		const doc = await admin_call("frappe.client.insert", {
			doc: {
				doctype: "Customer",
				customer_name: `E2E Client FR ${STAMP}`,
				customer_type: "Company",
			},
		});
		customer = doc.name;
		assert.ok(customer);
	});

	await step("new Flow Template: the form's labels, tabs and sections", async () => {
		await page.goto(`${BASE}${DESK}/flow-template/new`);
		await page.waitForSelector(".flow-editor .fe-palette .fe-kind-chip", { timeout: 60000 });
		const labels = {};
		for (const name of [
			"template_name",
			"category",
			"applies_to",
			"is_active",
			"trigger_event",
			"trigger_condition",
			"flow_definition",
		])
			labels[name] = await text_of(form_label(name));
		assert.deepEqual(labels, {
			template_name: "Nom du Modèle",
			category: "Catégorie",
			applies_to: "S’applique à",
			is_active: "Actif",
			trigger_event: "Événement déclencheur",
			trigger_condition: "Condition de déclenchement",
			flow_definition: "Définition du flux",
		});
		const tabs = await page.locator(".form-tabs .nav-link").allInnerTexts();
		assert.deepEqual(
			tabs.map((t) => t.trim()),
			["Flux", "Détails"]
		);
		const sections = (await page.locator(".form-section .section-head").allInnerTexts()).map(
			(t) => t.trim()
		);
		assert.ok(sections.includes("Déclencheur"), `sections: ${sections}`);
		assert.ok(sections.includes("Étapes"), `sections: ${sections}`);
		// a Select shows its options translated, and keeps the code
		const category = await page.evaluate(() =>
			[...document.querySelectorAll('[data-fieldname="category"] select option')].map(
				(o) => [o.value, o.textContent.trim()]
			)
		);
		assert.ok(
			category.some(([value, text]) => value === "residential" && text === "résidentiel"),
			JSON.stringify(category)
		);
		await page.fill('[data-fieldname="template_name"] input', `E2E flux ${STAMP}`);
		await page.evaluate(() => cur_frm.set_value("applies_to", "Customer"));
	});

	await step("the editor: toolbar, palette and empty tree", async () => {
		const toolbar = await page.locator(".flow-editor .fe-toolbar button").allInnerTexts();
		assert.deepEqual(
			toolbar.map((t) => t.trim()),
			["Simuler", "Variables", "Assistant de condition"]
		);
		assert.equal(await text_of(page.locator(".fe-palette-title")), "Ajouter une étape :");
		assert.equal(
			await text_of(page.locator('.fe-kind-chip[data-kind="erp_update"]')),
			"Mettre à jour un document"
		);
		assert.equal(
			await page.locator('.fe-kind-chip[data-kind="notify"]').getAttribute("title"),
			"Envoyer un e-mail, un SMS ou une notification dans l'application"
		);
		assert.equal(
			await text_of(page.locator(".fe-empty-flow")),
			"Pas encore d'étape : choisissez un type ci-dessus pour ajouter la première étape."
		);
		assert.match(await text_of(page.locator(".fe-start")), /manuel|Manuel/);
		await shot("01-editor");
	});

	await step("a step's dialog: title, sections, labels, inline problems", async () => {
		await page.click('.fe-kind-chip[data-kind="erp_update"]');
		await dialog_with("payload__doctype");
		assert.equal(
			await page.evaluate(() => cur_dialog.title),
			"Nouvelle étape : Mettre à jour un document"
		);
		const sections = (await modal().locator(".section-head").allInnerTexts()).map((t) =>
			t.trim()
		);
		for (const expected of [
			"Étape",
			"Quand elle s'exécute",
			"Paramètres : Mettre à jour un document",
			"Politique de nouvelles tentatives",
		])
			assert.ok(sections.includes(expected), `${expected} in ${sections}`);
		assert.equal(await text_of(field("label").locator(".control-label")), "Étiquette");
		assert.equal(
			await text_of(field("trigger__type").locator(".control-label")),
			"Se déclenche"
		);
		assert.equal(
			await text_of(field("payload__docname_ref").locator(".control-label")),
			"Nom du document"
		);
		const triggers = await field("trigger__type")
			.locator("select option")
			.evaluateAll((options) => options.map((o) => [o.value, o.textContent.trim()]));
		assert.deepEqual(triggers.slice(0, 2), [
			["on_flow_start", "Au démarrage du flux"],
			["on_prev_complete", "Quand ses dépendances sont terminées"],
		]);
		assert.equal(await text_of(modal().locator(".btn-modal-primary")), "Appliquer");
		assert.equal(
			await text_of(modal().locator(".btn-insert-variable").first()),
			"Insérer une variable"
		);
		// the required DocType is empty: marked under the field, in French
		await page.waitForFunction(() =>
			/obligatoire/.test(
				cur_dialog.$wrapper
					.find('[data-fieldname="payload__doctype"] .fe-field-error')
					.text()
			)
		);
		// Apply refuses, saying so
		await modal().locator(".btn-modal-primary").click();
		await page.waitForFunction(
			() =>
				[...document.querySelectorAll("#alert-container .desk-alert")].some((a) =>
					/Corrigez d'abord les champs marqués en rouge/.test(a.textContent)
				),
			null,
			{ timeout: 10000 }
		);
		await field("label").locator("input").fill("Note sur le client");
		await field("payload__doctype").locator("input").fill("Customer");
		await page.evaluate(() => {
			cur_dialog.set_value("payload__docname_ref", "{{ doc.name }}");
			cur_dialog.set_value("payload__fields_json", '{"customer_details": "Flux e2e"}');
		});
		await page.waitForFunction(
			() => !cur_dialog.$wrapper.find(".fe-field-error:visible").text(),
			null,
			{ timeout: 15000 }
		);
		await shot("02-step-dialog");
		await apply_step_dialog();
		await card("erp_update_1").waitFor();
		assert.match(
			await text_of(card("erp_update_1").locator(".fe-meta")),
			/^Mettre à jour un document · erp_update_1/
		);
		assert.equal(
			await text_of(card("erp_update_1").locator(".fe-trigger")),
			"Au démarrage du flux"
		);
	});

	await step("a waiting step: its trigger said in French on its card", async () => {
		await page.click('.fe-kind-chip[data-kind="wait"]');
		await dialog_with("trigger__type");
		assert.equal(await page.evaluate(() => cur_dialog.title), "Nouvelle étape : Attente");
		await field("label").locator("input").fill("Appeler le client");
		await field("trigger__type").locator("select").selectOption("manual");
		await page.evaluate(() => cur_dialog.set_value("retry__max_attempts", "30"));
		await page.waitForFunction(() =>
			/doit être compris entre 1 et 25/.test(
				cur_dialog.$wrapper
					.find('[data-fieldname="retry__max_attempts"] .fe-field-error')
					.text()
			)
		);
		await page.evaluate(() => cur_dialog.set_value("retry__max_attempts", "2"));
		await page.waitForFunction(
			() =>
				!cur_dialog.$wrapper
					.find('[data-fieldname="retry__max_attempts"] .fe-field-error')
					.text()
		);
		await apply_step_dialog();
		await card("wait_1").waitFor();
		assert.equal(
			await text_of(card("wait_1").locator(".fe-trigger")),
			"Attend que quelqu'un la termine"
		);
		assert.match(await text_of(card("wait_1").locator(".fe-meta")), /2 tentatives$/);
		assert.match(
			await text_of(card("wait_1").locator(".fe-deps")),
			/^Après Note sur le client/
		);
		await wait_validated();
		assert.equal(await text_of(page.locator(".fe-status")), "Valide");
	});

	await step(
		"a step missing a required field: counted, and the save refused in French",
		async () => {
			await page.click('.fe-kind-chip[data-kind="notify"]');
			await dialog_with("payload__to");
			await close_modal();
			await page.waitForSelector('.fe-card.fe-has-problems[data-id="notify_1"]', {
				timeout: 15000,
			});
			await wait_validated();
			assert.match(
				await text_of(page.locator(".fe-status")),
				/^(1 problème|\d+ problèmes)$/
			);
			await shot("03-problems");
			const { title } = await refused_save();
			assert.equal(title, "Flux non valide");
			// the step's menu, then its deletion
			await card("notify_1").locator('[data-action="menu"]').click();
			const items = (
				await page.locator(".fe-floating-menu .dropdown-item").allInnerTexts()
			).map((t) => t.trim());
			for (const expected of [
				"Modifier",
				"Dupliquer",
				"Ajouter une étape après",
				"Supprimer",
			])
				assert.ok(items.includes(expected), `${expected} in ${items}`);
			await page
				.locator(".fe-floating-menu .dropdown-item", { hasText: "Supprimer" })
				.click();
			// a new step is named after its kind, in the user's language
			assert.equal(await text_of(modal().locator(".modal-body")), "Supprimer Notifier ?");
			await modal().locator(".btn-modal-primary").click();
			await card("notify_1").waitFor({ state: "detached" });
		}
	);

	await step(
		"a step naming a DocType that does not exist: the server says so in French",
		async () => {
			await page.evaluate(() => {
				const flow = JSON.parse(cur_frm.doc.flow_definition);
				flow.steps.push({
					id: "wait_for_event_1",
					kind: "wait_for_event",
					label: "Attendre",
					depends_on: ["wait_1"],
					payload: { doctype: "E2E No Such DocType", event: "update", timeout_hours: 2 },
				});
				return cur_frm.set_value("flow_definition", JSON.stringify(flow, null, 1));
			});
			await card("wait_for_event_1").waitFor();
			assert.match(
				await text_of(card("wait_for_event_1").locator(".fe-meta")),
				/^Attendre un événement · wait_for_event_1/
			);
			const { title, body } = await refused_save();
			assert.equal(title, "Flux non valide");
			assert.match(body, /payload\.doctype: aucun DocType 'E2E No Such DocType'/);
			await page.evaluate(() => {
				const flow = JSON.parse(cur_frm.doc.flow_definition);
				flow.steps = flow.steps.filter((s) => s.id !== "wait_for_event_1");
				cur_frm.flow_editor.commit(flow);
			});
			await card("wait_for_event_1").waitFor({ state: "detached" });
		}
	);

	await step(
		"save: the template is kept, and a second one of that name is refused",
		async () => {
			await page.keyboard.press("Control+s");
			await page.waitForFunction(
				() => cur_frm && !cur_frm.is_new() && !cur_frm.is_dirty(),
				null,
				{ timeout: 30000 }
			);
			template = await page.evaluate(() => cur_frm.doc.name);
			assert.match(template, /^FT-/);
			const stored = await call("flow_engine.api.get_template", { name: template });
			assert.deepEqual(
				stored.flow_definition.steps.map((s) => s.id),
				["erp_update_1", "wait_1"]
			);
			// the form's own buttons once saved
			for (const label of ["Simuler", "Exécutions", "Dupliquer"])
				assert.equal(
					(await page
						.locator(".page-actions .btn, .page-head .btn", { hasText: label })
						.count()) > 0,
					true,
					`button ${label}`
				);
			const before = await open_modals();
			await page.evaluate(
				(name) =>
					frappe
						.xcall("frappe.client.insert", {
							doc: {
								doctype: "Flow Template",
								template_name: name,
								category: "other",
							},
						})
						.catch(() => null),
				`E2E flux ${STAMP}`
			);
			await page.waitForFunction(
				(n) => document.querySelectorAll(".modal.show").length > n,
				before,
				{ timeout: 30000 }
			);
			const message = await text_of(modal().locator(".modal-body"));
			assert.match(
				message,
				new RegExp(
					`Un modèle nommé E2E flux ${STAMP} existe déjà dans la catégorie other \\(${template}\\)`
				)
			);
			await close_modal();
		}
	);

	await step("simulate against our customer", async () => {
		await page.locator('.flow-editor [data-action="simulate"]').click();
		await dialog_with("docname");
		assert.equal(await page.evaluate(() => cur_dialog.title), `Simuler E2E flux ${STAMP}`);
		assert.equal(
			await text_of(field("docname").locator(".control-label")),
			"Client pour la simulation"
		);
		assert.equal(await text_of(field("until").locator(".control-label")), "Simuler jusqu'à");
		await page.evaluate((name) => cur_dialog.set_value("docname", name), customer);
		// the Link control checks the name on the server before it keeps it
		await page.waitForTimeout(800);
		await page.waitForFunction((name) => cur_dialog.get_value("docname") === name, customer);
		assert.equal(await text_of(modal().locator(".btn-modal-primary")), "Lancer la simulation");
		await modal().locator(".btn-modal-primary").click();
		await page.waitForSelector(".modal.show .fe-sim-result", { timeout: 60000 });
		const result = modal().locator(".fe-sim-result");
		const headers = (await result.locator("thead th").allInnerTexts()).map((t) => t.trim());
		assert.deepEqual(headers, ["Quand", "Étape", "Statut", "Détails"]);
		const text = await text_of(result);
		// one update step: one side effect, in the singular
		assert.match(text, /; 1 effet de bord enregistré, aucun réalisé/);
		assert.match(text, /Terminé/);
		await shot("04-simulation");
		await close_modal();
	});

	await step("the customer's Flux group, and a run started from it", async () => {
		await page.goto(`${BASE}${DESK}/customer/${encodeURIComponent(customer)}`);
		const group = page.locator('.inner-group-button[data-label="Flux"]');
		await group.waitFor({ timeout: 60000 });
		await group.locator("> button").click();
		const items = (await group.locator(".dropdown-item").allInnerTexts()).map((t) => t.trim());
		assert.deepEqual(items, [
			"Démarrer un flux",
			"Exécutions de flux",
			"Nouveau modèle de flux",
		]);
		await group.locator(".dropdown-item", { hasText: "Démarrer un flux" }).click();
		await dialog_with("template");
		assert.equal(
			await page.evaluate(() => cur_dialog.title),
			`Démarrer un flux sur ${customer}`
		);
		assert.equal(
			await text_of(field("variables").locator(".control-label")),
			"Variables (facultatif)"
		);
		await field("template").locator("select").selectOption(template);
		assert.equal(await text_of(modal().locator(".btn-modal-primary")), "Démarrer");
		await modal().locator(".btn-modal-primary").click();
		await page.waitForSelector(".modal.show .fe-timeline", { timeout: 60000 });
		assert.match(await text_of(modal().locator(".fe-timeline")), /En suspens/);
		assert.equal(await text_of(modal().locator(".btn-modal-primary")), "Ouvrir l'exécution");
		await shot("05-run-started");
		await modal().locator(".btn-modal-primary").click();
		await page.waitForURL(/\/(app|desk)\/flow-run\//, { timeout: 30000 });
	});

	await step("the Flow Run form: labels, timeline and buttons in French", async () => {
		await run_timeline().locator('[data-run-action="complete"]').waitFor({ timeout: 60000 });
		assert.equal(await text_of(form_label("flow_template")), "Modèle de flux");
		assert.equal(await text_of(form_label("status")), "Statut");
		const headers = (await run_timeline().locator("thead th").allInnerTexts()).map((t) =>
			t.trim()
		);
		assert.deepEqual(headers, [
			"Étape",
			"Statut",
			"Quand",
			"Documents, résultat et tentatives",
		]);
		const row = (id) => run_timeline().locator(`tr[data-step="${id}"]`);
		assert.match(
			await text_of(row("erp_update_1")),
			/Mettre à jour un document · erp_update_1/
		);
		assert.equal(await text_of(row("erp_update_1").locator(".indicator-pill")), "Terminé");
		assert.equal(await text_of(row("wait_1").locator(".indicator-pill")), "En suspens");
		assert.equal(
			await text_of(row("wait_1").locator('[data-run-action="complete"]')),
			"Terminer"
		);
		assert.equal(
			await text_of(page.locator("#page-Flow\\ Run .fe-live")),
			"Actualisation automatique tant que l'exécution est en cours"
		);
		assert.ok(
			(await page
				.locator("#page-Flow\\ Run .page-actions button", {
					hasText: "Annuler l'exécution",
				})
				.count()) > 0,
			"Annuler l'exécution"
		);
		assert.ok(
			(await page
				.locator("#page-Flow\\ Run .page-actions button", { hasText: "Ouvrir Client" })
				.count()) > 0,
			"Ouvrir Client"
		);
		await shot("06-run-form");
	});

	await step("complete the waiting step from the timeline: the run completes", async () => {
		await run_timeline().locator('[data-run-action="complete"]').click();
		await dialog_with("result");
		assert.equal(await page.evaluate(() => cur_dialog.title), "Terminer l'étape wait_1");
		assert.equal(
			await text_of(field("result").locator(".control-label")),
			"Résultat (facultatif)"
		);
		await page.evaluate(() => cur_dialog.set_value("result", '{"appelé_par": "e2e"}'));
		await modal().locator(".btn-modal-primary").click();
		await page.waitForFunction(() => cur_frm.doc.status === "completed", null, {
			timeout: 30000,
		});
		await run_timeline().waitFor({ timeout: 30000 });
		const pills = await run_timeline().locator(".indicator-pill").allInnerTexts();
		assert.deepEqual(
			pills.map((t) => t.trim()),
			["Terminé", "Terminé"]
		);
		// the Select shows the stored code translated
		await page.waitForFunction(
			() =>
				/terminé/.test(
					document.querySelector('#page-Flow\\ Run [data-fieldname="status"]')
						?.innerText || ""
				),
			null,
			{ timeout: 15000 }
		);
		await shot("07-run-completed");
	});

	await step("the customer's runs dialog and the Flow Run list", async () => {
		await page.goto(`${BASE}${DESK}/customer/${encodeURIComponent(customer)}`);
		const group = page.locator('.inner-group-button[data-label="Flux"]');
		await group.waitFor({ timeout: 60000 });
		await group.locator("> button").click();
		await group.locator(".dropdown-item", { hasText: "Exécutions de flux" }).click();
		await page.waitForSelector(".modal.show [data-run]");
		assert.equal(
			await text_of(modal().locator(".modal-title")),
			`Exécutions de flux de ${customer}`
		);
		const headers = (await modal().locator("thead th").allInnerTexts()).map((t) => t.trim());
		assert.deepEqual(headers, ["Exécution", "Modèle", "Statut", "Commencé", "Erreur"]);
		assert.match(await text_of(modal().locator("tbody")), /Terminé/);
		await close_modal();
		await page.goto(`${BASE}${DESK}/flow-run?flow_template=${encodeURIComponent(template)}`);
		await page.waitForSelector(".list-row-container .indicator-pill", { timeout: 60000 });
		assert.equal(
			await text_of(page.locator(".list-row-container .indicator-pill").first()),
			"terminé"
		);
	});

	await step("a failed step's error, stored in English, reads in French", async () => {
		const made = await admin_call("frappe.client.insert", {
			doc: {
				doctype: "Flow Template",
				template_name: `e2e fr error ${STAMP}`,
				category: "other",
				trigger_event: "manual",
				is_active: 1,
				flow_definition: JSON.stringify({
					version: 1,
					steps: [
						{
							id: "bad",
							kind: "erp_update",
							payload: {
								doctype: "Customer",
								docname_ref: "{{ doc.name }}",
								fields_json: { no_such_field: 1 },
							},
						},
					],
				}),
			},
		});
		error_template = made.name;
		const started = await admin_call("flow_engine.api.start_flow", {
			template: error_template,
			doctype: "Customer",
			docname: customer,
		});
		const run_name = started.run;
		const stored = await admin_call("flow_engine.api.get_run", { name: run_name });
		assert.equal(stored.error, "step bad: Customer has no field no_such_field");
		await page.goto(`${BASE}${DESK}/flow-run/${encodeURIComponent(run_name)}`);
		await run_timeline().locator('tr[data-step="bad"]').waitFor({ timeout: 60000 });
		const row = run_timeline().locator('tr[data-step="bad"]');
		assert.match(await text_of(row.locator(".text-danger").first()), /n'a pas de champ no_such_field/);
		assert.match(await text_of(row.locator(".fe-attempt")), /Tentative 1.*n'a pas de champ no_such_field/s);
		assert.match(
			await text_of(page.locator("#page-Flow\\ Run .alert-danger")),
			/^étape bad : .* n'a pas de champ no_such_field$/
		);
		await shot("08-failed-step-in-french");
	});

	await step("the Flow Engine workspace's headers", async () => {
		await page.goto(`${BASE}${DESK}/flow-engine`);
		await page.waitForSelector(".widget.number-widget-box", { timeout: 60000 });
		await page.waitForFunction(
			() =>
				[...document.querySelectorAll(".ce-header")].some(
					(h) => h.textContent.trim() === "Flux et planificateur"
				),
			null,
			{ timeout: 15000 }
		);
		const headers = await page.locator(".ce-header").allInnerTexts();
		for (const expected of ["Exécutions", "Vos raccourcis", "Flux et planificateur"])
			assert.ok(
				headers.map((h) => h.trim()).includes(expected),
				`${expected} in ${headers}`
			);
		await shot("09-workspace");
	});

	assert.deepEqual(run.page_errors, [], "no JavaScript error from flow_engine's code");
	if (run.other_errors.length)
		console.log("errors from Frappe's own code (not failing the test):", run.other_errors);
	console.log(`\n${run.passed} checks passed; screenshots in ${SHOTS}`);
} catch (error) {
	console.error(`\nnot ok - ${run.current}\n`, error);
	if (run.page_errors.length) console.error("page errors:", run.page_errors);
	if (
		user_made &&
		!(await admin_call("frappe.client.get_count", {
			doctype: "User",
			filters: { name: FR_USER },
		}).catch(() => 1))
	)
		console.error(
			`the user ${FR_USER} was deleted under the test: is the Frappe tier (run-tests) running on` +
				" this site? Its clean-up removes the users made while it runs."
		);
	process.exitCode = 1;
} finally {
	if (!KEEP) {
		try {
			await cleanup();
		} catch (error) {
			console.error("cleanup:", error.message);
			process.exitCode = 1;
		}
	}
	await browser.close();
}

/** As the administrator: the runs on our customer, the template, the customer, then the user
 * and what Frappe made for it. */
async function cleanup() {
	if (!admin.url().startsWith(BASE)) return;
	if (page.url().startsWith(BASE)) {
		await page.goto(`${BASE}/api/method/logout`).catch(() => null);
	}
	const left = await remove_records(admin, customer, template, user_made ? FR_USER : null);
	if (error_template) await remove_records(admin, null, error_template);
	assert.ok(!left, `the user ${FR_USER} is still there`);
}
