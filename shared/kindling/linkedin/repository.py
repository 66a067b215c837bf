"""LinkedIn accounts in DynamoDB (key formats: `kindling.platform.keys`, the `# LinkedIn` block).

- account: pk `ws#LIACCOUNT#<li id>` sk `#`; gsi1 `ws#LIACCOUNT` / `<created>#<id>` (list, newest first); gsi2
  `@LIPROVIDER#<provider account id>` / `<ws>#<id>` once linked (the provider's webhooks name only that id); due
  `DUE#LINKEDIN#ACCOUNTS` / `<ws>#<id>` while the account is live (the sweeps read it across workspaces);
- audit rows: same pk, sk `AUDIT#<at>#<version>`, written in the same transaction as every status flip;
- outage marker: the account's second index entry would not fit on the account item, so an outage not yet
  notified is an item pk `ws#LIACCOUNT#<id>` sk `OUTAGE` with due `DUE#LINKEDIN#OUTAGE` / `<since>#<ws>#<id>`,
  written and removed in the status flip's transaction;
- connect links: pk `ws#LICONNECT` sk `#` (a new account) or the account's pk, sk `CONNECT` (a reconnect);
- reactions: pk `ws#LIPOST#<urn>` sk `R#<account id>#<type>`.

Every account write carries the version it read: a concurrent writer makes it fail with `Stale`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from kindling.linkedin.models import DOWN_STATUSES, AuditEntry, ConnectLink, LinkedInAccount, Reaction
from kindling.platform.clock import epoch_seconds
from kindling.platform.dynamo import (
    TableModel,
    bind_models,
    cancelled_by_condition,
    condition_failed,
    query_page,
    transaction,
)
from kindling.platform.errors import NotFound
from kindling.platform.keys import (
    LINKEDIN_ACCOUNTS_DUE_PK,
    LINKEDIN_AUDIT_PREFIX,
    LINKEDIN_OUTAGE_DUE_PK,
    LINKEDIN_OUTAGE_SK,
    LINKEDIN_REACTION_PREFIX,
    LINKEDIN_RECONNECT_SK,
    linkedin_account_due_sk,
    linkedin_account_pk,
    linkedin_accounts_gsi_pk,
    linkedin_audit_sk,
    linkedin_connect_pk,
    linkedin_outage_due_sk,
    linkedin_post_pk,
    linkedin_provider_account_gsi_pk,
    linkedin_reaction_sk,
    time_ordered_sk,
    upper,
)
from kindling.platform.table import ITEM_SK


class Stale(Exception):
    """The account changed since it was read."""


@dataclass(frozen=True)
class AccountPage:
    items: list[LinkedInAccount]
    next_cursor: str | None


@dataclass(frozen=True)
class ReactionPage:
    items: list[Reaction]
    next_cursor: str | None


class LinkedInAccountItem(TableModel):
    account_id = UnicodeAttribute()
    status = UnicodeAttribute()
    version = NumberAttribute()
    body = UnicodeAttribute()  # the rest of the account as JSON
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class LinkedInAuditItem(TableModel):
    body = UnicodeAttribute()


class LinkedInOutageItem(TableModel):
    account_id = UnicodeAttribute()
    since = UTCDateTimeAttribute()


class LinkedInConnectItem(TableModel):
    account_id = UnicodeAttribute()
    url = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    link_expires_at = UTCDateTimeAttribute()


class LinkedInReactionItem(TableModel):
    body = UnicodeAttribute()


_COLUMNS = {"id", "workspace_id", "status", "version", "created_at", "updated_at"}


def _to_item(account: LinkedInAccount) -> LinkedInAccountItem:
    body = account.model_dump(mode="json", exclude=_COLUMNS)
    live = account.status != "deleted"
    linked = live and account.provider_account_id is not None
    return LinkedInAccountItem(
        pk=linkedin_account_pk(account.workspace_id, account.id),
        sk=ITEM_SK,
        gsi1pk=linkedin_accounts_gsi_pk(account.workspace_id) if live else None,
        gsi1sk=time_ordered_sk(account.created_at.isoformat(), account.id) if live else None,
        gsi2pk=linkedin_provider_account_gsi_pk(account.provider_account_id or "") if linked else None,
        gsi2sk=linkedin_account_due_sk(account.workspace_id, account.id) if linked else None,
        due_pk=LINKEDIN_ACCOUNTS_DUE_PK if live else None,
        due_sk=linkedin_account_due_sk(account.workspace_id, account.id) if live else None,
        account_id=account.id,
        status=account.status,
        version=account.version,
        body=json.dumps(body, separators=(",", ":")),
        created_at=account.created_at,
        updated_at=account.updated_at,
    )


def _from_item(workspace_id: str, item: LinkedInAccountItem) -> LinkedInAccount:
    data: dict[str, Any] = json.loads(item.body)
    data.update(
        id=item.account_id,
        workspace_id=workspace_id,
        status=item.status,
        version=int(item.version),
        created_at=item.created_at,
        updated_at=item.updated_at,
    )
    return LinkedInAccount.model_validate(data)


def account_key(workspace_id: str, account_id: str) -> tuple[str, str]:
    """The (pk, sk) of an account's item (for a caller's batch read)."""
    return linkedin_account_pk(workspace_id, account_id), ITEM_SK


def account_from_raw(workspace_id: str, raw: dict[str, Any]) -> LinkedInAccount:
    """An account from a batch read's raw item (the LinkedIn scheduler reads a campaign's pool in one request)."""
    return _from_item(workspace_id, LinkedInAccountItem.from_raw_data(raw))


class LinkedInAccountRepository:
    def __init__(self) -> None:
        bind_models()

    def insert(self, account: LinkedInAccount) -> None:
        _to_item(account).save(condition=LinkedInAccountItem.pk.does_not_exist())

    def get(self, workspace_id: str, account_id: str, *, include_deleted: bool = False) -> LinkedInAccount:
        try:
            item = LinkedInAccountItem.get(linkedin_account_pk(workspace_id, account_id), ITEM_SK, consistent_read=True)
        except (DoesNotExist, ValueError) as exc:
            raise NotFound(f"LinkedIn account {account_id} not found.") from exc
        account = _from_item(workspace_id, item)
        if account.status == "deleted" and not include_deleted:
            raise NotFound(f"LinkedIn account {account_id} not found.")
        return account

    def replace(self, account: LinkedInAccount, expected_version: int) -> LinkedInAccount:
        """Write a change that is not a status flip (settings, link details); `Stale` if anyone wrote since."""
        saved = account.model_copy(update={"version": expected_version + 1})
        try:
            _to_item(saved).save(condition=LinkedInAccountItem.version == expected_version)
        except PutError as exc:
            if condition_failed(exc):
                raise Stale(account.id) from exc
            raise
        return saved

    def flip(self, account: LinkedInAccount, expected_version: int, entry: AuditEntry) -> LinkedInAccount:
        """The status flip and its audit row in one transaction (help center 40.8: no flip without its audit
        row), with the outage marker put or removed as the flip starts or ends an outage; `Stale` if the account
        changed since it was read (so of two concurrent flips only one happens, and only one emits)."""
        saved = account.model_copy(update={"version": expected_version + 1})
        pk = linkedin_account_pk(account.workspace_id, account.id)
        audit = LinkedInAuditItem(
            pk=pk,
            sk=linkedin_audit_sk(entry.at, saved.version),
            body=entry.model_dump_json(),
        )
        try:
            with transaction() as tx:
                tx.save(_to_item(saved), condition=LinkedInAccountItem.version == expected_version)
                tx.save(audit, condition=LinkedInAuditItem.pk.does_not_exist())
                if saved.status in DOWN_STATUSES and saved.disconnected_since and saved.outage_notified_at is None:
                    tx.save(
                        LinkedInOutageItem(
                            pk=pk,
                            sk=LINKEDIN_OUTAGE_SK,
                            account_id=account.id,
                            since=saved.disconnected_since,
                            due_pk=LINKEDIN_OUTAGE_DUE_PK,
                            due_sk=linkedin_outage_due_sk(saved.disconnected_since, account.workspace_id, account.id),
                        )
                    )
                elif saved.disconnected_since is None or saved.status == "deleted":
                    tx.delete(LinkedInOutageItem(pk=pk, sk=LINKEDIN_OUTAGE_SK))
        except TransactWriteError as exc:
            if cancelled_by_condition(exc, 0):
                raise Stale(account.id) from exc
            raise
        return saved

    def mark_notified(self, account: LinkedInAccount, expected_version: int) -> LinkedInAccount:
        """Record the outage's notification and drop its marker, once (`Stale` if another sweep did it)."""
        saved = account.model_copy(update={"version": expected_version + 1})
        pk = linkedin_account_pk(account.workspace_id, account.id)
        try:
            with transaction() as tx:
                tx.save(_to_item(saved), condition=LinkedInAccountItem.version == expected_version)
                tx.delete(LinkedInOutageItem(pk=pk, sk=LINKEDIN_OUTAGE_SK))
        except TransactWriteError as exc:
            if cancelled_by_condition(exc, 0):
                raise Stale(account.id) from exc
            raise
        return saved

    def audit(self, workspace_id: str, account_id: str) -> list[AuditEntry]:
        """The account's status flips, oldest first."""
        items = LinkedInAuditItem.query(
            linkedin_account_pk(workspace_id, account_id),
            LinkedInAuditItem.sk.startswith(LINKEDIN_AUDIT_PREFIX),
            consistent_read=True,
        )
        return [AuditEntry.model_validate_json(i.body) for i in items]

    def list_page(self, workspace_id: str, limit: int, cursor: str | None) -> AccountPage:
        page = query_page(
            LinkedInAccountItem.gsi1,
            linkedin_accounts_gsi_pk(workspace_id),
            workspace_id=workspace_id,
            limit=limit,
            cursor=cursor,
            index_keys=("gsi1pk", "gsi1sk"),
        )
        return AccountPage([_from_item(workspace_id, i) for i in page.items], page.next_cursor)

    def live_accounts(self) -> Iterator[tuple[str, str]]:
        """(workspace id, account id) of every live account, across workspaces (keys only)."""
        for item in TableModel.due.query(LINKEDIN_ACCOUNTS_DUE_PK, attributes_to_get=["due_sk"], page_size=500):
            workspace_id, _, account_id = str(item.due_sk).partition("#")
            if workspace_id and account_id:
                yield workspace_id, account_id

    def by_provider_account(self, provider_account_id: str) -> list[tuple[str, str]]:
        """(workspace id, account id) of the live rows linking this provider account (gsi2, keys only)."""
        found = []
        for item in TableModel.gsi2.query(
            linkedin_provider_account_gsi_pk(provider_account_id), attributes_to_get=["gsi2sk"]
        ):
            workspace_id, _, account_id = str(item.gsi2sk).partition("#")
            if workspace_id and account_id:
                found.append((workspace_id, account_id))
        return found

    def outages_since_before(self, cutoff: datetime) -> Iterator[tuple[str, str]]:
        """(workspace id, account id) of outages not yet notified that started at or before `cutoff`."""
        for item in TableModel.due.query(
            LINKEDIN_OUTAGE_DUE_PK, TableModel.due_sk <= upper(cutoff), attributes_to_get=["due_sk"], page_size=500
        ):
            _, _, rest = str(item.due_sk).partition("#")
            workspace_id, _, account_id = rest.partition("#")
            if workspace_id and account_id:
                yield workspace_id, account_id

    # --- connect links (help center 40.6) -----------------------------------------------------------------------
    def _link_key(self, workspace_id: str, account_id: str | None) -> tuple[str, str]:
        if account_id is None:
            return linkedin_connect_pk(workspace_id), ITEM_SK
        return linkedin_account_pk(workspace_id, account_id), LINKEDIN_RECONNECT_SK

    def connect_link(self, workspace_id: str, account_id: str | None = None) -> ConnectLink | None:
        try:
            item = LinkedInConnectItem.get(*self._link_key(workspace_id, account_id), consistent_read=True)
        except DoesNotExist:
            return None
        return ConnectLink(
            account_id=item.account_id, url=item.url, created_at=item.created_at, expires_at=item.link_expires_at
        )

    def claim_connect_link(
        self,
        workspace_id: str,
        link: ConnectLink,
        now: datetime,
        *,
        reconnect_of: str | None = None,
        replacing: str | None = None,
    ) -> bool:
        """Store the link unless a live one is there (False: someone else's link is in flight). `replacing`: the
        URL of a live link the caller found already used (its account linked), which may be overwritten."""
        pk, sk = self._link_key(workspace_id, reconnect_of)
        item = LinkedInConnectItem(
            pk=pk,
            sk=sk,
            account_id=link.account_id,
            url=link.url,
            created_at=link.created_at,
            link_expires_at=link.expires_at,
            expires_at=epoch_seconds(link.expires_at) + 3600,
        )
        condition = LinkedInConnectItem.pk.does_not_exist() | (LinkedInConnectItem.link_expires_at <= now)
        if replacing is not None:
            condition = condition | (LinkedInConnectItem.url == replacing)
        try:
            item.save(condition=condition)
        except PutError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    # --- reactions ----------------------------------------------------------------------------------------------
    def put_reaction(
        self, workspace_id: str, reaction: Reaction, also: Sequence[Callable[[TransactWrite], None]] = ()
    ) -> None:
        """Record a reaction; `also` (the account's tally) is written in the same transaction."""
        item = LinkedInReactionItem(
            pk=linkedin_post_pk(workspace_id, reaction.post_id),
            sk=linkedin_reaction_sk(reaction.account_id, reaction.reaction_type),
            body=reaction.model_dump_json(),
        )
        with transaction() as tx:
            tx.save(item)
            for put in also:
                put(tx)

    def reactions_page(self, workspace_id: str, post_id: str, limit: int, cursor: str | None) -> ReactionPage:
        page = query_page(
            LinkedInReactionItem,
            linkedin_post_pk(workspace_id, post_id),
            workspace_id=workspace_id,
            limit=limit,
            cursor=cursor,
            range_condition=LinkedInReactionItem.sk.startswith(LINKEDIN_REACTION_PREFIX),
            newest_first=False,
        )
        return ReactionPage([Reaction.model_validate_json(i.body) for i in page.items], page.next_cursor)
