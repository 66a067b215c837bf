"""The sending engine's DynamoDB access (with ledger.py, the only sending code that touches the table).

Items (beside their owners' items, never overlapping their key prefixes):
- mailbox sending state  pk `ws#MAILBOX#<mid>`   sk `SEND#STATE`: today's reserved campaign sends, warmup sends
  and per-recipient-domain counts (`day` says which day they count; a new day starts from zero), the pacer's
  `next_allowed_at`, the rate-limit backoff and the consecutive authentication failures. Reservations are
  optimistic (`version`), one write per mailbox per tick, never one per email.
- mailbox day stats      pk `ws#MAILBOX#<mid>`   sk `SEND#STATS#<day>`: sent / bounced, ADDed with the outcomes.
- campaign day           pk `ws#CAMPAIGN#<cid>`  sk `SEND#DAY#<day>` (campaign timezone): sends reserved today in
  total and per mailbox (the campaign and campaign-mailbox caps) and the round-robin cursor.
- campaign sending state pk `ws#CAMPAIGN#<cid>`  sk `SEND#STATE`: parked enrollments, spam complaints, cooldown
  re-check; in the `due` index (`DUE#CAMPSEND`) while something about the campaign needs looking at.
- host circuit           pk `@SMTPHOST#<host>`   sk `#`: consecutive connection failures, open until.

Enrollments (the enrollments module's item) are written here only on the scheduler's and sender's behalf:
the due keys, the step pointer, the thread, and the statuses the engine sets (active, completed, failed and
the stops), each status change moving the campaign's enrollment summary in the same transaction.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError

from kindling.campaigns.repository import CampaignPartItem
from kindling.enrollments.models import IN_SEQUENCE
from kindling.enrollments.repository import EnrollmentItem, EnrollmentSummaryItem
from kindling.platform import keys, table
from kindling.platform.clock import isoformat, parse_iso
from kindling.platform.dynamo import (
    TableModel,
    batch_get_raw,
    bind_models,
    cancellation_codes,
    condition_failed,
    transaction,
)
from kindling.platform.keys import (
    CAMPAIGN_STATE_SK,
    CAMPAIGN_STATS_SK,
    ENROLLMENT_SUMMARY_SK,
    MAILBOX_STATE_SK,
    campaign_pk,
    enrollment_listing_pk,
    enrollment_sk,
    mailbox_pk,
    mailbox_stats_sk,
    recipient_pk,
    send_day_sk,
    send_pk,
    smtp_host_pk,
    step_stats_sk,
    time_ordered_sk,
    variant_stats_sk,
)
from kindling.sending.backoff import BackoffState
from kindling.sending.circuit import HostCircuit, host_key
from kindling.sending.ledger import SendItem

Key = tuple[str, str]
CONFLICT_RETRIES = 6  # a transaction cancelled only by concurrent transactions on the same items is retried


def _ts(when: datetime) -> str:
    return isoformat(when) or ""


# --- items -----------------------------------------------------------------------------------------------------


class MailboxStateItem(TableModel):
    version = NumberAttribute(default=0)
    day = UnicodeAttribute(null=True)
    sent = NumberAttribute(null=True)
    warmup = NumberAttribute(null=True)
    domains = UnicodeAttribute(null=True)  # JSON {recipient domain: sends reserved on `day`}
    next_allowed_at = UTCDateTimeAttribute(null=True)
    last_send_at = UTCDateTimeAttribute(null=True)
    backoff = UnicodeAttribute(null=True)  # JSON {"level", "until", "successes": [iso, ...]}
    auth_failures = NumberAttribute(null=True)
    intervals = UnicodeAttribute(null=True)  # JSON {campaign id: [minutes between sends, last planned iso]}


class MailboxStatsItem(TableModel):
    sent = NumberAttribute(null=True)
    bounced = NumberAttribute(null=True)


class CampaignDayItem(TableModel):
    version = NumberAttribute(default=0)
    sent = NumberAttribute(null=True)
    mailboxes = UnicodeAttribute(null=True)  # JSON {mailbox id: sends reserved today}
    last_mailbox = UnicodeAttribute(null=True)


class CampaignStateItem(TableModel):
    workspace_id = UnicodeAttribute()
    campaign_id = UnicodeAttribute()
    parked = BooleanAttribute(null=True)
    complaints = NumberAttribute(null=True)
    cooldown_until = UTCDateTimeAttribute(null=True)
    # Campaign safety judges what happened since the last cooldown ended (see kindling.sending.safety).
    base_sent = NumberAttribute(null=True)
    base_bounced = NumberAttribute(null=True)
    base_complaints = NumberAttribute(null=True)
    cooldown_extensions = NumberAttribute(null=True)  # failed re-checks in a row (safety.MAX_COOLDOWN_EXTENSIONS)


class HostCircuitItem(TableModel):
    failures = NumberAttribute(null=True)
    open_until = UTCDateTimeAttribute(null=True)


# --- values ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MailboxState:
    mailbox_id: str
    exists: bool = False
    version: int = 0
    day: str | None = None
    sent: int = 0
    warmup: int = 0
    domains: dict[str, int] = field(default_factory=dict)
    next_allowed_at: datetime | None = None
    last_send_at: datetime | None = None
    backoff: BackoffState = field(default_factory=BackoffState)
    auth_failures: int = 0
    intervals: str | None = None

    def today(self, day: str) -> tuple[int, int, dict[str, int]]:
        """(campaign sends, warmup sends, per-domain sends) counted on `day` (zero on a day not yet written)."""
        if self.day != day:
            return 0, 0, {}
        return self.sent, self.warmup, dict(self.domains)


@dataclass(frozen=True)
class CampaignDay:
    exists: bool = False
    version: int = 0
    sent: int = 0
    mailboxes: dict[str, int] = field(default_factory=dict)
    last_mailbox: str | None = None


def _backoff_of(raw: str | None) -> BackoffState:
    if not raw:
        return BackoffState()
    data = json.loads(raw)
    until = parse_iso(data["until"]) if data.get("until") else None
    return BackoffState(
        level=int(data.get("level", 0)), until=until, successes=tuple(parse_iso(s) for s in data.get("successes", []))
    )


def backoff_json(state: BackoffState) -> str | None:
    if state.level == 0 and not state.successes:
        return None
    return json.dumps(
        {"level": state.level, "until": isoformat(state.until), "successes": [_ts(s) for s in state.successes]},
        separators=(",", ":"),
    )


def mailbox_state_from_raw(mailbox_id: str, raw: dict[str, Any] | None) -> MailboxState:
    """The state from a raw item of a batch read (`SendingRepository.mailbox_state_key`); empty when absent."""
    return mailbox_state_of(mailbox_id, MailboxStateItem.from_raw_data(raw) if raw else None)


def mailbox_state_of(mailbox_id: str, item: MailboxStateItem | None) -> MailboxState:
    if item is None:
        return MailboxState(mailbox_id)
    return MailboxState(
        mailbox_id=mailbox_id,
        exists=True,
        version=int(item.version or 0),
        day=item.day,
        sent=int(item.sent or 0),
        warmup=int(item.warmup or 0),
        domains={str(k): int(v) for k, v in json.loads(item.domains or "{}").items()},
        next_allowed_at=item.next_allowed_at,
        last_send_at=item.last_send_at,
        backoff=_backoff_of(item.backoff),
        auth_failures=int(item.auth_failures or 0),
        intervals=item.intervals,
    )


def campaign_day_of(item: CampaignDayItem | None) -> CampaignDay:
    if item is None:
        return CampaignDay()
    return CampaignDay(
        exists=True,
        version=int(item.version or 0),
        sent=int(item.sent or 0),
        mailboxes={str(k): int(v) for k, v in json.loads(item.mailboxes or "{}").items()},
        last_mailbox=item.last_mailbox,
    )


@dataclass(frozen=True)
class Advance:
    """How the sender's final write moves an enrollment after one send of `send_id` (step `step_index`)."""

    workspace_id: str
    campaign_id: str
    prospect_id: str
    step_index: int  # the step that was sent (the enrollment must still point at it)
    previous_status: str  # the status read (pending / active)
    kind: str  # "advance" (next step), "complete", "retry" (same step later), "stop" (status `stop_status`)
    at: datetime
    message_id: str | None = None  # appended to the thread (advance / complete after a send that went out)
    mailbox_id: str | None = None
    next_step_index: int | None = None
    next_send_at: datetime | None = None
    stop_status: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class LedgerFinal:
    workspace_id: str
    send_id: str
    status: str  # sent / failed / bounced / unknown / skipped / canceled
    at: datetime
    expected: str = "sending"  # the status the ledger must still have
    token: str | None = None
    sent_at: datetime | None = None
    retryable: bool = False
    error_code: str | None = None
    detail: str | None = None
    # the recipient index (latest send from a mailbox to an address) once the message may have gone out
    mailbox_id: str | None = None
    recipient: str | None = None


