"""The LinkedIn action engine's DynamoDB access: the due shards, the action ledger (the claim), the enrollment's
LinkedIn side, the per-step LinkedIn counters, the peer index, the inbound rows and the account's engine state.

Like the email ledger (kindling.sending.repository) it commits cross-entity transactions, so it declares its own
views of the enrollment, the enrollment summary and the step counter items (the attributes it writes), beside its
own items. Every success is ONE transaction: the ledger item `done`, the enrollment moved on, the step counter,
the peer index row, the account's day and week tallies (kindling.linkedin.usage) and the success's event
(kindling.events), the last two put in by their owners' code (`also`). An acceptance is one transaction the
same way (`stamp`: the stamp, the step counter, the connections tally, the event); so is a reply's stamp with its
counter (its events go through the catalogue's dedup after it, as the email engine's replies do).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from kindling.linkedin.models import LinkedInAccount
from kindling.linkedin.repository import account_from_raw, account_key
from kindling.linkedin.usage import pace_budget, pace_key
from kindling.platform import keys, table
from kindling.platform.clock import isoformat
from kindling.platform.dynamo import (
    TableModel,
    batch_get_raw,
    bind_models,
    cancellation_codes,
    condition_failed,
    transaction,
)

CONFLICT_RETRIES = 5
CLAIMS_PER_TRANSACTION = 12  # two items per claim: 24 items (moto's TransactWriteItems limit is 25, DynamoDB's 100)
LI_COUNTERS = ("views", "invites", "acceptances", "messages", "replies")


CONDITION_CHECK_FAILED = "ConditionalCheckFailed"


def _ts(when: datetime) -> str:
    return isoformat(when) or ""


class LinkedInEnrollmentItem(TableModel):
    """The enrollment item (owned by kindling.enrollments) seen from the LinkedIn engine: what it reads and the
    LinkedIn attributes it owns (`li_*`)."""

    enrollment_id = UnicodeAttribute()
    campaign_id = UnicodeAttribute()
    prospect_id = UnicodeAttribute()
    email = UnicodeAttribute()
    first_name = UnicodeAttribute(null=True)
    last_name = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    previous_status = UnicodeAttribute(null=True)
    current_step = NumberAttribute(default=0)
    next_send_at = UTCDateTimeAttribute(null=True)
    last_sent_at = UTCDateTimeAttribute(null=True)
    stopped_reason = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)
    li_account_id = UnicodeAttribute(null=True)  # sticky once an invite went out from it
    li_member_id = UnicodeAttribute(null=True)  # the prospect's LinkedIn member id (provider id)
    li_state = UnicodeAttribute(null=True)  # the disposition streaks (JSON)
    li_status = UnicodeAttribute(null=True)  # paused_account / unresolved_url / failed (None: normal)
    li_invited_at = UTCDateTimeAttribute(null=True)
    li_invite_step = UnicodeAttribute(null=True)  # the step id of the invite (acceptances count there)
    li_accepted_at = UTCDateTimeAttribute(null=True)
    li_replied_at = UTCDateTimeAttribute(null=True)
    li_reply_step = UnicodeAttribute(null=True)
    li_wait_until = UTCDateTimeAttribute(null=True)  # the current wait step's deadline
    li_wait_timed_out = NumberAttribute(null=True)  # 1 once a wait_accept ran out (later acceptances not counted)
    li_chat_id = UnicodeAttribute(null=True)


class LinkedInSummaryItem(TableModel):
    """The campaign's enrollment summary (owned by kindling.enrollments): the status counters moved with a status."""

    n_pending = NumberAttribute(null=True)
    n_active = NumberAttribute(null=True)
    n_replied = NumberAttribute(null=True)
    n_completed = NumberAttribute(null=True)
    n_failed = NumberAttribute(null=True)
    n_stopped = NumberAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)


class LinkedInStepCounterItem(TableModel):
    """A step's counter item `C#STATS#S#<step id>` (read by kindling.campaigns): the LinkedIn counters."""

    kind = UnicodeAttribute(null=True)
    li_views = NumberAttribute(null=True)
    li_invites = NumberAttribute(null=True)
    li_acceptances = NumberAttribute(null=True)
    li_messages = NumberAttribute(null=True)
    li_replies = NumberAttribute(null=True)


