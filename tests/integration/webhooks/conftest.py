"""Webhook fixtures: moto KMS + webhook queue, the API in-process, a real receiver on 127.0.0.1, and the
deliverer / sweep handlers fed from the queue as Lambda would."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient

from kindling.api.app import create_app
from kindling.platform import aws as platform_aws
from kindling.platform.clock import ManualClock
from kindling.platform.settings import reset_settings
from kindling.webhooks import secrets as webhook_secrets
from tests.conftest import Tenant
from tests.integration.webhooks.receiver import Receiver, running_receiver

REPO = Path(__file__).resolve().parents[3]


def load_function(folder: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"kindling_{folder}_app", REPO / "functions" / folder / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """An SQS event built from events/webhook_deliverer.json, one record per received message."""
    template = json.loads((REPO / "events" / "webhook_deliverer.json").read_text())["Records"][0]
    records = []
    for message in messages:
        record = copy.deepcopy(template)
        record["body"] = message["Body"]
        record["messageId"] = message["MessageId"]
        record["receiptHandle"] = message["ReceiptHandle"]
        records.append(record)
    return {"Records": records}


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@dataclass
class Pipeline:
    client: TestClient
    queue_url: str
    tenant: Tenant
    clock: ManualClock
    receiver: Receiver
    deliverer: ModuleType
    sweeper: ModuleType

    def pump(self, max_rounds: int = 50) -> list[str]:
        """Feed the webhook queue to the deliverer until it is empty; returns the bodies it handled."""
        sqs = boto3.client("sqs", region_name="us-east-1")
        outcomes: list[str] = []
        for _ in range(max_rounds):
            got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60)
            messages = got.get("Messages", [])
            if not messages:
                return outcomes
            response = self.deliverer.handler(sqs_event(messages), None)
            failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
            assert not failed, f"deliverer failed records: {failed}"
            for message in messages:
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            outcomes.extend(m["Body"] for m in messages)
        raise AssertionError("the webhook queue did not drain")

    def sweep(self) -> int:
        result = self.sweeper.handler(json.loads((REPO / "events" / "webhook_sweep.json").read_text()), None)
        return int(result["queued"])

    def queued(self) -> int:
        sqs = boto3.client("sqs", region_name="us-east-1")
        attrs = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

    def create(self, url: str | None = None, **body: Any) -> dict[str, Any]:
        payload = {"url": url or self.receiver.url(), "events": ["*"], **body}
        response = self.client.post("/api/v1/webhooks", json=payload, headers=self.tenant.headers)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()["data"]
        return created

    def deliveries(self, webhook_id: str, **params: Any) -> list[dict[str, Any]]:
        response = self.client.get(
            f"/api/v1/webhooks/{webhook_id}/deliveries", params=params, headers=self.tenant.headers
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["data"]
        return items


@pytest.fixture
def pipeline(tenant: Tenant, clock: ManualClock, receiver: Receiver) -> Iterator[Pipeline]:
    key_id = boto3.client("kms", region_name="us-east-1").create_key(Description="secrets")["KeyMetadata"]["KeyId"]
    queue_url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="webhook")["QueueUrl"]
    env = {"KINDLING_KMS_KEY_ID": key_id, "KINDLING_WEBHOOK_QUEUE_URL": queue_url}
    os.environ.update(env)
    reset_settings()
    platform_aws.reset_clients()
    webhook_secrets.clear_cache()
    receiver.reset()
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield Pipeline(
            client,
            queue_url,
            tenant,
            clock,
            receiver,
            load_function("webhook_deliverer"),
            load_function("webhook_sweep"),
        )
    for name in env:
        os.environ.pop(name, None)
    reset_settings()


@pytest.fixture
def strict_targets(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """allow_private_targets off, as in a deployed stage (the scheme rule stays the test stage's)."""
    monkeypatch.setenv("KINDLING_ALLOW_PRIVATE_TARGETS", "false")
    reset_settings()
    yield
    monkeypatch.setenv("KINDLING_ALLOW_PRIVATE_TARGETS", "true")
    reset_settings()
