"""statemachines/job.asl.json run by moto's Step Functions interpreter (the one the local stack uses).

The Lambda tasks hit moto's Docker-less Lambda backend, which answers with queued results and otherwise
echoes the request payload; that is enough to check the data flow between states: Prepare's output,
the Map over batches, Complete, and the Catch path into MarkFailed.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.moto_api._internal.models import moto_api_backend
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = ROOT / "statemachines" / "job.asl.json"
REGION = "us-east-1"
ACCOUNT = "123456789012"
WORKSPACE = "ws_abc123"
JOB = "job_0001"


def definition_for(function_arn: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DEFINITION.read_text().replace("${JobsFunctionArn}", function_arn))
    return loaded


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    config: Any = {"lambda": {"use_docker": False}, "stepfunctions": {"execute_state_machine": True}}
    with mock_aws(config=config):
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="jobs", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("app.py", "def handler(event, context):\n    return event\n")
        function = boto3.client("lambda", region_name=REGION).create_function(
            FunctionName="jobs",
            Runtime="python3.11",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": archive.getvalue()},
        )
        yield {"function_arn": function["FunctionArn"], "role_arn": role}


def run(aws: dict[str, Any], definition: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(
        name=f"jobs-{time.monotonic_ns()}", definition=json.dumps(definition), roleArn=aws["role_arn"]
    )["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=machine, input=json.dumps({"workspace_id": WORKSPACE, "job_id": JOB})
    )["executionArn"]
    deadline = time.monotonic() + 30
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not finish"
        time.sleep(0.05)
    history = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    return described, history


def payloads(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Lambda payloads in the order the tasks were scheduled."""
    sent = []
    for event in history:
        details = event.get("taskScheduledEventDetails")
        if details and details["resourceType"] == "lambda":
            sent.append(json.loads(details["parameters"])["Payload"])
    return sent


def test_definition_parses_in_moto() -> None:
    AmazonStateLanguageParser.parse(json.dumps(definition_for("arn:aws:lambda:us-east-1:1:function:x")))


def test_prepare_map_complete(aws: dict[str, Any]) -> None:
    batches = [{"workspace_id": WORKSPACE, "job_id": JOB, "batch_index": i} for i in range(3)]
    prepared = {"workspace_id": WORKSPACE, "job_id": JOB, "batches": batches, "extra": "dropped"}
    moto_api_backend.set_lambda_simple_result(json.dumps(prepared), ACCOUNT, REGION)

    described, history = run(aws, definition_for(aws["function_arn"]))

    assert described["status"] == "SUCCEEDED"
    sent = payloads(history)
    assert sent[0] == {"action": "prepare", "workspace_id": WORKSPACE, "job_id": JOB}
    assert sorted(sent[1:4], key=lambda p: p["batch_index"]) == [
        {"action": "process_batch", **batch} for batch in batches
    ]
    assert sent[4:] == [{"action": "complete", "workspace_id": WORKSPACE, "job_id": JOB}]
    # The Map's ResultPath null keeps Prepare's trimmed output (ResultSelector) as the execution output.
    assert json.loads(described["output"]) == {"workspace_id": WORKSPACE, "job_id": JOB, "batches": batches}


def test_no_batches_still_completes(aws: dict[str, Any]) -> None:
    prepared = {"workspace_id": WORKSPACE, "job_id": JOB, "batches": []}
    moto_api_backend.set_lambda_simple_result(json.dumps(prepared), ACCOUNT, REGION)

    described, history = run(aws, definition_for(aws["function_arn"]))

    assert described["status"] == "SUCCEEDED"
    assert [p["action"] for p in payloads(history)] == ["prepare", "complete"]


def test_failed_step_marks_the_job_failed(aws: dict[str, Any]) -> None:
    definition = definition_for(aws["function_arn"])
    # moto's Docker-less Lambda cannot raise, so Prepare is swapped for a task that fails with a catchable
    # service error (a missing queue); Catch, MarkFailed and Failed are the real definition's.
    # (A malformed Prepare result would be States.Runtime, which AWS never lets a Catch handle.)
    prepare = definition["States"]["Prepare"]
    prepare["Resource"] = "arn:aws:states:::sqs:sendMessage"
    prepare["Parameters"] = {"QueueUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/missing", "MessageBody": "x"}
    del prepare["ResultSelector"]

    described, history = run(aws, definition)

    assert described["status"] == "FAILED"
    assert described.get("error") == "JobFailed"
    sent = payloads(history)
    assert [p["action"] for p in sent] == ["fail"]
    failed = sent[0]
    assert (failed["workspace_id"], failed["job_id"]) == (WORKSPACE, JOB)
    assert failed["error"]["Error"].startswith("SQS.")
    assert "Cause" in failed["error"]


def test_a_failure_to_mark_the_job_failed_still_fails_the_execution(aws: dict[str, Any]) -> None:
    """MarkFailed retries any error three times (1 s, 2 s, 4 s apart), then its Catch ends the execution FAILED
    (what the ExecutionsFailed alarm watches) instead of leaving it to an uncaught error."""
    definition = definition_for(aws["function_arn"])
    missing = {"QueueUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/missing", "MessageBody": "x"}
    prepare = definition["States"]["Prepare"]
    prepare["Resource"] = "arn:aws:states:::sqs:sendMessage"
    prepare["Parameters"] = missing
    del prepare["ResultSelector"]
    mark_failed = definition["States"]["MarkFailed"]
    mark_failed["Resource"] = "arn:aws:states:::sqs:sendMessage"
    mark_failed["Parameters"] = missing

    described, history = run(aws, definition)

    assert described["status"] == "FAILED"
    assert described.get("error") == "JobFailed"
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if e["type"] == "TaskStateEntered"]
    assert entered == ["Prepare", "MarkFailed"]
    failed_attempts = [e for e in history if e["type"] == "TaskFailed"]
    assert len(failed_attempts) == 1 + 4  # Prepare once (not retried: not a Lambda error), MarkFailed 1 + 3 retries
