"""The stack registers its own provider webhooks over the provider's HTTP API (the emulator on 127.0.0.1):
`ensure_webhooks` creates account_status, users and messaging once, a second run only lists, a webhook of ours with
a stale URL is replaced, other applications' webhooks are left alone, and what it registered delivers (with the
secret header) to a real receiver. The client calls: create is not repeated once sent, list and delete are."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from devstack.linkedin_provider import LinkedInProviderEmulator
from kindling.linkedin.provider import ProviderError, UnipileClient
from kindling.linkedin.provider_events import NewMessage, NewRelation, parse_webhook, verify
from kindling.linkedin.webhooks import ensure_webhooks
from tests.integration.linkedin.conftest import Sleeps
from tests.integration.webhooks.receiver import Receiver, running_receiver

SECRET = "stack-secret-for-webhook-registration-42"
INGRESS = "https://abc123.execute-api.us-east-1.amazonaws.com/linkedin/provider/webhook"
OLD_INGRESS = "https://old999.execute-api.us-east-1.amazonaws.com/linkedin/provider/webhook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def registered(emulator: LinkedInProviderEmulator) -> list[tuple[str, str, str, dict[str, str]]]:
    return sorted((w.source, w.request_url, w.name, w.headers) for w in emulator.webhooks.values())


def test_the_first_run_creates_the_three_webhooks(emulator: LinkedInProviderEmulator, client: UnipileClient) -> None:
    report = ensure_webhooks(client, INGRESS, SECRET, stage="prod")
    assert report.as_dict() == {
        "created": ["account_status", "users", "messaging"],
        "deleted": [],
        "kept": [],
        "failed": [],
    }
    headers = {"Content-Type": "application/json", "X-Kindling-Webhook-Secret": SECRET}
    assert registered(emulator) == [
        ("account_status", INGRESS, "kindling-prod-account_status", headers),
        ("messaging", INGRESS, "kindling-prod-messaging", headers),
        ("users", INGRESS, "kindling-prod-users", headers),
    ]
    assert emulator.requests == [("GET", "/webhooks")] + [("POST", "/webhooks")] * 3


def test_a_second_run_only_lists(emulator: LinkedInProviderEmulator, client: UnipileClient) -> None:
    ensure_webhooks(client, INGRESS, SECRET, stage="prod")
    before = registered(emulator)
    ids = sorted(emulator.webhooks)
    emulator.requests.clear()
    report = ensure_webhooks(client, INGRESS, SECRET, stage="prod")
    assert (report.created, report.deleted, report.failed) == ([], [], [])
    assert sorted(report.kept) == ids
    assert emulator.requests == [("GET", "/webhooks")]
    assert registered(emulator) == before


def test_a_stale_url_is_replaced_and_foreign_webhooks_are_kept(
    emulator: LinkedInProviderEmulator, client: UnipileClient
) -> None:
    ensure_webhooks(client, OLD_INGRESS, SECRET, stage="prod")  # the API's URL before a redeploy
    foreign_messages = client.create_webhook(
        "messaging", "https://crm.example.com/hooks/unipile", {"Authorization": "Bearer crm"}, name="crm"
    )
    other_stage = client.create_webhook(
        "users",
        "https://dev111.execute-api.eu-west-1.amazonaws.com/linkedin/provider/webhook",
        {},
        name="kindling-dev-users",
    )
    old_ids = {w.id for w in emulator.webhooks.values() if w.request_url == OLD_INGRESS}
    assert len(old_ids) == 3
    emulator.requests.clear()

    report = ensure_webhooks(client, INGRESS, SECRET, stage="prod")

    assert report.created == ["account_status", "users", "messaging"]
    assert sorted(report.deleted) == sorted(old_ids)
    assert report.failed == []
    # the replacements are made before the stale ones go
    assert emulator.requests == [("GET", "/webhooks")] + [("POST", "/webhooks")] * 3 + [
        ("DELETE", f"/webhooks/{i}") for i in report.deleted
    ]
    assert {w.source: w.request_url for w in emulator.webhooks.values() if w.name.startswith("kindling-prod-")} == {
        "account_status": INGRESS,
        "users": INGRESS,
        "messaging": INGRESS,
    }
    assert foreign_messages in emulator.webhooks and other_stage in emulator.webhooks
    assert len(emulator.webhooks) == 5


def test_what_it_registers_delivers_acceptances_and_messages_with_the_secret(
    emulator: LinkedInProviderEmulator, client: UnipileClient, receiver: Receiver
) -> None:
    ensure_webhooks(client, receiver.url("/linkedin/provider/webhook"), SECRET, stage="local")
    account = emulator.create_account()
    prospect = client.get_profile(account.id, "webhook-prospect")
    emulator.accept_invitation(client.send_invitation(account.id, prospect.provider_id, None))
    emulator.inbound_message(account.id, "webhook-prospect", "Glad to connect")
    emulator.set_account_status(account.id, "CREDENTIALS")
    deliveries = receiver.received("/linkedin/provider/webhook")
    assert len(deliveries) == 3
    for delivery in deliveries:
        verify(SECRET, headers=delivery.headers, query={})
    events = [parse_webhook(d.body) for d in deliveries]
    assert isinstance(events[0], NewRelation) and events[0].provider_id == prospect.provider_id
    assert isinstance(events[1], NewMessage) and json.loads(deliveries[1].body)["message"] == "Glad to connect"
    assert json.loads(deliveries[2].body)["AccountStatus"]["message"] == "CREDENTIALS"


def test_create_is_not_repeated_once_sent_but_list_and_delete_are(
    emulator: LinkedInProviderEmulator, client: UnipileClient, sleeps: Sleeps
) -> None:
    emulator.server_error(1, status=503)
    with pytest.raises(ProviderError) as refused:
        client.create_webhook("users", INGRESS, {"X-Kindling-Webhook-Secret": SECRET})
    assert (refused.value.code, refused.value.status) == ("unavailable", 503)
    assert emulator.requests == [("POST", "/webhooks")]
    assert emulator.webhooks == {}
    assert sleeps == []

    emulator.requests.clear()
    emulator.server_error(2, status=503)
    assert client.list_webhooks() == []
    assert emulator.requests == [("GET", "/webhooks")] * 3

    webhook_id = client.create_webhook("users", INGRESS, {"X-Kindling-Webhook-Secret": SECRET})
    emulator.requests.clear()
    emulator.server_error(1, status=502)
    client.delete_webhook(webhook_id)
    assert emulator.requests == [("DELETE", f"/webhooks/{webhook_id}")] * 2
    assert emulator.webhooks == {}


def test_bad_arguments_are_refused_before_any_request(
    emulator: LinkedInProviderEmulator, client: UnipileClient
) -> None:
    for call in (
        lambda: client.create_webhook("linkedin_posts", INGRESS, {}),
        lambda: client.create_webhook("users", "ftp://example.com/hook", {}),
        lambda: client.delete_webhook("has space"),
    ):
        with pytest.raises(ProviderError) as refused:
            call()
        assert (refused.value.code, refused.value.request_sent) == ("invalid", False)
    assert emulator.requests == []


def test_a_failed_listing_changes_nothing(emulator: LinkedInProviderEmulator, client: UnipileClient) -> None:
    emulator.server_error(3, status=500)
    with pytest.raises(ProviderError) as refused:
        ensure_webhooks(client, INGRESS, SECRET, stage="prod")
    assert refused.value.code == "unavailable"
    assert emulator.requests == [("GET", "/webhooks")] * 3
    assert emulator.webhooks == {}
