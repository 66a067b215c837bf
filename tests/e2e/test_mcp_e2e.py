"""The MCP server on the local stack (`make dev`'s): the SDK's client over HTTP to /mcp, which the stack routes to the
MCP function's handler as API Gateway would; keys from the admin CLI; the audit log over the REST API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from devstack.runtime import LocalStack
from tests.e2e.test_platform_e2e import kindling, new_key
from tests.integration.assistants.conftest import connect, payload

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}},
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def dev_json(local_stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    state_dir = tmp_path_factory.mktemp("mcp-cli-state")
    local_stack.write_dev_json(state_dir / "dev.json")
    return state_dir


def test_an_assistant_session_on_the_local_stack(local_stack: LocalStack, dev_json: Path) -> None:
    url = f"{local_stack.api_url}/mcp"
    workspace, headers = new_key(dev_json)
    token = headers["Authorization"].removeprefix("Bearer ")
    narrow = kindling(dev_json, "create-key", "--workspace", workspace, "--name", "narrow", "--scopes", "jobs:read")
    write = {"prospects": [{"email": "ada@lovelace.test", "firstName": "Ada"}], "idempotency_key": "e2e-1"}
    warmup = {"mailbox_id": "0f8fad5b-d9cb-469f-a165-70867728950e", "settings": {"warmup_reply_rate": 20}}

    async def session() -> list[dict[str, Any]]:
        async with connect(url, token) as client:
            assert client.protocol_version == "2025-11-25"
            assert len((await client.list_tools()).tools) == 30
            first = await client.call_tool("create_prospects", write)
            again = await client.call_tool("create_prospects", write)
            assert payload(first) == payload(again) and again.meta == {"kindling/idempotent_replayed": True}
            conflict = await client.call_tool("create_prospects", {**write, "prospects": [{"email": "b@c.test"}]})
            assert payload(conflict)["error"]["code"] == "idempotency_conflict"
            listed = payload(await client.call_tool("list_prospects_and_lists", {}))
            assert [p["email"] for p in listed["items"]] == ["ada@lovelace.test"]
            return [payload(await client.call_tool("update_warmup_settings", warmup)) for _ in range(11)]

    warmup_results = anyio.run(session)
    assert [r["error"]["code"] for r in warmup_results] == ["not_found"] * 10 + ["rate_limited"]
    assert 1 <= warmup_results[-1]["error"]["retry_after_seconds"] <= 120

    async def narrow_session() -> dict[str, Any]:
        async with connect(url, narrow["api_key"]) as client:
            return payload(await client.call_tool("list_mailboxes", {}))

    refused = anyio.run(narrow_session)["error"]
    assert refused["code"] == "insufficient_scope" and refused["required_scope"] == "mailboxes:read"

    assert httpx.post(url, json=INITIALIZE, headers={**HEADERS, **headers}).status_code == 200
    assert (
        httpx.post(url, json=INITIALIZE, headers={**HEADERS, **headers, "Origin": "http://evil.example"}).status_code
        == 403
    )
    kindling(dev_json, "revoke-key", "--workspace", workspace, "--key-id", narrow["key_id"])
    revoked = httpx.post(url, json=INITIALIZE, headers={**HEADERS, "Authorization": f"Bearer {narrow['api_key']}"})
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "unauthorized"

    audit = httpx.get(f"{local_stack.api_url}/api/v1/mcp/audit", params={"limit": 100}, headers=headers).json()["data"]
    outcomes = sorted(r["outcome"] for r in audit)
    assert outcomes.count("rate_limited") == 1 and outcomes.count("ok") == 3
    assert "ada@lovelace.test" not in str(audit)
