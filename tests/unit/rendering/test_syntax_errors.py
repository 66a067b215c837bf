"""Template errors are found when the template is saved, with their position (help center 11.11, Reachkit)."""

from __future__ import annotations

import pytest

from kindling.platform.errors import ValidationFailed
from kindling.rendering import TemplateSyntaxFailed, compile_template


@pytest.mark.parametrize(
    ("source", "line", "column", "offset", "message"),
    [
        # unbalanced braces: reported at the offending {{
        ("Hi {{firstName}", 1, 4, 3, "Unclosed merge tag"),
        ("Hi {{company}", 1, 4, 3, "Unclosed merge tag"),
        ("Hi {{firstName | default: 'there'}", 1, 4, 3, "Unclosed merge tag"),
        ("{{firstName} at {{company}}", 1, 1, 0, "Unclosed merge tag"),
        ("{{firstName} }}", 1, 1, 0, "Unclosed merge tag"),
        ("Hello,\n\n  thanks {{company}", 3, 10, 17, "Unclosed merge tag"),
        ("{{ firstName | default: 'x }}", 1, 1, 0, "Unclosed merge tag"),
        # one opening brace (the help center's list of common typos)
        ("Hi {firstName}}", 1, 4, 3, "two braces"),
        ("Hi { {firstName}}", 1, 6, 5, "two braces"),
        ("Hi {firstName}", 1, 4, 3, "two braces"),
        ("Hi {custom.plan}", 1, 4, 3, "two braces"),
        ("Hi {department}}", 1, 4, 3, "two braces"),
        # unknown filters and bad arguments: at the filter
        ("Hi {{ firstName | bogus }}", 1, 19, 18, "unknown filter 'bogus'"),
        ("x\n{{firstName | default: 'a' | shout}}", 2, 30, 31, "unknown filter 'shout'"),
        ("{{ firstName | truncate: 'abc' }}", 1, 16, 15, "truncate expected an integer"),
        ("{{ firstName | upcase: 1 }}", 1, 16, 15, "upcase"),
        ("{{ custom.n | divided_by: 0 }}", 1, 15, 14, "divide by 0"),
        ("{{ firstName | default: company }}", 1, 25, 24, "quoted text or numbers"),
        ("{{ firstName || x }}", 1, 14, 13, "Invalid merge tag"),
        ("{{ firstName | default: 'x' 'y' }}", 1, 29, 28, "comma separated"),
        ("{{ 'x' | bogus }}", 1, 10, 9, "unknown filter 'bogus'"),
        # names
        ("{{}}", 1, 1, 0, "Empty merge tag"),
        ("{{  | default: 'x' }}", 1, 1, 0, "Empty merge tag"),
        ("{{ x.y }}", 1, 4, 3, "Invalid merge tag name"),
        ("{{ 1st }}", 1, 4, 3, "Invalid merge tag name"),
        ("{{ O'Brien }}", 1, 4, 3, "Invalid merge tag name"),
        ("{{ custom.___ }}", 1, 4, 3, "Invalid custom field name"),
        # Liquid tags are refused rather than sent verbatim
        ("{% if firstName %}Hi{% endif %}", 1, 1, 0, "Liquid tags"),
    ],
)
def test_syntax_errors_carry_their_position(source: str, line: int, column: int, offset: int, message: str) -> None:
    with pytest.raises(TemplateSyntaxFailed) as failed:
        compile_template(source, field="steps[0].bodyHtml")
    error = failed.value
    assert isinstance(error, ValidationFailed)
    assert error.code == "validation_error"
    first = error.details[0]
    assert first["field"] == "steps[0].bodyHtml"
    assert first["code"] == "template_syntax"
    assert (first["line"], first["column"], first["offset"]) == (line, column, offset)
    assert message in first["message"]
    assert f"line {line}, column {column}" in error.message


def test_every_problem_is_reported_in_order() -> None:
    source = "{{ a | nope }} {firstName} {{ b.c }}\n{% raw %}"
    with pytest.raises(TemplateSyntaxFailed) as failed:
        compile_template(source)
    assert [(d["line"], d["column"]) for d in failed.value.details] == [(1, 8), (1, 16), (1, 31), (2, 1)]


@pytest.mark.parametrize(
    "source",
    [
        "p { color: red; }",
        "{ }",
        "{}",
        "{ {",
        "} }",
        "a | b",
        "{a|b",
        "@media (x) {p {margin: 0}}",
        "{{firstName}}}",
        "{Hi|{firstName|x}}",
        "{{{firstName}}|Hi}",
        "100% {sure|certain}",
    ],
)
def test_text_that_only_looks_like_syntax_compiles(source: str) -> None:
    assert compile_template(source).source == source


def test_compiling_is_cached_by_source() -> None:
    source = "{Hi|Hello} {{firstName | default: 'there'}} (cache check)"
    assert compile_template(source) is compile_template(source)
    assert compile_template(source, field="subject") is compile_template(source)
