"""ASGI middleware for every request: request id, authentication and the workspace rate limit.

Pure ASGI (not BaseHTTPMiddleware) so it adds no task or stream copying to the hot path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from anyio import to_thread

from kindling.api.envelope import error_payload
from kindling.api.errors import status_for
from kindling.auth.models import Principal
from kindling.auth.service import AuthService
from kindling.platform.clock import get_clock, minute_window
from kindling.platform.errors import KindlingError
from kindling.platform.ids import request_id
from kindling.platform.observability import get_logger, request_id_var
from kindling.platform.settings import get_settings
from kindling.ratelimit.service import RateDecision, RateLimiter

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_PREFIX = "/api/"
WORKSPACE_BUCKET = "api"
# Requests whose API key is missing or wrong belong to no workspace: they are counted per source IP address, and
# past this many in a minute the address gets 429 instead of 401 (valid keys from it are not affected).
UNAUTHENTICATED_BUCKET = "unauthenticated"
UNAUTHENTICATED_PER_MINUTE = 30


def rate_limit_headers(decision: RateDecision) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"x-ratelimit-limit", str(decision.limit).encode()),
        (b"x-ratelimit-remaining", str(decision.remaining).encode()),
        (b"x-ratelimit-reset", str(decision.reset_at).encode()),
    ]
    if not decision.allowed:
        headers.append((b"retry-after", str(decision.retry_after).encode()))
    return headers


class PlatformMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._auth: AuthService | None = None
        self._limiter: RateLimiter | None = None

    def _services(self) -> tuple[AuthService, RateLimiter]:
        if self._auth is None or self._limiter is None:
            self._auth, self._limiter = AuthService(), RateLimiter()
        return self._auth, self._limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id()
        token = request_id_var.set(rid)
        started = time.perf_counter()
        extra_headers: list[tuple[bytes, bytes]] = [(b"x-request-id", rid.encode())]
        status_holder = {"status": 0}
        try:
            if scope["path"].startswith(API_PREFIX):
                rejection = await self._admit(scope, extra_headers)
                if rejection is not None:
                    status, body, headers = rejection
                    await self._send_json(send, status, body, extra_headers + headers)
                    status_holder["status"] = status
                    return

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status_holder["status"] = message["status"]
                    message["headers"] = list(message.get("headers", [])) + extra_headers
                await send(message)

            try:
                await self.app(scope, receive, send_with_headers)
            except Exception:
                # Answered here (not by Starlette's outer error middleware) so the 500 keeps the envelope,
                # the request id header and a log line carrying the request id.
                get_logger().exception("unhandled error")
                if status_holder["status"]:
                    raise
                status_holder["status"] = 500
                body = error_payload("internal_error", "Something went wrong on our side; quote the request id.")
                await self._send_json(send, 500, body, extra_headers)
        finally:
            get_logger().info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status_holder["status"],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "workspace_id": getattr(scope.get("state", {}).get("principal"), "workspace_id", None),
                },
            )
            request_id_var.reset(token)

    async def _admit(
        self, scope: Scope, extra_headers: list[tuple[bytes, bytes]]
    ) -> tuple[int, dict[str, Any], list[tuple[bytes, bytes]]] | None:
        """Authenticate and count the request; returns a rejection (status, body, headers) or None."""
        auth, limiter = self._services()
        authorization = _header(scope, b"authorization")
        limit = get_settings().rate_limit_per_minute
        try:
            principal: Principal = await to_thread.run_sync(auth.authenticate, authorization)
        except KindlingError as exc:
            refused = await to_thread.run_sync(
                limiter.hit_source, source_ip(scope), UNAUTHENTICATED_BUCKET, UNAUTHENTICATED_PER_MINUTE
            )
            if not refused.allowed:
                limited = refused.refusal(
                    f"Unauthenticated requests are limited to {UNAUTHENTICATED_PER_MINUTE} a minute"
                )
                return 429, error_payload(limited.code, limited.message), rate_limit_headers(refused)
            # Nothing was counted against any workspace, so the window is full for this caller.
            _, reset = minute_window(get_clock().now())
            headers = rate_limit_headers(RateDecision(True, limit, limit, reset, 0))
            return status_for(exc), error_payload(exc.code, exc.message, exc.details), headers
        scope.setdefault("state", {})["principal"] = principal
        decision = await to_thread.run_sync(limiter.hit, principal.workspace_id, WORKSPACE_BUCKET, limit)
        extra_headers.extend(rate_limit_headers(decision))
        if not decision.allowed:
            limited = decision.refusal(f"Rate limit of {limit} requests per minute")
            return 429, error_payload(limited.code, limited.message), []
        return None

    @staticmethod
    async def _send_json(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def source_ip(scope: Scope) -> str:
    """The caller's address: the ASGI client, which Mangum fills from API Gateway's `requestContext.http.sourceIp`
    (the TCP peer API Gateway saw). Never X-Forwarded-For: the caller writes that header, so it would let one
    client spread its attempts over made-up addresses or spend another address's allowance."""
    client = scope.get("client")
    if client and client[0]:
        return str(client[0])
    return "unknown"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None
