"""Cold start of the tracking function (functions/tracking/app.py), beside two hand-written baselines.

Each figure is the median of 10 fresh processes per variant (alternating, so machine noise hits all alike). A run
imports the handler module and serves one request, a recipient's first open of a delivered send, which is the
heaviest common path (ledger read, hit marker, `email.opened` recorded and published, the ledger's counters):
- `ours`: functions/tracking/app.py;
- `stdlib`: a bare standard-library handler that checks the token's HMAC and answers the GIF, recording nothing;
  the floor of any tracking handler;
- `boto3`: the same plus one DynamoDB UpdateItem through a plain boto3 client; the floor of one that records.
As in bench.coldstart, each child starts moto in-process and imports boto3 before the clock starts (equally for
all), and warms moto's own lazy imports for the operations used (on AWS those are remote calls).

`python -m bench tracking` runs it (writes bench/results/tracking.json); a child is `python -m bench.tracking VARIANT`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RUNS = 10
VARIANTS = ("ours", "stdlib", "boto3")
TABLE = "kindling-bench"
SECRET = "bench-tracking-secret"
WORKSPACE = "ws_bench000001"
SEND_ID = "0123456789abcdef0123456789abcdef"
SENT_AT = "2026-06-10T09:00:00.000000+0000"  # pynamodb's UTCDateTimeAttribute form
USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0"
# Reported by each child when loaded after its request: none of them belongs on the open/click path.
HEAVY_MODULES = (
    "pydantic",
    "pynamodb",
    "kindling.sending.ledger",
    "kindling.events.service",
    "kindling.platform.settings",
)

_VERIFY = """
import base64, hashlib, hmac

SECRET = __SECRET__.encode()
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")


def _valid(token):
    payload, _, tag = token.partition(".")
    mac = hmac.new(SECRET, b"kindling.track.v1." + payload.encode(), hashlib.sha256).digest()[:16]
    return hmac.compare_digest(base64.urlsafe_b64encode(mac).rstrip(b"=").decode(), tag)


def _gif():
    return {"statusCode": 200, "headers": {"content-type": "image/gif", "cache-control": "no-store"},
            "body": base64.b64encode(GIF).decode(), "isBase64Encoded": True}
""".replace("__SECRET__", repr(SECRET))

BASELINES = {
    "stdlib": _VERIFY
    + """

def handler(event, context):
    if not _valid(event["rawPath"].rsplit("/", 1)[-1]):
        return {"statusCode": 404, "body": "Not found"}
    return _gif()
""",
    "boto3": _VERIFY
    + """
import boto3

_client = None


def handler(event, context):
    global _client
    if not _valid(event["rawPath"].rsplit("/", 1)[-1]):
        return {"statusCode": 404, "body": "Not found"}
    if _client is None:
        _client = boto3.client("dynamodb")
    _client.update_item(
        TableName="__TABLE__",
        Key={"pk": {"S": "__SEND_PK__"}, "sk": {"S": "#"}},
        UpdateExpression="SET opened_at = if_not_exists(opened_at, :t)",
        ExpressionAttributeValues={":t": {"S": "2026-06-10T11:00:00.000000+0000"}},
    )
    return _gif()
