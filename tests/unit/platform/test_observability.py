"""The logger's service is the function's POWERTOOLS_SERVICE_NAME; tracing is on only where Powertools can trace."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kindling.platform.observability import get_logger, service_name, traced, tracing_enabled

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def fresh_logger() -> Iterator[None]:
    get_logger.cache_clear()
    yield
    get_logger.cache_clear()


def test_the_logger_honours_the_functions_service_name(fresh_logger: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "kindling-sender")
    logger = get_logger()
    stream = io.StringIO()
    for handler in logger.handlers:
        monkeypatch.setattr(handler, "stream", stream)
    logger.info("send batch")
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert (line["service"], line["message"]) == ("kindling-sender", "send batch")


def test_without_a_service_name_the_logger_says_kindling(fresh_logger: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    assert get_logger().service == "kindling"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"POWERTOOLS_SERVICE_NAME": "kindling-api"}, "kindling-api"),
        ({"POWERTOOLS_SERVICE_NAME": ""}, "kindling"),
        ({}, "kindling"),
    ],
)
def test_service_name(environ: dict[str, str], expected: str) -> None:
    assert service_name(environ) == expected


LAMBDA = {"LAMBDA_TASK_ROOT": "/var/task"}


@pytest.mark.parametrize(
    ("environ", "enabled"),
    [
        pytest.param({}, False, id="outside-lambda"),
        pytest.param(LAMBDA, True, id="in-lambda"),
        pytest.param({**LAMBDA, "POWERTOOLS_TRACE_DISABLED": "true"}, False, id="turned-off"),
        pytest.param({**LAMBDA, "POWERTOOLS_TRACE_DISABLED": "1"}, False, id="turned-off-1"),
        pytest.param({**LAMBDA, "POWERTOOLS_TRACE_DISABLED": "false"}, True, id="explicitly-on"),
        pytest.param({**LAMBDA, "AWS_SAM_LOCAL": "true"}, False, id="sam-local"),
        pytest.param({**LAMBDA, "AWS_CHALICE_CLI_MODE": "true"}, False, id="chalice-local"),
    ],
)
def test_tracing_enabled(environ: dict[str, str], enabled: bool) -> None:
    assert tracing_enabled(environ) is enabled


def test_outside_lambda_the_handler_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)

    def handler(event: dict[str, int], context: object) -> dict[str, int]:
        return {"n": event["n"] + 1}

    assert traced(handler) is handler


def test_importing_a_handler_outside_lambda_does_not_load_the_xray_sdk() -> None:
    """The local stack and the tests import every handler: none of them may pay for aws_xray_sdk."""
    code = (
        "import sys, importlib.util\n"
        "spec = importlib.util.spec_from_file_location('jobs_app', 'functions/jobs/app.py')\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "print(sorted(m for m in sys.modules if m.startswith('aws_xray_sdk')))\n"
    )
    env = {"PYTHONPATH": f"{REPO}/shared", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
