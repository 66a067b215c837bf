"""The MCP server over streamable HTTP at `/mcp`: authentication, scopes, rate limits, idempotency and audit around
each tool, all on the official SDK.

Sessions are stateless in the SDK's sense (`stateless=True`, `json_response=True`): every POST is served on its own
by whichever instance receives it, so no session lives in memory and nothing needs to be shared between Lambda
instances but the table (keys, rate windows, idempotency records, audit). The SDK's stateless mode issues no
`Mcp-Session-Id` (docs/decisions.md, "MCP server").

Per HTTP request: the Host and Origin headers are checked (the SDK's DNS-rebinding defence), then the bearer key
(the REST keys, hashing and revocation: a bad or revoked key is 401 before any JSON-RPC), then the SDK's transport
serves the JSON-RPC message. Per tool call (`KindlingMCPServer.call_tool`): scope -> rate limit -> idempotency ->
the tool -> an audit record, whatever the outcome.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from anyio import to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import ValidationError
from starlette.requests import Request

from kindling.assistants.context import current_principal, reset_principal, set_principal
from kindling.assistants.registry import CATEGORY_LIMITS, TOOLS, ToolSpec
from kindling.audit.service import AuditService
from kindling.auth.models import Principal
from kindling.auth.scopes import has_scope
from kindling.auth.service import AuthService
from kindling.idempotency.service import IdempotencyService, validate_key
from kindling.outreach.directory import install_directory
from kindling.platform.errors import (
    IdempotencyConflict,
    InsufficientScope,
    KindlingError,
    RateLimited,
    ValidationFailed,
)
from kindling.platform.ids import request_id
from kindling.platform.observability import get_logger, request_id_var
from kindling.ratelimit.service import RateLimiter, SlidingWindowLimiter

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MCP_PATH = "/mcp"
SERVER_NAME = "kindling"
SERVER_VERSION = "1.0.0"
INSTRUCTIONS = (
    "Kindling runs cold-email and LinkedIn outreach and mailbox warmup. Start with get_workspace_info (your scopes "
    "and limits) or get_workspace_overview. Writes only change state or queue work: the sending, LinkedIn and "
    "warmup engines enforce every cap, window and suppression rule. Pass an idempotency_key to email writes you "
    "might retry. Errors carry the REST API's stable codes (validation_error, not_found, insufficient_scope, "
    "rate_limited with retry_after_seconds, idempotency_conflict...)."
)
IDEMPOTENCY_NAMESPACE = "mcp"
# Hosts and origins always allowed: the local stack and local development (the SDK's own loopback defaults).
LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost"]
LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]

# The REST API's rule and number for requests whose key is missing or wrong (docs/decisions.md), in its own bucket.
UNAUTHENTICATED_BUCKET = "mcp-unauthenticated"
UNAUTHENTICATED_PER_MINUTE = 30

OUTCOME_BY_CODE = {"insufficient_scope": "insufficient_scope", "rate_limited": "rate_limited"}


# --- results --------------------------------------------------------------------------------------------------------
def _json(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"), default=str)


def ok_result(payload: dict[str, Any], *, replayed: bool = False) -> CallToolResult:
    meta = {"kindling/idempotent_replayed": True} if replayed else None
    return CallToolResult(
        content=[TextContent(type="text", text=_json(payload))], structured_content=payload, meta=meta
    )


def error_payload(exc: KindlingError) -> dict[str, Any]:
    """The REST error body's `error` object, plus `retry_after_seconds` for rate limits."""
    error: dict[str, Any] = {"code": exc.code, "message": exc.message, "details": exc.details}
    if isinstance(exc, RateLimited):
        error["retry_after_seconds"] = exc.retry_after
    if isinstance(exc, InsufficientScope):
        error["required_scope"] = next((d.get("message", "")[len("requires ") :] for d in exc.details), None)
    return {"error": error, "meta": {"request_id": request_id_var.get() or ""}}


