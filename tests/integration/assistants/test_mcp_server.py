"""The MCP server over real HTTP, driven by the official SDK's client: the handshake, the tool list, reads, idempotent
writes, conflicts, rate limits shared by two instances, scopes, revoked keys, DNS-rebinding checks and the audit
log (read back over the REST API)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from fastapi.testclient import TestClient
from mcp.shared.exceptions import MCPError

from kindling.api.app import create_app
from kindling.auth.service import AuthService
from kindling.platform.clock import ManualClock
from kindling.prospects.models import ProspectCreate
from kindling.prospects.service import ProspectService
from tests.conftest import Tenant, make_tenant
from tests.integration.assistants.conftest import RunningServer, connect, payload, start_server, stop_server

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw-http-test", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def raw_post(server: RunningServer, token: str | None, body: dict[str, Any], **headers: str) -> httpx.Response:
    sent = {**MCP_HEADERS, **headers}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return httpx.post(server.url, json=body, headers=sent, timeout=30)


def audit_log(tenant: Tenant) -> list[dict[str, Any]]:
    with TestClient(create_app()) as client:
        response = client.get("/api/v1/mcp/audit", params={"limit": 100}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def test_initialize_negotiates_the_sdk_version_and_lists_30_tools(mcp_server: RunningServer, tenant: Tenant) -> None:
    async def main() -> None:
        async with connect(mcp_server.url, tenant.token) as client:
            assert client.protocol_version == "2025-11-25"
            assert client.server_info is not None and client.server_info.name == "kindling"
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert len(names) == 30
            assert {"pause_linkedin_campaign", "resume_linkedin_campaign", "enroll_in_linkedin_campaign"} <= names
            for never in ("delete_mailbox", "delete_campaign", "send_email", "reply_to_conversation", "create_mailbox"):
                assert never not in names
            assert not any(word in name.split("_") for name in names for word in ("delete", "send", "connect"))

    anyio.run(main)


def test_initialize_over_plain_http_returns_json_and_no_session(mcp_server: RunningServer, tenant: Tenant) -> None:
    response = raw_post(mcp_server, tenant.token, INITIALIZE)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["result"]["protocolVersion"] == "2025-11-25"
    # Stateless in the SDK's sense: no Mcp-Session-Id is issued, so any instance can serve the next request.
    assert "mcp-session-id" not in response.headers


def test_a_read_tool_returns_the_workspace_data(mcp_server: RunningServer, tenant: Tenant) -> None:
    prospect, _ = ProspectService().create(tenant.workspace_id, ProspectCreate(email="ada@lovelace.test"))
    other = make_tenant(name="Other")
    ProspectService().create(other.workspace_id, ProspectCreate(email="grace@hopper.test"))

    async def main() -> None:
        async with connect(mcp_server.url, tenant.token) as client:
            listed = payload(await client.call_tool("list_prospects_and_lists", {}))
            assert [p["email"] for p in listed["items"]] == ["ada@lovelace.test"]
            assert listed["items"][0]["id"] == prospect.id and listed["has_more"] is False
            check = payload(await client.call_tool("check_suppression", {"email": "ada@lovelace.test"}))
            assert check["blocked"] is False and check["prospect_id"] == prospect.id
            info = payload(await client.call_tool("get_workspace_info", {}))
            assert info["workspace"]["name"] == "Acme" and info["api_key"]["id"] == tenant.key_id
            assert info["server"]["rate_limits_per_minute"] == {
                "read": 60,
                "email_write": 30,
                "linkedin_warmup_write": 10,
            }

    anyio.run(main)


def test_tool_errors_carry_the_rest_codes(mcp_server: RunningServer, tenant: Tenant) -> None:
    async def main() -> None:
        async with connect(mcp_server.url, tenant.token) as client:
            missing = await client.call_tool("get_campaign", {"campaign_id": "cmp_doesnotexist1"})
            assert missing.is_error and payload(missing)["error"]["code"] == "not_found"
            invalid = await client.call_tool("list_mailboxes", {"limit": 1000})
            assert invalid.is_error
            error = payload(invalid)["error"]
            assert error["code"] == "validation_error" and error["details"][0]["field"] == "limit"

    anyio.run(main)


def test_an_idempotent_write_twice_returns_the_original_and_changed_arguments_conflict(
    mcp_server: RunningServer, tenant: Tenant
) -> None:
    args = {"prospects": [{"email": "ada@lovelace.test", "firstName": "Ada"}], "idempotency_key": "import-1"}

    async def main() -> None:
        async with connect(mcp_server.url, tenant.token) as client:
            first = await client.call_tool("create_prospects", args)
            second = await client.call_tool("create_prospects", args)
            assert not first.is_error and not second.is_error
            assert payload(first) == payload(second)
            assert payload(first)["prospects"][0]["created"] is True
            assert second.meta == {"kindling/idempotent_replayed": True}
            changed = {**args, "prospects": [{"email": "grace@hopper.test"}]}
            conflict = await client.call_tool("create_prospects", changed)
            assert conflict.is_error
            assert payload(conflict)["error"]["code"] == "idempotency_conflict"
            # The same key on another tool is another key: it runs.
            other_tool = await client.call_tool(
                "suppress_prospects", {"emails": ["spam@trap.test"], "idempotency_key": "import-1"}
            )
            assert not other_tool.is_error, payload(other_tool)
            assert payload(await client.call_tool("check_suppression", {"email": "spam@trap.test"}))["blocked"]

    anyio.run(main)
    # One prospect: the replay created nothing, the conflicting call ran nothing.
    prospects, _ = ProspectService().page(tenant.workspace_id, _no_filters(), 100, None)
    assert [p.email for p in prospects] == ["ada@lovelace.test"]


def test_the_idempotency_key_expires_after_24_hours(
    mcp_server: RunningServer, tenant: Tenant, clock: ManualClock
) -> None:
    args = {"prospects": [{"email": "ada@lovelace.test"}], "idempotency_key": "daily"}

    async def call() -> dict[str, Any]:
        async with connect(mcp_server.url, tenant.token) as client:
            result = await client.call_tool("create_prospects", args)
            assert not result.is_error
            return {"replayed": result.meta is not None, **payload(result)}

    first = anyio.run(call)
    clock.advance(timedelta(hours=23, minutes=59))
    assert anyio.run(call)["replayed"] is True
    clock.advance(timedelta(minutes=2))
    again = anyio.run(call)
    assert again["replayed"] is False and again["prospects"][0]["created"] is False
    assert first["prospects"][0]["id"] == again["prospects"][0]["id"]


def test_a_narrow_key_gets_insufficient_scope_naming_the_scope(mcp_server: RunningServer, tenant: Tenant) -> None:
    narrow = make_tenant(scopes=("prospects:read",), name="Narrow")

    async def main() -> None:
        async with connect(mcp_server.url, narrow.token) as client:
            allowed = await client.call_tool("list_prospects_and_lists", {})
            assert not allowed.is_error
            refused = await client.call_tool("list_mailboxes", {})
            assert refused.is_error
            error = payload(refused)["error"]
            assert error["code"] == "insufficient_scope"
            assert error["required_scope"] == "mailboxes:read" and "mailboxes:read" in error["message"]
            write = await client.call_tool("create_prospects", {"prospects": [{"email": "x@y.test"}]})
            assert payload(write)["error"]["required_scope"] == "prospects:write"

    anyio.run(main)
    # (The test clock stands still, so the records share one instant: compared sorted.)
    outcomes = sorted((r["tool"], r["outcome"], r["error_code"]) for r in audit_log(narrow))
    assert outcomes == [
        ("create_prospects", "insufficient_scope", "insufficient_scope"),
        ("list_mailboxes", "insufficient_scope", "insufficient_scope"),
        ("list_prospects_and_lists", "ok", None),
    ]


def test_a_revoked_or_bad_key_is_401(mcp_server: RunningServer, tenant: Tenant) -> None:
    assert raw_post(mcp_server, tenant.token, INITIALIZE).status_code == 200
    AuthService().revoke_api_key(tenant.workspace_id, tenant.key_id)
    revoked = raw_post(mcp_server, tenant.token, INITIALIZE)
    assert revoked.status_code == 401
    assert revoked.json()["error"]["code"] == "unauthorized"
    assert revoked.headers["www-authenticate"] == "Bearer"
    assert raw_post(mcp_server, None, INITIALIZE).status_code == 401
    assert raw_post(mcp_server, "ws_" + "x" * 40, INITIALIZE).status_code == 401

    async def main() -> None:
        async with connect(mcp_server.url, tenant.token):
            pass

    # The SDK client gets the 401 on its first POST and fails the handshake with an MCPError.
    with pytest.raises(BaseExceptionGroup) as raised:
        anyio.run(main)
    assert raised.group_contains(MCPError, match="Server returned an error response")


def test_dns_rebinding_host_and_origin_are_checked(mcp_server: RunningServer, tenant: Tenant) -> None:
    good_origin = raw_post(mcp_server, tenant.token, INITIALIZE, Origin=f"http://127.0.0.1:{mcp_server.port}")
    assert good_origin.status_code == 200
    bad_origin = raw_post(mcp_server, tenant.token, INITIALIZE, Origin="http://evil.example")
    assert bad_origin.status_code == 403 and bad_origin.json()["error"]["code"] == "invalid_origin"
    bad_host = raw_post(mcp_server, tenant.token, INITIALIZE, Host="evil.example")
    assert bad_host.status_code == 421 and bad_host.json()["error"]["code"] == "invalid_host"
    # The check comes before authentication: a rebinding page learns nothing about keys.
    assert raw_post(mcp_server, None, INITIALIZE, Origin="http://evil.example").status_code == 403


def _no_filters() -> Any:
    from kindling.prospects.models import ProspectFilters

    return ProspectFilters()


@pytest.fixture
def two_servers(aws: None, clock: ManualClock) -> Iterator[tuple[RunningServer, RunningServer]]:
    first, second = start_server(), start_server()
    assert first.app is not second.app
    yield first, second
    stop_server(first)
    stop_server(second)


class Alternating(httpx2.AsyncBaseTransport):
    """Sends each HTTP request of one client session to the next of several servers in turn."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.served: list[int] = []
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = self.ports[len(self.served) % len(self.ports)]
        self.served.append(port)
        request.url = request.url.copy_with(port=port)
        request.headers["host"] = f"127.0.0.1:{port}"
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_two_different_instances_serve_one_session(
    two_servers: tuple[RunningServer, RunningServer], tenant: Tenant
) -> None:
    first, second = two_servers
    transport = Alternating([first.port, second.port])

    async def main() -> None:
        async with connect(first.url, tenant.token, transport=transport) as client:
            assert client.protocol_version == "2025-11-25"
            assert len((await client.list_tools()).tools) == 30
            args = {"prospects": [{"email": "ada@lovelace.test"}], "idempotency_key": "k"}
            one = await client.call_tool("create_prospects", args)
            two = await client.call_tool("create_prospects", args)
            assert payload(one) == payload(two) and two.meta == {"kindling/idempotent_replayed": True}

    anyio.run(main)
    # initialize on one, the initialized notification and later calls alternate: both served the session.
    assert transport.served[0] == first.port
    assert {first.port, second.port} == set(transport.served) and len(transport.served) >= 5


