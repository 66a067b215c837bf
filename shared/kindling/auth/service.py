"""Auth rules: create workspaces and keys, authenticate bearer tokens, check scopes."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kindling.auth.models import ApiKey, Principal, Workspace
from kindling.auth.repository import AuthRepository
from kindling.auth.scopes import UnknownScope, has_scope, validate_scopes
from kindling.platform.clock import Clock, get_clock
from kindling.platform.errors import InsufficientScope, Unauthorized, ValidationFailed, field_error
from kindling.platform.ids import api_key_token, prefixed_id

KEY_PREFIX_LENGTH = 10  # "ws_" + 7 characters: enough to recognise a key in a list, useless to an attacker


def hash_token(token: str) -> str:
    # The token carries ~238 random bits, so a plain SHA-256 is a safe one-way index (no salt/KDF needed).
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(token: str) -> bool:
    return token.startswith("ws_") and len(token) == 43 and token[3:].isalnum()


class AuthService:
    def __init__(self, repository: AuthRepository | None = None, clock: Clock | None = None) -> None:
        self._repo = repository or AuthRepository()
        self._clock = clock or get_clock()

    def create_workspace(self, name: str, timezone: str = "UTC") -> Workspace:
        name = name.strip()
        errors = []
        if not 1 <= len(name) <= 200:
            errors.append(field_error("name", "must be 1-200 characters"))
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            errors.append(field_error("timezone", f"unknown IANA time zone {timezone!r}"))
        if errors:
            raise ValidationFailed("Invalid workspace.", details=errors)
        workspace = Workspace(id=prefixed_id("ws"), name=name, timezone=timezone, created_at=self._clock.now())
        self._repo.put_workspace(workspace)
        return workspace

    def get_workspace(self, workspace_id: str) -> Workspace:
        return self._repo.get_workspace(workspace_id)

    def create_api_key(self, workspace_id: str, *, name: str, scopes: Sequence[str]) -> tuple[ApiKey, str]:
        """Create a key; the returned token is the only time the secret exists outside its hash."""
        try:
            ordered = validate_scopes(scopes)
        except UnknownScope as exc:
            raise ValidationFailed(
                "Unknown scopes.", details=[field_error("scopes", f"unknown scope(s): {exc}")]
            ) from exc
        if not ordered:
            raise ValidationFailed("A key needs at least one scope.", details=[field_error("scopes", "empty")])
        token = api_key_token()
        key = ApiKey(
            id=prefixed_id("key"),
            workspace_id=workspace_id,
            name=name.strip() or "API key",
            scopes=ordered,
            prefix=token[:KEY_PREFIX_LENGTH],
            created_at=self._clock.now(),
        )
        self._repo.put_key(key, hash_token(token))
        return key, token

    def list_api_keys(self, workspace_id: str) -> list[ApiKey]:
        return self._repo.list_keys(workspace_id)

    def revoke_api_key(self, workspace_id: str, key_id: str) -> ApiKey:
        return self._repo.revoke_key(workspace_id, key_id, self._clock.now())

    def authenticate(self, authorization: str | None) -> Principal:
        """Resolve an `Authorization: Bearer ws_...` header to a principal, or raise Unauthorized."""
        if not authorization:
            raise Unauthorized("Missing Authorization header. Use 'Authorization: Bearer <api key>'.")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Authorization header must be 'Bearer <api key>'.")
        if not looks_like_token(token):
            raise Unauthorized("Invalid API key.")
        key_hash = hash_token(token)
        pointer = self._repo.find_by_hash(key_hash)
        # compare_digest keeps the final comparison constant-time even though the lookup is by hash.
        if pointer is None or not hmac.compare_digest(pointer.pk.rsplit("#", 1)[-1], key_hash):
            raise Unauthorized("Invalid API key.")
        if pointer.revoked != "no":
            raise Unauthorized("This API key has been revoked.")
        return Principal(
            workspace_id=pointer.workspace_id,
            key_id=pointer.key_id,
            key_name=pointer.name,
            scopes=list(pointer.scopes or []),
        )


def require_scope(principal: Principal, scope: str) -> None:
    if not has_scope(principal.scopes, scope):
        raise InsufficientScope(
            f"This API key lacks the '{scope}' scope.",
            details=[{"field": "scope", "message": f"requires {scope}", "code": "missing_scope"}],
        )
