"""Who is calling: the principal the server authenticated for this HTTP request, read by the tool functions."""

from __future__ import annotations

import contextvars

from kindling.auth.models import Principal
from kindling.platform.errors import Unauthorized

_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("assistant_principal", default=None)


def set_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    return _principal.set(principal)


def reset_principal(token: contextvars.Token[Principal | None]) -> None:
    _principal.reset(token)


def current_principal() -> Principal:
    principal = _principal.get()
    if principal is None:
        raise Unauthorized("Authentication required.")
    return principal
