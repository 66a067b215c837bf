"""Idempotency records: pk `ws_x#IDEM#<sha256(key)>`, expiring by TTL after 24 h."""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError

from kindling.platform.dynamo import TableModel, bind_models, condition_failed
from kindling.platform.keys import idempotency_pk


class IdempotencyItem(TableModel):
    request_hash = UnicodeAttribute()
    state = UnicodeAttribute()  # in_progress | complete
    status_code = NumberAttribute(null=True)
    response_body = UnicodeAttribute(null=True)
    locked_until = NumberAttribute(default=0)


@dataclass(frozen=True)
class IdempotencyRecord:
    request_hash: str
    state: str
    status_code: int | None
    response_body: str | None
    expires_at: int
    locked_until: int


class IdempotencyRepository:
    def __init__(self) -> None:
        bind_models()

    def try_lock(
        self,
        workspace_id: str,
        key_digest: str,
        request_hash: str,
        now: int,
        expires_at: int,
        lock_seconds: int,
    ) -> bool:
        """Claim the key for a new request. Fails when a live record (not expired, not abandoned) exists."""
        item = IdempotencyItem(
            pk=idempotency_pk(workspace_id, key_digest),
            sk="#",
            request_hash=request_hash,
            state="in_progress",
            expires_at=expires_at,
            locked_until=now + lock_seconds,
        )
        # TTL deletion is lazy, so an expired record still present counts as absent; an in-progress record
        # whose lock lapsed (its request crashed) may be taken over by a retry with the same body.
        condition = (
            IdempotencyItem.pk.does_not_exist()
            | (IdempotencyItem.expires_at < now)
            | (
                (IdempotencyItem.state == "in_progress")
                & (IdempotencyItem.locked_until < now)
                & (IdempotencyItem.request_hash == request_hash)
            )
        )
        try:
            item.save(condition=condition)
        except PutError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def get(self, workspace_id: str, key_digest: str) -> IdempotencyRecord | None:
        try:
            item = IdempotencyItem.get(idempotency_pk(workspace_id, key_digest), "#", consistent_read=True)
        except DoesNotExist:
            return None
        return IdempotencyRecord(
            request_hash=item.request_hash,
            state=item.state,
            status_code=int(item.status_code) if item.status_code is not None else None,
            response_body=item.response_body,
            expires_at=int(item.expires_at or 0),
            locked_until=int(item.locked_until or 0),
        )

    def complete(self, workspace_id: str, key_digest: str, status_code: int, body: str) -> None:
        item = IdempotencyItem(pk=idempotency_pk(workspace_id, key_digest), sk="#")
        item.update(
            actions=[
                IdempotencyItem.state.set("complete"),
                IdempotencyItem.status_code.set(status_code),
                IdempotencyItem.response_body.set(body),
            ]
        )

    def release(self, workspace_id: str, key_digest: str) -> None:
        """Forget a claim whose request failed with a server error, so the client can retry."""
        IdempotencyItem(pk=idempotency_pk(workspace_id, key_digest), sk="#").delete()
