"""Mailbox outages through the one health helper (issue 15 part 1): reported once whatever the number of engines
that hit it, campaigns with no usable mailbox pause with `mailbox_disconnected`, and a reconnection resumes exactly
those (a campaign the user paused stays paused); `mailbox.disconnected` / `mailbox.reconnected` once per outage."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from kindling.bounceshield.repository import BounceShieldRepository
from kindling.bounceshield.service import BounceShieldService
from kindling.events.repository import EventRepository
from kindling.mail.connection import ConnectionTestResult, ProbeResult, issue
from kindling.mailboxes import health
from kindling.mailboxes.repository import MailboxRepository
from kindling.platform.clock import ManualClock, isoformat
from kindling.sending import mailbox_health, reconnect
from kindling.sending.mailbox_health import report_mailbox_failure
from tests.integration.campaigns.conftest import MailboxFactory
from tests.integration.campaigns.test_pause_reasons import shown, started
from tests.integration.prospects.conftest import Api


def of_type(messages: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    """The payloads of the events of `event_type` among the webhook queue's messages (each names a stored event)."""
    repo = EventRepository()
    events = [repo.get(m["workspace_id"], m["event_id"]) for m in messages if m.get("kind") == "event"]
    return [e.data for e in events if e.type == event_type]


def passed() -> ConnectionTestResult:
    return ConnectionTestResult(ProbeResult(ok=True), ProbeResult(ok=True))


def test_an_outage_is_reported_once_and_its_reconnection_resumes_only_what_it_paused(
    api: Api, mailbox_factory: MailboxFactory, clock: ManualClock
) -> None:
    workspace_id = api.tenant.workspace_id
    mailbox = mailbox_factory(last_connected_at=clock.now() - timedelta(days=3))
    ours = started(api, [mailbox.id])
    users = started(api, [mailbox.id], name="Paused by the user")
    assert api.call("POST", f"/api/v1/campaigns/{users}/pause").status_code == 200
    repo = MailboxRepository()
    down_at = clock.now()

    # The outage's refused sends: 12 of 24 attempts failed in the last day (50%, above the 25% guard).
    BounceShieldRepository().record_attempts(workspace_id, ours, clock.now(), 24, 12)

    # The sender and the inbox sync both hit it with the credentials they read: one outage, one write, one event.
    assert report_mailbox_failure(repo, mailbox, "smtp", "auth_failed", down_at) is True
    written = repo.get(workspace_id, mailbox.id)
    assert report_mailbox_failure(repo, mailbox, "imap", "auth_failed", down_at + timedelta(seconds=5)) is False
    stored = repo.get(workspace_id, mailbox.id)
    assert stored.version == written.version  # the repeat wrote nothing
    assert (stored.status, stored.last_test_code, stored.disconnected_since) == ("disconnected", "auth_failed", down_at)
    assert stored.next_retest_at == down_at + timedelta(minutes=15)
    data = shown(api, ours)
    assert (data["status"], data["pausedReason"]) == ("paused", "mailbox_disconnected")
    assert shown(api, users)["pausedReason"] == "api"
    events = api.events()
    [down] = of_type(events, "mailbox.disconnected")
    assert down == {
        "mailboxId": mailbox.id,
        "email": mailbox.email_address,
        "status": "disconnected",
        "code": "auth_failed",
        "message": stored.last_test_error,
        "disconnectedAt": isoformat(down_at),
        "pausedCampaignIds": [ours],
    }

    # The sweep 15 minutes later: the re-test passes, the helper flips it back and resumes what it paused.
    clock.advance(timedelta(minutes=15))
    assert reconnect.list_due(clock.now()) == [{"workspace_id": workspace_id, "mailbox_id": mailbox.id}]
    back = health.record_test(repo, stored, stored.generation, passed(), clock.now(), backoff="advance")
    assert (back.status, back.disconnected_since, back.next_retest_at, back.last_connected_at) == (
        "connected",
        None,
        None,
        clock.now(),
    )
    assert (shown(api, ours)["status"], shown(api, users)["status"]) == ("running", "paused")
    assert shown(api, users)["pausedReason"] == "api"  # paused for another reason: stays paused
    # The failure-rate window restarted on reconnection: the outage's failures do not pause it straight back.
    assert BounceShieldService().check_failure_rate(workspace_id, ours, clock.now()) is False
    assert shown(api, ours)["status"] == "running"
    [up] = of_type(api.events(), "mailbox.reconnected")
    assert up == {
        "mailboxId": mailbox.id,
        "email": mailbox.email_address,
        "disconnectedAt": isoformat(down_at),
        "reconnectedAt": isoformat(clock.now()),
        "resumedCampaignIds": [ours],
    }
    assert reconnect.list_due(clock.now() + timedelta(days=1)) == []  # connected: nothing for the sweep


def test_a_mailbox_that_never_worked_is_error_and_announces_nothing(
    api: Api, mailbox_factory: MailboxFactory, clock: ManualClock
) -> None:
    mailbox = mailbox_factory(status="testing")
    repo = MailboxRepository()
    failed = ConnectionTestResult(ProbeResult(ok=False, error=issue("auth_failed", "535 nope")), ProbeResult(ok=True))
    stored = health.record_test(repo, mailbox, mailbox.generation, failed, clock.now())
    assert (stored.status, stored.last_test_code) == ("error", "auth_failed")
    assert stored.next_retest_at == clock.now() + timedelta(minutes=15)  # the sweep still re-tests it
    assert of_type(api.events(), "mailbox.disconnected") == []


