"""Mailboxes in DynamoDB.

- mailbox: pk `ws_x#MAILBOX#<id>` sk `#`; gsi1 `ws_x#MAILBOX` / `<created>#<id>` (list, newest first);
           gsi2 `ws_x#MAILBOX_EMAIL#<email>` / `<created>#<id>` (every mailbox, deleted included, by email)
- claim:   pk `ws_x#MAILBOX_EMAIL#<email>` sk `#` -> the ACTIVE mailbox using that email (unique by condition)

Writes are optimistic: each carries the version it read; a concurrent writer makes it fail with `Stale`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError

from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.outage import OUTAGE_STATUSES, sweep_due_at
from kindling.platform.dynamo import (
    CONDITION_FAILED,
    TableModel,
    bind_models,
    cancellation_codes,
    condition_failed,
    query_page,
    transaction,
)
from kindling.platform.errors import Conflict, NotFound
from kindling.platform.keys import (
    CONNECTED_DUE_PK,
    RETEST_DUE_PK,
    connected_due_sk,
    mailbox_email_pk,
    mailbox_key,
    mailbox_pk,
    mailboxes_gsi_pk,
    retest_due_sk,
    time_ordered_sk,
    upper,
)

ClaimAction = Literal["keep", "acquire", "release"]


@dataclass(frozen=True)
class MailboxPage:
    items: list[Mailbox]
    next_cursor: str | None


class Stale(Exception):
    """The item changed since it was read."""


class MailboxItem(TableModel):
    mailbox_id = UnicodeAttribute()
    status = UnicodeAttribute()
    email_address = UnicodeAttribute()
    version = NumberAttribute()
    generation = NumberAttribute(default=0)
    body = UnicodeAttribute()  # the rest of the mailbox as JSON
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    sending_enabled = BooleanAttribute(default=True)


class MailboxEmailClaim(TableModel):
    mailbox_id = UnicodeAttribute()


_COLUMNS = {"id", "workspace_id", "status", "email_address", "version", "generation", "created_at", "updated_at"}


# Connected mailboxes across workspaces, for the inbox sync fan-out: a sparse partition of the `due` index that
# every save keeps exact (replace() writes the whole item, so a status change moves the mailbox in or out).


# Mailboxes in an outage, for the reconnect sweep: the partition `DUE#MAILBOX#RETEST`, time-ordered by when the sweep
# must look at each again. A mailbox is connected or in an outage, never both, so one pair of `due` keys serves; a
# just reconnected mailbox whose resume is pending stays in the sweep's partition until the resume clears it (the
# inbox sync fan-out picks it up on its next run after that).


def _due_keys(mailbox: Mailbox) -> tuple[str | None, str | None]:
    if mailbox.status == "connected" and mailbox.resume_pending_since is None:
        return CONNECTED_DUE_PK, connected_due_sk(mailbox.workspace_id, mailbox.id)
    due = sweep_due_at(mailbox)
    if due is not None:
        return RETEST_DUE_PK, retest_due_sk(due, mailbox.workspace_id, mailbox.id)
    return None, None


def _to_item(mailbox: Mailbox) -> MailboxItem:
    body = mailbox.model_dump(mode="json", exclude=_COLUMNS)
    sort = time_ordered_sk(mailbox.created_at.isoformat(), mailbox.id)
    due_pk, due_sk = _due_keys(mailbox)
    return MailboxItem(
        pk=mailbox_pk(mailbox.workspace_id, mailbox.id),
        sk="#",
        gsi1pk=mailboxes_gsi_pk(mailbox.workspace_id),
        gsi1sk=sort,
        gsi2pk=mailbox_email_pk(mailbox.workspace_id, mailbox.email_address),
        gsi2sk=sort,
        mailbox_id=mailbox.id,
        status=mailbox.status,
        email_address=mailbox.email_address,
        version=mailbox.version,
        generation=mailbox.generation,
        body=json.dumps(body, separators=(",", ":")),
        created_at=mailbox.created_at,
        updated_at=mailbox.updated_at,
        sending_enabled=mailbox.sending_enabled,
        due_pk=due_pk,
        due_sk=due_sk,
    )


def mailbox_of_raw(workspace_id: str, mailbox_id: str, raw: dict[str, Any] | None) -> Mailbox:
    """The mailbox from a raw item of a batch read (`mailbox_key`); as `MailboxRepository.get`, a missing or
    unreadable item is a mailbox that is not there (NotFound)."""
    if raw is None:
        raise NotFound(f"Mailbox {mailbox_id} not found.")
    try:
        return _from_item(workspace_id, MailboxItem.from_raw_data(raw))
    except ValueError as exc:
        raise NotFound(f"Mailbox {mailbox_id} not found.") from exc


def _from_item(workspace_id: str, item: MailboxItem) -> Mailbox:
    data: dict[str, Any] = json.loads(item.body)
    data.update(
        id=item.mailbox_id,
        workspace_id=workspace_id,
        status=item.status,
        email_address=item.email_address,
        version=int(item.version),
        generation=int(item.generation or 0),
        created_at=item.created_at,
        updated_at=item.updated_at,
    )
    return Mailbox.model_validate(data)


class MailboxRepository:
    def __init__(self) -> None:
        bind_models()

    def insert(self, mailbox: Mailbox) -> None:
        """A new mailbox and its email claim, atomically; `Conflict` if an active mailbox has the email."""
        try:
            with transaction() as tx:
                tx.save(_to_item(mailbox), condition=MailboxItem.pk.does_not_exist())
                tx.save(
                    MailboxEmailClaim(
                        pk=mailbox_email_pk(mailbox.workspace_id, mailbox.email_address), sk="#", mailbox_id=mailbox.id
                    ),
                    condition=MailboxEmailClaim.pk.does_not_exist(),
                )
        except TransactWriteError as exc:
            if CONDITION_FAILED in cancellation_codes(exc)[1:]:
                raise Conflict(f"A mailbox with email {mailbox.email_address} already exists.") from exc
            raise

    def get(self, workspace_id: str, mailbox_id: str) -> Mailbox:
        try:
            item = MailboxItem.get(*mailbox_key(workspace_id, mailbox_id), consistent_read=True)
        except (DoesNotExist, ValueError) as exc:
            raise NotFound(f"Mailbox {mailbox_id} not found.") from exc
        return _from_item(workspace_id, item)

    def replace(self, mailbox: Mailbox, expected_version: int, claim: ClaimAction = "keep") -> Mailbox:
        """Write `mailbox` (its version becomes expected+1) if nobody wrote since; `Stale` otherwise.

        `claim`: "acquire" takes the email claim (`Conflict` if an active mailbox holds it), "release" drops it.
        """
        saved = mailbox.model_copy(update={"version": expected_version + 1})
        item = _to_item(saved)
        condition = MailboxItem.version == expected_version
        if claim == "keep":
            try:
                item.save(condition=condition)
            except PutError as exc:
                if condition_failed(exc):
                    raise Stale(mailbox.id) from exc
                raise
            return saved
        claim_key = mailbox_email_pk(mailbox.workspace_id, mailbox.email_address)
        try:
            with transaction() as tx:
                tx.save(item, condition=condition)
                if claim == "acquire":
                    tx.save(
                        MailboxEmailClaim(pk=claim_key, sk="#", mailbox_id=mailbox.id),
                        condition=MailboxEmailClaim.pk.does_not_exist(),
                    )
                else:
                    tx.delete(
                        MailboxEmailClaim(pk=claim_key, sk="#"),
                        condition=MailboxEmailClaim.mailbox_id == mailbox.id,
                    )
        except TransactWriteError as exc:
            reasons = cancellation_codes(exc)
            if reasons and reasons[0] == CONDITION_FAILED:
                raise Stale(mailbox.id) from exc
            if claim == "acquire" and CONDITION_FAILED in reasons[1:]:
                raise Conflict(f"An active mailbox already uses {mailbox.email_address}.") from exc
            raise
        return saved

    def list_page(self, workspace_id: str, status: str | None, limit: int, cursor: str | None) -> MailboxPage:
        condition = MailboxItem.status == status if status else MailboxItem.status != "deleted"
        page = query_page(
            MailboxItem.gsi1,
            mailboxes_gsi_pk(workspace_id),
            workspace_id=workspace_id,
            limit=limit,
            cursor=cursor,
            filter_condition=condition,
            index_keys=("gsi1pk", "gsi1sk"),
        )
        return MailboxPage(items=[_from_item(workspace_id, i) for i in page.items], next_cursor=page.next_cursor)

    def outage_page(self, workspace_id: str, limit: int, cursor: str | None) -> MailboxPage:
        """One page of the workspace's mailboxes in an outage (`disconnected`, `error`): its mailbox index, never a
        scan (the reconnect sweep's one-off backfill of outages older than the sweep)."""
        page = query_page(
            MailboxItem.gsi1,
            mailboxes_gsi_pk(workspace_id),
            workspace_id=workspace_id,
            limit=limit,
            cursor=cursor,
            filter_condition=MailboxItem.status.is_in(*OUTAGE_STATUSES),
            index_keys=("gsi1pk", "gsi1sk"),
        )
        return MailboxPage(items=[_from_item(workspace_id, i) for i in page.items], next_cursor=page.next_cursor)

    def find_by_email(self, workspace_id: str, email: str) -> list[Mailbox]:
        """Every mailbox (deleted included) ever created with this email, newest first."""
        items = MailboxItem.gsi2.query(mailbox_email_pk(workspace_id, email), scan_index_forward=False)
        return [_from_item(workspace_id, i) for i in items if isinstance(i, MailboxItem)]

    def connected_mailboxes(self) -> Iterator[tuple[str, str]]:
        """(workspace id, mailbox id) of every connected mailbox, across workspaces (keys only are read): the `due`
        index partition `DUE#MAILBOX#CONNECTED`, due_sk `<workspace id>#<mailbox id>`, kept on every save."""
        for item in TableModel.due.query(CONNECTED_DUE_PK, attributes_to_get=["due_sk"], page_size=500):
            workspace_id, _, mailbox_id = str(item.due_sk).partition("#")
            if workspace_id and mailbox_id:
                yield workspace_id, mailbox_id

    def due_for_sweep(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """(workspace id, mailbox id) of at most `limit` mailboxes in an outage whose re-test or notification is
        due at `now`, most overdue first: one bounded query of `DUE#MAILBOX#RETEST` (keys only), never a scan."""
        found: list[tuple[str, str]] = []
        results = TableModel.due.query(
            RETEST_DUE_PK,
            TableModel.due_sk <= upper(now),
            attributes_to_get=["due_sk"],
            limit=limit,
            page_size=limit,
        )
        for item in results:
            _, _, rest = str(item.due_sk).partition("#")
            workspace_id, _, mailbox_id = rest.partition("#")
            if workspace_id and mailbox_id:
                found.append((workspace_id, mailbox_id))
        return found
