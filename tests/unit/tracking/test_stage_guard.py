"""The tracking function serves opens and clicks without loading Settings (its lean cold path), so it applies the
stage guard to the raw environment itself: a deployed stage carrying a local-only value refuses its first request.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from kindling.platform.settings import SettingsError
from kindling.sending.tokens import open_token

REPO = Path(__file__).resolve().parents[3]
SAMPLE = json.loads((REPO / "events" / "tracking.json").read_text())
DEPLOYED_SECRET = "generated-by-the-stack-0123456789abcdefghijklmnop"


def fresh_handler() -> ModuleType:
    path = REPO / "functions" / "tracking" / "app.py"
    spec = importlib.util.spec_from_file_location("tracking_app_stage_guard", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def open_event(token: str) -> dict[str, object]:
    event = copy.deepcopy(SAMPLE)
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/t/o/{token}"
    event["requestContext"]["http"]["method"] = "GET"
    event.pop("pathParameters", None)
    return event


@pytest.fixture
def prod(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("KINDLING_ALLOW_PRIVATE_TARGETS", "KINDLING_MAIL_CA_FILE", "AWS_ENDPOINT_URL", "KINDLING_MX_LOOKUPS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KINDLING_STAGE", "prod")
    monkeypatch.setenv("KINDLING_TRACKING_SECRET", DEPLOYED_SECRET)
    return monkeypatch


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KINDLING_TRACKING_SECRET", "kindling-local-tracking-secret"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ("KINDLING_ALLOW_PRIVATE_TARGETS", "true"),
    ],
)
def test_a_deployed_tracker_with_a_local_value_refuses_its_first_open(
    prod: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    prod.setenv(variable, value)
    token = open_token("ws_demo000001", "snd_01", "kindling-local-tracking-secret")
    with pytest.raises(SettingsError, match=variable):
        fresh_handler().handler(open_event(token), None)


def test_a_deployed_tracker_with_deployed_values_serves(prod: pytest.MonkeyPatch) -> None:
    # A token signed with another secret is answered 404 before any AWS call: the service started.
    token = open_token("ws_demo000001", "snd_01", "kindling-local-tracking-secret")
    response = fresh_handler().handler(open_event(token), None)
    assert response["statusCode"] == 404