def test_warmup_writes_are_limited_to_10_per_60_seconds_across_two_instances(
    two_servers: tuple[RunningServer, RunningServer], tenant: Tenant, clock: ManualClock
) -> None:
    """12 warmup writes race through two separate server instances: exactly 10 run, 2 are refused with
    `retry_after_seconds` (the window is shared in the table). Refused calls are not counted."""
    results: list[dict[str, Any]] = []

    async def caller(server: RunningServer, calls: int) -> None:
        async with connect(server.url, tenant.token) as client:
            for _ in range(calls):
                result = await client.call_tool(
                    "update_warmup_settings",
                    {"mailbox_id": "0f8fad5b-d9cb-469f-a165-70867728950e", "settings": {"warmup_reply_rate": 20}},
                )
                results.append(payload(result))

    async def main() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(caller, two_servers[0], 6)
            group.start_soon(caller, two_servers[1], 6)

    anyio.run(main)
    codes = sorted(r["error"]["code"] for r in results)
    # The mailbox does not exist: an allowed call reaches the service (not_found); a refused one never does.
    assert codes == ["not_found"] * 10 + ["rate_limited"] * 2
    limited = [r["error"] for r in results if r["error"]["code"] == "rate_limited"]
    # The clock stands at the start of a minute: 60 s to the next window, where these 10 still weigh 10 * (60 -
    # t) / 60; one more fits when that is 9, 6 s in.
    assert [e["retry_after_seconds"] for e in limited] == [66, 66]

    # Other categories have their own windows.
    async def read() -> bool:
        async with connect(two_servers[0].url, tenant.token) as client:
            return bool((await client.call_tool("list_mailboxes", {})).is_error)

    assert anyio.run(read) is False
    clock.advance(timedelta(seconds=66))

    async def once_more() -> str:
        async with connect(two_servers[1].url, tenant.token) as client:
            result = await client.call_tool(
                "update_warmup_settings",
                {"mailbox_id": "0f8fad5b-d9cb-469f-a165-70867728950e", "settings": {"warmup_reply_rate": 20}},
            )
            return str(payload(result)["error"]["code"])

    assert anyio.run(once_more) == "not_found"
    outcomes = sorted(r["outcome"] for r in audit_log(tenant) if r["tool"] == "update_warmup_settings")
    assert outcomes == ["error"] * 11 + ["rate_limited"] * 2