def error_result(exc: KindlingError) -> CallToolResult:
    payload = error_payload(exc)
    return CallToolResult(
        content=[TextContent(type="text", text=_json(payload))], structured_content=payload, is_error=True
    )


def _validation_failed(exc: ValidationError) -> ValidationFailed:
    details = [
        {
            "field": ".".join(str(part) for part in err.get("loc", ())) or "arguments",
            "message": err.get("msg", "invalid"),
            "code": err.get("type", "invalid"),
        }
        for err in exc.errors()
    ]
    return ValidationFailed("The tool arguments are invalid.", details=details)


def fingerprint(tool: str, arguments: dict[str, Any]) -> str:
    """Same call = same tool and same arguments (key order does not matter), the idempotency key aside."""
    rest = {k: v for k, v in arguments.items() if k != "idempotency_key"}
    canonical = json.dumps(rest, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"TOOL {tool}\n{canonical}".encode()).hexdigest()


# --- the server -----------------------------------------------------------------------------------------------------
class KindlingMCPServer(MCPServer[Any]):
    """MCPServer whose tool calls pass through the platform's gate (scope, rate limit, idempotency, audit)."""

    def __init__(self, specs: tuple[ToolSpec, ...] = TOOLS) -> None:
        super().__init__(name=SERVER_NAME, version=SERVER_VERSION, instructions=INSTRUCTIONS, log_level="WARNING")
        self.specs = {spec.name: spec for spec in specs}
        self._limiter: SlidingWindowLimiter | None = None
        self._idempotency: IdempotencyService | None = None
        self._audit: AuditService | None = None
        for spec in specs:
            self.add_tool(
                _wrapped(spec.fn),
                name=spec.name,
                description=spec.description,
                annotations=ToolAnnotations(
                    read_only_hint=spec.read_only,
                    destructive_hint=False,
                    idempotent_hint=spec.read_only,
                    open_world_hint=False,
                ),
                structured_output=False,
            )

    def _services(self) -> tuple[SlidingWindowLimiter, IdempotencyService, AuditService]:
        if self._limiter is None or self._idempotency is None or self._audit is None:
            self._limiter, self._idempotency, self._audit = SlidingWindowLimiter(), IdempotencyService(), AuditService()
        return self._limiter, self._idempotency, self._audit

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None) -> Any:
        spec = self.specs.get(name)
        if spec is None:  # unknown tool: the SDK's own error
            return await super().call_tool(name, arguments, context)
        principal = current_principal()
        started = time.perf_counter()
        outcome, code = "ok", None
        try:
            result = await self._gate(spec, principal, arguments, context)
        except KindlingError as exc:
            outcome, code = OUTCOME_BY_CODE.get(exc.code, "error"), exc.code
            if code == "internal_error":
                get_logger().exception("tool failed", extra={"tool": name})
            result = error_result(exc)
        except Exception:  # a platform failure (the table, a bug): the call still gets a stable error and a record
            get_logger().exception("tool failed", extra={"tool": name})
            outcome, code = "error", "internal_error"
            result = error_result(KindlingError("Something went wrong on our side; quote the request id."))
        duration_ms = (time.perf_counter() - started) * 1000
        await to_thread.run_sync(
            functools.partial(self._record, spec, principal, arguments, outcome, code, duration_ms)
        )
        return result

    def _record(
        self,
        spec: ToolSpec,
        principal: Principal,
        arguments: dict[str, Any],
        outcome: str,
        code: str | None,
        duration_ms: float,
    ) -> None:
        try:
            self._services()[2].record(
                workspace_id=principal.workspace_id,
                key_id=principal.key_id,
                tool=spec.name,
                outcome=outcome,  # type: ignore[arg-type]
                duration_ms=duration_ms,
                arguments=arguments,
                error_code=code,
            )
        except Exception:  # the call's result stands; a lost audit record is logged loudly
            get_logger().exception("audit record not written", extra={"tool": spec.name})

    async def _gate(
        self, spec: ToolSpec, principal: Principal, arguments: dict[str, Any], context: Context[Any, Any] | None
    ) -> CallToolResult:
        for required in spec.scopes:
            if not has_scope(principal.scopes, required):
                raise InsufficientScope(
                    f"This API key lacks the '{required}' scope, which {spec.name} needs.",
                    details=[{"field": "scope", "message": f"requires {required}", "code": "missing_scope"}],
                )
        limiter, idempotency, _ = self._services()
        limit = CATEGORY_LIMITS[spec.category]
        decision = await to_thread.run_sync(limiter.hit, principal.workspace_id, f"mcp-{spec.category}", limit)
        if not decision.allowed:
            raise decision.refusal(f"The {spec.category} tool limit of {limit} calls per 60 seconds")
        raw_key = arguments.get("idempotency_key") if spec.idempotent else None
        if not isinstance(raw_key, str):
            return ok_result(await self._execute(spec, arguments, context))
        key = f"{IDEMPOTENCY_NAMESPACE}:{spec.name}:{validate_key(raw_key)}"
        ws = principal.workspace_id
        try:
            stored = await to_thread.run_sync(idempotency.begin, ws, key, fingerprint(spec.name, arguments))
        except IdempotencyConflict as exc:
            raise IdempotencyConflict(
                f"This idempotency_key was already used with other arguments for {spec.name}.",
                details=[{"field": "idempotency_key", "message": "reused with other arguments", "code": "invalid"}],
            ) from exc
        if stored is not None:
            return ok_result(json.loads(stored.body), replayed=True)
        try:
            payload = await self._execute(spec, arguments, context)
        except BaseException:
            await to_thread.run_sync(idempotency.abandon, ws, key)
            raise
        await to_thread.run_sync(idempotency.finish, ws, key, 200, _json(payload).encode())
        return ok_result(payload)

    async def _execute(
        self, spec: ToolSpec, arguments: dict[str, Any], context: Context[Any, Any] | None
    ) -> dict[str, Any]:
        """Validate the arguments against the tool's signature and run it (in a worker thread), via the SDK."""
        try:
            result = await super().call_tool(spec.name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, KindlingError):
                raise cause from None
            if isinstance(cause, ValidationError):
                raise _validation_failed(cause) from None
            raise KindlingError("The tool failed unexpectedly; quote the request id.") from exc
        if not isinstance(result, CallToolResult) or result.structured_content is None:
            raise KindlingError("The tool returned no result.")
        return dict(result.structured_content)


