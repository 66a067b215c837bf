"""The tracking function's DynamoDB and SQS access: lean, low-level botocore calls, no pynamodb and no pydantic.

The open pixel and the click redirect are public and hot, and each Lambda process serves its first request cold,
so this module imports only the standard library (botocore on first use) and writes the same items, in the same
formats, as the pynamodb repositories that own them:

- send (kindling.sending.ledger): read with one consistent GetItem; a first open / click / unsubscribe is recorded
  as `SendLedgerRepository.record_hit` does: one transaction that sets `<kind>_at` on the send (conditional on the
  send existing and the mark being absent) and bumps the campaign's, the step's and the variant's counters;
- hit marker (this module's own item): pk `ws#TRACKHIT#<send id>` sk `#`: `last_hit_ms` (epoch milliseconds of
  the latest open or click, human or not), `hits` (how many), TTL a day after the latest hit (the burst window of
  kindling.tracking.scanners is one second). One UpdateItem per hit sets the new time and returns the previous
  one (ReturnValues UPDATED_OLD): DynamoDB applies updates to one item one at a time, so of a scanner's parallel
  fetches of every link each sees the time of another and only the first can count;
- `email.opened` / `email.clicked` events (kindling.events.repository, kindling.events.catalog): the dedup marker
  and the event written in one transaction, the marker conditional on absence (or its window being over), then
  the event published to the webhook queue and taken out of the unpublished (`due`) index, as `EventService.emit`
  does. The catalogue's payload fields and dedup rules for these two types are repeated here; a unit test holds
  them equal to the catalogue's.

The keys of all these items come from kindling.platform.keys (standard library only), as the owners' do.
Configuration comes from the same environment variables as kindling.platform.settings, read on first use.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from kindling.events.messages import event_message
from kindling.platform.clock import epoch_seconds, get_clock
from kindling.platform.errors import NotFound
from kindling.platform.ids import prefixed_id
from kindling.platform.keys import (
    CAMPAIGN_STATS_SK,
    UNPUBLISHED_DUE_PK,
    campaign_pk,
    event_dedup_pk,
    event_pk,
    events_gsi_pk,
    hit_marker_pk,
    send_pk,
    step_stats_sk,
    time_ordered_sk,
    unpublished_due_sk,
    variant_stats_sk,
)
from kindling.platform.queues import required_url, send_one
from kindling.platform.table import ITEM_SK

HitKind = Literal["open", "click", "unsubscribe"]

MARKER_TTL = timedelta(days=1)
DEFAULT_TABLE = "kindling-local"  # kindling.platform.settings.Settings defaults
DEFAULT_REGION = "us-east-1"
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")

# kindling.sending.ledger
_HIT_ATTRIBUTE: dict[str, str] = {"open": "opened_at", "click": "clicked_at", "unsubscribe": "unsubscribed_at"}
_HIT_COUNTER: dict[str, str] = {"open": "opened", "click": "clicked", "unsubscribe": "unsubscribed"}
# kindling.events.repository
EVENT_RETENTION = timedelta(days=30)
# kindling.events.catalog: (required, optional) payload fields, and "one per ... ever"
HIT_EVENT_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "email.opened": (("prospectId", "prospectEmail", "campaignId", "openedAt"), ("mailboxId", "stepIndex")),
    "email.clicked": (("prospectId", "prospectEmail", "campaignId", "url", "clickedAt"), ("mailboxId", "stepIndex")),
}
EVER = timedelta(days=36500)

_CONDITION_FAILED = "ConditionalCheckFailed"
_own_lock = threading.RLock()


def serialize_datetime(value: datetime) -> str:
    """pynamodb's UTCDateTimeAttribute form: `2026-06-10T09:00:00.000000+0000`."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000").zfill(31)


