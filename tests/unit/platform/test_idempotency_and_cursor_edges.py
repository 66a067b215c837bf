"""Idempotency fingerprints, keys and list cursors at their edges, against their documented forms:
- fingerprint = sha256("<METHOD> <path>\\n<canonical body>"), the canonical body being compact JSON with sorted
  keys, or a multipart body with its boundary (3-72 characters after "--", no space) replaced by "--boundary";
- an Idempotency-Key is 1-255 printable characters;
- a cursor is the base64url (no padding) of the compact, key-sorted JSON of the last item's key.
The expected values are computed here from those descriptions or written out, never read from the code."""

from __future__ import annotations

import hashlib

import pytest

from kindling.idempotency.service import request_fingerprint, validate_key
from kindling.platform.dynamo import decode_cursor, encode_cursor
from kindling.platform.errors import ValidationFailed


def fingerprint(method: str, path: str, canonical: bytes) -> str:
    return hashlib.sha256(f"{method} {path}\n".encode() + canonical).hexdigest()


def multipart(boundary: bytes) -> bytes:
    return (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
        b"email\r\na@example.com\r\n--" + boundary + b"--\r\n"
    )


@pytest.mark.parametrize(
    ("method", "body", "canonical"),
    [
        ("POST", b'{ "b": [1, 2], "a": {"y": 1, "x": 2} }', b'{"a":{"x":2,"y":1},"b":[1,2]}'),
        ("post", b'{"a": 1}', b'{"a":1}'),  # the method is upper-cased
        ("DELETE", b"", b""),
        ("POST", b"not json", b"not json"),
    ],
)
def test_the_fingerprint_is_the_documented_hash(method: str, body: bytes, canonical: bytes) -> None:
    assert request_fingerprint(method, "/api/v1/prospects", body) == fingerprint(
        method.upper(), "/api/v1/prospects", canonical
    )


@pytest.mark.parametrize(
    ("boundary", "replaced"),
    [
        (b"a", True),  # "--a": 3 characters, the shortest delimiter
        (b"x" * 70, True),  # 72 characters, the longest
        (b"x" * 71, False),  # 73: not a multipart delimiter
        (b"", False),  # "--" alone
        (b"ab cd", False),  # a space: not a boundary
        (b"ab\tcd", True),
        (b"----WebKitFormBoundary7MA4YWxkTrZu0gW", True),
    ],
)
def test_a_multipart_boundary_is_replaced_by_a_fixed_one(boundary: bytes, replaced: bool) -> None:
    body = multipart(boundary)
    canonical = body.replace(b"--" + boundary, b"--boundary") if replaced else body
    assert request_fingerprint("POST", "/api/v1/imports", body) == fingerprint("POST", "/api/v1/imports", canonical)


def test_only_a_body_that_starts_with_dashes_is_multipart() -> None:
    body = b"x" + multipart(b"abc")
    assert request_fingerprint("POST", "/p", body) == fingerprint("POST", "/p", body)


def test_the_delimiter_is_the_first_line() -> None:
    body = b"--abc\r\nfirst\r\n--abc\r\nsecond\r\n--abc--\r\n"
    expected = b"--boundary\r\nfirst\r\n--boundary\r\nsecond\r\n--boundary--\r\n"
    assert request_fingerprint("POST", "/p", body) == fingerprint("POST", "/p", expected)


@pytest.mark.parametrize("key", ["a", "k" * 255, "  padded  ", "abc-123_XYZ"])
def test_keys_of_1_to_255_printable_characters_are_accepted(key: str) -> None:
    assert validate_key(key) == key.strip()


@pytest.mark.parametrize("key", ["", "   ", "k" * 256, "bad\x00key", "tab\tinside"])
def test_other_keys_are_refused_with_a_clear_error(key: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        validate_key(key)
    assert raised.value.code == "validation_error"
    assert raised.value.message == "Invalid Idempotency-Key header."
    assert raised.value.details == [
        {"field": "Idempotency-Key", "message": "must be 1-255 printable characters", "code": "invalid"}
    ]


@pytest.mark.parametrize(
    ("key", "cursor"),
    [
        ({"sk": "b", "pk": "ws_1#x"}, "eyJwayI6IndzXzEjeCIsInNrIjoiYiJ9"),
        ({"sk": "ab", "pk": "ws_1#x"}, "eyJwayI6IndzXzEjeCIsInNrIjoiYWIifQ"),
        ({"sk": "abc", "pk": "ws_1#x"}, "eyJwayI6IndzXzEjeCIsInNrIjoiYWJjIn0"),
    ],
)
def test_a_cursor_is_unpadded_base64url_of_sorted_compact_json(key: dict[str, str], cursor: str) -> None:
    assert encode_cursor(key) == cursor
    assert decode_cursor(cursor, "ws_1", ("pk", "sk")) == key


@pytest.mark.parametrize("cursor", ["!!!", "eyJwayI6IndzXzEjeCJ9", "eyJwayI6IndzXzEjeCIsInNrIjoiYiJ9"])
def test_a_bad_cursor_gets_a_clear_error(cursor: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        decode_cursor(cursor, "ws_2", ("pk", "sk"))
    assert raised.value.message == "The cursor is invalid or expired."
    assert raised.value.details == [{"field": "cursor", "message": "not a cursor from this API", "code": "invalid"}]
