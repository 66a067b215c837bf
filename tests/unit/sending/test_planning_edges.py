"""The scheduler's planning at its edges: what a plan records per mailbox, the pacer registry kept on a mailbox
(forgotten after 24 hours, refreshed after 12), the 1-minute horizon and 15-minute stay-due limits exactly,
deferral keys and times, and the seeds of weighted rotation. Numbers are the spec's, written out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from kindling.campaigns.models import SendingWindow
from kindling.sending import planning, windows
from kindling.sending.repository import CampaignDay, MailboxState
from tests.unit.sending.test_planning import box, settings

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)  # a Wednesday
EVERY_DAY = [1, 2, 3, 4, 5, 6, 7]
H = timedelta(hours=1)


def plan(
    pool: list[planning.PoolMailbox],
    domains: list[str],
    *,
    day: CampaignDay | None = None,
    campaign_id: str = "c1",
    seed: str = "seed",
    workspace_timezone: str = "UTC",
    **s: object,
) -> planning.Plan:
    ctx = planning.CampaignContext(campaign_id, seed, settings(**s), day or CampaignDay(), workspace_timezone)
    candidates = [planning.Candidate(f"k{i}", d) for i, d in enumerate(domains)]
    return planning.plan_campaign(ctx, pool, candidates, NOW, planning.schedule_of(ctx.settings))


def iso(when: datetime) -> str:
    return when.isoformat()


@pytest.mark.parametrize(
    ("raw", "minutes", "expected"),
    [
        (None, 5.0, True),
        ("", 5.0, True),
        (json.dumps({"c2": [5, iso(NOW - H)]}), 5.0, True),  # another campaign's entry only
        (json.dumps({"c1": [10, iso(NOW - H)]}), 5.0, True),  # the interval changed
        (json.dumps({"c1": [5, iso(NOW - H)]}), 5.0, False),
        (json.dumps({"c1": [5, iso(NOW - 11 * H)]}), 5.0, False),
        (json.dumps({"c1": [5, iso(NOW - 12 * H)]}), 5.0, False),  # exactly half of the 24 h memory
        (json.dumps({"c1": [5, iso(NOW - 12 * H - timedelta(seconds=1))]}), 5.0, True),
        (json.dumps({"c1": [5, iso(NOW - 23 * H)]}), 5.0, True),
    ],
)
def test_needs_interval(raw: str | None, minutes: float, expected: bool) -> None:
    assert planning.needs_interval(raw, "c1", minutes, NOW) is expected


def test_next_interval_state_is_compact_sorted_json_that_forgets_after_24_hours() -> None:
    raw = json.dumps({"c9": [3, iso(NOW - 24 * H)], "c2": [15, iso(NOW - 23 * H)], "c0": [1, iso(NOW - 25 * H)]})
    assert planning.next_interval_state(raw, "c1", 5, NOW) == (
        '{"c1":[5,"2026-06-10T09:00:00+00:00"],"c2":[15,"2026-06-09T10:00:00+00:00"]}'
    )
    assert planning.next_interval_state(None, "c1", 5, NOW) == '{"c1":[5,"2026-06-10T09:00:00+00:00"]}'


def test_active_intervals_forget_after_exactly_24_hours() -> None:
    raw = json.dumps({"a": [3, iso(NOW - 24 * H)], "b": [15, iso(NOW - 24 * H + timedelta(seconds=1))]})
    assert planning.active_intervals(raw, NOW) == {"b": 15.0}


def test_a_plan_records_each_mailboxs_sends_domains_and_last_slot() -> None:
    result = plan([box("m1")], ["a.test", "b.test", "a.test"], minutes_between_sends=0)
    mailbox = result.mailboxes["m1"]
    assert mailbox.mailbox_id == "m1"
    assert mailbox.sends == 3
    assert mailbox.domains == {"a.test": 2, "b.test": 1}
    assert mailbox.last_slot == NOW
    assert [(a.key, a.mailbox_id) for a in result.assignments] == [("k0", "m1"), ("k1", "m1"), ("k2", "m1")]


@pytest.mark.parametrize(
    ("daily_limit", "warmup", "sends", "reached"),
    [
        (2, 0, 1, False),
        (2, 0, 2, True),
        (100, 498, 2, True),  # the 500/day hard cap less 498 warmup emails leaves 2
        (100, 497, 2, False),
    ],
)
def test_reaching_the_daily_limit_is_flagged(daily_limit: int, warmup: int, sends: int, reached: bool) -> None:
    state = MailboxState("m1", exists=True, day="2026-06-10", warmup=warmup)
    result = plan([box("m1", daily_limit=daily_limit, state=state)], [f"d{i}.test" for i in range(sends)])
    assert len(result.assignments) == sends
    assert result.mailboxes["m1"].reached_daily_limit is reached


def test_the_campaigns_earlier_sends_from_a_mailbox_count_toward_its_campaign_mailbox_limit() -> None:
    day = CampaignDay(mailboxes={"m1": 2})
    result = plan([box("m1", campaign_mailbox_limit=3)], ["a.test", "b.test", "c.test"], day=day)
    assert len(result.assignments) == 1


def test_a_recipient_domain_limit_of_one_allows_one() -> None:
    result = plan([box("m1")], ["same.test", "same.test"], recipient_domain_daily_limit=1)
    assert len(result.assignments) == 1
    assert result.mailboxes["m1"].domains_at_limit == ["same.test"]


@pytest.mark.parametrize(("free_in", "assigned"), [(timedelta(seconds=59), True), (timedelta(minutes=1), False)])
def test_a_tick_plans_one_minute_ahead_exclusive(free_in: timedelta, assigned: bool) -> None:
    state = MailboxState("m1", exists=True, next_allowed_at=NOW + free_in)
    result = plan([box("m1", state=state)], ["a.test"])
    assert bool(result.assignments) is assigned
    if not assigned:
        assert result.deferrals == [planning.Deferral("k0", None, "pacer")]


@pytest.mark.parametrize(
    ("interval", "until"),
    [(15, None), (16, NOW + timedelta(minutes=16))],  # blocked for 15 minutes or less: stays due
)
def test_stay_due_up_to_fifteen_minutes(interval: int, until: datetime | None) -> None:
    result = plan([box("m1")], ["a.test", "b.test"], minutes_between_sends=interval)
    assert [a.key for a in result.assignments] == ["k0"]
    assert result.deferrals == [planning.Deferral("k1", until, "pacer")]


def test_a_deferral_to_the_next_day_lands_in_the_window() -> None:
    state = MailboxState("m1", exists=True, day="2026-06-10", sent=50)
    result = plan(
        [box("m1", state=state)],
        ["a.test"],
        sending_windows=[SendingWindow(start="09:00", end="17:00")],
    )
    assert result.deferrals == [planning.Deferral("k0", datetime(2026, 6, 11, 9, 0, tzinfo=UTC), "mailbox_daily_limit")]


def test_mailbox_days_follow_the_workspace_timezone() -> None:
    # Tokyo's next midnight after 09:00 UTC (18:00 JST) is 15:00 UTC.
    state = MailboxState("m1", exists=True, day="2026-06-10", sent=50)
    result = plan([box("m1", state=state)], ["a.test"], workspace_timezone="Asia/Tokyo")
    assert result.deferrals == [
        planning.Deferral("k0", datetime(2026, 6, 10, 15, 0, tzinfo=UTC), "mailbox_daily_limit")
    ]


def test_campaign_days_follow_the_campaign_timezone() -> None:
    # New York's next midnight after 09:00 UTC (05:00 EDT) is 04:00 UTC the next day.
    day = CampaignDay(sent=5)
    result = plan([box("m1")], ["a.test"], day=day, daily_send_limit=5, timezone="America/New_York")
    assert result.deferrals == [
        planning.Deferral("k0", datetime(2026, 6, 11, 4, 0, tzinfo=UTC), "campaign_daily_limit")
    ]


def test_no_mailbox_at_all_tries_again_in_an_hour() -> None:
    result = plan([], ["a.test", "b.test"])
    assert result.deferrals == [
        planning.Deferral("k0", NOW + H, "no_mailbox"),
        planning.Deferral("k1", NOW + H, "no_mailbox"),
    ]


def test_weighted_picks_are_seeded_by_campaign_enrollment_and_seed() -> None:
    pool = [box("m1"), box("m2")]
    domains = [f"d{i}.test" for i in range(40)]

    def picks(**kwargs: str) -> list[str]:
        result = plan(pool, domains, rotation_mode="weighted", daily_send_limit=10_000, **kwargs)  # type: ignore[arg-type]
        return [a.mailbox_id for a in result.assignments]

    assert picks() == picks()
    assert picks(campaign_id="c2") != picks()
    assert picks(seed="other") != picks()


def test_schedule_of_reads_minutes_and_bounds() -> None:
    start, end = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)
    schedule = planning.schedule_of(
        settings(
            schedule_days=[1],
            sending_windows=[SendingWindow(start="09:30", end="17:45"), SendingWindow(start="20:15", end="24:00")],
            start_date=start,
            end_date=end,
        )
    )
    assert schedule.week[0] == (windows.Window(570, 1065), windows.Window(1215, 1440))
    assert (schedule.not_before, schedule.not_after) == (start, end)
