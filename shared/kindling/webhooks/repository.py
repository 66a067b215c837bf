"""Webhooks and deliveries in DynamoDB.

- webhook:  pk `ws_x#WEBHOOK#<id>` sk `#`; gsi1 `ws_x#WEBHOOK` / `<created>#<id>` (list, fan-out)
- delivery: pk `ws_x#WHDELIVERY#<id>` sk `#`; gsi1 `ws_x#WHDELIVERY#<webhook id>` / `<created>#<id>` (delivery log,
            newest first); TTL 30 days after the last change. While pending it sits in the `due` index under
            `DUE#WEBHOOK#<shard>` / `<iso due time>#<ws>#<id>`: the retry sweep reads only what is due.
            The delivery id is derived from (event id, webhook id), so a re-fanned event cannot duplicate it.
            `body` holds what never changes (the event); status, timestamps and the attempts list are attributes of
            their own, so an attempt is recorded with one update (no read): the attempt appended to `attempts`,
            conditional on `attempt_count`, so a duplicate queue message cannot record the same attempt twice.
            Items written before this layout kept everything in `body`; they are read the same way.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError

from kindling.platform.clock import epoch_seconds
from kindling.platform.dynamo import TableModel, bind_models, condition_failed, query_page
from kindling.platform.errors import NotFound
from kindling.platform.keys import (
    WEBHOOK_DUE_PREFIX,
    WEBHOOK_DUE_SHARDS,
    time_ordered_sk,
    upper,
    webhook_deliveries_gsi_pk,
    webhook_delivery_pk,
    webhook_due_shard,
    webhook_due_sk,
    webhook_pk,
    webhooks_gsi_pk,
)
from kindling.webhooks.models import Attempt, Delivery, DeliveryStatus, Webhook

DELIVERY_RETENTION = timedelta(days=30)


class WebhookItem(TableModel):
    webhook_id = UnicodeAttribute()
    body = UnicodeAttribute()
    failure_count = NumberAttribute(default=0)
    last_triggered_at = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class DeliveryItem(TableModel):
    delivery_id = UnicodeAttribute()
    webhook_id = UnicodeAttribute()
    status = UnicodeAttribute()
    attempt_count = NumberAttribute(default=0)
    body = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute(null=True)
    next_attempt_at = UTCDateTimeAttribute(null=True)
    delivered_at = UTCDateTimeAttribute(null=True)
    failed_at = UTCDateTimeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    attempts = ListAttribute(of=UnicodeAttribute, null=True)  # one JSON document per attempt, in order
    # Set by `claim` while an attempt is in flight; dropped when the attempt is recorded.
    claimed_attempt = NumberAttribute(null=True)
    claimed_until = NumberAttribute(null=True)


@dataclass(frozen=True)
class WebhookPage:
    items: list[Webhook]
    next_cursor: str | None


@dataclass(frozen=True)
class DeliveryPage:
    items: list[Delivery]
    next_cursor: str | None


@dataclass(frozen=True)
class DueDelivery:
    workspace_id: str
    delivery_id: str
    webhook_id: str
    due_pk: str
    due_sk: str


def delivery_id_for(event_id: str, webhook_id: str) -> str:
    return "whd_" + hashlib.sha256(f"{event_id}|{webhook_id}".encode()).hexdigest()[:24]


_WEBHOOK_COLUMNS = {"id", "workspace_id", "failure_count", "last_triggered_at", "created_at", "updated_at"}


def _webhook_item(webhook: Webhook) -> WebhookItem:
    return WebhookItem(
        pk=webhook_pk(webhook.workspace_id, webhook.id),
        sk="#",
        gsi1pk=webhooks_gsi_pk(webhook.workspace_id),
        gsi1sk=time_ordered_sk(webhook.created_at.isoformat(), webhook.id),
        webhook_id=webhook.id,
        body=json.dumps(webhook.model_dump(mode="json", exclude=_WEBHOOK_COLUMNS), separators=(",", ":")),
        failure_count=webhook.failure_count,
        last_triggered_at=webhook.last_triggered_at,
        created_at=webhook.created_at,
        updated_at=webhook.updated_at,
    )


def _webhook(workspace_id: str, item: WebhookItem) -> Webhook:
    data: dict[str, Any] = json.loads(item.body)
    data.update(
        id=item.webhook_id,
        workspace_id=workspace_id,
        failure_count=int(item.failure_count or 0),
        last_triggered_at=item.last_triggered_at,
        created_at=item.created_at,
        updated_at=item.updated_at,
    )
    return Webhook.model_validate(data)


# Kept out of `body`: they have attributes of their own.
_DELIVERY_COLUMNS = {
    "id", "workspace_id", "webhook_id", "status", "attempt_count", "created_at", "updated_at", "next_attempt_at",
    "delivered_at", "failed_at", "reason", "attempts",
}  # fmt: skip


def _attempt_json(attempt: Attempt) -> str:
    return json.dumps(attempt.model_dump(mode="json"), separators=(",", ":"))


def _delivery_item(delivery: Delivery) -> DeliveryItem:
    item = DeliveryItem(
        pk=webhook_delivery_pk(delivery.workspace_id, delivery.id),
        sk="#",
        gsi1pk=webhook_deliveries_gsi_pk(delivery.workspace_id, delivery.webhook_id),
        gsi1sk=time_ordered_sk(delivery.created_at.isoformat(), delivery.id),
        delivery_id=delivery.id,
        webhook_id=delivery.webhook_id,
        status=delivery.status,
        attempt_count=delivery.attempt_count,
        body=json.dumps(delivery.model_dump(mode="json", exclude=_DELIVERY_COLUMNS), separators=(",", ":")),
        created_at=delivery.created_at,
        updated_at=delivery.updated_at,
        next_attempt_at=delivery.next_attempt_at,
        delivered_at=delivery.delivered_at,
        failed_at=delivery.failed_at,
        reason=delivery.reason,
        attempts=[_attempt_json(a) for a in delivery.attempts] or None,
        expires_at=epoch_seconds(delivery.updated_at + DELIVERY_RETENTION),
    )
    if delivery.status == "pending" and delivery.next_attempt_at is not None:
        item.due_pk = webhook_due_shard(delivery.id)
        item.due_sk = webhook_due_sk(delivery.next_attempt_at, delivery.workspace_id, delivery.id)
    return item


def _delivery(workspace_id: str, item: DeliveryItem) -> Delivery:
    data: dict[str, Any] = json.loads(item.body)
    for name in ("updated_at", "next_attempt_at", "delivered_at", "failed_at", "reason"):
        value = getattr(item, name)
        if value is not None:
            data[name] = value
    # An item of the earlier layout has its attempts in `body`; attempts appended since are in the attribute.
    data["attempts"] = [*data.get("attempts", []), *(json.loads(str(a)) for a in item.attempts or [])]
    data.update(
        id=item.delivery_id,
        workspace_id=workspace_id,
        webhook_id=item.webhook_id,
        status=item.status,
        attempt_count=int(item.attempt_count or 0),
        created_at=item.created_at,
    )
    return Delivery.model_validate(data)


def _update_quietly(item: TableModel, actions: list[Any], condition: Any) -> None:
    """UpdateItem returning nothing: pynamodb's Model.update always asks for the whole new item back, which an
    attempt's bookkeeping never reads (a delivery with its attempts is up to ~12 KB)."""
    hash_key, range_key = item._get_hash_range_key_serialized_values()
    type(item)._get_connection().update_item(hash_key, range_key=range_key, actions=actions, condition=condition)


