"""LinkedIn fixtures: moto (table, KMS, webhook queue), the API served by uvicorn on 127.0.0.1 (the provider's
emulator calls it back over real HTTP), the provider emulator (devstack/linkedin_provider) on 127.0.0.1, a real
webhook receiver, and the webhook deliverer fed from the queue as Lambda would."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
import uvicorn

from devstack.linkedin_provider import LOCAL_API_KEY, LinkedInProviderEmulator
from kindling.api.app import create_app
from kindling.linkedin.provider import forget_provider_secret
from kindling.linkedin.provider_events import SECRET_HEADER
from kindling.platform import aws as platform_aws
from kindling.platform.clock import ManualClock
from kindling.platform.settings import reset_settings
from kindling.webhooks import secrets as webhook_secrets
from tests.conftest import Tenant
from tests.integration.webhooks.conftest import load_function, sqs_event
from tests.integration.webhooks.receiver import Receiver, running_receiver

WEBHOOK_SECRET = "linkedin-webhook-secret-for-tests"


@dataclass
class LinkedInWorld:
    api: httpx.Client
    base_url: str
    tenant: Tenant
    clock: ManualClock
    emulator: LinkedInProviderEmulator
    receiver: Receiver
    queue_url: str
    deliverer: ModuleType

    def call(self, method: str, path: str, *, tenant: Tenant | None = None, **kwargs: Any) -> httpx.Response:
        headers = {**(tenant or self.tenant).headers, **kwargs.pop("headers", {})}
        return self.api.request(method, path, headers=headers, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()["data"]

    def connect(self, *, name: str = "Jordan Lee", account_type: str = "premium") -> dict[str, Any]:
        """Connect an account through hosted auth: the connect call, the user on the hosted page (the emulator
        calls the notify URL back over HTTP), the account read back."""
        started = self.ok("POST", "/api/v1/linkedin/accounts/connect", 201)
        token = urlsplit(started["url"]).path.rsplit("/", 1)[-1]
        self.emulator.complete_hosted_link(token, account_name=name, account_type=account_type)
        account: dict[str, Any] = self.ok("GET", f"/api/v1/linkedin/accounts/{started['account']['id']}")
        return account

    def provider_calls(self, method: str, fragment: str) -> int:
        return sum(1 for m, p in self.emulator.requests if m == method and fragment in p)

    def pump_webhooks(self) -> None:
        sqs = boto3.client("sqs", region_name="us-east-1")
        for _ in range(20):
            got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60)
            messages = got.get("Messages", [])
            if not messages:
                return
            result = self.deliverer.handler(sqs_event(messages), None)
            assert result["batchItemFailures"] == []
            for message in messages:
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        raise AssertionError("the webhook queue did not drain")

    def advance(self, seconds: float) -> None:
        self.clock.advance(timedelta(seconds=seconds))


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, int]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="linkedin-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API did not start")
        time.sleep(0.02)
    port = int(server.servers[0].sockets[0].getsockname()[1])
    return server, thread, port


@pytest.fixture
def li(tenant: Tenant, clock: ManualClock) -> Iterator[LinkedInWorld]:
    key_id = boto3.client("kms", region_name="us-east-1").create_key(Description="secrets")["KeyMetadata"]["KeyId"]
    queue_url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="webhook")["QueueUrl"]
    server, thread, port = _serve(create_app())
    base_url = f"http://127.0.0.1:{port}"
    with LinkedInProviderEmulator(clock=clock) as emulator, running_receiver() as receiver:
        env = {
            "KINDLING_KMS_KEY_ID": key_id,
            "KINDLING_WEBHOOK_QUEUE_URL": queue_url,
            "KINDLING_PUBLIC_BASE_URL": base_url,
            "KINDLING_LINKEDIN_PROVIDER_URL": emulator.api_url,
            "KINDLING_LINKEDIN_PROVIDER_API_KEY": LOCAL_API_KEY,
            "KINDLING_LINKEDIN_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
        os.environ.update(env)
        reset_settings()
        platform_aws.reset_clients()
        webhook_secrets.clear_cache()
        forget_provider_secret()
        emulator.register_webhook(
            source="account_status",
            request_url=f"{base_url}/linkedin/provider/webhook",
            headers={SECRET_HEADER: WEBHOOK_SECRET},
        )
        try:
            with httpx.Client(base_url=base_url, timeout=30, trust_env=False) as api:
                yield LinkedInWorld(
                    api, base_url, tenant, clock, emulator, receiver, queue_url, load_function("webhook_deliverer")
                )
        finally:
            server.should_exit = True
            thread.join(10)
            for name in env:
                os.environ.pop(name, None)
            reset_settings()
