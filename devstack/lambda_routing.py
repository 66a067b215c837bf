"""Route moto's Lambda invocations of our functions to the in-process handlers.

moto's Step Functions interpreter (enabled with the `execute_state_machine` config) runs `lambda:invoke`
tasks by calling moto's own Lambda API; moto's Lambda would start a Docker container. The moto server
runs in this process, so we replace the narrowest point on that path, `LambdaFunction.invoke` (what
`LambdaBackend.invoke` calls once it has found the function by name or ARN), for the function names
we registered; every other function still goes to moto's own implementation. The patch is installed
while at least one route exists and removed with the last one.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from moto.awslambda import models as lambda_models

from devstack.functions import FunctionError

log = logging.getLogger(__name__)

Route = Callable[[Any], Any]

_lock = threading.Lock()
_routes: dict[str, Route] = {}
_original: Any = None


def _routed_invoke(fn: Any, body: Any, request_headers: Any, response_headers: Any) -> str | bytes:
    route = _routes.get(fn.function_name)
    if route is None:
        return _original(fn, body, request_headers, response_headers)  # type: ignore[no-any-return]
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    event = json.loads(body) if body else {}
    invocation_type = (request_headers or {}).get("X-Amz-Invocation-Type") or (request_headers or {}).get(
        "x-amz-invocation-type", "RequestResponse"
    )
    if invocation_type == "Event":
        # Asynchronous invocation: Lambda queues it and answers 202 at once.
        threading.Thread(target=_run_async, args=(fn.function_name, route, event), daemon=True).start()
        return b""
    try:
        result = route(event)
    except FunctionError as exc:
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(exc.payload).encode("utf-8")
    return json.dumps(result).encode("utf-8")


def _run_async(name: str, route: Route, event: Any) -> None:
    try:
        route(event)
    except FunctionError as exc:
        log.warning("async invocation of %s failed: %s", name, exc)


def register(function_name: str, route: Route) -> None:
    global _original
    with _lock:
        if function_name in _routes:
            raise RuntimeError(f"Lambda function {function_name} is already routed in this process")
        if _original is None:
            _original = lambda_models.LambdaFunction.invoke
            lambda_models.LambdaFunction.invoke = _routed_invoke  # type: ignore[method-assign,assignment]
        _routes[function_name] = route


def unregister(function_name: str) -> None:
    global _original
    with _lock:
        _routes.pop(function_name, None)
        if not _routes and _original is not None:
            lambda_models.LambdaFunction.invoke = _original  # type: ignore[method-assign]
            _original = None


def routed() -> set[str]:
    with _lock:
        return set(_routes)
