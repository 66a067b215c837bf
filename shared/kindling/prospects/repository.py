"""Prospects, the per-email record, lists and list members in DynamoDB.

- prospect:     pk `ws#PROSPECT#<id>`   sk `#`; gsi1 `ws#PROSPECT` / `<created>#<id>` (the collection),
                gsi2 `ws#PROSPECT_UPDATED` / `<updated>#<id>` (the `updatedSince` filter)
- email record: pk `ws#EMAIL#<email>`   sk `#`; one item per address holding the prospect pointer and status
                (the uniqueness guard, written in the same transaction as the prospect) and, when the address
                itself is on the blocklist, the email suppression entry. So "is this address suppressed?"
                reads this item plus the domain entry: two keys, one BatchGetItem.
- list:         pk `ws#LIST#<id>`       sk `#`; gsi1 `ws#LIST` / `<created>#<id>`; `prospect_count` kept exact
- member:       pk `ws#LIST#<id>`       sk `M#<prospect id>` (written with the count in one transaction)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from kindling.platform import table
from kindling.platform.clock import isoformat
from kindling.platform.dynamo import (
    Page,
    TableModel,
    batch_get_raw,
    batch_write,
    bind_models,
    cancelled_by_condition,
    condition_failed,
    query_page,
    transaction,
)
from kindling.platform.errors import NotFound
from kindling.platform.jsonsafe import finite, loads_lenient
from kindling.platform.keys import (
    MEMBER_PREFIX,
    list_pk,
    lists_gsi_pk,
    member_sk,
    prospect_email_pk,
    prospect_pk,
    prospects_gsi_pk,
    prospects_updated_gsi_pk,
    time_ordered_sk,
)
from kindling.prospects.models import Prospect, ProspectFilters, ProspectList


def _ts(when: datetime) -> str:
    return isoformat(when) or ""


class ProspectItem(TableModel):
    prospect_id = UnicodeAttribute()
    email = UnicodeAttribute()
    first_name = UnicodeAttribute(null=True)
    last_name = UnicodeAttribute(null=True)
    company = UnicodeAttribute(null=True)
    role = UnicodeAttribute(null=True)
    phone = UnicodeAttribute(null=True)
    linkedin_url = UnicodeAttribute(null=True)
    website = UnicodeAttribute(null=True)
    country = UnicodeAttribute(null=True)
    city = UnicodeAttribute(null=True)
    industry = UnicodeAttribute(null=True)
    global_status = UnicodeAttribute(default="active")
    custom_fields = UnicodeAttribute(default="{}")
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class EmailRecordItem(TableModel):
    email = UnicodeAttribute()
    prospect_id = UnicodeAttribute(null=True)
    prospect_status = UnicodeAttribute(null=True)
    import_id = UnicodeAttribute(null=True)  # the import that created the prospect (retry and in-file dedupe)
    import_row = NumberAttribute(null=True)
    # The email suppression entry, when the address is on the blocklist (same names as the domain entry's).
    supp_id = UnicodeAttribute(null=True)
    supp_type = UnicodeAttribute(null=True)
    supp_value = UnicodeAttribute(null=True)
    supp_reason = UnicodeAttribute(null=True)
    supp_source = UnicodeAttribute(null=True)
    supp_created_at = UTCDateTimeAttribute(null=True)
    # When this person first replied to any campaign: campaigns that stop on replies never send to them again.
    replied_at = UTCDateTimeAttribute(null=True)


class ListItem(TableModel):
    list_id = UnicodeAttribute()
    name = UnicodeAttribute()
    color = UnicodeAttribute(null=True)
    prospect_count = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class MemberItem(TableModel):
    prospect_id = UnicodeAttribute()
    added_at = UTCDateTimeAttribute()
    import_id = UnicodeAttribute(null=True)


def prospect_item(prospect: Prospect) -> ProspectItem:
    ws = prospect.workspace_id
    return ProspectItem(
        pk=prospect_pk(ws, prospect.id),
        sk=table.ITEM_SK,
        gsi1pk=prospects_gsi_pk(ws),
        gsi1sk=time_ordered_sk(_ts(prospect.created_at), prospect.id),
        gsi2pk=prospects_updated_gsi_pk(ws),
        gsi2sk=time_ordered_sk(_ts(prospect.updated_at), prospect.id),
        prospect_id=prospect.id,
        email=prospect.email,
        first_name=prospect.first_name,
        last_name=prospect.last_name,
        company=prospect.company,
        role=prospect.role,
        phone=prospect.phone,
        linkedin_url=prospect.linkedin_url,
        website=prospect.website,
        country=prospect.country,
        city=prospect.city,
        industry=prospect.industry,
        global_status=prospect.global_status,
        custom_fields=json.dumps(finite(prospect.custom_fields), separators=(",", ":"), allow_nan=False),
        created_at=prospect.created_at,
        updated_at=prospect.updated_at,
    )


def prospect_from_item(workspace_id: str, item: ProspectItem) -> Prospect:
    return Prospect(
        id=item.prospect_id,
        workspace_id=workspace_id,
        email=item.email,
        first_name=item.first_name,
        last_name=item.last_name,
        company=item.company,
        role=item.role,
        phone=item.phone,
        linkedin_url=item.linkedin_url,
        website=item.website,
        country=item.country,
        city=item.city,
        industry=item.industry,
        global_status=item.global_status,  # type: ignore[arg-type]
        custom_fields=loads_lenient(item.custom_fields or "{}"),
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


def new_email_record(
    prospect: Prospect, import_id: str | None = None, import_row: int | None = None
) -> EmailRecordItem:
    return EmailRecordItem(
        pk=prospect_email_pk(prospect.workspace_id, prospect.email),
        sk=table.ITEM_SK,
        email=prospect.email,
        prospect_id=prospect.id,
        prospect_status=prospect.global_status,
        import_id=import_id,
        import_row=import_row,
    )


def new_member(workspace_id: str, list_id: str, prospect_id: str, added_at: datetime, import_id: str) -> TableModel:
    """A list member written by an import (the caller batches it with the chunk's other puts)."""
    return MemberItem(
        pk=list_pk(workspace_id, list_id),
        sk=member_sk(prospect_id),
        prospect_id=prospect_id,
        added_at=added_at,
        import_id=import_id,
    )


def add_to_member_count(tx: TransactWrite, workspace_id: str, list_id: str, new_members: int) -> None:
    """Add a list's new members to its count inside the caller's transaction (the list must exist)."""
    tx.update(
        ListItem(pk=list_pk(workspace_id, list_id), sk=table.ITEM_SK),
        actions=[ListItem.prospect_count.add(new_members)],
        condition=ListItem.pk.exists(),
    )


def list_member_ids(workspace_id: str, list_id: str) -> Iterator[str]:
    """Every member of a prospect list, in pages (only the keys are read)."""
    for member in MemberItem.query(
        list_pk(workspace_id, list_id), MemberItem.sk.startswith(MEMBER_PREFIX), attributes_to_get=["sk"]
    ):
        yield member.sk[len(MEMBER_PREFIX) :]


def prospect_from_raw(workspace_id: str, raw: dict[str, Any]) -> Prospect:
    """A prospect from a batch read's raw item (the scheduler reads it with the enrollment's other keys)."""
    return prospect_from_item(workspace_id, ProspectItem.from_raw_data(raw))


def email_record_from_raw(raw: dict[str, Any]) -> EmailRecordItem:
    """An email record from a batch read's raw item (the suppression check reads it with the domain entry)."""
    return EmailRecordItem.from_raw_data(raw)


def add_email_fields(workspace_id: str, email: str, fields: dict[str, Any]) -> bool:
    """Set `fields` (a suppression entry's supp_* and index attributes) on the address's email record, created
    when absent; False when the record already holds an entry (nothing written)."""
    record = EmailRecordItem(pk=prospect_email_pk(workspace_id, email), sk=table.ITEM_SK)
    try:
        record.update(
            actions=[EmailRecordItem.email.set(email), *_set_fields(fields)],
            condition=EmailRecordItem.supp_id.does_not_exist(),
        )
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def set_status_in(
    tx: TransactWrite,
    workspace_id: str,
    email: str,
    prospect_id: str,
    status: str,
    when: datetime,
    *,
    unless: Sequence[str],
    fields: dict[str, Any] | None,
) -> None:
    """In the caller's transaction: give the prospect (and its email record) `status` unless it already has one of
    `unless`, and set `fields` (an email suppression entry) on the record when given, only if it holds none."""
    actions: list[Any] = [EmailRecordItem.prospect_status.set(status)]
    condition = (EmailRecordItem.prospect_id == prospect_id) & ~EmailRecordItem.prospect_status.is_in(*unless)
    if fields is not None:
        actions += _set_fields(fields)
        condition = condition & EmailRecordItem.supp_id.does_not_exist()
    tx.update(EmailRecordItem(pk=prospect_email_pk(workspace_id, email), sk=table.ITEM_SK), actions, condition)
    tx.update(
        ProspectItem(pk=prospect_pk(workspace_id, prospect_id), sk=table.ITEM_SK),
        actions=[
            ProspectItem.global_status.set(status),
            ProspectItem.updated_at.set(when),
            ProspectItem.gsi2sk.set(time_ordered_sk(isoformat(when), prospect_id)),
        ],
        condition=ProspectItem.pk.exists(),
    )


def remove_email_fields(workspace_id: str, email: str, entry_id: str, names: Sequence[str]) -> bool:
    """Take the suppression entry `entry_id` off the address's email record: remove `names` when a prospect owns
    the record, delete the record otherwise. False when the record holds no such entry."""
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
                actions=[*(getattr(EmailRecordItem, name).remove() for name in names)],
                condition=EmailRecordItem.supp_id == entry_id,
            )
        else:
            record.delete(condition=EmailRecordItem.supp_id == entry_id)
    except (UpdateError, DeleteError) as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def _set_fields(fields: dict[str, Any]) -> list[Any]:
    return [getattr(EmailRecordItem, name).set(value) for name, value in fields.items()]