def parse_datetime(value: str) -> datetime:
    """The inverse of `serialize_datetime` (pynamodb's fast parse)."""
    text = value.zfill(31)
    separators = (text[4], text[7], text[10], text[13], text[16], text[19])
    if len(text) != 31 or separators != ("-", "-", "T", ":", ":", ".") or text[26:] != "+0000":
        raise ValueError(f"not a stored UTC datetime: {value!r}")
    return datetime(
        int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16]), int(text[17:19]),
        int(text[20:26]), UTC,
    )  # fmt: skip


def _epoch_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:24]


def validate_hit_payload(event_type: str, data: Mapping[str, Any]) -> None:
    """kindling.events.catalog.validate_payload for the two hit events."""
    if event_type not in HIT_EVENT_FIELDS:
        raise ValueError(f"not a tracking hit event: {event_type!r}")
    required, optional = HIT_EVENT_FIELDS[event_type]
    missing = [f for f in required if data.get(f) is None]
    if missing:
        raise ValueError(f"{event_type} payload is missing {', '.join(missing)}")
    unknown = sorted(set(data) - set(required) - set(optional))
    if unknown:
        raise ValueError(f"{event_type} payload has unknown fields {', '.join(unknown)}")


def hit_dedup(event_type: str, data: Mapping[str, Any], now: datetime) -> tuple[str, timedelta]:
    """kindling.events.catalog.dedup_for for the two hit events: the first open per prospect per campaign, ever;
    one click per URL per prospect per UTC day."""
    if event_type == "email.opened":
        return f"{data['prospectId']}:{data['campaignId']}", EVER
    if event_type != "email.clicked":
        raise ValueError(f"not a tracking hit event: {event_type!r}")
    key = f"{data['prospectId']}:{_digest(str(data['url']))}"
    day = now.astimezone(UTC).date()
    end_of_day = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    return f"{key}:{day.isoformat()}", max(end_of_day - now, timedelta(seconds=1))


@dataclass(frozen=True)
class SendView:
    """What tracking reads of a ledger send (the fields of kindling.sending.ledger.SendRecord it uses)."""

    send_id: str
    workspace_id: str
    campaign_id: str
    step_id: str
    step_index: int
    variant: str | None
    mailbox_id: str
    prospect_id: str
    recipient: str
    status: str
    sending_at: datetime | None
    sent_at: datetime | None
    opened_at: datetime | None
    clicked_at: datetime | None
    unsubscribed_at: datetime | None


def _view(workspace_id: str, item: Mapping[str, Mapping[str, Any]]) -> SendView:
    def text(name: str) -> str | None:
        value = item.get(name)
        return None if value is None or "S" not in value else str(value["S"])

    def required(name: str) -> str:
        value = text(name)
        if value is None:
            raise ValueError(f"the send item has no {name}")
        return value

    def when(name: str) -> datetime | None:
        value = text(name)
        return parse_datetime(value) if value is not None else None

    return SendView(
        send_id=required("send_id"),
        workspace_id=workspace_id,
        campaign_id=required("campaign_id"),
        step_id=text("step_id") or "",
        step_index=int(item["step_index"]["N"]),
        variant=text("variant"),
        mailbox_id=required("mailbox_id"),
        prospect_id=required("prospect_id"),
        recipient=required("recipient"),
        status=required("status"),
        sending_at=when("sending_at"),
        sent_at=when("sent_at"),
        opened_at=when("opened_at"),
        clicked_at=when("clicked_at"),
        unsubscribed_at=when("unsubscribed_at"),
    )


def _cancelled_by_condition(exc: Exception, position: int) -> bool:
    """A TransactWriteItems cancelled because the condition of the item at `position` failed."""
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    if (response.get("Error") or {}).get("Code") != "TransactionCanceledException":
        return False
    reasons: list[Any] = response.get("CancellationReasons") or []
    return len(reasons) > position and (reasons[position] or {}).get("Code") == _CONDITION_FAILED


