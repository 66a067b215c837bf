"""The API platform through HTTP (in-process ASGI, moto): auth, scopes, rate limit, idempotency, pages, errors."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kindling.auth.service import AuthService
from kindling.idempotency.repository import IdempotencyRepository
from kindling.platform.clock import ManualClock
from kindling.platform.observability import get_logger
from kindling.platform.settings import reset_settings
from tests.conftest import Tenant, make_tenant
from tests.integration.api.conftest import Calls


def assert_error(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "meta"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], list)
    assert body["meta"]["request_id"] == response.headers["x-request-id"]
    assert body["meta"]["request_id"].startswith("req_")
    return body


# --- authentication --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer not-a-key",
        "Bearer ws_" + "a" * 40,  # well formed, never issued
        "ws_" + "a" * 40,  # no scheme
    ],
)
def test_requests_without_a_valid_key_are_401(client: TestClient, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get("/api/v1/me", headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers["x-ratelimit-limit"] == "60"


def test_me_returns_the_key_and_workspace_unwrapped(client: TestClient, tenant: Tenant) -> None:
    response = client.get("/api/v1/me", headers=tenant.headers)
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "apiKey": {"id": tenant.key_id, "name": "tests", "scopes": body["apiKey"]["scopes"]},
        "workspace": {"id": tenant.workspace_id},
    }
    assert "mailboxes:read" in body["apiKey"]["scopes"]
    assert response.headers["x-request-id"].startswith("req_")


def test_revoked_key_is_refused(client: TestClient, tenant: Tenant) -> None:
    assert client.get("/api/v1/me", headers=tenant.headers).status_code == 200
    AuthService().revoke_api_key(tenant.workspace_id, tenant.key_id)
    body = assert_error(client.get("/api/v1/me", headers=tenant.headers), 401, "unauthorized")
    assert "revoked" in body["error"]["message"]


def test_keys_are_stored_hashed_never_in_clear(client: TestClient, tenant: Tenant) -> None:
    import boto3

    items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName="kindling-test")["Items"]
    assert items
    assert tenant.token not in json.dumps(items)
    keys = AuthService().list_api_keys(tenant.workspace_id)
    assert [k.prefix for k in keys] == [tenant.token[:10]]


# --- scopes ----------------------------------------------------------------------------------------


def test_missing_scope_is_403(client: TestClient, aws: None, clock: ManualClock) -> None:
    reader = make_tenant(scopes=("mailboxes:read",))
    assert client.get("/api/v1/_test/widgets", headers=reader.headers).status_code == 200
    assert_error(
        client.post("/api/v1/_test/widgets", headers=reader.headers, json={"name": "a", "size": 1}),
        403,
        "insufficient_scope",
    )
    assert_error(client.get("/api/v1/jobs/job_abc", headers=reader.headers), 403, "insufficient_scope")
    # /me needs no particular scope: any valid key may discover its own permissions.
    assert client.get("/api/v1/me", headers=reader.headers).json()["apiKey"]["scopes"] == ["mailboxes:read"]


def test_write_scope_covers_read(client: TestClient, aws: None, clock: ManualClock) -> None:
    writer = make_tenant(scopes=("mailboxes:write",))
    assert client.get("/api/v1/_test/widgets", headers=writer.headers).status_code == 200


# --- rate limit ------------------------------------------------------------------------------------


@pytest.fixture
def limit_of_5() -> object:
    os.environ["KINDLING_RATE_LIMIT_PER_MINUTE"] = "5"
    reset_settings()
    yield
    del os.environ["KINDLING_RATE_LIMIT_PER_MINUTE"]
    reset_settings()


def test_rate_limit_per_workspace_with_headers(
    client: TestClient, tenant: Tenant, clock: ManualClock, limit_of_5: object
) -> None:
    remaining = []
    for _ in range(5):
        response = client.get("/api/v1/me", headers=tenant.headers)
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit"] == "5"
        remaining.append(int(response.headers["x-ratelimit-remaining"]))
    assert remaining == [4, 3, 2, 1, 0]
    limited = client.get("/api/v1/me", headers=tenant.headers)
    assert_error(limited, 429, "rate_limited")
    window_end = int(limited.headers["x-ratelimit-reset"])
    assert window_end == int(clock.now().timestamp()) // 60 * 60 + 60
    assert int(limited.headers["retry-after"]) == window_end - int(clock.now().timestamp())
    # Another workspace has its own budget.
    other = make_tenant(name="Other")
    assert client.get("/api/v1/me", headers=other.headers).status_code == 200
    # The next window admits the workspace again.
    clock.advance(timedelta(seconds=61))
    response = client.get("/api/v1/me", headers=tenant.headers)
    assert response.status_code == 200
    assert response.headers["x-ratelimit-remaining"] == "4"


def test_the_default_rate_limit_is_60_requests_a_minute(client: TestClient, tenant: Tenant, clock: ManualClock) -> None:
    """The contract's 60 requests per minute per workspace: the 60th request of a window passes, the 61st is 429."""
    clock.set(clock.now().replace(second=0))  # the whole burst inside one window
    for n in range(60):
        response = client.get("/api/v1/me", headers=tenant.headers)
        assert response.status_code == 200, f"request {n + 1}"
    assert response.headers["x-ratelimit-limit"] == "60" and response.headers["x-ratelimit-remaining"] == "0"
    assert_error(client.get("/api/v1/me", headers=tenant.headers), 429, "rate_limited")
    clock.advance(timedelta(seconds=59))  # still the same minute
    assert_error(client.get("/api/v1/me", headers=tenant.headers), 429, "rate_limited")
    clock.advance(timedelta(seconds=1))  # the next window
    assert client.get("/api/v1/me", headers=tenant.headers).status_code == 200


