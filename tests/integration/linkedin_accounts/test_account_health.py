"""Account health: the provider's status webhook and the health check flip the row through the status helper
(status + audit row together), `linkedin.account_disconnected` is delivered once per outage, one notification after
24 hours, reconnect through hosted auth, and the orphan watcher links a row stuck in `connecting`."""

from __future__ import annotations

import json
import os
import threading
from datetime import timedelta
from urllib.parse import urlsplit

import boto3

from kindling.linkedin.repository import LinkedInAccountRepository
from kindling.linkedin.service import LinkedInAccountService
from kindling.platform.settings import reset_settings
from tests.integration.linkedin_accounts.conftest import LinkedInWorld
from tests.integration.webhooks.conftest import load_function


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def __call__(self, workspace_id: str, subject: str, text: str) -> None:
        self.sent.append((workspace_id, subject, text))


def subscribe(li: LinkedInWorld) -> None:
    hook = {"url": li.receiver.url("/li"), "events": ["linkedin.account_disconnected"]}
    li.ok("POST", "/api/v1/webhooks", 201, json=hook)


def disconnected_events(li: LinkedInWorld) -> list[dict[str, object]]:
    li.pump_webhooks()
    bodies = [json.loads(r.body) for r in li.receiver.received("/li")]
    return [b for b in bodies if "linkedin.account_disconnected" in json.dumps(b)]


def only_provider_account(li: LinkedInWorld) -> str:
    (provider_id,) = li.emulator.accounts
    return provider_id


def test_a_credentials_webhook_disconnects_once_then_notifies_once_after_24h_and_reconnects(li: LinkedInWorld) -> None:
    subscribe(li)
    account = li.connect(name="Jordan Lee")
    provider_id = only_provider_account(li)

    li.emulator.set_account_status(provider_id, "CREDENTIALS")  # the provider's account-status webhook
    detected = li.ok("GET", f"/api/v1/linkedin/accounts/{account['id']}")
    assert detected["status"] == "disconnected"
    assert detected["disconnected_since"] == "2026-06-10T09:00:00.000Z"
    li.advance(60)
    li.emulator.set_account_status(provider_id, "CREDENTIALS")  # the same outage, reported again
    li.emulator.set_account_status(provider_id, "ERROR")
    events = disconnected_events(li)
    assert len(events) == 1, events
    assert account["id"] in json.dumps(events[0])

    recorder = Recorder()
    service = LinkedInAccountService(notify=recorder)
    li.clock.set(li.clock.now().replace(hour=9, minute=0) + timedelta(hours=24))  # exactly 24 h: not yet
    assert service.notify_long_outages() == 0
    li.advance(1)
    assert service.notify_long_outages() == 1
    assert service.notify_long_outages() == 0  # once per outage
    assert recorder.sent == [
        (
            li.tenant.workspace_id,
            "Your LinkedIn account Jordan Lee needs to be reconnected",
            recorder.sent[0][2],
        )
    ]
    assert "2026-06-10T09:00:00.000Z" in recorder.sent[0][2]

    started = li.ok("POST", f"/api/v1/linkedin/accounts/{account['id']}/reconnect")
    assert li.ok("POST", f"/api/v1/linkedin/accounts/{account['id']}/reconnect")["url"] == started["url"]
    li.emulator.complete_hosted_link(urlsplit(started["url"]).path.rsplit("/", 1)[-1])
    # The provider reports the reconnect twice: the link's notify call and an account-status webhook (RECONNECTED);
    # whichever is handled first flips the row, the other finds it connected.
    back = li.ok("GET", f"/api/v1/linkedin/accounts/{account['id']}")
    assert back["status"] == "connected"
    assert back["disconnected_since"] is None
    audit = LinkedInAccountRepository().audit(li.tenant.workspace_id, account["id"])
    assert [(e.old_status, e.new_status, e.source) for e in audit] == [
        ("connecting", "connected", "callback"),
        ("connected", "disconnected", "webhook"),
        ("disconnected", "connected", audit[2].source),
    ]
    assert audit[2].source in ("callback", "webhook")

    # A second outage is a new one: one more event, one more notification.
    li.advance(60)
    li.emulator.set_account_status(provider_id, "IN_APP_VALIDATION")
    assert li.ok("GET", f"/api/v1/linkedin/accounts/{account['id']}")["status"] == "needs_verification"
    assert len(disconnected_events(li)) == 2
    li.advance(25 * 3600)
    assert service.notify_long_outages() == 1


def test_the_health_check_detects_what_no_webhook_reported(li: LinkedInWorld) -> None:
    account = li.connect()
    provider_id = only_provider_account(li)
    li.emulator.webhooks.clear()  # the provider's webhook is lost
    li.emulator.set_account_status(provider_id, "CREDENTIALS")
    assert li.ok("GET", f"/api/v1/linkedin/accounts/{account['id']}")["status"] == "connected"

    result = LinkedInAccountService().health_check_all()
    assert (result.checked, result.changed, result.failed) == (1, 1, 0)
    assert li.ok("GET", f"/api/v1/linkedin/accounts/{account['id']}")["status"] == "disconnected"
    audit = LinkedInAccountRepository().audit(li.tenant.workspace_id, account["id"])
    assert (audit[-1].new_status, audit[-1].source, audit[-1].provider_status) == (
        "disconnected",
        "health_check",
        "CREDENTIALS",
    )
    assert LinkedInAccountService().health_check_all().changed == 0  # nothing new: no second flip

    li.emulator.set_account_status(provider_id, "RESTRICTED")
    LinkedInAccountService().health_check_all()
    restricted = li.ok("GET", f"/api/v1/linkedin/accounts/{account['id']}")
    assert restricted["status"] == "restricted"
    assert (restricted["strategy"], restricted["ramp_week"]) == ("recovery", 1)


