"""Tracking tokens: signed, compact, URL-safe, no open redirect, key rotation, and stdlib only."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kindling.sending import tokens
from kindling.sending.tokens import (
    Kind,
    TokenPayload,
    click_token,
    live_secrets,
    open_token,
    sign,
    unsubscribe_token,
    verify,
)

SECRET = "trk_" + "a1" * 24
OTHER = "trk_" + "b2" * 24
REPO = Path(__file__).resolve().parents[3]

PAYLOADS = [
    TokenPayload(Kind.OPEN, "ws_01J0ABC", "snd_01J0XYZ"),
    TokenPayload(Kind.UNSUBSCRIBE, "ws_01J0ABC", "snd_01J0XYZ"),
    TokenPayload(Kind.CLICK, "ws_01J0ABC", "snd_01J0XYZ", url="https://example.com/pricing?a=1&b=%20x#top"),
    TokenPayload(Kind.CLICK, "ws_01J0ABC", "snd_01J0XYZ", url_index=3),
    TokenPayload(Kind.CLICK, "ws_01J0ABC", "snd_01J0XYZ", url="http://example.com/", url_index=0),
    TokenPayload(Kind.CLICK, "ws_1", "snd_1", url="https://bücher.example/straße?q=ü"),
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_round_trip(payload: TokenPayload) -> None:
    token = sign(payload, SECRET)
    assert verify(token, SECRET) == payload
    assert verify(token, SECRET, payload.kind) == payload
    assert all(c.isalnum() or c in "-_." for c in token)  # URL-safe as is, no padding
    assert token.count(".") == 1


def test_tokens_are_compact_and_deterministic() -> None:
    token = open_token("ws_01J0ABCDEFGHJKMNPQRSTVWXYZ", "snd_01J0ABCDEFGHJKMNPQRSTVWXYZ", SECRET)
    assert len(token) < 120
    assert token == open_token("ws_01J0ABCDEFGHJKMNPQRSTVWXYZ", "snd_01J0ABCDEFGHJKMNPQRSTVWXYZ", SECRET)
    assert token != open_token("ws_01J0ABCDEFGHJKMNPQRSTVWXYZ", "snd_01J0ABCDEFGHJKMNPQRSTVWXYZ", OTHER)


@pytest.mark.parametrize(
    ("token", "kind"),
    [
        (open_token("ws", "snd", SECRET), Kind.CLICK),
        (open_token("ws", "snd", SECRET), Kind.UNSUBSCRIBE),
        (unsubscribe_token("ws", "snd", SECRET), Kind.OPEN),
        (click_token("ws", "snd", "https://example.com", SECRET), Kind.OPEN),
    ],
)
def test_wrong_kind_is_rejected(token: str, kind: Kind) -> None:
    assert verify(token, SECRET) is not None
    assert verify(token, SECRET, kind) is None


def _flip(text: str, at: int) -> str:
    swapped = "A" if text[at] != "A" else "B"
    return text[:at] + swapped + text[at + 1 :]


GOOD = click_token("ws_1", "snd_1", "https://example.com/a", SECRET, url_index=2)
PAYLOAD_PART, TAG_PART = GOOD.split(".")


def _forge(body: list[object]) -> str:
    encoded = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    return encoded + "." + sign(TokenPayload(Kind.OPEN, "x", "y"), "attacker-key").split(".")[1]


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "abc",
        PAYLOAD_PART,  # no tag
        PAYLOAD_PART + ".",
        "." + TAG_PART,
        GOOD[:-1],  # truncated tag
        GOOD[:-4],
        PAYLOAD_PART[:-2] + "." + TAG_PART,  # truncated payload
        _flip(GOOD, 5),  # tampered payload
        _flip(GOOD, len(GOOD) - 3),  # tampered tag
        GOOD + ".x",
        GOOD + "=",
        GOOD.replace(".", "+"),  # not the base64url alphabet
        PAYLOAD_PART + "/." + TAG_PART,
        PAYLOAD_PART + "." + TAG_PART + "A",  # longer tag
        GOOD + " ",
        " " + GOOD,
        "x" * 5000,
        _forge([1, "c", "ws_1", "snd_1", "https://evil.example"]),  # a payload signed with another key
        # A different payload under the original tag: the destination cannot be swapped.
        base64.urlsafe_b64encode(json.dumps([1, "c", "ws_1", "snd_1", "https://evil.example", 2]).encode())
        .rstrip(b"=")
        .decode()
        + "."
        + TAG_PART,
    ],
)
def test_tampered_truncated_and_malformed_tokens_are_rejected(token: str) -> None:
    assert verify(token, SECRET) is None


def test_the_tag_has_one_spelling() -> None:
    # The last base64 character of a 16-byte tag carries 2 spare bits; another spelling of the same bytes
    # must not verify (one token per payload).
    last = TAG_PART[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twins = [c for c in alphabet if c != last and alphabet.index(c) // 16 == alphabet.index(last) // 16]
    assert twins
    for twin in twins:
        assert verify(PAYLOAD_PART + "." + TAG_PART[:-1] + twin, SECRET) is None


@pytest.mark.parametrize(
    "body",
    [
        [2, "o", "ws", "snd"],  # unknown version
        [True, "o", "ws", "snd"],
        [1, "x", "ws", "snd"],  # unknown kind
        [1, "o", "", "snd"],
        [1, "o", "ws", 5],
        [1, "o", "ws"],
        [1, "o", "ws", "snd", "https://example.com"],  # an open carries no url
        [1, "c", "ws", "snd"],  # a click needs one
        [1, "c", "ws", "snd", "javascript:alert(1)"],
        [1, "c", "ws", "snd", "//evil.example/x"],
        [1, "c", "ws", "snd", "https://"],
        [1, "c", "ws", "snd", None, -1],
        [1, "c", "ws", "snd", None, "3"],
        [1, "c", "ws", "snd", 7],
        {"kind": "o"},
        "o",
    ],
)
def test_validly_signed_but_malformed_payloads_are_rejected(body: object) -> None:
    encoded = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    tag = base64.urlsafe_b64encode(tokens._tag(SECRET.encode(), encoded)).rstrip(b"=").decode()
    assert verify(f"{encoded}.{tag}", SECRET) is None


def test_key_rotation_accepts_every_live_secret() -> None:
    old_token = open_token("ws", "snd", OTHER)
    new_token = open_token("ws", "snd", SECRET)
    live = [SECRET, OTHER]
    assert verify(old_token, live) == verify(new_token, live) == TokenPayload(Kind.OPEN, "ws", "snd")
    assert verify(old_token, [SECRET]) is None
    assert verify(old_token, []) is None
    assert verify(old_token, ["", OTHER]) is not None  # an empty slot is skipped, not an error
    assert verify(new_token, SECRET.encode()) is not None  # bytes secrets too


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": Kind.CLICK, "workspace_id": "ws", "send_id": "snd"}, "url or its index"),
        ({"kind": Kind.OPEN, "workspace_id": "ws", "send_id": "snd", "url": "https://x.example"}, "no url"),
        ({"kind": Kind.UNSUBSCRIBE, "workspace_id": "ws", "send_id": "snd", "url_index": 1}, "no url"),
        ({"kind": Kind.CLICK, "workspace_id": "ws", "send_id": "snd", "url": "ftp://x.example/f"}, "http"),
        ({"kind": Kind.CLICK, "workspace_id": "ws", "send_id": "snd", "url": "https://x.example/a b"}, "http"),
        (
            {"kind": Kind.CLICK, "workspace_id": "ws", "send_id": "snd", "url": "https://x.example/" + "a" * 2100},
            "http",
        ),
        ({"kind": Kind.OPEN, "workspace_id": "", "send_id": "snd"}, "workspace_id"),
        ({"kind": Kind.OPEN, "workspace_id": "ws", "send_id": "s" * 129}, "send_id"),
    ],
)
def test_payload_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TokenPayload(**kwargs)  # type: ignore[arg-type]


def test_signing_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="empty"):
        open_token("ws", "snd", "")


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.com", True),
        ("http://example.com/a?b=c#d", True),
        ("HTTPS://EXAMPLE.COM/", True),  # schemes are case-insensitive (urlsplit lowercases them)
        ("mailto:a@b.c", False),
        ("javascript:alert(1)", False),
        ("/relative/path", False),
        ("https:///no-host", False),
        ("https://example.com/\r\nSet-Cookie: x", False),
        ("https://[::1", False),
        ("", False),
    ],
)
def test_is_redirectable(url: str, ok: bool) -> None:
    assert tokens.is_redirectable(url) is ok


def test_the_module_imports_only_the_standard_library() -> None:
    # The tracking Lambda's cold start: importing tokens and scanners must not pull in third-party packages.
    code = (
        "import sys; before = set(sys.modules);"
        "import kindling.sending.tokens, kindling.tracking.scanners;"
        "new = {m.split('.')[0] for m in set(sys.modules) - before};"
        "stdlib = set(sys.stdlib_module_names) | {'kindling', '_distutils_hack'};"
        "print(sorted(new - stdlib))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "shared")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({"KINDLING_TRACKING_SECRET": "now"}, ("now",), id="never-rotated"),
        pytest.param(
            {"KINDLING_TRACKING_SECRET": "now", "KINDLING_TRACKING_SECRET_PREVIOUS": "before"},
            ("now", "before"),
            id="rotated-current-first",
        ),
        pytest.param(
            {"KINDLING_TRACKING_SECRET": "now", "KINDLING_TRACKING_SECRET_PREVIOUS": ""}, ("now",), id="empty-previous"
        ),
        pytest.param(
            {"KINDLING_TRACKING_SECRET": "now", "KINDLING_TRACKING_SECRET_PREVIOUS": "now"}, ("now",), id="same-twice"
        ),
    ],
)
def test_live_secrets(environ: dict[str, str], expected: tuple[str, ...]) -> None:
    assert live_secrets(environ) == expected


@pytest.mark.parametrize(
    "environ",
    [{}, {"KINDLING_TRACKING_SECRET": ""}, {"KINDLING_TRACKING_SECRET_PREVIOUS": "before"}],
    ids=["unset", "empty", "only-previous"],
)
def test_live_secrets_needs_a_current_secret(environ: dict[str, str]) -> None:
    with pytest.raises(RuntimeError, match="KINDLING_TRACKING_SECRET is not configured"):
        live_secrets(environ)
