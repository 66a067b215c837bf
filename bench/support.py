"""Benchmark helpers: count AWS requests per service by wrapping botocore's endpoint (bench-only)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.endpoint import Endpoint


@contextmanager
def count_aws_requests() -> Iterator[Counter[str]]:
    """Counts every HTTP request botocore sends (boto3 and pynamodb alike), keyed `service.Operation`."""
    counts: Counter[str] = Counter()
    original = Endpoint.make_request

    def counting(self: Endpoint, operation_model: Any, request_dict: Any) -> Any:
        counts[f"{operation_model.service_model.service_name}.{operation_model.name}"] += 1
        return original(self, operation_model, request_dict)

    Endpoint.make_request = counting  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        Endpoint.make_request = original  # type: ignore[method-assign]


def total(counts: Counter[str], service: str) -> int:
    return sum(n for key, n in counts.items() if key.startswith(service + "."))
