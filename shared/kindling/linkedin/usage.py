"""Per-account LinkedIn usage counters with atomic, conditional reservations; the one set of caps every campaign and
API call on the account shares.

Items, in the account's usage partition `ws#LIUSAGE#<account id>` (kindling.platform.keys, "LinkedIn"):
- a counter per dimension and period, sk `USE#<dimension>#<period start>` (`2026-06-10` for a day, the week's
  Monday for `invites_week`): `used` and `reservations` (the string set of the live reservation ids). A new period
  is a new item, so nothing unused carries over (no burst catch-up); each counter expires 8 days after its period;
- the pacer, sk `PACE`: the instants (epoch milliseconds) of the account's last two actions, `older_ms` and
  `newer_ms`; it expires a day after the last action;
- the activity tallies, sk `ACT#day#<date>` and `ACT#week#<Monday>`: what the account DID (views, invites,
  messages, inmails, engagements, connections), one ADD per success on each, put by `add_activity` into the
  transaction that records the success itself (the ledger's `done`, the acceptance stamp), so a tally never
  disagrees with what happened (help center L5131-5143). The counters above gate (a reservation is taken before
  the provider call and given back on failure); the tallies only report.

`reserve` is one TransactWriteItems of two updates, so the cap and the pace hold together or nothing is written:
the counter's `ADD used 1, reservations {id}` on condition `used < cap` (or no counter yet), and the pacer's
`SET older_ms = newer_ms, newer_ms = now` on condition that the older of the last two actions is at least 60 s old
(or there is none). Two workers can never both take the last slot: DynamoDB checks each condition against the
item as it is when the transaction commits. A transaction cancelled by a conflicting transaction (not by a
condition) is retried.

A reservation may carry the caller's id (the engine's claim id): the counter's condition also requires that id not
to be in the set yet, so a retried or duplicated action re-reserving under its id gets its reservation back and
counts once (a refusal whose id is already held is that case, not a limit).

`release` hands one reservation's slot back: `ADD used -1, DELETE reservations {id}` on condition the id is still
in the set, so releasing twice (or a retried release) frees one slot. The pacer slot is not given back: the pace
spaces calls out in time, and a released reservation only makes the account wait up to a minute longer.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from kindling.linkedin.limits import (
    ACTIVITY_KINDS,
    ACTIVITY_PERIODS,
    DIMENSIONS,
    PACE_WINDOW_SECONDS,
    ActivityKind,
    Dimension,
    LimitReached,
    PaceLimited,
    activity_period,
    next_reset,
    pace_retry_after,
    period_key,
)
from kindling.platform.dynamo import (
    TableModel,
    batch_get_raw,
    bind_models,
    cancellation_codes,
    condition_failed,
    transaction,
)
from kindling.platform.keys import LINKEDIN_PACE_SK, linkedin_activity_sk, linkedin_usage_pk, linkedin_usage_sk

__all__ = ["Activity", "LimitReached", "PaceLimited", "Reservation", "UsageRepository"]

COUNTER_RETENTION = timedelta(days=8)  # a counter is kept this long after its period ends
PACE_RETENTION = timedelta(days=1)
_CONFLICT_RETRIES = 5


class LinkedInUsageItem(TableModel):
    dimension = UnicodeAttribute(null=True)
    period = UnicodeAttribute(null=True)
    used = NumberAttribute(null=True)
    reservations = UnicodeSetAttribute(null=True)


class LinkedInPaceItem(TableModel):
    older_ms = NumberAttribute(null=True)
    newer_ms = NumberAttribute(null=True)


class LinkedInActivityItem(TableModel):
    period = UnicodeAttribute(null=True)  # `day` or `week`
    starts = UnicodeAttribute(null=True)  # the date the period starts on
    views = NumberAttribute(null=True)
    invites = NumberAttribute(null=True)
    messages = NumberAttribute(null=True)
    inmails = NumberAttribute(null=True)
    engagements = NumberAttribute(null=True)
    connections = NumberAttribute(null=True)


@dataclass(frozen=True)
class Activity:
    """The account's tallies for the day and the week holding a moment (`day`, `week`: their start dates)."""

    day: str
    week: str
    today: dict[ActivityKind, int]
    this_week: dict[ActivityKind, int]


@dataclass(frozen=True)
class Reservation:
    """One slot of one dimension's cap, taken at `reserved_at` in the period starting `period`."""

    reservation_id: str
    workspace_id: str
    account_id: str
    dimension: Dimension
    period: str
    cap: int
    reserved_at: datetime
    resets_at: datetime


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _epoch(when: datetime) -> int:
    return int(when.timestamp())