def _creation_lock() -> Any:
    # botocore's client creation is not thread-safe: share kindling.platform.aws's lock when that module is
    # loaded (the API and this function may share a process locally); importing it would load pydantic.
    aws = sys.modules.get("kindling.platform.aws")
    return aws.client_creation_lock() if aws is not None else _own_lock


class TrackingStore:
    """Sends, hit markers and hit events for the tracking function, over one DynamoDB and one SQS client built on
    first use from the process's shared botocore session (the one kindling.platform.aws and pynamodb use)."""

    def __init__(
        self,
        *,
        table_name: str | None = None,
        region: str | None = None,
        webhook_queue_url: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.table_name = table_name or env.get("KINDLING_TABLE_NAME") or DEFAULT_TABLE
        if not _TABLE_NAME.match(self.table_name):
            raise RuntimeError(f"KINDLING_TABLE_NAME is not a table name: {self.table_name!r}")
        self.region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        self.webhook_queue_url = webhook_queue_url or env.get("KINDLING_WEBHOOK_QUEUE_URL") or None
        self._clients: dict[str, Any] = {}

    def _client(self, service: str) -> Any:
        cached = self._clients.get(service)
        if cached is not None:
            return cached
        # cold start: botocore loads on the first AWS call, not on import
        import boto3

        with _creation_lock():
            if service not in self._clients:
                if boto3.DEFAULT_SESSION is None:
                    boto3.setup_default_session()
                assert boto3.DEFAULT_SESSION is not None
                session = boto3.DEFAULT_SESSION._session
                self._clients[service] = session.create_client(service, region_name=self.region)
            return self._clients[service]

    def _key(self, pk: str, sk: str = ITEM_SK) -> dict[str, dict[str, str]]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    # --- the send ledger ----------------------------------------------------------------------------------------

    def get(self, workspace_id: str, send_id: str) -> SendView:
        """The send, read consistently; NotFound when the ledger has no such send."""
        response = self._client("dynamodb").get_item(
            TableName=self.table_name, Key=self._key(send_pk(workspace_id, send_id)), ConsistentRead=True
        )
        item = response.get("Item")
        if not item:
            raise NotFound(f"Send {send_id} not found.")
        return _view(workspace_id, item)

    def record_hit(
        self, workspace_id: str, send_id: str, kind: HitKind, at: datetime, *, send: SendView | None = None
    ) -> bool:
        """`SendLedgerRepository.record_hit`: the send's first `kind` marked and the campaign, step and variant
        counters bumped in one transaction; False (nothing written) when that kind was already recorded. `send`
        is the send as just read (saves reading it again); NotFound for an unknown send."""
        record = send if send is not None else self.get(workspace_id, send_id)
        attribute = _HIT_ATTRIBUTE[kind]
        if getattr(record, attribute) is not None:
            return False
        cpk = campaign_pk(workspace_id, record.campaign_id)
        keys = [CAMPAIGN_STATS_SK, step_stats_sk(record.step_id)]
        if record.variant:
            keys.append(variant_stats_sk(record.step_id, record.variant))
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": self._key(send_pk(workspace_id, send_id)),
                    "UpdateExpression": "SET #hit = :at",
                    "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(#hit)",
                    "ExpressionAttributeNames": {"#hit": attribute},
                    "ExpressionAttributeValues": {":at": {"S": serialize_datetime(at)}},
                }
            }
        ]
        for sk in keys:
            items.append(
                {
                    "Update": {
                        "TableName": self.table_name,
                        "Key": self._key(cpk, sk),
                        "UpdateExpression": "ADD #counter :one SET #kind = :stats",
                        "ExpressionAttributeNames": {"#counter": _HIT_COUNTER[kind], "#kind": "kind"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":stats": {"S": "stats"}},
                    }
                }
            )
        try:
            # The token makes botocore's retry of a transaction that did commit a no-op, not a cancellation.
            self._client("dynamodb").transact_write_items(TransactItems=items, ClientRequestToken=str(uuid.uuid4()))
        except Exception as exc:
            if _cancelled_by_condition(exc, 0):
                return False
            raise
        return True

    # --- hit markers --------------------------------------------------------------------------------------------

    def touch(self, workspace_id: str, send_id: str, at: datetime) -> datetime | None:
        """Record a hit on the send at `at`; returns the time of the hit before it (None for the first)."""
        response = self._client("dynamodb").update_item(
            TableName=self.table_name,
            Key=self._key(hit_marker_pk(workspace_id, send_id)),
            UpdateExpression="SET #last = :last, #expires = :expires ADD #hits :one",
            ExpressionAttributeNames={"#last": "last_hit_ms", "#expires": "expires_at", "#hits": "hits"},
            ExpressionAttributeValues={
                ":last": {"N": str(_epoch_ms(at))},
                ":expires": {"N": str(epoch_seconds(at + MARKER_TTL))},
                ":one": {"N": "1"},
            },
            ReturnValues="UPDATED_OLD",
        )
        previous = (response.get("Attributes") or {}).get("last_hit_ms", {}).get("N")
        return datetime.fromtimestamp(int(previous) / 1000, UTC) if previous is not None else None

    # --- hit events ---------------------------------------------------------------------------------------------

    def emit_hit_event(self, workspace_id: str, event_type: str, data: dict[str, Any], *, now: datetime) -> bool:
        """`emit_event` + `EventService.emit` for `email.opened` / `email.clicked`: the payload validated,
        the event recorded under the catalogue's dedup rule, published and marked published. False when
        deduplicated (nothing written)."""
        validate_hit_payload(event_type, data)
        dedup_key, window = hit_dedup(event_type, data, now)
        campaign = data.get("campaignId")
        event_id = prefixed_id("evt", 16)
        occurred_at = get_clock().now()  # EventService's clock
        stamp = occurred_at.isoformat()
        occurred_epoch = epoch_seconds(occurred_at)
        stored_pk = event_pk(workspace_id, event_id)
        event: dict[str, Any] = {
            **self._key(stored_pk),
            "gsi1pk": {"S": events_gsi_pk(workspace_id)},
            "gsi1sk": {"S": time_ordered_sk(stamp, event_id)},
            "event_id": {"S": event_id},
            "event_type": {"S": event_type},
            "data": {"S": json.dumps(data, separators=(",", ":"), default=str)},
            "occurred_at": {"S": serialize_datetime(occurred_at)},
            "expires_at": {"N": str(epoch_seconds(occurred_at + EVENT_RETENTION))},
            # Until published, the event sits in the due index so a sweep can re-publish it after a crash.
            "due_pk": {"S": UNPUBLISHED_DUE_PK},
            "due_sk": {"S": unpublished_due_sk(stamp, workspace_id, event_id)},
        }
        if campaign is not None:
            event["campaign_id"] = {"S": str(campaign)}
        marker = {
            **self._key(event_dedup_pk(workspace_id, event_type, dedup_key)),
            "event_id": {"S": event_id},
            "expires_at": {"N": str(epoch_seconds(occurred_at + window))},
        }
        dynamodb = self._client("dynamodb")
        try:
            dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": marker,
                            # TTL deletes lazily: a marker past its window counts as gone.
                            "ConditionExpression": "attribute_not_exists(pk) OR #expires < :now",
                            "ExpressionAttributeNames": {"#expires": "expires_at"},
                            "ExpressionAttributeValues": {":now": {"N": str(occurred_epoch)}},
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": event,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except Exception as exc:
            if _cancelled_by_condition(exc, 0):
                return False
            raise
        url = required_url(self.webhook_queue_url, "KINDLING_WEBHOOK_QUEUE_URL")
        send_one(self._client("sqs"), url, event_message(workspace_id, event_id))
        dynamodb.update_item(
            TableName=self.table_name,
            Key=self._key(stored_pk),
            UpdateExpression="REMOVE due_pk, due_sk",
            ConditionExpression="attribute_exists(pk)",
        )
        return True
