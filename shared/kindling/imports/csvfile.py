"""Streaming CSV reading: validation in one pass, then chunks of rows in a second pass. Pure; no AWS.

Neither pass holds more than one chunk of rows: the file is read through a text decoder and csv.reader
line by line (an uploaded file is a spooled temporary file, so it can be read twice).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

MAX_ROWS = 10_000
MAX_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
CHUNK_ROWS = 500
CHUNK_CHARS = 200_000  # UTF-8 bytes of a chunk's cells: keeps a chunk item below DynamoDB's 400 KB item limit
FIELD_LIMIT = 32_768  # characters in one cell
# Everything about the header is stored in the import item (columns, mapping) and every sample row with it, all
# under DynamoDB's 400 KB item limit. Real CRM exports stay far below these: a few dozen columns, a few KB.
MAX_COLUMNS = 200
MAX_HEADER_BYTES = 16 * 1024  # the header row's cells, UTF-8
MAX_ROW_BYTES = 64 * 1024  # one data row's cells, UTF-8 (a chunk item holds at least one whole row)
SAMPLE_ROWS = 5
SAMPLE_CELL_CHARS = 200  # the preview shows the start of a long cell
SAMPLE_BYTES = 100 * 1024  # the preview's rows, UTF-8 (at least the first row always fits)


class CsvProblem(ValueError):
    """The file cannot be imported; `code` is stable, `message` says what to fix, `line` where (1-based)."""

    def __init__(self, code: str, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line


@dataclass
class Scan:
    columns: list[str]
    total_rows: int
    sample_rows: list[list[str]] = field(default_factory=list)


@dataclass
class Chunk:
    index: int
    rows: list[tuple[int, list[str]]]  # (line number of the record, cells)


Row = tuple[int, list[str]]


def _check_binary_prefix(stream: BinaryIO) -> None:
    head = stream.read(4096)
    stream.seek(0)
    if not head:
        raise CsvProblem("empty_file", "The file is empty.")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise CsvProblem("unsupported_encoding", "The file is UTF-16/UTF-32; save it as CSV UTF-8 and upload again.")
    if b"\x00" in head:
        raise CsvProblem(
            "binary_file", "The file is not a CSV text file (it contains binary data); .xlsx is not supported."
        )
    if head.startswith(b"PK\x03\x04"):
        raise CsvProblem("binary_file", "The file looks like a spreadsheet (.xlsx); export it as CSV UTF-8.")


def _records(stream: BinaryIO) -> Iterator[Row]:
    """(line number, cells) of each non-blank record; decoding and CSV syntax errors become CsvProblem."""
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline="")
    csv.field_size_limit(FIELD_LIMIT)
    reader = csv.reader(text, strict=True)
    try:
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            if not cells or all(not c.strip() for c in cells):
                continue  # blank lines are ignored
            yield reader.line_num, cells
    except UnicodeDecodeError as exc:
        raise CsvProblem(
            "unsupported_encoding",
            f"The file is not valid UTF-8 (byte {exc.start} of a read block); save it as CSV UTF-8 and upload again.",
            reader.line_num + 1,
        ) from exc
    except csv.Error as exc:
        message = str(exc)
        if "field limit" in message:
            raise CsvProblem(
                "cell_too_large",
                f"Line {reader.line_num} has a cell longer than {FIELD_LIMIT:,} characters.",
                reader.line_num,
            ) from exc
        if "NUL" in message:
            raise CsvProblem("binary_file", "The file contains binary data (NUL bytes).", reader.line_num) from exc
        raise CsvProblem("malformed_csv", f"Line {reader.line_num}: {message}.", reader.line_num) from exc
    finally:
        with contextlib.suppress(ValueError):  # the upload may already be closed when a generator is collected
            text.detach()  # leave the underlying file open for the second pass


def row_bytes(cells: list[str]) -> int:
    """A row's size as stored: its cells in UTF-8 plus one byte per separator."""
    return sum(len(c.encode("utf-8", "surrogatepass")) for c in cells) + len(cells)


def _header(cells: list[str]) -> list[str]:
    if len(cells) > MAX_COLUMNS:
        raise CsvProblem(
            "too_many_columns", f"The header has {len(cells):,} columns; at most {MAX_COLUMNS} are supported.", 1
        )
    if row_bytes(cells) > MAX_HEADER_BYTES:
        raise CsvProblem(
            "header_too_large", f"The header row is larger than {MAX_HEADER_BYTES // 1024} KB; shorten its names.", 1
        )
    columns = [c.strip() for c in cells]
    seen: dict[str, int] = {}
    for position, name in enumerate(columns, start=1):
        if not name:
            raise CsvProblem("blank_column_name", f"Column {position} of the header row has no name.", 1)
        key = name.lower()
        if key in seen:
            raise CsvProblem(
                "duplicate_column", f"The header names column {name!r} twice (columns {seen[key]} and {position}).", 1
            )
        seen[key] = position
    return columns


def scan(stream: BinaryIO) -> Scan:
    """Validate the whole file (encoding, header, ragged rows, row count) without keeping its rows."""
    _check_binary_prefix(stream)
    records = _records(stream)
    first = next(records, None)
    if first is None:
        raise CsvProblem("empty_file", "The file has no header row.")
    columns = _header(first[1])
    result = Scan(columns=columns, total_rows=0)
    sample_bytes = 0
    for line, cells in records:
        if len(cells) != len(columns):
            raise CsvProblem(
                "ragged_row",
                f"Line {line} has {len(cells)} fields but the header has {len(columns)}.",
                line,
            )
        if row_bytes(cells) > MAX_ROW_BYTES:
            raise CsvProblem("row_too_large", f"Line {line} is larger than {MAX_ROW_BYTES // 1024} KB.", line)
        result.total_rows += 1
        if result.total_rows > MAX_ROWS:
            raise CsvProblem("too_many_rows", f"The file has more than {MAX_ROWS:,} rows; split it.", line)
        if len(result.sample_rows) < SAMPLE_ROWS:
            sample = [c[:SAMPLE_CELL_CHARS] for c in cells]
            if not result.sample_rows or sample_bytes + row_bytes(sample) <= SAMPLE_BYTES:
                result.sample_rows.append(sample)
                sample_bytes += row_bytes(sample)
    if result.total_rows == 0:
        raise CsvProblem("no_rows", "The file has a header row but no data rows.")
    return result


def chunks(stream: BinaryIO, chunk_rows: int = CHUNK_ROWS, chunk_chars: int = CHUNK_CHARS) -> Iterator[Chunk]:
    """The data rows (after the header) in chunks; only the current chunk is held."""
    records = _records(stream)
    next(records, None)
    index, rows, size = 0, [], 0
    for line, cells in records:
        rows.append((line, cells))
        size += row_bytes(cells)
        if len(rows) >= chunk_rows or size >= chunk_chars:
            yield Chunk(index, rows)
            index, rows, size = index + 1, [], 0
    if rows:
        yield Chunk(index, rows)
