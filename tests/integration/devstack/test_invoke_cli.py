"""`python -m devstack.invoke FN EVENT` (make invoke) runs a handler on an ephemeral stack and prints JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.devstack.conftest import FIXTURE_TEMPLATE

REPO = Path(__file__).resolve().parents[3]


def _invoke(tmp_path: Path, function: str, event: dict[str, object]) -> subprocess.CompletedProcess[str]:
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event))
    # An empty state dir: no running stack is found, so the command provisions its own moto.
    env = {**os.environ, "KINDLING_DEV_STATE_DIR": str(tmp_path / "state")}
    return subprocess.run(
        [sys.executable, "-m", "devstack.invoke", function, str(event_file), "--template", str(FIXTURE_TEMPLATE)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_invoke_prints_the_handlers_result(tmp_path: Path) -> None:
    done = _invoke(tmp_path, "mapper", {"action": "double", "value": 4})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"doubled": 8}  # stdout is only the result; logs go to stderr


def test_invoke_reports_a_handler_error_like_lambda(tmp_path: Path) -> None:
    done = _invoke(tmp_path, "MapperFunction", {"action": "nope"})
    assert done.returncode == 1
    payload = json.loads(done.stdout)
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "unknown action 'nope'"
