"""Tracking Lambda (public, no auth): API Gateway HTTP API payload v2 -> open pixel, click redirect, unsubscribe.

GET /t/o/{token}   1x1 GIF, never cached
GET /t/c/{token}   302 to the URL signed into the token
GET /u/{token}     the unsubscribe confirmation page (nothing recorded: scanners prefetch links)
POST /u/{token}    unsubscribe: RFC 8058 one-click (`List-Unsubscribe=One-Click`) or the page's button

A plain handler, no web framework: this module imports only the standard library and the stdlib-only tracking
pages; the service loads on the first request, after which it is reused. An open or a click loads botocore and
nothing heavier (no pydantic, no pynamodb: see kindling.tracking.repository); an unsubscribe loads the suppression
and event services. Bad tokens answer 404 and record nothing. All rules live in `kindling.tracking.service`.

Deliberately not wrapped with the Powertools Tracer (kindling.platform.observability.traced), unlike the other
functions: Lambda's active tracing already records every invocation's segment (initialization and duration), and
the X-Ray SDK with its botocore patch would add 40-90 ms of imports (measured in Lambda mode on a shared dev CPU) to
the cold start of a pixel or a redirect a recipient is waiting for.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from kindling.tracking import pages

if TYPE_CHECKING:
    from kindling.tracking.service import TrackingService

_ROUTE = re.compile(r"^(?:/[^/]+)*?/(?P<kind>t/o|t/c|u)/(?P<token>[^/]+)/?$")
_ALLOWED = {"t/o": ("GET",), "t/c": ("GET",), "u": ("GET", "POST")}
MAX_BODY_BYTES = 16 * 1024  # a one-click body is 26 bytes; anything near this is not one

_service: TrackingService | None = None


def _tracking() -> TrackingService:
    global _service
    if _service is None:
        from kindling.tracking.service import TrackingService

        _service = TrackingService()
    return _service


def _response(status: int, headers: dict[str, str], body: str | bytes = "") -> dict[str, Any]:
    if isinstance(body, bytes):
        return {
            "statusCode": status,
            "headers": headers,
            "body": base64.b64encode(body).decode("ascii"),
            "isBase64Encoded": True,
        }
    return {"statusCode": status, "headers": headers, "body": body, "isBase64Encoded": False}


def _plain(status: int, text: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    return _response(status, {**pages.plain_headers(), **(extra or {})}, text)


def _header(event: dict[str, Any], name: str) -> str | None:
    headers = event.get("headers") or {}
    for key, value in headers.items():
        if str(key).lower() == name:
            return str(value)
    return None


def _body(event: dict[str, Any]) -> bytes:
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return b""
    return str(raw).encode("utf-8")


def is_one_click(content_type: str | None, body: bytes) -> bool:
    """RFC 8058: the POST body carries `List-Unsubscribe=One-Click`, form-urlencoded or multipart/form-data."""
    if not body or len(body) > MAX_BODY_BYTES:
        return False
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "multipart/form-data":
        from email.parser import BytesParser
        from email.policy import HTTP

        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + (content_type or "").encode() + b"\r\n\r\n" + body
        )
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == pages.ONE_CLICK_FIELD:
                content = part.get_payload(decode=True)
                if isinstance(content, bytes) and content.strip() == pages.ONE_CLICK_VALUE.encode():
                    return True
        return False
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return False
    return pages.ONE_CLICK_VALUE in fields.get(pages.ONE_CLICK_FIELD, [])


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    http = (event.get("requestContext") or {}).get("http") or {}
    method = str(http.get("method") or "GET").upper()
    match = _ROUTE.match(str(event.get("rawPath") or http.get("path") or ""))
    if match is None:
        return _plain(404, "Not found")
    kind, token = match["kind"], unquote(match["token"])
    if method not in _ALLOWED[kind]:
        return _plain(405, "Method not allowed", {"allow": ", ".join(_ALLOWED[kind])})

    from kindling.platform.errors import NotFound
    from kindling.tracking.service import Visitor

    service = _tracking()
    visitor = Visitor(user_agent=_header(event, "user-agent") or http.get("userAgent"), ip=http.get("sourceIp"))
    try:
        if kind == "t/o":
            service.handle_open(token, visitor)
            return _response(200, pages.pixel_headers(), pages.PIXEL_GIF)
        if kind == "t/c":
            return _response(302, pages.redirect_headers(service.handle_click(token, visitor).url))
        one_click = method == "POST"
        if one_click and not is_one_click(_header(event, "content-type"), _body(event)):
            return _plain(400, "An unsubscribe POST carries List-Unsubscribe=One-Click")
        outcome = service.handle_unsubscribe(token, one_click=one_click)
    except NotFound:
        return _plain(404, "Not found")
    except Exception as exc:
        if kind != "u":
            raise
        # The visitor asked to unsubscribe and it did not happen: say so (never a false "done"), log it.
        from kindling.platform.observability import get_logger

        get_logger().exception("unsubscribe failed", exc_info=exc)
        page = pages.unsubscribe_page(pages.PageState.UNAVAILABLE, None)
        return _response(503, {**pages.page_headers(), "retry-after": "60"}, page)
    return _response(200, pages.page_headers(), pages.unsubscribe_page(outcome.state, outcome.email))
