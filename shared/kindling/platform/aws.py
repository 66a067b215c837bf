"""Lazily built boto3 clients (one per service per process). The endpoint comes from AWS_ENDPOINT_URL when set,
which is how the local stack points everything at moto."""

from __future__ import annotations

import threading
from typing import Any

from kindling.platform.settings import get_settings

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def client(service: str) -> Any:
    cached = _clients.get(service)
    if cached is not None:
        return cached
    with _lock:
        if service not in _clients:
            import boto3

            _clients[service] = boto3.session.Session().client(service, region_name=get_settings().region)
        return _clients[service]


def reset_clients() -> None:
    """Forget clients (tests and the local stack change endpoints and credentials)."""
    with _lock:
        _clients.clear()
