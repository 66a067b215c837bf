"""The one table from domain exceptions to HTTP statuses, and the FastAPI exception handlers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kindling.api.envelope import error_payload
from kindling.platform import errors
from kindling.platform.observability import get_logger

STATUS_BY_ERROR: dict[type[errors.KindlingError], int] = {
    errors.ValidationFailed: 400,
    errors.InvalidStatus: 400,
    errors.Unauthorized: 401,
    errors.InsufficientScope: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.IdempotencyConflict: 409,
    errors.PayloadTooLarge: 413,
    errors.Unprocessable: 422,
    errors.RateLimited: 429,
    errors.LimitReached: 429,
    errors.BadGateway: 502,
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def status_for(exc: errors.KindlingError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]  # type: ignore[index]
    return 500


def error_response(exc: errors.KindlingError, headers: dict[str, str] | None = None) -> JSONResponse:
    status = status_for(exc)
    extra = dict(headers or {})
    if isinstance(exc, errors.RateLimited | errors.LimitReached):
        extra["Retry-After"] = str(exc.retry_after)
    return JSONResponse(error_payload(exc.code, exc.message, exc.details), status_code=status, headers=extra)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        location = loc[0] if loc and loc[0] in ("body", "query", "path", "header", "cookie") else None
        field_parts = loc[1:] if location else loc
        details.append(
            {
                "field": ".".join(field_parts) or location or "body",
                "location": location,
                "message": err.get("msg", "invalid"),
                "code": err.get("type", "invalid"),
            }
        )
    return details


def install_error_handlers(app: FastAPI) -> None:
    async def on_domain_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, errors.KindlingError)
        if status_for(exc) >= 500:
            get_logger().exception("unhandled domain error", extra={"code": exc.code})
        return error_response(exc)

    async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse(
            error_payload("validation_error", "The request is invalid.", _validation_details(exc)),
            status_code=400,
        )

    async def on_http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = "No such route." if exc.status_code == 404 else str(exc.detail)
        return JSONResponse(error_payload(code, message), status_code=exc.status_code, headers=dict(exc.headers or {}))

    app.add_exception_handler(errors.KindlingError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
