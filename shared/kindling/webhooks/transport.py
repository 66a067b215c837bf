"""One HTTP POST to a checked `Target` with the standard library: the resolved (checked) address is dialled
directly, the Host header and TLS server name stay the URL's host; redirects are never followed; one overall
deadline (5 s) covers connect, send and reading the response.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass, field

from kindling.webhooks.targets import Target

TIMEOUT_SECONDS = 5.0
MAX_RESPONSE_READ = 64 * 1024


@dataclass(frozen=True)
class HttpResult:
    status_code: int | None  # None: no HTTP response (timeout, refused, TLS error)
    duration_ms: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # `timeout`, `connection_error: ...`

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._address = target.address
        self._context = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


def post(
    target: Target,
    body: bytes,
    headers: dict[str, str],
    timeout: float = TIMEOUT_SECONDS,
    ssl_context: ssl.SSLContext | None = None,
) -> HttpResult:
    started = time.monotonic()
    deadline = started + timeout

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    connection: http.client.HTTPConnection
    if target.scheme == "https":
        connection = _PinnedHTTPSConnection(target, timeout, ssl_context or ssl.create_default_context())
    else:
        connection = _PinnedHTTPConnection(target, timeout)
    try:
        connection.request("POST", target.path, body=body, headers={**headers, "Content-Length": str(len(body))})
        if connection.sock is not None:
            connection.sock.settimeout(max(deadline - time.monotonic(), 0.001))
        response = connection.getresponse()
        chunks: list[bytes] = []
        read = 0
        while read < MAX_RESPONSE_READ:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("response body exceeded the deadline")
            if connection.sock is not None:
                connection.sock.settimeout(remaining)
            chunk = response.read1(min(8192, MAX_RESPONSE_READ - read))
            if not chunk:
                break
            chunks.append(chunk)
            read += len(chunk)
        return HttpResult(
            status_code=response.status,
            duration_ms=elapsed_ms(),
            body=b"".join(chunks),
            headers={k.lower(): v for k, v in response.getheaders()},
        )
    except TimeoutError:
        return HttpResult(status_code=None, duration_ms=elapsed_ms(), error="timeout")
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        return HttpResult(status_code=None, duration_ms=elapsed_ms(), error=f"connection_error: {exc}"[:300])
    finally:
        connection.close()
