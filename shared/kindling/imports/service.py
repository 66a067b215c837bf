"""CSV import rules: upload (validate, store in chunks), mapping preview/confirm, and chunk processing.

Processing runs as a `prospect_import` job through the generic jobs runner (Step Functions): the job's items
are the chunk indexes, all in ONE batch, so the chunks of an import run one after another in one task. That
order is what makes in-file duplicates across chunks exact without holding the file: a later chunk finds the
earlier chunk's prospects already written (marked with this import's id and row) and counts them duplicate.
Per chunk: one GetItem, BatchGetItem for the email records and domain entries (100 keys per request),
BatchWriteItem for prospects, email records, list members and row errors (25 per request), one transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import BinaryIO

from pydantic import ValidationError

from kindling.imports import csvfile, mapping
from kindling.imports.models import (
    JOB_TYPE,
    MAX_ROW_ERRORS,
    MappingConfirm,
    ProspectImport,
    RowError,
    empty_counts,
)
from kindling.imports.repository import ImportRepository
from kindling.jobs.models import ItemFailure
from kindling.jobs.registry import BatchContext
from kindling.jobs.service import JobService
from kindling.platform.clock import Clock, get_clock
from kindling.platform.dynamo import TableModel
from kindling.platform.errors import InvalidStatus, NotFound, PayloadTooLarge, ValidationFailed, field_error
from kindling.platform.ids import new_uuid, prefixed_id
from kindling.platform.observability import get_logger
from kindling.prospects.fields import email_domain, is_placeholder
from kindling.prospects.models import TEXT_FIELDS, ListCreate, Prospect, ProspectCreate
from kindling.prospects.repository import ProspectRepository, new_email_record, new_member, prospect_item
from kindling.prospects.service import ListService
from kindling.suppressions.repository import SuppressionRepository
from kindling.suppressions.service import decide


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


class ImportService:
    def __init__(
        self,
        repository: ImportRepository | None = None,
        prospects: ProspectRepository | None = None,
        suppressions: SuppressionRepository | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._repo = repository or ImportRepository()
        self._prospects = prospects or ProspectRepository()
        self._suppressions = suppressions or SuppressionRepository()
        self._clock = clock

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    # --- upload ------------------------------------------------------------------------------------

    def upload(
        self,
        workspace_id: str,
        stream: BinaryIO,
        *,
        file_name: str | None,
        size: int | None,
        list_id: str | None = None,
        list_name: str | None = None,
        update_existing: bool = False,
    ) -> ProspectImport:
        """Validate the whole file first (nothing is written for a bad file), then store it in chunks."""
        if size is not None and size > csvfile.MAX_BYTES:
            raise PayloadTooLarge(f"The file is larger than {csvfile.MAX_BYTES // (1024 * 1024)} MB.")
        if file_name and file_name.lower().endswith((".xlsx", ".xls")):
            raise ValidationFailed(
                "Only CSV files are accepted; export the spreadsheet as CSV UTF-8.",
                code="unsupported_file_type",
                details=[field_error("file", "only .csv files are accepted", "unsupported_file_type")],
            )
        if list_id is not None:
            self._prospects.get_list(workspace_id, list_id)
        try:
            scan = csvfile.scan(stream)
        except csvfile.CsvProblem as problem:
            detail = field_error("file", problem.message, problem.code)
            if problem.line is not None:
                detail["line"] = problem.line
            raise ValidationFailed(problem.message, code=problem.code, details=[detail]) from problem
        if not mapping.has_identity(dict(mapping.suggest(scan.columns))):
            message = "No column holds the email address: name one 'email' (or 'linkedinUrl' for LinkedIn-only rows)."
            raise ValidationFailed(
                message, code="missing_email_column", details=[field_error("file", message, "missing_email_column")]
            )
        import_id = prefixed_id("imp")
        now = self._now()
        count, row_number = 0, 0
        for chunk in csvfile.chunks(stream):
            rows = []
            for line, cells in chunk.rows:
                row_number += 1
                rows.append((row_number, line, cells))
            self._repo.put_chunk(workspace_id, import_id, chunk.index, rows, now)
            count += 1
            # Unbind before the generator builds the next chunk, or two chunks would be alive at once.
            del chunk, rows
        record = ProspectImport(
            id=import_id,
            workspace_id=workspace_id,
            status="pending_mapping",
            file_name=(file_name or None) and file_name[:255],
            columns=scan.columns,
            total_rows=scan.total_rows,
            chunk_count=count,
            sample_rows=scan.sample_rows,
            list_id=list_id,
            list_name=list_name if list_id is None else None,
            update_existing=update_existing,
            created_at=now,
        )
        self._repo.create(record)
        return record

    # --- mapping -----------------------------------------------------------------------------------

    def get(self, workspace_id: str, import_id: str) -> ProspectImport:
        record = self._repo.get(workspace_id, import_id)
        if record.status == "processing" and record.job_id:
            try:
                job = JobService().get(workspace_id, record.job_id)
            except NotFound:
                return record
            if job.status == "failed":
                self._repo.finish(workspace_id, import_id, "failed", self._now(), job.failure_reason or "job failed")
                record = self._repo.get(workspace_id, import_id)
        return record

    def preview(self, workspace_id: str, import_id: str) -> tuple[ProspectImport, dict[str, str]]:
        record = self._repo.get(workspace_id, import_id, with_errors=False)
        return record, mapping.suggest(record.columns)

    def confirm(self, workspace_id: str, import_id: str, data: MappingConfirm) -> ProspectImport:
        record = self._repo.get(workspace_id, import_id, with_errors=False)
        if record.status != "pending_mapping":
            raise InvalidStatus(f"The import is {record.status}; its mapping can be confirmed only once.")
        resolved = mapping.resolve(record.columns, data.mapping)
        list_id = data.list_id or record.list_id
        list_name = data.list_name or record.list_name
        if data.list_id:
            self._prospects.get_list(workspace_id, data.list_id)
        elif list_id is None and list_name:
            list_id = ListService(self._prospects, self._clock).create(workspace_id, ListCreate(name=list_name)).id
        update_existing = record.update_existing if data.update_existing is None else data.update_existing
        self._repo.start(workspace_id, import_id, resolved, list_id, update_existing)
        chunk_ids = [str(i) for i in range(record.chunk_count)]
        try:
            job = JobService().create(workspace_id, JOB_TYPE, chunk_ids, {"import_id": import_id})
        except Exception as exc:
            self._repo.finish(workspace_id, import_id, "failed", self._now(), f"could not start: {exc}")
            raise
        self._repo.set_job(workspace_id, import_id, job.id)
        return self._repo.get(workspace_id, import_id)

    # --- processing (the job's batch) --------------------------------------------------------------

    def process(self, context: BatchContext) -> list[ItemFailure]:
        workspace_id = context.workspace_id
        import_id = str(context.params["import_id"])
        record = self._repo.get(workspace_id, import_id, with_errors=False)
        failures: list[ItemFailure] = []
        for chunk_id in context.item_ids:
            try:
                self._process_chunk(record, int(chunk_id))
            except Exception as exc:  # one bad chunk never stops the others
                get_logger().exception("import chunk failed", extra={"import_id": import_id, "chunk": chunk_id})
                failures.append(ItemFailure(item_id=chunk_id, code="chunk_failed", message=str(exc)[:500]))
        if not failures:
            self._repo.finish(workspace_id, import_id, "completed", self._now(), None)
        else:
            self._repo.finish(
                workspace_id,
                import_id,
                "failed",
                self._now(),
                f"{len(failures)} chunk(s) failed: {failures[0].message}",
            )
        return failures

    def _process_chunk(self, record: ProspectImport, index: int) -> None:
        ws = record.workspace_id
        rows, state = self._repo.get_chunk(ws, record.id, index)
        if state == "done":
            return
        assert record.mapping is not None
        counts = empty_counts()
        errors: list[RowError] = []

        # 1. Parse and validate each row; dedupe within the chunk.
        candidates: dict[str, tuple[int, int, ProspectCreate]] = {}
        for row, line, cells in rows:
            fields = mapping.row_fields(record.columns, record.mapping, cells)
            if not fields.get("email") and not fields.get("linkedin_url"):
                counts["skipped"] += 1
                errors.append(RowError(row=row, line=line, code="missing_email", message="The row has no email."))
                continue
            try:
                data = ProspectCreate.model_validate(fields)
            except ValidationError as exc:
                counts["invalid"] += 1
                errors.append(
                    RowError(row=row, line=line, code="invalid", message=_first_error(exc), email=fields.get("email"))
                )
                continue
            email = data.normalized_email
            if email in candidates:
                counts["duplicate"] += 1
                continue
            candidates[email] = (row, line, data)

        # 2. One lookup for every address: email records (prospect + email entry) and domain entries.
        records, domains = self._suppressions.lookup(ws, candidates) if candidates else ({}, {})

        now = self._now()
        puts: list[TableModel] = []
        to_merge: dict[str, tuple[str, ProspectCreate]] = {}  # prospect id -> (email, data)
        members: list[str] = []
        recovered: list[str] = []  # prospects this import created in an interrupted earlier attempt
        for email, (row, _line, data) in candidates.items():
            found = records.get(email)
            domain_entry = None if is_placeholder(email) else domains.get(email_domain(email))
            if decide(email, found, domain_entry).blocked:
                counts["suppressed"] += 1
                continue
            if found is not None and found.prospect_id:
                if found.import_id == record.id and int(found.import_row or 0) == row:
                    counts["created"] += 1  # our own write from an interrupted attempt: write it again
                    prospect_id = found.prospect_id
                    recovered.append(prospect_id)
                elif found.import_id == record.id:
                    counts["duplicate"] += 1  # an earlier row of this file
                    continue
                elif record.update_existing:
                    to_merge[found.prospect_id] = (email, data)
                    continue
                else:
                    counts["duplicate"] += 1
                    continue
            else:
                counts["created"] += 1
                prospect_id = new_uuid()
            prospect = Prospect(
                id=prospect_id,
                workspace_id=ws,
                email=email,
                custom_fields=data.custom_fields or {},
                created_at=now,
                updated_at=now,
                **{name: getattr(data, name) for name in TEXT_FIELDS},
            )
            puts += [prospect_item(prospect), new_email_record(prospect, record.id, row)]
            members.append(prospect.id)

        # 3. Existing prospects to merge (updateExisting).
        if to_merge:
            existing = self._prospects.get_many(ws, to_merge)
            for prospect_id, (_email, data) in to_merge.items():
                current = existing.get(prospect_id)
                if current is None:
                    counts["failed"] += 1
                    continue
                counts["updated"] += 1
                merged = current.merged_with(data, now)
                if merged is not current:
                    puts.append(prospect_item(merged))
                members.append(prospect_id)

        # 4. List members: only the ones not already in the list count.
        new_members = 0
        if record.list_id and members:
            fresh = set(members) - set(recovered) - set(to_merge)
            maybe = [m for m in members if m not in fresh]
            already = self._prospects.existing_members(ws, record.list_id, maybe) if maybe else set()
            for prospect_id in members:
                if prospect_id in already:
                    continue
                new_members += 1
                puts.append(new_member(ws, record.list_id, prospect_id, now, record.id))

        errors.sort(key=lambda e: e.row)
        puts += self._repo.row_error_items(ws, record.id, errors[:MAX_ROW_ERRORS])
        self._repo.write(puts)
        self._repo.record_chunk(ws, record.id, index, counts, len(rows), record.list_id, new_members)
