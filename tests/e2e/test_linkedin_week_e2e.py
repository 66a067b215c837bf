"""A week of a 4-step LinkedIn campaign (view, invite with a note, wait for acceptance, message) for 50 prospects over
2 accounts, on the local stack with the provider emulator and the injected clock (issue 18, "Done when").

Everything goes through the stack: the workspace's API over HTTP (the accounts connected through the emulator's
hosted auth, the campaign, the prospects, the enrollment, the start); the template's scheduled functions invoked
with the injected clock as their schedules would (LinkedInSchedulerFunction each minute while anything is due,
SchedulerFunction until it has handed the enrollments over, LinkedInEngineFunction with `{"task": "account_sweep"}`
when the clock crosses a 5-minute boundary, `poll_inbox` a 30-minute one, `poll_relations` a 6-hour one); the action
queue drained into LinkedInWorkerFunction by the stack's poller; the emulator's webhooks (acceptances, the reply, the
account's status) reaching the stack's provider ingress over HTTP.

The clock moves a minute at a time while the engine has work. A minute with nothing to do jumps to the next moment
anything can happen: the earliest step in the LinkedIn due index (read through the repository), the next acceptance
on the provider's side, the disconnect or the reconnect, the next relations poll. A jump only ever delays work; it
never lets anything run earlier. (The integration version this replaces stepped to the next half hour instead: five
times the iterations for the same events.)

The limits are checked from the emulator's own record of calls (time, account, path), not from Kindling's counters:
new_account strategy, premium account, ramp week 1 = 10 profile views a day, 50 invites a week, 20 messages a day;
2 actions a minute per account; the window Monday-Friday 08:00-18:00 UTC."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from devstack.linkedin_provider.emulator import Call
from devstack.runtime import LocalStack
from kindling.linkedin.usage import UsageRepository
from kindling.outreach.repository import OutreachRepository
from kindling.platform import keys
from kindling.platform.clock import ManualClock, set_clock
from tests.e2e.support import SCHEDULED, new_workspace
from tests.support.linkedin_steps import INVITE, MESSAGE, VIEW, WAIT

WEDNESDAY = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(WEDNESDAY)
    previous = set_clock(manual)
    yield manual
    set_clock(previous)


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


class Week:
    """The stack as the test drives it: the API, the emulator's hosted auth, the scheduled functions."""

    def __init__(self, stack: LocalStack, api: httpx.Client, clock: ManualClock, workspace_id: str) -> None:
        self.stack, self.api, self.clock, self.workspace_id = stack, api, clock, workspace_id
        self.emulator: Any = stack.linkedin_provider
        self.repo = OutreachRepository()
        [self.worker] = [p for p in stack.pollers if p.source.function_id == "LinkedInWorkerFunction"]
        self.handed_over = False

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.api.request(method, path, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()["data"]

    def connect(self, name: str) -> tuple[str, str]:
        """An account connected through hosted auth (the user completes the emulator's page, the emulator calls the
        stack's notify URL back): (Kindling's account id, the provider's account id)."""
        started = self.ok("POST", "/api/v1/linkedin/accounts/connect", 201)
        token = urlsplit(started["url"]).path.rsplit("/", 1)[-1]
        with httpx.Client(base_url=self.emulator.control_url, trust_env=False, timeout=30) as control:
            done = control.post(f"/hosted/{token}/complete", json={"name": name, "account_type": "premium"})
            assert done.status_code == 200, done.text
        account = self.ok("GET", f"/api/v1/linkedin/accounts/{started['account']['id']}")
        assert account["status"] == "connected", account
        return str(account["id"]), str(done.json()["account_id"])

    def enrollment(self, campaign_id: str, prospect_id: str) -> Any:
        item = self.repo.enrollment(self.workspace_id, campaign_id, prospect_id)
        assert item is not None
        return item

    def campaign(self, campaign_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self.ok("GET", f"/api/v1/campaigns/{campaign_id}")
        return data

    def sweep(self, task: str) -> dict[str, Any]:
        """LinkedInEngineFunction as its schedule fires it (the event is the schedule's constant Input)."""
        report: dict[str, Any] = self.stack.invoke("LinkedInEngineFunction", {"task": task})
        assert report["errors"] == [], report
        return report

    def tick(self, campaign_id: str, prospect_ids: list[str]) -> bool:
        """One minute of the stack: the schedulers fire, the action queue drains into the worker; whether anything
        was due, queued or handled.

        The email scheduler fires until it has handed every enrollment over to the LinkedIn shards (a LinkedIn-only
        campaign has nothing else for it); the LinkedIn scheduler fires whenever its due index or its watch list
        (campaigns holding parked steps) holds anything: on a minute where both are empty its tick is a no-op."""
        now = self.clock.now()
        event: dict[str, Any] = {**SCHEDULED, "time": now.isoformat()}
        batches = self.worker.batches
        if not self.handed_over:
            report = self.stack.invoke("SchedulerFunction", event)
            assert report["errors"] == [], report
            self.handed_over = all(
                not str(self.enrollment(campaign_id, pid).due_pk or "").startswith("DUE#SEND#") for pid in prospect_ids
            )
        if not self.repo.refs(keys.LI_WATCH_PK) and not self.due_by(now):
            return self.worker.batches != batches
        tick: dict[str, Any] = self.stack.invoke("LinkedInSchedulerFunction", event)
        assert tick["errors"] == [], tick
        if tick["enqueued"]:
            self.stack.drain(timeout=60)
        return bool(tick["due"] or tick["enqueued"] or self.worker.batches != batches)

    def next_due(self) -> datetime | None:
        """The earliest time in the LinkedIn scheduler's due index (every shard, any workspace), read through the
        repository as its tick reads it."""
        firsts = [self.repo.due(shard, FAR_FUTURE, 1) for shard in keys.li_shards()]
        return min((datetime.fromisoformat(str(f[0].due_sk).split("#", 1)[0]) for f in firsts if f), default=None)

    def due_by(self, now: datetime) -> bool:
        due = self.next_due()
        return due is not None and due <= now

    def mute(self, source: str) -> list[Any]:
        """The provider's webhooks of `source` are lost from now on (the removed registrations)."""
        removed = [w for w in self.emulator.webhooks.values() if w.source == source]
        for hook in removed:
            del self.emulator.webhooks[hook.id]
        return removed


def test_a_week_of_a_four_step_campaign_over_two_accounts_keeps_every_limit(
    local_stack: LocalStack, clock: ManualClock
) -> None:
    workspace_id, headers = new_workspace(local_stack, "LinkedIn week e2e")
    with httpx.Client(base_url=local_stack.api_url, headers=headers, trust_env=False, timeout=60) as api:
        week = Week(local_stack, api, clock, workspace_id)
        _run_the_week(week)


def _run_the_week(week: Week) -> None:
    emulator, clock = week.emulator, week.clock
    start = clock.now()  # Wednesday 2026-06-10 09:00 UTC
    assert start.isoformat() == "2026-06-10T09:00:00+00:00"
    accounts = [week.connect("Jordan Lee"), week.connect("Sam Park")]
    provider_of = {provider: kid for kid, provider in accounts}
    created = week.ok(
        "POST",
        "/api/v1/campaigns",
        201,
        json={
            "name": "LinkedIn founders",
            "channel": "linkedin",
            "linkedinAccountIds": [kid for kid, _ in accounts],
            "steps": [{**s, "stepIndex": i} for i, s in enumerate([VIEW, INVITE, WAIT, MESSAGE])],
            "timezone": "UTC",
            "scheduleDays": [1, 2, 3, 4, 5],
            "sendingWindows": [{"start": "08:00", "end": "18:00"}],
        },
    )
    cid = str(created["id"])
    week.ok("POST", f"/api/v1/campaigns/{cid}/start")
    slugs = [f"week-member-{n:02d}" for n in range(50)]
    pids: dict[str, str] = {}
    for n, slug in enumerate(slugs):
        prospect = week.ok(
            "POST",
            "/api/v1/prospects",
            201,
            json={
                "email": f"{slug}@example.com",
                "firstName": f"Member{n}",
                "linkedinUrl": f"https://www.linkedin.com/in/{slug}/",
            },
        )
        pids[slug] = str(prospect["id"])
    week.ok("POST", f"/api/v1/campaigns/{cid}/enrollments", 200, json={"prospectIds": list(pids.values())})
    assert clock.now() == start  # the set-up took no simulated time
    emulator.fail_next_invite("errors/cannot_resend_yet")
    first_call = len(emulator.calls)  # the shared emulator's record before this week

    accepted: set[str] = set()
    by_webhook: list[str] = []
    by_poll: list[str] = []
    replied: str | None = None
    disconnect_at = start + timedelta(days=1)  # Thursday 09:00
    reconnect_at = start + timedelta(days=2)  # Friday 09:00
    disconnected = reconnected = False
    paused_window: list[datetime] = []
    status = "running"
    member_of = {p.provider_id: slug for slug in slugs for p in [emulator._profile_for(slug)]}
    last = start - timedelta(minutes=1)

    while clock.now() < start + timedelta(days=7) - timedelta(minutes=1):
        now = clock.now()
        # the provider side: the member accepts 2 hours after the invitation, except every fourth member
        for invitation in list(emulator.invitations.values()):
            invited = member_of.get(invitation.provider_id)  # None: another test's invitation
            if invited is None or invitation.status != "PENDING" or invited in accepted:
                continue
            slug = invited
            if invitation.sent_at > now - timedelta(hours=2) or slugs.index(slug) % 4 == 3:
                continue
            accepted.add(slug)
            if len(accepted) % 2 == 0:  # the new-relation webhook is lost: only the 6-hour poll finds it
                muted = week.mute("users")
                emulator.accept_invitation(invitation.id)
                for hook in muted:
                    emulator.webhooks[hook.id] = hook
                assert week.enrollment(cid, pids[slug]).li_accepted_at is None
                by_poll.append(slug)
            else:  # the webhook reaches the stack's ingress over HTTP before accept_invitation returns
                emulator.accept_invitation(invitation.id)
                item = week.enrollment(cid, pids[slug])
                assert item.li_accepted_at is not None and item.current_step == 3
                by_webhook.append(slug)
                if replied is None:  # the first one writes back before the message goes out
                    replied = slug
                    emulator.inbound_message(invitation.account_id, slug, "Happy to chat, what is this about?")
                    assert week.enrollment(cid, pids[slug]).status == "replied"

        if not disconnected and now >= disconnect_at:
            disconnected = True
            emulator.set_account_status(accounts[1][1], "CREDENTIALS")
        if not reconnected and now >= reconnect_at:
            reconnected = True
            emulator.set_account_status(accounts[1][1], "OK")

        if _boundary(now, 5) != _boundary(last, 5):
            report = week.sweep("account_sweep")
            assert report["paused"].count(cid) + report["resumed"].count(cid) <= 1, report
            # The stack's own schedules also fire the sweep (on the wall clock, with this injected clock): the
            # campaign's status is read back whenever it may have changed, whichever sweep changed it.
            if cid in report["paused"] or cid in report["resumed"] or (disconnected and len(paused_window) < 2):
                got = week.campaign(cid)
                if got["status"] != status:
                    status = got["status"]
                    if status == "paused":
                        assert got["pausedReason"] == "linkedin_account_disconnected", got
                    else:
                        assert status == "running", got
                    paused_window.append(now)
        if _boundary(now, 30) != _boundary(last, 30):
            week.sweep("poll_inbox")
        if _boundary(now, 360) != _boundary(last, 360):
            week.sweep("poll_relations")
        last = now

        if week.tick(cid, list(pids.values())):
            clock.advance(timedelta(minutes=1))
            continue
        # Nothing to do this minute: on to the next moment anything can happen (never past it, so a jump never lets
        # anything run earlier): the earliest due step, the next acceptance on the provider's side, the disconnect
        # or the reconnect, the next relations poll; at least a minute on.
        moments = [
            week.next_due(),
            *(
                i.sent_at + timedelta(hours=2)
                for i in emulator.invitations.values()
                if i.status == "PENDING" and (invited := member_of.get(i.provider_id)) is not None
                if invited not in accepted and slugs.index(invited) % 4 != 3
            ),
            None if disconnected else disconnect_at,
            None if reconnected else reconnect_at,
            datetime.fromtimestamp((_boundary(now, 360) + 1) * 360 * 60, UTC),
        ]
        clock.set(max(now + timedelta(minutes=1), min(m for m in moments if m is not None)))

    # --- what Kindling says --------------------------------------------------------------------------------------
    assert len(by_webhook) >= 1 and len(by_poll) >= 1
    for slug in by_poll:
        assert week.enrollment(cid, pids[slug]).li_accepted_at is not None, slug
    assert replied is not None and week.enrollment(cid, pids[replied]).status == "replied"
    cooled = [kid for kid, _ in accounts if week.repo.engine_state(week.workspace_id, kid).cooldown_until is not None]
    assert len(cooled) == 1
    assert len(paused_window) == 2, paused_window  # paused once (Thursday), resumed once (Friday)
    paused_at, resumed_at = paused_window
    assert disconnect_at <= paused_at < disconnect_at + timedelta(minutes=10)
    assert reconnect_at <= resumed_at < reconnect_at + timedelta(minutes=10)

    # --- what the provider saw ---------------------------------------------------------------------------------
    # The emulator is the stack's, shared with the other e2e tests: this week's calls are those naming its accounts.
    calls = [c for c in emulator.calls[first_call:] if c.account_id in provider_of]
    fetches = [c for c in calls if _is_action_fetch(c)]
    invites = [c for c in calls if c.method == "POST" and c.path == "/users/invite"]
    chats = [c for c in calls if c.method == "POST" and c.path == "/chats"]
    assert len(fetches) > 50 and len(invites) > 10 and len(chats) > 5
    # every profile fetch of this week names one of its accounts (none went out without one, or from another)
    assert {c.account_id for c in emulator.calls[first_call:] if _is_action_fetch(c)} <= set(provider_of)

    # every action inside the window: Monday-Friday, 08:00-18:00 UTC
    for call in fetches + invites + chats:
        assert call.at.isoweekday() <= 5 and 8 <= call.at.hour < 18, call

    # nothing while the campaign was paused for the disconnect
    assert not [c for c in fetches + invites + chats if paused_at < c.at < resumed_at]

    # the pace: at most 2 actions (each starts with its one profile fetch) in any 60 seconds per account
    per_account: dict[str | None, list[datetime]] = defaultdict(list)
    for call in fetches:
        per_account[call.account_id].append(call.at)
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
    sent_invitations = [i for i in emulator.invitations.values() if i.account_id in provider_of]
    assert max(Counter(i.account_id for i in sent_invitations).values()) <= 50
    chats_of_week = {k: c for k, c in emulator.chats.items() if c.account_id in provider_of}
    sent_messages = [m for c in chats_of_week.values() for m in c.messages if m.is_sender]
    per_day = Counter((chats_of_week[m.chat_id].account_id, m.timestamp.date()) for m in sent_messages)
    assert max(per_day.values()) <= 20, per_day

    # nothing twice: one invitation and at most one message per member, and no member fetched more than its
    # three actions (the member whose invite was refused once: four)
    assert len({i.provider_id for i in sent_invitations}) == len(sent_invitations)
    messaged = [chats_of_week[m.chat_id].attendee_provider_id for m in sent_messages]
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
    until = week.repo.engine_state(week.workspace_id, cooled[0]).cooldown_until
    assert until is not None and timedelta(hours=4) <= until - refused.at <= timedelta(hours=8)
    assert not [i for i in sent_invitations if i.account_id == cooled_provider and refused.at < i.sent_at < until]

    _the_tallies_are_what_the_provider_saw(week, start, provider_of, sent_invitations, per_day)


def _the_tallies_are_what_the_provider_saw(
    week: Week,
    start: datetime,
    provider_of: dict[str, str],
    sent_invitations: list[Any],
    per_day: Counter[tuple[str, Any]],
) -> None:
    """Each account's tallies for each day of the week (invites, messages, new connections) equal what the provider
    saw (help center L5131-5143: the tiles are written with the successes themselves)."""
    emulator = week.emulator
    usage = UsageRepository()
    members = {i.provider_id for i in sent_invitations}
    for provider_account, account_id in provider_of.items():
        connected = emulator.relations.get(provider_account, {})
        for offset in range(8):
            day = (start + timedelta(days=offset)).date()
            noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
            tallies = usage.activity(week.workspace_id, account_id, noon).today
            told = (tallies["invites"], tallies["messages"], tallies["connections"])
            seen = (
                sum(1 for i in sent_invitations if i.account_id == provider_account and i.sent_at.date() == day),
                sum(1 for (a, d) in per_day.elements() if a == provider_account and d == day),
                sum(1 for m, at in connected.items() if m in members and at.date() == day),
            )
            assert told == seen, (account_id, day, told, seen)
