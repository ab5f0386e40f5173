// Translation for the pure modules: Frappe's __() when the desk has loaded it, else the same
// "{0}" formatting without translation (under Node's test runner). Calls stay literally
// `__("…")` in the sources so that Frappe's string extraction finds them.

export function format(text, args) {
	if (!args || !args.length) return String(text);
	return String(text).replace(/\{(\d+)\}/g, (match, index) =>
		args[index] === undefined ? match : String(args[index])
	);
}

export function __(text, args, context) {
	const translate = globalThis.__;
	if (typeof translate === "function" && translate !== __) {
		return translate(text, args, context);
	}
	return format(text, args);
}
