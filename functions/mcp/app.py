"""MCP Lambda: API Gateway HTTP API (payload v2) at /mcp -> the MCP server (stateless streamable HTTP) via Mangum.
All logic lives in `kindling.assistants`."""

from __future__ import annotations

from typing import Any

from mangum import Mangum

from kindling.assistants.server import create_app
from kindling.platform.observability import traced

# Built at cold start; each request gets its own stateless SDK transport (no session outlives an invocation).
_asgi = Mangum(create_app(), lifespan="off", api_gateway_base_path="/")


@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _asgi(event, context)  # type: ignore[no-any-return]
