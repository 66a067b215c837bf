"""The global warmup domain blocklist and the hard bounces that feed its rule, in DynamoDB; `record_bounce` is
the one place the rule runs (warmup delivery on an SMTP hard bounce, inbox sync on a delivery report).

Platform items (the blocklist is global, like the warmup pool):
- `@WARMUP#BOUNCES#<domain>` sk `<at>#<digest of the source>`: one hard bounce from that recipient domain
  (TTL 8 days).
- `@WARMUP#BLOCKLIST` sk `<domain>`: a blocklisted domain, its source and reason.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError

from kindling.platform.clock import epoch_seconds, isoformat
from kindling.platform.dynamo import TableModel, bind_models, condition_failed
from kindling.platform.keys import WARMUP_BLOCKLIST_PK, time_ordered_sk, warmup_bounces_pk
from kindling.platform.observability import get_logger
from kindling.warmup.protection import (
    BOUNCE_WINDOW,
    BlockedDomain,
    BounceEvent,
    DomainBlocklist,
    bounce_entries,
    normalize_domain,
)

DOMAIN_BOUNCE_TTL = timedelta(days=8)  # the rule looks 7 days back; a day of slack for clock skew


def _digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8", "surrogateescape")).hexdigest()[:32]


class DomainBounceItem(TableModel):
    domain = UnicodeAttribute()
    bounced_at = UTCDateTimeAttribute()


class BlocklistItem(TableModel):
    domain = UnicodeAttribute()
    source = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    added_at = UTCDateTimeAttribute(null=True)


class WarmupBlocklistRepository:
    """The global warmup domain blocklist (`kindling.warmup.protection`) and the bounces that feed its rule."""

    def __init__(self) -> None:
        bind_models()

    def record_bounce(self, domain: str, at: datetime, source: str) -> None:
        """One hard bounce from `domain`; `source` (workspace id + report key) makes a retry overwrite, not add."""
        domain = normalize_domain(domain)
        DomainBounceItem(
            pk=warmup_bounces_pk(domain),
            sk=time_ordered_sk(isoformat(at), _digest(source)),
            domain=domain,
            bounced_at=at,
            expires_at=epoch_seconds(at + DOMAIN_BOUNCE_TTL),
        ).save()

    def bounce_events(self, domain: str, since: datetime, now: datetime) -> list[BounceEvent]:
        domain = normalize_domain(domain)
        items = DomainBounceItem.query(
            warmup_bounces_pk(domain),
            DomainBounceItem.sk >= (isoformat(since) or ""),
            consistent_read=True,
        )
        # TTL deletes lazily: compare expires_at too.
        now_epoch = epoch_seconds(now)
        return [
            BounceEvent(item.domain, item.bounced_at)
            for item in items
            if item.expires_at is None or int(item.expires_at) > now_epoch
        ]

    def blocklist(self) -> DomainBlocklist:
        entries = [
            BlockedDomain(item.domain, item.source, item.reason, item.added_at)  # type: ignore[arg-type]
            for item in BlocklistItem.query(WARMUP_BLOCKLIST_PK, consistent_read=True)
        ]
        return DomainBlocklist(entries)

    def add(self, entry: BlockedDomain) -> bool:
        """False when the domain was already on the list."""
        domain = normalize_domain(entry.domain)
        try:
            BlocklistItem(
                pk=WARMUP_BLOCKLIST_PK,
                sk=domain,
                domain=domain,
                source=entry.source,
                reason=entry.reason,
                added_at=entry.added_at,
            ).save(condition=BlocklistItem.pk.does_not_exist())
        except PutError as exc:
            if condition_failed(exc):
                return False
            raise
        return True


def record_bounce(
    domain: str, now: datetime, source: str, *, repository: WarmupBlocklistRepository | None = None
) -> bool:
    """One hard bounce from `domain` (`source` names the report, so a retry overwrites it); True when it put the
    domain on the blocklist (3 bounces within 7 days, `kindling.warmup.protection.bounce_entries`)."""
    blocklist = repository or WarmupBlocklistRepository()
    blocklist.record_bounce(domain, now, source)
    added = False
    for entry in bounce_entries(blocklist.bounce_events(domain, now - BOUNCE_WINDOW, now), now, blocklist.blocklist()):
        if blocklist.add(entry):
            added = True
            get_logger().warning(
                "warmup domain blocklisted after bounces", extra={"domain": entry.domain, "reason": entry.reason}
            )
    return added
