"""The provider's documented error answers, each classified into a stable ProviderError code.

Bodies follow the provider's RFC 7807 error shape `{"status", "type", "title", "detail"}` as its API reference
documents them under each endpoint's error responses (developer.unipile.com, "Send an invitation"
(POST /api/v1/users/invite), "Start a new chat" (POST /api/v1/chats), "Send a message in a chat",
"Endorse a user profile specific skill"); titles are the ones those pages give.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kindling.linkedin.provider import account_from_json, classify, parse_retry_after


def body(status: int, type_: str, title: str, detail: str = "") -> dict[str, object]:
    return {"status": status, "type": type_, "title": title, "detail": detail, "instance": "/api/v1/users/invite"}


CASES = [
    # 401 Unauthorized ("Disconnected account" example under Send an invitation)
    (401, body(401, "errors/disconnected_account", "Disconnected account"), "credentials"),
    (401, body(401, "errors/invalid_credentials", "Invalid credentials"), "credentials"),
    (401, body(401, "errors/expired_credentials", "Expired credentials"), "credentials"),
    (401, body(401, "errors/multiple_sessions", "Multiple sessions"), "credentials"),
    (401, body(401, "errors/wrong_account", "Wrong account"), "credentials"),
    (401, body(401, "errors/checkpoint_error", "Checkpoint error"), "checkpoint"),
    (401, body(401, "errors/invalid_checkpoint_solution", "Invalid checkpoint solution"), "checkpoint"),
    (401, body(401, "errors/captcha_not_supported", "Captcha not supported"), "checkpoint"),
    # 401 without an API key is Kindling's configuration, not the account's state.
    (401, body(401, "errors/missing_credentials", "Missing credentials"), "forbidden"),
    # 403 Forbidden ("Feature not subscribed" example)
    (403, body(403, "errors/feature_not_subscribed", "Feature not subscribed"), "forbidden"),
    (403, body(403, "errors/account_restricted", "Account restricted"), "forbidden"),
    (403, body(403, "errors/insufficient_permissions", "Insufficient permissions"), "forbidden"),
    (403, body(403, "errors/action_required", "Action required"), "checkpoint"),
    # 404 Not Found ("Resource not found." / "Account not found", "User not found")
    (404, body(404, "errors/resource_not_found", "Resource not found.", "User not found"), "not_found"),
    (404, body(404, "errors/invalid_resource_identifier", "Invalid resource identifier"), "not_found"),
    # 422 Unprocessable Entity
    (422, body(422, "errors/cannot_resend_yet", "Cannot resend yet"), "cannot_resend_yet"),
    (422, body(422, "errors/cannot_resend_within_24hrs", "Cannot resend within 24 hours"), "cannot_resend_yet"),
    (422, body(422, "errors/already_invited_recently", "Already invited recently"), "cannot_resend_yet"),
    (422, body(422, "errors/limit_exceeded", "Limit exceeded"), "rate_limited"),
    (422, body(422, "errors/invalid_recipient", "Invalid recipient"), "invalid"),
    (422, body(422, "errors/no_connection_with_recipient", "Recipient cannot be reached"), "invalid"),
    (422, body(422, "errors/not_allowed_inmail", "Not allowed inmail"), "invalid"),
    (422, body(422, "errors/insufficient_credits", "Insufficient credits"), "invalid"),
    (422, body(422, "errors/invalid_post", "Invalid post"), "invalid"),
    (422, body(422, "errors/provider_unreachable", "Provider unreachable"), "unavailable"),
    # 400 Bad Request ("Too many characters" example)
    (400, body(400, "errors/too_many_characters", "Too many characters"), "invalid"),
    (400, body(400, "errors/invalid_parameters", "Invalid parameters"), "invalid"),
    # 429 Too Many Requests
    (429, body(429, "errors/too_many_requests", "Too many requests"), "rate_limited"),
    # 5xx and 504
    (500, body(500, "errors/unexpected_error", "Unexpected error"), "unavailable"),
    (500, body(500, "errors/provider_error", "Provider error"), "unavailable"),
    (503, body(503, "errors/network_down", "Network down"), "unavailable"),
    (503, body(503, "errors/no_client_session", "No client session"), "unavailable"),
    (504, body(504, "errors/request_timeout", "Request timed out"), "unavailable"),
    (501, body(501, "errors/feature_not_implemented", "Missing feature"), "forbidden"),
    # No body or an unknown type: the HTTP status decides.
    (401, None, "credentials"),
    (404, None, "not_found"),
    (429, None, "rate_limited"),
    (422, body(422, "errors/some_future_type", "New"), "invalid"),
    (502, "<html>Bad gateway</html>", "unavailable"),
    (409, None, "invalid"),
]


@pytest.mark.parametrize(("status", "answer", "expected"), CASES)
def test_each_documented_error_gets_its_code(status: int, answer: object, expected: str) -> None:
    code, provider_type, message = classify(status, answer)
    assert code == expected
    if isinstance(answer, dict):
        assert provider_type == answer["type"]
        assert str(answer["title"]) in message


def test_the_message_is_bounded_and_the_type_too() -> None:
    code, provider_type, message = classify(422, {"type": "errors/" + "x" * 1000, "title": "t" * 5000})
    assert code == "invalid"
    assert provider_type is not None and len(provider_type) == 200
    assert len(message) <= 300


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("7", 7),
        (" 120 ", 120),
        ("999999999", 86_400),
        ("soon", None),
        ("Wed, 10 Jun 2026 09:00:30 GMT", 30),
        ("Wed, 10 Jun 2026 08:59:00 GMT", 0),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(header: str | None, expected: int | None) -> None:
    now = datetime(2026, 6, 10, 9, 0, 0, tzinfo=UTC)
    assert parse_retry_after(header, now) == expected


# The Account object of "Retrieve an account" / "List all accounts" (GET /api/v1/accounts/{id}): id, name,
# created_at, connection_params.im (the LinkedIn member: id, publicIdentifier, premiumFeatures) and sources[].status.
ACCOUNT = {
    "object": "Account",
    "type": "LINKEDIN",
    "id": "h_EKCy2lRLef5NzHp0iw4A",
    "name": "Kim Unipile",
    "created_at": "2026-06-10T08:31:00.000Z",
    "connection_params": {
        "im": {
            "id": "ACoAAAcDMMQBODyLwZrRcgYhrkCafURGqva0U4E",
            "publicIdentifier": "kim-unipile",
            "username": "Kim Unipile",
            "premiumFeatures": ["premium"],
        }
    },
    "sources": [{"id": "h_EKCy2lRLef5NzHp0iw4A_MESSAGING", "status": "CREDENTIALS"}],
    "groups": [],
}


@pytest.mark.parametrize(
    ("features", "expected"),
    [
        (["premium"], "premium"),
        ([], "free"),
        (["premium", "sales_navigator"], "sales_navigator"),
        (["premium", "recruiter"], "recruiter"),
        (None, None),
    ],
)
def test_an_account_reads_its_status_and_type(features: list[str] | None, expected: str | None) -> None:
    data = {**ACCOUNT, "connection_params": {"im": {**ACCOUNT["connection_params"]["im"]}}}  # type: ignore[dict-item]
    if features is None:
        del data["connection_params"]["im"]["premiumFeatures"]  # type: ignore[index]
    else:
        data["connection_params"]["im"]["premiumFeatures"] = features  # type: ignore[index]
    account = account_from_json(data)
    assert account.id == "h_EKCy2lRLef5NzHp0iw4A"
    assert account.name == "Kim Unipile"
    assert account.status == "CREDENTIALS"
    assert account.account_type == expected
    assert account.public_identifier == "kim-unipile"
    assert account.provider_id == "ACoAAAcDMMQBODyLwZrRcgYhrkCafURGqva0U4E"
    assert account.created_at == datetime(2026, 6, 10, 8, 31, tzinfo=UTC)
