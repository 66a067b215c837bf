"""The stack registers its own provider webhooks over the provider's HTTP API (the emulator on 127.0.0.1):
`ensure_webhooks` creates account_status, users and messaging once, a second run only lists, a webhook of ours with
a stale URL is replaced, other applications' webhooks are left alone, and what it registered delivers (with the
secret header) to a real receiver. The client calls: create is not repeated once sent, list and delete are."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devstack.linkedin_provider import LinkedInProviderEmulator
from kindling.linkedin.provider import ProviderError, UnipileClient
from kindling.linkedin.provider_events import NewMessage, NewRelation, parse_webhook, verify
from kindling.linkedin.webhooks import ensure_webhooks
from tests.integration.linkedin.conftest import Sleeps
from tests.integration.webhooks.conftest import load_function
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


class _RefusingProvider:
    """A provider HTTP API on 127.0.0.1 that lists one stale webhook of ours and refuses every creation (422):
    the failure path the emulator has no fault for."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def _answer(self, status: int, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                owner.requests.append(("GET", self.path.split("?")[0]))
                stale = {"id": "wh_stale", "source": "users", "request_url": OLD_INGRESS, "name": "kindling-prod-users"}
                self._answer(200, {"object": "WebhookList", "items": [stale], "cursor": None})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                owner.requests.append(("POST", self.path))
                self._answer(
                    422, {"status": 422, "type": "errors/invalid_request_url", "title": "Invalid", "detail": "no"}
                )

            def do_DELETE(self) -> None:
                owner.requests.append(("DELETE", self.path))
                self._answer(200, {"object": "WebhookDeleted"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.api_url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_refused_creation_is_reported_and_keeps_the_stale_webhook(sleeps: Sleeps) -> None:
    provider = _RefusingProvider()
    try:
        client = UnipileClient(provider.api_url, "key", sleep=sleeps)
        report = ensure_webhooks(client, INGRESS, SECRET, stage="prod")
    finally:
        provider.close()
    assert report.created == [] and report.deleted == [] and report.kept == []
    assert [f.split(":")[0] for f in report.failed] == ["create account_status", "create users", "create messaging"]
    # each creation tried once (not repeated), and the stale webhook stays until its replacement exists
    assert provider.requests == [("GET", "/api/v1/webhooks")] + [("POST", "/api/v1/webhooks")] * 3


def test_the_sweep_task_fails_when_a_webhook_could_not_be_registered(
    monkeypatch: pytest.MonkeyPatch, emulator: LinkedInProviderEmulator
) -> None:
    """functions/linkedin_sweep's ensure_webhooks task: done from the stack's settings it answers the report; a
    refused creation makes it raise after the rest was done (the execution fails, its alarm tells)."""
    from kindling.platform.settings import reset_settings

    sweep = load_function("linkedin_sweep")
    provider = _RefusingProvider()
    try:
        for url, key in ((emulator.api_url, emulator.api_key), (provider.api_url, "key")):
            monkeypatch.setenv("KINDLING_STAGE", "test")
            monkeypatch.setenv("KINDLING_LINKEDIN_PROVIDER_URL", url)
            monkeypatch.setenv("KINDLING_LINKEDIN_PROVIDER_API_KEY", key)
            monkeypatch.delenv("KINDLING_LINKEDIN_PROVIDER_SECRET_ARN", raising=False)
            monkeypatch.setenv("KINDLING_LINKEDIN_WEBHOOK_URL", INGRESS)
            monkeypatch.setenv("KINDLING_LINKEDIN_WEBHOOK_SECRET", SECRET)
            reset_settings()
            if url == emulator.api_url:
                answer = sweep.handler({"action": "ensure_webhooks"}, None)
                assert answer["created"] == ["account_status", "users", "messaging"]
                assert sorted(w.name for w in emulator.webhooks.values()) == [
                    "kindling-test-account_status",
                    "kindling-test-messaging",
                    "kindling-test-users",
                ]
            else:
                with pytest.raises(RuntimeError, match="could not be registered"):
                    sweep.handler({"action": "ensure_webhooks"}, None)
        monkeypatch.setenv("KINDLING_LINKEDIN_PROVIDER_URL", "")
        reset_settings()
        assert sweep.handler({"action": "ensure_webhooks"}, None) == {"skipped": "no LinkedIn provider on this stack"}
    finally:
        provider.close()
        monkeypatch.undo()
        reset_settings()