class LinkedInActionItem(TableModel):
    """One (enrollment, step) action: claimed by the scheduler, `sending` while the provider is called, then done
    / skipped / failed. Its existence is the claim: a second tick or a duplicate delivery cannot act again."""

    action_id = UnicodeAttribute()
    campaign_id = UnicodeAttribute()
    prospect_id = UnicodeAttribute()
    step_id = UnicodeAttribute()
    step_index = NumberAttribute()
    status = UnicodeAttribute()
    account_id = UnicodeAttribute(null=True)
    attempt = NumberAttribute(default=0)
    attempt_at = UTCDateTimeAttribute(null=True)
    claimed_at = UTCDateTimeAttribute()
    finished_at = UTCDateTimeAttribute(null=True)
    outcome = UnicodeAttribute(null=True)


class LinkedInPeerItem(TableModel):
    campaign_id = UnicodeAttribute()
    prospect_id = UnicodeAttribute()
    enrollment_id = UnicodeAttribute()


class LinkedInInboundItem(TableModel):
    account_id = UnicodeAttribute()
    message_id = UnicodeAttribute()
    chat_id = UnicodeAttribute(null=True)
    sender_member_id = UnicodeAttribute(null=True)
    text = UnicodeAttribute(null=True)
    received_at = UTCDateTimeAttribute()
    campaign_ids = UnicodeAttribute(null=True)  # the campaigns it was attributed to (comma separated)
    source = UnicodeAttribute()  # webhook / poll


class LinkedInEngineStateItem(TableModel):
    cooldown_until = UTCDateTimeAttribute(null=True)
    relations_polled_at = UTCDateTimeAttribute(null=True)
    inbox_polled_at = UTCDateTimeAttribute(null=True)


class LinkedInCampaignView(TableModel):
    """The campaign item (owned by kindling.campaigns) as the worker's `sending` transaction checks it: its status
    and the version every change bumps."""

    status = UnicodeAttribute(null=True)
    version = NumberAttribute(null=True)


class LinkedInAccountView(TableModel):
    """A LinkedIn account item (owned by kindling.linkedin) as the `sending` transaction checks it."""

    status = UnicodeAttribute(null=True)
    version = NumberAttribute(null=True)


class LinkedInProspectView(TableModel):
    """The prospect item (owned by kindling.prospects): the `sending` transaction checks that it still exists."""


class LinkedInCampaignRefItem(TableModel):
    """A campaign reference in a due partition (`DUE#LIWATCH`, `DUE#LIPAUSED`), stored in the campaign's partition."""

    workspace_id = UnicodeAttribute()
    campaign_id = UnicodeAttribute()
    account_id = UnicodeAttribute(null=True)


@dataclass(frozen=True)
class Advance:
    """How a success moves the enrollment on."""

    next_step: int
    status: str  # the enrollment's status after it (active / completed / unchanged)
    due: tuple[str, str] | None  # (due_pk, due_sk), None: out of the due index
    next_at: datetime | None
    wait_until: datetime | None = None


@dataclass(frozen=True)
class Claim:
    """One action the tick claims: the ledger item to create and the enrollment to move to its lease."""

    action_id: str
    item: LinkedInEnrollmentItem
    step_id: str
    step_index: int


@dataclass(frozen=True)
class FastStart:
    """What the worker's one-request `sending` transaction checks and takes: the campaign, enrollment, prospect and
    account as the message and the worker's cache hold them, the account's invite cooldown, the cap reservation."""

    workspace_id: str
    action_id: str
    item: LinkedInEnrollmentItem
    campaign_version: int
    account_id: str
    account_version: int
    check_cooldown: bool
    reserve: Callable[[TransactWrite], None] | None = None


@dataclass
class PoolState:
    """A campaign's account pool as one batch read found it: the accounts, their invite cooldowns and how many
    actions their pacers let through now."""

    accounts: dict[str, LinkedInAccount] = field(default_factory=dict)
    cooldowns: dict[str, datetime] = field(default_factory=dict)
    pace: dict[str, int] = field(default_factory=dict)


def _jitter_sleep(attempt: int) -> None:
    time.sleep(min(0.02 * 2**attempt, 0.5) * (0.5 + random.random()))


