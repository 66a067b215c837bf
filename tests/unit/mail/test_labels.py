"""The label rule table: every rule against its own example, the priorities, and sentences from real replies."""

from __future__ import annotations

from typing import get_args

import pytest

from kindling.mail.labels import (
    POSITIVE_LABELS,
    PRIORITY,
    RULES,
    SENTIMENT,
    Label,
    Rule,
    is_positive,
    label_reply,
    matching_rules,
    sentiment,
)


def _label(rule: Rule) -> Label:
    result = label_reply("", rule.example) if rule.field == "subject" else label_reply(rule.example)
    return result.label


@pytest.mark.parametrize("rule", RULES, ids=lambda r: f"{r.label}-{r.lang}-{r.field}-{r.pattern[:30]}")
def test_rule_matches_and_decides_its_example(rule: Rule) -> None:
    matched = matching_rules("", rule.example) if rule.field == "subject" else matching_rules(rule.example)
    assert rule in matched
    assert _label(rule) == rule.label


def test_every_label_is_ranked_and_has_a_sentiment() -> None:
    labels = set(get_args(Label))
    assert set(PRIORITY) == labels
    assert set(SENTIMENT) == labels
    assert {r.label for r in RULES} == labels - {"neutral"}  # neutral is what nothing matched


@pytest.mark.parametrize(
    ("label", "field"), [("unsubscribe", "text"), ("out_of_office", "text"), ("out_of_office", "subject")]
)
def test_help_center_languages_are_covered(label: str, field: str) -> None:
    langs = {r.lang for r in RULES if r.label == label and r.field == field}
    assert {"en", "nl", "de", "fr", "es"} <= langs


@pytest.mark.parametrize(
    ("text", "label"),
    [
        # English
        ("Yes, this is relevant for us. Can you send me a proposal?", "interested"),
        ("I'm interested, what are the next steps?", "interested"),
        ("Not interested, thanks.", "not_interested"),
        ("We're not looking for anything like this at the moment.", "not_interested"),
        ("Sure, send me a calendar invite for Tuesday.", "meeting_requested"),
        ("What's your availability next week?", "meeting_requested"),
        ("Is this GDPR compliant?", "question"),
        ("Thanks for the note.", "neutral"),
        ("Got it.", "neutral"),
        ("I'm not the right contact, try Maria - she's the right person to speak to.", "wrong_person"),
        ("I'm not the right contact. The best person to talk to is Maria.", "referral"),
        ("Unsubscribe", "unsubscribe"),
        ("stop.", "unsubscribe"),
        # A stop that is not a request to stop.
        ("Please don't stop sending these, they are great.", "neutral"),
        # Dutch
        ("Dat klinkt goed, stuur ons meer info.", "interested"),
        ("Nee, dank je. Geen interesse.", "not_interested"),
        ("Zullen we even bellen?", "meeting_requested"),
        ("Schrijf me uit alstublieft.", "unsubscribe"),
        # German
        ("Das klingt sehr interessant.", "interested"),
        ("Kein Interesse, danke.", "not_interested"),
        ("Lassen Sie uns am Donnerstag telefonieren.", "meeting_requested"),
        ("Bitte löschen Sie meine Adresse.", "unsubscribe"),
        # French
        ("Ça nous intéresse !", "interested"),
        ("Pas intéressé, merci.", "not_interested"),
        ("On peut fixer un rendez-vous la semaine prochaine ?", "meeting_requested"),
        ("Merci de ne plus m'envoyer de mails, désabonnement svp.", "unsubscribe"),
        # Spanish
        ("Suena interesante.", "interested"),
        ("No estamos interesados.", "not_interested"),
        ("¿Podemos tener una llamada el martes?", "meeting_requested"),
        ("Quiero darme de baja.", "unsubscribe"),
    ],
)
def test_real_sentences(text: str, label: Label) -> None:
    assert label_reply(text).label == label


@pytest.mark.parametrize(
    ("text", "subject", "label"),
    [
        ("", "Re: Unsubscribe", "unsubscribe"),
        ("", "AW: Abmelden", "unsubscribe"),
        ("", "RE: Quick question", "neutral"),
        ("", "Out of Office: Quick question", "out_of_office"),
        ("", "Automatische Antwort: Kurze Frage", "out_of_office"),
        # Subjects of ordinary replies never carry the label: our own subject could say anything.
        ("", "Re: Interested in a quick call?", "neutral"),
    ],
)
def test_subject_rules(text: str, subject: str, label: Label) -> None:
    assert label_reply(text, subject).label == label


@pytest.mark.parametrize(
    ("text", "winner", "also"),
    [
        ("Not interested. Remove me from your list.", "unsubscribe", "not_interested"),
        ("I'm out of the office until Monday; for urgent matters please contact my colleague Ben.",
         "out_of_office", "referral"),
        ("Wrong person - the right person is Dana.", "referral", "wrong_person"),
        ("Not interested in a call, thanks.", "not_interested", None),
        ("Sounds great, let's schedule a call. What time works for you?", "meeting_requested", "interested"),
        ("Sounds good - how much is it?", "interested", "question"),
    ],
)  # fmt: skip
def test_priority(text: str, winner: Label, also: Label | None) -> None:
    result = label_reply(text)
    assert result.label == winner
    assert result.rule is not None and result.rule.label == winner
    if also is not None:
        assert also in {r.label for r in result.matched}


def test_phrases_wrapped_over_lines_still_match() -> None:
    assert label_reply("Thanks, but we are not\ninterested.").label == "not_interested"


def test_neutral_has_no_rule() -> None:
    result = label_reply("Thanks!")
    assert (result.label, result.rule, result.matched) == ("neutral", None, ())
    assert not result.is_positive


@pytest.mark.parametrize("label", get_args(Label))
def test_is_positive_and_sentiment(label: Label) -> None:
    positive = label in ("interested", "meeting_requested", "referral")
    assert is_positive(label) is positive
    assert (label in POSITIVE_LABELS) is positive
    assert (sentiment(label) == "positive") is positive
    assert (sentiment(label) == "negative") is (label in ("not_interested", "unsubscribe", "wrong_person"))


def test_none_is_not_positive() -> None:
    assert is_positive(None) is False