def list_from_item(workspace_id: str, item: ListItem) -> ProspectList:
    return ProspectList(
        id=item.list_id,
        workspace_id=workspace_id,
        name=item.name,
        color=item.color,
        prospect_count=int(item.prospect_count or 0),
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


class ProspectRepository:
    def __init__(self) -> None:
        bind_models()

    # --- prospects ---------------------------------------------------------------------------------

    def get(self, workspace_id: str, prospect_id: str) -> Prospect:
        try:
            item = ProspectItem.get(prospect_pk(workspace_id, prospect_id), table.ITEM_SK, consistent_read=True)
        except DoesNotExist as exc:
            raise NotFound(f"Prospect {prospect_id} not found.") from exc
        return prospect_from_item(workspace_id, item)

    def get_many(self, workspace_id: str, prospect_ids: Iterable[str]) -> dict[str, Prospect]:
        raw = batch_get_raw((prospect_pk(workspace_id, pid), table.ITEM_SK) for pid in prospect_ids)
        prospects = [prospect_from_item(workspace_id, ProspectItem.from_raw_data(item)) for item in raw.values()]
        return {p.id: p for p in prospects}

    def email_records(self, workspace_id: str, emails: Iterable[str]) -> dict[str, EmailRecordItem]:
        raw = batch_get_raw((prospect_email_pk(workspace_id, e), table.ITEM_SK) for e in emails)
        records = [EmailRecordItem.from_raw_data(item) for item in raw.values()]
        return {r.email: r for r in records}

    def email_record(self, workspace_id: str, email: str) -> EmailRecordItem | None:
        try:
            return EmailRecordItem.get(prospect_email_pk(workspace_id, email), table.ITEM_SK, consistent_read=True)
        except DoesNotExist:
            return None

    def mark_replied(self, workspace_id: str, email: str, when: datetime) -> None:
        """Record the first reply from this address (kept on its email record, which every send check reads)."""
        try:
            EmailRecordItem(pk=prospect_email_pk(workspace_id, email), sk=table.ITEM_SK).update(
                actions=[EmailRecordItem.replied_at.set(EmailRecordItem.replied_at | when)],
                condition=EmailRecordItem.pk.exists(),
            )
        except UpdateError as exc:
            if not condition_failed(exc):
                raise

    def withdraw_replied(self, workspace_id: str, email: str, replied_at: datetime) -> bool:
        """Forget the reply mark set at `replied_at` (a reply that turned out to be an out-of-office); a mark from any
        other reply stays. True when it was removed."""
        try:
            EmailRecordItem(pk=prospect_email_pk(workspace_id, email), sk=table.ITEM_SK).update(
                actions=[EmailRecordItem.replied_at.remove()],
                condition=EmailRecordItem.replied_at == replied_at,
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def insert(self, prospect: Prospect) -> bool:
        """Write a new prospect and claim its email in one transaction; False when the email is taken."""
        record = EmailRecordItem(pk=prospect_email_pk(prospect.workspace_id, prospect.email), sk=table.ITEM_SK)
        try:
            with transaction() as tx:
                tx.save(prospect_item(prospect), condition=ProspectItem.pk.does_not_exist())
                tx.update(
                    record,
                    actions=[
                        EmailRecordItem.email.set(prospect.email),
                        EmailRecordItem.prospect_id.set(prospect.id),
                        EmailRecordItem.prospect_status.set(prospect.global_status),
                    ],
                    condition=EmailRecordItem.prospect_id.does_not_exist(),
                )
        except TransactWriteError as exc:
            if cancelled_by_condition(exc):
                return False
            raise
        return True

    def replace(self, prospect: Prospect, *, status_changed: bool) -> None:
        """Save an existing prospect (and mirror its status onto the email record when it changed)."""
        with transaction() as tx:
            tx.save(prospect_item(prospect), condition=ProspectItem.pk.exists())
            if status_changed:
                tx.update(
                    EmailRecordItem(pk=prospect_email_pk(prospect.workspace_id, prospect.email), sk=table.ITEM_SK),
                    actions=[EmailRecordItem.prospect_status.set(prospect.global_status)],
                    condition=EmailRecordItem.prospect_id == prospect.id,
                )

    def page(
        self, workspace_id: str, filters: ProspectFilters, limit: int, cursor: str | None
    ) -> tuple[list[Prospect], str | None]:
        status_filter = ProspectItem.global_status == filters.global_status if filters.global_status else None
        if filters.list_id:
            return self._list_page(workspace_id, filters, limit, cursor)
        if filters.updated_since is not None:
            page: Page[Any] = query_page(
                ProspectItem.gsi2,
                prospects_updated_gsi_pk(workspace_id),
                workspace_id=workspace_id,
                limit=limit,
                cursor=cursor,
                range_condition=ProspectItem.gsi2sk >= _ts(filters.updated_since),  # inclusive
                filter_condition=status_filter,
                newest_first=False,
                index_keys=("gsi2pk", "gsi2sk"),
            )
        else:
            page = query_page(
                ProspectItem.gsi1,
                prospects_gsi_pk(workspace_id),
                workspace_id=workspace_id,
                limit=limit,
                cursor=cursor,
                filter_condition=status_filter,
                newest_first=True,
                index_keys=("gsi1pk", "gsi1sk"),
            )
        return [prospect_from_item(workspace_id, i) for i in page.items], page.next_cursor

    def _list_page(
        self, workspace_id: str, filters: ProspectFilters, limit: int, cursor: str | None
    ) -> tuple[list[Prospect], str | None]:
        assert filters.list_id is not None
        self.get_list(workspace_id, filters.list_id)
        page: Page[Any] = query_page(
            MemberItem,
            list_pk(workspace_id, filters.list_id),
            workspace_id=workspace_id,
            limit=limit,
            cursor=cursor,
            range_condition=MemberItem.sk.startswith(MEMBER_PREFIX),
            newest_first=False,
        )
        found = self.get_many(workspace_id, [m.prospect_id for m in page.items])
        prospects = [found[m.prospect_id] for m in page.items if m.prospect_id in found]
        if filters.global_status:
            prospects = [p for p in prospects if p.global_status == filters.global_status]
        if filters.updated_since is not None:
            since = filters.updated_since
            prospects = [p for p in prospects if p.updated_at >= since]
        return prospects, page.next_cursor

    # --- lists -------------------------------------------------------------------------------------

    def put_list(self, prospect_list: ProspectList) -> None:
        ws = prospect_list.workspace_id
        ListItem(
            pk=list_pk(ws, prospect_list.id),
            sk=table.ITEM_SK,
            gsi1pk=lists_gsi_pk(ws),
            gsi1sk=time_ordered_sk(_ts(prospect_list.created_at), prospect_list.id),
            list_id=prospect_list.id,
            name=prospect_list.name,
            color=prospect_list.color,
            prospect_count=prospect_list.prospect_count,
            created_at=prospect_list.created_at,
            updated_at=prospect_list.updated_at,
        ).save(condition=ListItem.pk.does_not_exist())

    def get_list(self, workspace_id: str, list_id: str) -> ProspectList:
        try:
            item = ListItem.get(list_pk(workspace_id, list_id), table.ITEM_SK, consistent_read=True)
        except DoesNotExist as exc:
            raise NotFound(f"List {list_id} not found.") from exc
        return list_from_item(workspace_id, item)

    def lists_page(self, workspace_id: str, limit: int, cursor: str | None) -> tuple[list[ProspectList], str | None]:
        page: Page[Any] = query_page(
            ListItem.gsi1,
            lists_gsi_pk(workspace_id),
            workspace_id=workspace_id,
            limit=limit,
            cursor=cursor,
            newest_first=True,
            index_keys=("gsi1pk", "gsi1sk"),
        )
        return [list_from_item(workspace_id, i) for i in page.items], page.next_cursor

    def update_list(self, workspace_id: str, list_id: str, changes: dict[str, Any], when: datetime) -> ProspectList:
        actions: list[Any] = [ListItem.updated_at.set(when)]
        for name, value in changes.items():
            attribute = getattr(ListItem, name)
            actions.append(attribute.remove() if value is None else attribute.set(value))
        item = ListItem(pk=list_pk(workspace_id, list_id), sk=table.ITEM_SK)
        try:
            item.update(actions=actions, condition=ListItem.pk.exists())
        except Exception as exc:
            if condition_failed(exc):
                raise NotFound(f"List {list_id} not found.") from exc
            raise
        return self.get_list(workspace_id, list_id)

    def delete_list(self, workspace_id: str, list_id: str) -> None:
        pk = list_pk(workspace_id, list_id)
        try:
            ListItem(pk=pk, sk=table.ITEM_SK).delete(condition=ListItem.pk.exists())
        except Exception as exc:
            if condition_failed(exc):
                raise NotFound(f"List {list_id} not found.") from exc
            raise
        members = list(MemberItem.query(pk, MemberItem.sk.startswith(MEMBER_PREFIX), attributes_to_get=["pk", "sk"]))
        batch_write([], members)

    def existing_members(self, workspace_id: str, list_id: str, prospect_ids: Iterable[str]) -> set[str]:
        pk = list_pk(workspace_id, list_id)
        raw = batch_get_raw((pk, member_sk(pid)) for pid in prospect_ids)
        return {sk[2:] for _, sk in raw}

    def change_members(
        self, workspace_id: str, list_id: str, prospect_ids: Sequence[str], when: datetime, *, add: bool
    ) -> bool:
        """Add (or remove) members and move the count by exactly as many, in one transaction (<= 99 ids).

        False when a member's state changed since it was read (the caller re-reads and retries)."""
        pk = list_pk(workspace_id, list_id)
        try:
            with transaction() as tx:
                for pid in prospect_ids:
                    if add:
                        tx.save(
                            MemberItem(pk=pk, sk=member_sk(pid), prospect_id=pid, added_at=when),
                            condition=MemberItem.pk.does_not_exist(),
                        )
                    else:
                        tx.delete(MemberItem(pk=pk, sk=member_sk(pid)), condition=MemberItem.pk.exists())
                delta = len(prospect_ids) if add else -len(prospect_ids)
                tx.update(
                    ListItem(pk=pk, sk=table.ITEM_SK),
                    actions=[ListItem.prospect_count.add(delta), ListItem.updated_at.set(when)],
                    condition=ListItem.pk.exists(),
                )
        except TransactWriteError as exc:
            if cancelled_by_condition(exc):
                return False
            raise
        return True
