"""API key scopes (as the WarmySender API reference names them) and the rule for what a granted scope covers."""

from __future__ import annotations

from collections.abc import Iterable

RESOURCE_SCOPES = ("prospects", "mailboxes", "warmup", "campaigns", "suppressions", "webhooks", "inbox")

ALL_SCOPES: tuple[str, ...] = (
    *(f"{resource}:{access}" for resource in RESOURCE_SCOPES for access in ("read", "write")),
    "enrollments:write",
    "jobs:read",
    "linkedin:read",
    "linkedin:write",
)

# A granted scope also covers these (write implies read of the same resource; the unified inbox is
# part of campaign work, so campaign scopes reach it too).
_IMPLIED: dict[str, tuple[str, ...]] = {
    **{f"{resource}:write": (f"{resource}:read",) for resource in RESOURCE_SCOPES},
    "linkedin:write": ("linkedin:read",),
    "campaigns:read": ("inbox:read",),
    "campaigns:write": ("inbox:read", "inbox:write"),
}


class UnknownScope(ValueError):
    pass


def validate_scopes(scopes: Iterable[str]) -> list[str]:
    """Deduplicated, ordered as ALL_SCOPES; unknown names raise UnknownScope listing them."""
    requested = set(scopes)
    unknown = sorted(requested.difference(ALL_SCOPES))
    if unknown:
        raise UnknownScope(", ".join(unknown))
    return [scope for scope in ALL_SCOPES if scope in requested]


def effective_scopes(granted: Iterable[str]) -> frozenset[str]:
    covered: set[str] = set()
    for scope in granted:
        covered.add(scope)
        covered.update(_IMPLIED.get(scope, ()))
    return frozenset(covered)


def has_scope(granted: Iterable[str], required: str) -> bool:
    return required in effective_scopes(granted)
