"""Suppression entries in DynamoDB.

- email entry:  on the address's email record, pk `ws#EMAIL#<email>` (see prospects.repository), attributes supp_*
- domain entry: pk `ws#SUPP_DOMAIN#<domain>` sk `#`, the same supp_* attributes
Both carry gsi1 `ws#SUPP` / `<created>#<id>` (the blocklist, newest first) and gsi2 `ws#SUPP_ID` / `<id>`
(find an entry by id for DELETE). The check reads the email record and the domain entry: one BatchGetItem.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DeleteError, PutError, TransactWriteError

from kindling.platform import table
from kindling.platform.clock import isoformat
from kindling.platform.dynamo import (
    Page,
    TableModel,
    batch_get_raw,
    bind_models,
    cancelled_by_condition,
    condition_failed,
    query_page,
    transaction,
)
from kindling.platform.keys import (
    prospect_email_pk,
    prospect_email_prefix,
    suppressed_domain_pk,
    suppression_ids_gsi_pk,
    suppressions_gsi_pk,
    time_ordered_sk,
)
from kindling.prospects.fields import email_domain
from kindling.prospects.repository import add_email_fields, email_record_from_raw, remove_email_fields, set_status_in
from kindling.suppressions.models import EmailRecordView, SuppressionEntry, SuppressionFields


class DomainSuppressionItem(TableModel):
    """A domain entry. Also the read view of any entry in the gsi queries (email records share the names)."""

    supp_id = UnicodeAttribute(null=True)
    supp_type = UnicodeAttribute(null=True)
    supp_value = UnicodeAttribute(null=True)
    supp_reason = UnicodeAttribute(null=True)
    supp_source = UnicodeAttribute(null=True)
    supp_created_at = UTCDateTimeAttribute(null=True)


def domain_entry_from_raw(raw: dict[str, Any]) -> DomainSuppressionItem:
    """A domain entry from a batch read's raw item (the send checks read it with the email record)."""
    return DomainSuppressionItem.from_raw_data(raw)


def _index_attrs(workspace_id: str, entry: SuppressionEntry) -> dict[str, str]:
    return {
        "gsi1pk": suppressions_gsi_pk(workspace_id),
        "gsi1sk": time_ordered_sk(isoformat(entry.created_at), entry.id),
        "gsi2pk": suppression_ids_gsi_pk(workspace_id),
        "gsi2sk": entry.id,
    }


def entry_of(item: SuppressionFields) -> SuppressionEntry | None:
    if not item.supp_id or item.supp_created_at is None:
        return None
    return SuppressionEntry(
        id=item.supp_id,
        type=item.supp_type or "email",  # type: ignore[arg-type]
        value=item.supp_value or "",
        source=item.supp_source or "api",
        reason=item.supp_reason,
        created_at=item.supp_created_at,
    )


# The prospect statuses that mean "suppressed": a manual/API suppression, a hard bounce, an unsubscribe.
SUPPRESSED_STATUSES: frozenset[str] = frozenset({"suppressed", "bounced", "unsubscribed"})


def _entry_fields(workspace_id: str, entry: SuppressionEntry) -> dict[str, Any]:
    """The attributes an email entry sets on the address's email record (in this order)."""
    return {
        "supp_id": entry.id,
        "supp_type": entry.type,
        "supp_value": entry.value,
        "supp_source": entry.source,
        "supp_created_at": entry.created_at,
        **_index_attrs(workspace_id, entry),
        **({"supp_reason": entry.reason} if entry.reason else {}),
    }


# What an email entry leaves on its record: removed when the entry is deleted and a prospect owns the record.
_EMAIL_ENTRY_ATTRIBUTES = (
    "supp_id",
    "supp_type",
    "supp_value",
    "supp_reason",
    "supp_source",
    "supp_created_at",
    "gsi1pk",
    "gsi1sk",
    "gsi2pk",
    "gsi2sk",
)


