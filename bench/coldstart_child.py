"""One cold start, in a fresh process: `python -m bench.coldstart_child ours|mcp|baseline`.

Both run with the environment Lambda gives an actively traced function (ours traces; the baseline does not).
Both variants first start moto in-process and create the table from the definition the parent passes (moto and
botocore are imported before the clock starts, equally for both). Then the clock runs over what a Lambda cold start
pays: importing the handler module and serving one API Gateway (HTTP API v2) request that reads DynamoDB (`ours`:
GET /api/v1/me; `mcp`: the MCP function's POST /mcp calling the `list_mailboxes` tool, which also counts the call in
its rate window and writes its audit record).
Prints one JSON line: {"import_s", "first_request_s", "total_s", "status"}.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TOKEN = "ws_" + "BenchKey" * 5  # 43 characters, base62: a well-formed key


def _event(path: str, token: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((REPO / "events" / "api.json").read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["headers"]["authorization"] = f"Bearer {token}"
    return event


def _seed_key(client: Any, table: str) -> None:
    """The hash pointer an API key resolves through (the layout kindling.auth.repository writes)."""
    client.put_item(
        TableName=table,
        Item={
            "pk": {"S": "@APIKEYHASH#" + hashlib.sha256(TOKEN.encode()).hexdigest()},
            "sk": {"S": "#"},
            "workspace_id": {"S": "ws_bench000001"},
            "key_id": {"S": "key_bench00001"},
            "name": {"S": "bench"},
            "scopes": {"L": [{"S": "mailboxes:read"}]},
            "revoked": {"S": "no"},
        },
    )


def _mcp_event(token: str) -> dict[str, Any]:
    event = _event("/mcp", token)
    event["routeKey"] = event["requestContext"]["routeKey"] = "ANY /mcp"
    event["requestContext"]["http"]["method"] = "POST"
    event.pop("pathParameters", None)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_mailboxes", "arguments": {}}}
    event["body"] = json.dumps(body)
    event["headers"].update(
        {
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
            "content-length": str(len(event["body"])),
            "mcp-protocol-version": "2025-11-25",
        }
    )
    return event


def _mcp_tool_failed(response: dict[str, Any]) -> bool:
    result = json.loads(response["body"]).get("result", {})
    return bool(result.get("isError", True))


BASELINE_APP = """
import boto3
from fastapi import FastAPI
from mangum import Mangum

app = FastAPI()
_table = None

@app.get("/api/v1/me")
def me():
    global _table
    if _table is None:
        _table = boto3.client("dynamodb")
    item = _table.get_item(TableName="kindling-bench", Key={"pk": {"S": "bench"}, "sk": {"S": "#"}}).get("Item")
    return {"found": item is not None}

handler = Mangum(app, lifespan="off")
"""


def main(variant: str) -> None:
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        KINDLING_TABLE_NAME="kindling-bench",
        KINDLING_STAGE="test",
        POWERTOOLS_SERVICE_NAME="kindling-api",
        # What Lambda sets for an actively traced function, so ours pays for the Powertools Tracer as it does on
        # Lambda (the X-Ray SDK in Lambda mode, botocore patched, one UDP datagram per subsegment to a local port
        # nobody listens on). The baseline has no tracer; these change nothing for it.
        LAMBDA_TASK_ROOT=str(REPO),
        _X_AMZN_TRACE_ID="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:2000",
    )
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName="kindling-bench", **json.loads(os.environ["BENCH_TABLE_DEFINITION"]))
        client.put_item(TableName="kindling-bench", Item={"pk": {"S": "bench"}, "sk": {"S": "#"}})
        _seed_key(client, "kindling-bench")
        # Warm moto's own lazy imports for the operations the request uses, so neither variant pays for the
        # emulator's first-use cost (on AWS these are remote calls with no client-side import at all).
        scratch = {"pk": {"S": "warm"}, "sk": {"S": "#"}}
        client.update_item(
            TableName="kindling-bench",
            Key=scratch,
            UpdateExpression="ADD hits :one SET expires_at = :t",
            ExpressionAttributeValues={":one": {"N": "1"}, ":t": {"N": "1"}},
            ReturnValues="ALL_NEW",
        )
        client.get_item(TableName="kindling-bench", Key=scratch, ConsistentRead=True)
        if variant in ("ours", "mcp"):
            sys.path[:0] = [str(REPO / "shared")]
            path = REPO / "functions" / ("api" if variant == "ours" else "mcp") / "app.py"
            if variant == "mcp":
                os.environ["POWERTOOLS_SERVICE_NAME"] = "kindling-mcp"
        else:
            path = Path(os.environ["BENCH_BASELINE_FILE"])
        started = time.perf_counter()
        spec = importlib.util.spec_from_file_location("handler_module", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        imported = time.perf_counter()
        event = _mcp_event(TOKEN) if variant == "mcp" else _event("/api/v1/me", TOKEN)
        response = module.handler(event, None)
        served = time.perf_counter()
        if variant == "mcp" and _mcp_tool_failed(response):
            response["statusCode"] = 500  # the parent refuses a run whose tool call failed
    print(
        json.dumps(
            {
                "import_s": imported - started,
                "first_request_s": served - imported,
                "total_s": served - started,
                "status": response["statusCode"],
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
