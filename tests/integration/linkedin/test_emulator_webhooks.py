"""The emulator's webhooks and hosted-auth notify callbacks reach a real HTTP receiver carrying the per-stack
secret, and kindling.linkedin.provider_events verifies and parses what arrives.

Webhooks are registered the documented way (POST /api/v1/webhooks with `source`, `request_url` and custom
`headers`: "Create a webhook"); the notify URL carries the secret in its query (a notify URL cannot carry headers).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from devstack.linkedin_provider import LinkedInProviderEmulator
from kindling.linkedin.provider import UnipileClient
from kindling.linkedin.provider_events import (
    SECRET_HEADER,
    AccountLinked,
    AccountStatusChanged,
    InvalidSignature,
    NewMessage,
    NewRelation,
    parse_hosted_auth_notify,
    parse_webhook,
    verify,
)
from tests.integration.linkedin.conftest import DIRECT, START
from tests.integration.webhooks.receiver import Received, Receiver, running_receiver

SECRET = "stack-secret-for-this-test-0123456789"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def register(emulator: LinkedInProviderEmulator, receiver: Receiver, source: str, secret: str | None = SECRET) -> None:
    body = {"source": source, "request_url": receiver.url(f"/provider/{source}"), "name": source}
    if secret is not None:
        body["headers"] = [{"key": SECRET_HEADER, "value": secret}]
    request = urllib.request.Request(  # noqa: S310 - the emulator on 127.0.0.1
        emulator.api_url + "/webhooks",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "X-API-KEY": emulator.api_key},
    )
    with DIRECT.open(request, timeout=5) as response:
        assert response.status == 201
        assert json.loads(response.read())["object"] == "WebhookCreated"


def verified(received: Received) -> None:
    query = {k: v[0] for k, v in parse_qs(urlsplit(received.path).query).items()}
    verify(SECRET, headers=received.headers, query=query)


def test_an_account_status_change_arrives_verified(emulator: LinkedInProviderEmulator, receiver: Receiver) -> None:
    register(emulator, receiver, "account_status")
    account = emulator.create_account()
    emulator.set_account_status(account.id, "CREDENTIALS")
    [delivery] = receiver.received("/provider/account_status")
    verified(delivery)
    assert parse_webhook(delivery.body) == AccountStatusChanged(account.id, "CREDENTIALS", "LINKEDIN")
    emulator.set_account_status(account.id, "OK")
    assert parse_webhook(receiver.received("/provider/account_status")[-1].body) == AccountStatusChanged(
        account.id, "OK", "LINKEDIN"
    )


def test_an_accepted_invitation_arrives_as_a_new_relation(
    emulator: LinkedInProviderEmulator, receiver: Receiver, client: UnipileClient
) -> None:
    register(emulator, receiver, "users")
    account = emulator.create_account()
    prospect = client.get_profile(account.id, "accepting-prospect")
    invitation_id = client.send_invitation(account.id, prospect.provider_id, None)
    assert receiver.received() == []  # nothing until the invitation is accepted
    emulator.accept_invitation(invitation_id)
    [delivery] = receiver.received("/provider/users")
    verified(delivery)
    assert parse_webhook(delivery.body) == NewRelation(
        account_id=account.id,
        provider_id=prospect.provider_id,
        public_identifier="accepting-prospect",
        full_name="Accepting Prospect",
        profile_url="https://www.linkedin.com/in/accepting-prospect/",
    )


def test_an_inbound_message_arrives_as_a_new_message(emulator: LinkedInProviderEmulator, receiver: Receiver) -> None:
    register(emulator, receiver, "messaging")
    account = emulator.create_account()
    message = emulator.inbound_message(account.id, "replying-prospect", "Sounds good, let's talk")
    [delivery] = receiver.received("/provider/messaging")
    verified(delivery)
    event = parse_webhook(delivery.body)
    assert isinstance(event, NewMessage)
    assert (event.account_id, event.chat_id, event.message_id) == (account.id, message.chat_id, message.id)
    assert event.text == "Sounds good, let's talk"
    assert event.sender_provider_id == emulator._profile_for("replying-prospect").provider_id
    assert event.timestamp == START


def test_a_webhook_without_the_secret_is_refused(emulator: LinkedInProviderEmulator, receiver: Receiver) -> None:
    register(emulator, receiver, "account_status", secret="someone-elses-secret")
    register(emulator, receiver, "account_status", secret=None)
    account = emulator.create_account()
    emulator.set_account_status(account.id, "ERROR")
    deliveries = receiver.received("/provider/account_status")
    assert len(deliveries) == 2
    for delivery in deliveries:
        with pytest.raises(InvalidSignature):
            verified(delivery)


def test_webhooks_follow_their_account_filter(emulator: LinkedInProviderEmulator, receiver: Receiver) -> None:
    watched, other = emulator.create_account(), emulator.create_account()
    emulator.register_webhook(
        source="account_status",
        request_url=receiver.url("/only-watched"),
        headers={SECRET_HEADER: SECRET},
        account_ids=[watched.id],
    )
    emulator.set_account_status(other.id, "CREDENTIALS")
    emulator.set_account_status(watched.id, "CREDENTIALS")
    assert [json.loads(r.body)["AccountStatus"]["account_id"] for r in receiver.received("/only-watched")] == [
        watched.id
    ]


def test_the_hosted_page_connects_redirects_and_notifies(
    emulator: LinkedInProviderEmulator, receiver: Receiver, client: UnipileClient
) -> None:
    register(emulator, receiver, "account_status")
    url = client.create_hosted_auth_link(
        name="connect-attempt-7",
        notify_url=receiver.url(f"/notify?secret={SECRET}"),
        expires_at=START + timedelta(minutes=15),
        success_redirect_url="http://127.0.0.1:3000/linkedin/connected",
    )
    with DIRECT.open(url, timeout=5) as page:
        html = page.read().decode()
    assert '<form method="post"' in html

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect)
    form = b"name=Ada+Lovelace&account_type=recruiter"
    request = urllib.request.Request(  # noqa: S310
        url, data=form, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    with pytest.raises(urllib.error.HTTPError) as redirected:
        opener.open(request, timeout=5)
    assert redirected.value.code == 303
    location = urlsplit(redirected.value.headers["Location"])
    assert location.path == "/linkedin/connected"
    account_id = parse_qs(location.query)["account_id"][0]

    [notify] = receiver.received("/notify?secret=" + SECRET)
    verified(notify)
    assert parse_hosted_auth_notify(notify.body) == AccountLinked(account_id, "connect-attempt-7", "CREATION_SUCCESS")
    [status] = receiver.received("/provider/account_status")
    assert parse_webhook(status.body) == AccountStatusChanged(account_id, "CREATION_SUCCESS", "LINKEDIN")
    account = client.get_account(account_id)
    assert (account.name, account.account_type, account.status) == ("Ada Lovelace", "recruiter", "OK")
    with pytest.raises(urllib.error.HTTPError) as used:
        opener.open(
            urllib.request.Request(url, data=form, method="POST"),  # noqa: S310
            timeout=5,
        )
    assert used.value.code == 401  # a hosted link connects once


def test_a_reconnection_notifies_reconnected(
    emulator: LinkedInProviderEmulator, receiver: Receiver, client: UnipileClient
) -> None:
    account = emulator.create_account()
    emulator.set_account_status(account.id, "CREDENTIALS")
    url = client.reconnect_hosted_auth_link(
        account.id, notify_url=receiver.url(f"/notify?secret={SECRET}"), expires_at=START + timedelta(minutes=15)
    )
    emulator.complete_hosted_link(url.rsplit("/", 1)[1])
    [notify] = receiver.received()
    verified(notify)
    linked = parse_hosted_auth_notify(notify.body)
    assert (linked.account_id, linked.status) == (account.id, "RECONNECTED")
    assert client.get_account(account.id).status == "OK"
