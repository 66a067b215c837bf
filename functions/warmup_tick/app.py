"""Warmup tick Lambda (EventBridge schedule, every 15 minutes): plan and queue every pool mailbox's due warmup sends.

Thin: the tick is kindling.warmup.engine.WarmupEngine.tick (pool upkeep, day rollover, health recomputation with
strategy transitions, peer selection, pacer + hard cap reservation, send queue). Its report is logged and returned.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from kindling.platform.observability import get_logger, traced
from kindling.warmup.engine import WarmupEngine

_engine: WarmupEngine | None = None


def _get_engine() -> WarmupEngine:
    # Built on first use, not at import: nothing reads the environment or builds a client at import time.
    global _engine
    if _engine is None:
        _engine = WarmupEngine()
    return _engine


@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = asdict(_get_engine().tick())
    get_logger().info("warmup tick", extra={"tick": report, "scheduled_time": event.get("time")})
    return report
