"""render_email: subject, sanitised HTML, plain-text part; defer-at-send and validate-at-launch (11.9-11.10)."""

from __future__ import annotations

import random

import pytest

from kindling.rendering import (
    RenderContext,
    build_context,
    compile_template,
    render_email,
    unresolved_custom_fields,
)


def email_of(subject: str, body: str, ctx: RenderContext, seed: str = "seed") -> tuple[str, str, str]:
    rendered = render_email(compile_template(subject, field="subject"), compile_template(body), ctx, seed=seed)
    return rendered.subject, rendered.html, rendered.text


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Quick question, {{firstName}}", "Quick question, Sarah"),
        ("Q&A for {{company}}", "Q&A for Acme"),
        ("Line\none\r\ntwo", "Line one two"),
        ("  padded   subject  ", "padded subject"),
        ("<b>Bold</b> idea for {{company}}", "Bold idea for Acme"),
        ("5 < 6 & 7 > 3", "5 < 6 & 7 > 3"),
        ("{{custom.subject_line | default: 'Quick question'}}", "Quick question"),
        ("{{custom.multi}}", "evil Bcc: x@y.test"),
        ("{{signature}}", "Jordan CEO"),
        ("&amp; stays literal in a plain subject", "&amp; stays literal in a plain subject"),
    ],
)
def test_subject_is_one_line_of_plain_text(subject: str, expected: str) -> None:
    ctx = build_context(
        {"firstName": "Sarah", "company": "Acme"},
        custom_fields={"multi": "evil\r\nBcc: x@y.test"},
        sender={"signature": "<p>Jordan<br>CEO</p>"},
    )
    assert email_of(subject, "b", ctx)[0] == expected


@pytest.mark.parametrize(
    ("body", "html", "text"),
    [
        (
            "<p>Hi {{firstName}},</p><p>I noticed {{company}} is growing.</p><p>{{signature}}</p>",
            "<p>Hi Sarah,</p><p>I noticed Acme is growing.</p><p>Jordan<br>CEO</p>",
            "Hi Sarah,\n\nI noticed Acme is growing.\n\nJordan\nCEO",
        ),
        # a body written as plain text: escaped, line breaks kept
        (
            "Hi {{firstName}},\n\nIs 5 < 6 & more?\n{{sender_name}}",
            "Hi Sarah,<br><br>Is 5 &lt; 6 &amp; more?<br>Jordan Lee",
            "Hi Sarah,\n\nIs 5 < 6 & more?\nJordan Lee",
        ),
        # a fallback is a value like any other: escaped
        ("<p>{{lastName | default: '<i>there</i>'}}</p>", "<p>&lt;i&gt;there&lt;/i&gt;</p>", "<i>there</i>"),
        # multi-line values keep their line breaks
        ("<p>{{custom.lines}}</p>", "<p>one<br>two</p>", "one\ntwo"),
        (
            "<p>Book <a href=\"{{custom.link | default: 'https://cal.test/me'}}\">a call</a></p>",
            '<p>Book <a href="https://cal.test/me" rel="noopener noreferrer">a call</a></p>',
            "Book a call (https://cal.test/me)",
        ),
        (
            '<p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>',
            '<p><a href="https://t.example/u/abc" rel="noopener noreferrer">Unsubscribe</a></p>',
            "Unsubscribe (https://t.example/u/abc)",
        ),
        (
            '<img src="https://cdn.test/{{custom.plan_tier}}.png" alt="x">',
            '<img src="https://cdn.test/pro.png" alt="x">',
            "",
        ),
    ],
)
def test_body_html_and_text(body: str, html: str, text: str) -> None:
    ctx = build_context(
        {"firstName": "Sarah", "company": "Acme"},
        custom_fields={"lines": "one\ntwo", "plan_tier": "pro"},
        sender={"display_name": "Jordan Lee", "signature": "Jordan\nCEO"},
        unsubscribe_url="https://t.example/u/abc",
    )
    assert email_of("s", body, ctx)[1:] == (html, text)


def test_render_modes_share_one_compiled_template(context: RenderContext) -> None:
    template = compile_template("<p>Hi {{firstName}} &amp; {{company}}</p>")
    rng = random.Random(0)
    assert template.render(context, rng=rng) == "<p>Hi Sarah &amp; Acme</p>"
    assert template.render(context, rng=rng, mode="text") == "Hi Sarah & Acme"
    assert template.render(context, rng=rng, mode="plain") == "<p>Hi Sarah &amp; Acme</p>"


def test_unresolved_custom_fields_are_reported_per_message() -> None:
    subject = compile_template("{{custom.subject_line | default: 'Hi'}}")
    body = compile_template("{{custom.first_line}} {{custom.cta}} {{firstName}} {{region}}")
    ctx = build_context({"firstName": ""}, custom_fields={"cta": "", "first_line": None})
    assert render_email(subject, body, ctx, seed="x").unresolved == ("region",)
    assert render_email(subject, body, build_context(), seed="x").unresolved == ("cta", "first_line", "region")
    ctx = build_context(custom_fields={"cta": "x", "first_line": "y", "Region": "EU"})
    assert render_email(subject, body, ctx, seed="x").unresolved == ()


@pytest.mark.parametrize(
    ("sources", "available", "include_fallbacks", "missing"),
    [
        (["{{custom.plan}} {{custom.region}}"], ["plan", "region"], False, []),
        (["{{custom.plan}} {{custom.region}}"], ["plan"], False, ["region"]),
        (["{{custom.Linkedinconnection}}"], ["linkedin_connection"], False, []),
        (["{{custom.Linkedinconnections}}"], ["linkedin_connection"], False, ["linkedinconnections"]),
        (["{{plan}}", "{{firstName}} {{Region}}"], ["custom:plan"], False, ["region"]),
        (["{{plan | default: 'basic'}}"], [], False, []),
        (["{{plan | default: 'basic'}}"], [], True, ["plan"]),
        (["{{plan | default: 'basic'}} {{plan}}"], [], False, ["plan"]),
        (["{{Plan Tier}}"], ["Plan Tier"], False, []),
        (["{{firstName}} {{company}} {{signature}}"], [], False, []),
    ],
)
def test_validate_at_launch(
    sources: list[str], available: list[str], include_fallbacks: bool, missing: list[str]
) -> None:
    templates = [compile_template(source) for source in sources]
    assert unresolved_custom_fields(templates, available, include_fallbacks=include_fallbacks) == missing


def test_render_plans_are_cached_per_spintax_choice() -> None:
    template = compile_template("<p>{a|b} {c|d|e} {{firstName}} (plan cache)</p>")
    ctx = build_context({"firstName": "X"})
    for n in range(200):
        render_email(compile_template("s"), template, ctx, seed=str(n))
    assert len(template._plans) == 2 * 6  # html and text, for each of the six choices


def test_preview_parity_with_the_outreach_peer() -> None:
    """The peer's POST /campaigns/steps/preview example renders the same."""
    contact = {"firstName": "Sarah", "lastName": "Chen", "company": "Acme Corp", "email": "sarah@acme.com"}
    subject, html, _ = email_of(
        "Quick question about {{company}}",
        "<p>Hi {{firstName}},</p><p>I noticed {{company}} is growing fast...</p>",
        build_context(contact),
    )
    assert subject == "Quick question about Acme Corp"
    assert html == "<p>Hi Sarah,</p><p>I noticed Acme Corp is growing fast...</p>"
