"""Spintax {a|b|c}: one option per group per send, seeded; nesting; merge tags inside; values left alone (11.6-11.7)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from kindling.rendering import build_context, compile_template, render_email

CTX = build_context({"firstName": "Sarah", "company": "Acme"}, custom_fields={"note": "{x|y} a|b"})


def outcomes(source: str, sends: int = 400) -> Counter[str]:
    template = compile_template(source)
    return Counter(template.render(CTX, rng=random.Random(n), mode="plain") for n in range(sends))


@pytest.mark.parametrize(
    ("source", "possible"),
    [
        ("{Hi|Hello|Hey}", {"Hi", "Hello", "Hey"}),
        ("{Hi|Hello} there", {"Hi there", "Hello there"}),
        ("{a|}", {"a", ""}),
        ("{ spaced | kept }", {" spaced ", " kept "}),
        ("{a|{b|c}}", {"a", "b", "c"}),
        ("{a|{b|{c|d}}}!", {"a!", "b!", "c!", "d!"}),
        ("{Hi {{firstName}}|Hello {{company}}}", {"Hi Sarah", "Hello Acme"}),
        ("{{{firstName}}|there}", {"Sarah", "there"}),
        ("{x {y} z|w}", {"x {y} z", "w"}),
        ("{a|b} {c|d}", {"a c", "a d", "b c", "b d"}),
        # braces and pipes that are not spintax stay as written
        ("p { color: red } a|b", {"p { color: red } a|b"}),
        ("{a|b", {"{a|b"}),
        ("a|b}", {"a|b}"}),
        ("{ }", {"{ }"}),
        ("\\{a|b}", {"{a|b}"}),
        ("{a\\|b|c}", {"a|b", "c"}),
        # a value is never spun: spintax is resolved in the template, not in what was merged into it
        ("{{custom.note}}", {"{x|y} a|b"}),
        ("{{{custom.note}}|n}", {"{x|y} a|b", "n"}),
    ],
)
def test_each_send_picks_one_option_per_group(source: str, possible: set[str]) -> None:
    assert set(outcomes(source)) == possible


@pytest.mark.parametrize(
    ("source", "variations"),
    [
        ("no groups", 1),
        ("{a|b|c}", 3),
        ("{a|b|c} {d|e}", 6),
        ("{a|{b|c}}", 3),
        ("{x|{a|b} {c|d}}", 5),
        ("{Hope you're doing well|Hope your week is going great}, {{firstName}}. {I|We} {about|regarding}", 8),
    ],
)
def test_variation_count_is_the_product_of_the_groups(source: str, variations: int) -> None:
    assert compile_template(source).variations() == variations


def test_options_are_spread_evenly() -> None:
    counts = outcomes("{a|b|c}", sends=3000)
    assert all(900 < counts[option] < 1100 for option in "abc"), counts


def test_same_seed_same_choices_different_seeds_spread() -> None:
    subject = compile_template("{Quick question|Idea|Thought} for {{company}}")
    body = compile_template("<p>{Hi|Hello|Hey} {{firstName}}, {one|two|three|four}</p>")
    first = render_email(subject, body, CTX, seed="enrollment-1:step-0")
    assert render_email(subject, body, CTX, seed="enrollment-1:step-0") == first
    seen = Counter(render_email(subject, body, CTX, seed=f"enrollment-{n}:step-0").html for n in range(1200))
    assert len(seen) == 12
    assert min(seen.values()) > 50, seen


def test_subject_and_body_choices_are_independent() -> None:
    subject = compile_template("{A|B}")
    body = compile_template("{A|B}")
    pairs = Counter((e.subject, e.text) for e in (render_email(subject, body, CTX, seed=f"s{n}") for n in range(800)))
    assert set(pairs) == {("A", "A"), ("A", "B"), ("B", "A"), ("B", "B")}


def test_a_plain_text_body_template_gets_the_same_choices_as_the_html_body() -> None:
    html = compile_template("<p>{Hi|Hello|Hey} {{firstName}}, {one|two}</p>")
    text = compile_template("{Hi|Hello|Hey} {{firstName}}, {one|two}")
    for n in range(50):
        email = render_email(compile_template("s"), html, CTX, seed=f"p{n}", text=text)
        assert email.html == f"<p>{email.text}</p>"