def test_two_engines_racing_to_report_one_outage_open_it_once(
    api: Api, mailbox_factory: MailboxFactory, clock: ManualClock
) -> None:
    """The race: eight threads (the sender, the inbox sync, warmup delivery...) report the same mailbox at once with
    the copy each read; the conditional write lets exactly one open the outage."""
    mailbox = mailbox_factory(last_connected_at=clock.now() - timedelta(days=1))
    started(api, [mailbox.id])
    repo = MailboxRepository()
    barrier = threading.Barrier(8)
    opened: list[bool] = []
    lock = threading.Lock()

    def report(code: str) -> None:
        barrier.wait()
        result = report_mailbox_failure(repo, mailbox, "smtp", code, clock.now())
        with lock:
            opened.append(result)

    threads = [threading.Thread(target=report, args=("auth_failed",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(opened) == [False] * 7 + [True]
    assert len(of_type(api.events(), "mailbox.disconnected")) == 1


def test_the_sweep_completes_an_outage_whose_listener_failed(
    api: Api, mailbox_factory: MailboxFactory, clock: ManualClock
) -> None:
    """The status was written but the pause and the event were not (the listener raised, the Lambda died): the
    sweep's next look at the still-down mailbox pauses its campaign and announces it, once."""
    mailbox = mailbox_factory(last_connected_at=clock.now() - timedelta(days=1))
    campaign_id = started(api, [mailbox.id])
    repo = MailboxRepository()

    def crashed(change: health.HealthChange, now: Any) -> None:
        raise RuntimeError("the Lambda died here")

    health.remove_health_listener(mailbox_health._on_health_change)
    health.on_health_change(crashed)
    try:
        with pytest.raises(RuntimeError):
            report_mailbox_failure(repo, mailbox, "smtp", "auth_failed", clock.now())
    finally:
        health.remove_health_listener(crashed)
        health.on_health_change(mailbox_health._on_health_change)
    assert repo.get(api.tenant.workspace_id, mailbox.id).status == "disconnected"
    assert shown(api, campaign_id)["status"] == "running"  # the consequences were lost with the crash

    clock.advance(timedelta(minutes=1))  # the sweep's step for this mailbox (its re-test not due yet: no SMTP here)
    assert reconnect.sweep_one(api.tenant.workspace_id, mailbox.id)["outcome"] == "waiting"
    assert (shown(api, campaign_id)["status"], shown(api, campaign_id)["pausedReason"]) == (
        "paused",
        "mailbox_disconnected",
    )
    assert reconnect.sweep_one(api.tenant.workspace_id, mailbox.id)["outcome"] == "waiting"
    assert len(of_type(api.events(), "mailbox.disconnected")) == 1  # deduplicated per outage


def test_the_sweep_finishes_a_resume_lost_after_the_mailbox_reconnected(
    api: Api, mailbox_factory: MailboxFactory, clock: ManualClock
) -> None:
    """The re-test flipped the mailbox back to connected, then the process died before the campaigns paused for
    the outage were resumed: the flip left a resume marker in the sweep's partition, and the next sweep resumes
    exactly those campaigns (a user's pause stays), announces the reconnection once and clears the marker."""
    workspace_id = api.tenant.workspace_id
    mailbox = mailbox_factory(last_connected_at=clock.now() - timedelta(days=1))
    ours = started(api, [mailbox.id])
    users = started(api, [mailbox.id], name="Paused by the user")
    assert api.call("POST", f"/api/v1/campaigns/{users}/pause").status_code == 200
    repo = MailboxRepository()
    down_at = clock.now()
    assert report_mailbox_failure(repo, mailbox, "smtp", "auth_failed", down_at) is True
    assert shown(api, ours)["pausedReason"] == "mailbox_disconnected"
    stored = repo.get(workspace_id, mailbox.id)

    def crashed(change: health.HealthChange, now: Any) -> None:
        raise RuntimeError("the Lambda died here")

    clock.advance(timedelta(minutes=15))
    up_at = clock.now()
    health.remove_health_listener(mailbox_health._on_health_change)
    health.on_health_change(crashed)
    try:
        with pytest.raises(RuntimeError):
            health.record_test(repo, stored, stored.generation, passed(), up_at, backoff="advance")
    finally:
        health.remove_health_listener(crashed)
        health.on_health_change(mailbox_health._on_health_change)
    assert repo.get(workspace_id, mailbox.id).status == "connected"
    assert shown(api, ours)["status"] == "paused"  # the resume was lost with the crash
    assert of_type(api.events(), "mailbox.reconnected") == []

    clock.advance(timedelta(minutes=15))  # the next scheduled sweep
    assert reconnect.list_due(clock.now()) == [{"workspace_id": workspace_id, "mailbox_id": mailbox.id}]
    assert reconnect.run_sweep(clock.now()) == {"listed": 1, "outcomes": {"resumed": 1}, "notified": 0}
    assert shown(api, ours)["status"] == "running"
    assert (shown(api, users)["status"], shown(api, users)["pausedReason"]) == ("paused", "api")
    [up] = of_type(api.events(), "mailbox.reconnected")
    assert up == {
        "mailboxId": mailbox.id,
        "email": mailbox.email_address,
        "disconnectedAt": isoformat(down_at),
        "reconnectedAt": isoformat(up_at),
        "resumedCampaignIds": [ours],
    }
    back = repo.get(workspace_id, mailbox.id)
    assert (back.status, back.resume_pending_since) == ("connected", None)
    assert reconnect.list_due(clock.now() + timedelta(days=1)) == []  # the marker is gone: nothing more to do
    assert (workspace_id, mailbox.id) in set(repo.connected_mailboxes())  # back in the inbox sync's fan-out
