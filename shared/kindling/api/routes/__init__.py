"""One router per concept, each loaded on the first request under one of its path segments.

`ROUTER_MODULES` maps a router module to the first path segments (after /api/v1/) its routes live under.
Building FastAPI routes is the bulk of a cold start, so a Lambda container only builds the concepts it is
asked for; /openapi.json and /docs load them all. A unit test checks every route against this table.
"""

ROUTER_MODULES: dict[str, tuple[str, ...]] = {
    "kindling.api.routes.me": ("me",),
    "kindling.api.routes.jobs": ("jobs",),
    "kindling.api.routes.mailboxes": ("mailboxes",),
    "kindling.api.routes.prospects": ("prospects", "lists"),
    "kindling.api.routes.suppressions": ("suppressions", "prospects"),
    "kindling.api.routes.imports": ("imports",),
    "kindling.api.routes.webhooks": ("webhooks",),
    "kindling.api.routes.inbox": ("inbox",),
    "kindling.api.routes.campaigns": ("campaigns",),
    "kindling.api.routes.enrollments": ("campaigns",),
    "kindling.api.routes.warmup": ("warmup",),
    "kindling.api.routes.bounce_shield": ("bounce-shield",),
    "kindling.api.routes.assistant_audit": ("mcp",),
    "kindling.api.routes.linkedin": ("linkedin",),
    "kindling.api.routes.notifications": ("notification-settings",),
}


def modules_for_segment(segment: str) -> list[str]:
    return [module for module, segments in ROUTER_MODULES.items() if segment in segments]
