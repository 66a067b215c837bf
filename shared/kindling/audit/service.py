"""Write and read the audit log of tool calls (kept AUDIT_TTL_DAYS days, then removed by the table's TTL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kindling.audit.models import Outcome, ToolCallRecord
from kindling.audit.repository import AuditRepository
from kindling.audit.summary import summarise_arguments
from kindling.platform.clock import Clock, get_clock
from kindling.platform.ids import prefixed_id

AUDIT_TTL_DAYS = 30


class AuditService:
    def __init__(self, repository: AuditRepository | None = None, clock: Clock | None = None) -> None:
        self._repo = repository or AuditRepository()
        self._clock = clock

    def record(
        self,
        *,
        workspace_id: str,
        key_id: str,
        tool: str,
        outcome: Outcome,
        duration_ms: float,
        arguments: dict[str, Any],
        error_code: str | None = None,
    ) -> ToolCallRecord:
        """Store one call; `arguments` are the raw arguments, summarised here so nothing personal is stored."""
        now = (self._clock or get_clock()).now()
        record = ToolCallRecord(
            id=prefixed_id("aud"),
            workspace_id=workspace_id,
            key_id=key_id,
            tool=tool,
            outcome=outcome,
            error_code=error_code,
            duration_ms=round(duration_ms, 2),
            arguments=summarise_arguments(arguments),
            at=now,
        )
        self._repo.put(record, int((now + timedelta(days=AUDIT_TTL_DAYS)).timestamp()))
        return record

    def page(self, workspace_id: str, limit: int, cursor: str | None) -> tuple[list[ToolCallRecord], str | None]:
        return self._repo.page(workspace_id, limit, cursor)