@dataclass(frozen=True)
class Counters:
    """Counter deltas of one batch, by (workspace, campaign, step id, variant letter) and by (workspace, mailbox)."""

    campaign: dict[tuple[str, str, str, str | None], dict[str, int]] = field(default_factory=dict)
    mailbox: dict[tuple[str, str, str], dict[str, int]] = field(default_factory=dict)  # (ws, mailbox, day)

    def add_campaign(self, ws: str, cid: str, step_id: str, letter: str | None, name: str, n: int = 1) -> None:
        bucket = self.campaign.setdefault((ws, cid, step_id, letter), {})
        bucket[name] = bucket.get(name, 0) + n

    def add_mailbox(self, ws: str, mailbox_id: str, day: str, name: str, n: int = 1) -> None:
        bucket = self.mailbox.setdefault((ws, mailbox_id, day), {})
        bucket[name] = bucket.get(name, 0) + n

    @property
    def empty(self) -> bool:
        return not self.campaign and not self.mailbox


class Cancelled(Exception):
    """A transaction was cancelled by a failed condition; `codes` in the order the items were added."""

    def __init__(self, codes: list[str | None]) -> None:
        super().__init__(", ".join(str(c) for c in codes))
        self.codes = codes


def _is_conflict_only(codes: list[str | None]) -> bool:
    return bool(codes) and "ConditionalCheckFailed" not in codes


# The enrollment as the ledger reads and writes it: the scheduler and the sender hold what the ledger hands them
# and give it back to the ledger's writes, they never build or query it themselves.
EnrollmentState = EnrollmentItem


def enrollment_from_raw(raw: dict[str, Any]) -> EnrollmentState:
    """An enrollment from a batch read's raw item (the sender reads it with the send's other keys)."""
    return EnrollmentItem.from_raw_data(raw)


