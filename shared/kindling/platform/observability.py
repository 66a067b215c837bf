"""The Powertools logger, built lazily once, and the request-id context every log line carries."""

from __future__ import annotations

import contextvars
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

SERVICE = "kindling"
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


@lru_cache(maxsize=1)
def get_logger() -> Logger:
    from aws_lambda_powertools import Logger

    logger = Logger(service=SERVICE)
    # Every line carries the current request id (API) or None (workers), read from the context variable.
    logger.append_keys(request_id=_RequestIdField())
    return logger


class _RequestIdField:
    """Rendered lazily by the JSON formatter, so concurrent requests each log their own id."""

    def __str__(self) -> str:
        return request_id_var.get() or ""

    def __repr__(self) -> str:
        return str(self)
