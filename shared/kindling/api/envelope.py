"""Response envelope `{"data", "pagination", "meta"}` and error bodies, built as plain JSON on the request path."""

from __future__ import annotations

import contextvars
import json
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from kindling.platform.jsonsafe import finite
from kindling.platform.observability import request_id_var

# Set by idempotent routes while their endpoint runs, so create responses echo the key in `meta`.
idempotency_key_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("idempotency_key", default=None)


# Set by idempotent routes while their endpoint runs: a holder the endpoint may fill (`keep_for_replay`) with the
# body to store for replays instead of the response it sends (a mutable holder, since sync endpoints run in a
# worker thread on a copy of the context).
replay_body_var: contextvars.ContextVar[dict[str, bytes] | None] = contextvars.ContextVar("replay_body", default=None)


def keep_for_replay(content: dict[str, Any]) -> None:
    """Store `content`, not the response sent, for replays of this idempotent request (e.g. without a secret)."""
    holder = replay_body_var.get()
    if holder is not None:
        holder["body"] = json.dumps(content, separators=(",", ":")).encode()


def current_meta(**extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"request_id": request_id_var.get() or ""}
    key = idempotency_key_var.get()
    if key is not None:
        meta["idempotency_key"] = key
    meta.update({k: v for k, v in extra.items() if v is not None})
    return meta


class FiniteJSONResponse(JSONResponse):
    """A JSON response that renders a non-finite float (NaN, an infinity) as null instead of failing.

    Requests carrying one are refused at the edge; this keeps a value stored before that (or written by
    anything but the API) from turning every response that carries it into a 500.
    """

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except ValueError:
            return super().render(finite(content))


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


def respond(data: Any, status_code: int = 200, **meta: Any) -> JSONResponse:
    return FiniteJSONResponse({"data": _dump(data), "meta": current_meta(**meta)}, status_code=status_code)


def respond_page(items: list[Any], next_cursor: str | None, **meta: Any) -> JSONResponse:
    return FiniteJSONResponse(
        {
            "data": _dump(items),
            "pagination": {"has_more": next_cursor is not None, "next_cursor": next_cursor},
            "meta": current_meta(**meta),
        }
    )


def error_payload(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}, "meta": current_meta()}
