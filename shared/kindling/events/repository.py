"""Events in DynamoDB.

- event:        pk `ws_x#EVENT#<evt id>`  sk `#`  gsi1 `ws_x#EVENT` / `<iso time>#<id>`, TTL 30 days
- dedup marker: pk `ws_x#EVTDEDUP#<type>#<dedup key>`  sk `#`, TTL = the dedup window; written in the same
  transaction as the event, conditional on absence, so one event per window survives any race.
- until published, the event is in the `due` index under `DUE#EVENTPUB` (cleared once on the queue).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import cast

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from kindling.events.models import DomainEvent
from kindling.platform.clock import epoch_seconds
from kindling.platform.dynamo import TableModel, bind_models, cancelled_by_condition, transaction
from kindling.platform.errors import NotFound
from kindling.platform.keys import (
    UNPUBLISHED_DUE_PK,
    event_dedup_pk,
    event_pk,
    events_gsi_pk,
    time_ordered_sk,
    unpublished_due_sk,
)

EVENT_RETENTION = timedelta(days=30)


class EventItem(TableModel):
    event_id = UnicodeAttribute()
    event_type = UnicodeAttribute()
    data = UnicodeAttribute()
    occurred_at = UTCDateTimeAttribute()
    campaign_id = UnicodeAttribute(null=True)


class EventDedupItem(TableModel):
    event_id = UnicodeAttribute()


def _event_item(event: DomainEvent) -> EventItem:
    return EventItem(
        pk=event_pk(event.workspace_id, event.id),
        sk="#",
        gsi1pk=events_gsi_pk(event.workspace_id),
        gsi1sk=time_ordered_sk(event.occurred_at.isoformat(), event.id),
        event_id=event.id,
        event_type=event.type,
        data=json.dumps(event.data, separators=(",", ":"), default=str),
        occurred_at=event.occurred_at,
        campaign_id=event.campaign_id,
        expires_at=epoch_seconds(event.occurred_at + EVENT_RETENTION),
        # Until published, the event sits in the due index so a sweep can re-publish it after a crash.
        due_pk=UNPUBLISHED_DUE_PK,
        due_sk=unpublished_due_sk(event.occurred_at.isoformat(), event.workspace_id, event.id),
    )


def _dedup_item(event: DomainEvent, dedup_key: str, dedup_window: timedelta) -> EventDedupItem:
    return EventDedupItem(
        pk=event_dedup_pk(event.workspace_id, event.type, dedup_key),
        sk="#",
        event_id=event.id,
        expires_at=epoch_seconds(event.occurred_at + dedup_window),
    )


def _to_event(item: EventItem) -> DomainEvent:
    return DomainEvent(
        id=item.event_id,
        workspace_id=item.pk.split("#", 1)[0],
        type=item.event_type,
        data=json.loads(item.data),
        occurred_at=item.occurred_at,
        campaign_id=item.campaign_id,
    )


class EventRepository:
    def __init__(self) -> None:
        bind_models()

    def record(self, event: DomainEvent, dedup_key: str | None, dedup_window: timedelta | None) -> bool:
        """Store the event; with a dedup key, only if no event with that key is live. False if deduplicated."""
        item = _event_item(event)
        if dedup_key is None or dedup_window is None:
            item.save(condition=EventItem.pk.does_not_exist())
            return True
        marker = _dedup_item(event, dedup_key, dedup_window)
        now = epoch_seconds(event.occurred_at)
        try:
            with transaction() as tx:
                # TTL deletes lazily: a marker past its window counts as gone.
                tx.save(marker, condition=EventDedupItem.pk.does_not_exist() | (EventDedupItem.expires_at < now))
                tx.save(item, condition=EventItem.pk.does_not_exist())
        except TransactWriteError as exc:
            if cancelled_by_condition(exc, position=0):
                return False
            raise
        return True

    @staticmethod
    def add_record(
        tx: TransactWrite, event: DomainEvent, dedup_key: str | None, dedup_window: timedelta | None
    ) -> None:
        """Put the event (and its dedup marker, so `record` elsewhere dedups against it) into a caller's
        transaction: the one that records what the event tells, whose own condition makes that happen once. No
        conditions here (the event id is new), so they never make the caller's transaction fail. Until
        `mark_published`, the event waits in the unpublished index like any other."""
        if dedup_key is not None and dedup_window is not None:
            tx.save(_dedup_item(event, dedup_key, dedup_window))
        tx.save(_event_item(event))

    @staticmethod
    def add_published_mark(tx: TransactWrite, workspace_id: str, event_id: str) -> None:
        """`mark_published` as an item of a caller's transaction (the event row is committed already). No condition,
        so it never makes that transaction fail."""
        tx.update(
            EventItem(pk=event_pk(workspace_id, event_id), sk="#"),
            actions=[EventItem.due_pk.remove(), EventItem.due_sk.remove()],
        )

    def mark_published(self, workspace_id: str, event_id: str) -> None:
        EventItem(pk=event_pk(workspace_id, event_id), sk="#").update(
            actions=[EventItem.due_pk.remove(), EventItem.due_sk.remove()], condition=EventItem.pk.exists()
        )

    def unpublished(self, before: datetime, limit: int = 100) -> list[DomainEvent]:
        """Events recorded before `before` that were never handed to the webhook queue (oldest first)."""
        return [
            _to_event(cast(EventItem, item))
            for item in EventItem.due.query(  # type: ignore[misc]
                UNPUBLISHED_DUE_PK, EventItem.due_sk < before.isoformat(), limit=limit
            )
        ]

    def get(self, workspace_id: str, event_id: str) -> DomainEvent:
        try:
            return _to_event(EventItem.get(event_pk(workspace_id, event_id), "#"))
        except DoesNotExist as exc:
            raise NotFound(f"Event {event_id} not found.") from exc
