"""The MCP Lambda handler with API Gateway (HTTP API v2) events, as events/mcp.json: the request's own execute-api
domain is an allowed Host and Origin; another Host is refused; the tool runs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from tests.conftest import Tenant
from tests.integration.webhooks.conftest import load_function

REPO = Path(__file__).resolve().parents[3]


def event(token: str, **headers: str) -> dict[str, Any]:
    sample: dict[str, Any] = json.loads((REPO / "events" / "mcp.json").read_text())
    sample = copy.deepcopy(sample)
    sample["headers"]["authorization"] = f"Bearer {token}"
    sample["headers"].update(headers)
    return sample


def test_the_handler_serves_a_tool_call_on_its_own_domain(tenant: Tenant) -> None:
    handler = load_function("mcp").handler
    response = handler(event(tenant.token), None)
    assert response["statusCode"] == 200, response
    result = json.loads(response["body"])["result"]
    assert result["isError"] is False
    assert result["structuredContent"]["workspace"]["name"] == "Acme"

    origin = handler(event(tenant.token, origin="https://abcdef1234.execute-api.us-east-1.amazonaws.com"), None)
    assert origin["statusCode"] == 200
    foreign_origin = handler(event(tenant.token, origin="https://evil.example"), None)
    assert foreign_origin["statusCode"] == 403
    foreign_host = handler(event(tenant.token, host="evil.example"), None)
    assert foreign_host["statusCode"] == 421
    assert json.loads(foreign_host["body"])["error"]["code"] == "invalid_host"