def test_one_provider_failure_does_not_stop_the_health_check(li: LinkedInWorld) -> None:
    first = li.connect(name="First")
    li.connect(name="Second")
    li.emulator.webhooks.clear()
    for provider_id in li.emulator.accounts:
        li.emulator.set_account_status(provider_id, "CREDENTIALS")
    li.emulator.rate_limit(3)  # every attempt of the first account's check is refused
    result = LinkedInAccountService().health_check_all()
    assert (result.checked, result.changed, result.failed) == (2, 1, 1)
    statuses = {a["name"]: a["status"] for a in li.ok("GET", "/api/v1/linkedin/accounts")}
    assert sorted(statuses.values()) == ["connected", "disconnected"]
    assert first["id"]


def test_the_orphan_watcher_links_a_row_left_connecting_for_more_than_5_minutes(li: LinkedInWorld) -> None:
    started = li.ok("POST", "/api/v1/linkedin/accounts/connect", 201)
    link = li.emulator.links[urlsplit(started["url"]).path.rsplit("/", 1)[-1]]
    link.notify_url = None  # the notify callback never arrives
    li.emulator.webhooks.clear()
    li.emulator.complete_hosted_link(link.token, account_name="Orphan Olivia")
    account_id = started["account"]["id"]
    assert li.ok("GET", f"/api/v1/linkedin/accounts/{account_id}")["status"] == "connecting"

    li.advance(5 * 60)  # exactly 5 minutes: still within the hosted flow
    assert LinkedInAccountService().watch_orphans().changed == 0
    li.advance(1)
    assert LinkedInAccountService().watch_orphans().changed == 1
    linked = li.ok("GET", f"/api/v1/linkedin/accounts/{account_id}")
    assert (linked["status"], linked["name"]) == ("connected", "Orphan Olivia")
    audit = LinkedInAccountRepository().audit(li.tenant.workspace_id, account_id)
    assert [(e.old_status, e.new_status, e.source) for e in audit] == [("connecting", "connected", "orphan_watcher")]
    assert LinkedInAccountService().watch_orphans().changed == 0


def test_racing_disconnects_flip_once_and_emit_once(li: LinkedInWorld) -> None:
    subscribe(li)
    account = li.connect()
    barrier = threading.Barrier(6)
    results: list[str] = []

    def flip() -> None:
        barrier.wait()
        saved = LinkedInAccountService().set_status(
            li.tenant.workspace_id, account["id"], "disconnected", reason="race", source="webhook"
        )
        results.append(saved.status)

    threads = [threading.Thread(target=flip) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == ["disconnected"] * 6
    audit = LinkedInAccountRepository().audit(li.tenant.workspace_id, account["id"])
    assert [(e.old_status, e.new_status) for e in audit] == [("connecting", "connected"), ("connected", "disconnected")]
    assert len(disconnected_events(li)) == 1


def test_the_orphan_watcher_never_guesses_between_two_pending_connects(li: LinkedInWorld) -> None:
    rows = []
    for _ in range(2):
        started = li.ok("POST", "/api/v1/linkedin/accounts/connect", 201)
        link = li.emulator.links[urlsplit(started["url"]).path.rsplit("/", 1)[-1]]
        link.notify_url = None
        rows.append(started["account"]["id"])
        li.advance(91)  # past the 90 s reuse: the second click makes a second link
    li.emulator.webhooks.clear()
    for token in list(li.emulator.links):
        li.emulator.complete_hosted_link(token, account_name="Someone")
    li.advance(6 * 60)
    result = LinkedInAccountService().watch_orphans()
    assert (result.checked, result.changed) == (2, 0)
    assert {li.ok("GET", f"/api/v1/linkedin/accounts/{r}")["status"] for r in rows} == {"connecting"}


def test_the_sweep_function_emails_the_24_hour_outage_once_through_the_workspace_notifier(li: LinkedInWorld) -> None:
    """functions/linkedin_sweep's `notify_outages` sends the LinkedIn outage email through the same notifier as a
    mailbox outage (SES here, as a stack with NotificationSesSender does), once per outage."""
    ses = boto3.client("ses", region_name="us-east-1")
    ses.verify_email_identity(EmailAddress="alerts@kindling.test")
    patched = li.ok("PATCH", "/api/v1/notification-settings", json={"notificationEmail": "ops@lab.test"})
    assert patched["notificationEmail"] == "ops@lab.test"
    os.environ["KINDLING_NOTIFICATION_SES_SENDER"] = "alerts@kindling.test"
    reset_settings()
    try:
        li.connect(name="Jordan Lee")
        li.emulator.set_account_status(only_provider_account(li), "CREDENTIALS")
        sweep = load_function("linkedin_sweep")
        li.advance(24 * 3600)  # exactly 24 h: not yet
        assert sweep.handler({"action": "notify_outages"}, None) == {"sent": 0}
        li.advance(1)
        assert sweep.handler({"action": "notify_outages"}, None) == {"sent": 1}
        assert sweep.handler({"action": "notify_outages"}, None) == {"sent": 0}
        assert ses.get_send_quota()["SentLast24Hours"] == 1
    finally:
        os.environ.pop("KINDLING_NOTIFICATION_SES_SENDER", None)
        reset_settings()
