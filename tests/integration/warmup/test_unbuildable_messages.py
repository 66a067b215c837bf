"""Warmup jobs whose stored mailbox data cannot go into a header, sent through the sender Lambda's handler: one
bad message is one failed exchange, never the SQS batch, and never another workspace's sends."""

from __future__ import annotations

import email
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from kindling.mailboxes.models import Mailbox
from kindling.sending import eligibility
from kindling.warmup.delivery import message_id_for
from kindling.warmup.engine import WarmupSendMessage
from tests.conftest import make_tenant
from tests.integration.warmup.support import insert_mailbox
from tests.integration.warmup.test_delivery_retries import NOON, World, env, world  # noqa: F401  (fixtures)

pytestmark = pytest.mark.mail

REPO = Path(__file__).resolve().parents[3]


def sender_function(world: World) -> ModuleType:  # noqa: F811
    """functions/sender/app.py, its warmup delivery wired to this world's queue and clock."""
    spec = importlib.util.spec_from_file_location("kindling_sender_app_unbuildable", REPO / "functions/sender/app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module._warmup = world.delivery
    return module


def sqs_event(jobs: list[WarmupSendMessage]) -> dict[str, Any]:
    template = json.loads((REPO / "events" / "sender.json").read_text())["Records"][0]
    return {
        "Records": [
            {**template, "body": job.to_body(), "messageId": f"msg-{n}", "receiptHandle": f"rh-{n}"}
            for n, job in enumerate(jobs)
        ]
    }


def other_workspace_sender(world: World) -> Mailbox:  # noqa: F811
    account = world.account("neighbour")
    workspace = make_tenant(name="Neighbour").workspace_id
    return insert_mailbox(workspace, account.email, account.password, account, at=NOON)


def test_a_display_name_stored_with_cr_lf_is_folded_and_the_batch_is_sent(world: World) -> None:  # noqa: F811
    poisoned = world.sender(display_name="Sam\r\nBcc: victim@lab-mail.test")
    neighbour = other_workspace_sender(world)
    recipient = world.account("rcpt")
    jobs = world.enqueue(poisoned, [recipient.email]) + world.enqueue(neighbour, [recipient.email])

    response = sender_function(world).handler(sqs_event(jobs), None)

    assert response == {"batchItemFailures": []}
    assert [world.status(j) for j in jobs] == ["sent", "sent"]
    message_id = message_id_for(jobs[0].exchange_id, poisoned.email_address)
    folder = world.lab.expected_folder(recipient.email, message_id)
    [raw] = [m for m in world.lab.fetch_messages(recipient.email, folder) if m["Message-ID"] == message_id]
    parsed = email.message_from_bytes(raw.as_bytes())
    assert parsed["Bcc"] is None
    assert parsed["From"] == f'"Sam Bcc: victim@lab-mail.test" <{poisoned.email_address}>'


def test_an_unbuildable_message_fails_alone_without_retries_and_the_neighbours_are_sent(
    world: World,  # noqa: F811
) -> None:
    account = world.account("legacy")
    # Legacy data written before addresses were validated: a line break inside the stored address.
    broken = insert_mailbox(
        world.workspace_id, "legacy\r\nBcc: victim@lab-mail.test", account.password, account, at=NOON
    )
    same_workspace = world.sender()
    neighbour = other_workspace_sender(world)
    recipient = world.account("rcpt")
    day = eligibility.day_key(NOON, "UTC")
    jobs = (
        world.enqueue(broken, [recipient.email])
        + world.enqueue(same_workspace, [recipient.email])
        + world.enqueue(neighbour, [recipient.email])
    )

    response = sender_function(world).handler(sqs_event(jobs), None)

    # The record is answered (not a batch item failure): SQS redelivering it could never build it.
    assert response == {"batchItemFailures": []}
    assert [world.status(j) for j in jobs] == ["failed", "sent", "sent"]
    assert world.queue.jobs == []  # no retry queued
    assert world.reserved(broken, day) == 0  # its reservation went back
    assert world.sending.releases == [(broken.id, day, 1)]
    assert world.delivered(jobs[1]) == 1 and world.delivered(jobs[2]) == 1
