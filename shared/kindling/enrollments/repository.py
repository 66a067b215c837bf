"""Enrollments in DynamoDB, beside their campaign (pk `ws#CAMPAIGN#<campaign id>`).

- enrollment: sk `ENROLL#<prospect id>`  one per prospect per campaign (the key is what makes enrolling
              idempotent); gsi1 `ws#CAMPAIGN#<cid>#ENROLL` / `<created>#<prospect id>` (the listing),
              gsi2 `ws#CAMPAIGN#<cid>#ENROLLUPD` / `<updated>#<prospect id>` (the change feed). Every status change
              sets `updated_at`, `previous_status` and `gsi2sk` together, or the feed misses it.
              Scheduler-owned (not written here except to clear them on a stop): `due_pk`/`due_sk` (the sparse
              `due` index), `next_send_at`; the sender owns `current_step`, `last_sent_at`, `mailbox_id`,
              `thread_message_ids`.
- summary:    sk `ENROLLMENTS`  `total`, one counter per status (`n_<status>`), `custom_field_keys` (string set).
              Every write that creates an enrollment or moves one between statuses updates it in the same
              transaction, so the counts stay exact under concurrent requests and retries.

Writes are transactions of up to 99 enrollments plus the summary update: each write is conditional (a new
enrollment must not exist; a re-activated one must still be `suppressed`), so two requests enrolling the same
prospect at once cannot both count it, and a crash cannot leave enrollments the summary does not count. That is
also fewer requests than BatchWriteItem's 25 items per request.

Bulk reads project only the attributes the rules need (an enrollment's status; a prospect's email, names, status
and custom field keys): less to read and to transfer than whole items, which is what a 10,000-prospect request
mostly does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from pynamodb.attributes import (
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import DoesNotExist, TransactWriteError

from kindling.enrollments.models import ENROLLMENT_STATUSES, Enrollment, EnrollmentSummary, ProspectBrief
from kindling.platform import table
from kindling.platform.clock import isoformat
from kindling.platform.dynamo import (
    Page,
    TableModel,
    batch_get_raw,
    bind_models,
    cancellation_codes,
    query_page,
    transaction,
)
from kindling.platform.keys import (
    ENROLL_PREFIX,
    ENROLLMENT_SUMMARY_SK,
    campaign_pk,
    enrollment_changes_pk,
    enrollment_listing_pk,
    enrollment_sk,
    prospect_pk,
    send_due_keys,
    time_ordered_sk,
)
from kindling.prospects.repository import list_member_ids

TRANSACTION_ITEMS = 99  # enrollments per transaction, plus the summary update (DynamoDB's limit is 100)


def _ts(when: datetime) -> str:
    return isoformat(when) or ""


class EnrollmentItem(TableModel):
    enrollment_id = UnicodeAttribute()
    campaign_id = UnicodeAttribute()
    prospect_id = UnicodeAttribute()
    email = UnicodeAttribute()
    first_name = UnicodeAttribute(null=True)
    last_name = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    previous_status = UnicodeAttribute(null=True)
    current_step = NumberAttribute(default=0)
    variant = UnicodeAttribute(null=True)
    mailbox_id = UnicodeAttribute(null=True)
    next_send_at = UTCDateTimeAttribute(null=True)
    last_sent_at = UTCDateTimeAttribute(null=True)
    thread_message_ids = ListAttribute(of=UnicodeAttribute, null=True)
    stopped_reason = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class EnrollmentSummaryItem(TableModel):
    total = NumberAttribute(null=True)
    n_pending = NumberAttribute(null=True)
    n_active = NumberAttribute(null=True)
    n_replied = NumberAttribute(null=True)
    n_bounced = NumberAttribute(null=True)
    n_unsubscribed = NumberAttribute(null=True)
    n_suppressed = NumberAttribute(null=True)
    n_completed = NumberAttribute(null=True)
    n_failed = NumberAttribute(null=True)
    n_stopped = NumberAttribute(null=True)
    custom_field_keys = UnicodeSetAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)


def _counter(status: str) -> Any:
    return getattr(EnrollmentSummaryItem, f"n_{status}")


def _set_or_remove(attribute: Any, value: str | None) -> list[Any]:
    return [attribute.set(value)] if value is not None else [attribute.remove()]


def enrollment_item(enrollment: Enrollment) -> EnrollmentItem:
    ws, cid, pid = enrollment.workspace_id, enrollment.campaign_id, enrollment.prospect_id
    item = EnrollmentItem(
        pk=campaign_pk(ws, cid),
        sk=enrollment_sk(pid),
        gsi1pk=enrollment_listing_pk(ws, cid),
        gsi1sk=time_ordered_sk(_ts(enrollment.created_at), pid),
        gsi2pk=enrollment_changes_pk(ws, cid),
        gsi2sk=time_ordered_sk(_ts(enrollment.updated_at), pid),
        enrollment_id=enrollment.id,
        campaign_id=cid,
        prospect_id=pid,
        email=enrollment.email,
        first_name=enrollment.first_name,
        last_name=enrollment.last_name,
        status=enrollment.status,
        previous_status=enrollment.previous_status,
        current_step=enrollment.current_step,
        variant=enrollment.variant,
        mailbox_id=enrollment.mailbox_id,
        next_send_at=enrollment.next_send_at,
        last_sent_at=enrollment.last_sent_at,
        thread_message_ids=list(enrollment.thread_message_ids) or None,
        stopped_reason=enrollment.stopped_reason,
        created_at=enrollment.created_at,
        updated_at=enrollment.updated_at,
    )
    if enrollment.status == "pending":
        # The scheduler reads only the sparse `due` index: a pending enrollment is due at once (it is parked
        # there while its campaign is not running, and comes back when the campaign runs).
        due_at = enrollment.next_send_at or enrollment.created_at
        item.next_send_at = due_at
        item.due_pk, item.due_sk = send_due_keys(item.pk, item.sk, due_at)
    return item


def _due_now(pk: str, sk: str, when: datetime) -> list[Any]:
    due_pk, due_sk = send_due_keys(pk, sk, when)
    return [EnrollmentItem.next_send_at.set(when), EnrollmentItem.due_pk.set(due_pk), EnrollmentItem.due_sk.set(due_sk)]


def enrollment_from_item(workspace_id: str, item: EnrollmentItem) -> Enrollment:
    return Enrollment(
        id=item.enrollment_id,
        workspace_id=workspace_id,
        campaign_id=item.campaign_id,
        prospect_id=item.prospect_id,
        email=item.email,
        first_name=item.first_name,
        last_name=item.last_name,
        status=item.status,  # type: ignore[arg-type]
        previous_status=item.previous_status,  # type: ignore[arg-type]
        current_step=int(item.current_step or 0),
        variant=item.variant,
        mailbox_id=item.mailbox_id,
        next_send_at=item.next_send_at,
        last_sent_at=item.last_sent_at,
        thread_message_ids=list(item.thread_message_ids or []),
        stopped_reason=item.stopped_reason,
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


class Refused(Exception):
    """A transaction was cancelled: a condition no longer held, or a concurrent transaction held an item."""

    def __init__(self, codes: list[str | None]) -> None:
        super().__init__(", ".join(str(c) for c in codes))
        self.codes = codes


Key = tuple[str, str]
_PROSPECT_ATTRIBUTES = ["prospect_id", "email", "first_name", "last_name", "global_status", "custom_fields"]


def _text(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    return str(value["S"]) if value and "S" in value else None


class EnrollmentRepository:
    def __init__(self) -> None:
        bind_models()

    # --- reads -------------------------------------------------------------------------------------

    def statuses(self, workspace_id: str, campaign_id: str, prospect_ids: Iterable[str]) -> dict[str, str]:
        """prospect id -> status of its enrollment in the campaign, for those that have one."""
        pk = campaign_pk(workspace_id, campaign_id)
        raw = batch_get_raw(((pk, enrollment_sk(pid)) for pid in prospect_ids), ["status"])
        return {sk[len(ENROLL_PREFIX) :]: str(item["status"]["S"]) for (_, sk), item in raw.items()}

    def prospect_briefs(self, workspace_id: str, prospect_ids: Iterable[str]) -> dict[str, ProspectBrief]:
        """What enrolling needs of each prospect (unknown ids are absent)."""
        raw = batch_get_raw(
            ((prospect_pk(workspace_id, pid), table.ITEM_SK) for pid in prospect_ids), _PROSPECT_ATTRIBUTES
        )
        briefs = [
            ProspectBrief(
                id=str(item["prospect_id"]["S"]),
                email=str(item["email"]["S"]),
                first_name=_text(item, "first_name"),
                last_name=_text(item, "last_name"),
                global_status=_text(item, "global_status") or "active",
                custom_field_keys=frozenset(json.loads(_text(item, "custom_fields") or "{}")),
            )
            for item in raw.values()
        ]
        return {b.id: b for b in briefs}

    def list_member_ids(self, workspace_id: str, list_id: str) -> Iterator[str]:
        """Every member of a prospect list, in pages (only the keys are read)."""
        yield from list_member_ids(workspace_id, list_id)

    def summary(self, workspace_id: str, campaign_id: str) -> EnrollmentSummary:
        try:
            item = EnrollmentSummaryItem.get(
                campaign_pk(workspace_id, campaign_id), ENROLLMENT_SUMMARY_SK, consistent_read=True
            )
        except DoesNotExist:
            return EnrollmentSummary(counts=dict.fromkeys(ENROLLMENT_STATUSES, 0))
        counts = {status: int(getattr(item, f"n_{status}") or 0) for status in ENROLLMENT_STATUSES}
        return EnrollmentSummary(
            total=int(item.total or 0), counts=counts, custom_field_keys=frozenset(item.custom_field_keys or ())
        )

    def page(
        self, workspace_id: str, campaign_id: str, status: str | None, limit: int, cursor: str | None
    ) -> tuple[list[Enrollment], str | None]:
        """Newest enrollment first."""
        page: Page[Any] = query_page(
            EnrollmentItem.gsi1,
            enrollment_listing_pk(workspace_id, campaign_id),
            workspace_id=workspace_id,
            limit=limit,
            cursor=cursor,
            filter_condition=(EnrollmentItem.status == status) if status else None,
            newest_first=True,
            index_keys=("gsi1pk", "gsi1sk"),
        )
        return [enrollment_from_item(workspace_id, i) for i in page.items], page.next_cursor

    def changes(
        self, workspace_id: str, campaign_id: str, since: datetime, limit: int, cursor: str | None
    ) -> tuple[list[Enrollment], str | None]:
        """Enrollments updated at or after `since`, oldest change first (a client resumes from its last one)."""
        page: Page[Any] = query_page(
            EnrollmentItem.gsi2,
            enrollment_changes_pk(workspace_id, campaign_id),
            workspace_id=workspace_id,
            limit=limit,
            cursor=cursor,
            range_condition=EnrollmentItem.gsi2sk >= _ts(since),
            newest_first=False,
            index_keys=("gsi2pk", "gsi2sk"),
        )
        return [enrollment_from_item(workspace_id, i) for i in page.items], page.next_cursor

    # --- writes ------------------------------------------------------------------------------------

    def write(
        self,
        workspace_id: str,
        campaign_id: str,
        new: Sequence[Enrollment],
        reactivated: Sequence[ProspectBrief],
        custom_field_keys: Iterable[str],
        when: datetime,
    ) -> None:
        """One transaction: create `new` (must not exist), turn the `suppressed` enrollments of `reactivated`
        back to `pending` (must still be `suppressed`), and move the summary by exactly as many. Raises Refused
        when cancelled; nothing is written then."""
        assert 0 < len(new) + len(reactivated) <= TRANSACTION_ITEMS
        delta: dict[str, int] = {}
        for enrollment in new:
            delta[enrollment.status] = delta.get(enrollment.status, 0) + 1
        if reactivated:
            delta["pending"] = delta.get("pending", 0) + len(reactivated)
            delta["suppressed"] = delta.get("suppressed", 0) - len(reactivated)
        actions: list[Any] = [EnrollmentSummaryItem.updated_at.set(when)]
        if new:
            actions.append(EnrollmentSummaryItem.total.add(len(new)))
        actions += [_counter(status).add(n) for status, n in delta.items() if n]
        keys = set(custom_field_keys)
        if keys:
            actions.append(EnrollmentSummaryItem.custom_field_keys.add(keys))
        pk = campaign_pk(workspace_id, campaign_id)
        try:
            with transaction() as tx:
                for enrollment in new:
                    tx.save(enrollment_item(enrollment), condition=EnrollmentItem.pk.does_not_exist())
                for prospect in reactivated:
                    tx.update(
                        EnrollmentItem(pk=pk, sk=enrollment_sk(prospect.id)),
                        actions=[
                            EnrollmentItem.status.set("pending"),
                            EnrollmentItem.previous_status.set("suppressed"),
                            EnrollmentItem.email.set(prospect.email),
                            *_set_or_remove(EnrollmentItem.first_name, prospect.first_name),
                            *_set_or_remove(EnrollmentItem.last_name, prospect.last_name),
                            EnrollmentItem.updated_at.set(when),
                            EnrollmentItem.gsi2sk.set(time_ordered_sk(_ts(when), prospect.id)),
                            *_due_now(pk, enrollment_sk(prospect.id), when),
                        ],
                        condition=EnrollmentItem.status == "suppressed",
                    )
                tx.update(EnrollmentSummaryItem(pk=pk, sk=ENROLLMENT_SUMMARY_SK), actions=actions)
        except TransactWriteError as exc:
            codes = cancellation_codes(exc)
            if not any(codes):
                raise
            raise Refused(codes) from exc

    def stop(
        self, workspace_id: str, campaign_id: str, current: Sequence[tuple[str, str]], reason: str, when: datetime
    ) -> None:
        """Soft-stop enrollments still in the sequence, given as (prospect id, status read): status `stopped`,
        out of the `due` index, summary moved. Each update requires the status it was read with, so the counts
        move exactly; raises Refused otherwise."""
        assert 0 < len(current) <= TRANSACTION_ITEMS
        pk = campaign_pk(workspace_id, campaign_id)
        delta: dict[str, int] = {"stopped": len(current)}
        for _, status in current:
            delta[status] = delta.get(status, 0) - 1
        try:
            with transaction() as tx:
                for prospect_id, status in current:
                    tx.update(
                        EnrollmentItem(pk=pk, sk=enrollment_sk(prospect_id)),
                        actions=[
                            EnrollmentItem.status.set("stopped"),
                            EnrollmentItem.previous_status.set(status),
                            EnrollmentItem.stopped_reason.set(reason),
                            EnrollmentItem.updated_at.set(when),
                            EnrollmentItem.gsi2sk.set(time_ordered_sk(_ts(when), prospect_id)),
                            EnrollmentItem.next_send_at.remove(),
                            EnrollmentItem.due_pk.remove(),
                            EnrollmentItem.due_sk.remove(),
                        ],
                        condition=EnrollmentItem.status == status,
                    )
                tx.update(
                    EnrollmentSummaryItem(pk=pk, sk=ENROLLMENT_SUMMARY_SK),
                    actions=[
                        EnrollmentSummaryItem.updated_at.set(when),
                        *(_counter(status).add(n) for status, n in delta.items() if n),
                    ],
                )
        except TransactWriteError as exc:
            codes = cancellation_codes(exc)
            if not any(codes):
                raise
            raise Refused(codes) from exc
