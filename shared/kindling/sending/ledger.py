"""The send ledger: one item per (enrollment, step), written by the scheduler's claim and moved by the sender.

- send: pk `ws#SEND#<send id>` sk `#`. The send id is derived from (enrollment id, step id) and equals the local
        part of the message's Message-ID (kindling.sending.compose.message_id), so the claim that creates it
        with `attribute_not_exists` is what makes a step go out at most once, and a reply's In-Reply-To /
        References name the ledger item directly (no index lookup).
        gsi2 `ws#SENDTO#<mailbox id>#<recipient>` / `<queued at>#<send id>`: the latest send from a mailbox to an
        address (bounce reports that carry no Message-ID).
        The item is in no other index: its enrollment stays in the `due` index while the send is in flight, and the
        scheduler's tick meets a stuck send there (kindling.sending.watchdog).

Statuses: queued (claimed, on the send queue) -> sending (the sender's gate, right before MAIL FROM; never
resent) -> sent / failed / bounced / unknown (DATA may or may not have completed); queued -> skipped (suppressed
before SMTP) / canceled (the enrollment stopped or moved on while queued). A `failed` send marked `retryable`
(a 4xx, a rate limit, an unusable mailbox) is claimed again by the scheduler under a new token.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pynamodb.attributes import BooleanAttribute, ListAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError

from kindling.campaigns.repository import CampaignPartItem
from kindling.platform import table
from kindling.platform.clock import isoformat
from kindling.platform.dynamo import TableModel, batch_get_raw, bind_models, cancelled_by_condition, transaction
from kindling.platform.errors import NotFound
from kindling.platform.keys import (
    CAMPAIGN_STATS_SK,
    campaign_pk,
    recipient_pk,
    send_pk,
    step_stats_sk,
    variant_stats_sk,
)

SendStatus = Literal["queued", "sending", "sent", "failed", "bounced", "skipped", "canceled", "unknown"]
SEND_STATUSES: tuple[str, ...] = ("queued", "sending", "sent", "failed", "bounced", "skipped", "canceled", "unknown")
IN_FLIGHT: frozenset[str] = frozenset({"queued", "sending"})
# A send that may have reached the recipient: what replies and bounce reports are matched against.
DELIVERED: frozenset[str] = frozenset({"sent", "unknown", "bounced"})
HitKind = Literal["open", "click", "unsubscribe"]

_SEND_ID = re.compile(r"^[0-9a-f]{32}$")
_HIT_ATTRIBUTE = {"open": "opened_at", "click": "clicked_at", "unsubscribe": "unsubscribed_at"}
_HIT_COUNTER = {"open": "opened", "click": "clicked", "unsubscribe": "unsubscribed"}


def send_id_for(enrollment_id: str, step_id: str) -> str:
    """The deterministic id of the send of `step_id` to `enrollment_id`; the same digest as the Message-ID's
    local part (kindling.sending.compose.message_id), so every attempt of one step names one ledger item."""
    return hashlib.sha256(f"{enrollment_id}\x1f{step_id}".encode()).hexdigest()[:32]


def bare_message_id(value: str) -> str:
    return value.strip().strip("<>").strip()


def send_id_of_message_id(value: str) -> str | None:
    """The send id inside one of our Message-IDs, None for anybody else's."""
    local, at, _ = bare_message_id(value).partition("@")
    return local if at and _SEND_ID.match(local) else None


class SendItem(TableModel):
    send_id = UnicodeAttribute()
    enrollment_id = UnicodeAttribute()
    campaign_id = UnicodeAttribute()
    step_id = UnicodeAttribute()
    step_index = NumberAttribute()
    variant = UnicodeAttribute(null=True)
    mailbox_id = UnicodeAttribute()
    prospect_id = UnicodeAttribute()
    recipient = UnicodeAttribute()
    message_id = UnicodeAttribute()
    status = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    recoveries = NumberAttribute(default=0)  # watchdog recoveries of this send (the third fails the enrollment)
    thread = ListAttribute(of=UnicodeAttribute, null=True)  # Message-IDs this one replies under, oldest first
    queued_at = UTCDateTimeAttribute()
    sending_at = UTCDateTimeAttribute(null=True)
    sent_at = UTCDateTimeAttribute(null=True)
    finished_at = UTCDateTimeAttribute(null=True)
    opened_at = UTCDateTimeAttribute(null=True)
    clicked_at = UTCDateTimeAttribute(null=True)
    unsubscribed_at = UTCDateTimeAttribute(null=True)
    error_code = UnicodeAttribute(null=True)
    detail = UnicodeAttribute(null=True)
    token = UnicodeAttribute(null=True)  # the claim that owns the current attempt (see the sender's gate)
    retryable = BooleanAttribute(null=True)  # a `failed` send the scheduler will claim again


