"""Pydantic shapes of the envelope and errors, for response models and the OpenAPI document.

Kept apart from `envelope` so the request path (middleware, error handlers) does not build them at cold start;
only route modules, which load on demand, import this.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from kindling.platform.clock import isoformat

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
