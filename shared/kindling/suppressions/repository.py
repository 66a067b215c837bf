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
from pynamodb.exceptions import DeleteError, PutError, TransactWriteError, UpdateError

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
    prospect_pk,
    suppressed_domain_pk,
    suppression_ids_gsi_pk,
    suppressions_gsi_pk,
    time_ordered_sk,
)
from kindling.prospects.fields import email_domain
from kindling.prospects.repository import EmailRecordItem, ProspectItem
from kindling.suppressions.models import SuppressionEntry


class DomainSuppressionItem(TableModel):
    """A domain entry. Also the read view of any entry in the gsi queries (email records share the names)."""

    supp_id = UnicodeAttribute(null=True)
    supp_type = UnicodeAttribute(null=True)
    supp_value = UnicodeAttribute(null=True)
    supp_reason = UnicodeAttribute(null=True)
    supp_source = UnicodeAttribute(null=True)
    supp_created_at = UTCDateTimeAttribute(null=True)


def _index_attrs(workspace_id: str, entry: SuppressionEntry) -> dict[str, str]:
    return {
        "gsi1pk": suppressions_gsi_pk(workspace_id),
        "gsi1sk": time_ordered_sk(isoformat(entry.created_at), entry.id),
        "gsi2pk": suppression_ids_gsi_pk(workspace_id),
        "gsi2sk": entry.id,
    }


def entry_of(item: EmailRecordItem | DomainSuppressionItem) -> SuppressionEntry | None:
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


def _entry_actions(model: type[EmailRecordItem], workspace_id: str, entry: SuppressionEntry) -> list[Any]:
    index = _index_attrs(workspace_id, entry)
    return [
        model.supp_id.set(entry.id),
        model.supp_type.set(entry.type),
        model.supp_value.set(entry.value),
        model.supp_source.set(entry.source),
        model.supp_created_at.set(entry.created_at),
        model.gsi1pk.set(index["gsi1pk"]),
        model.gsi1sk.set(index["gsi1sk"]),
        model.gsi2pk.set(index["gsi2pk"]),
        model.gsi2sk.set(index["gsi2sk"]),
        *([model.supp_reason.set(entry.reason)] if entry.reason else []),
    ]


class SuppressionRepository:
    def __init__(self) -> None:
        bind_models()

    def lookup(
        self, workspace_id: str, emails: Iterable[str]
    ) -> tuple[dict[str, EmailRecordItem], dict[str, DomainSuppressionItem]]:
        """Email records and domain entries of the addresses: one BatchGetItem per 50 addresses."""
        addresses = list(dict.fromkeys(emails))
        keys = [(prospect_email_pk(workspace_id, e), table.ITEM_SK) for e in addresses]
        keys += [(suppressed_domain_pk(workspace_id, email_domain(e)), table.ITEM_SK) for e in addresses]
        raw = batch_get_raw(keys)
        records: dict[str, EmailRecordItem] = {}
        domains: dict[str, DomainSuppressionItem] = {}
        for (pk, _), item in raw.items():
            if pk.startswith(prospect_email_prefix(workspace_id)):
                record = EmailRecordItem.from_raw_data(item)
                records[record.email] = record
            else:
                domain_item = DomainSuppressionItem.from_raw_data(item)
                domains[domain_item.supp_value or ""] = domain_item
        return records, domains

    def add_email_entry(self, workspace_id: str, email: str, entry: SuppressionEntry) -> bool:
        """Put the entry on the email record (created when absent); False when the address already has one."""
        record = EmailRecordItem(pk=prospect_email_pk(workspace_id, email), sk=table.ITEM_SK)
        try:
            record.update(
                actions=[EmailRecordItem.email.set(email), *_entry_actions(EmailRecordItem, workspace_id, entry)],
                condition=EmailRecordItem.supp_id.does_not_exist(),
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

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
        actions: list[Any] = [EmailRecordItem.prospect_status.set(status)]
        condition = (EmailRecordItem.prospect_id == prospect_id) & ~EmailRecordItem.prospect_status.is_in(
            *sorted(SUPPRESSED_STATUSES)
        )
        if entry is not None:
            actions += _entry_actions(EmailRecordItem, workspace_id, entry)
            condition = condition & EmailRecordItem.supp_id.does_not_exist()
        try:
            with transaction() as tx:
                tx.update(
                    EmailRecordItem(pk=prospect_email_pk(workspace_id, email), sk=table.ITEM_SK), actions, condition
                )
                tx.update(
                    ProspectItem(pk=prospect_pk(workspace_id, prospect_id), sk=table.ITEM_SK),
                    actions=[
                        ProspectItem.global_status.set(status),
                        ProspectItem.updated_at.set(when),
                        ProspectItem.gsi2sk.set(time_ordered_sk(isoformat(when), prospect_id)),
                    ],
                    condition=ProspectItem.pk.exists(),
                )
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
        pk = prospect_email_pk(workspace_id, email)
        try:
            record = EmailRecordItem.get(pk, table.ITEM_SK, consistent_read=True)
        except EmailRecordItem.DoesNotExist:
            return False
        if record.supp_id != entry_id:
            return False
        try:
            if record.prospect_id:
                record.update(
                    actions=[
                        *(
                            getattr(EmailRecordItem, name).remove()
                            for name in (
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
                        )
                    ],
                    condition=EmailRecordItem.supp_id == entry_id,
                )
            else:
                record.delete(condition=EmailRecordItem.supp_id == entry_id)
        except (UpdateError, DeleteError) as exc:
            if condition_failed(exc):
                return False
            raise
        return True

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
