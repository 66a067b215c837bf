"""Mailbox fixtures: real mail servers on 127.0.0.1, moto KMS + check queue, the API, the checker handler."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient

from devstack.maillab.certs import CertPaths, generate_certs
from devstack.maillab.dovecot import DovecotServer
from kindling.api.app import create_app
from kindling.mail.connection import ConnectionTester, TlsPolicy
from kindling.platform import aws as platform_aws
from kindling.platform.settings import reset_settings
from tests.integration.mailboxes.servers import Accounts, CertFactory, Pem, smtp_server

REPO = Path(__file__).resolve().parents[3]
PASSWORD = "Sup3r-Secret-Pa55word!"
USER = "jordan@lab.test"


@dataclass(frozen=True)
class MailServers:
    """One account (`USER`/`PASSWORD`) on SMTP 587-style (STARTTLS), 465-style (implicit TLS) and Dovecot."""

    accounts: Accounts
    starttls_port: int
    ssl_port: int
    plain_port: int
    dovecot: DovecotServer
    ca_bundle: Path
    certs: CertFactory

    @property
    def imaps_port(self) -> int:
        return self.dovecot.imaps_port

    @property
    def imap_port(self) -> int:
        return self.dovecot.imap_port

    def tester(self, step_timeout: float = 5.0) -> ConnectionTester:
        return ConnectionTester(
            step_timeout=step_timeout, tls=TlsPolicy(str(self.ca_bundle), allow_private_addresses=True)
        )

    def body(self, email: str = USER, password: str = PASSWORD, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "email_address": email,
            "smtp_host": "127.0.0.1",
            "smtp_port": self.starttls_port,
            "smtp_security": "starttls",
            "smtp_username": email,
            "smtp_password": password,
            "imap_host": "127.0.0.1",
            "imap_port": self.imaps_port,
            "imap_security": "ssl",
            "imap_username": email,
            "imap_password": password,
        }
        body.update(extra)
        return body


@pytest.fixture(scope="session")
def cert_factory(tmp_path_factory: pytest.TempPathFactory) -> CertFactory:
    return CertFactory(tmp_path_factory.mktemp("mailbox-certs"))


@pytest.fixture(scope="session")
def lab_certs(tmp_path_factory: pytest.TempPathFactory) -> CertPaths:
    return generate_certs(tmp_path_factory.mktemp("dovecot-certs"))


@pytest.fixture(scope="session")
def good_pem(cert_factory: CertFactory) -> Pem:
    return cert_factory.leaf("good")


@pytest.fixture(scope="session")
def mail_servers(
    tmp_path_factory: pytest.TempPathFactory, cert_factory: CertFactory, lab_certs: CertPaths, good_pem: Pem
) -> Iterator[MailServers]:
    accounts = Accounts(
        passwords={USER: PASSWORD, "other@lab.test": PASSWORD, "second@lab.test": PASSWORD},
        app_password_required={"gmail-style@lab.test"},
        auth_disabled={"m365@lab.test"},
        disabled_accounts={"disabled@lab.test"},
    )
    base = tmp_path_factory.mktemp("dovecot")
    dovecot = DovecotServer(base, lab_certs)
    for email in accounts.passwords:
        dovecot.add_user(email, PASSWORD)
    bundle = base / "ca-bundle.pem"
    bundle.write_bytes(cert_factory.ca_file.read_bytes() + lab_certs.ca_path.read_bytes())
    dovecot.start()
    try:
        with (
            smtp_server("starttls", accounts, good_pem) as starttls_port,
            smtp_server("ssl", accounts, good_pem) as ssl_port,
            smtp_server("plain", accounts) as plain_port,
        ):
            yield MailServers(accounts, starttls_port, ssl_port, plain_port, dovecot, bundle, cert_factory)
    finally:
        dovecot.stop()


@dataclass
class Stack:
    client: TestClient
    queue_url: str
    key_id: str
    checker: ModuleType

    def drain(self) -> int:
        """Feed the check queue to the checker handler in SQS-shaped batches, as Lambda would."""
        sqs = boto3.client("sqs", region_name="us-east-1")
        handled = 0
        while True:
            got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60)
            messages = got.get("Messages", [])
            if not messages:
                return handled
            event = checker_event(*(m["Body"] for m in messages), message_ids=[m["MessageId"] for m in messages])
            response = self.checker.handler(event, None)
            failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
            assert not failed, f"checker failed records: {failed}"
            for message in messages:
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            handled += len(messages)

    def pending(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs", region_name="us-east-1")
        got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kindling_checker_app", REPO / "functions" / "checker" / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def checker_event(*bodies: str, message_ids: list[str] | None = None) -> dict[str, Any]:
    """SQS events built from events/checker.json, one record per body."""
    sample = json.loads((REPO / "events" / "checker.json").read_text())
    template = sample["Records"][0]
    records = []
    for n, body in enumerate(bodies):
        record = copy.deepcopy(template)
        record["body"] = body
        record["messageId"] = message_ids[n] if message_ids else f"msg-{n}"
        records.append(record)
    return {"Records": records}


@pytest.fixture
def kms_queue(aws: None, mail_servers: MailServers) -> Iterator[tuple[str, str]]:
    """A moto KMS key and check queue, wired through the settings the code reads."""
    key_id = boto3.client("kms", region_name="us-east-1").create_key(Description="mailbox secrets")["KeyMetadata"][
        "KeyId"
    ]
    queue_url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="check")["QueueUrl"]
    # Outages are announced as webhook events (mailbox.disconnected / mailbox.reconnected).
    webhook_queue = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="webhooks")["QueueUrl"]
    env = {
        "KINDLING_KMS_KEY_ID": key_id,
        "KINDLING_CHECK_QUEUE_URL": queue_url,
        "KINDLING_WEBHOOK_QUEUE_URL": webhook_queue,
        "KINDLING_MAIL_CA_FILE": str(mail_servers.ca_bundle),
    }
    os.environ.update(env)
    reset_settings()
    platform_aws.reset_clients()
    yield key_id, queue_url
    for name in env:
        os.environ.pop(name, None)
    reset_settings()


@pytest.fixture
def stack(kms_queue: tuple[str, str], clock: object) -> Iterator[Stack]:
    key_id, queue_url = kms_queue
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield Stack(client, queue_url, key_id, load_checker())


@pytest.fixture
def api(stack: Stack) -> TestClient:
    return stack.client


Poll = Callable[[str], dict[str, Any]]
