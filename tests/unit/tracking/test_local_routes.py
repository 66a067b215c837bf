"""The local stack serves the template's non-API HttpApi routes (the tracking paths) through the Lambda handler."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from devstack.functions import FunctionError
from devstack.http_routes import LambdaRouter, build_event, compile_route, lambda_routes, response_parts
from devstack.runtime import NATIVE_HTTP_FUNCTIONS
from devstack.template import load

REPO = Path(__file__).resolve().parents[3]


def test_the_template_routes_the_tracking_paths_and_mcp_and_leaves_the_api_to_uvicorn() -> None:
    template = load(REPO / "template.yaml", stack_name="kindling-local", parameters={"Stage": "dev"})
    routes = lambda_routes(template, served_natively=NATIVE_HTTP_FUNCTIONS)
    assert {(r.route_key, r.function_id) for r in routes} == {
        ("GET /t/o/{token}", "TrackingFunction"),
        ("GET /t/c/{token}", "TrackingFunction"),
        ("GET /u/{token}", "TrackingFunction"),
        ("POST /u/{token}", "TrackingFunction"),
        ("ANY /mcp", "McpFunction"),
    }


@pytest.mark.parametrize(
    ("method", "path", "route", "expected"),
    [
        ("GET", "/t/o/abc.def", ("GET", "/t/o/{token}"), {"token": "abc.def"}),
        ("GET", "/t/o/abc/def", ("GET", "/t/o/{token}"), None),
        ("GET", "/t/o/", ("GET", "/t/o/{token}"), None),
        ("POST", "/t/o/abc", ("GET", "/t/o/{token}"), None),
        ("get", "/t/o/abc", ("GET", "/t/o/{token}"), {"token": "abc"}),
        ("DELETE", "/files/a/b/c", ("ANY", "/files/{proxy+}"), {"proxy": "a/b/c"}),
        ("GET", "/files", ("ANY", "/files/{proxy+}"), None),
        ("GET", "/x.y", ("GET", "/x.y"), {}),
        ("GET", "/xzy", ("GET", "/x.y"), None),
    ],
)
def test_path_variables_match_like_api_gateway(
    method: str, path: str, route: tuple[str, str], expected: dict[str, str] | None
) -> None:
    assert compile_route(*route, "Fn").match(method, path) == expected


def test_specific_routes_are_tried_before_greedy_ones() -> None:
    template = load(REPO / "template.yaml", stack_name="kindling-local", parameters={"Stage": "dev"})
    ordered = lambda_routes(template, served_natively=())
    assert [r.greedy for r in ordered] == sorted(r.greedy for r in ordered)
    assert ordered[-1].route_key == "ANY /api/{proxy+}"
    router = LambdaRouter(_inner(), ordered, _echo)
    found = router.resolve("POST", "/u/abc")
    assert found is not None and found[0].route_key == "POST /u/{token}"


def test_the_event_is_payload_v2() -> None:
    route = compile_route("POST", "/u/{token}", "TrackingFunction")
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/u/tok",
        "query_string": b"a=1&a=2&b=",
        "http_version": "1.1",
        "client": ("198.51.100.4", 51234),
        "headers": [
            (b"host", b"127.0.0.1:3000"),
            (b"user-agent", b"UA/1"),
            (b"x-forwarded-for", b"1.1.1.1"),
            (b"x-forwarded-for", b"2.2.2.2"),
            (b"cookie", b"a=1; b=2"),
        ],
    }
    event = build_event(route, {"token": "tok"}, scope, b"List-Unsubscribe=One-Click")
    assert event["version"] == "2.0" and event["routeKey"] == "POST /u/{token}"
    assert event["rawPath"] == "/u/tok" and event["pathParameters"] == {"token": "tok"}
    assert event["rawQueryString"] == "a=1&a=2&b=" and event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["headers"]["x-forwarded-for"] == "1.1.1.1,2.2.2.2" and "cookie" not in event["headers"]
    assert event["cookies"] == ["a=1", "b=2"]
    http = event["requestContext"]["http"]
    assert (http["method"], http["sourceIp"], http["userAgent"]) == ("POST", "198.51.100.4", "UA/1")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"List-Unsubscribe=One-Click"


@pytest.mark.parametrize(
    ("result", "status", "body", "content_type"),
    [
        ({"statusCode": 200, "headers": {"Content-Type": "image/gif"}, "body": "R0lG", "isBase64Encoded": True},
         200, b"GIF", "image/gif"),
        ({"statusCode": 302, "headers": {"location": "https://x.example/"}}, 302, b"", None),
        ({"statusCode": 404, "body": "Not found", "headers": {"content-type": "text/plain"}}, 404, b"Not found",
         "text/plain"),
        ({"ok": True}, 200, b'{"ok": true}', "application/json"),
    ],
)  # fmt: skip
def test_v2_results_become_http_responses(
    result: dict[str, Any], status: int, body: bytes, content_type: str | None
) -> None:
    got_status, headers, got_body = response_parts(result)
    assert (got_status, got_body) == (status, body)
    assert dict(headers).get(b"content-type") == (content_type.encode() if content_type else None)


def _inner() -> Starlette:
    async def api(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"api {request.url.path}")

    return Starlette(routes=[Route("/api/{rest:path}", api), Route("/u/other/thing", api)])


def _echo(function_id: str, event: dict[str, Any]) -> dict[str, Any]:
    body = base64.b64decode(event.get("body", "")).decode()
    text = f"{function_id} {event['requestContext']['http']['method']} {event['pathParameters']} {body}"
    return {"statusCode": 201, "headers": {"content-type": "text/plain", "x-fn": function_id}, "body": text}


def test_the_router_sends_tracking_paths_to_the_handler_and_the_rest_to_the_app() -> None:
    calls: list[str] = []

    def invoke(function_id: str, event: dict[str, Any]) -> Any:
        calls.append(event["rawPath"])
        if event["rawPath"] == "/t/o/boom":
            raise FunctionError(function_id, RuntimeError("boom"))
        return _echo(function_id, event)

    routes = [compile_route("GET", "/t/o/{token}", "Tracking"), compile_route("POST", "/u/{token}", "Tracking")]
    with TestClient(LambdaRouter(_inner(), routes, invoke)) as client:
        hit = client.get("/t/o/abc")
        assert (hit.status_code, hit.text, hit.headers["x-fn"]) == (201, "Tracking GET {'token': 'abc'} ", "Tracking")
        posted = client.post("/u/xyz", content=b"List-Unsubscribe=One-Click")
        assert posted.text == "Tracking POST {'token': 'xyz'} List-Unsubscribe=One-Click"
        assert client.get("/api/v1/me").text == "api /api/v1/me"
        assert client.get("/u/xyz").status_code == 404  # GET /u is not in these routes: the app answers
        assert client.get("/u/other/thing").text == "api /u/other/thing"
        failed = client.get("/t/o/boom")
        assert (failed.status_code, failed.json()) == (500, {"message": "Internal Server Error"})
    assert calls == ["/t/o/abc", "/u/xyz", "/t/o/boom"]
