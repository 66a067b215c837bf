"""Warmup content: phrase bank, ref tag, exchange header, identification, reply decision and composer."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, date, datetime, timedelta

import pytest

from kindling.warmup.content import (
    CLOSERS,
    GREETINGS_NAMED,
    GREETINGS_PLAIN,
    MIDDLES,
    OPENERS,
    REF_ALPHABET,
    REPLIES,
    SIGN_OFFS,
    SUBJECTS,
    WARMUP_HEADER,
    build_message,
    compose_message,
    compose_reply,
    exchange_id,
    first_name,
    identify_warmup,
    parse_ref_tag,
    ref_tag,
    reply_decision,
    reply_subject,
    should_reply,
    tag_subject,
)

DAY = date(2026, 6, 10)
EXCHANGES = [exchange_id("mbx_1", DAY, index) for index in range(400)]


def test_the_phrase_bank_is_large_and_has_no_duplicates() -> None:
    banks = (SUBJECTS, OPENERS, MIDDLES, CLOSERS, REPLIES, SIGN_OFFS, GREETINGS_NAMED, GREETINGS_PLAIN)
    phrases = [phrase for bank in banks for phrase in bank]
    assert len(phrases) == len(set(phrases))
    assert len(SUBJECTS) + len(OPENERS) + len(MIDDLES) + len(CLOSERS) + len(REPLIES) >= 40
    assert all("[" not in phrase for phrase in phrases)  # nothing that could look like a ref tag


def test_the_alphabet_has_32_symbols_without_look_alikes() -> None:
    assert len(REF_ALPHABET) == len(set(REF_ALPHABET)) == 32
    assert not set("0O1I") & set(REF_ALPHABET)


def test_ref_tags_are_eight_safe_characters_fixed_by_the_exchange() -> None:
    tags = [ref_tag(exchange) for exchange in EXCHANGES]
    assert all(len(tag) == 8 and set(tag) <= set(REF_ALPHABET) for tag in tags)
    assert tags == [ref_tag(exchange) for exchange in EXCHANGES]
    assert len(set(tags)) == len(tags)


def test_exchange_ids_are_stable_per_mailbox_day_and_index() -> None:
    assert exchange_id("mbx_1", DAY, 0) == EXCHANGES[0]
    assert len(set(EXCHANGES)) == len(EXCHANGES)
    assert exchange_id("mbx_2", DAY, 0) != EXCHANGES[0]
    assert exchange_id("mbx_1", DAY + timedelta(days=1), 0) != EXCHANGES[0]
    assert all(re.fullmatch(r"wx_[a-z2-9]{20}", exchange) for exchange in EXCHANGES)


@pytest.mark.parametrize("bad", ["", "has space", "x" * 65, "semi;colon", "new\nline"])
def test_ref_tag_refuses_odd_exchange_ids(bad: str) -> None:
    with pytest.raises(ValueError, match="exchange id"):
        ref_tag(bad)


@pytest.mark.parametrize(
    ("subject", "tag"),
    [
        ("Quick question [ref: ABCDEFGH]", "ABCDEFGH"),
        ("Re: Quick question [ref: ABCDEFGH]", "ABCDEFGH"),
        ("Fwd: [ref: AAAAAAAA] then [ref: 23456789]", "23456789"),
        ("Quick question [ref: ABCDEFG]", None),  # seven characters
        ("Quick question [ref: ABCDEFG0]", None),  # 0 is not in the alphabet
        ("Quick question [ref: abcdefgh]", None),
        ("Quick question [ref:ABCDEFGH]", None),
        ("Quick question", None),
        ("", None),
    ],
)
def test_parse_ref_tag(subject: str, tag: str | None) -> None:
    assert parse_ref_tag(subject) == tag


EXCHANGE = EXCHANGES[0]
SUBJECT = tag_subject("Catching up", EXCHANGE)


@pytest.mark.parametrize(
    ("subject", "header", "expected"),
    [
        (SUBJECT, EXCHANGE, EXCHANGE),
        ("Re: " + SUBJECT, f"  {EXCHANGE} ", EXCHANGE),
        (SUBJECT, None, None),  # the tag alone: the caller looks it up
        (SUBJECT, "", None),
        ("Catching up", EXCHANGE, None),  # header without its tag
        (tag_subject("Catching up", EXCHANGES[1]), EXCHANGE, None),  # tag of another exchange
        (SUBJECT, "not valid!", None),
        (None, EXCHANGE, None),
    ],
)
def test_identify_warmup(subject: str | None, header: str | None, expected: str | None) -> None:
    assert identify_warmup(subject, header) == expected


def test_a_message_is_short_natural_tagged_and_reproducible() -> None:
    message = compose_message(EXCHANGE, sender_name="Jordan Lee", recipient_name="Sam Park")
    assert message == compose_message(EXCHANGE, sender_name="Jordan Lee", recipient_name="Sam Park")
    assert message.subject.endswith(f" [ref: {ref_tag(EXCHANGE)}]")
    assert message.subject.removesuffix(f" [ref: {ref_tag(EXCHANGE)}]") in SUBJECTS
    assert message.ref == ref_tag(EXCHANGE)
    assert message.headers == ((WARMUP_HEADER, EXCHANGE),)
    assert identify_warmup(message.subject, dict(message.headers)[WARMUP_HEADER]) == EXCHANGE
    greeting, body, closing = message.text.rstrip("\n").split("\n\n")
    assert "Sam" in greeting and "Park" not in greeting
    assert closing.endswith("\nJordan")
    assert 1 <= body.count(".") + body.count("?") <= 4


@pytest.mark.parametrize(("sender", "recipient"), [(None, None), ("", "  "), ("Jordan", None)])
def test_a_message_without_names_has_no_placeholders(sender: str | None, recipient: str | None) -> None:
    for exchange in EXCHANGES[:50]:
        text = compose_message(exchange, sender_name=sender, recipient_name=recipient).text
        assert "{" not in text and "None" not in text
        assert text.split("\n", 1)[0] in GREETINGS_PLAIN


def test_messages_vary() -> None:
    messages = [compose_message(x, sender_name="Jordan", recipient_name="Sam") for x in EXCHANGES]
    subjects = {m.subject.rsplit(" [ref: ", 1)[0] for m in messages}
    bodies = {m.text for m in messages}
    assert len(subjects) == len(SUBJECTS)
    assert len(bodies) > 300
    assert max(len(m.text) for m in messages) < 500


@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("Jordan Lee", "Jordan"),
        ("  Jordan  ", "Jordan"),
        ("Lee, Jordan", "Jordan"),
        ('"Jordan" Lee', "Jordan"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_first_name(name: str | None, first: str | None) -> None:
    assert first_name(name) == first


@pytest.mark.parametrize(
    ("subject", "reply"),
    [
        ("Catching up [ref: ABCDEFGH]", "Re: Catching up [ref: ABCDEFGH]"),
        ("Re: Catching up [ref: ABCDEFGH]", "Re: Catching up [ref: ABCDEFGH]"),
        ("RE: x", "RE: x"),
        ("Regarding x", "Re: Regarding x"),
    ],
)
def test_reply_subject(subject: str, reply: str) -> None:
    assert reply_subject(subject) == reply


def test_the_reply_is_threaded_on_the_original_and_keeps_the_exchange() -> None:
    original = compose_message(EXCHANGE, sender_name="Jordan Lee", recipient_name="Sam Park")
    reply = compose_reply(
        EXCHANGE,
        original_subject=original.subject,
        original_message_id="<b@mail.example.com>",
        original_references=("<a@mail.example.com>",),
        sender_name="Sam Park",
        recipient_name="Jordan Lee",
    )
    headers = dict(reply.headers)
    assert reply.subject == "Re: " + original.subject
    assert headers[WARMUP_HEADER] == EXCHANGE
    assert headers["In-Reply-To"] == "<b@mail.example.com>"
    assert headers["References"] == "<a@mail.example.com> <b@mail.example.com>"
    assert identify_warmup(reply.subject, headers[WARMUP_HEADER]) == EXCHANGE
    greeting, body, closing = reply.text.rstrip("\n").split("\n\n")
    assert "Jordan" in greeting
    assert body in REPLIES
    assert closing.endswith("\nSam")


def test_reply_decision_is_seeded_per_exchange_and_follows_the_share() -> None:
    assert [should_reply(x) for x in EXCHANGES] == [should_reply(x) for x in EXCHANGES]
    assert not any(should_reply(x, 0) for x in EXCHANGES)
    assert all(should_reply(x, 1) for x in EXCHANGES)
    # The default share is 30% (docs/decisions.md, Warmup rules).
    assert [should_reply(x) for x in EXCHANGES] == [should_reply(x, 0.3) for x in EXCHANGES]
    for share in (0.3, 0.5, 0.8):
        replied = sum(should_reply(x, share) for x in EXCHANGES) / len(EXCHANGES)
        assert abs(replied - share) < 0.07
    # A larger share only adds replies: an exchange answered at 30% is answered at 50%.
    assert all(should_reply(x, 0.5) for x in EXCHANGES if should_reply(x, 0.3))


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_reply_share_outside_zero_to_one(share: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        should_reply(EXCHANGE, share)


def test_reply_delays_are_natural_and_varied() -> None:
    decisions = [reply_decision(x) for x in EXCHANGES]
    # 5 minutes to 3 hours after the email arrived (docs/decisions.md, Warmup rules).
    assert all(timedelta(minutes=5) <= d.delay < timedelta(hours=3) for d in decisions)
    assert len({d.delay for d in decisions}) > 300
    assert [d.reply for d in decisions] == [should_reply(x) for x in EXCHANGES]


def test_build_message_round_trips_through_the_parser() -> None:
    warmup = compose_message(EXCHANGE, sender_name="Jordan Lee", recipient_name="Sam Park")
    sent_at = datetime(2026, 6, 10, 9, 12, tzinfo=UTC)
    raw = build_message(
        warmup,
        from_address="jordan@acme.example",
        from_name="Jordan Lee",
        to_address="sam@peer.example",
        to_name=None,
        message_id="<wx@acme.example>",
        sent_at=sent_at,
    ).as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == warmup.subject
    assert parsed["From"] == "Jordan Lee <jordan@acme.example>"
    assert parsed["To"] == "sam@peer.example"
    assert parsed[WARMUP_HEADER] == EXCHANGE
    assert parsed["Message-ID"] == "<wx@acme.example>"
    assert parsed["Date"].datetime == sent_at
    body = parsed.get_body(("plain",))
    assert body is not None
    assert body.get_content() == warmup.text