class SendingRepository:
    def __init__(self) -> None:
        bind_models()

    # --- reads -------------------------------------------------------------------------------------------------

    def due_enrollments(self, shard: str, now: datetime, limit: int) -> list[EnrollmentItem]:
        """Enrollments of one due shard whose next send is at or before `now`, oldest first."""
        results = EnrollmentItem.due.query(
            shard, EnrollmentItem.due_sk <= keys.upper(now), limit=limit, page_size=min(limit, 1000)
        )
        return [item for item in results if isinstance(item, EnrollmentItem)]

    def parked_enrollments(self, workspace_id: str, campaign_id: str, limit: int) -> list[EnrollmentItem]:
        results = EnrollmentItem.due.query(keys.park_pk(workspace_id, campaign_id), limit=limit, page_size=limit)
        return [item for item in results if isinstance(item, EnrollmentItem)]

    def watched_campaigns(self, now: datetime, limit: int = 500) -> list[CampaignStateItem]:
        results = CampaignStateItem.due.query(
            keys.CAMPAIGN_WATCH_PK, CampaignStateItem.due_sk <= keys.upper(now), limit=limit
        )
        return [item for item in results if isinstance(item, CampaignStateItem)]

    def get_raw(self, keys: Iterable[Key]) -> dict[Key, dict[str, Any]]:
        """One strongly consistent BatchGetItem per 100 keys, whatever the item types."""
        return batch_get_raw(keys)

    def get_enrollment(self, workspace_id: str, campaign_id: str, prospect_id: str) -> EnrollmentItem | None:
        try:
            return EnrollmentItem.get(
                campaign_pk(workspace_id, campaign_id), enrollment_sk(prospect_id), consistent_read=True
            )
        except DoesNotExist:
            return None

    @staticmethod
    def mailbox_state_key(workspace_id: str, mailbox_id: str) -> Key:
        return mailbox_pk(workspace_id, mailbox_id), MAILBOX_STATE_SK

    @staticmethod
    def campaign_day_key(workspace_id: str, campaign_id: str, day: str) -> Key:
        return campaign_pk(workspace_id, campaign_id), send_day_sk(day)

    @staticmethod
    def host_key(smtp_host: str) -> Key:
        return smtp_host_pk(host_key(smtp_host)), table.ITEM_SK

    @staticmethod
    def ledger_key(workspace_id: str, send_id: str) -> Key:
        return send_pk(workspace_id, send_id), table.ITEM_SK

    def mailbox_state(self, workspace_id: str, mailbox_id: str) -> MailboxState:
        try:
            item = MailboxStateItem.get(*self.mailbox_state_key(workspace_id, mailbox_id), consistent_read=True)
        except DoesNotExist:
            item = None
        return mailbox_state_of(mailbox_id, item)

    def campaign_day(self, workspace_id: str, campaign_id: str, day: str) -> CampaignDay:
        try:
            item = CampaignDayItem.get(*self.campaign_day_key(workspace_id, campaign_id, day), consistent_read=True)
        except DoesNotExist:
            item = None
        return campaign_day_of(item)

    def campaign_state(self, workspace_id: str, campaign_id: str) -> CampaignStateItem | None:
        try:
            return CampaignStateItem.get(
                campaign_pk(workspace_id, campaign_id), CAMPAIGN_STATE_SK, consistent_read=True
            )
        except DoesNotExist:
            return None

    def mailbox_stats(self, workspace_id: str, mailbox_id: str, day: str) -> dict[str, int]:
        try:
            item = MailboxStatsItem.get(
                mailbox_pk(workspace_id, mailbox_id), mailbox_stats_sk(day), consistent_read=True
            )
        except DoesNotExist:
            return {"sent": 0, "bounced": 0}
        return {"sent": int(item.sent or 0), "bounced": int(item.bounced or 0)}

    # --- reservations (one optimistic write per mailbox / campaign per tick) ------------------------------------

    def reserve_mailbox(
        self,
        workspace_id: str,
        state: MailboxState,
        day: str,
        *,
        sends: int,
        domains: dict[str, int],
        next_allowed_at: datetime | None,
        warmup: int = 0,
        intervals: str | None = None,
        last_slot: datetime | None = None,
    ) -> bool:
        """Add `sends` campaign sends (and `warmup` warmup sends) with their recipient domains to `day`'s counts and
        move the pacer, if nobody wrote the state since it was read; False otherwise (re-read and re-plan)."""
        sent, warm, counts = state.today(day)
        for domain, n in domains.items():
            counts[domain] = counts.get(domain, 0) + n
        actions: list[Any] = [
            MailboxStateItem.version.set(state.version + 1),
            MailboxStateItem.day.set(day),
            MailboxStateItem.sent.set(sent + sends),
            MailboxStateItem.warmup.set(warm + warmup),
            MailboxStateItem.domains.set(json.dumps(counts, separators=(",", ":"), sort_keys=True)),
        ]
        if next_allowed_at is not None:
            actions.append(MailboxStateItem.next_allowed_at.set(next_allowed_at))
        if intervals is not None:
            actions.append(MailboxStateItem.intervals.set(intervals))
        if last_slot is not None:
            # The last planned send (campaign or warmup): a longer interval registered later still spaces from it.
            actions.append(MailboxStateItem.last_send_at.set(last_slot))
        condition = MailboxStateItem.version == state.version if state.exists else MailboxStateItem.pk.does_not_exist()
        item = MailboxStateItem(*self.mailbox_state_key(workspace_id, state.mailbox_id))
        try:
            item.update(actions=actions, condition=condition)
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def register_intervals(self, workspace_id: str, state: MailboxState, intervals: str) -> bool:
        """Record the campaigns' pacer intervals on a mailbox without reserving anything (optimistic)."""
        condition = MailboxStateItem.version == state.version if state.exists else MailboxStateItem.pk.does_not_exist()
        try:
            MailboxStateItem(*self.mailbox_state_key(workspace_id, state.mailbox_id)).update(
                actions=[MailboxStateItem.version.set(state.version + 1), MailboxStateItem.intervals.set(intervals)],
                condition=condition,
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def release_mailbox(
        self,
        workspace_id: str,
        mailbox_id: str,
        day: str,
        sends: int,
        domains: dict[str, int],
        *,
        warmup: int = 0,
        slot: tuple[datetime, datetime | None] | None = None,
    ) -> None:
        """Give back reservations whose claims failed, and (`warmup`) warmup sends that never left (best effort: at
        worst a cap is met a few sends early). A day that is no longer the state's has nothing left to give back.
        `slot` = (the pacer slot the reservation took, the one before it): the pacer goes back to the one before
        while nothing has taken a later slot since."""
        for _ in range(3):
            state = self.mailbox_state(workspace_id, mailbox_id)
            if state.day != day:
                return
            counts = dict(state.domains)
            for domain, n in domains.items():
                counts[domain] = max(0, counts.get(domain, 0) - n)
            actions: list[Any] = [
                MailboxStateItem.version.set(state.version + 1),
                MailboxStateItem.sent.set(max(0, state.sent - sends)),
                MailboxStateItem.domains.set(json.dumps(counts, separators=(",", ":"), sort_keys=True)),
            ]
            if warmup:
                actions.append(MailboxStateItem.warmup.set(max(0, state.warmup - warmup)))
            if slot is not None and state.last_send_at == slot[0]:
                before = slot[1]
                actions.append(
                    MailboxStateItem.last_send_at.set(before)
                    if before is not None
                    else MailboxStateItem.last_send_at.remove()
                )
            item = MailboxStateItem(*self.mailbox_state_key(workspace_id, mailbox_id))
            try:
                item.update(actions=actions, condition=MailboxStateItem.version == state.version)
                return
            except UpdateError as exc:
                if not condition_failed(exc):
                    raise

    def reserve_campaign_day(
        self,
        workspace_id: str,
        campaign_id: str,
        day: str,
        current: CampaignDay,
        per_mailbox: dict[str, int],
        last_mailbox: str | None,
    ) -> bool:
        counts = dict(current.mailboxes)
        for mailbox_id, n in per_mailbox.items():
            counts[mailbox_id] = counts.get(mailbox_id, 0) + n
        actions: list[Any] = [
            CampaignDayItem.version.set(current.version + 1),
            CampaignDayItem.sent.set(current.sent + sum(per_mailbox.values())),
            CampaignDayItem.mailboxes.set(json.dumps(counts, separators=(",", ":"), sort_keys=True)),
        ]
        if last_mailbox is not None:
            actions.append(CampaignDayItem.last_mailbox.set(last_mailbox))
        condition = (
            CampaignDayItem.version == current.version if current.exists else CampaignDayItem.pk.does_not_exist()
        )
        try:
            CampaignDayItem(*self.campaign_day_key(workspace_id, campaign_id, day)).update(
                actions=actions, condition=condition
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def release_campaign_day(self, workspace_id: str, campaign_id: str, day: str, per_mailbox: dict[str, int]) -> None:
        for _ in range(3):
            current = self.campaign_day(workspace_id, campaign_id, day)
            if not current.exists:
                return
            counts = {m: max(0, n - per_mailbox.get(m, 0)) for m, n in current.mailboxes.items()}
            try:
                CampaignDayItem(*self.campaign_day_key(workspace_id, campaign_id, day)).update(
                    actions=[
                        CampaignDayItem.version.set(current.version + 1),
                        CampaignDayItem.sent.set(max(0, current.sent - sum(per_mailbox.values()))),
                        CampaignDayItem.mailboxes.set(json.dumps(counts, separators=(",", ":"), sort_keys=True)),
                    ],
                    condition=CampaignDayItem.version == current.version,
                )
                return
            except UpdateError as exc:
                if not condition_failed(exc):
                    raise

    # --- the claim and the gate --------------------------------------------------------------------------------

    def claim(self, item: SendItem, *, retry_of_attempts: int | None = None) -> bool:
        """Create the ledger item of a send (status queued): the one write that makes a step go out at most once.

        A fresh send needs no ledger item yet; a retry (`retry_of_attempts`) needs the `failed`, retryable item
        with exactly that many attempts. False when another claim got there first."""
        if retry_of_attempts is None:
            condition = SendItem.pk.does_not_exist()
        else:
            condition = (
                (SendItem.status == "failed") & (SendItem.retryable == True) & (SendItem.attempts == retry_of_attempts)  # noqa: E712
            )
        try:
            item.save(condition=condition)
        except PutError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def gate(self, workspace_id: str, send_id: str, token: str, at: datetime) -> bool:
        """queued -> sending for this claim's token, before any SMTP: True for exactly one caller per claim, so a
        duplicate delivery, a retried batch or a stale message of an earlier attempt never reaches DATA twice."""
        try:
            SendItem(pk=send_pk(workspace_id, send_id), sk=table.ITEM_SK).update(
                actions=[SendItem.status.set("sending"), SendItem.sending_at.set(at), SendItem.attempts.add(1)],
                condition=(SendItem.status == "queued") & (SendItem.token == token),
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def bump_recoveries(self, workspace_id: str, send_id: str, seen: int, at: datetime) -> bool:
        """The watchdog's re-enqueue of a queued send: count it (only once per observed state)."""
        try:
            SendItem(pk=send_pk(workspace_id, send_id), sk=table.ITEM_SK).update(
                actions=[SendItem.recoveries.set(seen + 1), SendItem.queued_at.set(at)],
                condition=(SendItem.status == "queued") & (SendItem.recoveries == seen),
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def cancel_send(self, workspace_id: str, send_id: str, at: datetime, status: str = "canceled") -> bool:
        """A send not yet handed to SMTP (queued, or failed awaiting a retry) becomes `canceled` / `skipped`."""
        try:
            SendItem(pk=send_pk(workspace_id, send_id), sk=table.ITEM_SK).update(
                actions=[SendItem.status.set(status), SendItem.finished_at.set(at), SendItem.retryable.remove()],
                condition=(SendItem.status == "queued")
                | ((SendItem.status == "failed") & (SendItem.retryable == True)),  # noqa: E712
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    # --- the final write -----------------------------------------------------------------------------------------

    def finish(self, ledgers: Sequence[LedgerFinal], advances: Sequence[Advance], counters: Counters) -> list[int]:
        """One transaction for a batch's outcomes: ledger statuses, enrollment moves (each conditioned on the
        enrollment still being where the send left it) and the counters. An enrollment that moved meanwhile (a
        reply or an unenroll during SMTP) is left alone and the rest is written; returns the indexes of the
        advances dropped for that reason."""
        dropped: list[int] = []
        pending = list(range(len(advances)))
        for attempt in range(CONFLICT_RETRIES + len(advances) + 1):
            try:
                self._finish_once(ledgers, [advances[i] for i in pending], counters)
                return dropped
            except Cancelled as cancelled:
                codes = cancelled.codes
                if _is_conflict_only(codes):
                    if attempt >= CONFLICT_RETRIES + len(advances):
                        raise
                    time.sleep(min(0.02 * 2**attempt, 0.5) * (0.5 + random.random()))
                    continue
                offset = len(ledgers)
                failed_ledgers = [i for i in range(len(ledgers)) if codes[i] == "ConditionalCheckFailed"]
                if failed_ledgers:
                    raise  # a ledger moved under us: a bug or a concurrent sender; let the batch retry decide
                bad = {
                    pending[i - offset]
                    for i in range(offset, offset + len(pending))
                    if codes[i] == "ConditionalCheckFailed"
                }
                dropped += sorted(bad)
                pending = [i for i in pending if i not in bad]
        raise RuntimeError("unreachable")

    def _finish_once(self, ledgers: Sequence[LedgerFinal], advances: Sequence[Advance], counters: Counters) -> None:
        summary: dict[tuple[str, str], dict[str, int]] = {}
        for advance in advances:
            target = _status_after(advance)
            if target != advance.previous_status:
                delta = summary.setdefault((advance.workspace_id, advance.campaign_id), {})
                delta[advance.previous_status] = delta.get(advance.previous_status, 0) - 1
                delta[target] = delta.get(target, 0) + 1
        try:
            with transaction() as tx:
                for final in ledgers:
                    tx.update(
                        SendItem(pk=send_pk(final.workspace_id, final.send_id), sk=table.ITEM_SK),
                        actions=_ledger_actions(final),
                        condition=_ledger_condition(final),
                    )
                for advance in advances:
                    tx.update(
                        EnrollmentItem(
                            pk=campaign_pk(advance.workspace_id, advance.campaign_id),
                            sk=enrollment_sk(advance.prospect_id),
                        ),
                        actions=_advance_actions(advance),
                        condition=(EnrollmentItem.status == advance.previous_status)
                        & (EnrollmentItem.current_step == advance.step_index),
                    )
                for (ws, cid), delta in summary.items():
                    moves = [getattr(EnrollmentSummaryItem, f"n_{s}").add(n) for s, n in delta.items() if n]
                    if moves:
                        tx.update(
                            EnrollmentSummaryItem(pk=campaign_pk(ws, cid), sk=ENROLLMENT_SUMMARY_SK),
                            actions=[*moves, EnrollmentSummaryItem.updated_at.set(advances[0].at)],
                        )
                # One update per counter item: variants of a step share the step's and the campaign's items, and a
                # transaction may not touch an item twice.
                per_item: dict[tuple[str, str], dict[str, int]] = {}
                for (ws, cid, step_id, letter), deltas in counters.campaign.items():
                    keys = [CAMPAIGN_STATS_SK, step_stats_sk(step_id)]
                    if letter:
                        keys.append(variant_stats_sk(step_id, letter))
                    for sk in keys:
                        bucket = per_item.setdefault((campaign_pk(ws, cid), sk), {})
                        for name, n in deltas.items():
                            bucket[name] = bucket.get(name, 0) + n
                for (pk, sk), deltas in per_item.items():
                    adds = [getattr(CampaignPartItem, name).add(n) for name, n in deltas.items() if n]
                    if adds:
                        tx.update(CampaignPartItem(pk=pk, sk=sk), actions=[*adds, CampaignPartItem.kind.set("stats")])
                for (ws, mailbox_id, day), deltas in counters.mailbox.items():
                    adds = [getattr(MailboxStatsItem, name).add(n) for name, n in deltas.items() if n]
                    if adds:
                        stats = MailboxStatsItem(pk=mailbox_pk(ws, mailbox_id), sk=mailbox_stats_sk(day))
                        tx.update(stats, actions=adds)
        except TransactWriteError as exc:
            codes = cancellation_codes(exc)
            if not any(codes):
                raise
            raise Cancelled(codes) from exc

    # --- enrollment moves outside a send ------------------------------------------------------------------------

    def move_due(
        self,
        item: EnrollmentItem,
        when: datetime | None,
        *,
        park: tuple[str, str] | None = None,
        linkedin: bool = False,
    ) -> bool:
        """Move an enrollment's next send to `when` (None: out of the due index), or park it under its campaign,
        or (`linkedin`: its next step is a LinkedIn step) hand it to the LinkedIn scheduler's shards, if it is
        still where it was read (same status, step and due key)."""
        pk, sk = item.pk, item.sk
        if when is None:
            actions: list[Any] = [
                EnrollmentItem.next_send_at.remove(),
                EnrollmentItem.due_pk.remove(),
                EnrollmentItem.due_sk.remove(),
            ]
        elif park is not None:
            actions = [EnrollmentItem.due_pk.set(keys.park_pk(*park))]
        else:
            due_pk, due_sk = (keys.li_due_keys if linkedin else keys.send_due_keys)(pk, sk, when)
            actions = [
                EnrollmentItem.next_send_at.set(when),
                EnrollmentItem.due_pk.set(due_pk),
                EnrollmentItem.due_sk.set(due_sk),
            ]
        condition = (
            (EnrollmentItem.status == item.status)
            & (EnrollmentItem.current_step == int(item.current_step or 0))
            & (EnrollmentItem.due_sk == (item.due_sk or ""))
        )
        try:
            EnrollmentItem(pk=pk, sk=sk).update(actions=actions, condition=condition)
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def assigned_enrollments(self, workspace_id: str, campaign_id: str, mailbox_id: str) -> Iterator[EnrollmentItem]:
        """The campaign's in-sequence enrollments assigned to `mailbox_id` (one read of the enrollment listing)."""
        for item in EnrollmentItem.gsi1.query(enrollment_listing_pk(workspace_id, campaign_id)):
            if isinstance(item, EnrollmentItem) and item.status in IN_SEQUENCE and item.mailbox_id == mailbox_id:
                yield item

    def unassign_mailbox(self, item: EnrollmentItem, mailbox_id: str, when: datetime) -> bool:
        """Clear the enrollment's mailbox (deleted) and move its next send to `when` (staying parked if it is), if it
        is still as read and still assigned to `mailbox_id`; False otherwise (a repeated call finds it cleared)."""
        actions: list[Any] = [EnrollmentItem.mailbox_id.remove(), EnrollmentItem.next_send_at.set(when)]
        if item.due_pk and not item.due_pk.startswith(keys.PARK_PREFIX):
            due_pk, due_sk = keys.send_due_keys(item.pk, item.sk, when)
            actions += [EnrollmentItem.due_pk.set(due_pk), EnrollmentItem.due_sk.set(due_sk)]
        condition = (
            (EnrollmentItem.status == item.status)
            & (EnrollmentItem.current_step == int(item.current_step or 0))
            & (EnrollmentItem.mailbox_id == mailbox_id)
        )
        try:
            EnrollmentItem(pk=item.pk, sk=item.sk).update(actions=actions, condition=condition)
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def unpark(self, item: EnrollmentItem) -> bool:
        """Back from the campaign's park into its due shard, at the due time it had."""
        shard, _ = keys.send_due_keys(item.pk, item.sk, item.next_send_at or item.created_at)
        try:
            EnrollmentItem(pk=item.pk, sk=item.sk).update(
                actions=[EnrollmentItem.due_pk.set(shard)],
                condition=EnrollmentItem.due_pk == (item.due_pk or ""),
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def schedule_pending(self, workspace_id: str, campaign_id: str, at: datetime) -> int:
        """Give every pending enrollment of a campaign without a next send one at `at` (enrollments written
        before the enrollment module set due keys itself). Reads the campaign's enrollment listing once."""

        count = 0
        for item in EnrollmentItem.gsi1.query(enrollment_listing_pk(workspace_id, campaign_id)):
            if not isinstance(item, EnrollmentItem) or item.status != "pending" or item.due_pk:
                continue
            due_pk, due_sk = keys.send_due_keys(item.pk, item.sk, at)
            try:
                EnrollmentItem(pk=item.pk, sk=item.sk).update(
                    actions=[
                        EnrollmentItem.next_send_at.set(at),
                        EnrollmentItem.due_pk.set(due_pk),
                        EnrollmentItem.due_sk.set(due_sk),
                    ],
                    condition=(EnrollmentItem.status == "pending") & EnrollmentItem.due_pk.does_not_exist(),
                )
                count += 1
            except UpdateError as exc:
                if not condition_failed(exc):
                    raise
        return count

    def set_status(
        self,
        workspace_id: str,
        campaign_id: str,
        prospect_id: str,
        current: str,
        target: str,
        reason: str | None,
        at: datetime,
        *,
        due: datetime | None = None,
    ) -> bool:
        """Move an enrollment from `current` to `target` (a stop, a failure), out of the due index, and move the
        campaign's enrollment summary with it; False when its status is no longer `current`. `due`: back into the
        sequence instead, next send at `due` (an out-of-office resume)."""
        pk = campaign_pk(workspace_id, campaign_id)
        actions: list[Any] = [
            EnrollmentItem.status.set(target),
            EnrollmentItem.previous_status.set(current),
            EnrollmentItem.updated_at.set(at),
            EnrollmentItem.gsi2sk.set(time_ordered_sk(_ts(at), prospect_id)),
        ]
        if due is None:
            actions += [
                EnrollmentItem.next_send_at.remove(),
                EnrollmentItem.due_pk.remove(),
                EnrollmentItem.due_sk.remove(),
            ]
        else:
            due_pk, due_sk = keys.send_due_keys(pk, enrollment_sk(prospect_id), due)
            actions += [
                EnrollmentItem.next_send_at.set(due),
                EnrollmentItem.due_pk.set(due_pk),
                EnrollmentItem.due_sk.set(due_sk),
            ]
        actions.append(EnrollmentItem.stopped_reason.set(reason) if reason else EnrollmentItem.stopped_reason.remove())
        for attempt in range(CONFLICT_RETRIES):
            try:
                with transaction() as tx:
                    tx.update(
                        EnrollmentItem(pk=pk, sk=enrollment_sk(prospect_id)),
                        actions=actions,
                        condition=EnrollmentItem.status == current,
                    )
                    tx.update(
                        EnrollmentSummaryItem(pk=pk, sk=ENROLLMENT_SUMMARY_SK),
                        actions=[
                            getattr(EnrollmentSummaryItem, f"n_{current}").add(-1),
                            getattr(EnrollmentSummaryItem, f"n_{target}").add(1),
                            EnrollmentSummaryItem.updated_at.set(at),
                        ],
                    )
                return True
            except TransactWriteError as exc:
                codes = cancellation_codes(exc)
                if not any(codes):
                    raise
                if not _is_conflict_only(codes):
                    return False
                time.sleep(min(0.02 * 2**attempt, 0.5) * (0.5 + random.random()))
        return False

    # --- campaign sending state ----------------------------------------------------------------------------------

    def watch_campaign(
        self, workspace_id: str, campaign_id: str, when: datetime, *, parked: bool | None = None
    ) -> None:
        """Have the scheduler look at the campaign at `when` (parked enrollments, completion, cooldown)."""
        pk = campaign_pk(workspace_id, campaign_id)
        actions: list[Any] = [
            CampaignStateItem.workspace_id.set(workspace_id),
            CampaignStateItem.campaign_id.set(campaign_id),
            CampaignStateItem.due_pk.set(keys.CAMPAIGN_WATCH_PK),
            CampaignStateItem.due_sk.set(keys.campaign_watch_sk(pk, when)),
        ]
        if parked is not None:
            actions.append(CampaignStateItem.parked.set(parked))
        CampaignStateItem(pk=pk, sk=CAMPAIGN_STATE_SK).update(actions=actions)

    def unwatch_campaign(self, workspace_id: str, campaign_id: str, seen_due_sk: str) -> None:
        try:
            CampaignStateItem(pk=campaign_pk(workspace_id, campaign_id), sk=CAMPAIGN_STATE_SK).update(
                actions=[CampaignStateItem.due_pk.remove(), CampaignStateItem.due_sk.remove()],
                condition=CampaignStateItem.due_sk == seen_due_sk,
            )
        except UpdateError as exc:
            if not condition_failed(exc):
                raise

    def add_complaint(self, workspace_id: str, campaign_id: str) -> int:
        item = CampaignStateItem(pk=campaign_pk(workspace_id, campaign_id), sk=CAMPAIGN_STATE_SK)
        item.update(
            actions=[
                CampaignStateItem.workspace_id.set(workspace_id),
                CampaignStateItem.campaign_id.set(campaign_id),
                CampaignStateItem.complaints.add(1),
            ]
        )
        return int(item.complaints or 0)

    def set_cooldown(
        self,
        workspace_id: str,
        campaign_id: str,
        until: datetime | None,
        *,
        baseline: tuple[int, int, int] | None = None,
        extensions: int | None = None,
    ) -> None:
        """Record the cooldown's end (None: none) and, when given, the (sent, bounced, complaints) baseline later
        checks measure from and the count of failed re-checks in a row; watched at `until` so the re-check runs."""
        pk = campaign_pk(workspace_id, campaign_id)
        actions: list[Any] = [
            CampaignStateItem.workspace_id.set(workspace_id),
            CampaignStateItem.campaign_id.set(campaign_id),
            CampaignStateItem.cooldown_until.set(until) if until else CampaignStateItem.cooldown_until.remove(),
        ]
        if until is not None:
            actions += [
                CampaignStateItem.due_pk.set(keys.CAMPAIGN_WATCH_PK),
                CampaignStateItem.due_sk.set(keys.campaign_watch_sk(pk, until)),
            ]
        if baseline is not None:
            actions += [
                CampaignStateItem.base_sent.set(baseline[0]),
                CampaignStateItem.base_bounced.set(baseline[1]),
                CampaignStateItem.base_complaints.set(baseline[2]),
            ]
        if extensions is not None:
            actions.append(CampaignStateItem.cooldown_extensions.set(extensions))
        CampaignStateItem(pk=pk, sk=CAMPAIGN_STATE_SK).update(actions=actions)

    # --- mailbox health --------------------------------------------------------------------------------------------

    def save_backoff(self, workspace_id: str, mailbox_id: str, state: BackoffState) -> None:
        encoded = backoff_json(state)
        item = MailboxStateItem(*self.mailbox_state_key(workspace_id, mailbox_id))
        item.update(actions=[MailboxStateItem.backoff.set(encoded) if encoded else MailboxStateItem.backoff.remove()])

    def record_last_send(self, workspace_id: str, mailbox_id: str, at: datetime) -> None:
        item = MailboxStateItem(*self.mailbox_state_key(workspace_id, mailbox_id))
        item.update(actions=[MailboxStateItem.last_send_at.set(at)])

    def auth_result(self, workspace_id: str, mailbox_id: str, *, failed: bool) -> int:
        """Count a refused login (returns the consecutive failures) or reset the count after a good one."""
        item = MailboxStateItem(*self.mailbox_state_key(workspace_id, mailbox_id))
        if failed:
            item.update(actions=[MailboxStateItem.auth_failures.add(1)])
            return int(item.auth_failures or 0)
        item.update(actions=[MailboxStateItem.auth_failures.remove()])
        return 0

    def host_circuits(self, hosts: Iterable[str]) -> dict[str, HostCircuit]:
        keys = {self.host_key(h): host_key(h) for h in hosts}
        raw = self.get_raw(keys)
        found: dict[str, HostCircuit] = {}
        for key, name in keys.items():
            data = raw.get(key)
            if data is None:
                found[name] = HostCircuit()
                continue
            item = HostCircuitItem.from_raw_data(data)
            found[name] = HostCircuit(int(item.failures or 0), item.open_until)
        return found

    def save_host_circuit(self, smtp_host: str, circuit: HostCircuit) -> None:
        item = HostCircuitItem(*self.host_key(smtp_host))
        if circuit.consecutive_failures == 0 and circuit.open_until is None:
            item.delete()
            return
        actions: list[Any] = [HostCircuitItem.failures.set(circuit.consecutive_failures)]
        actions.append(
            HostCircuitItem.open_until.set(circuit.open_until)
            if circuit.open_until
            else HostCircuitItem.open_until.remove()
        )
        item.update(actions=actions)


def _status_after(advance: Advance) -> str:
    if advance.kind == "advance":
        return "active"
    if advance.kind == "complete":
        return "completed"
    if advance.kind == "stop":
        assert advance.stop_status is not None
        return advance.stop_status
    return advance.previous_status  # retry: same step later


def _advance_actions(advance: Advance) -> list[Any]:
    pk = campaign_pk(advance.workspace_id, advance.campaign_id)
    sk = enrollment_sk(advance.prospect_id)
    target = _status_after(advance)
    actions: list[Any] = []
    if target != advance.previous_status:
        actions += [
            EnrollmentItem.status.set(target),
            EnrollmentItem.previous_status.set(advance.previous_status),
            EnrollmentItem.updated_at.set(advance.at),
            EnrollmentItem.gsi2sk.set(time_ordered_sk(_ts(advance.at), advance.prospect_id)),
        ]
    if advance.message_id is not None:
        actions.append(_append_thread(advance.message_id))
        actions.append(EnrollmentItem.last_sent_at.set(advance.at))
    if advance.mailbox_id is not None:
        actions.append(EnrollmentItem.mailbox_id.set(advance.mailbox_id))
    if advance.kind == "advance":
        assert advance.next_step_index is not None and advance.next_send_at is not None
        due_pk, due_sk = keys.send_due_keys(pk, sk, advance.next_send_at)
        actions += [
            EnrollmentItem.current_step.set(advance.next_step_index),
            EnrollmentItem.next_send_at.set(advance.next_send_at),
            EnrollmentItem.due_pk.set(due_pk),
            EnrollmentItem.due_sk.set(due_sk),
        ]
    elif advance.kind == "retry":
        assert advance.next_send_at is not None
        due_pk, due_sk = keys.send_due_keys(pk, sk, advance.next_send_at)
        actions += [
            EnrollmentItem.next_send_at.set(advance.next_send_at),
            EnrollmentItem.due_pk.set(due_pk),
            EnrollmentItem.due_sk.set(due_sk),
        ]
    else:
        if advance.kind == "complete":
            actions.append(EnrollmentItem.current_step.set(advance.step_index + 1))
        actions += [
            EnrollmentItem.next_send_at.remove(),
            EnrollmentItem.due_pk.remove(),
            EnrollmentItem.due_sk.remove(),
        ]
        if advance.reason:
            actions.append(EnrollmentItem.stopped_reason.set(advance.reason))
    return actions


def _append_thread(message_id: str) -> Any:
    # list_append over if_not_exists: the first send of an enrollment creates the list.
    attribute = EnrollmentItem.thread_message_ids
    return attribute.set((attribute | []).append([message_id]))  # type: ignore[operator]


def _ledger_actions(final: LedgerFinal) -> list[Any]:
    actions: list[Any] = [SendItem.status.set(final.status), SendItem.finished_at.set(final.at)]
    if final.sent_at is not None:
        actions.append(SendItem.sent_at.set(final.sent_at))
    actions.append(SendItem.retryable.set(True) if final.retryable else SendItem.retryable.remove())
    actions.append(SendItem.error_code.set(final.error_code) if final.error_code else SendItem.error_code.remove())
    actions.append(SendItem.detail.set(final.detail[:500]) if final.detail else SendItem.detail.remove())
    if final.mailbox_id and final.recipient:
        actions += [
            SendItem.gsi2pk.set(recipient_pk(final.workspace_id, final.mailbox_id, final.recipient)),
            SendItem.gsi2sk.set(time_ordered_sk(_ts(final.sent_at or final.at), final.send_id)),
        ]
    return actions


def _ledger_condition(final: LedgerFinal) -> Any:
    condition = SendItem.status == final.expected
    if final.token is not None:
        condition = condition & (SendItem.token == final.token)
    return condition
