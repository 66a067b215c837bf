"""In-process API over moto, with the webhook queue and a job state machine that tests drive by hand.

The state machine exists (so JobService can start executions), but moto does not run it; `run_jobs()` plays
its part: prepare -> process each batch -> complete, through the same JobService the Lambda task calls.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient

from kindling.api.app import create_app
from kindling.jobs.service import JobService
from kindling.platform import aws as aws_clients
from kindling.platform.clock import ManualClock
from kindling.platform.settings import reset_settings
from tests.conftest import Tenant, make_tenant


@dataclass
class Api:
    client: TestClient
    tenant: Tenant
    queue_url: str

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.tenant.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def events(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs", region_name="us-east-1")
        messages: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return messages
            messages += [json.loads(m["Body"]) for m in got]


def run_jobs(workspace_id: str, job_id: str) -> None:
    service = JobService()
    for batch in service.prepare(workspace_id, job_id):
        service.process_batch(workspace_id, job_id, batch.batch_index)
    service.complete(workspace_id, job_id)


@pytest.fixture
def api(aws: None, clock: ManualClock) -> Iterator[Api]:
    queue_url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="webhooks")["QueueUrl"]
    machine = boto3.client("stepfunctions", region_name="us-east-1").create_state_machine(
        name="jobs",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/jobs",
    )["stateMachineArn"]
    os.environ["KINDLING_WEBHOOK_QUEUE_URL"] = queue_url
    os.environ["KINDLING_JOB_STATE_MACHINE_ARN"] = machine
    reset_settings()
    aws_clients.reset_clients()
    try:
        with TestClient(create_app()) as client:
            yield Api(client=client, tenant=make_tenant(), queue_url=queue_url)
    finally:
        os.environ.pop("KINDLING_WEBHOOK_QUEUE_URL", None)
        os.environ.pop("KINDLING_JOB_STATE_MACHINE_ARN", None)
        reset_settings()
