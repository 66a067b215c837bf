"""API Lambda: API Gateway HTTP API (payload v2) -> FastAPI via Mangum. All logic lives in `kindling`."""

from __future__ import annotations

from typing import Any

from mangum import Mangum

from kindling.api.app import create_app
from kindling.platform.observability import traced

# Built at cold start: the app holds no clients or settings until the first request needs them.
_asgi = Mangum(create_app(), lifespan="off", api_gateway_base_path="/")


@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _asgi(event, context)  # type: ignore[no-any-return]
