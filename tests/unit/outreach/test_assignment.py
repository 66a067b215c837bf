"""The tick's choice of an account (pace left this minute, cooldowns, connection, stickiness) and the pacer's
budget read from its raw item, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kindling.campaigns.models import CampaignRecord, CampaignSettings, StepRecord
from kindling.linkedin.models import LinkedInAccount
from kindling.linkedin.usage import pace_budget
from kindling.outreach import rules
from kindling.outreach.engine import _assign, _Candidate
from kindling.outreach.repository import LinkedInEnrollmentItem, PoolState

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


def _pace(*ms: int | None) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for name, value in zip(("older_ms", "newer_ms"), ms, strict=False):
        if value is not None:
            raw[name] = {"N": str(value)}
    return raw


@pytest.mark.parametrize(
    ("raw", "budget"),
    [
        (None, 2),  # never used
        ({}, 2),
        (_pace(None, NOW_MS - 5_000), 1),  # one action 5 s ago
        (_pace(NOW_MS - 70_000, NOW_MS - 5_000), 1),  # the older one is more than 60 s old
        (_pace(NOW_MS - 30_000, NOW_MS - 5_000), 0),  # two in the last minute
        (_pace(NOW_MS - 60_000, NOW_MS - 60_000), 2),  # exactly 60 s ago: out of the window
        (_pace(NOW_MS - 59_999, NOW_MS - 1), 0),
        (_pace(NOW_MS - 120_000, NOW_MS - 61_000), 2),
    ],
)
def test_pace_budget(raw: dict[str, Any] | None, budget: int) -> None:
    assert pace_budget(raw, NOW) == budget


def _account(account_id: str, status: str = "connected", provider: str | None = "prov") -> LinkedInAccount:
    return LinkedInAccount(
        id=account_id,
        workspace_id="ws_1",
        status=status,  # type: ignore[arg-type]
        provider_account_id=provider,
        created_at=NOW,
        updated_at=NOW,
    )


def _record(pool: list[str], action: str) -> tuple[CampaignRecord, StepRecord]:
    step = StepRecord(
        id="step-1",
        step_index=0,
        type="linkedin",
        linkedin_action_type=action,
        variants=[],
        created_at=NOW,
        updated_at=NOW,
    )
    record = CampaignRecord(
        campaign_id="c1",
        workspace_id="ws_1",
        name="c",
        channel="linkedin",
        status="running",
        settings=CampaignSettings(),
        linkedin_account_ids=pool,
        steps=[step],
        created_at=NOW,
        updated_at=NOW,
    )
    return record, step


def _candidate(step: StepRecord, prospect_id: str, sticky: str | None = None) -> _Candidate:
    item = LinkedInEnrollmentItem(pk="ws_1#C#c1", sk=f"E#{prospect_id}")
    item.prospect_id = prospect_id
    item.li_account_id = sticky
    return _Candidate(item, step, 0, "a1")


POOL = ["li_a", "li_b"]
A, B = rules.rotation(POOL, "p1", None)  # p1's rotation order over the pool


@pytest.mark.parametrize(
    ("action", "accounts", "cooldowns", "budget", "sticky", "expected", "budget_after"),
    [
        # the first account of the prospect's rotation with pace left
        ("view_profile", POOL, {}, {A: 2, B: 2}, None, (A, False), {A: 1, B: 2}),
        # the first paced out: the next one
        ("view_profile", POOL, {}, {A: 0, B: 1}, None, (B, False), {A: 0, B: 0}),
        # every account paced out: wait for a later minute
        ("view_profile", POOL, {}, {A: 0, B: 0}, None, (None, True), {A: 0, B: 0}),
        # the first is disconnected: the next one
        (
            "send_invite",
            [B],
            {},
            {A: 2, B: 2},
            None,
            (B, False),
            {A: 2, B: 1},
        ),
        # no usable account: the worker's slow path disposes of it (no pace question)
        ("send_invite", [], {}, {A: 2, B: 2}, None, (None, False), {A: 2, B: 2}),
        # an invite skips an account cooling down; a view does not
        (
            "send_invite",
            POOL,
            {A: NOW + timedelta(hours=5)},
            {A: 2, B: 2},
            None,
            (B, False),
            {A: 2, B: 1},
        ),
        (
            "view_profile",
            POOL,
            {A: NOW + timedelta(hours=5)},
            {A: 2, B: 2},
            None,
            (A, False),
            {A: 1, B: 2},
        ),
        # a cooldown that ended is no cooldown
        (
            "send_invite",
            POOL,
            {A: NOW},
            {A: 2, B: 2},
            None,
            (A, False),
            {A: 1, B: 2},
        ),
        # sticky after an invite: that account alone, even paced out
        ("send_message", POOL, {}, {A: 2, B: 2}, B, (B, False), {A: 2, B: 1}),
        ("send_message", POOL, {}, {A: 2, B: 0}, B, (None, True), {A: 2, B: 0}),
        # waits take no cap and no pace
        ("wait_reply", POOL, {}, {A: 0, B: 0}, None, (A, False), {A: 0, B: 0}),
    ],
)
def test_assign(
    action: str,
    accounts: list[str],
    cooldowns: dict[str, datetime],
    budget: dict[str, int],
    sticky: str | None,
    expected: tuple[str | None, bool],
    budget_after: dict[str, int],
) -> None:
    record, step = _record(POOL, action)
    pool = PoolState(
        accounts={a: _account(a) for a in accounts}
        | {a: _account(a, status="disconnected") for a in POOL if a not in accounts},
        cooldowns=cooldowns,
        pace=dict(budget),
    )
    left = dict(budget)
    assert _assign(record, _candidate(step, "p1", sticky), pool, left, NOW) == expected
    assert left == budget_after