def test_rate_limit_counts_across_app_instances(
    client: TestClient, tenant: Tenant, calls: Calls, limit_of_5: object
) -> None:
    """Two Lambda containers share the DynamoDB counter, so the limit holds across them."""
    from tests.integration.api.conftest import widget_app

    with TestClient(widget_app(calls)) as second:
        for n in range(5):
            target = client if n % 2 else second
            assert target.get("/api/v1/me", headers=tenant.headers).status_code == 200
        assert_error(second.get("/api/v1/me", headers=tenant.headers), 429, "rate_limited")
        assert_error(client.get("/api/v1/me", headers=tenant.headers), 429, "rate_limited")


def test_bad_keys_are_rate_limited_per_source_ip_without_touching_valid_tenants(
    tenant: Tenant, calls: Calls, clock: ManualClock
) -> None:
    """30 failed authentications a minute per source address, then 429 with Retry-After; valid keys (from any
    address) and other addresses keep working, and X-Forwarded-For neither dodges nor spends anyone's budget."""
    from tests.integration.api.conftest import widget_app

    app = widget_app(calls)
    bad = {"Authorization": "Bearer ws_" + "b" * 40}
    with (
        TestClient(app, client=("203.0.113.7", 40000)) as attacker,
        TestClient(app, client=("198.51.100.20", 40000)) as office,
    ):
        for _ in range(30):
            assert_error(attacker.get("/api/v1/me", headers=bad), 401, "unauthorized")
        limited = attacker.get("/api/v1/me", headers=bad)
        assert_error(limited, 429, "rate_limited")
        window_end = int(clock.now().timestamp()) // 60 * 60 + 60
        assert int(limited.headers["retry-after"]) == window_end - int(clock.now().timestamp())
        assert limited.headers["x-ratelimit-limit"] == "30" and limited.headers["x-ratelimit-remaining"] == "0"
        # A spoofed X-Forwarded-For does not move the attacker to a fresh bucket...
        spoofed = attacker.get("/api/v1/me", headers={**bad, "X-Forwarded-For": "198.51.100.20"})
        assert_error(spoofed, 429, "rate_limited")
        # ...nor did it spend the office's budget: its own bad key is still a plain 401.
        assert_error(office.get("/api/v1/me", headers=bad), 401, "unauthorized")
        # A valid tenant is served from another address and from the limited one alike.
        assert office.get("/api/v1/me", headers=tenant.headers).status_code == 200
        assert attacker.get("/api/v1/me", headers=tenant.headers).status_code == 200
        # The next window admits the address's failures as 401 again.
        clock.advance(timedelta(seconds=61))
        assert_error(attacker.get("/api/v1/me", headers=bad), 401, "unauthorized")


# --- idempotency -----------------------------------------------------------------------------------


def test_same_key_same_body_replays_the_first_response(client: TestClient, tenant: Tenant, calls: Calls) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "550e8400-e29b-41d4-a716-446655440000"}
    first = client.post("/api/v1/_test/widgets", headers=headers, json={"name": "a", "size": 1})
    assert first.status_code == 201
    assert first.json()["meta"]["idempotency_key"] == "550e8400-e29b-41d4-a716-446655440000"
    # Same JSON with other key order and spacing is the same request.
    second = client.post("/api/v1/_test/widgets", headers=headers, content=b'{ "size": 1, "name": "a" }')
    assert second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert calls.creates == 1
    listed = client.get("/api/v1/_test/widgets", headers=tenant.headers).json()["data"]
    assert listed == [{"name": "a"}]


