"""Inside Lambda, a handler wrapped by `traced` reports to the X-Ray daemon: a real UDP listener on 127.0.0.1 stands
in for the daemon, and the handler runs in a child process with the environment Lambda gives an actively traced
function (LAMBDA_TASK_ROOT, _X_AMZN_TRACE_ID, AWS_XRAY_DAEMON_ADDRESS), so the X-Ray SDK's global state and its
botocore patch stay out of the test process."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"

CHILD = """
import json
from kindling.platform.observability import traced

class Context:
    function_name = "kindling-jobs"
    aws_request_id = "req-1"

@traced
def handler(event, context):
    return {"doubled": event["n"] * 2}

print(json.dumps(handler({"n": 21}, Context())))
"""


def test_a_traced_handler_reports_its_subsegment_to_the_daemon() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        daemon.settimeout(20)
        port = daemon.getsockname()[1]
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": f"{REPO}/shared",
            "LAMBDA_TASK_ROOT": str(REPO),
            "_X_AMZN_TRACE_ID": f"Root={TRACE_ID};Parent=53995c3f42cd8ad8;Sampled=1",
            "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{port}",
            "POWERTOOLS_SERVICE_NAME": "kindling-jobs",
            "AWS_REGION": "us-east-1",
        }
        done = subprocess.run(
            [sys.executable, "-c", CHILD], cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=True
        )
        assert json.loads(done.stdout.strip().splitlines()[-1]) == {"doubled": 42}  # the handler's own result
        header, _, body = daemon.recv(65535).decode().partition("\n")

    assert json.loads(header) == {"format": "json", "version": 1}
    subsegment = json.loads(body)
    assert subsegment["name"] == "## handler"
    assert subsegment["trace_id"] == TRACE_ID
    assert subsegment["annotations"] == {"ColdStart": True, "Service": "kindling-jobs"}
    # capture_response=False: the handler's result (customer data in real handlers) is not in the trace.
    assert "handler response" not in json.dumps(subsegment.get("metadata", {}))
