"""The MCP server on real HTTP (uvicorn on 127.0.0.1, in this process so it shares moto's table), driven by the
official SDK's client over streamable HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from kindling.assistants.server import MCPApp


@dataclass
class RunningServer:
    port: int
    app: MCPApp
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(app: MCPApp | None = None) -> RunningServer:
    """A fresh app object (a separate server instance: no state shared but the table) on its own port."""
    app = app or MCPApp()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the MCP test server did not start"
        time.sleep(0.02)
    return RunningServer(port, app, server, thread)


def stop_server(running: RunningServer) -> None:
    running.server.should_exit = True
    running.thread.join(timeout=10)


@pytest.fixture
def mcp_server(aws: None, clock: object) -> Iterator[RunningServer]:
    running = start_server()
    yield running
    stop_server(running)


@asynccontextmanager
async def connect(
    url: str, token: str, *, transport: httpx2.AsyncBaseTransport | None = None, mode: str = "legacy"
) -> AsyncIterator[Client]:
    """The SDK's client over streamable HTTP with a bearer key (the initialize handshake by default)."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, transport=transport, timeout=30)
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode) as client:  # type: ignore[arg-type]
        yield client


def payload(result: CallToolResult) -> dict[str, Any]:
    """The JSON a tool returned (its text content, which equals its structured content)."""
    text = result.content[0].text  # type: ignore[union-attr]
    body = json.loads(text)
    assert body == result.structured_content
    return dict(body)
