import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flow_engine.runtime.rendering import render, render_deep, render_with_error, template_syntax_error

CONTEXT = {
	"doc": {
		"name": "SAL-QTN-0005",
		"customer_name": "Ann",
		"grand_total": 1249.5,
		"items": [{"qty": 2}],
		"keys": "k",
	},
	"customer": {"customer_name": "Ann Tremblay", "email_id": "ann@example.com"},
	"variables": {"plan": "1G", "nested": {"deep": {"value": 7}}},
	"run": {"name": "FR-00001"},
	"now": "2026-01-05T09:00:00",
}


@pytest.mark.parametrize(
	"template, expected",
	[
		("plain text", "plain text"),
		("{{doc.customer_name}}", "Ann"),
		("Hello {{ customer.customer_name }}!", "Hello Ann Tremblay!"),
		("{{variables.nested.deep.value}}", "7"),
		("{{doc.items.0.qty}}", "2"),
		("{{ doc['items'][0]['qty'] }}", "2"),
		("{{doc.unknown}}", ""),
		("{{doc.unknown.deeper.still}}", ""),
		("{{nobody.knows}}", ""),
		("[{{ doc.missing }}]", "[]"),
		# a field named like a dict method is the field, never the method
		("{{doc.items|length}}", "1"),
		("{{doc.keys}}", "k"),
		("{{doc.values}}", ""),
		("{{ doc.grand_total * 2 }}", "2499.0"),
		("{{ '%.2f' % doc.grand_total }}", "1249.50"),
		("{{ doc.customer_name|upper }}", "ANN"),
		("{% if doc.grand_total > 1000 %}big{% else %}small{% endif %}", "big"),
		("{% for item in doc.items %}{{ item.qty }};{% endfor %}", "2;"),
		("{{ doc.name ~ '/' ~ run.name }}", "SAL-QTN-0005/FR-00001"),
		("{{ now }}", "2026-01-05T09:00:00"),
		("{{ 'x' * 3 }}", "xxx"),
		("{{ range(3)|list }}", "[0, 1, 2]"),
		("{{ '{}-{}'.format(doc.name, 1) }}", "SAL-QTN-0005-1"),
	],
)
def test_render(template, expected):
	assert render(template, CONTEXT) == expected


@pytest.mark.parametrize(
	"template",
	[
		"{{ doc.__class__ }}",
		"{{ doc.__class__.__mro__[1].__subclasses__() }}",
		"{{ ''.__class__.__mro__[1].__subclasses__() }}",
		"{{ cycler.__init__.__globals__.os }}",
		"{{ joiner.__init__.__globals__ }}",
		"{{ namespace.__init__.__globals__ }}",
		"{{ self.__init__.__globals__ }}",
		"{{ self._TemplateReference__context }}",
		"{{ lipsum.__globals__ }}",
		"{{ config }}",
		"{{ request }}",
		"{{ ().__class__.__base__.__subclasses__() }}",
		"{{ doc.items.pop() }}",
		"{{ doc.update({'name': 'x'}) }}",
		"{{ '{0.__class__.__mro__}'.format(doc) }}",
		"{{ '%s' % doc.__class__ }}",
		"{{ doc|attr('__class__') }}",
		"{{ (doc|attr('__class__')).__subclasses__() }}",
		"{% import 'os' as os %}{{ os }}",
		"{% include '/etc/passwd' %}",
		"{% extends '/etc/passwd' %}",
		"{{ range.__self__ }}",
		"{{ 'a'.__add__ }}",
		"{{ doc.get.__self__ }}",
	],
)
def test_sandbox_escapes_render_nothing_dangerous(template):
	text, _error = render_with_error(template, CONTEXT)
	lowered = text.lower()
	for marker in (
		"class",
		"subclass",
		"globals",
		"module",
		"builtin",
		"root:",
		"function",
		"method",
		"object at",
	):
		assert marker not in lowered, (template, text)
	assert CONTEXT["doc"]["name"] == "SAL-QTN-0005"
	assert CONTEXT["doc"]["items"] == [{"qty": 2}]


