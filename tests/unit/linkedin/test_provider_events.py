"""The provider's calls into Kindling: verified by the per-stack secret, parsed into typed events.

Payloads are the provider's documented examples:
- account status: "Account status updates", https://developer.unipile.com/docs/account-lifecycle
- new relation: "Detecting Accepted Invitations", https://developer.unipile.com/docs/detecting-accepted-invitations
- new message: "New messages", https://developer.unipile.com/docs/new-messages-webhook
- hosted-auth notify: "Hosted auth wizard", https://developer.unipile.com/docs/hosted-auth (the `name` sent back
  with the account id) and the account-lifecycle page (CREATION_SUCCESS / RECONNECTED on notify_url).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from kindling.linkedin.provider_events import (
    AccountLinked,
    AccountStatusChanged,
    IgnoredEvent,
    InvalidSignature,
    NewMessage,
    NewRelation,
    parse_hosted_auth_notify,
    parse_webhook,
    verify,
)
from kindling.platform.errors import PayloadTooLarge, ValidationFailed

SECRET = "per-stack-secret-0123456789abcdef"

# account-lifecycle page, "Here is an example payload for a synchronization request".
ACCOUNT_STATUS = {
    "AccountStatus": {"account_id": "h_EKCy2lRLef5NzHp0iw4A", "account_type": "LINKEDIN", "message": "CREDENTIALS"}
}
# detecting-accepted-invitations page, the new_relation example.
NEW_RELATION = {
    "event": "new_relation",
    "account_id": "SDF4tGaPSPSzNe1D1xsOs",
    "account_type": "LINKEDIN",
    "webhook_name": "",
    "user_full_name": "Julien Crépieux",
    "user_provider_id": "ACoAAAh_Ffqss54sqAGQOD8u7sl5of04y9_3AwyM",
    "user_public_identifier": "julien-crepieux",
    "user_profile_url": "https://www.linkedin.com/in/julien-crepieux",
    "user_picture_url": "https://media.licdn.com/picture.jpg",
}
# new-messages-webhook page, the example request payload (attachments and reactions left out).
NEW_MESSAGE = {
    "account_id": "dfXlh46vQYCsMbVarumWlg",
    "account_type": "LINKEDIN",
    "event": "message_received",
    "chat_id": "R8J-xM9WX7eoHLp6gSVtWQ",
    "timestamp": "2023-09-24T13:49:07.965Z",
    "webhook_name": "Webhook demo",
    "message_id": "ykmhfXlRW0W_cqReJYrfBw",
    "message": "Hello World !",
    "sender": {
        "attendee_id": "C8zaRZTlVcmfnke_Vai4Gg",
        "attendee_name": "Kim Unipile",
        "attendee_provider_id": "ACoAAAcDMMQBODyLwZrRcgYhrkCafURGqva0U4E",
        "attendee_profile_url": "https://www.linkedin.com/in/ACoAAAcDMMQBODyLwZrRcgYhrkCafURGqva0U4E/",
    },
    "attendees": [
        {
            "attendee_id": "12Siz1Vcmfnke_Vai4Gg",
            "attendee_name": "Bastien Unipile ",
            "attendee_provider_id": "AA1212sqqsMQBODyLwZrRcgYhrkCafURGqva0U4E",
            "attendee_profile_url": "https://www.linkedin.com/in/ACoAAAcDMMQBODyLwZrRcgYhrkCafURGqva0U4E/",
        }
    ],
}
NOTIFY = {"status": "CREATION_SUCCESS", "account_id": "e54m8LR22bA7G5qsAc8w", "name": "myuser1234"}


# --- verification --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({"X-Kindling-Webhook-Secret": SECRET}, {}),
        ({"x-kindling-webhook-secret": SECRET}, {}),  # any header case
        ({}, {"secret": SECRET}),  # the notify URL's query
        ({"X-Kindling-Webhook-Secret": "wrong"}, {"secret": SECRET}),
    ],
)
def test_the_stack_secret_in_the_header_or_the_query_is_accepted(
    headers: dict[str, str], query: dict[str, str]
) -> None:
    verify(SECRET, headers=headers, query=query)


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({}, {}),
        ({"X-Kindling-Webhook-Secret": ""}, {}),
        ({"X-Kindling-Webhook-Secret": SECRET[:-1]}, {}),
        ({"X-Kindling-Webhook-Secret": SECRET + "x"}, {}),
        ({"Authorization": f"Bearer {SECRET}"}, {}),
        ({}, {"token": SECRET}),
        ({}, {"secret": SECRET.upper()}),
    ],
)
def test_anything_else_is_refused_with_invalid_signature(headers: dict[str, str], query: dict[str, str]) -> None:
    with pytest.raises(InvalidSignature) as refused:
        verify(SECRET, headers=headers, query=query)
    assert refused.value.code == "invalid_signature"


def test_an_unconfigured_secret_refuses_everything() -> None:
    with pytest.raises(InvalidSignature):
        verify("", headers={"X-Kindling-Webhook-Secret": ""}, query={"secret": ""})


# --- parsing -------------------------------------------------------------------------------------------------


def test_the_account_status_example_parses() -> None:
    event = parse_webhook(json.dumps(ACCOUNT_STATUS).encode())
    assert event == AccountStatusChanged(
        account_id="h_EKCy2lRLef5NzHp0iw4A", status="CREDENTIALS", account_type="LINKEDIN"
    )


def test_the_new_relation_example_parses() -> None:
    event = parse_webhook(json.dumps(NEW_RELATION))
    assert event == NewRelation(
        account_id="SDF4tGaPSPSzNe1D1xsOs",
        provider_id="ACoAAAh_Ffqss54sqAGQOD8u7sl5of04y9_3AwyM",
        public_identifier="julien-crepieux",
        full_name="Julien Crépieux",
        profile_url="https://www.linkedin.com/in/julien-crepieux",
    )


def test_the_new_message_example_parses() -> None:
    event = parse_webhook(json.dumps(NEW_MESSAGE).encode())
    assert isinstance(event, NewMessage)
    assert event.account_id == "dfXlh46vQYCsMbVarumWlg"
    assert event.chat_id == "R8J-xM9WX7eoHLp6gSVtWQ"
    assert event.message_id == "ykmhfXlRW0W_cqReJYrfBw"
    assert event.text == "Hello World !"
    assert event.sender_provider_id == "ACoAAAcDMMQBODyLwZrRcgYhrkCafURGqva0U4E"
    assert event.sender_name == "Kim Unipile"
    assert event.timestamp == datetime(2023, 9, 24, 13, 49, 7, 965000, tzinfo=UTC)
    assert event.is_from_account is False


def test_a_message_the_account_sent_itself_is_told_apart() -> None:
    payload = {
        **NEW_MESSAGE,
        "account_info": {"type": "LINKEDIN", "user_id": "ACoAAAcDMMQBODyLwZrRcgYhrkCafURGqva0U4E"},
    }
    event = parse_webhook(json.dumps(payload))
    assert isinstance(event, NewMessage) and event.is_from_account is True


@pytest.mark.parametrize("kind", ["message_reaction", "message_read", "message_edited"])
def test_documented_events_kindling_does_not_use_are_ignored_not_refused(kind: str) -> None:
    assert parse_webhook(json.dumps({**NEW_MESSAGE, "event": kind})) == IgnoredEvent(event=kind)


def test_the_hosted_auth_notify_parses_both_statuses() -> None:
    assert parse_hosted_auth_notify(json.dumps(NOTIFY)) == AccountLinked(
        "e54m8LR22bA7G5qsAc8w", "myuser1234", "CREATION_SUCCESS"
    )
    again = parse_hosted_auth_notify(json.dumps({**NOTIFY, "status": "RECONNECTED"}))
    assert again.status == "RECONNECTED"
    # A reconnection is identified by its account id; its name may be empty.
    bare = parse_hosted_auth_notify(
        json.dumps({"status": "RECONNECTED", "account_id": "e54m8LR22bA7G5qsAc8w", "name": ""})
    )
    assert bare == AccountLinked("e54m8LR22bA7G5qsAc8w", None, "RECONNECTED")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'"a string"',
        b'{"x": NaN}',
        json.dumps({"AccountStatus": "CREDENTIALS"}).encode(),
        json.dumps({"AccountStatus": {"account_id": "a"}}).encode(),
        json.dumps({"AccountStatus": {"account_id": 12, "message": "OK"}}).encode(),
        json.dumps({"event": "new_relation", "account_id": "a"}).encode(),
        json.dumps({"event": "message_received", "account_id": "a", "chat_id": "c"}).encode(),
        json.dumps({**NEW_MESSAGE, "sender": "Kim"}).encode(),
        json.dumps({**NEW_MESSAGE, "chat_id": "x" * 300}).encode(),
        json.dumps({**NEW_RELATION, "user_full_name": "Julien\r\nX-Injected: 1"}).encode(),
        json.dumps({"account_id": "a"}).encode(),
        json.dumps({"event": 5}).encode(),
    ],
)
def test_malformed_webhooks_are_refused_with_validation_error(raw: bytes) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_webhook(raw)
    assert refused.value.code == "validation_error"


@pytest.mark.parametrize(
    "payload",
    [
        {"status": "OK", "account_id": "a", "name": "n"},
        {"status": "CREATION_SUCCESS", "name": "n"},
        {"status": "CREATION_SUCCESS", "account_id": "a"},
        {"status": "CREATION_SUCCESS", "account_id": ["a"], "name": "n"},
    ],
)
def test_a_malformed_notify_is_refused(payload: dict[str, object]) -> None:
    with pytest.raises(ValidationFailed):
        parse_hosted_auth_notify(json.dumps(payload))


def test_an_oversized_body_is_refused_before_parsing() -> None:
    huge = json.dumps({**NEW_MESSAGE, "message": "x" * (300 * 1024)}).encode()
    with pytest.raises(PayloadTooLarge):
        parse_webhook(huge)
