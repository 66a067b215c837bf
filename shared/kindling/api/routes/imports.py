"""CSV import: upload (multipart), mapping preview, mapping confirm (starts the job), status."""

from __future__ import annotations

from fastapi import File, Form, Path, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from kindling.api.envelope import respond
from kindling.api.routing import WorkspaceId, api_router, scope
from kindling.api.schemas import Envelope, Timestamp
from kindling.imports.models import ImportStatus, MappingConfirm, ProspectImport
from kindling.imports.service import ImportService
from kindling.prospects.fields import BUILTIN_FIELDS

router = api_router("Imports")

ImportId = Path(max_length=64, description="The import id (imp_...).")


class _CamelOut(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class RowErrorView(_CamelOut):
    row: int
    line: int
    code: str
    message: str
    email: str | None


class ImportView(_CamelOut):
    id: str
    status: ImportStatus
    file_name: str | None
    total_rows: int
    processed_rows: int
    created: int
    updated: int
    duplicate: int
    suppressed: int
    invalid: int
    skipped: int
    failed: int
    list_id: str | None
    list_name: str | None
    update_existing: bool
    columns: list[str]
    mapping: dict[str, str | None] | None
    job_id: str | None
    errors: list[RowErrorView]
    failure_reason: str | None
    created_at: Timestamp
    completed_at: Timestamp | None


class PreviewView(_CamelOut):
    id: str
    status: ImportStatus
    columns: list[str]
    suggested_mapping: dict[str, str]
    sample_rows: list[dict[str, str]]
    total_rows: int
    fields: list[str]


def import_view(record: ProspectImport) -> ImportView:
    return ImportView(
        id=record.id,
        status=record.status,
        file_name=record.file_name,
        total_rows=record.total_rows,
        processed_rows=record.processed_rows,
        list_id=record.list_id,
        list_name=record.list_name,
        update_existing=record.update_existing,
        columns=record.columns,
        mapping=record.mapping,
        job_id=record.job_id,
        errors=[RowErrorView.model_validate(e.model_dump()) for e in record.errors],
        failure_reason=record.failure_reason,
        created_at=record.created_at,
        completed_at=record.completed_at,
        **record.counts,
    )


@router.post(
    "/imports",
    response_model=Envelope[ImportView],
    status_code=201,
    openapi_extra=scope("prospects:write"),
    summary="Upload a CSV file of prospects",
    description="multipart/form-data with `file` (CSV UTF-8, header row, at most 10,000 rows), optional `listId` "
    "or `listName` (a new list) and `updateExisting`. A malformed file is refused with a `validation_error`-style "
    "code (`unsupported_encoding`, `binary_file`, `ragged_row`, `too_many_rows`, `missing_email_column`, ...) and "
    "nothing is written. Then GET mapping-preview and POST mapping-confirm.",
)
def upload_import(
    workspace_id: WorkspaceId,
    file: UploadFile = File(description="The CSV file."),
    list_id: str | None = Form(default=None, alias="listId", max_length=64),
    list_name: str | None = Form(default=None, alias="listName", max_length=200),
    update_existing: bool = Form(default=False, alias="updateExisting"),
) -> JSONResponse:
    record = ImportService().upload(
        workspace_id,
        file.file,
        file_name=file.filename,
        size=file.size,
        list_id=list_id or None,
        list_name=(list_name or "").strip() or None,
        update_existing=update_existing,
    )
    return respond(import_view(record), 201)


@router.get(
    "/imports/{import_id}",
    response_model=Envelope[ImportView],
    openapi_extra=scope("prospects:read"),
    summary="Get an import's status, counts and first 100 row errors",
)
def get_import(workspace_id: WorkspaceId, import_id: str = ImportId) -> JSONResponse:
    return respond(import_view(ImportService().get(workspace_id, import_id)))


@router.get(
    "/imports/{import_id}/mapping-preview",
    response_model=Envelope[PreviewView],
    openapi_extra=scope("prospects:read"),
    summary="Columns, suggested mapping and sample rows of an uploaded file",
)
def mapping_preview(workspace_id: WorkspaceId, import_id: str = ImportId) -> JSONResponse:
    record, suggested = ImportService().preview(workspace_id, import_id)
    return respond(
        PreviewView(
            id=record.id,
            status=record.status,
            columns=record.columns,
            suggested_mapping=suggested,
            sample_rows=[dict(zip(record.columns, row, strict=True)) for row in record.sample_rows],
            total_rows=record.total_rows,
            fields=list(BUILTIN_FIELDS),
        )
    )


@router.post(
    "/imports/{import_id}/mapping-confirm",
    response_model=Envelope[ImportView],
    status_code=202,
    openapi_extra=scope("prospects:write"),
    summary="Confirm the column mapping and start processing",
)
def mapping_confirm(workspace_id: WorkspaceId, body: MappingConfirm, import_id: str = ImportId) -> JSONResponse:
    record = ImportService().confirm(workspace_id, import_id, body)
    return respond(import_view(record), 202)