class WebhookRepository:
    def __init__(self) -> None:
        bind_models()

    # --- webhooks ------------------------------------------------------------------------------------------
    def insert(self, webhook: Webhook) -> None:
        _webhook_item(webhook).save(condition=WebhookItem.pk.does_not_exist())

    def get(self, workspace_id: str, webhook_id: str) -> Webhook:
        try:
            item = WebhookItem.get(webhook_pk(workspace_id, webhook_id), "#", consistent_read=True)
        except (DoesNotExist, ValueError) as exc:
            raise NotFound(f"Webhook {webhook_id} not found.") from exc
        return _webhook(workspace_id, item)

    def replace(self, webhook: Webhook) -> None:
        """Write the subscription's settings; counters written concurrently by deliveries are kept."""
        item = _webhook_item(webhook)
        try:
            item.update(
                actions=[WebhookItem.body.set(item.body), WebhookItem.updated_at.set(webhook.updated_at)],
                condition=WebhookItem.pk.exists(),
            )
        except UpdateError as exc:
            if condition_failed(exc):
                raise NotFound(f"Webhook {webhook.id} not found.") from exc
            raise

    def delete(self, workspace_id: str, webhook_id: str) -> None:
        try:
            WebhookItem(pk=webhook_pk(workspace_id, webhook_id), sk="#").delete(condition=WebhookItem.pk.exists())
        except DeleteError as exc:
            if condition_failed(exc):
                raise NotFound(f"Webhook {webhook_id} not found.") from exc
            raise

    def list_page(self, workspace_id: str, limit: int, cursor: str | None) -> WebhookPage:
        page = query_page(
            WebhookItem.gsi1,
            webhooks_gsi_pk(workspace_id),
            workspace_id=workspace_id,
            limit=limit,
            cursor=cursor,
            index_keys=("gsi1pk", "gsi1sk"),
        )
        return WebhookPage([_webhook(workspace_id, i) for i in page.items], page.next_cursor)

    def list_all(self, workspace_id: str) -> list[Webhook]:
        items = WebhookItem.gsi1.query(webhooks_gsi_pk(workspace_id))
        return [_webhook(workspace_id, cast(WebhookItem, i)) for i in items]

    def get_many(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Webhook]:
        """(workspace id, webhook id) -> webhook, for those that exist (BatchGetItem: 100 keys per request)."""
        found: dict[tuple[str, str], Webhook] = {}
        wanted = [(webhook_pk(ws, webhook_id), "#") for ws, webhook_id in sorted(keys)]
        for item in WebhookItem.batch_get(wanted, consistent_read=True):
            workspace_id = item.pk.split("#", 1)[0]
            found[(workspace_id, item.webhook_id)] = _webhook(workspace_id, item)
        return found

    def record_success(self, workspace_id: str, webhook_id: str, when: datetime) -> None:
        """Set lastTriggeredAt to `when` unless it is already that late (concurrent deliverers never move it back)."""
        try:
            _update_quietly(
                WebhookItem(pk=webhook_pk(workspace_id, webhook_id), sk="#"),
                [WebhookItem.last_triggered_at.set(when)],
                WebhookItem.pk.exists()
                & (WebhookItem.last_triggered_at.does_not_exist() | (WebhookItem.last_triggered_at < when)),
            )
        except UpdateError as exc:
            if not condition_failed(exc):
                raise

    def record_failure(self, workspace_id: str, webhook_id: str) -> None:
        try:
            _update_quietly(
                WebhookItem(pk=webhook_pk(workspace_id, webhook_id), sk="#"),
                [WebhookItem.failure_count.add(1)],
                WebhookItem.pk.exists(),
            )
        except UpdateError as exc:
            if not condition_failed(exc):
                raise

    # --- deliveries ----------------------------------------------------------------------------------------
    def get_delivery(self, workspace_id: str, delivery_id: str) -> Delivery:
        try:
            item = DeliveryItem.get(webhook_delivery_pk(workspace_id, delivery_id), "#", consistent_read=True)
        except (DoesNotExist, ValueError) as exc:
            raise NotFound(f"Delivery {delivery_id} not found.") from exc
        return _delivery(workspace_id, item)

    def claim(
        self, workspace_id: str, delivery_id: str, attempt: int, now: datetime, hold: timedelta
    ) -> Delivery | None:
        """Read the delivery and claim `attempt` in one conditional write; None when that attempt is not due.

        The claim fails when the attempt was already recorded, the delivery is no longer pending, or another
        worker holds an unexpired claim on the same attempt (duplicate queue messages racing each other).
        """
        item = DeliveryItem(pk=webhook_delivery_pk(workspace_id, delivery_id), sk="#")
        free = (
            DeliveryItem.claimed_attempt.does_not_exist()
            | (DeliveryItem.claimed_attempt != attempt)
            | (DeliveryItem.claimed_until < epoch_seconds(now))
        )
        try:
            item.update(
                actions=[
                    DeliveryItem.claimed_attempt.set(attempt),
                    DeliveryItem.claimed_until.set(epoch_seconds(now + hold)),
                ],
                condition=(DeliveryItem.attempt_count == attempt - 1) & (DeliveryItem.status == "pending") & free,
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return None
            raise
        return _delivery(workspace_id, item)

    def create_deliveries(self, deliveries: list[Delivery]) -> list[Delivery]:
        """Write the deliveries that do not exist yet; returns every one still waiting for its first attempt."""
        if not deliveries:
            return []
        workspace_id = deliveries[0].workspace_id
        keys = [(webhook_delivery_pk(d.workspace_id, d.id), "#") for d in deliveries]
        existing = {
            i.delivery_id: _delivery(workspace_id, i) for i in DeliveryItem.batch_get(keys, consistent_read=True)
        }
        fresh = [d for d in deliveries if d.id not in existing]
        with DeliveryItem.batch_write() as batch:
            for delivery in fresh:
                batch.save(_delivery_item(delivery))
        waiting = [d for d in existing.values() if d.status == "pending" and d.attempt_count == 0]
        return fresh + waiting

    def insert_delivery(self, delivery: Delivery) -> None:
        _delivery_item(delivery).save(condition=DeliveryItem.pk.does_not_exist())

    def finish(
        self,
        workspace_id: str,
        delivery_id: str,
        expected_attempt_count: int,
        now: datetime,
        status: DeliveryStatus,
        *,
        attempt: Attempt | None = None,
        next_attempt_at: datetime | None = None,
        reason: str | None = None,
    ) -> bool:
        """Record the outcome of an attempt (or a cancellation) in one conditional update, without reading the item.

        `attempt` is appended to the attempts and becomes the attempt count; a pending delivery is put back in the
        `due` index at `next_attempt_at`, any other leaves it; the claim is released. False when somebody else
        recorded an attempt since `expected_attempt_count` (the caller's attempt is stale).
        """
        actions: list[Any] = [
            DeliveryItem.status.set(status),
            DeliveryItem.updated_at.set(now),
            DeliveryItem.expires_at.set(epoch_seconds(now + DELIVERY_RETENTION)),
            DeliveryItem.claimed_attempt.remove(),
            DeliveryItem.claimed_until.remove(),
        ]
        if attempt is not None:
            actions += [
                DeliveryItem.attempt_count.set(attempt.attempt),
                DeliveryItem.attempts.set((DeliveryItem.attempts | []).append([_attempt_json(attempt)])),
            ]
        if status == "pending" and next_attempt_at is not None:
            actions += [
                DeliveryItem.next_attempt_at.set(next_attempt_at),
                DeliveryItem.due_pk.set(webhook_due_shard(delivery_id)),
                DeliveryItem.due_sk.set(webhook_due_sk(next_attempt_at, workspace_id, delivery_id)),
            ]
        else:
            actions += [
                DeliveryItem.next_attempt_at.remove(),
                DeliveryItem.due_pk.remove(),
                DeliveryItem.due_sk.remove(),
            ]
        if status == "delivered":
            actions.append(DeliveryItem.delivered_at.set(now))
        if status == "failed":
            actions.append(DeliveryItem.failed_at.set(now))
        if reason is not None:
            actions.append(DeliveryItem.reason.set(reason))
        try:
            _update_quietly(
                DeliveryItem(pk=webhook_delivery_pk(workspace_id, delivery_id), sk="#"),
                actions,
                DeliveryItem.attempt_count == expected_attempt_count,
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def list_deliveries(
        self, workspace_id: str, webhook_id: str, status: str | None, limit: int, cursor: str | None
    ) -> DeliveryPage:
        page = query_page(
            DeliveryItem.gsi1,
            webhook_deliveries_gsi_pk(workspace_id, webhook_id),
            workspace_id=workspace_id,
            limit=limit,
            cursor=cursor,
            filter_condition=(DeliveryItem.status == status) if status else None,
            index_keys=("gsi1pk", "gsi1sk"),
        )
        return DeliveryPage([_delivery(workspace_id, i) for i in page.items], page.next_cursor)

    # --- the retry sweep -----------------------------------------------------------------------------------
    def due(self, now: datetime, limit: int) -> list[DueDelivery]:
        """Pending deliveries whose next attempt (or lease) is due, oldest first, across every shard."""
        bound = upper(now)
        found: list[DueDelivery] = []
        for shard in range(WEBHOOK_DUE_SHARDS):
            due_pk = f"{WEBHOOK_DUE_PREFIX}{shard:02d}"
            for item in DeliveryItem.due.query(due_pk, DeliveryItem.due_sk <= bound, limit=limit):
                delivery = cast(DeliveryItem, item)
                found.append(
                    DueDelivery(
                        workspace_id=item.pk.split("#", 1)[0],
                        delivery_id=delivery.delivery_id,
                        webhook_id=delivery.webhook_id,
                        due_pk=due_pk,
                        due_sk=str(item.due_sk),
                    )
                )
        found.sort(key=lambda d: d.due_sk)
        return found[:limit]

    def lease(self, due: DueDelivery, until: datetime) -> int | None:
        """Push a due delivery's due time to `until` (a lease), if the sweep saw its current due time.

        Returns the attempt count at lease time, or None when another sweep (or the deliverer) moved it first.
        """
        item = DeliveryItem(pk=webhook_delivery_pk(due.workspace_id, due.delivery_id), sk="#")
        try:
            item.update(
                actions=[DeliveryItem.due_sk.set(webhook_due_sk(until, due.workspace_id, due.delivery_id))],
                condition=(DeliveryItem.due_sk == due.due_sk) & (DeliveryItem.status == "pending"),
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return None
            raise
        return int(item.attempt_count or 0)