def test_same_key_different_body_is_409(client: TestClient, tenant: Tenant, calls: Calls) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "k-1"}
    assert client.post("/api/v1/_test/widgets", headers=headers, json={"name": "a", "size": 1}).status_code == 201
    conflict = client.post("/api/v1/_test/widgets", headers=headers, json={"name": "b", "size": 1})
    assert_error(conflict, 409, "idempotency_conflict")
    assert calls.names == ["a"]


def test_keys_are_scoped_per_workspace_and_expire_after_24h(
    client: TestClient, tenant: Tenant, calls: Calls, clock: ManualClock
) -> None:
    other = make_tenant(name="Other")
    for who in (tenant, other):
        response = client.post(
            "/api/v1/_test/widgets", headers={**who.headers, "Idempotency-Key": "shared"}, json={"name": "a", "size": 1}
        )
        assert response.status_code == 201
    assert calls.creates == 2
    clock.advance(timedelta(hours=24, seconds=1))
    again = client.post(
        "/api/v1/_test/widgets", headers={**tenant.headers, "Idempotency-Key": "shared"}, json={"name": "z", "size": 2}
    )
    assert again.status_code == 201
    assert calls.names == ["a", "a", "z"]


def test_a_key_replays_for_24_hours_to_the_second(
    client: TestClient, tenant: Tenant, calls: Calls, clock: ManualClock
) -> None:
    """Same key + same body within 24 h returns the first response (spec decisions): exactly 24 h later it still
    does, one second after that the key is free again."""
    headers = {**tenant.headers, "Idempotency-Key": "a-day"}
    first = client.post("/api/v1/_test/widgets", headers=headers, json={"name": "a", "size": 1})
    assert first.status_code == 201
    clock.advance(timedelta(hours=24))
    replayed = client.post("/api/v1/_test/widgets", headers=headers, json={"name": "a", "size": 1})
    assert replayed.headers["idempotent-replayed"] == "true" and replayed.json() == first.json()
    assert_error(client.post("/api/v1/_test/widgets", headers=headers, json={"name": "b", "size": 1}), 409,
                 "idempotency_conflict")  # fmt: skip
    assert calls.creates == 1
    clock.advance(timedelta(seconds=1))
    again = client.post("/api/v1/_test/widgets", headers=headers, json={"name": "a", "size": 1})
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert calls.creates == 2


def test_requests_without_a_key_are_not_deduplicated(client: TestClient, tenant: Tenant, calls: Calls) -> None:
    for _ in range(2):
        client.post("/api/v1/_test/widgets", headers=tenant.headers, json={"name": "a", "size": 1})
    assert calls.creates == 2


def test_failed_requests_free_the_key(client: TestClient, tenant: Tenant, calls: Calls) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "retry-me"}
    assert_error(client.post("/api/v1/_test/widgets", headers=headers, json={"name": ""}), 400, "validation_error")
    assert client.post("/api/v1/_test/widgets", headers=headers, json={"name": "ok", "size": 3}).status_code == 201


@pytest.mark.parametrize("failure", [500, 503, "raise"])
def test_a_server_error_frees_the_key_and_the_retry_runs_again(
    client: TestClient, tenant: Tenant, calls: Calls, failure: int | str
) -> None:
    """A 5xx (returned by the route, or an unexpected exception answered as 500) is never replayed: the retry with
    the same key and body runs the route again, and that success is what later retries replay."""
    calls.flaky_script = [failure]
    headers = {**tenant.headers, "Idempotency-Key": "after-a-crash"}
    body = {"name": "a", "size": 1}
    first = client.post("/api/v1/_test/flaky", headers=headers, json=body)
    assert first.status_code == (500 if failure == "raise" else failure)
    assert "idempotent-replayed" not in first.headers
    retried = client.post("/api/v1/_test/flaky", headers=headers, json=body)
    assert retried.status_code == 201 and retried.json()["data"] == {"run": 2, "name": "a"}
    assert "idempotent-replayed" not in retried.headers
    assert calls.flaky_runs == 2
    replayed = client.post("/api/v1/_test/flaky", headers=headers, json=body)
    assert replayed.status_code == 201 and replayed.json() == retried.json()
    assert replayed.headers["idempotent-replayed"] == "true"
    assert calls.flaky_runs == 2


