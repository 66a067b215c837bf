"""GET /api/v1/mcp/audit: the workspace's audit log of MCP tool calls (newest first, kept 30 days)."""

from __future__ import annotations

from typing import Any

from fastapi import Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from kindling.api.envelope import respond_page
from kindling.api.routing import WorkspaceId, api_router
from kindling.api.schemas import ListEnvelope, Timestamp
from kindling.audit.models import Outcome, ToolCallRecord
from kindling.audit.service import AuditService

router = api_router("MCP")


class ToolCallView(BaseModel):
    id: str
    tool: str
    key_id: str
    outcome: Outcome
    error_code: str | None
    duration_ms: float
    arguments: dict[str, Any]
    at: Timestamp


def tool_call_view(record: ToolCallRecord) -> ToolCallView:
    return ToolCallView(
        id=record.id,
        tool=record.tool,
        key_id=record.key_id,
        outcome=record.outcome,
        error_code=record.error_code,
        duration_ms=record.duration_ms,
        arguments=record.arguments,
        at=record.at,
    )


@router.get(
    "/mcp/audit",
    response_model=ListEnvelope[ToolCallView],
    summary="The audit log of MCP tool calls",
    description="Every tool call made through the MCP server at `/mcp`, newest first, kept 30 days: the tool, the "
    "API key id, the outcome (`ok`, `error`, `rate_limited`, `insufficient_scope`), the error code, the duration "
    "and a sanitised summary of the arguments (email domains and short hashes, counts, ids; never whole "
    "addresses, names, phone numbers or URLs). Any active key of the workspace may read it.",
)
def list_tool_calls(
    workspace_id: WorkspaceId,
    limit: int = Query(50, ge=1, le=100),
    cursor: str | None = Query(None, max_length=2048),
) -> JSONResponse:
    records, next_cursor = AuditService().page(workspace_id, limit, cursor)
    return respond_page([tool_call_view(r) for r in records], next_cursor)


__all__ = ["router"]
