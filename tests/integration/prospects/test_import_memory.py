"""A 10,000-row import holds one chunk of rows at a time: measured with tracemalloc, on both passes.

Process RSS would measure moto's table too, so these tests count only memory that *our* code allocated and
still holds: tracemalloc traces with a Kindling or `csv` frame in their traceback, excluding anything allocated
inside moto/botocore (the emulated table legitimately grows with every chunk written).

Each test also runs a deliberately leaky variant through the same measurement, so a measurement that could not
see retained rows would fail rather than pass quietly.
"""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kindling.imports import csvfile
from kindling.imports.repository import ImportRepository, encode_rows
from kindling.imports.service import ImportService
from kindling.platform.dynamo import TableModel
from tests.conftest import make_tenant
from tests.integration.prospects.conftest import Api, run_jobs

ROWS = 10_000
CHUNKS = ROWS // csvfile.CHUNK_ROWS
# Processing runs against moto, whose transactions deep-copy the table; traced, 10,000 rows take many minutes.
# Six chunks are enough to see whether what we hold grows with the number of chunks processed.
PROCESSED_ROWS = 3_000

OURS = [
    tracemalloc.Filter(True, "*/kindling/*", all_frames=True),
    tracemalloc.Filter(True, "*/tests/integration/prospects/*", all_frames=True),
    tracemalloc.Filter(True, "*/csv.py", all_frames=True),
]
NOT_THE_EMULATOR = [tracemalloc.Filter(False, f"*/{lib}/*", all_frames=True) for lib in ("moto", "botocore", "boto3")]


def held_by_us() -> int:
    snapshot = tracemalloc.take_snapshot().filter_traces(NOT_THE_EMULATOR)
    return sum(stat.size for stat in snapshot.filter_traces(OURS).statistics("filename"))


def write_csv(path: Path, rows: int) -> Path:
    rng = random.Random(7)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("email,first_name,company,role,city,custom:note\n")
        for i in range(rows):
            note = "".join(rng.choice("abcdefghij ") for _ in range(60))
            out.write(f"person{i}@example{i % 50}.com,Name{i},Company {i % 300},Head of Things,Utrecht,{note}\n")
    return path


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start(30)
    try:
        yield
    finally:
        tracemalloc.stop()


def peak_while(work: Callable[[], Any]) -> int:
    tracemalloc.clear_traces()
    tracemalloc.reset_peak()
    baseline = tracemalloc.get_traced_memory()[0]
    work()
    return tracemalloc.get_traced_memory()[1] - baseline


class ChunkSizes(ImportRepository):
    """The real upload code, with chunks encoded as they would be stored and then dropped (no AWS involved)."""

    def __init__(self, keep: bool = False) -> None:
        super().__init__()
        self.keep = keep
        self.kept: list[Any] = []
        self.rows = 0

    def put_chunk(self, workspace_id: str, import_id: str, index: int, rows: Any, now: Any) -> None:
        encode_rows(rows)
        self.rows += len(rows)
        if self.keep:
            self.kept.append(rows)

    def create(self, record: Any) -> None:
        assert record.total_rows == self.rows


def upload(path: Path, workspace_id: str, store: ChunkSizes) -> None:
    with path.open("rb") as stream:
        ImportService(repository=store).upload(workspace_id, stream, file_name=path.name, size=None)


def test_upload_peak_is_one_chunk_whatever_the_file_size(aws: None, tmp_path: Path, traced: None) -> None:
    """ImportService.upload (validate pass + chunking pass): peak for 10,000 rows ~ peak for one chunk."""
    one_chunk = write_csv(tmp_path / "one.csv", csvfile.CHUNK_ROWS)
    whole = write_csv(tmp_path / "whole.csv", ROWS)
    workspace_id = make_tenant().workspace_id

    peak_one = peak_while(lambda: upload(one_chunk, workspace_id, ChunkSizes()))
    peak_whole = peak_while(lambda: upload(whole, workspace_id, ChunkSizes()))
    peak_leaky = peak_while(lambda: upload(whole, workspace_id, ChunkSizes(keep=True)))

    print(f"peak bytes: one chunk {peak_one:,}, 10,000 rows {peak_whole:,}, 10,000 rows retained {peak_leaky:,}")
    assert peak_whole < peak_one * 1.5, (peak_one, peak_whole)
    # The control holds all 20 chunks: the same measurement sees it, so a pass above is not a blind spot.
    assert peak_leaky > peak_one * (CHUNKS / 4), (peak_one, peak_leaky)


def held_per_chunk(api: Api, path: Path, monkeypatch: pytest.MonkeyPatch, leak: bool, rows: int) -> list[int]:
    """Upload + confirm over HTTP, then run the job; sample what our code holds as each chunk is written."""
    samples: list[int] = []
    retained: list[list[TableModel]] = []
    original_write = ImportRepository.write

    def write(self: ImportRepository, items: list[TableModel]) -> None:
        if leak:
            retained.append(items)
        samples.append(held_by_us())  # the chunk's rows, prospects and items are all alive right here
        original_write(self, items)

    monkeypatch.setattr(ImportRepository, "write", write)
    with path.open("rb") as stream:
        uploaded = api.call("POST", "/api/v1/imports", files={"file": (path.name, stream, "text/csv")})
    assert uploaded.status_code == 201, uploaded.text
    import_id = uploaded.json()["data"]["id"]
    confirmed = api.call("POST", f"/api/v1/imports/{import_id}/mapping-confirm", json={})
    assert confirmed.status_code == 202, confirmed.text
    # Traced from here: the processing pass. Fewer frames keep tracing moto's work affordable; 12 reach from an
    # allocation in the json/csv/pynamodb layers up to the Kindling frame that asked for it.
    tracemalloc.start(12)
    try:
        run_jobs(api.tenant.workspace_id, confirmed.json()["data"]["jobId"])
    finally:
        tracemalloc.stop()
    result = api.call("GET", f"/api/v1/imports/{import_id}").json()["data"]
    assert result["status"] == "completed" and result["created"] == rows, result
    assert len(samples) == rows // csvfile.CHUNK_ROWS
    return samples


@pytest.mark.timeout(900)
def test_processing_holds_one_chunk_at_a_time(api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_csv(tmp_path / "prospects.csv", PROCESSED_ROWS)
    samples = held_per_chunk(api, path, monkeypatch, leak=False, rows=PROCESSED_ROWS)
    # Chunk 0 pays one-time costs (model metadata, caches); from then on what we hold must not grow with the
    # number of chunks processed: the last chunk holds about what the 2nd did.
    steady = samples[1]
    print("bytes held while writing each chunk:", [f"{s:,}" for s in samples])
    assert max(samples[1:]) < steady * 1.25, samples
    assert samples[-1] - samples[1] < steady * 0.2, samples


@pytest.mark.timeout(900)
def test_processing_measurement_sees_retained_chunks(api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: a writer that keeps every chunk's items grows linearly under the same measurement."""
    rows = 3 * csvfile.CHUNK_ROWS  # three chunks show linear growth; fewer rows keep the traced run short
    path = write_csv(tmp_path / "prospects.csv", rows)
    samples = held_per_chunk(api, path, monkeypatch, leak=True, rows=rows)
    print("bytes held while writing each chunk (leaky writer):", [f"{s:,}" for s in samples])
    # Each retained chunk adds its items (~1.2 MB here): far beyond the 20% drift the real test allows.
    assert samples[2] - samples[0] > samples[0] * 0.8, samples
