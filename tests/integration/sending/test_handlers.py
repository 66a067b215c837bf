"""The scheduler and sender Lambda handlers with their sample events and real-shaped SQS traffic (moto): the tick
puts jobs on the send queue, the sender's batch reports unreadable records as item failures only."""

from __future__ import annotations

import email
import email.policy
import hashlib
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from kindling.platform.clock import ManualClock
from kindling.platform.settings import SettingsError, get_settings, reset_settings
from tests.integration.sending.conftest import SinkServer
from tests.integration.sending.world import World, new_workspace

REPO = Path(__file__).resolve().parents[3]
EVENTS = REPO / "events"


def load(function: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"kindling_{function}_app_it", REPO / "functions" / function / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    template = json.loads((EVENTS / "sender.json").read_text())["Records"][0]
    records = []
    for message in messages:
        body = message["Body"]
        records.append(
            {
                **template,
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": body,
                "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
            }
        )
    return {"Records": records}


def test_tick_queues_jobs_and_the_sender_batch_sends_them(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], [{"subject": "Hi", "body_html": "<p>Hi</p>"}], minutes_between_sends=0)
    world.enroll(campaign, world.prospects(["a@a.test", "b@b.test"]))
    scheduler = load("scheduler")
    report = scheduler.handler(json.loads((EVENTS / "scheduler.json").read_text()), None)
    assert report["claimed"] == 2 and report["enqueued"] == 2
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = get_settings().send_queue_url
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 2
    garbage = {**messages[0], "MessageId": "garbage-1", "Body": "{not a job"}
    sender = load("sender")
    response = sender.handler(sqs_event([*messages, garbage]), None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "garbage-1"}]}
    assert sorted(r for d in world.server.handler.delivered for r in d.rcpt_tos) == ["a@a.test", "b@b.test"]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any(m.get("EmailsSent") == [2.0] or m.get("EmailsSent") == 2.0 for m in emf), emf
    # The same messages again (a redelivery): acknowledged, nothing sent twice.
    assert sender.handler(sqs_event(messages), None) == {"batchItemFailures": []}
    assert len(world.server.handler.delivered) == 2


def test_the_sample_sender_event_is_a_readable_job(world: World) -> None:
    sender = load("sender")
    event = json.loads((EVENTS / "sender.json").read_text())
    # A job whose claim does not exist here: read, checked against the ledger, acknowledged without SMTP.
    assert sender.handler(event, None) == {"batchItemFailures": []}
    assert world.server.handler.delivered == []


def test_warmup_jobs_are_routed_apart_and_a_bad_one_fails_alone(world: World) -> None:
    """The send queue carries campaign and warmup jobs: the handler splits them; an unreadable warmup job is a
    partial failure that never holds the campaign jobs back."""
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], [{"subject": "Hi", "body_html": "<p>Hi</p>"}], minutes_between_sends=0)
    world.enroll(campaign, world.prospects(["c@c.test"]))
    assert load("scheduler").handler(json.loads((EVENTS / "scheduler.json").read_text()), None)["enqueued"] == 1
    sqs = boto3.client("sqs", region_name="us-east-1")
    (message,) = sqs.receive_message(QueueUrl=get_settings().send_queue_url, MaxNumberOfMessages=10)["Messages"]
    stale_warmup = {**message, "MessageId": "warmup-v0", "Body": json.dumps({"kind": "warmup", "v": 0})}
    response = load("sender").handler(sqs_event([message, stale_warmup]), None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "warmup-v0"}]}
    assert [r for d in world.server.handler.delivered for r in d.rcpt_tos] == ["c@c.test"]