@pytest.mark.parametrize(
	"template, error",
	[
		("{{ 'a' * 1000000000 }}", "SecurityError: result longer than 200000 characters"),
		("{{ 'a' ** 2 }}", "TypeError: unsupported operand type(s) for ** or pow(): 'str' and 'int'"),
		("{{ 9 ** 999999 }}", "SecurityError: exponent too large"),
		("{{ '%999999999s' % 1 }}", "SecurityError: result longer than 200000 characters"),
		("{{ 'x'|center(1000000000) }}", "SecurityError: result longer than 200000 characters"),
		("{{ 'x'.ljust(1000000000) }}", "SecurityError: result longer than 200000 characters"),
		("{{ '{:>999999999}'.format(1) }}", "SecurityError: result longer than 200000 characters"),
		("{{ '{0:>{1}}'.format(1, 999999999) }}", "SecurityError: result longer than 200000 characters"),
		(
			"{{ ('x' * 1000)|replace('x', 'x' * 1000) }}",
			"SecurityError: result longer than 200000 characters",
		),
		(
			"{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
			"SecurityError: template loops over more than 10000 items",
		),
		("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
		("{{ x " * 1, "TemplateSyntaxError: unexpected end of template, expected 'end of print statement'."),
	],
)
def test_hostile_templates_are_bounded_and_render_empty(template, error):
	assert render_with_error(template, CONTEXT) == ("", error)
	assert render(template, CONTEXT) == ""


def test_template_length_limit():
	long_template = "{{ doc.name }}" + "x" * 10_000
	assert render_with_error(long_template, CONTEXT) == ("", "template longer than 10000 characters")
	assert template_syntax_error(long_template) == "template longer than 10000 characters"


def test_syntax_errors_are_reported_for_validation():
	assert template_syntax_error("{{ doc.name }}") is None
	assert template_syntax_error("no template") is None
	assert (
		template_syntax_error("{% if %}")
		== "template syntax error: Expected an expression, got 'end of statement block'"
	)


def test_render_deep_renders_every_string_and_keeps_other_values():
	payload = {
		"subject": "Hi {{customer.customer_name}}",
		"n": 3,
		"ok": True,
		"list": ["{{doc.name}}", 1, None],
	}
	assert render_deep(payload, CONTEXT) == {
		"subject": "Hi Ann Tremblay",
		"n": 3,
		"ok": True,
		"list": ["SAL-QTN-0005", 1, None],
	}


def test_render_deep_stops_at_the_depth_limit():
	nested = current = {}
	for _ in range(50):
		current["x"] = {}
		current = current["x"]
	current["leaf"] = "{{doc.name}}"
	rendered = render_deep(nested, CONTEXT)
	depth = 0
	while isinstance(rendered, dict):
		rendered = rendered.get("x")
		depth += 1
	assert rendered is None and depth == 33


def test_non_strings_render_as_text():
	assert render(None, CONTEXT) == ""
	assert render(12, CONTEXT) == "12"


json_values = st.recursive(
	st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
	lambda children: (
		st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
	),
	max_leaves=20,
)
template_pieces = st.sampled_from(
	[
		"{{",
		"}}",
		"{%",
		"%}",
		"{#",
		"#}",
		"doc",
		".",
		"name",
		"items",
		"[",
		"]",
		"(",
		")",
		"|",
		"upper",
		"for",
		"in",
		"if",
		"endif",
		"endfor",
		"range",
		"*",
		"**",
		"%",
		"'",
		'"',
		"9",
		"99999",
		"__class__",
		"attr",
		" ",
		"~",
	]
)


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(template_pieces | st.text(max_size=5), max_size=30), context=json_values)
def test_render_never_raises_and_returns_text(pieces, context):
	template = "".join(pieces)
	text = render(template, {"doc": context, "customer": {}})
	assert isinstance(text, str)
	assert len(text) <= 200_000


def test_an_empty_field_renders_empty_not_none():
	# documents carry None for empty fields: a message must not go to "None"
	context = {"customer": {"mobile_no": None, "count": 0, "flag": False}}
	assert render("{{customer.mobile_no}}", context) == ""
	assert render("to {{customer.mobile_no}}!", context) == "to !"
	assert render("{{customer.count}} {{customer.flag}}", context) == "0 False"
	assert render("{{customer.mobile_no or 'none given'}}", context) == "none given"
