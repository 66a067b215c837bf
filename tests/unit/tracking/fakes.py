"""In-memory stand-ins for the tracking service's collaborators (ledger, hit markers, events, suppressions)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from kindling.events.models import DomainEvent
from kindling.platform.errors import NotFound
from kindling.sending.ledger import SendRecord
from kindling.suppressions.models import SuppressResult
from kindling.tracking.service import TrackingService

SECRET = "unit-tracking-secret"
WS = "ws_unit000001"
SEND_ID = "0123456789abcdef0123456789abcdef"
SENT_AT = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
NOW = SENT_AT + timedelta(hours=2)


def send_record(**changes: Any) -> SendRecord:
    base = SendRecord(
        send_id=SEND_ID,
        workspace_id=WS,
        campaign_id="cmp_unit00001",
        step_index=1,
        variant="A",
        mailbox_id="mbx_unit00001",
        prospect_id="prs_unit00001",
        recipient="jane@example.com",
        message_id=f"{SEND_ID}@mail.example.com",
        status="sent",
        attempts=1,
        queued_at=SENT_AT - timedelta(seconds=5),
        sent_at=SENT_AT,
        opened_at=None,
        clicked_at=None,
        unsubscribed_at=None,
    )
    return dataclasses.replace(base, **changes)


class FakeLedger:
    def __init__(self, *records: SendRecord) -> None:
        self.records = {r.send_id: r for r in records}
        self.hits: list[tuple[str, str, datetime]] = []  # (send id, kind, at) of every record_hit call
        self.fail = False

    def get(self, workspace_id: str, send_id: str) -> SendRecord:
        if self.fail:
            raise ConnectionError("dynamodb is down")
        record = self.records.get(send_id)
        if record is None or record.workspace_id != workspace_id:
            raise NotFound(f"Send {send_id} not found.")
        return record

    def record_hit(self, workspace_id: str, send_id: str, kind: str, at: datetime, *, send: object = None) -> bool:
        self.hits.append((send_id, kind, at))
        record = self.get(workspace_id, send_id)
        attribute = {"open": "opened_at", "click": "clicked_at", "unsubscribe": "unsubscribed_at"}[kind]
        if getattr(record, attribute) is not None:
            return False
        changes: dict[str, Any] = {attribute: at}
        self.records[send_id] = dataclasses.replace(record, **changes)
        return True


class FakeHits:
    def __init__(self) -> None:
        self.last: dict[str, datetime] = {}
        self.touched = 0

    def touch(self, workspace_id: str, send_id: str, at: datetime) -> datetime | None:
        self.touched += 1
        previous = self.last.get(send_id)
        self.last[send_id] = at
        return previous


class FakeEvents:
    """`emit` as EventService: None when the dedup key was seen (windows never expire here)."""

    def __init__(self) -> None:
        self.emitted: list[DomainEvent] = []
        self.offered: list[tuple[str, dict[str, Any]]] = []
        self._keys: set[tuple[str, str]] = set()

    def emit(self, workspace_id: str, event_type: str, data: dict[str, Any], **kwargs: Any) -> DomainEvent | None:
        self.offered.append((event_type, data))
        key = kwargs.get("dedup_key")
        if key is not None:
            if (event_type, key) in self._keys:
                return None
            self._keys.add((event_type, key))
        event = DomainEvent(
            id=f"evt_{len(self.emitted)}",
            workspace_id=workspace_id,
            type=event_type,
            data=data,
            occurred_at=NOW,
            campaign_id=kwargs.get("campaign_id"),
        )
        self.emitted.append(event)
        return event

    def types(self) -> list[str]:
        return [e.type for e in self.emitted]


class FakeSuppressions:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str], str | None, str]] = []
        self.suppressed: set[str] = set()
        self.fail = False

    def suppress_emails(self, workspace_id: str, emails: list[str], reason: str | None, source: str) -> SuppressResult:
        if self.fail:
            raise ConnectionError("dynamodb is down")
        self.calls.append((workspace_id, emails, reason, source))
        new = [e for e in emails if e not in self.suppressed]
        self.suppressed.update(emails)
        return SuppressResult(
            suppressed_count=len(new),
            already_suppressed_count=len(emails) - len(new),
            not_found_count=0,
            total_processed=len(emails),
        )


class FakeStopper:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.stopped: set[tuple[str, str]] = set()

    def __call__(self, workspace_id: str, campaign_id: str, prospect_id: str, at: datetime) -> bool:
        self.calls.append((workspace_id, campaign_id, prospect_id))
        if (campaign_id, prospect_id) in self.stopped:
            return False
        self.stopped.add((campaign_id, prospect_id))
        return True


class FixedClock:
    def __init__(self, now: datetime = NOW) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


@dataclasses.dataclass
class Rig:
    service: TrackingService
    ledger: FakeLedger
    hits: FakeHits
    events: FakeEvents
    suppressions: FakeSuppressions
    stopper: FakeStopper
    clock: FixedClock
    errors: list[tuple[str, BaseException]]


def rig(*records: SendRecord) -> Rig:
    ledger, hits, events = FakeLedger(*(records or (send_record(),))), FakeHits(), FakeEvents()
    suppressions, stopper, clock = FakeSuppressions(), FakeStopper(), FixedClock()
    errors: list[tuple[str, BaseException]] = []
    service = TrackingService(
        secrets=[SECRET],
        ledger=ledger,  # type: ignore[arg-type]
        hits=hits,  # type: ignore[arg-type]
        events=events,  # type: ignore[arg-type]
        suppressions=suppressions,  # type: ignore[arg-type]
        stop_enrollment=stopper,
        clock=clock,
        on_error=lambda message, exc: errors.append((message, exc)),
    )
    return Rig(service, ledger, hits, events, suppressions, stopper, clock, errors)