""".replace("__TABLE__", TABLE).replace("__SEND_PK__", f"{WORKSPACE}#SEND#{SEND_ID}"),
}


def _table_definition() -> dict[str, Any]:
    from cfnlint.decode import cfn_yaml

    template = cfn_yaml.load(str(REPO / "template.yaml"))
    props = next(r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table")
    keys = ("KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes", "BillingMode")
    definition: dict[str, Any] = json.loads(json.dumps({k: props[k] for k in keys}))
    return definition


def _event(token: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((REPO / "events" / "tracking.json").read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/t/o/{token}"
    event["pathParameters"] = {"token": token}
    event["headers"]["user-agent"] = event["requestContext"]["http"]["userAgent"] = USER_AGENT
    return event


# --- the child: one cold start ---------------------------------------------------------------------------------


def _seed(client: Any, sqs: Any) -> None:
    client.create_table(TableName=TABLE, **json.loads(os.environ["BENCH_TABLE_DEFINITION"]))
    strings = {
        "send_id": SEND_ID,
        "enrollment_id": "enr-bench",
        "campaign_id": "cmp-bench",
        "step_id": "step-bench",
        "variant": "A",
        "mailbox_id": "mbx-bench",
        "prospect_id": "prs-bench",
        "recipient": "jane@acme.example",
        "message_id": f"{SEND_ID}@mail.example.com",
        "status": "sent",
        "queued_at": SENT_AT,
        "sending_at": SENT_AT,
        "sent_at": SENT_AT,
    }
    item = {k: {"S": v} for k, v in strings.items()}
    item.update(pk={"S": f"{WORKSPACE}#SEND#{SEND_ID}"}, sk={"S": "#"}, step_index={"N": "0"}, attempts={"N": "1"})
    client.put_item(TableName=TABLE, Item=item)
    # Warm moto's lazy imports for every operation the open uses (none of this is on the clock).
    scratch = {"pk": {"S": "warm"}, "sk": {"S": "#"}}
    client.update_item(
        TableName=TABLE,
        Key=scratch,
        UpdateExpression="ADD hits :one SET expires_at = :t",
        ExpressionAttributeValues={":one": {"N": "1"}, ":t": {"N": "1"}},
        ReturnValues="UPDATED_OLD",
    )
    client.get_item(TableName=TABLE, Key=scratch, ConsistentRead=True)
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "warm2"}, "sk": {"S": "#"}}}},
            {"Update": {"TableName": TABLE, "Key": scratch, "UpdateExpression": "REMOVE expires_at"}},
        ]
    )
    queue = sqs.create_queue(QueueName="webhooks")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="warm")
    os.environ["KINDLING_WEBHOOK_QUEUE_URL"] = queue


def child(variant: str) -> None:
    import importlib.util

    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        KINDLING_TABLE_NAME=TABLE,
        KINDLING_STAGE="test",
        KINDLING_TRACKING_SECRET=SECRET,
        POWERTOOLS_SERVICE_NAME="kindling-tracking",
    )
    import boto3
    from moto import mock_aws

    with mock_aws():
        # Seeding uses a session of its own: the default session's model cache stays cold for the handler, as
        # in a fresh Lambda process.
        seeding = boto3.session.Session(region_name="us-east-1")
        client = seeding.client("dynamodb")
        _seed(client, seeding.client("sqs"))
        event = _event(os.environ["BENCH_TOKEN"])
        if variant == "ours":
            sys.path[:0] = [str(REPO / "shared")]
            path = REPO / "functions" / "tracking" / "app.py"
        else:
            path = Path(os.environ["BENCH_BASELINE_DIR"]) / f"{variant}.py"
        started = time.perf_counter()
        spec = importlib.util.spec_from_file_location("handler_module", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        imported = time.perf_counter()
        response = module.handler(event, None)
        served = time.perf_counter()
        stored = client.get_item(TableName=TABLE, Key={"pk": {"S": f"{WORKSPACE}#SEND#{SEND_ID}"}, "sk": {"S": "#"}})
    print(
        json.dumps(
            {
                "import_s": imported - started,
                "first_request_s": served - imported,
                "total_s": served - started,
                "status": response["statusCode"],
                "recorded": "opened_at" in stored["Item"],
                "heavy_modules": sorted(m for m in HEAVY_MODULES if m in sys.modules),
            }
        )
    )


# --- the parent ------------------------------------------------------------------------------------------------


def cold_start(variant: str, env: dict[str, str]) -> dict[str, Any]:
    """One fresh process of `variant` serving the first open; its timings and what it loaded."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.tracking", variant],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["status"] != 200 or result["recorded"] != (variant != "stdlib"):
        raise RuntimeError(f"{variant} did not serve a recorded open: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    return result


def child_environment(baseline_dir: str) -> dict[str, str]:
    """The environment of a child (the baselines' sources are written to `baseline_dir`)."""
    if str(REPO / "shared") not in sys.path:
        sys.path[:0] = [str(REPO / "shared")]
    from kindling.sending.tokens import open_token

    for name, source in BASELINES.items():
        (Path(baseline_dir) / f"{name}.py").write_text(source)
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KINDLING_"))},
        "BENCH_TABLE_DEFINITION": json.dumps(_table_definition()),
        "BENCH_BASELINE_DIR": baseline_dir,
        "BENCH_TOKEN": open_token(WORKSPACE, SEND_ID, SECRET),
        "PYTHONDONTWRITEBYTECODE": "0",
    }


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = child_environment(tmp)
        for variant in VARIANTS:  # warm the OS file cache and bytecode caches, outside the measurement
            cold_start(variant, env)
        rows: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
        for _ in range(RUNS):
            for variant in VARIANTS:
                rows[variant].append(cold_start(variant, env))

    def median(variant: str, key: str) -> float:
        return round(float(statistics.median(row[key] for row in rows[variant])) * 1000, 2)

    figures: dict[str, float] = {"runs": float(RUNS)}
    for variant in VARIANTS:
        for key in ("total", "import", "first_request"):
            figures[f"{variant}_{key}_ms_median"] = median(variant, f"{key}_s")
    figures["ratio_ours_to_stdlib"] = round(figures["ours_total_ms_median"] / figures["stdlib_total_ms_median"], 1)
    figures["ratio_ours_to_boto3"] = round(figures["ours_total_ms_median"] / figures["boto3_total_ms_median"], 3)
    return figures


if __name__ == "__main__":
    child(sys.argv[1])
