"""Warmup domain check Lambda (EventBridge schedule, every 2 hours): MX + SMTP reachability of every pool domain.

Thin: kindling.warmup.engine.WarmupEngine.check_pool_domains (kindling.warmup.protection's rules). A failing domain
is excluded from peer selection at once and restored at its first passing check. Reserved names (.test, ...) are
skipped.
"""

from __future__ import annotations

from typing import Any

from kindling.platform.observability import get_logger, traced
from kindling.warmup.engine import WarmupEngine
from kindling.warmup.protection import DnspythonLookup


@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = WarmupEngine().check_pool_domains(DnspythonLookup())
    get_logger().info("warmup domain check", extra={"check": report, "scheduled_time": event.get("time")})
    return report
