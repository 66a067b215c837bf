"""Tracking tokens at their edges, against the format as documented (kindling.sending.tokens' docstring):
`<payload>.<tag>`, base64url without padding, payload the compact UTF-8 JSON `[1, kind, ws, send, url?, index?]`,
tag HMAC-SHA256(secret, "kindling.track.v1." + payload) cut to 16 bytes. The test builds tokens itself from that
description, so a change to the format fails here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re

import pytest

from kindling.sending.tokens import Kind, TokenPayload, click_token, is_redirectable, open_token, sign, verify

SECRET = "s3cret-tracking-key"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token_for(body: list[object], secret: str = SECRET) -> str:
    payload = b64(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
    tag = hmac.new(secret.encode(), b"kindling.track.v1." + payload.encode(), hashlib.sha256).digest()[:16]
    return f"{payload}.{b64(tag)}"


@pytest.mark.parametrize(
    ("payload", "body"),
    [
        (TokenPayload(Kind.OPEN, "ws_1", "snd_1"), [1, "o", "ws_1", "snd_1"]),
        (
            TokenPayload(Kind.CLICK, "ws_1", "snd_1", "https://example.com/café"),
            [1, "c", "ws_1", "snd_1", "https://example.com/café"],
        ),
        (TokenPayload(Kind.CLICK, "ws_1", "snd_1", None, 3), [1, "c", "ws_1", "snd_1", None, 3]),
        (TokenPayload(Kind.UNSUBSCRIBE, "wś_ü", "snd_1"), [1, "u", "wś_ü", "snd_1"]),
    ],
)
def test_tokens_are_the_documented_format(payload: TokenPayload, body: list[object]) -> None:
    assert sign(payload, SECRET) == token_for(body)
    assert verify(token_for(body), SECRET) == payload


def test_a_signed_payload_of_seven_items_is_refused() -> None:
    assert verify(token_for([1, "c", "ws_1", "snd_1", None, 3]), SECRET) is not None
    assert verify(token_for([1, "c", "ws_1", "snd_1", None, 3, "extra"]), SECRET) is None
    assert verify(token_for([1, "o", "ws_1"]), SECRET) is None


@pytest.mark.parametrize("garbage", [None, 7, b"abc.def"])
def test_a_token_that_is_not_text_is_refused(garbage: object) -> None:
    assert verify(garbage, SECRET) is None  # type: ignore[arg-type]


def test_ids_of_128_characters_are_the_longest_accepted() -> None:
    longest = "x" * 128
    assert verify(open_token(longest, longest, SECRET), SECRET) == TokenPayload(Kind.OPEN, longest, longest)
    for name, args in (("workspace_id", ("x" * 129, "snd")), ("send_id", ("ws", "x" * 129))):
        with pytest.raises(ValueError, match=f"^{name} must be a non-empty string of at most 128 characters$"):
            TokenPayload(Kind.OPEN, *args)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.com/" + "a" * (2048 - 20), True),  # exactly 2048 characters
        ("https://example.com/" + "a" * (2049 - 20), False),
        ("https://example.com/!", True),  # 0x21, the first printable character
        ('https://example.com/"q"', True),
        ("https://example.com/ x", False),  # 0x20
        ("https://example.com/\x7f", False),  # DEL
        ("https://example.com/\x80", True),  # not a control character in the URL sense we check
    ],
)
def test_redirect_targets_at_the_edges(url: str, ok: bool) -> None:
    assert is_redirectable(url) is ok


@pytest.mark.parametrize("value", [None, b"https://example.com/", 42])
def test_only_text_is_a_redirect_target(value: object) -> None:
    assert is_redirectable(value) is False  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: TokenPayload(Kind.CLICK, "ws", "snd"), "a click token needs the url or its index"),
        (lambda: TokenPayload(Kind.OPEN, "ws", "snd", "https://example.com/"), "a open token carries no url"),
        (lambda: TokenPayload(Kind.UNSUBSCRIBE, "ws", "snd", None, 1), "a unsubscribe token carries no url"),
        (
            lambda: TokenPayload(Kind.CLICK, "ws", "snd", "javascript:alert(1)"),
            "click urls must be absolute http(s) urls",
        ),
        (lambda: TokenPayload(Kind.CLICK, "ws", "snd", None, -1), "url_index must be a non-negative integer"),
        (lambda: TokenPayload(Kind.CLICK, "ws", "snd", None, True), "url_index must be a non-negative integer"),
        (lambda: TokenPayload(Kind.CLICK, "ws", "snd", None, "3"), "url_index must be a non-negative integer"),
        (lambda: click_token("ws", "snd", "https://example.com/", ""), "an empty tracking secret"),
    ],
)
def test_a_bad_payload_gets_a_clear_message(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        build()  # type: ignore[operator]