class UsageRepository:
    def __init__(self) -> None:
        bind_models()

    def reserve(
        self,
        workspace_id: str,
        account_id: str,
        dimension: Dimension,
        cap: int,
        now: datetime,
        *,
        reservation_id: str | None = None,
    ) -> Reservation:
        """Take one slot of `dimension` (cap `cap` this period) and one pace slot, atomically. Raises LimitReached
        when the period's cap is used up, PaceLimited when the account already acted twice in the last 60 s.

        With a `reservation_id` (a claim's id, say), reserving again under the same id in the same period takes
        nothing more and returns the same reservation: a retried or duplicated action counts once."""
        now = now.astimezone(UTC)
        pk = linkedin_usage_pk(workspace_id, account_id)
        period = period_key(dimension, now)
        resets_at = next_reset(dimension, now)
        rid = reservation_id or uuid.uuid4().hex
        held = Reservation(
            reservation_id=rid,
            workspace_id=workspace_id,
            account_id=account_id,
            dimension=dimension,
            period=period,
            cap=cap,
            reserved_at=now,
            resets_at=resets_at,
        )
        if cap <= 0:
            if reservation_id is not None and self._holds(pk, dimension, period, rid):
                return held
            raise LimitReached(dimension, max(cap, 0), self._used(pk, dimension, period), resets_at, now=now)
        for attempt in range(_CONFLICT_RETRIES + 1):
            try:
                with transaction() as tx:
                    self.add_reservation(tx, held)
            except TransactWriteError as exc:
                codes = cancellation_codes(exc)
                if codes[:1] == ["ConditionalCheckFailed"]:
                    if reservation_id is not None and self._holds(pk, dimension, period, rid):
                        return held
                    raise LimitReached(dimension, cap, self._used(pk, dimension, period), resets_at, now=now) from exc
                if codes[1:2] == ["ConditionalCheckFailed"]:
                    raise PaceLimited(pace_retry_after(self._older_action(pk), now), now=now) from exc
                if "TransactionConflict" in codes and attempt < _CONFLICT_RETRIES:
                    time.sleep(0.02 * (attempt + 1))
                    continue
                raise
            break
        return held

    @staticmethod
    def planned(
        workspace_id: str,
        account_id: str,
        dimension: Dimension,
        cap: int,
        now: datetime,
        reservation_id: str,
    ) -> Reservation:
        """The reservation `add_reservation` would take (nothing written)."""
        now = now.astimezone(UTC)
        return Reservation(
            reservation_id=reservation_id,
            workspace_id=workspace_id,
            account_id=account_id,
            dimension=dimension,
            period=period_key(dimension, now),
            cap=cap,
            reserved_at=now,
            resets_at=next_reset(dimension, now),
        )

    @staticmethod
    def add_reservation(tx: TransactWrite, reservation: Reservation) -> None:
        """Put the reservation's two conditional updates (the counter, then the pacer) into a caller's transaction:
        the engine commits them with its `sending` mark, so the cap is reserved in the same request."""
        pk = linkedin_usage_pk(reservation.workspace_id, reservation.account_id)
        now = reservation.reserved_at
        now_ms = _ms(now)
        rid = reservation.reservation_id
        tx.update(
            LinkedInUsageItem(pk=pk, sk=linkedin_usage_sk(reservation.dimension, reservation.period)),
            actions=[
                LinkedInUsageItem.used.add(1),
                LinkedInUsageItem.reservations.add({rid}),
                LinkedInUsageItem.dimension.set(reservation.dimension),
                LinkedInUsageItem.period.set(reservation.period),
                LinkedInUsageItem.expires_at.set(_epoch(reservation.resets_at + COUNTER_RETENTION)),
            ],
            condition=(LinkedInUsageItem.used.does_not_exist() | (LinkedInUsageItem.used < reservation.cap))
            & ~LinkedInUsageItem.reservations.contains(rid),
        )
        tx.update(
            LinkedInPaceItem(pk=pk, sk=LINKEDIN_PACE_SK),
            actions=[
                LinkedInPaceItem.older_ms.set(LinkedInPaceItem.newer_ms | 0),
                LinkedInPaceItem.newer_ms.set(now_ms),
                LinkedInPaceItem.expires_at.set(_epoch(now + PACE_RETENTION)),
            ],
            condition=LinkedInPaceItem.older_ms.does_not_exist()
            | (LinkedInPaceItem.older_ms <= now_ms - PACE_WINDOW_SECONDS * 1000),
        )

    @staticmethod
    def add_activity(tx: TransactWrite, workspace_id: str, account_id: str, kind: ActivityKind, at: datetime) -> None:
        """Put one success of `kind` at `at` on the account's day and week tallies, into the caller's transaction
        (the one that records the success). Unconditional ADDs: they never make the caller's transaction fail."""
        if kind not in ACTIVITY_KINDS:
            raise ValueError(f"unknown LinkedIn activity {kind!r}")
        pk = linkedin_usage_pk(workspace_id, account_id)
        for period in ACTIVITY_PERIODS:
            starts, ends = activity_period(period, at)
            tx.update(
                LinkedInActivityItem(pk=pk, sk=linkedin_activity_sk(period, starts)),
                actions=[
                    getattr(LinkedInActivityItem, kind).add(1),
                    LinkedInActivityItem.period.set(period),
                    LinkedInActivityItem.starts.set(starts),
                    LinkedInActivityItem.expires_at.set(_epoch(ends + COUNTER_RETENTION)),
                ],
            )

    def activity(self, workspace_id: str, account_id: str, now: datetime) -> Activity:
        """The tallies of the day and the week holding `now`: one strongly consistent BatchGetItem."""
        return self.standing(workspace_id, account_id, now, dimensions=())[1]

    def standing(
        self, workspace_id: str, account_id: str, now: datetime, *, dimensions: tuple[Dimension, ...] = DIMENSIONS
    ) -> tuple[dict[Dimension, int], Activity]:
        """What each of `dimensions` used in the period holding `now` (today, or this week for the weekly cap), and
        the tallies of the day and the week holding it: one strongly consistent BatchGetItem for both."""
        pk = linkedin_usage_pk(workspace_id, account_id)
        used_keys = {d: (pk, linkedin_usage_sk(d, period_key(d, now))) for d in dimensions}
        day, _ = activity_period("day", now)
        week, _ = activity_period("week", now)
        day_key, week_key = (pk, linkedin_activity_sk("day", day)), (pk, linkedin_activity_sk("week", week))
        found = batch_get_raw([*used_keys.values(), day_key, week_key], attributes=("used", *ACTIVITY_KINDS))

        def number(key: tuple[str, str], name: str) -> int:
            raw = found.get(key, {}).get(name)
            return int(raw["N"]) if raw else 0

        def tallies(key: tuple[str, str]) -> dict[ActivityKind, int]:
            return {kind: number(key, kind) for kind in ACTIVITY_KINDS}

        used = {d: number(key, "used") for d, key in used_keys.items()}
        return used, Activity(day=day, week=week, today=tallies(day_key), this_week=tallies(week_key))

    def release(self, reservation: Reservation) -> bool:
        """Give the reservation's slot back; False (nothing changed) when it was already released."""
        item = LinkedInUsageItem(
            pk=linkedin_usage_pk(reservation.workspace_id, reservation.account_id),
            sk=linkedin_usage_sk(reservation.dimension, reservation.period),
        )
        try:
            item.update(
                actions=[
                    LinkedInUsageItem.used.add(-1),
                    LinkedInUsageItem.reservations.delete({reservation.reservation_id}),
                ],
                condition=LinkedInUsageItem.reservations.contains(reservation.reservation_id),
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def usage(self, workspace_id: str, account_id: str, now: datetime) -> dict[Dimension, int]:
        """What each dimension used in the period holding `now` (today, or this week for the weekly cap): one
        strongly consistent BatchGetItem."""
        return self.standing(workspace_id, account_id, now)[0]

    @staticmethod
    def _used(pk: str, dimension: Dimension, period: str) -> int:
        try:
            item = LinkedInUsageItem.get(pk, linkedin_usage_sk(dimension, period), consistent_read=True)
        except LinkedInUsageItem.DoesNotExist:
            return 0
        return int(item.used or 0)

    @staticmethod
    def _holds(pk: str, dimension: Dimension, period: str, reservation_id: str) -> bool:
        try:
            item = LinkedInUsageItem.get(pk, linkedin_usage_sk(dimension, period), consistent_read=True)
        except LinkedInUsageItem.DoesNotExist:
            return False
        return reservation_id in (item.reservations or set())

    @staticmethod
    def _older_action(pk: str) -> datetime | None:
        try:
            item = LinkedInPaceItem.get(pk, LINKEDIN_PACE_SK, consistent_read=True)
        except LinkedInPaceItem.DoesNotExist:
            return None
        if not item.older_ms:
            return None
        return datetime.fromtimestamp(int(item.older_ms) / 1000, tz=UTC)


def pace_key(workspace_id: str, account_id: str) -> tuple[str, str]:
    """The (pk, sk) of the account's pacer item (for a caller's batch read)."""
    return linkedin_usage_pk(workspace_id, account_id), LINKEDIN_PACE_SK


def pace_budget(raw: dict[str, Any] | None, now: datetime) -> int:
    """How many actions the account's pacer (its raw item, None: never used) lets through at `now`: 2 minus its
    last two actions that are less than 60 s old."""
    if not raw:
        return 2
    horizon = _ms(now) - PACE_WINDOW_SECONDS * 1000
    recent = 0
    for name in ("older_ms", "newer_ms"):
        value = raw.get(name, {}).get("N")
        if value is not None and int(value) > horizon:
            recent += 1
    return 2 - recent
