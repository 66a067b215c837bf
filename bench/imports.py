"""CSV import benchmark: 10,000 rows end to end on the local stack (HTTP upload -> confirm -> Step Functions job).

Reports rows/s (upload start to job end), DynamoDB requests per row (every request the process sent while the
import ran: the API's and the job's), and the process's peak RSS.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.support import count_aws_requests, total

ROWS = 10_000


def make_csv(rows: int) -> bytes:
    lines = ["email,first_name,last_name,company,title,custom:plan"]
    lines += [
        f"lead{n}@company{n % 700}.com,First{n},Last{n},Company {n % 700},Role {n % 13},tier{n % 3}"
        for n in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def run() -> dict[str, float]:
    from devstack.runtime import LocalStack

    content = make_csv(ROWS)
    with (
        tempfile.TemporaryDirectory() as state,
        LocalStack(state_dir=Path(state), api=True, mail_lab=False, pollers=False, schedules=False) as stack,
    ):
        headers = {"Authorization": f"Bearer {stack.api_key}"}
        rss_before = _peak_rss_mb()
        with count_aws_requests() as counts:
            started = time.perf_counter()
            uploaded = httpx.post(
                f"{stack.api_url}/api/v1/imports",
                headers=headers,
                files={"file": ("leads.csv", content, "text/csv")},
                data={"listName": "Benchmark"},
                timeout=120,
            )
            uploaded.raise_for_status()
            import_id = uploaded.json()["data"]["id"]
            upload_seconds = time.perf_counter() - started
            confirmed = httpx.post(
                f"{stack.api_url}/api/v1/imports/{import_id}/mapping-confirm", headers=headers, json={}, timeout=60
            )
            confirmed.raise_for_status()
            job_id = confirmed.json()["data"]["jobId"]
            machine = stack.state_machine_arn("JobStateMachine")
            execution = machine.replace(":stateMachine:", ":execution:") + f":{job_id}"
            outcome = stack.wait_execution(execution, timeout=900, interval=0.2)
            elapsed = time.perf_counter() - started
        result = httpx.get(f"{stack.api_url}/api/v1/imports/{import_id}", headers=headers, timeout=30).json()["data"]
    if outcome["status"] != "SUCCEEDED" or result["created"] != ROWS:
        raise RuntimeError(f"import did not complete: {outcome['status']} {result}")
    dynamodb = total(counts, "dynamodb")
    return {
        "rows": float(ROWS),
        "rows_per_second": round(ROWS / elapsed, 1),
        "seconds_total": round(elapsed, 2),
        "seconds_upload": round(upload_seconds, 2),
        "dynamodb_requests": float(dynamodb),
        "dynamodb_requests_per_row": round(dynamodb / ROWS, 4),
        "batch_write_requests": float(counts.get("dynamodb.BatchWriteItem", 0)),
        "batch_get_requests": float(counts.get("dynamodb.BatchGetItem", 0)),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "peak_rss_mb_before_import": round(rss_before, 1),
    }
