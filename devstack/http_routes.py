"""The template's HttpApi routes of Lambda-handled functions, served on the local API port.

On AWS the HTTP API sends each route to its function as a payload v2 event. Locally uvicorn serves the FastAPI
app directly (the API function's routes); every other function's `HttpApi` events (the public tracking
function's `/t/o/{token}`, `/t/c/{token}`, `/u/{token}`) are read from template.yaml and dispatched by
`LambdaRouter`, an ASGI wrapper in front of the app: a request matching such a route becomes an API Gateway
v2 event for that function's handler (through the local stack's FunctionRuntime) and its v2 response becomes
the HTTP response; everything else goes to the app untouched.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from devstack.functions import FunctionError
from devstack.template import Template

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Invoke = Callable[[str, Any], Any]

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
_PARAM = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")


@dataclass(frozen=True)
class LambdaRoute:
    method: str  # GET, POST, ... or ANY
    path: str  # as in the template: /t/o/{token}, /files/{proxy+}
    function_id: str
    pattern: re.Pattern[str]
    greedy: bool

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method.upper()):
            return None
        found = self.pattern.fullmatch(path)
        return None if found is None else found.groupdict()


def compile_route(method: str, path: str, function_id: str) -> LambdaRoute:
    """`{name}` matches one path segment, `{name+}` the rest of the path (API Gateway's path variables)."""
    pattern, last, greedy = "", 0, False
    for param in _PARAM.finditer(path):
        pattern += re.escape(path[last : param.start()])
        greedy = greedy or bool(param.group(2))
        pattern += f"(?P<{param.group(1)}>{'.+' if param.group(2) else '[^/]+'})"
        last = param.end()
    pattern += re.escape(path[last:])
    return LambdaRoute(method.upper(), path, function_id, re.compile(pattern), greedy)


def lambda_routes(template: Template, *, served_natively: Collection[str]) -> list[LambdaRoute]:
    """Every HttpApi event route of the template's functions, except those of `served_natively` (the function
    whose app uvicorn runs itself). Most specific first, as API Gateway selects them."""
    routes: list[LambdaRoute] = []
    for res in template.of_type("AWS::Serverless::Function"):
        if res.logical_id in served_natively:
            continue
        for event in (res.properties.get("Events") or {}).values():
            if event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties") or {}
            path, method = template.resolve(props.get("Path")), template.resolve(props.get("Method", "ANY"))
            if not isinstance(path, str) or not isinstance(method, str):
                continue  # no Path: the $default route, which uvicorn's app already is
            routes.append(compile_route(method, path, res.logical_id))
    return sorted(routes, key=lambda r: (r.greedy, -len(_PARAM.sub("", r.path)), r.method == "ANY"))


def build_event(route: LambdaRoute, params: dict[str, str], scope: Scope, body: bytes) -> dict[str, Any]:
    """The API Gateway HTTP API payload v2 event for one request (headers lowercased, repeats comma-joined,
    cookies split out, body base64-encoded)."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for raw_name, raw_value in scope.get("headers") or []:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    query = scope.get("query_string", b"").decode("latin-1")
    parameters: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        parameters[key] = f"{parameters[key]},{value}" if key in parameters else value
    client = scope.get("client") or ("127.0.0.1", 0)
    host = headers.get("host", "localhost")
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": scope["path"],
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "http": {
                "method": scope["method"],
                "path": scope["path"],
                "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
                "sourceIp": client[0],
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route.route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": bool(body),
    }
    if cookies:
        event["cookies"] = cookies
    if parameters:
        event["queryStringParameters"] = parameters
    if params:
        event["pathParameters"] = params
    if body:
        event["body"] = base64.b64encode(body).decode("ascii")
    return event


def response_parts(result: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, headers, body) of a v2 handler result. A result without `statusCode` is, as API Gateway treats
    it, a 200 JSON body."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return 200, [(b"content-type", b"application/json")], json.dumps(result).encode("utf-8")
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode("utf-8")
    headers = [
        (str(k).lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in (result.get("headers") or {}).items()
    ]
    headers += [(b"set-cookie", str(c).encode("latin-1")) for c in result.get("cookies") or []]
    if not any(name == b"content-type" for name, _ in headers) and body:
        headers.append((b"content-type", b"application/json"))
    return int(result["statusCode"]), headers, body


class LambdaRouter:
    """ASGI: requests on a Lambda route go to that function's handler; the rest (and lifespan) to `app`."""

    def __init__(self, app: AsgiApp, routes: list[LambdaRoute], invoke: Invoke) -> None:
        self.app = app
        self.routes = list(routes)
        self._invoke = invoke

    def resolve(self, method: str, path: str) -> tuple[LambdaRoute, dict[str, str]] | None:
        for route in self.routes:
            params = route.match(method, path)
            if params is not None:
                return route, params
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.resolve(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        route, params = found
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                await _respond(
                    send, 413, [(b"content-type", b"application/json")], b'{"message":"Request Entity Too Large"}'
                )
                return
            if not message.get("more_body", False):
                break
        event = build_event(route, params, scope, bytes(body))
        try:
            # Handlers are synchronous and do blocking I/O: off the event loop, as each Lambda is its own process.
            result = await asyncio.to_thread(self._invoke, route.function_id, event)
        except FunctionError:
            await _respond(send, 500, [(b"content-type", b"application/json")], b'{"message":"Internal Server Error"}')
            return
        status, headers, payload = response_parts(result)
        await _respond(send, status, headers, payload)


async def _respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [h for h in headers if h[0] != b"content-length"] + [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
