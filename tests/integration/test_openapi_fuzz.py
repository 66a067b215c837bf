"""Schemathesis against our own OpenAPI document: no generated request may cause a 5xx or a response that
violates the published schema (status codes, content types, bodies, headers).

Runs in-process (ASGI) on moto with every resource the API writes to. Excluded: the two synchronous
mailbox test endpoints, because they open SMTP/IMAP connections to whatever host the request names —
they are covered by real servers in tests/integration/mailboxes. MX lookups are off, so no DNS is queried.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import boto3
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devstack.linkedin_provider import LOCAL_API_KEY, LinkedInProviderEmulator
from kindling.api.app import create_app
from kindling.platform import aws
from kindling.platform.settings import reset_settings
from tests.conftest import Tenant, make_tenant
from tests.support.aws import moto_table

# The bar: no server error and no response outside the published schema. Schemathesis' "positive data
# acceptance" check is left out on purpose: opaque cursors and rules the schema cannot express (a mailbox email
# already in use, an unknown id) rightly answer 400/404/409 to schema-valid input.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_asgi("/openapi.json", create_app())

FUZZ_ENV = {
    # Fuzzing sends far more than 60 requests a minute; the limit itself is tested elsewhere.
    "KINDLING_RATE_LIMIT_PER_MINUTE": "1000000",
    "KINDLING_MAILBOX_TEST_RATE_LIMIT_PER_MINUTE": "1000000",
    "KINDLING_MX_LOOKUPS": "false",
}


@pytest.fixture
def fuzz_tenant() -> Iterator[Tenant]:
    os.environ.update(FUZZ_ENV)
    with moto_table():
        sqs = boto3.client("sqs", region_name="us-east-1")
        for name, var in (
            ("check", "KINDLING_CHECK_QUEUE_URL"),
            ("send", "KINDLING_SEND_QUEUE_URL"),
            ("sync", "KINDLING_SYNC_QUEUE_URL"),
            ("webhook", "KINDLING_WEBHOOK_QUEUE_URL"),
        ):
            os.environ[var] = sqs.create_queue(QueueName=name)["QueueUrl"]
        os.environ["KINDLING_KMS_KEY_ID"] = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"][
            "KeyId"
        ]
        # Routes that launch a job (warmup bulk update, CSV import) need a state machine to start.
        os.environ["KINDLING_JOB_STATE_MACHINE_ARN"] = boto3.client(
            "stepfunctions", region_name="us-east-1"
        ).create_state_machine(
            name="jobs",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn="arn:aws:iam::123456789012:role/jobs",
        )["stateMachineArn"]
        # The LinkedIn routes call the provider: its emulator on 127.0.0.1 (devstack/linkedin_provider).
        with LinkedInProviderEmulator() as emulator:
            os.environ["KINDLING_LINKEDIN_PROVIDER_URL"] = emulator.api_url
            os.environ["KINDLING_LINKEDIN_PROVIDER_API_KEY"] = LOCAL_API_KEY
            reset_settings()
            aws.reset_clients()
            yield make_tenant()
        os.environ.pop("KINDLING_LINKEDIN_PROVIDER_URL", None)
        os.environ.pop("KINDLING_LINKEDIN_PROVIDER_API_KEY", None)
    for var in (*FUZZ_ENV, "KINDLING_CHECK_QUEUE_URL", "KINDLING_SEND_QUEUE_URL", "KINDLING_SYNC_QUEUE_URL"):
        os.environ.pop(var, None)
    for var in ("KINDLING_WEBHOOK_QUEUE_URL", "KINDLING_KMS_KEY_ID", "KINDLING_JOB_STATE_MACHINE_ARN"):
        os.environ.pop(var, None)
    reset_settings()


@schema.exclude(path_regex=r"/mailboxes(/\{[^}]+\})?/test$").parametrize()
@settings(
    max_examples=30,
    derandomize=True,  # the same cases every run: CI stays deterministic
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, fuzz_tenant: Tenant) -> None:
    case.call_and_validate(headers=fuzz_tenant.headers, checks=CHECKS)
