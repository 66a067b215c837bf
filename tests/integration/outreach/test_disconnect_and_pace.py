"""Disconnect and auto-resume, and the account's pace, against the emulator over HTTP (issue 18, "Disconnect and
auto-resume"; "2 actions per minute per account")."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.integration.outreach.conftest import Engine
from tests.support.linkedin_steps import INVITE, VIEW, WAIT


def _campaign(engine: Engine, cid: str) -> dict[str, object]:
    return dict(engine.world.ok("GET", f"/api/v1/campaigns/{cid}"))


def test_a_disconnect_pauses_every_attached_campaign_and_the_reconnect_resumes_exactly_those(engine: Engine) -> None:
    account = engine.world.connect()
    other = engine.world.connect(name="Other account")
    attached = engine.campaign([VIEW, INVITE, WAIT], [account["id"]])
    user_paused = engine.campaign([VIEW], [account["id"]])
    elsewhere = engine.campaign([VIEW], [other["id"]])
    for cid in (attached, user_paused, elsewhere):
        engine.start(cid)
    engine.world.ok("POST", f"/api/v1/campaigns/{user_paused}/pause")  # paused by the user: not the engine's
    pid = engine.prospect("barbara-liskov", "Barbara")
    engine.enroll(attached, [pid])
    engine.run(minutes=1)  # the view
    assert engine.enrollment(attached, pid).current_step == 1

    engine.emulator.set_account_status(engine.provider_account(account), "CREDENTIALS")  # the status webhook
    report = engine.sweeps.account_sweep()
    assert report.paused == [attached]
    got = _campaign(engine, attached)
    assert (got["status"], got["pausedReason"]) == ("paused", "linkedin_account_disconnected")
    assert got["pausedHint"] == "Will auto-resume after LinkedIn account reconnection."
    assert _campaign(engine, elsewhere)["status"] == "running"

    engine.world.advance(3600)
    engine.run(minutes=2)  # paused: nothing is sent, the prospect keeps its step
    assert engine.invitations_to("barbara-liskov") == []
    assert engine.enrollment(attached, pid).current_step == 1
    assert engine.sweeps.account_sweep().resumed == []  # still disconnected

    engine.emulator.set_account_status(engine.provider_account(account), "OK")
    assert engine.sweeps.account_sweep().resumed == [attached]
    assert _campaign(engine, attached)["status"] == "running"
    assert _campaign(engine, user_paused)["status"] == "paused"
    engine.run(minutes=2)
    assert len(engine.invitations_to("barbara-liskov")) == 1  # the parked step goes on, once
    assert engine.sweeps.account_sweep().resumed == []


def test_an_account_disconnected_at_action_time_parks_the_prospect_and_pauses_the_campaign(engine: Engine) -> None:
    account = engine.world.connect()
    cid = engine.campaign([INVITE], [account["id"]])
    engine.start(cid)
    pid = engine.prospect("frances-allen", "Frances")
    engine.enroll(cid, [pid])
    engine.mute("account_status")  # the provider's status webhook is lost: the action finds out
    engine.emulator.set_account_status(engine.provider_account(account), "CREDENTIALS")
    engine.run(minutes=1)
    item = engine.enrollment(cid, pid)
    assert (item.status, item.current_step, item.li_status) == ("pending", 0, "paused_account")
    got = _campaign(engine, cid)
    assert (got["status"], got["pausedReason"]) == ("paused", "linkedin_account_disconnected")
    assert engine.invitations_to("frances-allen") == []


def test_an_account_acts_at_most_twice_a_minute(engine: Engine) -> None:
    account = engine.world.connect()
    cid = engine.campaign([VIEW], [account["id"]])
    engine.start(cid)
    slugs = [f"member-{n}" for n in range(5)]
    engine.enroll(cid, [engine.prospect(slug) for slug in slugs])
    views: list[int] = []
    for _ in range(3):
        before = engine.world.provider_calls("GET", "/users/")
        engine.tick()
        engine.drain()
        views.append(engine.world.provider_calls("GET", "/users/") - before)
        engine.world.advance(60)
    assert views == [2, 2, 1]
    stats = engine.world.ok("GET", f"/api/v1/campaigns/{cid}/stats")
    assert stats["steps"][0]["linkedin"]["views"] == 5


def test_actions_wait_for_the_campaign_window_in_its_timezone(engine: Engine) -> None:
    """START is Wednesday 09:00 UTC = 05:00 in New York; the window opens at 10:00 there (14:00 UTC)."""
    account = engine.world.connect()
    window = {"scheduleDays": [1, 2, 3, 4, 5], "sendingWindows": [{"start": "10:00", "end": "11:00"}]}
    cid = engine.campaign([VIEW], [account["id"]], timezone="America/New_York", **window)
    engine.start(cid)
    pid = engine.prospect("margaret-hamilton", "Margaret")
    engine.enroll(cid, [pid])
    before = engine.world.provider_calls("GET", "/users/")
    engine.run(minutes=3)
    assert engine.world.provider_calls("GET", "/users/") == before
    item = engine.enrollment(cid, pid)
    assert item.current_step == 0
    assert item.next_send_at.isoformat() == "2026-06-10T14:00:00+00:00"
    engine.world.clock.set(item.next_send_at)
    engine.run(minutes=1)
    assert engine.world.provider_calls("GET", "/users/") == before + 1
    assert engine.enrollment(cid, pid).status == "completed"


def test_the_auto_resume_resets_the_failure_rate_window_so_the_outage_cannot_pause_the_campaign_again(
    engine: Engine,
) -> None:
    """Issue 18: the sweep resumes the campaign "and resets their failure-rate window". 20 refused attempts while
    the account was down (above 25% of at least 20 in 24 hours, help center §14 / decisions.md "Bounce Shield")
    must not pause the resumed campaign with `high_failure_rate` at its next failed attempt."""
    from kindling.bounceshield.service import Attempt, BounceShieldService

    ws = engine.world.tenant.workspace_id
    account = engine.world.connect()
    cid = engine.campaign([VIEW], [account["id"]])
    engine.start(cid)
    engine.emulator.set_account_status(engine.provider_account(account), "CREDENTIALS")
    assert engine.sweeps.account_sweep().paused == [cid]

    shield = BounceShieldService()
    outage = [Attempt(ws, cid, f"refused-{n}@example.com", "failed") for n in range(20)]
    shield.observe(outage, engine.world.clock.now())
    got = _campaign(engine, cid)
    assert (got["status"], got["pausedReason"]) == ("paused", "linkedin_account_disconnected")

    engine.world.advance(600)
    engine.emulator.set_account_status(engine.provider_account(account), "OK")
    assert engine.sweeps.account_sweep().resumed == [cid]
    engine.world.advance(60)
    shield.observe([Attempt(ws, cid, "one-more@example.com", "failed")], engine.world.clock.now())
    got = _campaign(engine, cid)
    assert (got["status"], got["pausedReason"]) == ("running", None)


def test_an_action_delivered_after_the_window_closed_waits_for_its_next_opening(engine: Engine) -> None:
    """Claimed at 17:59 UTC inside the 08:00-18:00 UTC window, delivered by the queue at 18:01 (a late delivery):
    no provider call at 18:01; the view goes out when the window opens again, Thursday 08:00."""
    account = engine.world.connect()
    window = {"scheduleDays": [1, 2, 3, 4, 5], "sendingWindows": [{"start": "08:00", "end": "18:00"}]}
    cid = engine.campaign([VIEW], [account["id"]], timezone="UTC", **window)
    engine.start(cid)
    pid = engine.prospect("frances-allen", "Frances")
    engine.enroll(cid, [pid])
    clock = engine.world.clock
    clock.set(datetime(2026, 6, 10, 17, 59, tzinfo=UTC))  # Wednesday
    assert engine.tick().enqueued == 1
    clock.set(datetime(2026, 6, 10, 18, 1, tzinfo=UTC))
    assert len(engine.drain()) == 1
    assert [c for c in engine.emulator.calls if c.path == "/users/frances-allen"] == []
    item = engine.enrollment(cid, pid)
    assert (item.status, item.current_step) == ("pending", 0)  # not advanced: the view was not taken

    clock.set(datetime(2026, 6, 11, 7, 55, tzinfo=UTC))  # Thursday, before the window
    engine.run(minutes=10)
    fetches = [c.at for c in engine.emulator.calls if c.path == "/users/frances-allen"]
    assert len(fetches) == 1
    assert datetime(2026, 6, 11, 8, 0, tzinfo=UTC) <= fetches[0] < datetime(2026, 6, 11, 8, 5, tzinfo=UTC)
    assert engine.enrollment(cid, pid).status == "completed"
