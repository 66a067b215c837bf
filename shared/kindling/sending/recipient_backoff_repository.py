"""Recipient-domain backoff state in DynamoDB: pk `ws#RDOMAIN#<domain>` sk `#` (level, until, version).

The sender reads it in its one BatchGetItem per batch (`key`), and moves it once per domain per batch with a write
conditioned on the version it read, re-reading on a conflict, so two senders deferred by the same domain at once
both count (level 2, not level 1 twice). Items expire a day after their `until`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import NumberAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, PutError
from pynamodb.expressions.condition import Condition

from kindling.platform.dynamo import TableModel, bind_models, condition_failed
from kindling.platform.keys import recipient_domain_key
from kindling.sending.recipient_backoff import DomainBackoff

_ATTEMPTS = 5
_LIFETIME = timedelta(days=1)


class RecipientDomainItem(TableModel):
    level = NumberAttribute(default=0)
    until = UTCDateTimeAttribute(null=True)
    version = NumberAttribute(default=0)


def state_of(raw: dict[str, Any] | None) -> DomainBackoff:
    if raw is None:
        return DomainBackoff()
    item = RecipientDomainItem.from_raw_data(raw)
    return DomainBackoff(int(item.level or 0), item.until)


class RecipientBackoffRepository:
    def __init__(self) -> None:
        bind_models()

    def get(self, workspace_id: str, domain: str) -> DomainBackoff:
        try:
            item = RecipientDomainItem.get(*recipient_domain_key(workspace_id, domain), consistent_read=True)
        except DoesNotExist:
            return DomainBackoff()
        return DomainBackoff(int(item.level or 0), item.until)

    def apply(
        self, workspace_id: str, domain: str, change: Callable[[DomainBackoff], DomainBackoff], now: datetime
    ) -> DomainBackoff:
        """Read, change, write back if nobody wrote in between (else again with a fresh read)."""
        pk, sk = recipient_domain_key(workspace_id, domain)
        for _ in range(_ATTEMPTS):
            condition: Condition
            try:
                item = RecipientDomainItem.get(pk, sk, consistent_read=True)
                version = int(item.version or 0)
                current = DomainBackoff(int(item.level or 0), item.until)
                condition = RecipientDomainItem.version == version
            except DoesNotExist:
                version, current = 0, DomainBackoff()
                condition = RecipientDomainItem.pk.does_not_exist()
            updated = change(current)
            if updated == current:
                return current
            expires = (updated.until or now) + _LIFETIME
            replacement = RecipientDomainItem(
                pk=pk,
                sk=sk,
                level=updated.level,
                until=updated.until,
                version=version + 1,
                expires_at=int(expires.timestamp()),
            )
            try:
                replacement.save(condition=condition)
            except PutError as exc:
                if condition_failed(exc):
                    continue
                raise
            return updated
        raise RuntimeError(f"recipient domain {domain} backoff kept changing")
