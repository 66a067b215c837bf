"""AWS clients, built lazily once per process from ONE shared botocore session.

Creating a botocore session loads the endpoint rules and service models from disk (over 100 ms); sharing the
process's default session between boto3 clients and pynamodb pays that once per cold start. The endpoint comes
from AWS_ENDPOINT_URL when set, which is how the local stack points everything at moto.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from kindling.platform.settings import get_settings

if TYPE_CHECKING:
    import botocore.session

_clients: dict[str, Any] = {}
# botocore's client creation is not thread-safe; one lock serialises it (it happens once per service).
_lock = threading.RLock()


def botocore_session() -> botocore.session.Session:
    import boto3

    with _lock:
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        session: botocore.session.Session = boto3.DEFAULT_SESSION._session
        return session


def client_creation_lock() -> threading.RLock:
    return _lock


def client(service: str) -> Any:
    cached = _clients.get(service)
    if cached is not None:
        return cached
    with _lock:
        if service not in _clients:
            import boto3

            botocore_session()
            assert boto3.DEFAULT_SESSION is not None
            _clients[service] = boto3.DEFAULT_SESSION.client(service, region_name=get_settings().region)
        return _clients[service]


def reset_clients() -> None:
    """Forget clients and the default session (tests and the local stack change endpoints and credentials)."""
    import boto3

    with _lock:
        _clients.clear()
        boto3.DEFAULT_SESSION = None
