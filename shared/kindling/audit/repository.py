"""Audit records of tool calls: pk `ws_x#MCPAUDIT`, sk `<iso at>#<id>`, expiring by TTL."""

from __future__ import annotations

import json
from typing import cast

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from kindling.audit.models import ToolCallRecord
from kindling.platform.dynamo import TableModel, bind_models, query_page
from kindling.platform.keys import assistant_audit_pk, time_ordered_sk


class ToolCallItem(TableModel):
    record_id = UnicodeAttribute()
    key_id = UnicodeAttribute()
    tool = UnicodeAttribute()
    outcome = UnicodeAttribute()
    error_code = UnicodeAttribute(null=True)
    duration_ms = NumberAttribute()
    arguments = UnicodeAttribute()  # JSON of the sanitised summary
    at = UTCDateTimeAttribute()


def _to_record(workspace_id: str, item: ToolCallItem) -> ToolCallRecord:
    return ToolCallRecord(
        id=item.record_id,
        workspace_id=workspace_id,
        key_id=item.key_id,
        tool=item.tool,
        outcome=item.outcome,  # type: ignore[arg-type]
        error_code=item.error_code,
        duration_ms=float(item.duration_ms),
        arguments=json.loads(item.arguments),
        at=item.at,
    )


class AuditRepository:
    def __init__(self) -> None:
        bind_models()

    def put(self, record: ToolCallRecord, expires_at: int) -> None:
        ToolCallItem(
            pk=assistant_audit_pk(record.workspace_id),
            sk=time_ordered_sk(record.at.isoformat(), record.id),
            record_id=record.id,
            key_id=record.key_id,
            tool=record.tool,
            outcome=record.outcome,
            error_code=record.error_code,
            duration_ms=record.duration_ms,
            arguments=json.dumps(record.arguments, separators=(",", ":"), sort_keys=True),
            at=record.at,
            expires_at=expires_at,
        ).save()

    def page(self, workspace_id: str, limit: int, cursor: str | None) -> tuple[list[ToolCallRecord], str | None]:
        """Newest first."""
        page = query_page(
            ToolCallItem, assistant_audit_pk(workspace_id), workspace_id=workspace_id, limit=limit, cursor=cursor
        )
        return [_to_record(workspace_id, cast(ToolCallItem, item)) for item in page.items], page.next_cursor