@dataclass(frozen=True)
class SendRecord:
    send_id: str
    workspace_id: str
    campaign_id: str
    step_index: int
    variant: str | None
    mailbox_id: str
    prospect_id: str
    recipient: str
    message_id: str  # RFC 5322 id without the angle brackets
    status: SendStatus
    attempts: int
    queued_at: datetime
    sent_at: datetime | None
    opened_at: datetime | None
    clicked_at: datetime | None
    unsubscribed_at: datetime | None
    thread: list[str] = field(default_factory=list)
    step_id: str = ""
    enrollment_id: str = ""
    recoveries: int = 0
    sending_at: datetime | None = None
    finished_at: datetime | None = None
    error_code: str | None = None
    detail: str | None = None


def record_of(workspace_id: str, item: SendItem) -> SendRecord:
    return SendRecord(
        send_id=item.send_id,
        workspace_id=workspace_id,
        campaign_id=item.campaign_id,
        step_index=int(item.step_index),
        variant=item.variant,
        mailbox_id=item.mailbox_id,
        prospect_id=item.prospect_id,
        recipient=item.recipient,
        message_id=item.message_id,
        status=item.status,  # type: ignore[arg-type]
        attempts=int(item.attempts or 0),
        queued_at=item.queued_at,
        sent_at=item.sent_at,
        opened_at=item.opened_at,
        clicked_at=item.clicked_at,
        unsubscribed_at=item.unsubscribed_at,
        thread=[str(m) for m in item.thread or []],
        step_id=item.step_id,
        enrollment_id=item.enrollment_id,
        recoveries=int(item.recoveries or 0),
        sending_at=item.sending_at,
        finished_at=item.finished_at,
        error_code=item.error_code,
        detail=item.detail,
    )


def workspace_of(pk: str) -> str:
    return pk.split("#", 1)[0]


class SendLedgerRepository:
    def __init__(self) -> None:
        bind_models()

    def get(self, workspace_id: str, send_id: str) -> SendRecord:
        try:
            item = SendItem.get(send_pk(workspace_id, send_id), table.ITEM_SK, consistent_read=True)
        except DoesNotExist as exc:
            raise NotFound(f"Send {send_id} not found.") from exc
        return record_of(workspace_id, item)

    def get_many(self, workspace_id: str, send_ids: Sequence[str]) -> dict[str, SendRecord]:
        raw = batch_get_raw((send_pk(workspace_id, sid), table.ITEM_SK) for sid in send_ids)
        records = [record_of(workspace_id, SendItem.from_raw_data(item)) for item in raw.values()]
        return {r.send_id: r for r in records}

    def find_by_message_ids(self, workspace_id: str, message_ids: Sequence[str]) -> SendRecord | None:
        """The send named by the first of `message_ids` (In-Reply-To first, then References) that is one of ours:
        one BatchGetItem, whatever the number of ids."""
        ordered = [sid for sid in dict.fromkeys(send_id_of_message_id(m) for m in message_ids) if sid is not None]
        if not ordered:
            return None
        found = self.get_many(workspace_id, ordered[:100])
        for send_id in ordered:
            if send_id in found:
                return found[send_id]
        return None

    def latest_to_recipient(self, workspace_id: str, mailbox_id: str, email: str, since: datetime) -> SendRecord | None:
        """The newest send from `mailbox_id` to `email` queued at or after `since` that may have been delivered."""
        bind_models()
        results = SendItem.gsi2.query(
            recipient_pk(workspace_id, mailbox_id, email),
            SendItem.gsi2sk >= (isoformat(since) or ""),
            scan_index_forward=False,
            page_size=20,
        )
        for item in results:
            if isinstance(item, SendItem) and item.status in DELIVERED:
                return record_of(workspace_id, item)
        return None

    def record_hit(self, workspace_id: str, send_id: str, kind: HitKind, at: datetime) -> bool:
        """Record the first open / click / unsubscribe of a send and bump the campaign, step and variant counters
        in the same transaction; False (nothing written) when that kind was already recorded. NotFound for an
        unknown send."""
        record = self.get(workspace_id, send_id)
        attribute = getattr(SendItem, _HIT_ATTRIBUTE[kind])
        if getattr(record, _HIT_ATTRIBUTE[kind]) is not None:
            return False
        counter = getattr(CampaignPartItem, _HIT_COUNTER[kind])
        cpk = campaign_pk(workspace_id, record.campaign_id)
        keys = [CAMPAIGN_STATS_SK, step_stats_sk(record.step_id)]
        if record.variant:
            keys.append(variant_stats_sk(record.step_id, record.variant))
        try:
            with transaction() as tx:
                tx.update(
                    SendItem(pk=send_pk(workspace_id, send_id), sk=table.ITEM_SK),
                    actions=[attribute.set(at)],
                    condition=SendItem.pk.exists() & attribute.does_not_exist(),
                )
                for sk in keys:
                    tx.update(
                        CampaignPartItem(pk=cpk, sk=sk), actions=[counter.add(1), CampaignPartItem.kind.set("stats")]
                    )
        except TransactWriteError as exc:
            if cancelled_by_condition(exc, 0):
                return False
            raise
        return True
