"""The tracking Lambda's HTTP surface (payload v2 in and out), with the service on in-memory collaborators."""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
import struct
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

import pytest

from kindling.sending.tokens import click_token, open_token, unsubscribe_token
from kindling.tracking.pages import PIXEL_GIF, PageState, unsubscribe_page
from kindling.tracking.service import TrackingService
from tests.unit.tracking.fakes import SECRET, SEND_ID, WS, Rig, rig

REPO = Path(__file__).resolve().parents[3]
SAMPLE = json.loads((REPO / "events" / "tracking.json").read_text())
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
DEMO = "https://acme.example/demo?a=1&b=two"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tracking_app_under_test", REPO / "functions" / "tracking" / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def app() -> tuple[ModuleType, Rig]:
    module, r = _load(), rig()
    module.__dict__["_service"] = r.service
    return module, r


def event(
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    b64: bool = True,
    content_type: str = "application/x-www-form-urlencoded",
    agent: str | None = CHROME,
    ip: str = "203.0.113.7",
) -> dict[str, Any]:
    e: dict[str, Any] = copy.deepcopy(SAMPLE)
    e["rawPath"] = e["requestContext"]["http"]["path"] = path
    e["requestContext"]["http"]["method"] = method
    e["requestContext"]["http"]["sourceIp"] = ip
    e["routeKey"] = e["requestContext"]["routeKey"] = f"{method} {path}"
    e.pop("pathParameters", None)
    if agent is None:
        e["headers"].pop("user-agent")
        e["requestContext"]["http"]["userAgent"] = ""
    else:
        e["headers"]["user-agent"] = agent
    if body is not None:
        e["headers"]["content-type"] = content_type
        e["body"] = base64.b64encode(body).decode() if b64 else body.decode()
        e["isBase64Encoded"] = b64
    return e


