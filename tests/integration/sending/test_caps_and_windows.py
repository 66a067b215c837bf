"""Caps, pacer, rotation, windows, parking and suppression through the real scheduler (moto + SMTP sink):
the minimum cap always wins, a lowered limit pauses silently until tomorrow, limit.hit is emitted once, sends
happen only inside the window and days, and suppressed addresses are never claimed nor sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from kindling.campaigns.models import SendingWindow
from kindling.enrollments.service import campaign_service
from kindling.mailboxes.repository import MailboxRepository
from kindling.sending.repository import SendingRepository
from kindling.suppressions.service import SuppressionService
from tests.integration.sending.world import World

ONE_STEP = [{"subject": "Hi {{firstName}}", "body_html": "<p>Hello</p>"}]
TOMORROW = datetime(2026, 6, 11, tzinfo=UTC)  # the clock starts on 2026-06-10 09:00 UTC (a Wednesday)


def leads(world: World, n: int, domain: str = "client{n}.test") -> list[str]:
    return [f"lead{i}@{domain.format(n=i)}" for i in range(n)]


def test_mailbox_daily_limit_defers_to_tomorrow_and_emits_limit_hit_once(world: World) -> None:
    mailbox = world.mailbox(daily_limit=3)
    campaign = world.campaign([mailbox], ONE_STEP, minutes_between_sends=0)
    prospects = world.prospects(leads(world, 5))
    world.enroll(campaign, prospects)
    report, result = world.run()
    assert (report.claimed, report.rescheduled, result.sent) == (3, 2, 3)
    waiting = [world.enrollment(campaign, p) for p in prospects if world.enrollment(campaign, p).status == "pending"]
    assert len(waiting) == 2 and all(e.next_send_at >= TOMORROW for e in waiting)
    hits = world.published.of("limit.hit")
    assert [(h.data["limitType"], h.data["limitValue"]) for h in hits] == [("daily_mailbox", 3)]
    assert world.run(timedelta(hours=2))[0].claimed == 0
    report, result = world.run(timedelta(hours=13, minutes=10))  # the next UTC day
    assert report.claimed == 2 and result.sent == 2
    assert len(world.published.of("limit.hit")) == 1  # not reached again on the new day (2 of 3)


def test_the_minimum_cap_wins_across_mailbox_campaign_and_campaign_mailbox(world: World) -> None:
    first, second = world.mailbox("one@lab.test", daily_limit=100), world.mailbox("two@lab.test", daily_limit=100)
    campaign = world.campaign(
        [first, second], ONE_STEP, minutes_between_sends=0, daily_send_limit=5, mailbox_limits={first.id: 1}
    )
    world.enroll(campaign, world.prospects(leads(world, 8)))
    report, result = world.run()
    assert report.claimed == 5 and result.sent == 5  # campaign limit 5 < 100 + 100
    by_sender: dict[str, int] = {}
    for message in world.server.handler.delivered:
        by_sender[message.mail_from] = by_sender.get(message.mail_from, 0) + 1
    assert by_sender == {"one@lab.test": 1, "two@lab.test": 4}  # campaign-mailbox cap 1 on the first


def test_a_limit_lowered_below_todays_count_pauses_silently_until_tomorrow(world: World) -> None:
    mailbox = world.mailbox(daily_limit=10)
    earlier = world.campaign([mailbox], ONE_STEP, minutes_between_sends=0)
    world.enroll(earlier, world.prospects(leads(world, 4)))
    assert world.run()[1].sent == 4
    campaign = world.campaign([mailbox], ONE_STEP, minutes_between_sends=0)
    more = world.prospects(leads(world, 3, domain="later{n}.test"))
    world.enroll(campaign, more)
    repo = MailboxRepository()
    current = repo.get(world.workspace_id, mailbox.id)
    repo.replace(current.model_copy(update={"daily_send_limit": 2}), current.version)
    report, result = world.run()
    assert report.claimed == 0 and report.errors == [] and result.sent == 0
    assert report.rescheduled == 3 and all(world.enrollment(campaign, p).next_send_at >= TOMORROW for p in more)
    assert world.published.of("limit.hit") == []  # silently: the limit was lowered, not reached by sending


def test_recipient_domain_limit(world: World) -> None:
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], ONE_STEP, minutes_between_sends=0, recipient_domain_daily_limit=2)
    world.enroll(campaign, world.prospects(leads(world, 4, domain="same.test")))
    report, result = world.run()
    assert report.claimed == 2 and result.sent == 2 and report.rescheduled == 2
    hits = world.published.of("limit.hit")
    assert [(h.data["limitType"], h.data.get("domain")) for h in hits] == [("daily_domain", "same.test")]


def test_pacer_spaces_sends_and_round_robin_rotates(world: World) -> None:
    first, second = world.mailbox("one@lab.test"), world.mailbox("two@lab.test")
    campaign = world.campaign([first, second], ONE_STEP, minutes_between_sends=5)
    world.enroll(campaign, world.prospects(leads(world, 5)))
    claimed_at: list[tuple[datetime, str]] = []
    for _ in range(12):
        report = world.tick(timedelta(minutes=1))
        for job in world.queue.jobs:
            claimed_at.append((job.send_at, job.mailbox_id))
        world.send()
    assert len(claimed_at) == 5
    assert [m for _, m in claimed_at[:4]] == [first.id, second.id, first.id, second.id]
    for mailbox_id in (first.id, second.id):
        times = [t for t, m in claimed_at if m == mailbox_id]
        assert all(b - a >= timedelta(minutes=5) for a, b in pairwise(times))
    assert report.errors == []


def test_pacer_holds_across_campaigns_sharing_a_mailbox(world: World) -> None:
    mailbox = world.mailbox()
    slow = world.campaign([mailbox], ONE_STEP, minutes_between_sends=15)
    fast = world.campaign([mailbox], ONE_STEP, minutes_between_sends=5)
    world.enroll(slow, world.prospects(["s1@x1.test", "s2@x2.test"]))
    world.enroll(fast, world.prospects(["f1@y1.test", "f2@y2.test"]))
    slots: list[datetime] = []
    for _ in range(60):
        world.tick(timedelta(minutes=1))
        slots += [job.send_at for job in world.queue.jobs]
        world.send()
    slots.sort()
    assert len(slots) == 4
    # From the first tick both campaigns plan on the mailbox, the slow one's 15 minutes hold for the fast one
    # too (inventory 4.3), whichever of them sends first.
    assert all(b - a >= timedelta(minutes=15) for a, b in pairwise(slots)), slots


def test_window_and_days_defer_sends(world: World) -> None:
    mailbox = world.mailbox()
    windowed = world.campaign(
        [mailbox],
        ONE_STEP,
        minutes_between_sends=0,
        timezone="Europe/Paris",
        sending_windows=[SendingWindow(start="14:00", end="15:00")],
    )
    mondays = world.campaign([mailbox], ONE_STEP, minutes_between_sends=0, schedule_days=[1])
    (w_lead,) = world.prospects(["w@w.test"])
    (m_lead,) = world.prospects(["m@m.test"])
    world.enroll(windowed, [w_lead])
    world.enroll(mondays, [m_lead])
    report = world.tick()
    assert report.claimed == 0 and report.rescheduled == 2
    opening = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)  # 14:00 in Paris (CEST)
    w = world.enrollment(windowed, w_lead)
    assert opening + timedelta(minutes=1) <= w.next_send_at <= opening + timedelta(minutes=5)
    m = world.enrollment(mondays, m_lead)
    assert m.next_send_at.date() == datetime(2026, 6, 15).date()  # the next Monday
    assert world.run(timedelta(hours=2, minutes=50))[0].claimed == 0  # 13:50 Paris: not yet
    assert world.run(timedelta(minutes=20))[1].sent == 1
    assert [d.rcpt_tos for d in world.server.handler.delivered] == [["w@w.test"]]


def test_no_usable_mailbox_retries_in_an_hour(world: World) -> None:
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], ONE_STEP, minutes_between_sends=0)
    (lead,) = world.prospects(["x@x.test"])
    world.enroll(campaign, [lead])
    repo = MailboxRepository()
    current = repo.get(world.workspace_id, mailbox.id)
    repo.replace(current.model_copy(update={"sending_enabled": False}), current.version)
    report = world.tick()
    assert report.claimed == 0 and report.rescheduled == 1
    assert world.enrollment(campaign, lead).next_send_at == world.clock.now() + timedelta(hours=1)


def test_suppressed_at_claim_time_and_right_before_smtp(world: World) -> None:
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], ONE_STEP, minutes_between_sends=0)
    early, late, fine = world.prospects(["early@x.test", "late@y.test", "fine@z.test"])
    world.enroll(campaign, [early, late, fine])
    suppressions = SuppressionService()
    suppressions.suppress_emails(world.workspace_id, ["early@x.test"], reason="manual")
    report = world.tick()
    assert report.claimed == 2 and report.stopped == 1
    assert world.enrollment(campaign, early).status == "suppressed"
    suppressions.suppress_emails(world.workspace_id, ["late@y.test"], reason="manual")
    result = world.send()
    assert result.sent == 1 and result.skipped == 1
    assert world.enrollment(campaign, late).status == "suppressed"
    assert [d.rcpt_tos for d in world.server.handler.delivered] == [["fine@z.test"]]


def test_a_draft_campaign_parks_then_sends_once_started(world: World) -> None:
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], ONE_STEP, status="draft", minutes_between_sends=0)
    world.enroll(campaign, world.prospects(["p@p.test", "q@q.test"]))
    report = world.tick()
    assert report.parked == 2 and report.claimed == 0
    assert world.tick(timedelta(minutes=1)).due == 0  # parked: not read again by the shard queries
    campaign_service(clock=world.clock).start(world.workspace_id, campaign.campaign_id)
    report = world.tick(timedelta(minutes=1))
    assert report.unparked == 2 and report.claimed == 2
    assert world.send().sent == 2
    state = SendingRepository().campaign_state(world.workspace_id, campaign.campaign_id)
    assert state is not None and state.due_pk is None


def test_a_reply_to_one_campaign_stops_every_campaign_that_stops_on_replies(world: World) -> None:
    from kindling.prospects.repository import ProspectRepository

    mailbox = world.mailbox()
    stops = world.campaign([mailbox], ONE_STEP, minutes_between_sends=0)
    keeps_going = world.campaign([mailbox], ONE_STEP, minutes_between_sends=0, stop_on_reply=False)
    (ann,) = world.prospects(["ann@replied.test"])
    world.enroll(stops, [ann])
    world.enroll(keeps_going, [ann])
    # Ann replied to a campaign elsewhere (the inbox sync records it on her email record).
    ProspectRepository().mark_replied(world.workspace_id, ann.email, world.clock.now())
    report = world.tick()
    assert report.stopped == 1 and report.claimed == 1
    assert world.enrollment(stops, ann).status == "replied"
    world.send()
    assert [d.rcpt_tos for d in world.server.handler.delivered] == [["ann@replied.test"]]
    assert world.enrollment(keeps_going, ann).status != "replied"
