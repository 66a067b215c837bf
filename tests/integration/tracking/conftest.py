"""The tracking handler over moto: the real table and webhook queue, a workspace with a delivered send, and
helpers to call the handler with API Gateway v2 events and read back what it wrote and published."""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from kindling.events.models import DomainEvent
from kindling.events.repository import EventRepository
from kindling.platform import aws as aws_clients
from kindling.platform.clock import ManualClock
from kindling.platform.settings import reset_settings
from kindling.sending.tokens import click_token, open_token, unsubscribe_token
from tests.conftest import Tenant
from tests.integration.sending.conftest import plain_server, world  # noqa: F401  (the sending tests' fixtures)
from tests.integration.tracking.builders import Scenario, scenario
from tests.support.aws import TEST_TABLE

REPO = Path(__file__).resolve().parents[3]
SECRET = "integration-tracking-secret"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
HOME_IP = "203.0.113.7"


def load_handler() -> ModuleType:
    """A fresh copy of functions/tracking/app.py: its cached service must not outlive the test's moto."""
    spec = importlib.util.spec_from_file_location("tracking_app_it", REPO / "functions" / "tracking" / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Tracking:
    world: Scenario
    queue_url: str
    clock: ManualClock
    app: ModuleType

    @property
    def workspace_id(self) -> str:
        return self.world.workspace_id

    def request(
        self,
        method: str,
        path: str,
        *,
        agent: str | None = CHROME,
        ip: str = HOME_IP,
        body: bytes | None = None,
        query: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        event: dict[str, Any] = copy.deepcopy(json.loads((REPO / "events" / "tracking.json").read_text()))
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        if query:
            event["rawQueryString"] = urlencode(query)
            event["queryStringParameters"] = dict(query)
        event["requestContext"]["http"].update(method=method, sourceIp=ip, userAgent=agent or "")
        event.pop("pathParameters")
        if agent is None:
            event["headers"].pop("user-agent")
        else:
            event["headers"]["user-agent"] = agent
        if body is not None:
            event["headers"]["content-type"] = "application/x-www-form-urlencoded"
            event.update(body=base64.b64encode(body).decode(), isBase64Encoded=True)
        response: dict[str, Any] = self.app.handler(event, None)
        return response

    def open(self, send_id: str | None = None, *, agent: str | None = CHROME, ip: str = HOME_IP) -> dict[str, Any]:
        token = open_token(self.workspace_id, send_id or self.world.send.send_id, SECRET)
        return self.request("GET", f"/t/o/{token}", agent=agent, ip=ip)

    def click(self, url: str, *, agent: str | None = CHROME, ip: str = HOME_IP) -> dict[str, Any]:
        token = click_token(self.workspace_id, self.world.send.send_id, url, SECRET, url_index=0)
        return self.request("GET", f"/t/c/{token}", agent=agent, ip=ip)

    def unsubscribe_path(self, send_id: str | None = None) -> str:
        return f"/u/{unsubscribe_token(self.workspace_id, send_id or self.world.send.send_id, SECRET)}"

    def events(self) -> list[DomainEvent]:
        """Every event published to the webhook queue so far (the queue is drained by this call)."""
        sqs = boto3.client("sqs", region_name="us-east-1")
        found: list[DomainEvent] = []
        while True:
            got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return sorted(found, key=lambda e: e.occurred_at)
            for message in got:
                body = json.loads(message["Body"])
                found.append(EventRepository().get(body["workspace_id"], body["event_id"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


def table_snapshot() -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=TEST_TABLE, ConsistentRead=True):
        items.extend(page["Items"])
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


@pytest.fixture
def tracking(tenant: Tenant, clock: ManualClock) -> Iterator[Tracking]:
    queue_url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="webhooks")["QueueUrl"]
    env = {"KINDLING_WEBHOOK_QUEUE_URL": queue_url, "KINDLING_TRACKING_SECRET": SECRET}
    os.environ.update(env)
    reset_settings()
    aws_clients.reset_clients()
    try:
        rig = Tracking(scenario(tenant.workspace_id), queue_url, clock, load_handler())
        assert rig.events() == []  # setting the scene publishes nothing
        yield rig
    finally:
        for name in env:
            os.environ.pop(name, None)
        reset_settings()
