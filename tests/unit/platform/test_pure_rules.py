"""Table-driven tests of the platform's pure rules (no AWS, no sockets)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kindling.api.errors import status_for
from kindling.auth.scopes import ALL_SCOPES, UnknownScope, effective_scopes, has_scope, validate_scopes
from kindling.auth.service import hash_token, looks_like_token
from kindling.idempotency.service import request_fingerprint, validate_key
from kindling.platform import errors
from kindling.platform.clock import ManualClock, isoformat, minute_window, parse_iso
from kindling.platform.dynamo import decode_cursor, encode_cursor
from kindling.platform.ids import api_key_token, prefixed_id, request_id
from kindling.platform.keys import workspace_key
from kindling.platform.settings import load_settings
from kindling.ratelimit.service import decide


@pytest.mark.parametrize(
    ("granted", "required", "allowed"),
    [
        (["mailboxes:read"], "mailboxes:read", True),
        (["mailboxes:read"], "mailboxes:write", False),
        (["mailboxes:write"], "mailboxes:read", True),  # write implies read
        (["warmup:write"], "mailboxes:read", False),
        (["campaigns:read"], "inbox:read", True),
        (["campaigns:read"], "inbox:write", False),
        (["campaigns:write"], "inbox:write", True),
        (["enrollments:write"], "campaigns:write", False),
        (["jobs:read"], "jobs:read", True),
        ([], "jobs:read", False),
        (["linkedin:write"], "linkedin:read", True),
    ],
)
def test_scope_rules(granted: list[str], required: str, allowed: bool) -> None:
    assert has_scope(granted, required) is allowed


def test_all_scopes_match_decisions() -> None:
    expected = {
        f"{r}:{a}"
        for r in ("prospects", "mailboxes", "warmup", "campaigns", "suppressions", "webhooks", "inbox")
        for a in ("read", "write")
    } | {"enrollments:write", "jobs:read", "linkedin:read", "linkedin:write"}
    assert set(ALL_SCOPES) == expected
    assert effective_scopes(ALL_SCOPES) == frozenset(ALL_SCOPES)


def test_validate_scopes_orders_dedupes_and_rejects_unknown() -> None:
    assert validate_scopes(["jobs:read", "mailboxes:read", "jobs:read"]) == ["mailboxes:read", "jobs:read"]
    with pytest.raises(UnknownScope, match="admin:all"):
        validate_scopes(["mailboxes:read", "admin:all"])


@pytest.mark.parametrize(
    ("count", "limit", "now", "window_end", "allowed", "remaining", "retry_after"),
    [
        (1, 60, 1000.0, 1020, True, 59, 0),
        (60, 60, 1000.0, 1020, True, 0, 0),
        (61, 60, 1000.0, 1020, False, 0, 20),
        (61, 60, 1019.5, 1020, False, 0, 1),  # never tell a client to retry after 0 s
        (500, 60, 960.0, 1020, False, 0, 60),
    ],
)
def test_rate_decision(
    count: int, limit: int, now: float, window_end: int, allowed: bool, remaining: int, retry_after: int
) -> None:
    decision = decide(count, limit, now, window_end)
    assert (decision.allowed, decision.remaining, decision.retry_after, decision.reset_at) == (
        allowed,
        remaining,
        retry_after,
        window_end,
    )


@pytest.mark.parametrize(
    ("when", "window"),
    [
        (datetime(2026, 6, 10, 9, 0, 0, tzinfo=UTC), (1781082000, 1781082060)),
        (datetime(2026, 6, 10, 9, 0, 59, 999999, tzinfo=UTC), (1781082000, 1781082060)),
        (datetime(2026, 6, 10, 9, 1, 0, tzinfo=UTC), (1781082060, 1781082120)),
    ],
)
def test_minute_window(when: datetime, window: tuple[int, int]) -> None:
    assert minute_window(when) == window


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (b'{"a":1,"b":2}', b'{ "b": 2, "a": 1 }', True),  # key order and spacing do not matter
        (b'{"a":1}', b'{"a":2}', False),
        (b"", b"", True),
        (b"not json", b"not json", True),
        (b"not json", b"not json!", False),
    ],
)
def test_request_fingerprint(a: bytes, b: bytes, same: bool) -> None:
    assert (request_fingerprint("POST", "/api/v1/x", a) == request_fingerprint("POST", "/api/v1/x", b)) is same


def test_fingerprint_includes_method_and_path() -> None:
    body = b'{"a":1}'
    assert request_fingerprint("POST", "/api/v1/x", body) != request_fingerprint("POST", "/api/v1/y", body)
    assert request_fingerprint("POST", "/api/v1/x", body) != request_fingerprint("PUT", "/api/v1/x", body)


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "bad\nkey"])
def test_invalid_idempotency_keys(key: str) -> None:
    with pytest.raises(errors.ValidationFailed) as info:
        validate_key(key)
    assert info.value.details[0]["field"] == "Idempotency-Key"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.ValidationFailed("x"), 400),
        (errors.InvalidStatus("x"), 400),
        (errors.Unauthorized("x"), 401),
        (errors.InsufficientScope("x"), 403),
        (errors.NotFound("x"), 404),
        (errors.Conflict("x"), 409),
        (errors.IdempotencyConflict("x"), 409),
        (errors.Unprocessable("x", code="cannot_delete_last_variant"), 422),
        (errors.RateLimited("x", retry_after=1, limit=60, reset_at=0), 429),
        (errors.KindlingError("x"), 500),
    ],
)
def test_error_status_table(error: errors.KindlingError, status: int) -> None:
    assert status_for(error) == status


def test_error_codes_are_stable() -> None:
    assert errors.IdempotencyConflict("x").code == "idempotency_conflict"
    assert errors.InsufficientScope("x").code == "insufficient_scope"
    assert errors.Unprocessable("x", code="cannot_delete_last_variant").code == "cannot_delete_last_variant"


def test_cursor_round_trip_and_workspace_binding() -> None:
    key = {"pk": "ws_abc123#MAILBOX#1", "sk": "#"}
    cursor = encode_cursor(key)
    assert decode_cursor(cursor, "ws_abc123", ("pk", "sk")) == key
    with pytest.raises(errors.ValidationFailed):
        decode_cursor(cursor, "ws_other1", ("pk", "sk"))  # a cursor never crosses workspaces


@pytest.mark.parametrize("cursor", ["", "!!!", "bm90IGpzb24", encode_cursor({"pk": "ws_abc123#X"}), "e30"])
def test_malformed_cursors_are_validation_errors(cursor: str) -> None:
    with pytest.raises(errors.ValidationFailed) as info:
        decode_cursor(cursor, "ws_abc123", ("pk", "sk"))
    assert info.value.details[0]["field"] == "cursor"


@pytest.mark.parametrize("bad", ["", "abc", "WS_ABC123", "ws_ab", None, "ws_abc123#x"])
def test_workspace_key_requires_a_workspace(bad: str | None) -> None:
    with pytest.raises(ValueError, match="workspace id"):
        workspace_key(bad, "MAILBOX")  # type: ignore[arg-type]


def test_ids_and_tokens() -> None:
    assert prefixed_id("ws").startswith("ws_") and len(prefixed_id("ws")) == 15
    assert request_id().startswith("req_")
    token = api_key_token()
    assert looks_like_token(token) and not looks_like_token(token[:-1]) and not looks_like_token("ws_" + "-" * 40)
    assert hash_token(token) == hash_token(token) != hash_token(api_key_token())


@pytest.mark.parametrize(
    ("when", "text"),
    [
        (datetime(2026, 6, 10, 8, 31, 0, tzinfo=UTC), "2026-06-10T08:31:00.000Z"),
        (datetime(2026, 6, 10, 8, 31, 5, 220999, tzinfo=UTC), "2026-06-10T08:31:05.220Z"),
        (datetime(2026, 6, 10, 10, 31, 0, tzinfo=UTC).astimezone(), "2026-06-10T10:31:00.000Z"),
    ],
)
def test_reference_timestamp_format(when: datetime, text: str) -> None:
    assert isoformat(when) == text
    assert parse_iso(text) == when.replace(microsecond=when.microsecond // 1000 * 1000)


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    assert clock.now() == clock.now()
    clock.advance(timedelta(minutes=5))
    assert clock.now() == datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        ManualClock(datetime(2026, 1, 1))


def test_settings_from_environment() -> None:
    settings = load_settings(
        {"KINDLING_STAGE": "prod", "KINDLING_TABLE_NAME": "t", "KINDLING_RATE_LIMIT_PER_MINUTE": "5"}
    )
    assert (settings.stage, settings.table_name, settings.rate_limit_per_minute, settings.is_deployed) == (
        "prod",
        "t",
        5,
        True,
    )
    assert load_settings({}).stage == "local"
    with pytest.raises(ValueError, match="stage"):
        load_settings({"KINDLING_STAGE": "qa"})