@pytest.mark.parametrize("status", [400, 409, 422, 429])
def test_a_returned_client_error_frees_the_key_like_a_raised_one(
    client: TestClient, tenant: Tenant, calls: Calls, status: int
) -> None:
    """Errors free the key whether the route raised them or returned them (docs/decisions.md, Idempotency): a
    transient 409 or 429 kept for 24 h would be answered to every retry."""
    calls.flaky_script = [status]
    headers = {**tenant.headers, "Idempotency-Key": f"client-error-{status}"}
    assert client.post("/api/v1/_test/flaky", headers=headers, json={"name": "a", "size": 1}).status_code == status
    retried = client.post("/api/v1/_test/flaky", headers=headers, json={"name": "a", "size": 1})
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    assert calls.flaky_runs == 2


def test_a_key_still_in_progress_is_409_conflict(
    client: TestClient, tenant: Tenant, calls: Calls, clock: ManualClock
) -> None:
    import hashlib

    from kindling.idempotency.service import request_fingerprint

    body = b'{"name":"a","size":1}'
    now = int(clock.now().timestamp())
    fingerprint = request_fingerprint("POST", "/api/v1/_test/widgets", body)
    digest = hashlib.sha256(b"busy").hexdigest()
    assert IdempotencyRepository().try_lock(tenant.workspace_id, digest, fingerprint, now, now + 86400, 60)
    headers = {**tenant.headers, "Idempotency-Key": "busy", "Content-Type": "application/json"}
    busy = client.post("/api/v1/_test/widgets", headers=headers, content=body)
    assert_error(busy, 409, "conflict")
    assert calls.creates == 0
    # A lock whose request died (older than its lease) is taken over by the retry.
    clock.advance(timedelta(seconds=61))
    retried = client.post("/api/v1/_test/widgets", headers=headers, content=body)
    assert retried.status_code == 201
    assert calls.creates == 1


@pytest.mark.parametrize("key", ["x" * 256, "tab\tkey"])
def test_invalid_idempotency_key_is_400(client: TestClient, tenant: Tenant, calls: Calls, key: str) -> None:
    response = client.post("/api/v1/_test/widgets", headers={**tenant.headers, "Idempotency-Key": key}, json={})
    body = assert_error(response, 400, "validation_error")
    assert body["error"]["details"][0]["field"] == "Idempotency-Key"
    assert calls.creates == 0


# --- pagination ------------------------------------------------------------------------------------


def test_cursor_pagination_walks_every_item_once_newest_first(
    client: TestClient, tenant: Tenant, clock: ManualClock
) -> None:
    for n in range(7):
        clock.advance(timedelta(seconds=1))
        client.post("/api/v1/_test/widgets", headers=tenant.headers, json={"name": f"w{n}", "size": 1})
    seen, cursor, pages = [], None, []
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/_test/widgets", headers=tenant.headers, params=params).json()
        seen += [w["name"] for w in body["data"]]
        pages.append((len(body["data"]), body["pagination"]["has_more"]))
        cursor = body["pagination"]["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"w{n}" for n in reversed(range(7))]
    assert pages == [(3, True), (3, True), (1, False)]


def test_list_pages_default_to_50_and_allow_up_to_100(client: TestClient, tenant: Tenant, clock: ManualClock) -> None:
    """The contract's page size on a real list route: 50 when no limit is given, at most 100, 101 refused; and every
    list route the OpenAPI document publishes declares the same bounds."""
    from kindling.platform.dynamo import batch_write
    from kindling.prospects.models import Prospect
    from kindling.prospects.repository import new_email_record, prospect_item

    now = clock.now()
    prospects = [
        Prospect(
            id=f"p{n:03d}", workspace_id=tenant.workspace_id, email=f"p{n}@page.test", created_at=now, updated_at=now
        )
        for n in range(101)
    ]
    batch_write([item for p in prospects for item in (prospect_item(p), new_email_record(p))])
    default = client.get("/api/v1/prospects", headers=tenant.headers).json()
    assert len(default["data"]) == 50 and default["pagination"]["has_more"] is True
    full = client.get("/api/v1/prospects", headers=tenant.headers, params={"limit": 100}).json()
    assert len(full["data"]) == 100 and full["pagination"]["has_more"] is True
    rest = client.get(
        "/api/v1/prospects", headers=tenant.headers, params={"limit": 100, "cursor": full["pagination"]["next_cursor"]}
    ).json()
    assert len(rest["data"]) == 1 and rest["pagination"]["has_more"] is False
    too_many = client.get("/api/v1/prospects", headers=tenant.headers, params={"limit": 101})
    assert assert_error(too_many, 400, "validation_error")["error"]["details"][0]["field"] == "limit"

    document = client.get("/openapi.json").json()
    limits = {
        f"{method.upper()} {path}": param["schema"]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for param in operation.get("parameters", [])
        if param["name"] == "limit" and not path.startswith("/api/v1/_test")
    }
    assert len(limits) >= 13
    assert all((s["default"], s["minimum"], s["maximum"]) == (50, 1, 100) for s in limits.values()), limits


def test_exact_page_size_has_no_phantom_next_page(client: TestClient, tenant: Tenant) -> None:
    for n in range(3):
        client.post("/api/v1/_test/widgets", headers=tenant.headers, json={"name": f"w{n}", "size": 1})
    body = client.get("/api/v1/_test/widgets", headers=tenant.headers, params={"limit": 3}).json()
    assert body["pagination"] == {"has_more": False, "next_cursor": None}


def test_cursor_from_another_workspace_is_refused(client: TestClient, tenant: Tenant, clock: ManualClock) -> None:
    for n in range(2):
        client.post("/api/v1/_test/widgets", headers=tenant.headers, json={"name": f"w{n}", "size": 1})
    cursor = client.get("/api/v1/_test/widgets", headers=tenant.headers, params={"limit": 1}).json()["pagination"][
        "next_cursor"
    ]
    other = make_tenant(name="Other")
    response = client.get("/api/v1/_test/widgets", headers=other.headers, params={"cursor": cursor})
    body = assert_error(response, 400, "validation_error")
    assert body["error"]["details"][0]["field"] == "cursor"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": "ten"}, "limit"), ({"cursor": "%%%"}, "cursor")],
)
def test_bad_paging_parameters_are_400(client: TestClient, tenant: Tenant, params: dict, field: str) -> None:  # type: ignore[type-arg]
    body = assert_error(
        client.get("/api/v1/_test/widgets", headers=tenant.headers, params=params), 400, "validation_error"
    )
    assert [d["field"] for d in body["error"]["details"]] == [field]


