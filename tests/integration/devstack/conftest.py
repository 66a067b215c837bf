"""A local stack on the fixture template (moto server on 127.0.0.1, no API, no mail lab)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devstack.runtime import LocalStack
from kindling.platform.clock import ManualClock
from tests.fixtures.devstack import recorder

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "devstack"
FIXTURE_TEMPLATE = FIXTURES / "template.yaml"
START = datetime(2026, 6, 10, 9, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def fixture_stack() -> Iterator[LocalStack]:
    stack = LocalStack(
        template_path=FIXTURE_TEMPLATE,
        stack_name="devstack-fixture",
        api=False,
        mail_lab=False,
        seed=False,
        clock=ManualClock(START),
    )
    with stack:
        yield stack
    recorder.clear()


@pytest.fixture
def calls() -> Iterator[None]:
    recorder.clear()
    yield
    recorder.clear()


def send(stack: LocalStack, queue_logical_id: str, bodies: list[dict[str, Any]]) -> list[str]:
    """Send JSON bodies in batches of 10; returns the message ids in order."""
    sqs = stack.client("sqs")
    url = stack.stack.ref(queue_logical_id) if stack.stack else ""
    ids: list[str] = []
    for start in range(0, len(bodies), 10):
        chunk = bodies[start : start + 10]
        response = sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": json.dumps(b)} for i, b in enumerate(chunk)],
        )
        assert not response.get("Failed")
        by_entry = {int(r["Id"]): r["MessageId"] for r in response["Successful"]}
        ids.extend(by_entry[i] for i in range(len(chunk)))
    return ids