def call(module: ModuleType, e: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = module.handler(e, None)
    return response


def test_the_pixel_is_a_transparent_1x1_gif() -> None:
    assert PIXEL_GIF[:6] == b"GIF89a" and struct.unpack("<HH", PIXEL_GIF[6:10]) == (1, 1)
    assert PIXEL_GIF.endswith(b";")


def test_open_answers_the_gif_uncached_and_records(app: tuple[ModuleType, Rig]) -> None:
    module, r = app
    response = call(module, event("GET", f"/t/o/{open_token(WS, SEND_ID, SECRET)}"))
    assert response["statusCode"] == 200 and response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == PIXEL_GIF
    assert response["headers"]["content-type"] == "image/gif"
    assert "no-store" in response["headers"]["cache-control"]
    assert r.events.types() == ["email.opened"]


def test_a_scanner_open_still_gets_the_gif_but_is_not_recorded(app: tuple[ModuleType, Rig]) -> None:
    module, r = app
    response = call(module, event("GET", f"/t/o/{open_token(WS, SEND_ID, SECRET)}", agent="Barracuda Sentinel"))
    assert response["statusCode"] == 200 and base64.b64decode(response["body"]) == PIXEL_GIF
    assert r.ledger.hits == [] and r.events.offered == []


def test_the_sample_event_is_an_open_the_local_stack_accepts() -> None:
    from devstack.runtime import LOCAL_TRACKING_SECRET

    module, r = _load(), rig()
    module.__dict__["_service"] = TrackingService(
        secrets=[LOCAL_TRACKING_SECRET],
        ledger=r.ledger,  # type: ignore[arg-type]
        hits=r.hits,  # type: ignore[arg-type]
        events=r.events,  # type: ignore[arg-type]
    )
    response = call(module, copy.deepcopy(SAMPLE))
    # A genuine token for a send this (empty) ledger does not know: the GIF, nothing recorded.
    assert response["statusCode"] == 200 and base64.b64decode(response["body"]) == PIXEL_GIF
    assert r.ledger.hits == [] and r.events.offered == []
    module.__dict__["_service"] = r.service  # the rig's secret differs: the same token is a 404
    assert call(module, copy.deepcopy(SAMPLE))["statusCode"] == 404


def test_click_redirects_to_the_signed_url_only(app: tuple[ModuleType, Rig]) -> None:
    module, r = app
    token = click_token(WS, SEND_ID, DEMO, SECRET, url_index=0)
    e = event("GET", f"/t/c/{token}")
    e["rawQueryString"] = "url=https%3A%2F%2Fevil.example%2F"
    e["queryStringParameters"] = {"url": "https://evil.example/", "redirect": "https://evil.example/"}
    response = call(module, e)
    assert response["statusCode"] == 302
    assert response["headers"]["location"] == DEMO
    assert response["headers"]["referrer-policy"] == "no-referrer"
    assert [e.data["url"] for e in r.events.emitted] == [DEMO]


def test_a_scanner_click_still_redirects(app: tuple[ModuleType, Rig]) -> None:
    module, r = app
    token = click_token(WS, SEND_ID, DEMO, SECRET)
    response = call(module, event("GET", f"/t/c/{token}", agent=CHROME, ip="205.139.110.5"))  # Mimecast range
    assert (response["statusCode"], response["headers"]["location"]) == (302, DEMO)
    assert r.events.offered == []


def test_a_percent_encoded_token_still_verifies(app: tuple[ModuleType, Rig]) -> None:
    module, _ = app
    token = click_token(WS, SEND_ID, DEMO, SECRET)
    response = call(module, event("GET", "/t/c/" + quote(token, safe="").replace(".", "%2E")))
    assert response["statusCode"] == 302


@pytest.mark.parametrize(
    "path",
    [
        "/t/c/" + click_token(WS, SEND_ID, DEMO, "someone-elses-secret"),
        "/t/c/" + open_token(WS, SEND_ID, SECRET),  # a pixel token is no redirect
        "/t/c/" + click_token(WS, SEND_ID, DEMO, SECRET)[:-2],
        "/t/o/" + unsubscribe_token(WS, SEND_ID, SECRET),
        "/u/" + open_token(WS, SEND_ID, SECRET),
        "/t/o/not-a-token",
        "/t/x/" + open_token(WS, SEND_ID, SECRET),
        "/t/o/",
        "/t/o/" + open_token(WS, SEND_ID, SECRET) + "/extra",
        "/",
    ],
)
def test_bad_tokens_and_paths_are_404_and_record_nothing(app: tuple[ModuleType, Rig], path: str) -> None:
    module, r = app
    response = call(module, event("GET", path))
    assert response["statusCode"] == 404
    assert response["headers"]["content-type"].startswith("text/plain")
    assert "location" not in response["headers"]
    assert (r.ledger.hits, r.events.offered, r.hits.touched, r.suppressions.calls) == ([], [], 0, [])


@pytest.mark.parametrize(("method", "path"), [("POST", "/t/o/x"), ("DELETE", "/u/x"), ("PUT", "/t/c/x")])
def test_other_methods_are_refused(app: tuple[ModuleType, Rig], method: str, path: str) -> None:
    module, _ = app
    response = call(module, event(method, path))
    assert response["statusCode"] == 405 and "GET" in response["headers"]["allow"]


def test_unsubscribe_get_shows_a_post_form_and_unsubscribes_nobody(app: tuple[ModuleType, Rig]) -> None:
    module, r = app
    response = call(module, event("GET", f"/u/{unsubscribe_token(WS, SEND_ID, SECRET)}"))
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"] == "text/html; charset=utf-8"
    assert "form-action 'self'" in response["headers"]["content-security-policy"]
    page = response["body"]
    assert '<form method="post">' in page and 'name="List-Unsubscribe" value="One-Click"' in page
    assert "jane@example.com" in page
    assert r.suppressions.calls == [] and r.ledger.hits == [] and r.events.offered == []


ONE_CLICK_BODIES = [
    pytest.param(b"List-Unsubscribe=One-Click", "application/x-www-form-urlencoded", True, id="urlencoded-b64"),
    pytest.param(b"List-Unsubscribe=One-Click", "application/x-www-form-urlencoded", False, id="urlencoded-text"),
    pytest.param(
        b'--XyZ\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--XyZ--\r\n',
        "multipart/form-data; boundary=XyZ",
        True,
        id="multipart",
    ),
]


@pytest.mark.parametrize(("body", "content_type", "b64"), ONE_CLICK_BODIES)
def test_one_click_post_unsubscribes_and_a_repeat_shows_the_same_page(
    app: tuple[ModuleType, Rig], body: bytes, content_type: str, b64: bool
) -> None:
    module, r = app
    path = f"/u/{unsubscribe_token(WS, SEND_ID, SECRET)}"
    first = call(module, event("POST", path, body=body, content_type=content_type, b64=b64, agent=None))
    assert first["statusCode"] == 200
    assert first["body"] == unsubscribe_page(PageState.DONE, "jane@example.com")
    assert r.suppressions.suppressed == {"jane@example.com"}
    assert r.events.types() == ["email.unsubscribed"]
    second = call(module, event("POST", path, body=body, content_type=content_type, b64=b64))
    assert (second["statusCode"], second["body"]) == (200, first["body"])
    assert r.events.types() == ["email.unsubscribed"]
    assert call(module, event("GET", path))["body"] == first["body"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", "application/x-www-form-urlencoded"),
        (b"List-Unsubscribe=Yes", "application/x-www-form-urlencoded"),
        (b"unsubscribe=1", "application/x-www-form-urlencoded"),
        (
            b'--XyZ\r\nContent-Disposition: form-data; name="other"\r\n\r\nOne-Click\r\n--XyZ--\r\n',
            "multipart/form-data; boundary=XyZ",
        ),
    ],
)
def test_a_post_without_the_one_click_field_unsubscribes_nobody(
    app: tuple[ModuleType, Rig], body: bytes, content_type: str
) -> None:
    module, r = app
    response = call(
        module, event("POST", f"/u/{unsubscribe_token(WS, SEND_ID, SECRET)}", body=body, content_type=content_type)
    )
    assert response["statusCode"] == 400
    assert r.suppressions.calls == [] and r.events.offered == []


def test_a_failed_unsubscribe_says_so_with_a_retryable_503(app: tuple[ModuleType, Rig]) -> None:
    module, r = app
    r.suppressions.fail = True
    response = call(
        module, event("POST", f"/u/{unsubscribe_token(WS, SEND_ID, SECRET)}", body=b"List-Unsubscribe=One-Click")
    )
    assert response["statusCode"] == 503 and response["headers"]["retry-after"] == "60"
    assert "try again" in response["body"]


def test_the_email_on_the_page_is_escaped() -> None:
    page = unsubscribe_page(PageState.CONFIRM, '"<script>"@example.com')
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_importing_the_handler_loads_no_third_party_package() -> None:
    # The cold start of a 404: the module itself is standard library plus the stdlib-only tracking pages.
    code = (
        "import sys, importlib.util; before = set(sys.modules);"
        "spec = importlib.util.spec_from_file_location('app', 'functions/tracking/app.py');"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m);"
        "new = {n.split('.')[0] for n in set(sys.modules) - before};"
        "print(sorted(new - set(sys.stdlib_module_names) - {'kindling', 'app'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "shared")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
