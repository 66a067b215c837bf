"""`EventService.emit`: record a domain event once (its dedup key guarded by a conditional write) and hand it to
the webhook queue. Concepts and engines raise events through `kindling.events.catalog.emit_event`, which checks the
payload against the catalogue and applies the type's dedup rule before calling `emit`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from pynamodb.transactions import TransactWrite

from kindling.events.models import EVENT_TYPES, DomainEvent
from kindling.events.publisher import EventPublisher, WebhookQueuePublisher
from kindling.events.repository import EventRepository
from kindling.platform.clock import Clock, get_clock
from kindling.platform.ids import prefixed_id
from kindling.platform.observability import get_logger


@dataclass(frozen=True)
class PreparedEvent:
    """An event to be written inside another transaction (`EventService.record_in`), then published."""

    event: DomainEvent
    dedup_key: str | None
    dedup_window: timedelta | None


class EventService:
    def __init__(
        self,
        repository: EventRepository | None = None,
        publisher: EventPublisher | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._repo = repository or EventRepository()
        self._publisher = publisher or WebhookQueuePublisher()
        self._clock = clock

    def emit(
        self,
        workspace_id: str,
        event_type: str,
        data: dict[str, Any],
        *,
        dedup_key: str | None = None,
        dedup_window: timedelta | None = None,
        campaign_id: str | None = None,
    ) -> DomainEvent | None:
        """Record and publish an event; returns None when an event with the same dedup key is still live.

        Recording happens before publishing and is what dedup protects; an event whose publish failed stays
        listed by `EventRepository.unpublished()` for a sweep to re-publish, so it is delayed, never lost.
        """
        event = self.prepare(
            workspace_id,
            event_type,
            data,
            occurred_at=(self._clock or get_clock()).now(),
            campaign_id=campaign_id,
        ).event
        if not self._repo.record(event, dedup_key, dedup_window):
            return None
        self._publisher.publish(event)
        self._repo.mark_published(workspace_id, event.id)
        return event

    def prepare(
        self,
        workspace_id: str,
        event_type: str,
        data: dict[str, Any],
        *,
        occurred_at: datetime,
        dedup_key: str | None = None,
        dedup_window: timedelta | None = None,
        campaign_id: str | None = None,
    ) -> PreparedEvent:
        """The event (a new id) with its dedup key: what `emit` records, or what `record_in` writes in the same
        transaction as the success it tells of (the event cannot exist without the success, nor the success
        without its event)."""
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r}")
        event = DomainEvent(
            id=prefixed_id("evt", 16),
            workspace_id=workspace_id,
            type=event_type,
            data=data,
            occurred_at=occurred_at,
            campaign_id=campaign_id,
        )
        return PreparedEvent(event=event, dedup_key=dedup_key, dedup_window=dedup_window)

    @staticmethod
    def record_in(tx: TransactWrite, prepared: PreparedEvent) -> None:
        EventRepository.add_record(tx, prepared.event, prepared.dedup_key, prepared.dedup_window)

    def publish_recorded(self, event: DomainEvent, *, mark: bool = True) -> bool:
        """Hand an event written by `record_in` (its transaction committed) to the webhook queue, and take it out of
        the unpublished index (unless `mark` is False: the caller puts `published_mark` into a write of its own).
        True when it is on the queue. A failure is logged, not raised: the event stays in the unpublished index and
        `republish_stale` sends it later."""
        try:
            self._publisher.publish(event)
        except Exception:
            get_logger().exception("recorded event not published yet", extra={"event_id": event.id})
            return False
        if mark:
            self.mark_published(event)
        return True

    def mark_published(self, event: DomainEvent) -> None:
        try:
            self._repo.mark_published(event.workspace_id, event.id)
        except Exception:  # published; the sweep will publish it once more (deliveries are idempotent per event)
            get_logger().exception("published event not marked", extra={"event_id": event.id})

    @staticmethod
    def published_mark(event: DomainEvent) -> Callable[[TransactWrite], None]:
        """The unpublished-index removal of a published event, for a caller's transaction."""
        return partial(EventRepository.add_published_mark, workspace_id=event.workspace_id, event_id=event.id)

    def republish_stale(self, older_than: timedelta = timedelta(minutes=5), limit: int = 100) -> int:
        """Re-publish events stuck unpublished (their emitter crashed between record and publish)."""
        cutoff = (self._clock or get_clock()).now() - older_than
        events = self._repo.unpublished(cutoff, limit)
        for event in events:
            self._publisher.publish(event)
            self._repo.mark_published(event.workspace_id, event.id)
        return len(events)
