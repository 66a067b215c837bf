"""Tracking rules: what an open, a click or an unsubscribe does (inventory 20-21, the reference's webhook dedup).

Every entry point first verifies the signed token (kindling.sending.tokens): a bad, tampered or foreign token is
`InvalidToken` (404) before anything is read or written. Then:

- open: the send's hit is judged (kindling.tracking.scanners); a person's first open of the send emits
  `email.opened` (the catalogue keeps the first per prospect per campaign) and is counted once in the ledger;
- click: the redirect target is the URL inside the verified token, nothing else; a person's click emits
  `email.clicked` (one per URL per prospect per day) and the send's first click is counted once;
- unsubscribe: a GET (`one_click=False`) only shows the confirmation page, since scanners prefetch links; the POST
  (`one_click=True`, RFC 8058 or the page's button) suppresses the address (reason `unsubscribe`, which emits
  `prospect.suppressed` and makes every campaign skip it), stops the enrollment when the campaign stops on
  unsubscribe, emits `email.unsubscribed` and counts the unsubscribe. Every step is idempotent, so a repeat
  POST (or a retry after a failure half way) is a no-op that shows the same page.

Scanner hits are not counted, but the visitor still gets the pixel or the redirect; so does everyone when
recording an open or a click fails (the failure is logged): tracking never breaks the recipient's link.
Cold start: the open and the click import only the standard library and kindling.tracking.repository (lean botocore
calls that write the ledger's, the hit markers' and the events' items in their owners' formats); pydantic, pynamodb
and the event service load only for an unsubscribe, which is rare, or when a test injects its own collaborators.
Settings are the same environment variables kindling.platform.settings reads, plus
KINDLING_TRACKING_SECRET_PREVIOUS (only verification needs it: kindling.sending.tokens.live_secrets).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

from kindling.platform.clock import Clock, get_clock, isoformat
from kindling.platform.errors import NotFound
from kindling.platform.observability import get_logger
from kindling.platform.stage_guard import check_environment
from kindling.sending.tokens import Kind, TokenPayload, live_secrets, verify
from kindling.tracking.pages import PageState
from kindling.tracking.repository import SendView, TrackingStore
from kindling.tracking.scanners import HitVerdict, classify_hit

if TYPE_CHECKING:
    from kindling.events.service import EventService
    from kindling.suppressions.service import SuppressionService

# A hit counts only on a send that may have reached the recipient ("sending": the recipient can open before the
# sender has marked the send sent). The token exists only in a built message, so other statuses are anomalies.
COUNTABLE_STATUSES: frozenset[str] = frozenset({"sending", "sent", "unknown", "bounced"})
SUPPRESSION_REASON = "unsubscribe"


class InvalidToken(NotFound):
    code = "invalid_token"


@dataclass(frozen=True)
class Visitor:
    """What the request says about who is fetching: the User-Agent header and the source IP."""

    user_agent: str | None = None
    ip: str | None = None


@dataclass(frozen=True)
class HitOutcome:
    """`counted`: a person's hit on a delivered send; `first`: it was the send's first of its kind (the ledger
    counters moved); `event`: the webhook event was emitted (not deduplicated); `failed`: recording raised."""

    verdict: HitVerdict | None = None
    counted: bool = False
    first: bool = False
    event: bool = False
    failed: bool = False


@dataclass(frozen=True)
class ClickOutcome:
    url: str
    hit: HitOutcome


@dataclass(frozen=True)
class UnsubscribeOutcome:
    state: PageState
    email: str
    unsubscribed_now: bool = False  # this request changed something (False on GET and on a repeat POST)


class EnrollmentStopper(Protocol):
    """Stops the prospect's enrollment in the campaign when the campaign stops on unsubscribe; True if stopped."""

    def __call__(self, workspace_id: str, campaign_id: str, prospect_id: str, at: datetime) -> bool: ...