def _wrapped(fn: Callable[..., dict[str, Any]]) -> Callable[..., CallToolResult]:
    """The tool as the SDK sees it: fn's own signature (the input schema), returning a CallToolResult."""

    @functools.wraps(fn)
    def tool(**kwargs: Any) -> CallToolResult:
        return CallToolResult(content=[], structured_content=fn(**kwargs))

    return tool


# --- transport security ---------------------------------------------------------------------------------------------
def _env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def security_settings(own_domain: str | None = None) -> TransportSecuritySettings:
    """Allowed Host and Origin values: loopback (local stack), KINDLING_MCP_ALLOWED_HOSTS / _ORIGINS (custom
    domains), and on Lambda the API Gateway domain the request came through (set by API Gateway, not the client)."""
    hosts = [*LOOPBACK_HOSTS, *_env_list("KINDLING_MCP_ALLOWED_HOSTS")]
    origins = [*LOOPBACK_ORIGINS, *_env_list("KINDLING_MCP_ALLOWED_ORIGINS")]
    if own_domain:
        hosts.append(own_domain)
        origins.append(f"https://{own_domain}")
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def _own_domain(scope: Scope) -> str | None:
    event = scope.get("aws.event")
    if isinstance(event, dict):
        domain = event.get("requestContext", {}).get("domainName")
        return str(domain) if domain else None
    return None


