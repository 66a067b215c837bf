"""Merge tags: name normalisation, custom fields, fallbacks, filters, escapes (help center 11.1-11.5)."""

from __future__ import annotations

import random

import pytest

from kindling.rendering import RenderContext, build_context, compile_template, known_tag


def plain(source: str, ctx: RenderContext) -> str:
    return compile_template(source).render(ctx, rng=random.Random(0), mode="plain")


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("firstName", "first_name"),
        ("first_name", "first_name"),
        ("First Name", "first_name"),
        ("FIRSTNAME", "first_name"),
        ("first-name", "first_name"),
        ("FirstName", "first_name"),
        ("lastName", "last_name"),
        ("Company", "company"),
        ("company_name", "company"),
        ("title", "role"),
        ("Job Title", "role"),
        ("linkedinUrl", "linkedin_url"),
        ("LinkedIn URL", "linkedin_url"),
        ("e-mail address", "email"),
        ("senderName", "sender_name"),
        ("from_name", "sender_name"),
        ("Sender First Name", "sender_first_name"),
        ("signature", "signature"),
        ("unsubscribeUrl", "unsubscribe_url"),
        ("department", None),
        ("headline", None),
    ],
)
def test_every_spelling_has_one_canonical_name(spelling: str, canonical: str | None) -> None:
    assert known_tag(spelling) == canonical


@pytest.mark.parametrize(
    ("source", "referenced"),
    [
        ("{{firstName}} {{First Name}} {{first_name}}", {"first_name"}),
        ("{{custom.department}}", {"custom.department"}),
        ("{{department}}", {"custom.department"}),
        ("{{custom.Plan Tier}} {{planTier}}", {"custom.plan_tier", "custom.plantier"}),
        ("{{Custom.X}} {{custom:y}}", {"custom.x", "custom.y"}),
        ("{{sender_name}} {{signature}} {{unsubscribe_url}}", {"sender_name", "signature", "unsubscribe_url"}),
        ("{{company | default: 'your team'}} {{title}}", {"company", "role"}),
        ("{{ 'literal' }} \\{{firstName}}", set()),
    ],
)
def test_referenced_names_are_canonical(source: str, referenced: set[str]) -> None:
    assert compile_template(source).referenced == frozenset(referenced)


def test_custom_fields_lists_custom_keys_only() -> None:
    template = compile_template("{{firstName}} {{custom.plan}} {{region | default: 'EU'}} {{Deal Size}}")
    assert template.custom_fields() == {"plan", "region", "deal_size"}
    assert template.custom_fields(include_fallbacks=False) == {"plan", "deal_size"}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Hi {{firstName}}", "Hi Sarah"),
        ("Hi {{First Name}}", "Hi Sarah"),
        ("Hi {{FIRSTNAME}}", "Hi Sarah"),
        ("Hi {{ first_name }}", "Hi Sarah"),
        ("{{title}} at {{company}}", "CTO at Acme"),
        # custom fields: {{custom.x}} and bare {{x}}; names match ignoring case, spaces and underscores
        ("{{custom.plan_tier}}", "pro"),
        ("{{plan_tier}}", "pro"),
        ("{{custom.Plan Tier}}", "pro"),
        ("{{planTier}}", "pro"),
        ("{{department}}", "Sales"),
        ("{{custom.DEPARTMENT}}", "Sales"),
        ("{{score}} {{vip}}", "7 true"),
        # missing and blank values render empty, or the fallback
        ("[{{lastName}}]", "[]"),
        ("[{{city}}]", "[]"),
        ("[{{custom.nothing}}]", "[]"),
        ("Hi {{lastName | default: 'there'}}", "Hi there"),
        ('Hi {{lastName | default: "there"}}', "Hi there"),
        ("Hi {{ custom.nothing | default: 'friend' }}", "Hi friend"),
        ("Hi {{firstName | default: 'there'}}", "Hi Sarah"),
        ("{{city | default: 'your city'}}", "your city"),
        ("{{custom.count | default: 3}}", "3"),
        ("{{lastName | default: 'a, b: c'}}", "a, b: c"),
        ("{{lastName | default: 'x}y'}}", "x}y"),
        # other Liquid filters, applied by python-liquid
        ("{{firstName | upcase}}", "SARAH"),
        ("{{lastName | default: 'there' | capitalize}}", "There"),
        ("{{company | append: ' Inc'}}", "Acme Inc"),
        ("{{firstName | truncate: 4, ''}}", "Sara"),
        ("{{firstName | escape}}", "Sarah"),
        # sender and system tags
        ("{{sender_name}} / {{senderFirstName}} / {{sender_email}}", "Jordan Lee / Jordan / jordan@send.test"),
        ("{{signature}}", "Jordan\nCEO"),
        ("{{unsubscribe_url}}", "https://t.example/u/abc"),
        # literals and escapes
        ("{{ 'quoted' }}", "quoted"),
        ("{{ 'shout' | upcase }}", "SHOUT"),
        ('{{ "{{" }}firstName}}', "{{firstName}}"),
        ("\\{{firstName}}", "{{firstName}}"),
        ("\\{{ firstName | default: 'x' }} is {{firstName}}", "{{ firstName | default: 'x' }} is Sarah"),
        ("a \\{ b \\| c \\}", "a { b | c }"),
        ("\\{firstName}", "{firstName}"),
        ("50% off", "50% off"),
        ("back\\slash", "back\\slash"),
        ("stray }} and |", "stray }} and |"),
    ],
)
def test_merge_tags_render(context: RenderContext, source: str, expected: str) -> None:
    assert plain(source, context) == expected


