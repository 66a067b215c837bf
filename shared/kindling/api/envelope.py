"""Response envelope `{"data", "pagination", "meta"}` and error body shapes, as OpenAPI models and builders."""

from __future__ import annotations

import contextvars
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from kindling.platform.clock import isoformat
from kindling.platform.observability import request_id_var

T = TypeVar("T")

# The reference's timestamp form everywhere: 2026-06-10T08:31:00.000Z
Timestamp = Annotated[datetime, PlainSerializer(isoformat, return_type=str)]


class Meta(BaseModel):
    model_config = ConfigDict(extra="allow")
    request_id: str = Field(examples=["req_mq28denhy91fh6"])


class Pagination(BaseModel):
    has_more: bool
    next_cursor: str | None


class Envelope(BaseModel, Generic[T]):
    data: T
    meta: Meta


class ListEnvelope(BaseModel, Generic[T]):
    data: list[T]
    pagination: Pagination
    meta: Meta


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")
    field: str | None = None
    message: str
    code: str | None = None


class ErrorBody(BaseModel):
    code: str = Field(examples=["validation_error"])
    message: str
    details: list[ErrorDetail] = []


class ErrorResponse(BaseModel):
    error: ErrorBody
    meta: Meta


# Set by idempotent routes while their endpoint runs, so create responses echo the key in `meta`.
idempotency_key_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("idempotency_key", default=None)


def current_meta(**extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"request_id": request_id_var.get() or ""}
    key = idempotency_key_var.get()
    if key is not None:
        meta["idempotency_key"] = key
    meta.update({k: v for k, v in extra.items() if v is not None})
    return meta


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


def respond(data: Any, status_code: int = 200, **meta: Any) -> JSONResponse:
    return JSONResponse({"data": _dump(data), "meta": current_meta(**meta)}, status_code=status_code)


def respond_page(items: list[Any], next_cursor: str | None, **meta: Any) -> JSONResponse:
    return JSONResponse(
        {
            "data": _dump(items),
            "pagination": {"has_more": next_cursor is not None, "next_cursor": next_cursor},
            "meta": current_meta(**meta),
        }
    )


def error_payload(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}, "meta": current_meta()}
