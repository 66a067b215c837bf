"""No import of kindling hides inside a function unless it says why (a `# cold start:` comment): the layering
contract catches cycles wherever the import sits, this keeps the imports where a reader looks for them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _report() -> list[str]:
    done = subprocess.run(
        [sys.executable, "scripts/import_report.py", "--list"], cwd=REPO, capture_output=True, text=True, check=True
    )
    return done.stdout.splitlines()


def test_no_package_cycle_and_every_function_level_import_says_why() -> None:
    lines = _report()
    assert lines[0] == "package cycles: 0"
    listed = [line.strip() for line in lines if line.startswith("  shared/")]
    uncommented = [line for line in listed if "# cold start:" not in line]
    assert uncommented == []
    assert lines[1] == f"function-level imports: {len(listed)} ({len(listed)} marked as kept for cold start)"
