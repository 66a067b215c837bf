"""Cold start of the API handler and of the MCP handler vs a bare FastAPI + Mangum + boto3 app, measured in the same
run.

Median of 10 fresh processes each (alternating, so machine noise hits all alike). Target: ours (the API) <= 1.3x
baseline. The MCP function's figures (`mcp_*`) are reported beside them with their own ratio; it serves assistants,
whose clients wait on a model far longer than a cold start, so no target is set for it (docs/decisions.md).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.coldstart_child import BASELINE_APP, REPO

RUNS = 10


def _table_definition() -> str:
    from cfnlint.decode import cfn_yaml

    template = cfn_yaml.load(str(REPO / "template.yaml"))
    props = next(r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table")
    keys = ("KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes", "BillingMode")
    return json.dumps({k: props[k] for k in keys})


def _one(variant: str, env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.coldstart_child", variant],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["status"] != 200:
        raise RuntimeError(f"{variant} answered {result['status']}: {done.stdout[-2000:]}")
    return result


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        baseline_file = Path(tmp) / "baseline_app.py"
        baseline_file.write_text(BASELINE_APP)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KINDLING_"))},
            "BENCH_TABLE_DEFINITION": _table_definition(),
            "BENCH_BASELINE_FILE": str(baseline_file),
            "PYTHONDONTWRITEBYTECODE": "0",
        }
        # Warm the OS file cache and bytecode caches once for each, outside the measurement.
        _one("ours", env)
        _one("mcp", env)
        _one("baseline", env)
        ours, mcp, baseline = [], [], []
        for _ in range(RUNS):
            ours.append(_one("ours", env))
            mcp.append(_one("mcp", env))
            baseline.append(_one("baseline", env))

    def median(rows: list[dict[str, float]], key: str) -> float:
        return round(statistics.median(row[key] for row in rows) * 1000, 2)

    figures = {
        "runs": float(RUNS),
        "ours_total_ms_median": median(ours, "total_s"),
        "ours_import_ms_median": median(ours, "import_s"),
        "ours_first_request_ms_median": median(ours, "first_request_s"),
        "mcp_total_ms_median": median(mcp, "total_s"),
        "mcp_import_ms_median": median(mcp, "import_s"),
        "mcp_first_request_ms_median": median(mcp, "first_request_s"),
        "baseline_total_ms_median": median(baseline, "total_s"),
        "baseline_import_ms_median": median(baseline, "import_s"),
        "baseline_first_request_ms_median": median(baseline, "first_request_s"),
    }
    figures["ratio_ours_to_baseline"] = round(figures["ours_total_ms_median"] / figures["baseline_total_ms_median"], 3)
    figures["ratio_mcp_to_baseline"] = round(figures["mcp_total_ms_median"] / figures["baseline_total_ms_median"], 3)
    figures["target_ratio_max"] = 1.3
    return figures
