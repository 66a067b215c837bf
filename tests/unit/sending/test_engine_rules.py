"""Pure rules of the sending engine: the watchdog, campaign safety, stop rules, due keys, send ids and the
queue message format."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from kindling.campaigns.models import CampaignSettings, StepRecord, VariantRecord
from kindling.mail.outcomes import Outcome
from kindling.platform import keys
from kindling.sending import safety, watchdog
from kindling.sending.compose import message_id
from kindling.sending.ledger import send_id_for, send_id_of_message_id
from kindling.sending.mailbox_release import next_send_after_deletion
from kindling.sending.messages import SendMessage
from kindling.sending.scheduler import pick_variant, thread_subject
from kindling.sending.sender import soft_retry_delay
from kindling.sending.service import current_step, should_stop

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
M = timedelta(minutes=1)
S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("status", "queued_ago", "sending_ago", "recoveries", "decision"),
    [
        ("queued", 5 * M, None, 0, "wait"),
        ("queued", 10 * M, None, 0, "wait"),  # 10 minutes in flight is not yet stuck (spec: "> 10 minutes")
        ("queued", 10 * M + S, None, 0, "requeue"),
        ("queued", 11 * M, None, 0, "requeue"),
        ("queued", 11 * M, None, 1, "requeue"),
        ("queued", 11 * M, None, 2, "fail"),  # the third recovery
        ("sending", 30 * M, 9 * M, 0, "wait"),
        ("sending", 30 * M, 10 * M, 0, "wait"),
        ("sending", 30 * M, 10 * M + S, 0, "unknown"),
        ("sending", 10 * M + S, None, 0, "unknown"),  # no sending time recorded: counted from the claim
        ("sending", 30 * M, 11 * M, 0, "unknown"),
        ("sent", 60 * M, 60 * M, 0, "wait"),
    ],
)
def test_watchdog(
    status: str, queued_ago: timedelta, sending_ago: timedelta | None, recoveries: int, decision: str
) -> None:
    sending_at = NOW - sending_ago if sending_ago is not None else None
    assert watchdog.decide(status, NOW - queued_ago, sending_at, recoveries, NOW) == decision


@pytest.mark.parametrize(
    ("sent", "bounced", "complaints", "verdict"),
    [
        (49, 49, 0, "ok"),  # fewer than 50 sends: no verdict on the rate
        (50, 2, 0, "ok"),
        (50, 3, 0, "bounce_rate"),  # 6% > 5%
        (100, 5, 0, "ok"),  # exactly 5% is not above it
        (100, 6, 0, "bounce_rate"),
        (0, 0, 3, "spam_complaints"),
        (10, 0, 2, "ok"),
    ],
)
def test_safety_assess(sent: int, bounced: int, complaints: int, verdict: str) -> None:
    assert safety.assess(safety.Tally(sent, bounced, complaints)) == verdict


def test_safety_measures_since_the_baseline_and_recovers_when_clean() -> None:
    at_cooldown = safety.Tally(100, 10, 0)
    assert safety.assess(safety.Tally(160, 12, 0).since(at_cooldown)) == "ok"  # 2 of 60 since
    assert safety.recovered(at_cooldown, safety.Tally(100, 10, 0))
    assert not safety.recovered(at_cooldown, safety.Tally(100, 11, 0))
    assert not safety.recovered(at_cooldown, safety.Tally(100, 10, 1))


@pytest.mark.parametrize(
    ("clean", "extensions", "outcome"),
    [
        (True, 0, "recover"),
        (True, 2, "recover"),  # a clean day always ends the cooldown
        (False, 0, "extend"),  # first failed re-check: 48 h of cooldown
        (False, 1, "extend"),  # second: 72 h
        (False, 2, "pause"),  # third failed re-check in a row: paused with safety_cooldown, a person looks
        (False, 5, "pause"),
    ],
)
def test_safety_recheck_extends_twice_then_pauses(clean: bool, extensions: int, outcome: str) -> None:
    assert safety.after_recheck(clean, extensions) == outcome


@pytest.mark.parametrize(
    ("reason", "overrides", "stops"),
    [
        ("replied", {}, True),
        ("replied", {"stop_on_reply": False}, False),
        ("bounced", {"stop_on_bounce": False}, False),
        ("unsubscribed", {"stop_on_unsubscribe": False}, False),
        ("unsubscribed", {}, True),
        ("suppressed", {"stop_on_reply": False, "stop_on_bounce": False, "stop_on_unsubscribe": False}, True),
        ("stopped", {}, True),
    ],
)
def test_should_stop(reason: str, overrides: dict[str, bool], stops: bool) -> None:
    assert should_stop(CampaignSettings(**overrides), reason) is stops  # type: ignore[arg-type]


def step(index: int, *, active: bool = True, letters: str = "A", subject: str | None = "S") -> StepRecord:
    variants = [
        VariantRecord(id=f"v{index}{x}", letter=x, subject=f"{subject} {x}" if subject else None) for x in letters
    ]
    return StepRecord(
        id=f"s{index}", step_index=index, is_active=active, variants=variants, created_at=NOW, updated_at=NOW
    )


def test_current_step_skips_inactive_steps() -> None:
    steps = [step(0), step(1, active=False), step(2)]
    found = [current_step(steps, i) for i in range(4)]
    assert [s.id if s else None for s in found] == ["s0", "s2", "s2", None]


def test_variant_and_reply_subject() -> None:
    two = step(1, letters="AB")
    assert pick_variant(two, "B", "enr_1").letter == "B"  # type: ignore[union-attr]
    one = step(2, letters="A")
    assert pick_variant(one, "B", "enr_1").letter == "A"  # type: ignore[union-attr]
    steps = [step(0, letters="AB"), step(1, subject=None)]
    assert thread_subject(steps, steps[1], "B") == "S B"


def test_send_ids_are_the_message_id_local_part() -> None:
    sid = send_id_for("enr_abc", "step-1")
    assert sid == send_id_for("enr_abc", "step-1") != send_id_for("enr_abc", "step-2")
    mid = message_id("enr_abc", "step-1", "Acme.test")
    assert mid == f"<{sid}@acme.test>"
    assert send_id_of_message_id(mid) == sid
    assert send_id_of_message_id("<CAF=abc@mail.gmail.com>") is None
    assert send_id_of_message_id(sid) is None  # no domain: not a Message-ID


def test_due_keys() -> None:
    pk, sk = "ws_abcdef#CAMPAIGN#c1", "ENROLL#p1"
    due_pk, due_sk = keys.send_due_keys(pk, sk, NOW)
    assert due_pk in keys.send_shards() and due_sk == f"2026-06-10T09:00:00.000Z#{pk}#{sk}"
    assert keys.send_due_keys(pk, sk, NOW + M)[0] == due_pk  # the shard never changes for an item
    assert due_sk <= keys.upper(NOW) and keys.send_due_keys(pk, sk, NOW + timedelta(milliseconds=1))[1] > keys.upper(
        NOW
    )
    spread = {keys.send_due_keys(pk, f"ENROLL#p{i}", NOW)[0] for i in range(500)}
    assert spread == set(keys.send_shards())


def test_message_round_trip_and_refusals() -> None:
    job = SendMessage(
        workspace_id="ws_abcdef",
        campaign_id="c1",
        enrollment_id="enr_1",
        prospect_id="p1",
        step_id="s0",
        step_index=0,
        mailbox_id="m1",
        send_id="a" * 32,
        token="t",
        recipient="x@y.test",
        from_address="me@acme.test",
        message_id=f"{'a' * 32}@acme.test",
        sending_domain="acme.test",
        subject="Hi",
        html="<p>Hi</p>",
        text="Hi",
        send_at=NOW,
        queued_at=NOW,
        next_send_at=None,
    )
    assert SendMessage.from_body(job.to_body()) == job
    with pytest.raises(ValueError, match="not a send message"):
        SendMessage.from_body('{"v": 99}')
    with pytest.raises(json.JSONDecodeError):
        SendMessage.from_body("not json")


def test_soft_retry_delays_and_skipped_is_final() -> None:
    assert [soft_retry_delay(n) for n in (1, 2, 3, 4, 9)] == [5 * M, 15 * M, 60 * M, 180 * M, 180 * M]
    assert not Outcome.SKIPPED.retryable


@pytest.mark.parametrize(
    ("next_send_hours", "expected_hours"),
    [
        (22, 23),  # due 22 h after the deletion: pushed out by 1 h
        (0, 1),  # due right then: an hour later
        (-3, 1),  # overdue: an hour after the deletion, not 2 h before it
        (None, 1),  # no next send yet
    ],
)
def test_a_deleted_mailbox_pushes_the_next_send_out_by_an_hour(
    next_send_hours: int | None, expected_hours: int
) -> None:
    deleted = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
    planned = None if next_send_hours is None else deleted + timedelta(hours=next_send_hours)
    assert next_send_after_deletion(planned, deleted) == deleted + timedelta(hours=expected_hours)
