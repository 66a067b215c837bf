"""Warmup replies go through the same mailbox gates as every other send of the replying mailbox: moto (its SQS
delays following the injected clock), the mail lab's real SMTP and IMAP, an injected clock.

Inbox sync (with the warmup receiving hook, as the inbox sync function builds it) finds warmup emails in the
recipient's INBOX and decides to reply (reply rate 100%); the replies travel on the send queue and the warmup
delivery path (the sender function's) sends them when due. What the lab received tells when each reply went out:
its Date header is the send time. Help center L1117-1124 (inventory 4.2 and 4.4): the per-mailbox pacer spans
campaigns and warmup, both directions; warmup's own interval is 10 minutes (docs/decisions.md, Warmup rules), and
every email of a mailbox counts toward its 500/day hard cap (inventory 3.2).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import boto3
import pytest

from devstack.maillab import MailAccount, MailLab
from devstack.moto_patches import apply_moto_patches
from kindling.inbox.sync import InboxSync
from kindling.mail.connection import TlsPolicy
from kindling.mailboxes.models import Mailbox
from kindling.platform import aws as platform_aws
from kindling.platform.clock import ManualClock
from kindling.platform.settings import reset_settings
from kindling.sending import eligibility
from kindling.sending.repository import SendingRepository
from kindling.warmup.content import build_message, compose_message, reply_decision
from kindling.warmup.delivery import WarmupDelivery, message_id_for
from kindling.warmup.messages import WarmupSendMessage
from kindling.warmup.models import WarmupState
from kindling.warmup.pool_index import Exchange, WarmupPoolRepository
from kindling.warmup.repository import WarmupRepository
from tests.conftest import make_tenant
from tests.integration.warmup.support import ListQueue, insert_mailbox

pytestmark = pytest.mark.mail

MORNING = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)


@pytest.fixture
def env(aws: None, clock: ManualClock, mail_lab: MailLab) -> Iterator[str]:
    apply_moto_patches()
    key_id = boto3.client("kms", region_name="us-east-1").create_key(Description="mailbox secrets")["KeyMetadata"][
        "KeyId"
    ]
    sqs = boto3.client("sqs", region_name="us-east-1")
    send_queue = sqs.create_queue(QueueName="send")["QueueUrl"]
    values = {
        "KINDLING_KMS_KEY_ID": key_id,
        "KINDLING_MAIL_CA_FILE": str(mail_lab.ca_path),
        "KINDLING_WEBHOOK_QUEUE_URL": sqs.create_queue(QueueName="webhooks")["QueueUrl"],
        "KINDLING_SEND_QUEUE_URL": send_queue,
    }
    os.environ.update(values)
    reset_settings()
    platform_aws.reset_clients()
    clock.set(MORNING)
    yield send_queue
    for name in values:
        os.environ.pop(name, None)
    reset_settings()


@dataclass
class World:
    clock: ManualClock
    lab: MailLab
    send_queue: str
    workspace_id: str

    def account(self, name: str) -> MailAccount:
        return self.lab.add_account(f"{name}-{uuid.uuid4().hex[:8]}@lab-mail.test", "warm-pass-1", "lab-mail")

    def mailbox(self, name: str, **fields: Any) -> Mailbox:
        account = self.account(name)
        return insert_mailbox(self.workspace_id, account.email, account.password, account, at=MORNING, **fields)

    def recipient(self) -> Mailbox:
        """A pool mailbox that answers every warmup email (reply rate 100%)."""
        mailbox = self.mailbox("rcpt")
        WarmupRepository().save(
            WarmupState(workspace_id=self.workspace_id, mailbox_id=mailbox.id, reply_rate=100, started_at=MORNING), 0
        )
        return mailbox

    def receive_warmup(self, exchange: str, sender: Mailbox, recipient: Mailbox) -> None:
        """The exchange's email, sent by `sender`, lands in the recipient's INBOX."""
        now = self.clock.now()
        assert WarmupPoolRepository().create_exchange(
            Exchange(exchange, sender.workspace_id, sender.id, recipient.id, now.date(), "sent"), now
        )
        email = compose_message(exchange, sender_name="Sam Warm", recipient_name=None)
        raw = build_message(
            email,
            from_address=sender.email_address,
            from_name="Sam Warm",
            to_address=recipient.email_address,
            to_name=None,
            message_id=message_id_for(exchange, sender.email_address),
            sent_at=now,
        ).as_bytes()
        self.lab.append(recipient.email_address, "INBOX", raw)

    def sync(self, mailbox: Mailbox) -> None:
        syncer = InboxSync(tls=TlsPolicy(str(self.lab.ca_path), allow_private_addresses=True), clock=self.clock)
        assert syncer.sync(mailbox.workspace_id, mailbox.id).outcome == "synced"

    def run_sender_until(self, end: datetime) -> None:
        """The sender function's warmup path, minute by minute: every visible send-queue message is processed (and
        deleted, as after a successful batch) when SQS hands it over."""
        sqs = boto3.client("sqs", region_name="us-east-1")
        delivery = WarmupDelivery(clock=self.clock)
        while self.clock.now() < end:
            self.clock.advance(timedelta(minutes=1))
            while messages := sqs.receive_message(QueueUrl=self.send_queue, MaxNumberOfMessages=10).get("Messages"):
                delivery.process([WarmupSendMessage.from_body(m["Body"]) for m in messages])
                sqs.delete_message_batch(
                    QueueUrl=self.send_queue,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
                )

    def replies_to(self, sender: Mailbox, exchange: str, replier: Mailbox) -> list[datetime]:
        """When each copy of the exchange's reply reached the sender's mailbox (its Date header: the send time)."""
        message_id = message_id_for(exchange, replier.email_address, reply=True)
        found = []
        for folder in ("INBOX", "Junk"):
            for message in self.lab.fetch_messages(sender.email_address, folder):
                if message["Message-ID"] == message_id:
                    found.append(parsedate_to_datetime(message["Date"]))
        return found


@pytest.fixture
def world(env: str, clock: ManualClock, mail_lab: MailLab) -> World:
    return World(clock, mail_lab, env, make_tenant(name="Replies").workspace_id)


def close_pair(prefix: str) -> tuple[str, str]:
    """Two exchange ids whose natural reply delays are less than 2 minutes apart: without the pacer, their replies
    would go out less than 10 minutes apart."""
    seen: list[tuple[str, timedelta]] = []
    for n in range(1000):
        candidate = f"wx-{prefix}-{n}"
        delay = reply_decision(candidate).delay
        for other, other_delay in seen:
            if abs(delay - other_delay) < timedelta(minutes=2):
                return other, candidate
        seen.append((candidate, delay))
    raise AssertionError("no two exchange ids with close reply delays")


def replied_count(mailbox: Mailbox) -> int:
    _, rows = WarmupRepository().load(mailbox.workspace_id, mailbox.id)
    return sum(row.counters.replied for row in rows)


def test_two_warmup_emails_in_one_sync_are_answered_at_least_the_pacer_apart(world: World) -> None:
    recipient = world.recipient()
    first_sender, second_sender = world.mailbox("s1"), world.mailbox("s2")
    first, second = close_pair(uuid.uuid4().hex[:8])
    world.receive_warmup(first, first_sender, recipient)
    world.receive_warmup(second, second_sender, recipient)

    world.sync(recipient)  # both emails in one sync
    world.run_sender_until(MORNING + timedelta(hours=4))

    [first_at] = world.replies_to(first_sender, first, recipient)
    [second_at] = world.replies_to(second_sender, second, recipient)
    # The natural delay (5 minutes to 3 hours after the email was seen) still holds...
    for at in (first_at, second_at):
        assert MORNING + timedelta(minutes=5) <= at <= MORNING + timedelta(hours=3, minutes=15)
    # ...and the replying mailbox's pacer keeps its two replies 10 minutes apart.
    assert abs(second_at - first_at) >= timedelta(minutes=10)
    # Both count on the mailbox's day against the 500/day hard cap, and as replies on each sender's row.
    state = SendingRepository().mailbox_state(recipient.workspace_id, recipient.id)
    assert state.today(eligibility.day_key(MORNING, "UTC"))[:2] == (0, 2)
    assert (replied_count(first_sender), replied_count(second_sender)) == (1, 1)


def test_a_mailbox_at_its_500_a_day_hard_cap_sends_no_reply_that_day(world: World) -> None:
    recipient = world.recipient()
    sender = world.mailbox("s1")
    sending = SendingRepository()
    day = eligibility.day_key(MORNING, "UTC")
    # Campaign sends took the whole 500/day hard cap of the replying mailbox today.
    state = sending.mailbox_state(recipient.workspace_id, recipient.id)
    assert sending.reserve_mailbox(recipient.workspace_id, state, day, sends=500, domains={}, next_allowed_at=None)
    exchange = f"wx-cap-{uuid.uuid4().hex[:8]}"
    world.receive_warmup(exchange, sender, recipient)

    world.sync(recipient)
    world.run_sender_until(MORNING + timedelta(hours=4))

    assert world.replies_to(sender, exchange, recipient) == []
    assert sending.mailbox_state(recipient.workspace_id, recipient.id).today(day)[:2] == (500, 0)
    assert replied_count(sender) == 0
    assert WarmupPoolRepository().reply_status(exchange) == "failed"


def test_a_reply_due_seconds_before_its_pacer_slot_waits_for_the_slot(world: World) -> None:
    """The delivery path sends a job up to 30 seconds early (the queue's imprecision); a reply reserved on a pacer
    slot 20 seconds ahead must still wait for it (the month's 6 reply gaps 1-25 seconds short of the pacer)."""
    recipient = world.recipient()
    sender = world.mailbox("s1")
    sending = SendingRepository()
    day = eligibility.day_key(MORNING, "UTC")
    slot = MORNING + timedelta(seconds=20)
    state = sending.mailbox_state(recipient.workspace_id, recipient.id)
    assert sending.reserve_mailbox(recipient.workspace_id, state, day, sends=1, domains={}, next_allowed_at=slot)
    exchange = f"wx-slot-{uuid.uuid4().hex[:8]}"
    world.receive_warmup(exchange, sender, recipient)
    assert WarmupPoolRepository().mark_replied(exchange)
    job = WarmupSendMessage(
        exchange_id=exchange,
        workspace_id=recipient.workspace_id,
        mailbox_id=recipient.id,
        day=MORNING.date(),
        recipient=sender.email_address,
        from_address=recipient.email_address,
        send_at=MORNING,
        queued_at=MORNING - timedelta(minutes=5),
        reply_to=message_id_for(exchange, sender.email_address),
        reply_subject="Lunch next week?",
        reserved=False,
    )
    queue = ListQueue()
    delivery = WarmupDelivery(clock=world.clock, queue=queue)

    first = delivery.process([job])
    assert first.sent == 0 and first.outcomes[job.key] == "pacer"
    [waiting] = queue.take()
    assert waiting.reserved and waiting.send_at == slot
    assert world.replies_to(sender, exchange, recipient) == []

    world.clock.set(slot)
    assert delivery.process([waiting]).sent == 1
    assert world.replies_to(sender, exchange, recipient) == [slot]
    assert sending.mailbox_state(recipient.workspace_id, recipient.id).today(day)[:2] == (1, 1)