class OutreachRepository:
    def __init__(self) -> None:
        bind_models()

    # --- due shards ---------------------------------------------------------------------------------------------
    def due(self, shard: str, now: datetime, limit: int) -> list[LinkedInEnrollmentItem]:
        results = LinkedInEnrollmentItem.due.query(
            shard, LinkedInEnrollmentItem.due_sk <= keys.upper(now), limit=limit, page_size=min(limit, 1000)
        )
        return [i for i in results if isinstance(i, LinkedInEnrollmentItem)]

    def parked(self, workspace_id: str, campaign_id: str, limit: int) -> list[LinkedInEnrollmentItem]:
        results = LinkedInEnrollmentItem.due.query(keys.li_park_pk(workspace_id, campaign_id), limit=limit)
        return [i for i in results if isinstance(i, LinkedInEnrollmentItem)]

    def enrollment(self, workspace_id: str, campaign_id: str, prospect_id: str) -> LinkedInEnrollmentItem | None:
        try:
            return LinkedInEnrollmentItem.get(
                keys.campaign_pk(workspace_id, campaign_id), keys.enrollment_sk(prospect_id), consistent_read=True
            )
        except DoesNotExist:
            return None

    def move_due(
        self,
        item: LinkedInEnrollmentItem,
        when: datetime | None,
        *,
        park: tuple[str, str] | None = None,
        email: bool = False,
    ) -> bool:
        """Move a due enrollment to `when` (None: out of the index) in the LinkedIn shards, its campaign's park
        partition, or (`email`) the email scheduler's shards; False when it moved meanwhile."""
        actions: list[Any]
        if when is None:
            actions = [LinkedInEnrollmentItem.due_pk.remove(), LinkedInEnrollmentItem.due_sk.remove()]
        else:
            if email:
                due_pk, due_sk = keys.send_due_keys(item.pk, item.sk, when)
            else:
                due_pk, due_sk = keys.li_due_keys(item.pk, item.sk, when)
            if park is not None:
                due_pk = keys.li_park_pk(*park)
            actions = [
                LinkedInEnrollmentItem.due_pk.set(due_pk),
                LinkedInEnrollmentItem.due_sk.set(due_sk),
                LinkedInEnrollmentItem.next_send_at.set(when),
            ]
        try:
            item.update(actions=actions, condition=LinkedInEnrollmentItem.due_sk == (item.due_sk or ""))
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def set_wait(self, item: LinkedInEnrollmentItem, deadline: datetime) -> bool:
        """A wait step starts: its deadline stored and the enrollment due at it (one conditional update)."""
        due_pk, due_sk = keys.li_due_keys(item.pk, item.sk, deadline)
        try:
            item.update(
                actions=[
                    LinkedInEnrollmentItem.li_wait_until.set(deadline),
                    LinkedInEnrollmentItem.due_pk.set(due_pk),
                    LinkedInEnrollmentItem.due_sk.set(due_sk),
                    LinkedInEnrollmentItem.next_send_at.set(deadline),
                ],
                condition=LinkedInEnrollmentItem.due_sk == (item.due_sk or ""),
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def hand_over(self, pk: str, sk: str, due_sk: str | None, when: datetime) -> bool:
        """An enrollment the email scheduler found at a LinkedIn step moves to the LinkedIn shards."""
        item = LinkedInEnrollmentItem(pk=pk, sk=sk)
        item.due_sk = due_sk
        return self.move_due(item, when)

    # --- campaign references (watch: parked steps; paused: auto-resume) ----------------------------------------
    def put_ref(self, due_pk: str, workspace_id: str, campaign_id: str, account_id: str | None = None) -> None:
        sk = keys.LI_WATCH_SK if due_pk == keys.LI_WATCH_PK else keys.LI_PAUSED_SK
        LinkedInCampaignRefItem(
            pk=keys.campaign_pk(workspace_id, campaign_id),
            sk=sk,
            due_pk=due_pk,
            due_sk=keys.li_campaign_ref_sk(workspace_id, campaign_id),
            workspace_id=workspace_id,
            campaign_id=campaign_id,
            account_id=account_id,
        ).save()

    def refs(self, due_pk: str) -> list[LinkedInCampaignRefItem]:
        return [i for i in LinkedInCampaignRefItem.due.query(due_pk) if isinstance(i, LinkedInCampaignRefItem)]

    def drop_ref(self, ref: LinkedInCampaignRefItem) -> None:
        LinkedInCampaignRefItem(pk=ref.pk, sk=ref.sk).delete()

    # --- the ledger ---------------------------------------------------------------------------------------------
    def claim_with_lease(
        self, workspace_id: str, claims: Sequence[Claim], now: datetime, lease_until: datetime
    ) -> bool:
        """Claim actions and move their enrollments to the lease in ONE transaction (at most
        CLAIMS_PER_TRANSACTION): each ledger item created on condition it does not exist, each enrollment moved on
        condition its due key is still the one the tick read. False, with nothing written, when any condition
        failed (the caller claims them one at a time to find out which)."""
        for attempt in range(CONFLICT_RETRIES):
            try:
                with transaction() as tx:
                    for claim in claims:
                        item = claim.item
                        tx.save(
                            self._ledger(workspace_id, claim, now), condition=LinkedInActionItem.pk.does_not_exist()
                        )
                        due_pk, due_sk = keys.li_due_keys(item.pk, item.sk, lease_until)
                        tx.update(
                            LinkedInEnrollmentItem(pk=item.pk, sk=item.sk),
                            actions=[
                                LinkedInEnrollmentItem.due_pk.set(due_pk),
                                LinkedInEnrollmentItem.due_sk.set(due_sk),
                                LinkedInEnrollmentItem.next_send_at.set(lease_until),
                            ],
                            condition=LinkedInEnrollmentItem.due_sk == (item.due_sk or ""),
                        )
                return True
            except TransactWriteError as exc:
                codes = cancellation_codes(exc)
                if not any(codes):
                    raise
                if CONDITION_CHECK_FAILED in codes:
                    return False
                _jitter_sleep(attempt)
        return False

    @staticmethod
    def _ledger(workspace_id: str, claim: Claim, now: datetime) -> LinkedInActionItem:
        return LinkedInActionItem(
            pk=keys.li_action_pk(workspace_id, claim.action_id),
            sk=table.ITEM_SK,
            action_id=claim.action_id,
            campaign_id=claim.item.campaign_id,
            prospect_id=claim.item.prospect_id,
            step_id=claim.step_id,
            step_index=claim.step_index,
            status="claimed",
            attempt=0,
            claimed_at=now,
        )

    def pool(self, workspace_id: str, account_ids: Sequence[str], now: datetime) -> PoolState:
        """A campaign's pool in ONE strongly consistent BatchGetItem (up to 33 accounts per request): each account,
        its engine state (the invite cooldown) and its pacer."""
        wanted: list[tuple[str, str]] = []
        for account_id in dict.fromkeys(account_ids):
            account_pk = keys.linkedin_account_pk(workspace_id, account_id)
            wanted += [account_key(workspace_id, account_id), (account_pk, keys.LI_ENGINE_SK)]
            wanted.append(pace_key(workspace_id, account_id))
        raw = batch_get_raw(wanted)
        state = PoolState()
        for account_id in dict.fromkeys(account_ids):
            account_raw = raw.get(account_key(workspace_id, account_id))
            if account_raw is None:
                continue
            state.accounts[account_id] = account_from_raw(workspace_id, account_raw)
            engine_raw = raw.get((keys.linkedin_account_pk(workspace_id, account_id), keys.LI_ENGINE_SK))
            if engine_raw is not None:
                until = LinkedInEngineStateItem.from_raw_data(engine_raw).cooldown_until
                if until is not None:
                    state.cooldowns[account_id] = until
            state.pace[account_id] = pace_budget(raw.get(pace_key(workspace_id, account_id)), now)
        return state

    def prospects(self, workspace_id: str, prospect_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Prospects' raw items by id, in strongly consistent BatchGetItems of 100 (missing ones left out)."""
        wanted = {pid: (keys.prospect_pk(workspace_id, pid), table.ITEM_SK) for pid in prospect_ids}
        raw = batch_get_raw(wanted.values())
        return {pid: raw[key] for pid, key in wanted.items() if key in raw}

    def action(self, workspace_id: str, action_id: str) -> LinkedInActionItem | None:
        try:
            return LinkedInActionItem.get(
                keys.li_action_pk(workspace_id, action_id), table.ITEM_SK, consistent_read=True
            )
        except DoesNotExist:
            return None

    def action_reads(
        self, workspace_id: str, action_id: str, campaign_id: str, prospect_id: str
    ) -> tuple[LinkedInActionItem | None, LinkedInEnrollmentItem | None, dict[str, Any] | None]:
        """The worker's reads in ONE strongly consistent BatchGetItem: the ledger item, the enrollment and the
        prospect's raw item (None for each one missing)."""
        ledger_key = (keys.li_action_pk(workspace_id, action_id), table.ITEM_SK)
        enrollment_key = (keys.campaign_pk(workspace_id, campaign_id), keys.enrollment_sk(prospect_id))
        prospect_key = (keys.prospect_pk(workspace_id, prospect_id), table.ITEM_SK)
        raw = batch_get_raw([ledger_key, enrollment_key, prospect_key])
        ledger = LinkedInActionItem.from_raw_data(raw[ledger_key]) if ledger_key in raw else None
        item = LinkedInEnrollmentItem.from_raw_data(raw[enrollment_key]) if enrollment_key in raw else None
        return ledger, item, raw.get(prospect_key)

    def start_attempt(self, ledger: LinkedInActionItem, account_id: str, now: datetime) -> bool:
        """`sending` from the account: the provider may be called from here on. Conditional on the attempt read, so
        two deliveries of one message cannot both call the provider."""
        try:
            ledger.update(
                actions=[
                    LinkedInActionItem.status.set("sending"),
                    LinkedInActionItem.account_id.set(account_id),
                    LinkedInActionItem.attempt.set(int(ledger.attempt or 0) + 1),
                    LinkedInActionItem.attempt_at.set(now),
                ],
                condition=(LinkedInActionItem.attempt == int(ledger.attempt or 0))
                & LinkedInActionItem.status.is_in("claimed", "sending"),
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def start_fast(self, start: FastStart, now: datetime) -> LinkedInActionItem | None:
        """The worker's `sending` mark in ONE transaction, with ConditionChecks instead of reads: the ledger item goes
        from `claimed` to `sending` (attempt 1) only if the campaign is still running at the version the worker
        holds, the enrollment still at the step and status the tick read, the prospect still there, the account
        still connected at the version held and (invites) out of its cooldown; the cap reservation (`reserve`)
        commits with it. None, with nothing written, when any of it failed: the caller takes the slow path."""
        ws, item = start.workspace_id, start.item
        ledger = LinkedInActionItem(pk=keys.li_action_pk(ws, start.action_id), sk=table.ITEM_SK)
        account_pk = keys.linkedin_account_pk(ws, start.account_id)
        try:
            with transaction() as tx:
                tx.update(
                    ledger,
                    actions=[
                        LinkedInActionItem.status.set("sending"),
                        LinkedInActionItem.account_id.set(start.account_id),
                        LinkedInActionItem.attempt.set(1),
                        LinkedInActionItem.attempt_at.set(now),
                    ],
                    condition=LinkedInActionItem.status == "claimed",
                )
                tx.condition_check(
                    LinkedInCampaignView,
                    keys.campaign_pk(ws, item.campaign_id),
                    table.ITEM_SK,
                    condition=(LinkedInCampaignView.status == "running")
                    & (LinkedInCampaignView.version == start.campaign_version),
                )
                tx.condition_check(
                    LinkedInEnrollmentItem,
                    item.pk,
                    item.sk,
                    condition=(LinkedInEnrollmentItem.status == str(item.status))
                    & (LinkedInEnrollmentItem.current_step == int(item.current_step or 0)),
                )
                tx.condition_check(
                    LinkedInProspectView,
                    keys.prospect_pk(ws, item.prospect_id),
                    table.ITEM_SK,
                    condition=LinkedInProspectView.pk.exists(),
                )
                tx.condition_check(
                    LinkedInAccountView,
                    account_pk,
                    table.ITEM_SK,
                    condition=(LinkedInAccountView.status == "connected")
                    & (LinkedInAccountView.version == start.account_version),
                )
                if start.check_cooldown:
                    tx.condition_check(
                        LinkedInEngineStateItem,
                        account_pk,
                        keys.LI_ENGINE_SK,
                        condition=LinkedInEngineStateItem.cooldown_until.does_not_exist()
                        | (LinkedInEngineStateItem.cooldown_until <= now),
                    )
                if start.reserve is not None:
                    start.reserve(tx)
        except TransactWriteError as exc:
            if not any(cancellation_codes(exc)):
                raise
            return None
        ledger.status = "sending"
        ledger.account_id = start.account_id
        ledger.attempt = 1
        ledger.attempt_at = now
        return ledger

    def release_claim(self, ledger: LinkedInActionItem) -> None:
        """The action will be tried again later: the ledger item goes (the enrollment stays due at its retry)."""
        ledger.delete(condition=LinkedInActionItem.status.is_in("claimed", "sending"))

    # --- the outcome: one transaction -------------------------------------------------------------------------
    def finish(
        self,
        workspace_id: str,
        ledger: LinkedInActionItem | None,
        item: LinkedInEnrollmentItem,
        now: datetime,
        *,
        outcome: str,
        advance: Advance | None,
        status: str | None = None,
        reason: str | None = None,
        counter: tuple[str, str] | None = None,
        extra: list[Any] | None = None,
        peer: tuple[str, str] | None = None,
        retry: tuple[str, str, datetime] | None = None,
        also: Sequence[Callable[[TransactWrite], None]] = (),
    ) -> bool:
        """Record an action's outcome in one transaction: the ledger item (`done`/`skipped`/`failed`, or deleted
        when `retry`), the enrollment (advanced, stopped, or due again at `retry`), the step counter (`counter` =
        (step id, counter name)), the peer index row (`peer` = (account id, member id)), and what `also` puts in
        (other owners' unconditional items: the account's activity tallies, the success's event). Conditional on
        the enrollment's step and status as read: False when it moved meanwhile."""
        pk, sk = item.pk, item.sk
        current = str(item.status)
        target = status or (advance.status if advance else current)
        actions: list[Any] = [LinkedInEnrollmentItem.updated_at.set(now), *(extra or [])]
        if advance is not None:
            actions.append(LinkedInEnrollmentItem.current_step.set(advance.next_step))
            actions.append(LinkedInEnrollmentItem.last_sent_at.set(now))
            actions.append(LinkedInEnrollmentItem.li_state.remove())
            actions.append(LinkedInEnrollmentItem.li_status.remove())  # a parked or retried step is over
            actions += (
                [LinkedInEnrollmentItem.li_wait_until.set(advance.wait_until)]
                if advance.wait_until
                else [LinkedInEnrollmentItem.li_wait_until.remove()]
            )
            if advance.due is None:
                actions += [
                    LinkedInEnrollmentItem.due_pk.remove(),
                    LinkedInEnrollmentItem.due_sk.remove(),
                    LinkedInEnrollmentItem.next_send_at.remove(),
                ]
            else:
                actions += [
                    LinkedInEnrollmentItem.due_pk.set(advance.due[0]),
                    LinkedInEnrollmentItem.due_sk.set(advance.due[1]),
                    LinkedInEnrollmentItem.next_send_at.set(advance.next_at or now),
                ]
        elif retry is not None:
            actions += [
                LinkedInEnrollmentItem.due_pk.set(retry[0]),
                LinkedInEnrollmentItem.due_sk.set(retry[1]),
                LinkedInEnrollmentItem.next_send_at.set(retry[2]),
            ]
        elif status is not None and status != current:
            actions += [
                LinkedInEnrollmentItem.due_pk.remove(),
                LinkedInEnrollmentItem.due_sk.remove(),
                LinkedInEnrollmentItem.next_send_at.remove(),
            ]
        if target != current:
            actions += [
                LinkedInEnrollmentItem.status.set(target),
                LinkedInEnrollmentItem.previous_status.set(current),
                LinkedInEnrollmentItem.gsi2sk.set(keys.time_ordered_sk(_ts(now), item.prospect_id)),
            ]
            if reason:
                actions.append(LinkedInEnrollmentItem.stopped_reason.set(reason))
        condition = (LinkedInEnrollmentItem.status == current) & (
            LinkedInEnrollmentItem.current_step == int(item.current_step or 0)
        )
        for attempt in range(CONFLICT_RETRIES):
            try:
                with transaction() as tx:
                    tx.update(LinkedInEnrollmentItem(pk=pk, sk=sk), actions=actions, condition=condition)
                    if ledger is not None:
                        if retry is not None:
                            tx.delete(LinkedInActionItem(pk=ledger.pk, sk=ledger.sk))
                        else:
                            tx.update(
                                LinkedInActionItem(pk=ledger.pk, sk=ledger.sk),
                                actions=[
                                    LinkedInActionItem.status.set(outcome),
                                    LinkedInActionItem.outcome.set(reason or outcome),
                                    LinkedInActionItem.finished_at.set(now),
                                ],
                                condition=LinkedInActionItem.status.is_in("claimed", "sending"),
                            )
                    if target != current:
                        tx.update(
                            LinkedInSummaryItem(pk=pk, sk=keys.ENROLLMENT_SUMMARY_SK),
                            actions=[
                                getattr(LinkedInSummaryItem, f"n_{current}").add(-1),
                                getattr(LinkedInSummaryItem, f"n_{target}").add(1),
                                LinkedInSummaryItem.updated_at.set(now),
                            ],
                        )
                    if counter is not None:
                        tx.update(*self._counter(workspace_id, item.campaign_id, *counter))
                    for put in also:
                        put(tx)
                    if peer is not None:
                        tx.save(self._peer(workspace_id, item, peer))
                return True
            except TransactWriteError as exc:
                codes = cancellation_codes(exc)
                if any(c == "ConditionalCheckFailed" for c in codes) or not any(codes):
                    if not any(codes):
                        raise
                    return False
                _jitter_sleep(attempt)
        return False

    def record_moved_success(
        self,
        workspace_id: str,
        ledger: LinkedInActionItem,
        item: LinkedInEnrollmentItem,
        now: datetime,
        *,
        counter: tuple[str, str] | None,
        extra: list[Any],
        peer: tuple[str, str] | None,
        also: Sequence[Callable[[TransactWrite], None]] = (),
    ) -> bool:
        """An action that went out at the provider while its enrollment moved on (a reply stopped it, it was
        removed or paused: `finish` lost its race): what happened is still recorded, in one transaction: the ledger
        `done` (outcome `done_after_move`), the step counter, the peer row (the member's replies are attributed),
        the enrollment's LinkedIn facts (`extra`: member, invite time, chat; never its status or step, which the
        other writer owns) and `also` (the tallies, the event). False when the ledger is no longer this
        delivery's (another one recorded the action)."""
        try:
            with transaction() as tx:
                tx.update(
                    LinkedInActionItem(pk=ledger.pk, sk=ledger.sk),
                    actions=[
                        LinkedInActionItem.status.set("done"),
                        LinkedInActionItem.outcome.set("done_after_move"),
                        LinkedInActionItem.finished_at.set(now),
                    ],
                    condition=LinkedInActionItem.status.is_in("claimed", "sending"),
                )
                if extra:
                    tx.update(
                        LinkedInEnrollmentItem(pk=item.pk, sk=item.sk),
                        actions=[*extra, LinkedInEnrollmentItem.updated_at.set(now)],
                        condition=LinkedInEnrollmentItem.pk.exists(),
                    )
                if counter is not None:
                    tx.update(*self._counter(workspace_id, item.campaign_id, *counter))
                if peer is not None:
                    tx.save(self._peer(workspace_id, item, peer))
                for put in also:
                    put(tx)
        except TransactWriteError as exc:
            if "ConditionalCheckFailed" in cancellation_codes(exc):
                return False
            raise
        return True

    @staticmethod
    def _peer(workspace_id: str, item: LinkedInEnrollmentItem, peer: tuple[str, str]) -> LinkedInPeerItem:
        return LinkedInPeerItem(
            pk=keys.li_peer_pk(workspace_id, peer[0], peer[1]),
            sk=keys.li_peer_sk(item.campaign_id, item.prospect_id),
            campaign_id=item.campaign_id,
            prospect_id=item.prospect_id,
            enrollment_id=item.enrollment_id,
        )

    @staticmethod
    def _counter(workspace_id: str, campaign_id: str, step_id: str, name: str) -> tuple[Any, list[Any]]:
        if name not in LI_COUNTERS:
            raise ValueError(f"unknown LinkedIn counter {name}")
        item = LinkedInStepCounterItem(pk=keys.campaign_pk(workspace_id, campaign_id), sk=keys.step_stats_sk(step_id))
        return item, [
            getattr(LinkedInStepCounterItem, f"li_{name}").add(1),
            LinkedInStepCounterItem.kind.set(LinkedInStepCounterItem.kind | "stats"),
        ]

    def stamp(
        self,
        item: LinkedInEnrollmentItem,
        actions: list[Any],
        condition: Any,
        *,
        workspace_id: str,
        counter: tuple[str, str] | None = None,
        status: str | None = None,
        reason: str | None = None,
        now: datetime,
        also: Sequence[Callable[[TransactWrite], None]] = (),
    ) -> bool:
        """A conditional stamp on the enrollment (acceptance, reply) with its counter, its status move and what
        `also` puts in (the account's tallies, the events) in one transaction; False when the condition failed
        (already stamped)."""
        current = str(item.status)
        all_actions = [*actions, LinkedInEnrollmentItem.updated_at.set(now)]
        if status is not None and status != current:
            all_actions += [
                LinkedInEnrollmentItem.status.set(status),
                LinkedInEnrollmentItem.previous_status.set(current),
                LinkedInEnrollmentItem.gsi2sk.set(keys.time_ordered_sk(_ts(now), item.prospect_id)),
                LinkedInEnrollmentItem.due_pk.remove(),
                LinkedInEnrollmentItem.due_sk.remove(),
                LinkedInEnrollmentItem.next_send_at.remove(),
            ]
            if reason:
                all_actions.append(LinkedInEnrollmentItem.stopped_reason.set(reason))
            condition = condition & (LinkedInEnrollmentItem.status == current)
        for attempt in range(CONFLICT_RETRIES):
            try:
                with transaction() as tx:
                    tx.update(LinkedInEnrollmentItem(pk=item.pk, sk=item.sk), actions=all_actions, condition=condition)
                    if status is not None and status != current:
                        tx.update(
                            LinkedInSummaryItem(pk=item.pk, sk=keys.ENROLLMENT_SUMMARY_SK),
                            actions=[
                                getattr(LinkedInSummaryItem, f"n_{current}").add(-1),
                                getattr(LinkedInSummaryItem, f"n_{status}").add(1),
                                LinkedInSummaryItem.updated_at.set(now),
                            ],
                        )
                    if counter is not None:
                        tx.update(*self._counter(workspace_id, item.campaign_id, *counter))
                    for put in also:
                        put(tx)
                return True
            except TransactWriteError as exc:
                codes = cancellation_codes(exc)
                if not any(codes):
                    raise
                if "ConditionalCheckFailed" in codes:
                    return False
                _jitter_sleep(attempt)
        return False

    # --- peers and inbound ------------------------------------------------------------------------------------
    def peers(self, workspace_id: str, account_id: str, member_id: str) -> list[LinkedInPeerItem]:
        return [
            i
            for i in LinkedInPeerItem.query(keys.li_peer_pk(workspace_id, account_id, member_id), consistent_read=True)
            if isinstance(i, LinkedInPeerItem)
        ]

    def put_inbound(self, workspace_id: str, row: LinkedInInboundItem) -> bool:
        """Store an inbound message once (False: it was stored before: a webhook and a poll both saw it)."""
        row.pk = keys.li_inbound_pk(workspace_id, row.account_id, row.message_id)
        row.sk = table.ITEM_SK
        try:
            row.save(condition=LinkedInInboundItem.pk.does_not_exist())
        except PutError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def set_inbound_campaigns(self, row: LinkedInInboundItem, campaign_ids: list[str]) -> None:
        if campaign_ids:
            row.update(actions=[LinkedInInboundItem.campaign_ids.set(",".join(campaign_ids))])

    # --- the account's engine state -------------------------------------------------------------------------
    def engine_state(self, workspace_id: str, account_id: str) -> LinkedInEngineStateItem:
        pk = keys.linkedin_account_pk(workspace_id, account_id)
        try:
            return LinkedInEngineStateItem.get(pk, keys.LI_ENGINE_SK, consistent_read=True)
        except DoesNotExist:
            return LinkedInEngineStateItem(pk=pk, sk=keys.LI_ENGINE_SK)

    def raise_cooldown(self, workspace_id: str, account_id: str, until: datetime) -> None:
        """The account's cooldown end becomes GREATEST(stored, until): never shortened."""
        item = LinkedInEngineStateItem(pk=keys.linkedin_account_pk(workspace_id, account_id), sk=keys.LI_ENGINE_SK)
        try:
            item.update(
                actions=[LinkedInEngineStateItem.cooldown_until.set(until)],
                condition=LinkedInEngineStateItem.cooldown_until.does_not_exist()
                | (LinkedInEngineStateItem.cooldown_until < until),
            )
        except UpdateError as exc:
            if not condition_failed(exc):
                raise

    def mark_polled(self, workspace_id: str, account_id: str, what: str, at: datetime) -> None:
        item = LinkedInEngineStateItem(pk=keys.linkedin_account_pk(workspace_id, account_id), sk=keys.LI_ENGINE_SK)
        attribute = (
            LinkedInEngineStateItem.relations_polled_at
            if what == "relations"
            else LinkedInEngineStateItem.inbox_polled_at
        )
        item.update(actions=[attribute.set(at)])