# --- errors ----------------------------------------------------------------------------------------


def test_validation_lists_every_bad_field(client: TestClient, tenant: Tenant, calls: Calls) -> None:
    response = client.post(
        "/api/v1/_test/widgets", headers=tenant.headers, json={"name": "", "size": "big", "colour": "red"}
    )
    body = assert_error(response, 400, "validation_error")
    assert sorted(d["field"] for d in body["error"]["details"]) == ["colour", "name", "size"]
    assert all(d["location"] == "body" for d in body["error"]["details"])
    assert calls.creates == 0


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b"\xff\xfe"])
def test_malformed_bodies_are_400_not_500(client: TestClient, tenant: Tenant, raw: bytes) -> None:
    response = client.post(
        "/api/v1/_test/widgets", headers={**tenant.headers, "Content-Type": "application/json"}, content=raw
    )
    assert_error(response, 400, "validation_error")


def test_unknown_routes_and_methods_use_the_error_shape(client: TestClient, tenant: Tenant) -> None:
    assert_error(client.get("/api/v1/no-such-thing", headers=tenant.headers), 404, "not_found")
    assert_error(client.delete("/api/v1/me", headers=tenant.headers), 405, "method_not_allowed")
    assert_error(client.get("/nowhere"), 404, "not_found")


def test_another_workspaces_job_is_404(client: TestClient, tenant: Tenant) -> None:
    assert_error(client.get("/api/v1/jobs/job_nothere", headers=tenant.headers), 404, "not_found")


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON lines the Powertools logger writes, as dicts."""
    logger = get_logger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def test_unexpected_errors_are_500_with_request_id(
    client: TestClient, tenant: Tenant, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    response = client.get("/api/v1/_test/boom", headers=tenant.headers)
    body = assert_error(response, 500, "internal_error")
    assert "unexpected bug" not in response.text  # no internals leak to clients
    errors = [line for line in log_lines() if line.get("level") == "ERROR"]
    assert errors
    assert errors[0]["request_id"] == body["meta"]["request_id"]


def test_every_log_line_carries_the_request_id(
    client: TestClient, tenant: Tenant, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    response = client.get("/api/v1/me", headers=tenant.headers)
    request_lines = [line for line in log_lines() if line.get("message") == "request"]
    assert request_lines[-1]["request_id"] == response.headers["x-request-id"]
    assert request_lines[-1]["status"] == 200
    assert request_lines[-1]["workspace_id"] == tenant.workspace_id
