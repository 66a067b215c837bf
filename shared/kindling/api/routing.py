"""Routes that know their scope and honour Idempotency-Key on POST.

A route declares its scope with `openapi_extra=scope("mailboxes:read")`; the scope is checked before the
endpoint runs (and before an idempotent replay), and is published in the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from kindling.api.envelope import idempotency_key_var, replay_body_var
from kindling.auth.models import Principal
from kindling.auth.service import require_scope
from kindling.idempotency.service import request_fingerprint, validate_key
from kindling.platform.jsonsafe import NonFiniteNumber, loads_finite

if TYPE_CHECKING:
    from kindling.idempotency.service import IdempotencyService
from kindling.api.schemas import ErrorResponse
from kindling.idempotency.service import IdempotencyService
from kindling.platform.errors import Unauthorized, ValidationFailed, field_error
from kindling.ratelimit.service import RateLimiter

SCOPE_KEY = "x-required-scope"
IDEMPOTENT_KEY = "x-idempotent"

_COMMON_ERROR_DESCRIPTIONS = {
    400: "Invalid request (`validation_error`, with every bad field in `details`).",
    401: "Missing or invalid API key (`unauthorized`).",
    403: "The key lacks the required scope (`insufficient_scope`).",
    404: "Not found in this workspace (`not_found`).",
    429: "Rate limited (`rate_limited`); see `Retry-After`.",
    500: "Unexpected server error (`internal_error`).",
}


def common_errors() -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": ErrorResponse, "description": description}
        for status, description in _COMMON_ERROR_DESCRIPTIONS.items()
    }


def scope(required: str, *, idempotent: bool | None = None) -> dict[str, Any]:
    extra: dict[str, Any] = {SCOPE_KEY: required}
    if idempotent is not None:
        extra[IDEMPOTENT_KEY] = idempotent
    return extra


def principal_of(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise Unauthorized("Authentication required.")
    return principal


async def workspace_id_of(request: Request) -> str:
    """The caller's workspace (async, so FastAPI runs it inline instead of in the thread pool)."""
    return principal_of(request).workspace_id


WorkspaceId = Annotated[str, Depends(workspace_id_of)]
"""A route parameter `workspace_id: WorkspaceId` is the authenticated caller's workspace; it adds nothing to the
OpenAPI document (the dependency reads only the request)."""


_idempotency: IdempotencyService | None = None


def _idempotency_service() -> IdempotencyService:
    global _idempotency
    if _idempotency is None:
        _idempotency = IdempotencyService()
    return _idempotency


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


async def refuse_non_finite_numbers(request: Request) -> None:
    """400 `validation_error` for a JSON body carrying NaN, Infinity or a number beyond a float's range.

    FastAPI reads JSON bodies with Python's `json`, which accepts those literals; stored, they would make every
    later response carrying them unrenderable. Bodies that are not JSON, or not valid JSON, are left to FastAPI.
    """
    if request.method not in _BODY_METHODS:
        return
    content_type = request.headers.get("content-type", "")
    if content_type and "json" not in content_type.lower():
        return
    body = await request.body()
    if not body:
        return
    try:
        loads_finite(body)
    except NonFiniteNumber as exc:
        raise ValidationFailed(
            "The request body carries a number that is not finite.",
            details=[{**field_error("body", str(exc), "non_finite_number"), "location": "body"}],
        ) from None
    except ValueError:
        return


class KindlingRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = super().get_route_handler()
        extra = self.openapi_extra or {}
        required_scope: str | None = extra.get(SCOPE_KEY)
        idempotent = bool(extra.get(IDEMPOTENT_KEY, "POST" in (self.methods or set())))

        async def handler(request: Request) -> Response:
            if required_scope is not None:
                require_scope(principal_of(request), required_scope)
            await refuse_non_finite_numbers(request)
            key = request.headers.get("idempotency-key")
            if not idempotent or key is None:
                return await endpoint(request)
            key = validate_key(key)
            principal = principal_of(request)
            fingerprint = request_fingerprint(request.method, request.url.path, await request.body())
            service = _idempotency_service()
            replay = await run_in_threadpool(service.begin, principal.workspace_id, key, fingerprint)
            if replay is not None:
                return Response(
                    content=replay.body,
                    status_code=replay.status_code,
                    media_type="application/json",
                    headers={"Idempotent-Replayed": "true"},
                )
            token = idempotency_key_var.set(key)
            holder: dict[str, bytes] = {}
            replay_token = replay_body_var.set(holder)
            try:
                response = await endpoint(request)
            except BaseException:
                await run_in_threadpool(service.abandon, principal.workspace_id, key)
                raise
            finally:
                idempotency_key_var.reset(token)
                replay_body_var.reset(replay_token)
            stored = holder.get("body", bytes(response.body))
            await run_in_threadpool(service.finish, principal.workspace_id, key, response.status_code, stored)
            return response

        return handler


def api_router(tag: str) -> APIRouter:
    return APIRouter(prefix="/api/v1", tags=[tag], route_class=KindlingRoute, responses=common_errors())


def extra_rate_limit(bucket: str, per_minute: Callable[[], int]) -> Callable[[Request], Coroutine[Any, Any, None]]:
    """A dependency adding a tighter per-workspace limit on top of the global one (e.g. mailbox tests).

    Usage: `dependencies=[Depends(extra_rate_limit("mailbox_test", lambda: settings.mailbox_test_limit))]`
    """

    async def dependency(request: Request) -> None:
        principal = principal_of(request)
        limit = per_minute()
        decision = await run_in_threadpool(RateLimiter().hit, principal.workspace_id, bucket, limit)
        if not decision.allowed:
            raise decision.refusal(f"This endpoint's limit of {limit} requests per minute")

    return dependency