def test_values_are_never_parsed_as_template_syntax() -> None:
    ctx = build_context({"company": "{{firstName}} {a|b} \\{{ {% if %}"}, custom_fields={"x": "{Hi|Hello}"})
    assert plain("{{company}} / {{custom.x}}", ctx) == "{{firstName}} {a|b} \\{{ {% if %} / {Hi|Hello}"


def test_a_failing_filter_falls_back_to_the_value_instead_of_failing_the_send() -> None:
    template = compile_template("{{custom.n | base64_decode}}|{{custom.m | base64_decode}}")
    ctx = build_context(custom_fields={"n": "not base64!", "m": "aGk="})
    assert template.render(ctx, rng=random.Random(0), mode="plain") == "not base64!|hi"


def test_whitespace_only_values_take_the_fallback() -> None:
    ctx = build_context(custom_fields={"line": "   "})
    assert plain("{{line | default: 'x'}}|{{line | default: 'y' | upcase}}", ctx) == "x|Y"


@pytest.mark.parametrize(
    ("prospect", "custom", "expected"),
    [
        ({"firstName": "Ann", "company": "A"}, None, "Ann A -"),
        ({"first_name": "Ann", "company": "A"}, None, "Ann A -"),  # snake_case works too
        ({"firstName": "Ann", "customFields": {"Plan": "gold"}}, None, "Ann  gold"),
        ({"firstName": "Ann", "customFields": {"plan": "gold"}}, {"plan": "silver"}, "Ann  silver"),
        ({"id": "p1", "globalStatus": "active"}, {"plan tier": "x"}, "  -x"),
        (None, None, "  -"),
    ],
)
def test_build_context_reads_api_names_and_custom_fields(
    prospect: dict[str, object] | None, custom: dict[str, object] | None, expected: str
) -> None:
    ctx = build_context(prospect, custom_fields=custom)
    assert plain("{{firstName}} {{company}} {{plan | default: '-'}}{{plan_tier}}", ctx) == expected


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ({"sender_name": "Jo Lee", "from_name": "X", "email": "jo@x.test"}, "Jo Lee|Jo|jo@x.test"),
        ({"display_name": "Jo Lee", "email_address": "jo@x.test"}, "Jo Lee|Jo|jo@x.test"),
        ({"from_name": "Jo", "sender_first_name": "Joanne"}, "Jo|Joanne|"),
        ({"display_name": None, "email_address": "jo@x.test"}, "||jo@x.test"),
        ({}, "||"),
    ],
)
def test_sender_tags_come_from_the_sending_mailbox(sender: dict[str, object], expected: str) -> None:
    ctx = build_context(sender=sender)
    assert plain("{{sender_name}}|{{sender_first_name}}|{{sender_email}}", ctx) == expected