class SuppressionRepository:
    def __init__(self) -> None:
        bind_models()

    def lookup(
        self, workspace_id: str, emails: Iterable[str]
    ) -> tuple[dict[str, EmailRecordView], dict[str, DomainSuppressionItem]]:
        """Email records and domain entries of the addresses: one BatchGetItem per 50 addresses."""
        addresses = list(dict.fromkeys(emails))
        keys = [(prospect_email_pk(workspace_id, e), table.ITEM_SK) for e in addresses]
        keys += [(suppressed_domain_pk(workspace_id, email_domain(e)), table.ITEM_SK) for e in addresses]
        raw = batch_get_raw(keys)
        records: dict[str, EmailRecordView] = {}
        domains: dict[str, DomainSuppressionItem] = {}
        for (pk, _), item in raw.items():
            if pk.startswith(prospect_email_prefix(workspace_id)):
                record = email_record_from_raw(item)
                records[record.email] = record
            else:
                domain_item = DomainSuppressionItem.from_raw_data(item)
                domains[domain_item.supp_value or ""] = domain_item
        return records, domains

    def add_email_entry(self, workspace_id: str, email: str, entry: SuppressionEntry) -> bool:
        """Put the entry on the email record (created when absent); False when the address already has one."""
        return add_email_fields(workspace_id, email, _entry_fields(workspace_id, entry))

    def suppress_prospect(
        self,
        workspace_id: str,
        email: str,
        prospect_id: str,
        entry: SuppressionEntry | None,
        when: datetime,
        status: str = "suppressed",
    ) -> bool:
        """Give the prospect a suppressed status (`suppressed`, `bounced` or `unsubscribed`) and add the email entry
        when given, in one transaction.

        False when the prospect already had one of those statuses or the entry already existed (nothing written)."""
        assert status in SUPPRESSED_STATUSES
        fields = _entry_fields(workspace_id, entry) if entry is not None else None
        try:
            with transaction() as tx:
                unless = sorted(SUPPRESSED_STATUSES)
                set_status_in(tx, workspace_id, email, prospect_id, status, when, unless=unless, fields=fields)
        except TransactWriteError as exc:
            if cancelled_by_condition(exc):
                return False
            raise
        return True

    def add_domain_entry(self, workspace_id: str, domain: str, entry: SuppressionEntry) -> bool:
        item = DomainSuppressionItem(
            pk=suppressed_domain_pk(workspace_id, domain),
            sk=table.ITEM_SK,
            supp_id=entry.id,
            supp_type="domain",
            supp_value=domain,
            supp_reason=entry.reason,
            supp_source=entry.source,
            supp_created_at=entry.created_at,
            **_index_attrs(workspace_id, entry),  # type: ignore[arg-type]
        )
        try:
            item.save(condition=DomainSuppressionItem.pk.does_not_exist())
        except PutError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def find(self, workspace_id: str, entry_id: str) -> SuppressionEntry | None:
        for item in DomainSuppressionItem.gsi2.query(
            suppression_ids_gsi_pk(workspace_id), DomainSuppressionItem.gsi2sk == entry_id, limit=1
        ):
            assert isinstance(item, DomainSuppressionItem)
            return entry_of(item)
        return None

    def delete_email_entry(self, workspace_id: str, email: str, entry_id: str) -> bool:
        return remove_email_fields(workspace_id, email, entry_id, _EMAIL_ENTRY_ATTRIBUTES)

    def delete_domain_entry(self, workspace_id: str, domain: str, entry_id: str) -> bool:
        try:
            DomainSuppressionItem(pk=suppressed_domain_pk(workspace_id, domain), sk=table.ITEM_SK).delete(
                condition=DomainSuppressionItem.supp_id == entry_id
            )
        except DeleteError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def page(
        self, workspace_id: str, entry_type: str | None, limit: int, cursor: str | None
    ) -> tuple[list[SuppressionEntry], str | None]:
        page: Page[Any] = query_page(
            DomainSuppressionItem.gsi1,
            suppressions_gsi_pk(workspace_id),
            workspace_id=workspace_id,
            limit=limit,
            cursor=cursor,
            filter_condition=(DomainSuppressionItem.supp_type == entry_type) if entry_type else None,
            newest_first=True,
            index_keys=("gsi1pk", "gsi1sk"),
        )
        entries = [entry_of(item) for item in page.items]
        return [e for e in entries if e is not None], page.next_cursor