def test_reads_are_limited_to_60_per_60_seconds(mcp_server: RunningServer, tenant: Tenant) -> None:
    async def main() -> list[bool]:
        async with connect(mcp_server.url, tenant.token) as client:
            return [(await client.call_tool("list_campaigns", {})).is_error for _ in range(61)]

    errors = anyio.run(main)
    assert errors == [False] * 60 + [True]


def test_every_call_is_audited_with_a_sanitised_summary(mcp_server: RunningServer, tenant: Tenant) -> None:
    async def main() -> None:
        async with connect(mcp_server.url, tenant.token) as client:
            await client.call_tool(
                "create_prospects",
                {
                    "prospects": [{"email": "ada@lovelace.test", "firstName": "Ada", "phone": "+44 20 7946 0958"}],
                    "idempotency_key": "secret-key",
                },
            )
            await client.call_tool("check_suppression", {"email": "grace@hopper.test"})

    anyio.run(main)
    records = sorted(audit_log(tenant), key=lambda r: str(r["tool"]))
    assert [r["tool"] for r in records] == ["check_suppression", "create_prospects"]
    check, create = records
    assert check["outcome"] == "ok" and check["key_id"] == tenant.key_id and check["duration_ms"] > 0
    assert check["arguments"]["email"]["domain"] == "hopper.test"
    assert create["arguments"]["prospects"]["count"] == 1
    assert create["arguments"]["prospects"]["first"]["email"]["domain"] == "lovelace.test"
    text = str(records)
    for secret in ("ada@lovelace.test", "grace@hopper.test", "Ada", "7946", "secret-key"):
        assert secret not in text


