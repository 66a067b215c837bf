"""The warmup engine's DynamoDB items (this module is the only warmup engine code touching the table).

- pool:      pk `@WARMUP#POOL`              sk `<workspace id>#<mailbox id>`  one item per warmup-enabled,
             connected mailbox, holding only what peer selection needs: ids, provider, domain, health score.
             Every workspace's warmup reads it; nothing else of a workspace is in it.
- domains:   pk `@WARMUP#DOMAINS`           sk `<domain>`                     the MX/SMTP check's standing.
- exchange:  pk `@WARMUP#EXCHANGE#<id>`     sk `ITEM`                         one warmup email: who sent it to
             whom (ids only) and its delivery status; the receiving side counts placement on the sender's day
             row through it without reading anything else of the sender's workspace. Expires after 30 days.
- tick:      pk `ws_x#MAILBOX#<id>`         sk `WARMUP#TICK`                  the sender's engine bookkeeping:
             the local day last planned and how many of that day's planned sends were claimed.
             ("T" sorts after `WARMUP#STATE`, outside the range the warmup repository's Query reads.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from kindling.platform import table
from kindling.platform.clock import epoch_seconds
from kindling.platform.dynamo import TableModel, bind_models, condition_failed
from kindling.platform.keys import (
    WARMUP_DOMAINS_PK,
    WARMUP_POOL_PK,
    WARMUP_TICK_SK,
    mailbox_pk,
    warmup_exchange_pk,
    warmup_pool_sk,
    warmup_tick_key,
)
from kindling.warmup.pool import PoolMember
from kindling.warmup.protection import DomainHealth, normalize_domain

EXCHANGE_TTL = timedelta(days=30)


class PoolItem(TableModel):
    workspace_id = UnicodeAttribute()
    mailbox_id = UnicodeAttribute()
    domain = UnicodeAttribute()
    provider = UnicodeAttribute()
    health_score = NumberAttribute(null=True)


class DomainHealthItem(TableModel):
    domain = UnicodeAttribute()
    excluded = NumberAttribute(default=0)
    failure = UnicodeAttribute(null=True)
    detail = UnicodeAttribute(null=True)
    last_checked_at = UTCDateTimeAttribute(null=True)
    excluded_since = UTCDateTimeAttribute(null=True)
    consecutive_failures = NumberAttribute(default=0)


class ExchangeItem(TableModel):
    sender_workspace_id = UnicodeAttribute()
    sender_mailbox_id = UnicodeAttribute()
    recipient_mailbox_id = UnicodeAttribute()
    sender_day = UnicodeAttribute()  # the sender's local day the send counts on
    status = UnicodeAttribute()  # queued / sending / sent / bounced / failed
    placed = UnicodeAttribute(null=True)  # inbox / spam: the receiving side's first sighting
    replied = NumberAttribute(null=True)
    received = NumberAttribute(null=True)  # the recipient mailbox counted it (`received`) and decided on a reply
    reply_status = UnicodeAttribute(null=True)  # the reply's send: queued / sending / sent / bounced / failed


class TickItem(TableModel):
    day = UnicodeAttribute(null=True)
    claimed = NumberAttribute(default=0)


@dataclass(frozen=True)
class Exchange:
    exchange_id: str
    sender_workspace_id: str
    sender_mailbox_id: str
    recipient_mailbox_id: str
    sender_day: date
    status: str
    placed: str | None = None
    replied: bool = False


@dataclass(frozen=True)
class TickMark:
    day: date | None = None
    claimed: int = 0


def tick_mark_of(raw: dict[str, Any] | None) -> TickMark:
    """The tick mark from a raw item of a batch read (`warmup_tick_key`); the empty mark when there is none."""
    return TickMark() if raw is None else _mark_of(TickItem.from_raw_data(raw))


def _mark_of(item: TickItem) -> TickMark:
    return TickMark(date.fromisoformat(item.day) if item.day else None, int(item.claimed or 0))


class WarmupPoolRepository:
    def __init__(self) -> None:
        bind_models()

    # --- pool --------------------------------------------------------------------------------------------------
    def members(self) -> list[PoolMember]:
        return [
            PoolMember(
                workspace_id=item.workspace_id,
                mailbox_id=item.mailbox_id,
                domain=item.domain,
                provider=item.provider,
                health_score=None if item.health_score is None else int(item.health_score),
            )
            for item in PoolItem.query(WARMUP_POOL_PK, consistent_read=True)
        ]

    def upsert(self, member: PoolMember) -> None:
        PoolItem(
            pk=WARMUP_POOL_PK,
            sk=warmup_pool_sk(member.workspace_id, member.mailbox_id),
            workspace_id=member.workspace_id,
            mailbox_id=member.mailbox_id,
            domain=normalize_domain(member.domain),
            provider=member.provider,
            health_score=member.health_score,
        ).save()

    def remove(self, workspace_id: str, mailbox_id: str) -> None:
        PoolItem(pk=WARMUP_POOL_PK, sk=warmup_pool_sk(workspace_id, mailbox_id)).delete()

    # --- domain checks -----------------------------------------------------------------------------------------
    def domain_health(self) -> dict[str, DomainHealth]:
        found: dict[str, DomainHealth] = {}
        for item in DomainHealthItem.query(WARMUP_DOMAINS_PK, consistent_read=True):
            found[item.domain] = DomainHealth(
                domain=item.domain,
                excluded=bool(item.excluded),
                failure=item.failure,  # type: ignore[arg-type]
                detail=item.detail,
                last_checked_at=item.last_checked_at,
                excluded_since=item.excluded_since,
                consecutive_failures=int(item.consecutive_failures or 0),
            )
        return found

    def save_domain_health(self, state: DomainHealth) -> None:
        DomainHealthItem(
            pk=WARMUP_DOMAINS_PK,
            sk=state.domain,
            domain=state.domain,
            excluded=int(state.excluded),
            failure=state.failure,
            detail=state.detail,
            last_checked_at=state.last_checked_at,
            excluded_since=state.excluded_since,
            consecutive_failures=state.consecutive_failures,
        ).save()

    # --- exchanges ---------------------------------------------------------------------------------------------
    def create_exchange(self, exchange: Exchange, now: datetime) -> bool:
        """False when the exchange exists already (a re-run tick)."""
        try:
            ExchangeItem(
                pk=warmup_exchange_pk(exchange.exchange_id),
                sk=table.ITEM_SK,
                sender_workspace_id=exchange.sender_workspace_id,
                sender_mailbox_id=exchange.sender_mailbox_id,
                recipient_mailbox_id=exchange.recipient_mailbox_id,
                sender_day=exchange.sender_day.isoformat(),
                status=exchange.status,
                expires_at=epoch_seconds(now + EXCHANGE_TTL),
            ).save(condition=ExchangeItem.pk.does_not_exist())
        except PutError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def exchange(self, exchange_id: str) -> Exchange | None:
        try:
            item = ExchangeItem.get(warmup_exchange_pk(exchange_id), table.ITEM_SK, consistent_read=True)
        except DoesNotExist:
            return None
        return Exchange(
            exchange_id=exchange_id,
            sender_workspace_id=item.sender_workspace_id,
            sender_mailbox_id=item.sender_mailbox_id,
            recipient_mailbox_id=item.recipient_mailbox_id,
            sender_day=date.fromisoformat(item.sender_day),
            status=item.status,
            placed=item.placed,
            replied=bool(item.replied),
        )

    def move_exchange(self, exchange_id: str, expected: str, status: str) -> bool:
        """Status `expected` -> `status` (the send gate: only one delivery passes queued -> sending)."""
        return self._conditional(exchange_id, [ExchangeItem.status.set(status)], ExchangeItem.status == expected)

    def place_exchange(self, exchange_id: str, placed: str) -> bool:
        """Record where the receiving side first saw the email; False when it was seen before."""
        return self._conditional(
            exchange_id,
            [ExchangeItem.placed.set(placed)],
            ExchangeItem.pk.exists() & ExchangeItem.placed.does_not_exist(),
        )

    def mark_received(self, exchange_id: str) -> bool:
        """Once per exchange: its recipient mailbox counts it received (and decides whether to reply)."""
        return self._conditional(
            exchange_id,
            [ExchangeItem.received.set(1)],
            ExchangeItem.pk.exists() & ExchangeItem.received.does_not_exist(),
        )

    def mark_replied(self, exchange_id: str) -> bool:
        """The recipient decided to reply (once): the reply is `queued`."""
        return self._conditional(
            exchange_id,
            [ExchangeItem.replied.set(1), ExchangeItem.reply_status.set("queued")],
            ExchangeItem.pk.exists() & ExchangeItem.replied.does_not_exist(),
        )

    def move_reply(self, exchange_id: str, expected: str, status: str) -> bool:
        """The reply's status `expected` -> `status` (its send gate, as `move_exchange` is the email's)."""
        return self._conditional(
            exchange_id, [ExchangeItem.reply_status.set(status)], ExchangeItem.reply_status == expected
        )

    def reply_status(self, exchange_id: str) -> str | None:
        try:
            item = ExchangeItem.get(warmup_exchange_pk(exchange_id), table.ITEM_SK, consistent_read=True)
        except DoesNotExist:
            return None
        return item.reply_status

    def _conditional(self, exchange_id: str, actions: list[object], condition: object) -> bool:
        try:
            ExchangeItem(pk=warmup_exchange_pk(exchange_id), sk=table.ITEM_SK).update(
                actions=actions,  # type: ignore[arg-type]
                condition=condition,  # type: ignore[arg-type]
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    # --- the sender's tick mark --------------------------------------------------------------------------------
    def tick_mark(self, workspace_id: str, mailbox_id: str) -> TickMark:
        try:
            item = TickItem.get(*warmup_tick_key(workspace_id, mailbox_id), consistent_read=True)
        except DoesNotExist:
            return TickMark()
        return _mark_of(item)

    def claim(self, workspace_id: str, mailbox_id: str, seen: TickMark, day: date, claimed: int) -> bool:
        """Move the mark from `seen` to (`day`, `claimed`) if nobody moved it since (one tick wins a send)."""
        item = TickItem(pk=mailbox_pk(workspace_id, mailbox_id), sk=WARMUP_TICK_SK)
        if seen.day is None:
            condition = TickItem.pk.does_not_exist()
        else:
            condition = (TickItem.day == seen.day.isoformat()) & (TickItem.claimed == seen.claimed)
        try:
            item.update(actions=[TickItem.day.set(day.isoformat()), TickItem.claimed.set(claimed)], condition=condition)
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True
