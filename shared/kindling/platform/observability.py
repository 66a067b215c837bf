"""The Powertools logger and tracer, built lazily once, and the request-id context every log line carries.

The logger's service is the function's POWERTOOLS_SERVICE_NAME (the template sets one per function: kindling-api,
kindling-sender...), else "kindling". Handlers are wrapped with `traced` (Powertools Tracer, capture_lambda_handler)
only where tracing can work: inside Lambda and not turned off. Elsewhere (tests, the local stack, benchmarks) the
handler is returned as is and aws_xray_sdk is never imported: outside Lambda its recorder builds two botocore X-Ray
clients at import, a few hundred milliseconds for nothing, since Powertools would disable tracing there anyway.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

SERVICE = "kindling"
SERVICE_ENV = "POWERTOOLS_SERVICE_NAME"
# Only AWS calls (botocore: DynamoDB, SQS, KMS, Step Functions) get subsegments; patching every library the SDK knows
# would import each one that happens to be installed, at cold start.
TRACED_MODULES = ("botocore",)
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

Handler = TypeVar("Handler", bound=Callable[..., Any])


def service_name(environ: Mapping[str, str] | None = None) -> str:
    """The function's own service name (POWERTOOLS_SERVICE_NAME), else the project's."""
    env = os.environ if environ is None else environ
    return env.get(SERVICE_ENV) or SERVICE


@lru_cache(maxsize=1)
def get_logger() -> Logger:
    from aws_lambda_powertools import Logger

    logger = Logger(service=service_name())
    # Every line carries the current request id (API) or None (workers), read from the context variable.
    logger.append_keys(request_id=_RequestIdField())
    return logger


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Powertools' own rule: inside Lambda (LAMBDA_TASK_ROOT), not under `sam local` or Chalice, and not turned off
    with POWERTOOLS_TRACE_DISABLED."""
    env = os.environ if environ is None else environ
    if env.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in ("1", "y", "yes", "t", "true", "on"):
        return False
    if env.get("AWS_SAM_LOCAL") or env.get("AWS_CHALICE_CLI_MODE"):
        return False
    return bool(env.get("LAMBDA_TASK_ROOT"))


def traced(handler: Handler) -> Handler:
    """`handler` under Tracer.capture_lambda_handler when tracing can work (decided once, at cold start)."""
    if not tracing_enabled():
        return handler
    from aws_lambda_powertools import Tracer

    tracer = Tracer(service=service_name(), patch_modules=TRACED_MODULES)
    # Responses may carry customer data (prospects, message bodies): traces keep the timing, not the payloads.
    return cast("Handler", tracer.capture_lambda_handler(handler, capture_response=False))


class _RequestIdField:
    """Rendered lazily by the JSON formatter, so concurrent requests each log their own id."""

    def __str__(self) -> str:
        return request_id_var.get() or ""

    def __repr__(self) -> str:
        return str(self)