# --- the ASGI app ---------------------------------------------------------------------------------------------------
class MCPApp:
    """ASGI app serving `/mcp`. One per process (a Lambda instance or a test server); holds no session state."""

    def __init__(self, server: KindlingMCPServer | None = None) -> None:
        self.server = server or KindlingMCPServer()
        self._auth: AuthService | None = None
        self._limiter: RateLimiter | None = None

    def _source_limiter(self) -> RateLimiter:
        if self._limiter is None:
            self._limiter = RateLimiter()
        return self._limiter

    def _auth_service(self) -> AuthService:
        if self._auth is None:
            self._auth = AuthService()
        return self._auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        rid = request_id()
        rid_token = request_id_var.set(rid)
        try:
            await self._serve(scope, receive, send, rid)
        finally:
            request_id_var.reset(rid_token)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
        if scope["path"].rstrip("/") != MCP_PATH:
            await _send_json(send, 404, _error_body("not_found", "No such route.", rid), rid)
            return
        settings = security_settings(_own_domain(scope))
        rejection = await TransportSecurityMiddleware(settings).validate_request(Request(scope), is_post=False)
        if rejection is not None:
            code = "invalid_host" if rejection.status_code == 421 else "invalid_origin"
            body = _error_body(code, bytes(rejection.body).decode(), rid)
            await _send_json(send, rejection.status_code, body, rid)
            return
        if scope.get("method") != "POST":
            # Stateless JSON mode has no server-to-client stream (GET) and no session to end (DELETE); the SDK
            # transport would hold a GET open until the function timed out.
            body = _error_body("method_not_allowed", "The MCP endpoint accepts POST only (stateless, JSON).", rid)
            await _send_json(send, 405, body, rid, [(b"allow", b"POST")])
            return
        try:
            principal = await to_thread.run_sync(self._auth_service().authenticate, _header(scope, b"authorization"))
        except KindlingError as exc:
            # As on the REST API: failed authentications are counted per source address (the ASGI client, which
            # Mangum fills from API Gateway's sourceIp), and past the limit the address gets 429 instead of 401.
            source = (scope.get("client") or ("unknown", 0))[0] or "unknown"
            decision = await to_thread.run_sync(
                self._source_limiter().hit_source, source, UNAUTHENTICATED_BUCKET, UNAUTHENTICATED_PER_MINUTE
            )
            if not decision.allowed:
                limited = decision.refusal(
                    f"Unauthenticated requests are limited to {UNAUTHENTICATED_PER_MINUTE} a minute"
                )
                body = _error_body(limited.code, limited.message, rid)
                body["error"]["retry_after_seconds"] = limited.retry_after
                await _send_json(send, 429, body, rid, [(b"retry-after", str(limited.retry_after).encode())])
                return
            await _send_json(
                send, 401, _error_body(exc.code, exc.message, rid), rid, [(b"www-authenticate", b"Bearer")]
            )
            return
        token = set_principal(principal)
        try:
            # A fresh stateless transport per request: the SDK's session manager runs once per instance.
            self.server.streamable_http_app(
                streamable_http_path=MCP_PATH, stateless_http=True, json_response=True, transport_security=settings
            )
            manager = self.server.session_manager
            async with manager.run():
                await manager.handle_request(scope, receive, _with_request_id(send, rid))
        finally:
            reset_principal(token)


def _with_request_id(send: Send, rid: str) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
        await send(message)

    return wrapped


def _error_body(code: str, message: str, rid: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": []}, "meta": {"request_id": rid}}


async def _send_json(
    send: Send, status: int, body: dict[str, Any], rid: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"x-request-id", rid.encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def create_app() -> MCPApp:
    install_directory()  # campaign tools see the workspace's LinkedIn accounts, as the REST API's do
    return MCPApp()
