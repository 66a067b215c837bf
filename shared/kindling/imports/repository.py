"""Imports in DynamoDB.

- import:    pk `ws#IMPORT#<id>` sk `#`               status, columns, mapping, counters (ADDed per chunk)
- chunk:     pk `ws#IMPORT#<id>` sk `CHUNK#00000`     <= 500 raw rows, zlib-compressed JSON; pending -> done once;
                                                       TTL 7 days (the uploaded file is not kept beyond that)
- row error: pk `ws#IMPORT#<id>` sk `ERR#000012`      each chunk writes at most its first 100, so the query
                                                       of the first 100 by row number is exact
"""

from __future__ import annotations

import json
import zlib
from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError

from kindling.imports.models import COUNTERS, MAX_ROW_ERRORS, ProspectImport, RowError
from kindling.platform import table
from kindling.platform.dynamo import (
    TableModel,
    batch_write,
    bind_models,
    cancelled_by_condition,
    condition_failed,
    transaction,
)
from kindling.platform.errors import InvalidStatus, NotFound
from kindling.platform.keys import ERROR_PREFIX, import_chunk_sk, import_pk, import_row_error_sk
from kindling.prospects.repository import add_to_member_count

CHUNK_TTL = timedelta(days=7)


class ImportItem(TableModel):
    import_id = UnicodeAttribute()
    status = UnicodeAttribute()
    file_name = UnicodeAttribute(null=True)
    columns = UnicodeAttribute()
    sample_rows = UnicodeAttribute(default="[]")
    total_rows = NumberAttribute()
    chunk_count = NumberAttribute()
    list_id = UnicodeAttribute(null=True)
    list_name = UnicodeAttribute(null=True)
    update_existing = BooleanAttribute(default=False)
    mapping = UnicodeAttribute(null=True)
    job_id = UnicodeAttribute(null=True)
    created = NumberAttribute(default=0)
    updated = NumberAttribute(default=0)
    duplicate = NumberAttribute(default=0)
    suppressed = NumberAttribute(default=0)
    invalid = NumberAttribute(default=0)
    skipped = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    processed_rows = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()
    completed_at = UTCDateTimeAttribute(null=True)
    failure_reason = UnicodeAttribute(null=True)


class ChunkItem(TableModel):
    data = BinaryAttribute(legacy_encoding=False)
    row_count = NumberAttribute()
    state = UnicodeAttribute(default="pending")


class RowErrorItem(TableModel):
    row = NumberAttribute()
    line = NumberAttribute()
    code = UnicodeAttribute()
    message = UnicodeAttribute()
    email = UnicodeAttribute(null=True)


def encode_rows(rows: list[tuple[int, int, list[str]]]) -> bytes:
    return zlib.compress(json.dumps(rows, separators=(",", ":"), ensure_ascii=False).encode(), 6)


def decode_rows(data: bytes) -> list[tuple[int, int, list[str]]]:
    return [(int(r), int(line), list(cells)) for r, line, cells in json.loads(zlib.decompress(data))]


