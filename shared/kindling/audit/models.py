"""One audited tool call."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Outcome = Literal["ok", "error", "rate_limited", "insufficient_scope"]
OUTCOMES: tuple[str, ...] = ("ok", "error", "rate_limited", "insufficient_scope")


class ToolCallRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    workspace_id: str
    key_id: str
    tool: str
    outcome: Outcome
    error_code: str | None = None
    duration_ms: float
    arguments: dict[str, Any]  # the sanitised summary (kindling.audit.summary), never the arguments themselves
    at: datetime
