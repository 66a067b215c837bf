"""Webhook rules: subscriptions (create/update/delete/pause/rotate/test), the fan-out of a domain event to every
matching subscription, one delivery attempt, the retry sweep and replays of dead-lettered deliveries.

Lifecycle of a delivery: created `pending` by the fan-out (and queued for attempt 1, with a 5-minute lease in
the `due` index in case the message is lost) -> each attempt POSTs the signed body -> 2xx: `delivered`,
the webhook's `lastTriggeredAt` is set -> otherwise the next attempt is due after the retry schedule (or the
429's Retry-After) -> the sweep (every minute) queues what is due -> after attempt 11: `failed` (dead-lettered:
kept 30 days, replayable through the API, never replayed automatically) and the webhook's `failureCount` + 1.

What an attempt costs in DynamoDB: the claim (one conditional update, which also returns the delivery) and the
outcome (one conditional update appending the attempt). Every message the fan-out, the sweep and a replay queue
carries the subscription it was addressed with (`WebhookSnapshot`), so a fresh message needs no read, and
lastTriggeredAt is rewritten at most about once a minute per webhook and process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kindling.events.repository import EventRepository
from kindling.events.service import EventService
from kindling.platform.clock import Clock, get_clock, isoformat
from kindling.platform.errors import InvalidStatus, NotFound, ValidationFailed, field_error
from kindling.platform.ids import prefixed_id
from kindling.platform.observability import get_logger
from kindling.webhooks import signing, transport
from kindling.webhooks.formatting import render_body
from kindling.webhooks.models import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Webhook,
    WebhookCreate,
    WebhookSnapshot,
    WebhookUpdate,
)
from kindling.webhooks.queue import DeliveryMessage, DeliveryQueue, SqsDeliveryQueue
from kindling.webhooks.repository import DueDelivery, WebhookRepository, delivery_id_for
from kindling.webhooks.retry import MAX_ATTEMPTS, next_retry_delay
from kindling.webhooks.secrets import KmsWebhookSecretBox, WebhookSecretBox
from kindling.webhooks.targets import Resolver, TargetRefused, resolve_target

ROTATION_OVERLAP = timedelta(hours=24)
LEASE = timedelta(minutes=5)
CLAIM_HOLD = timedelta(seconds=60)  # longer than one attempt (5 s POST + bookkeeping), shorter than the lease
# A delivery message carries its subscription as the sender read it; an attempt made later than this after that
# reads the subscription again, so a pause, delete, URL change or rotation reaches every attempt within a minute.
SNAPSHOT_MAX_AGE = timedelta(minutes=1)
# lastTriggeredAt is kept to the minute: a success within a minute of the known value does not rewrite it.
LAST_TRIGGERED_PRECISION = timedelta(minutes=1)
RESPONSE_BODY_LIMIT = 1024
USER_AGENT = "Kindling-Webhooks/1.0 (+WarmySender-compatible)"
TEST_MESSAGE = "This is a test event from WarmySender"
MAX_WEBHOOKS_PER_WORKSPACE = 100

Transport = Any  # callable like transport.post


def _url_error(exc: TargetRefused) -> ValidationFailed:
    return ValidationFailed("The request is invalid.", details=[field_error("url", exc.message, exc.code)])


class WebhookService:
    def __init__(
        self,
        repository: WebhookRepository | None = None,
        secrets: WebhookSecretBox | None = None,
        events: EventService | None = None,
        resolver: Resolver | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._repo = repository or WebhookRepository()
        self._secrets = secrets or KmsWebhookSecretBox()
        self._events = events
        self._resolver = resolver
        self._clock = clock

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    def _check_url(self, url: str) -> str:
        try:
            resolve_target(url, self._resolver)
        except TargetRefused as exc:
            raise _url_error(exc) from exc
        return url.strip()

    def list_page(self, workspace_id: str, limit: int, cursor: str | None) -> tuple[list[Webhook], str | None]:
        page = self._repo.list_page(workspace_id, limit, cursor)
        return page.items, page.next_cursor

    def get(self, workspace_id: str, webhook_id: str) -> Webhook:
        return self._repo.get(workspace_id, webhook_id)

    def create(self, workspace_id: str, body: WebhookCreate) -> tuple[Webhook, str]:
        """(webhook, plaintext secret): the secret is returned here once and stored only encrypted."""
        url = self._check_url(body.url)
        if len(self._repo.list_all(workspace_id)) >= MAX_WEBHOOKS_PER_WORKSPACE:
            raise InvalidStatus(f"A workspace can have at most {MAX_WEBHOOKS_PER_WORKSPACE} webhooks.")
        webhook_id = prefixed_id("wh", 12)
        secret = signing.new_secret()
        now = self._now()
        webhook = Webhook(
            id=webhook_id,
            workspace_id=workspace_id,
            url=url,
            events=body.events,
            campaign_ids=body.campaign_ids,
            is_active=body.is_active,
            secret_enc=self._secrets.encrypt(workspace_id, webhook_id, secret),
            created_at=now,
            updated_at=now,
        )
        self._repo.insert(webhook)
        return webhook, secret

    def update(self, workspace_id: str, webhook_id: str, body: WebhookUpdate) -> Webhook:
        webhook = self._repo.get(workspace_id, webhook_id)
        changes: dict[str, Any] = {}
        fields = body.model_fields_set
        if body.url is not None:
            changes["url"] = self._check_url(body.url)
        if body.events is not None:
            changes["events"] = body.events
        if "campaign_ids" in fields:
            changes["campaign_ids"] = body.campaign_ids
        if body.is_active is not None:
            changes["is_active"] = body.is_active
        if not changes:
            return webhook
        updated = webhook.model_copy(update={**changes, "updated_at": self._now()})
        self._repo.replace(updated)
        return updated

    def set_active(self, workspace_id: str, webhook_id: str, active: bool) -> Webhook:
        return self.update(workspace_id, webhook_id, WebhookUpdate(is_active=active))

    def delete(self, workspace_id: str, webhook_id: str) -> None:
        self._repo.delete(workspace_id, webhook_id)

    def rotate_secret(self, workspace_id: str, webhook_id: str) -> tuple[Webhook, str, datetime]:
        """A new secret (returned once); the current one keeps signing alongside it for 24 hours."""
        webhook = self._repo.get(workspace_id, webhook_id)
        now = self._now()
        secret = signing.new_secret()
        expires = now + ROTATION_OVERLAP
        updated = webhook.model_copy(
            update={
                "secret_enc": self._secrets.encrypt(workspace_id, webhook_id, secret),
                "previous_secret_enc": webhook.secret_enc,
                "previous_secret_expires_at": expires,
                "updated_at": now,
            }
        )
        self._repo.replace(updated)
        return updated, secret, expires

    def send_test(self, workspace_id: str, webhook_id: str) -> str:
        """Queue a `webhook.test` event through the real pipeline (fan-out to this webhook only)."""
        self._repo.get(workspace_id, webhook_id)
        events = self._events or EventService()
        data = {"webhookId": webhook_id, "timestamp": isoformat(self._now()), "message": TEST_MESSAGE}
        event = events.emit(workspace_id, "webhook.test", data)
        if event is None:  # webhook.test has no dedup rule
            raise RuntimeError("webhook.test was unexpectedly deduplicated")
        return event.id

    def deliveries(
        self, workspace_id: str, webhook_id: str, status: str | None, limit: int, cursor: str | None
    ) -> tuple[list[Delivery], str | None]:
        self._repo.get(workspace_id, webhook_id)
        page = self._repo.list_deliveries(workspace_id, webhook_id, status, limit, cursor)
        return page.items, page.next_cursor

    def replay(
        self, workspace_id: str, webhook_id: str, delivery_id: str, queue: DeliveryQueue | None = None
    ) -> Delivery:
        """Re-send a dead-lettered delivery as a new delivery of the same event (same event id)."""
        webhook = self._repo.get(workspace_id, webhook_id)
        original = self._repo.get_delivery(workspace_id, delivery_id)
        if original.webhook_id != webhook_id:
            raise NotFound(f"Delivery {delivery_id} not found.")
        if original.status != "failed":
            raise InvalidStatus(
                f"Only failed (dead-lettered) deliveries can be replayed; this one is {original.status}."
            )
        now = self._now()
        replay = Delivery(
            id=prefixed_id("whd", 24),
            workspace_id=workspace_id,
            webhook_id=webhook_id,
            event_id=original.event_id,
            event_type=original.event_type,
            data=original.data,
            timestamp=original.timestamp,
            next_attempt_at=now + LEASE,
            created_at=now,
            updated_at=now,
            replay_of=original.id,
        )
        self._repo.insert_delivery(replay)
        (queue or SqsDeliveryQueue()).send(
            [DeliveryMessage(workspace_id, replay.id, 1, WebhookSnapshot.of(webhook), now)]
        )
        return replay


@dataclass(frozen=True)
class AttemptOutcome:
    delivery_id: str
    outcome: str  # delivered | retry | failed | cancelled | stale
    status_code: int | None = None


class _RecentSuccesses:
    """lastTriggeredAt this process wrote lately, per webhook: within LAST_TRIGGERED_PRECISION of it, a success
    needs no write (a burst to one endpoint writes its webhook about once a minute, not once per delivery)."""

    def __init__(self, size: int = 4096) -> None:
        self._seen: OrderedDict[tuple[str, str], datetime] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> datetime | None:
        with self._lock:
            return self._seen.get(key)

    def note(self, key: tuple[str, str], when: datetime) -> None:
        with self._lock:
            previous = self._seen.get(key)
            if previous is None or when > previous:
                self._seen[key] = when
            self._seen.move_to_end(key)
            while len(self._seen) > self._size:
                self._seen.popitem(last=False)


_recent_successes = _RecentSuccesses()


class DeliveryService:
    def __init__(
        self,
        repository: WebhookRepository | None = None,
        secrets: WebhookSecretBox | None = None,
        queue: DeliveryQueue | None = None,
        events: EventRepository | None = None,
        resolver: Resolver | None = None,
        post: Transport = None,
        clock: Clock | None = None,
    ) -> None:
        self._repo = repository or WebhookRepository()
        self._secrets = secrets or KmsWebhookSecretBox()
        self._queue = queue or SqsDeliveryQueue()
        self._events = events
        self._resolver = resolver
        self._post = post or transport.post
        self._clock = clock

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    # --- fan-out -------------------------------------------------------------------------------------------
    def fan_out(self, workspace_id: str, event_id: str) -> int:
        """One delivery per matching subscription, each queued on its own. Returns how many were queued."""
        events = self._events or EventRepository()
        try:
            event = events.get(workspace_id, event_id)
        except NotFound:
            get_logger().warning("webhook event not found (expired?)", extra={"event_id": event_id})
            return 0
        now = self._now()
        matching = {
            webhook.id: WebhookSnapshot.of(webhook)
            for webhook in self._repo.list_all(workspace_id)
            if webhook.matches(event.type, event.campaign_id, event.data)
        }
        deliveries = [
            Delivery(
                id=delivery_id_for(event.id, webhook_id),
                workspace_id=workspace_id,
                webhook_id=webhook_id,
                event_id=event.id,
                event_type=event.type,
                data=event.data,
                timestamp=isoformat(event.occurred_at) or "",
                next_attempt_at=now + LEASE,
                created_at=now,
                updated_at=now,
            )
            for webhook_id in matching
        ]
        waiting = self._repo.create_deliveries(deliveries)
        self._queue.send([DeliveryMessage(workspace_id, d.id, 1, matching[d.webhook_id], now) for d in waiting])
        return len(waiting)

    # --- one attempt ---------------------------------------------------------------------------------------
    def _signing_secrets(self, workspace_id: str, webhook: WebhookSnapshot, now: datetime) -> list[str]:
        secrets = [self._secrets.decrypt(workspace_id, webhook.id, webhook.secret_enc)]
        expires = webhook.previous_secret_expires_at
        if webhook.previous_secret_enc and expires is not None and now < expires:
            secrets.append(self._secrets.decrypt(workspace_id, webhook.id, webhook.previous_secret_enc))
        return secrets

    def _finish(
        self, delivery: Delivery, expected: int, now: datetime, outcome: str, status: DeliveryStatus, **fields: Any
    ) -> AttemptOutcome:
        if not self._repo.finish(delivery.workspace_id, delivery.id, expected, now, status, **fields):
            return AttemptOutcome(delivery.id, "stale")
        attempt: Attempt | None = fields.get("attempt")
        return AttemptOutcome(delivery.id, outcome, attempt.status_code if attempt else None)

    def _subscription(
        self, delivery: Delivery, snapshot: WebhookSnapshot | None, queued_at: datetime | None, now: datetime
    ) -> WebhookSnapshot | None:
        """The subscription as the message carried it when that is recent enough, else as stored now (None: gone)."""
        if (
            snapshot is not None
            and queued_at is not None
            and snapshot.id == delivery.webhook_id
            and abs(now - queued_at) <= SNAPSHOT_MAX_AGE
        ):
            return snapshot
        try:
            return WebhookSnapshot.of(self._repo.get(delivery.workspace_id, delivery.webhook_id))
        except NotFound:
            return None

    def deliver(
        self,
        workspace_id: str,
        delivery_id: str,
        attempt: int,
        snapshot: WebhookSnapshot | None = None,
        queued_at: datetime | None = None,
    ) -> AttemptOutcome:
        """One attempt: claim it, POST, record the outcome. With a recent snapshot of the subscription that is two
        DynamoDB writes and no read (plus, about once a minute per webhook, its lastTriggeredAt)."""
        now = self._now()
        delivery = self._repo.claim(workspace_id, delivery_id, attempt, now, CLAIM_HOLD)
        if delivery is None:
            return AttemptOutcome(delivery_id, "stale")  # a duplicate, superseded or in-flight attempt
        expected = attempt - 1
        webhook = self._subscription(delivery, snapshot, queued_at, now)
        if webhook is None:
            return self._finish(delivery, expected, now, "cancelled", "cancelled", reason="webhook_deleted")
        if not webhook.is_active and delivery.event_type != "webhook.test":
            return self._finish(delivery, expected, now, "cancelled", "cancelled", reason="webhook_paused")
        result = self._attempt(webhook, delivery, attempt, now)
        record = Attempt(
            attempt=attempt,
            attempted_at=now,
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            response_body=result.body[:RESPONSE_BODY_LIMIT].decode("utf-8", "replace") if result.body else None,
            error=result.error,
        )
        if result.ok:
            outcome = self._finish(delivery, expected, now, "delivered", "delivered", attempt=record)
            if outcome.outcome == "delivered":
                self._note_success(workspace_id, webhook, now)
            return outcome
        delay = next_retry_delay(attempt, result.status_code, result.headers.get("retry-after"), now)
        if delay is not None:
            return self._finish(
                delivery, expected, now, "retry", "pending", attempt=record, next_attempt_at=now + delay
            )
        outcome = self._finish(delivery, expected, now, "failed", "failed", attempt=record)
        if outcome.outcome == "failed":
            self._repo.record_failure(workspace_id, webhook.id)
            get_logger().warning(
                "webhook delivery dead-lettered",
                extra={"workspace_id": workspace_id, "webhook_id": webhook.id, "delivery_id": delivery.id},
            )
        return outcome

    def _note_success(self, workspace_id: str, webhook: WebhookSnapshot, now: datetime) -> None:
        key = (workspace_id, webhook.id)
        known = [t for t in (webhook.last_triggered_at, _recent_successes.get(key)) if t is not None]
        if known and now - max(known) < LAST_TRIGGERED_PRECISION:
            return
        self._repo.record_success(workspace_id, webhook.id, now)
        _recent_successes.note(key, now)

    def _attempt(
        self, webhook: WebhookSnapshot, delivery: Delivery, attempt: int, now: datetime
    ) -> transport.HttpResult:
        try:
            # Checked again here, on the address actually dialled: DNS may have changed since the URL was saved.
            target = resolve_target(webhook.url, self._resolver)
        except TargetRefused as exc:
            return transport.HttpResult(status_code=None, duration_ms=0, error=f"{exc.code}: {exc.message}")
        body = render_body(webhook.url, delivery.event_type, delivery.data, delivery.timestamp)
        timestamp_ms = int(now.timestamp() * 1000)
        secrets = self._signing_secrets(delivery.workspace_id, webhook, now)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Warmy-Event-Id": delivery.event_id,
            "X-Warmy-Event-Type": delivery.event_type,
            "X-Warmy-Timestamp": str(timestamp_ms),
            "X-Warmy-Signature": signing.signature_header(secrets, timestamp_ms, body),
            "X-Warmy-Delivery-Id": delivery.id,
            "X-Warmy-Attempt": str(attempt),
        }
        result: transport.HttpResult = self._post(target, body, headers)
        return result

    # --- the retry sweep -----------------------------------------------------------------------------------
    def sweep(self, limit: int = 500) -> int:
        """Queue every pending delivery whose next attempt is due, leasing each so it is queued once. Each message
        carries its subscription (one BatchGetItem for all of them), so the attempts read nothing."""
        now = self._now()
        leased: list[tuple[DueDelivery, int]] = []
        for due in self._repo.due(now, limit):
            attempts_made = self._repo.lease(due, now + LEASE)
            if attempts_made is None or attempts_made >= MAX_ATTEMPTS:
                continue
            leased.append((due, attempts_made + 1))
        if not leased:
            return 0
        webhooks = self._repo.get_many({(due.workspace_id, due.webhook_id) for due, _ in leased})
        messages = []
        for due, attempt in leased:
            webhook = webhooks.get((due.workspace_id, due.webhook_id))
            # A deleted webhook has no snapshot: the deliverer looks it up, finds it gone and cancels the delivery.
            snapshot = WebhookSnapshot.of(webhook) if webhook is not None else None
            messages.append(DeliveryMessage(due.workspace_id, due.delivery_id, attempt, snapshot, now))
        self._queue.send(messages)
        return len(messages)
