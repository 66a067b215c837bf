"""A week of a 4-step LinkedIn campaign (view, invite with a note, wait for acceptance, message) for 50 prospects over
2 accounts, against the provider emulator over HTTP with the injected clock (issue 18, "Done when").

Integration level, not the e2e stack: a week is ~10,000 one-minute ticks, and the stack's handlers cannot be stepped
that fast. The clock moves a minute at a time while the engine has work and jumps to the next half hour when a tick
finds nothing to do (a jump only ever delays work; it never lets anything run earlier). The scheduler and worker run
each minute, the account sweep at each 5-minute boundary, the inbox poll at each 30-minute boundary and the relations
poll at each 6-hour boundary, as their schedules would.

The limits are checked from the emulator's own record of calls (time, account, path), not from Kindling's counters:
new_account strategy, premium account, ramp week 1 = 10 profile views a day, 50 invites a week, 20 messages a day;
2 actions a minute per account; the window Monday-Friday 08:00-18:00 UTC."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

from devstack.linkedin_provider.emulator import Call
from tests.integration.outreach.conftest import INVITE, MESSAGE, VIEW, WAIT, Engine

WEEKDAYS_8_TO_18 = {
    "timezone": "UTC",
    "scheduleDays": [1, 2, 3, 4, 5],
    "sendingWindows": [{"start": "08:00", "end": "18:00"}],
}


def _is_action_fetch(call: Call) -> bool:
    """A profile fetch: every action starts with exactly one (the view is nothing else)."""
    return (
        call.method == "GET"
        and call.path.startswith("/users/")
        and call.path.count("/") == 2
        and (not call.path.endswith("/relations"))
    )


def _target(call: Call) -> str:
    return call.path.rsplit("/", 1)[-1]


def _boundary(now: datetime, minutes: int) -> int:
    return int(now.timestamp()) // (minutes * 60)


def test_a_week_of_a_four_step_campaign_over_two_accounts_keeps_every_limit(engine: Engine) -> None:
    world, emulator = engine.world, engine.emulator
    accounts = [world.connect(name="Jordan Lee"), world.connect(name="Sam Park")]
    provider_of = {engine.provider_account(a): a["id"] for a in accounts}
    cid = engine.campaign([VIEW, INVITE, WAIT, MESSAGE], [a["id"] for a in accounts], **WEEKDAYS_8_TO_18)
    engine.start(cid)
    slugs = [f"member-{n:02d}" for n in range(50)]
    pids = {slug: engine.prospect(slug, f"Member{n}") for n, slug in enumerate(slugs)}
    engine.enroll(cid, list(pids.values()))

    start = world.clock.now()  # Wednesday 2026-06-10 09:00 UTC
    assert start.isoformat() == "2026-06-10T09:00:00+00:00"
    emulator.fail_next_invite("errors/cannot_resend_yet")

    accepted: set[str] = set()
    by_webhook: list[str] = []
    by_poll: list[str] = []
    replied: str | None = None
    disconnect_at = start + timedelta(days=1)  # Thursday 09:00
    reconnect_at = start + timedelta(days=2)  # Friday 09:00
    disconnected = reconnected = False
    paused_window: list[datetime] = []
    member_of = {p.provider_id: slug for slug in slugs for p in [emulator._profile_for(slug)]}
    last = start - timedelta(minutes=1)

    while world.clock.now() < start + timedelta(days=7) - timedelta(minutes=1):
        now = world.clock.now()
        # the provider side: the member accepts 2 hours after the invitation, except every fourth member
        for invitation in list(emulator.invitations.values()):
            slug = member_of[invitation.provider_id]
            if invitation.status != "PENDING" or slug in accepted or invitation.sent_at > now - timedelta(hours=2):
                continue
            if slugs.index(slug) % 4 == 3:
                continue
            accepted.add(slug)
            if len(accepted) % 2 == 0:  # the new-relation webhook is lost: only the 6-hour poll finds it
                muted = engine.mute("users")
                emulator.accept_invitation(invitation.id)
                for hook in muted:
                    emulator.webhooks[hook.id] = hook
                assert engine.enrollment(cid, pids[slug]).li_accepted_at is None
                by_poll.append(slug)
            else:
                emulator.accept_invitation(invitation.id)
                item = engine.enrollment(cid, pids[slug])
                assert item.li_accepted_at is not None and item.current_step == 3
                by_webhook.append(slug)
                if replied is None:  # the first one writes back before the message goes out
                    replied = slug
                    emulator.inbound_message(invitation.account_id, slug, "Happy to chat, what is this about?")
                    assert engine.enrollment(cid, pids[slug]).status == "replied"

        if not disconnected and now >= disconnect_at:
            disconnected = True
            emulator.set_account_status(engine.provider_account(accounts[1]), "CREDENTIALS")
        if not reconnected and now >= reconnect_at:
            reconnected = True
            emulator.set_account_status(engine.provider_account(accounts[1]), "OK")

        if _boundary(now, 5) != _boundary(last, 5):
            report = engine.sweeps.account_sweep()
            if report.paused:
                assert report.paused == [cid]
                got = world.ok("GET", f"/api/v1/campaigns/{cid}")
                assert (got["status"], got["pausedReason"]) == ("paused", "linkedin_account_disconnected")
                paused_window.append(now)
            if report.resumed:
                assert report.resumed == [cid]
                assert world.ok("GET", f"/api/v1/campaigns/{cid}")["status"] == "running"
                paused_window.append(now)
        if _boundary(now, 30) != _boundary(last, 30):
            engine.sweeps.poll_inbox()
        if _boundary(now, 360) != _boundary(last, 360):
            engine.sweeps.poll_relations()
        last = now

        tick = engine.tick()
        handled = engine.drain()
        if tick.due or tick.enqueued or handled:
            world.advance(60)
        else:  # nothing to do this minute: on to the next half hour
            world.advance(30 * 60 - (int(now.timestamp()) % (30 * 60)))

    # --- what Kindling says --------------------------------------------------------------------------------------
    assert len(by_webhook) >= 1 and len(by_poll) >= 1
    for slug in by_poll:
        assert engine.enrollment(cid, pids[slug]).li_accepted_at is not None, slug
    assert replied is not None and engine.enrollment(cid, pids[replied]).status == "replied"
    cooled = [
        a["id"]
        for a in accounts
        if engine.repo.engine_state(world.tenant.workspace_id, a["id"]).cooldown_until is not None
    ]
    assert len(cooled) == 1
    assert len(paused_window) == 2, paused_window  # paused once (Thursday), resumed once (Friday)
    paused_at, resumed_at = paused_window
    assert disconnect_at <= paused_at < disconnect_at + timedelta(minutes=10)
    assert reconnect_at <= resumed_at < reconnect_at + timedelta(minutes=10)

    # --- what the provider saw ---------------------------------------------------------------------------------
    calls = list(emulator.calls)
    fetches = [c for c in calls if _is_action_fetch(c)]
    invites = [c for c in calls if c.method == "POST" and c.path == "/users/invite"]
    chats = [c for c in calls if c.method == "POST" and c.path == "/chats"]
    assert len(fetches) > 50 and len(invites) > 10 and len(chats) > 5

    # every action inside the window: Monday-Friday, 08:00-18:00 UTC
    for call in fetches + invites + chats:
        assert call.at.isoweekday() <= 5 and 8 <= call.at.hour < 18, call

    # nothing while the campaign was paused for the disconnect
    assert not [c for c in fetches + invites + chats if paused_at < c.at < resumed_at]

    # the pace: at most 2 actions (each starts with its one profile fetch) in any 60 seconds per account
    per_account: dict[str | None, list[datetime]] = defaultdict(list)
    for call in fetches:
        per_account[call.account_id].append(call.at)
    assert set(per_account) <= set(provider_of)
    for times in per_account.values():
        times.sort()
        for first, third in zip(times, times[2:], strict=False):
            assert third - first >= timedelta(seconds=60), (first, third)

    # the caps, per account: views (the first fetch of each member) 10 a day, invites 50 a week, messages 20 a day
    first_fetch: dict[str, Call] = {}
    for call in fetches:
        first_fetch.setdefault(_target(call), call)
    views = Counter((c.account_id, c.at.date()) for c in first_fetch.values())
    assert max(views.values()) <= 10, views
    sent_invitations = list(emulator.invitations.values())
    assert max(Counter(i.account_id for i in sent_invitations).values()) <= 50
    sent_messages = [m for c in emulator.chats.values() for m in c.messages if m.is_sender]
    per_day = Counter((emulator.chats[m.chat_id].account_id, m.timestamp.date()) for m in sent_messages)
    assert max(per_day.values()) <= 20, per_day

    # nothing twice: one invitation and at most one message per member, and no member fetched more than its
    # three actions (the member whose invite was refused once: four)
    assert len({i.provider_id for i in sent_invitations}) == len(sent_invitations)
    messaged = [emulator.chats[m.chat_id].attendee_provider_id for m in sent_messages]
    assert len(set(messaged)) == len(messaged)
    assert max(Counter(_target(c) for c in fetches).values()) <= 4
    assert sum(1 for n in Counter(_target(c) for c in fetches).values() if n == 4) <= 1
    # the one who replied is never messaged; the ones never accepted are never messaged
    assert member_of[emulator._profile_for(replied).provider_id] not in {member_of[m] for m in messaged}
    never = {s for s in slugs if slugs.index(s) % 4 == 3}
    assert not never & {member_of[m] for m in messaged}

    # the cooldown: the refused invite's account sends no invitation until its cooldown ends
    refused = invites[0]
    cooled_provider = next(p for p, kid in provider_of.items() if kid == cooled[0])
    assert refused.account_id == cooled_provider
    until = engine.repo.engine_state(world.tenant.workspace_id, cooled[0]).cooldown_until
    assert until is not None and timedelta(hours=4) <= until - refused.at <= timedelta(hours=8)
    assert not [i for i in sent_invitations if i.account_id == cooled_provider and refused.at < i.sent_at < until]