def test_a_deployed_sender_without_a_public_base_url_refuses_and_sends_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14 item 1: links must never point at loopback in a deployed stage. A prod sender whose environment
    lacks KINDLING_PUBLIC_BASE_URL fails the whole batch before SMTP (the messages come back); once configured,
    the same message goes out with its links on the configured https base."""
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], [{"subject": "Hi", "body_html": "<p>Hi</p>"}], minutes_between_sends=0)
    world.enroll(campaign, world.prospects(["d@d.test"]))
    assert load("scheduler").handler(json.loads((EVENTS / "scheduler.json").read_text()), None)["enqueued"] == 1
    sqs = boto3.client("sqs", region_name="us-east-1")
    messages = sqs.receive_message(QueueUrl=get_settings().send_queue_url, MaxNumberOfMessages=10)["Messages"]
    sender = load("sender")

    monkeypatch.setenv("KINDLING_STAGE", "prod")
    monkeypatch.setenv("KINDLING_ALLOW_PRIVATE_TARGETS", "false")
    monkeypatch.setenv("KINDLING_PUBLIC_BASE_URL", "")
    reset_settings()
    with pytest.raises(SettingsError, match="KINDLING_PUBLIC_BASE_URL"):
        sender.handler(sqs_event(messages), None)
    assert world.server.handler.delivered == []

    monkeypatch.setenv("KINDLING_STAGE", "test")
    monkeypatch.setenv("KINDLING_ALLOW_PRIVATE_TARGETS", "true")  # the SMTP sink listens on loopback
    monkeypatch.setenv("KINDLING_PUBLIC_BASE_URL", "https://links.example.com")
    reset_settings()
    assert sender.handler(sqs_event(messages), None) == {"batchItemFailures": []}
    (delivered,) = world.server.handler.delivered
    message = email.message_from_bytes(delivered.content, policy=email.policy.default)
    unsubscribe = " ".join(str(message["List-Unsubscribe"]).split())
    assert unsubscribe.startswith("<mailto:") and ", <https://links.example.com/u/" in unsubscribe
    html = message.get_body(("html",))
    assert html is not None and "https://links.example.com/t/o/" in html.get_content()  # the open pixel
    assert "127.0.0.1" not in delivered.content.decode()


def test_a_message_that_cannot_be_built_fails_alone_and_other_workspaces_are_sent(
    world: World, clock: ManualClock, plain_server: SinkServer
) -> None:
    """Legacy data: a mailbox stored with a line break inside its address (before addresses were validated). Its
    message cannot be built; that send is given up (failed, never retried), and the batch's other sends, this
    workspace's and another's, go out."""
    legacy = world.mailbox("legacy\r\nBcc: victim@v.test")
    fine = world.mailbox("fine@lab.test")
    other = World(new_workspace(), clock, plain_server)
    neighbour = other.mailbox("neighbour@lab.test")
    steps = [{"subject": "Hi", "body_html": "<p>Hi</p>"}]
    legacy_campaign = world.campaign([legacy], steps, minutes_between_sends=0)
    [legacy_prospect] = world.prospects(["l@l.test"])
    world.enroll(legacy_campaign, [legacy_prospect])
    world.enroll(world.campaign([fine], steps, minutes_between_sends=0), world.prospects(["f@f.test"]))
    other.enroll(other.campaign([neighbour], steps, minutes_between_sends=0), other.prospects(["n@n.test"]))
    assert load("scheduler").handler(json.loads((EVENTS / "scheduler.json").read_text()), None)["enqueued"] == 3
    sqs = boto3.client("sqs", region_name="us-east-1")
    messages = sqs.receive_message(QueueUrl=get_settings().send_queue_url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 3

    response = load("sender").handler(sqs_event(messages), None)

    assert response == {"batchItemFailures": []}
    assert sorted(r for d in world.server.handler.delivered for r in d.rcpt_tos) == ["f@f.test", "n@n.test"]
    record = world.send_record(legacy_campaign, legacy_prospect, 0)
    assert (record.status, record.error_code) == ("failed", "rejected")
    # Delivered again (SQS at least once): nothing is retried or sent twice.
    assert load("sender").handler(sqs_event(messages), None) == {"batchItemFailures": []}
    assert len(world.server.handler.delivered) == 2
