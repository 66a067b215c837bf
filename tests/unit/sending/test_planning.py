"""The scheduler's pure planning: mailbox choice under every cap, pacer slots within the tick, deferrals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kindling.campaigns.models import CampaignSettings, SendingWindow
from kindling.sending import planning, windows
from kindling.sending.backoff import BackoffState
from kindling.sending.circuit import HostCircuit
from kindling.sending.repository import CampaignDay, MailboxState

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)  # a Wednesday
EVERY_DAY = [1, 2, 3, 4, 5, 6, 7]


def settings(**overrides: object) -> CampaignSettings:
    return CampaignSettings(**{"schedule_days": EVERY_DAY, "minutes_between_sends": 0, **overrides})  # type: ignore[arg-type]


def box(mailbox_id: str, **overrides: object) -> planning.PoolMailbox:
    values: dict[str, object] = {
        "mailbox_id": mailbox_id,
        "weight": 100,
        "active_on_campaign": True,
        "status": "connected",
        "sending_enabled": True,
        "daily_limit": 50,
        "campaign_mailbox_limit": None,
        "smtp_host": "smtp.example.test",
        "state": MailboxState(mailbox_id),
    }
    values.update(overrides)
    return planning.PoolMailbox(**values)  # type: ignore[arg-type]


def plan(
    pool: list[planning.PoolMailbox], n: int, *, domain: str = "d{i}.test", day: CampaignDay | None = None, **s: object
) -> planning.Plan:
    ctx = planning.CampaignContext("c1", "seed", settings(**s), day or CampaignDay())
    candidates = [planning.Candidate(f"k{i}", domain.format(i=i)) for i in range(n)]
    return planning.plan_campaign(ctx, pool, candidates, NOW, planning.schedule_of(ctx.settings))


def counts(p: planning.Plan) -> dict[str, int]:
    found: dict[str, int] = {}
    for a in p.assignments:
        found[a.mailbox_id] = found.get(a.mailbox_id, 0) + 1
    return found


@pytest.mark.parametrize(
    ("mailbox_limit", "campaign_limit", "campaign_mailbox_limit", "expected"),
    [
        (100, 50, 30, 30),  # inventory 3.3: the campaign-mailbox cap is the smallest
        (10, 50, 30, 10),
        (100, 7, None, 7),
        (600, 10_000, None, 500),  # the hard cap
    ],
)
def test_the_smallest_cap_wins(
    mailbox_limit: int, campaign_limit: int, campaign_mailbox_limit: int | None, expected: int
) -> None:
    pool = [box("m1", daily_limit=mailbox_limit, campaign_mailbox_limit=campaign_mailbox_limit)]
    result = plan(pool, 600, daily_send_limit=campaign_limit, recipient_domain_daily_limit=10_000)
    assert len(result.assignments) == expected


def test_counts_already_made_today_are_respected() -> None:
    state = MailboxState("m1", exists=True, day="2026-06-10", sent=48, warmup=0)
    result = plan([box("m1", state=state)], 5)
    assert len(result.assignments) == 2
    # A limit lowered below today's count: nothing, and the rest waits for the next day (no error).
    lowered = plan([box("m1", state=state, daily_limit=10)], 3)
    assert lowered.assignments == []
    assert {d.until for d in lowered.deferrals} == {datetime(2026, 6, 11, tzinfo=UTC)}


def test_yesterdays_counts_do_not_count_today() -> None:
    state = MailboxState("m1", exists=True, day="2026-06-09", sent=50, warmup=400, domains={"d0.test": 50})
    assert len(plan([box("m1", state=state)], 3).assignments) == 3


def test_warmup_counts_toward_the_hard_cap_only() -> None:
    state = MailboxState("m1", exists=True, day="2026-06-10", sent=0, warmup=498)
    assert len(plan([box("m1", state=state, daily_limit=100)], 5).assignments) == 2


def test_recipient_domain_limit_per_mailbox() -> None:
    result = plan([box("m1"), box("m2")], 7, domain="same.test", recipient_domain_daily_limit=3)
    assert counts(result) == {"m1": 3, "m2": 3}
    assert result.mailboxes["m1"].domains_at_limit == ["same.test"]


def test_pacer_slots_fit_the_tick_and_the_rest_waits() -> None:
    unpaced = plan([box("m1")], 3)
    assert [a.slot for a in unpaced.assignments] == [NOW, NOW, NOW]
    # The slot is the pacer's, not the tick's: a mailbox free 20 s from now sends then (the queue delays it).
    later = MailboxState("m1", exists=True, next_allowed_at=NOW + timedelta(seconds=20))
    assert [a.slot for a in plan([box("m1", state=later)], 2, minutes_between_sends=1).assignments] == [
        NOW + timedelta(seconds=20)
    ]
    slow = plan([box("m1")], 3, minutes_between_sends=5)
    assert len(slow.assignments) == 1
    assert [d.until for d in slow.deferrals] == [None, None]  # the pacer lifts within 15 minutes: stay due
    assert slow.mailboxes["m1"].next_allowed_at == NOW + timedelta(minutes=5)


def test_the_longest_interval_of_the_campaigns_sharing_a_mailbox_wins() -> None:
    state = MailboxState("m1", exists=True, last_send_at=NOW - timedelta(minutes=6))
    alone = plan([box("m1", state=state)], 1, minutes_between_sends=5)
    assert len(alone.assignments) == 1
    shared = plan([box("m1", state=state, intervals={"other": 15.0})], 1, minutes_between_sends=5)
    assert shared.assignments == [] and shared.deferrals[0].until is None


def test_round_robin_continues_from_the_last_mailbox() -> None:
    result = plan([box("m1"), box("m2"), box("m3")], 4, day=CampaignDay(last_mailbox="m2"))
    assert [a.mailbox_id for a in result.assignments] == ["m3", "m1", "m2", "m3"]
    assert result.last_mailbox == "m3"


def test_weighted_rotation_follows_weights() -> None:
    pool = [box("m1", weight=900), box("m2", weight=100)]
    result = plan(pool, 500, rotation_mode="weighted", recipient_domain_daily_limit=10_000, daily_send_limit=10_000)
    share = counts(
        plan(
            [box("m1", weight=900, daily_limit=500), box("m2", weight=100, daily_limit=500)],
            400,
            rotation_mode="weighted",
            daily_send_limit=10_000,
        )
    )
    assert share["m1"] > 3 * share["m2"]
    assert len(result.assignments) == 100  # both mailboxes' 50/day


@pytest.mark.parametrize(
    ("overrides", "reason", "until"),
    [
        ({"active_on_campaign": False}, "inactive_on_campaign", NOW + timedelta(hours=1)),
        ({"status": "disconnected"}, "not_connected", NOW + timedelta(hours=1)),
        ({"sending_enabled": False}, "sending_disabled", NOW + timedelta(hours=1)),
        ({"state": MailboxState("m1", backoff=BackoffState(1, NOW + timedelta(minutes=5)))}, "backoff", None),
        (
            {"state": MailboxState("m1", backoff=BackoffState(4, NOW + timedelta(hours=1)))},
            "backoff",
            NOW + timedelta(hours=1),
        ),
        ({"circuit": HostCircuit(5, NOW + timedelta(minutes=5))}, "host_circuit_open", None),
    ],
)
def test_deferrals(overrides: dict[str, object], reason: str, until: datetime | None) -> None:
    result = plan([box("m1", **overrides)], 1)
    assert result.assignments == []
    assert (result.deferrals[0].reason, result.deferrals[0].until) == (reason, until)


def test_schedule_of_campaign_settings() -> None:
    schedule = planning.schedule_of(
        settings(timezone="America/New_York", sending_windows=[SendingWindow(start="09:00", end="12:00", days=[1])])
    )
    monday_10_ny = datetime(2026, 6, 15, 14, 0, tzinfo=UTC)
    assert windows.in_window(monday_10_ny, schedule)
    assert not windows.in_window(monday_10_ny + timedelta(days=1), schedule)
    bounded = planning.schedule_of(settings(end_date=NOW + timedelta(hours=1)))
    assert windows.clamp(NOW + timedelta(hours=2), bounded) is None


def test_interval_memory() -> None:
    raw = planning.next_interval_state(None, "a", 5, NOW)
    raw = planning.next_interval_state(raw, "b", 15, NOW + timedelta(hours=1))
    assert planning.active_intervals(raw, NOW + timedelta(hours=2)) == {"a": 5.0, "b": 15.0}
    assert planning.active_intervals(raw, NOW + timedelta(hours=24, minutes=30)) == {"b": 15.0}
    assert "a" not in planning.next_interval_state(raw, "b", 15, NOW + timedelta(days=2))


@pytest.mark.parametrize(
    ("thread_mailbox", "second", "assigned", "deferred_reason"),
    [
        (None, {}, "m1", None),  # a first message: rotation (round robin starts at m1)
        ("m2", {}, "m2", None),  # a follow-up stays with the thread's mailbox
        ("m2", {"daily_limit": 0}, None, "mailbox_daily_limit"),  # busy: it waits for it, never m1
        ("m2", {"state": MailboxState("m2", backoff=BackoffState(1, NOW + timedelta(minutes=1)))}, None, "backoff"),
        ("m2", {"status": "disconnected"}, "m1", None),  # gone: rotation picks another (a new thread)
        ("m2", {"sending_enabled": False}, "m1", None),
        ("m2", {"active_on_campaign": False}, "m1", None),
        ("m9", {}, "m1", None),  # no longer in the pool
    ],
)
def test_a_reply_follow_up_sticks_to_its_thread_mailbox_while_usable(
    thread_mailbox: str | None, second: dict[str, object], assigned: str | None, deferred_reason: str | None
) -> None:
    ctx = planning.CampaignContext("c1", "seed", settings(rotation_mode="round_robin"), CampaignDay())
    pool = [box("m1"), box("m2", **second)]
    candidate = planning.Candidate("k0", "d.test", thread_mailbox)
    result = planning.plan_campaign(ctx, pool, [candidate], NOW, planning.schedule_of(ctx.settings))
    assert [a.mailbox_id for a in result.assignments] == ([assigned] if assigned else [])
    assert [d.reason for d in result.deferrals] == ([deferred_reason] if deferred_reason else [])