def test_a_client_on_the_per_request_protocol_is_served_too(mcp_server: RunningServer, tenant: Tenant) -> None:
    """The SDK client's default mode probes the 2026 per-request protocol first; the stateless server answers it."""

    async def main() -> None:
        async with connect(mcp_server.url, tenant.token, mode="auto") as client:
            assert client.protocol_version == "2026-07-28"
            info = payload(await client.call_tool("get_workspace_info", {}))
            assert info["api_key"]["id"] == tenant.key_id

    anyio.run(main)


def test_only_post_is_served(mcp_server: RunningServer, tenant: Tenant) -> None:
    """Stateless JSON mode has no stream to open (GET) and no session to end (DELETE): 405 at once, never a
    request held open until the function times out."""
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {tenant.token}"}
    for method in ("GET", "DELETE"):
        response = httpx.request(method, mcp_server.url, headers=headers, timeout=5)
        assert response.status_code == 405 and response.headers["allow"] == "POST"
        assert response.json()["error"]["code"] == "method_not_allowed"


def test_bad_keys_are_limited_to_30_a_minute_per_address(mcp_server: RunningServer, tenant: Tenant) -> None:
    """As on the REST API: past 30 failed authentications in a minute the address gets 429, not 401; a valid key
    from the same address is never refused by it."""
    statuses = [raw_post(mcp_server, "ws_" + "x" * 40, INITIALIZE).status_code for _ in range(31)]
    assert statuses == [401] * 30 + [429]
    limited = raw_post(mcp_server, None, INITIALIZE)
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) == limited.json()["error"]["retry_after_seconds"] >= 1
    assert raw_post(mcp_server, tenant.token, INITIALIZE).status_code == 200