class ImportRepository:
    def __init__(self) -> None:
        bind_models()

    def put_chunk(
        self, workspace_id: str, import_id: str, index: int, rows: list[tuple[int, int, list[str]]], now: datetime
    ) -> None:
        ChunkItem(
            pk=import_pk(workspace_id, import_id),
            sk=import_chunk_sk(index),
            data=encode_rows(rows),
            row_count=len(rows),
            expires_at=int((now + CHUNK_TTL).timestamp()),
        ).save()

    def create(self, record: ProspectImport) -> None:
        ImportItem(
            pk=import_pk(record.workspace_id, record.id),
            sk=table.ITEM_SK,
            import_id=record.id,
            status=record.status,
            file_name=record.file_name,
            columns=json.dumps(record.columns, ensure_ascii=False),
            sample_rows=json.dumps(record.sample_rows, ensure_ascii=False),
            total_rows=record.total_rows,
            chunk_count=record.chunk_count,
            list_id=record.list_id,
            list_name=record.list_name,
            update_existing=record.update_existing,
            created_at=record.created_at,
        ).save(condition=ImportItem.pk.does_not_exist())

    def get(self, workspace_id: str, import_id: str, *, with_errors: bool = True) -> ProspectImport:
        pk = import_pk(workspace_id, import_id)
        try:
            item = ImportItem.get(pk, table.ITEM_SK, consistent_read=True)
        except DoesNotExist as exc:
            raise NotFound(f"Import {import_id} not found.") from exc
        errors: list[RowError] = []
        if with_errors:
            errors = [
                RowError(row=int(e.row), line=int(e.line), code=e.code, message=e.message, email=e.email)
                for e in RowErrorItem.query(pk, RowErrorItem.sk.startswith(ERROR_PREFIX), limit=MAX_ROW_ERRORS)
            ]
        return ProspectImport(
            id=item.import_id,
            workspace_id=workspace_id,
            status=item.status,  # type: ignore[arg-type]
            file_name=item.file_name,
            columns=json.loads(item.columns),
            total_rows=int(item.total_rows),
            chunk_count=int(item.chunk_count),
            sample_rows=json.loads(item.sample_rows or "[]"),
            list_id=item.list_id,
            list_name=item.list_name,
            update_existing=bool(item.update_existing),
            mapping=json.loads(item.mapping) if item.mapping else None,
            job_id=item.job_id,
            counts={name: int(getattr(item, name) or 0) for name in COUNTERS},
            processed_rows=int(item.processed_rows or 0),
            errors=errors,
            created_at=item.created_at,
            completed_at=item.completed_at,
            failure_reason=item.failure_reason,
        )

    def start(
        self,
        workspace_id: str,
        import_id: str,
        mapping: dict[str, str | None],
        list_id: str | None,
        update_existing: bool,
    ) -> None:
        """pending_mapping -> processing, exactly once."""
        actions: list[Any] = [
            ImportItem.status.set("processing"),
            ImportItem.mapping.set(json.dumps(mapping, ensure_ascii=False)),
            ImportItem.update_existing.set(update_existing),
        ]
        if list_id is not None:
            actions.append(ImportItem.list_id.set(list_id))
        try:
            ImportItem(pk=import_pk(workspace_id, import_id), sk=table.ITEM_SK).update(
                actions=actions, condition=ImportItem.status == "pending_mapping"
            )
        except UpdateError as exc:
            if condition_failed(exc):
                raise InvalidStatus("The import's mapping was already confirmed.") from exc
            raise

    def set_job(self, workspace_id: str, import_id: str, job_id: str) -> None:
        ImportItem(pk=import_pk(workspace_id, import_id), sk=table.ITEM_SK).update(
            actions=[ImportItem.job_id.set(job_id)]
        )

    def get_chunk(self, workspace_id: str, import_id: str, index: int) -> tuple[list[tuple[int, int, list[str]]], str]:
        try:
            item = ChunkItem.get(import_pk(workspace_id, import_id), import_chunk_sk(index), consistent_read=True)
        except DoesNotExist as exc:
            raise NotFound(f"Import {import_id} has no chunk {index} (expired?).") from exc
        return decode_rows(item.data), item.state

    def record_chunk(
        self,
        workspace_id: str,
        import_id: str,
        index: int,
        counts: dict[str, int],
        rows: int,
        list_id: str | None,
        new_members: int,
    ) -> bool:
        """Mark the chunk done and add its counts (and the list's new members), atomically and once."""
        pk = import_pk(workspace_id, import_id)
        try:
            with transaction() as tx:
                tx.update(
                    ChunkItem(pk=pk, sk=import_chunk_sk(index)),
                    actions=[ChunkItem.state.set("done")],
                    condition=ChunkItem.state == "pending",
                )
                tx.update(
                    ImportItem(pk=pk, sk=table.ITEM_SK),
                    actions=[
                        ImportItem.processed_rows.add(rows),
                        *(getattr(ImportItem, name).add(counts.get(name, 0)) for name in COUNTERS),
                    ],
                    condition=ImportItem.pk.exists(),
                )
                if list_id is not None and new_members:
                    add_to_member_count(tx, workspace_id, list_id, new_members)
        except TransactWriteError as exc:
            if cancelled_by_condition(exc):
                return False
            raise
        return True

    def row_error_items(self, workspace_id: str, import_id: str, errors: list[RowError]) -> list[TableModel]:
        pk = import_pk(workspace_id, import_id)
        return [
            RowErrorItem(
                pk=pk,
                sk=import_row_error_sk(e.row),
                row=e.row,
                line=e.line,
                code=e.code,
                message=e.message[:500],
                email=e.email,
            )
            for e in errors[:MAX_ROW_ERRORS]
        ]

    def write(self, items: list[TableModel]) -> None:
        batch_write(items)

    def finish(self, workspace_id: str, import_id: str, status: str, when: datetime, reason: str | None) -> bool:
        actions: list[Any] = [ImportItem.status.set(status), ImportItem.completed_at.set(when)]
        if reason is not None:
            actions.append(ImportItem.failure_reason.set(reason[:1000]))
        try:
            ImportItem(pk=import_pk(workspace_id, import_id), sk=table.ITEM_SK).update(
                actions=actions, condition=ImportItem.status == "processing"
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True