def _default_stopper(workspace_id: str, campaign_id: str, prospect_id: str, at: datetime) -> bool:
    # cold start: pydantic and pynamodb load for an unsubscribe, not for an open or a click
    from kindling.campaigns.repository import CampaignRepository
    from kindling.sending.service import should_stop, stop_enrollment

    campaigns = CampaignRepository()
    if not should_stop(campaigns.get(workspace_id, campaign_id).settings, "unsubscribed"):
        return False
    return stop_enrollment(workspace_id, campaign_id, prospect_id, "unsubscribed", at, campaigns=campaigns)


class TrackingService:
    def __init__(
        self,
        *,
        secrets: Sequence[str | bytes] | None = None,
        ledger: TrackingStore | None = None,
        hits: TrackingStore | None = None,
        events: EventService | None = None,
        suppressions: SuppressionService | None = None,
        stop_enrollment: EnrollmentStopper | None = None,
        clock: Clock | None = None,
        on_error: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        # The open and the click never load Settings: the stage guard reads the environment itself (cold start).
        check_environment(os.environ)
        self._secrets = list(secrets) if secrets is not None else None
        self._ledger = ledger
        self._hits = hits
        self._events = events
        # Injected events (tests) receive every event; otherwise the open/click events take the lean path.
        self._own_events = events is None
        self._default_store: TrackingStore | None = None
        self._suppressions = suppressions
        self._stop = stop_enrollment or _default_stopper
        self._clock = clock
        self._on_error = on_error or _log_failure

    # --- collaborators, built on first use --------------------------------------------------------------------

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    def _secret_list(self) -> list[str | bytes]:
        if self._secrets is None:
            # Without a current secret no link can be verified: fail loudly rather than 404 every recipient silently.
            self._secrets = list(live_secrets(os.environ))
        return self._secrets

    def _store(self) -> TrackingStore:
        # One store (one set of clients) serves the ledger, the hit markers and the hit events.
        if self._default_store is None:
            self._default_store = TrackingStore()
        return self._default_store

    def _ledger_repo(self) -> TrackingStore:
        if self._ledger is None:
            self._ledger = self._store()
        return self._ledger

    def _hit_repo(self) -> TrackingStore:
        if self._hits is None:
            self._hits = self._store()
        return self._hits

    def _event_service(self) -> EventService:
        if self._events is None:
            # cold start: pydantic and pynamodb load for an unsubscribe, not for an open or a click
            from kindling.events.service import EventService

            self._events = EventService()
        return self._events

    def _suppression_service(self) -> SuppressionService:
        if self._suppressions is None:
            # cold start: pydantic and pynamodb load for an unsubscribe, not for an open or a click
            from kindling.suppressions.service import SuppressionService

            self._suppressions = SuppressionService(events=self._event_service(), clock=self._clock)
        return self._suppressions

    # --- tokens -----------------------------------------------------------------------------------------------

    def verify(self, token: str, kind: Kind) -> TokenPayload:
        """The verified payload, or `InvalidToken` for anything not signed by us for this kind of link."""
        payload = verify(token, self._secret_list(), kind)
        if payload is None:
            raise InvalidToken("Not found.")
        return payload

    # --- open and click ---------------------------------------------------------------------------------------

    def handle_open(self, token: str, visitor: Visitor) -> HitOutcome:
        payload = self.verify(token, Kind.OPEN)
        return self._guarded("open", payload, visitor)

    def handle_click(self, token: str, visitor: Visitor) -> ClickOutcome:
        payload = self.verify(token, Kind.CLICK)
        if payload.url is None:
            # Index-only click tokens would need the stored message to find the target; we never issue them.
            raise InvalidToken("Not found.")
        return ClickOutcome(payload.url, self._guarded("click", payload, visitor))

    def _guarded(self, kind: Literal["open", "click"], payload: TokenPayload, visitor: Visitor) -> HitOutcome:
        try:
            return self._record_hit(kind, payload, visitor)
        except Exception as exc:
            # The recipient still gets the pixel or the page; the lost hit is logged.
            self._on_error(f"recording a tracked {kind} failed", exc)
            return HitOutcome(failed=True)

    def _record_hit(self, kind: Literal["open", "click"], payload: TokenPayload, visitor: Visitor) -> HitOutcome:
        now = self._now()
        try:
            record = self._ledger_repo().get(payload.workspace_id, payload.send_id)
        except NotFound:
            return HitOutcome()
        if record.status not in COUNTABLE_STATUSES:
            return HitOutcome()
        previous = self._hit_repo().touch(payload.workspace_id, payload.send_id, now)
        earlier = [t for t in (previous, record.opened_at, record.clicked_at) if t is not None]
        sent_at = record.sent_at or record.sending_at
        verdict = classify_hit(kind, visitor.user_agent, visitor.ip, sent_at, now, other_hits=earlier)
        if not verdict.human:
            return HitOutcome(verdict)
        if kind == "open":
            if record.opened_at is not None:
                return HitOutcome(verdict, counted=True)
            # Event first, then the ledger mark the next open checks: a crash in between is repaired by the next
            # open (the event's dedup drops the repeat), never the other way round (a mark with no event).
            event = self._emit(record, "email.opened", {"openedAt": isoformat(now)}, now)
            first = self._ledger_repo().record_hit(payload.workspace_id, payload.send_id, "open", now, send=record)
            return HitOutcome(verdict, counted=True, first=first, event=event)
        # Clicks emit per URL per day (the catalogue's dedup), so every click of a person is offered.
        event = self._emit(record, "email.clicked", {"url": payload.url, "clickedAt": isoformat(now)}, now)
        first = record.clicked_at is None and self._ledger_repo().record_hit(
            payload.workspace_id, payload.send_id, "click", now, send=record
        )
        return HitOutcome(verdict, counted=True, first=first, event=event)

    def _emit(self, record: SendView, event_type: str, fields: dict[str, object], now: datetime) -> bool:
        data: dict[str, object] = {
            "prospectId": record.prospect_id,
            "prospectEmail": record.recipient,
            "campaignId": record.campaign_id,
            **fields,
        }
        if event_type != "email.unsubscribed":
            data.update(mailboxId=record.mailbox_id, stepIndex=record.step_index)
        if self._own_events and event_type != "email.unsubscribed":
            return self._store().emit_hit_event(record.workspace_id, event_type, data, now=now)
        # cold start: pydantic and pynamodb load for an unsubscribe, not for an open or a click
        from kindling.events.catalog import emit_event

        emitted = emit_event(self._event_service(), record.workspace_id, event_type, data, now=now)
        return emitted is not None

    # --- unsubscribe ------------------------------------------------------------------------------------------

    def handle_unsubscribe(self, token: str, *, one_click: bool) -> UnsubscribeOutcome:
        """GET (`one_click=False`): the page, nothing written. POST (`one_click=True`): unsubscribe, idempotently.

        `NotFound` for a bad token or a send we no longer know (we cannot tell whose address it was)."""
        payload = self.verify(token, Kind.UNSUBSCRIBE)
        record = self._ledger_repo().get(payload.workspace_id, payload.send_id)
        if not one_click:
            state = PageState.CONFIRM if record.unsubscribed_at is None else PageState.DONE
            return UnsubscribeOutcome(state, record.recipient)
        now = self._now()
        # Suppression first: it is what keeps the address from every campaign. The ledger mark (what the GET page
        # reads) comes last, so a failure half way leaves the form up and a retry completes every step.
        result = self._suppression_service().suppress_emails(
            record.workspace_id, [record.recipient], SUPPRESSION_REASON, source=SUPPRESSION_REASON
        )
        stopped = self._stop(record.workspace_id, record.campaign_id, record.prospect_id, now)
        event = self._emit(record, "email.unsubscribed", {"unsubscribedAt": isoformat(now)}, now)
        first = self._ledger_repo().record_hit(record.workspace_id, record.send_id, "unsubscribe", now, send=record)
        changed = bool(result.suppressed_count or result.not_found_count) or stopped or event or first
        return UnsubscribeOutcome(PageState.DONE, record.recipient, unsubscribed_now=changed)


def _log_failure(message: str, exc: BaseException) -> None:
    get_logger().exception(message, exc_info=exc)
