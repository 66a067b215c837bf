"""MCP Lambda: API Gateway HTTP API (payload v2) at /mcp -> the MCP server (stateless streamable HTTP) via Mangum.
All logic lives in `kindling.assistants`."""

from __future__ import annotations

import asyncio
from typing import Any

from mangum import Mangum

from kindling.assistants.server import create_app
from kindling.platform.observability import traced

# Built at cold start; each request gets its own stateless SDK transport (no session outlives an invocation).
_asgi = Mangum(create_app(), lifespan="off", api_gateway_base_path="/")


def _ensure_event_loop() -> None:
    """Mangum runs the request on the current thread's event loop, made when it was built. Lambda invokes the
    handler on that thread; the local stack invokes it from worker threads, which need a loop of their own."""
    try:
        asyncio.get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _ensure_event_loop()
    return _asgi(event, context)  # type: ignore[no-any-return]
