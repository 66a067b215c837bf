"""Warmup delivery's retries and hard-cap releases over real SMTP: moto + the mail lab (and, for a permanent
refusal the lab never gives, the campaign sender tests' scripted SMTP server).

The lab answers "451 4.3.0 Local delivery failed" when storing a message fails (`MailLab.deliver` raising
`MailLabError`): that is the transient refusal here. A wrong SMTP password is a refused login (before the gate).
The scripted server answers `spam*` recipients "554 5.7.1" after the content: a permanent refusal.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from devstack.maillab import MailAccount, MailLab
from devstack.maillab.backend import MailLabError
from kindling.inbox.sync import InboxSync
from kindling.mail.connection import TlsPolicy
from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.repository import MailboxRepository
from kindling.platform import aws as platform_aws
from kindling.platform.clock import ManualClock
from kindling.platform.ids import new_uuid
from kindling.platform.settings import reset_settings
from kindling.sending import eligibility
from kindling.sending.repository import SendingRepository
from kindling.warmup.content import WARMUP_HEADER, build_message, compose_message
from kindling.warmup.delivery import DeliveryResult, WarmupDelivery, message_id_for
from kindling.warmup.messages import WarmupSendMessage
from kindling.warmup.pool_index import Exchange, WarmupPoolRepository
from kindling.warmup.repository import WarmupRepository
from kindling.warmup.service import WarmupService
from tests.conftest import make_tenant
from tests.integration.mailboxes.servers import CertFactory
from tests.integration.sending.conftest import PASSWORD, USER, sink_server
from tests.integration.warmup.support import ListQueue, insert_mailbox

pytestmark = pytest.mark.mail

NOON = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


class CountingSending(SendingRepository):
    """The sending repository, counting hard-cap releases."""

    def __init__(self) -> None:
        super().__init__()
        self.releases: list[tuple[str, str, int]] = []

    def release_mailbox(
        self, workspace_id: str, mailbox_id: str, day: str, sends: int, domains: dict[str, int], *, warmup: int = 0
    ) -> None:
        self.releases.append((mailbox_id, day, warmup))
        super().release_mailbox(workspace_id, mailbox_id, day, sends, domains, warmup=warmup)


@pytest.fixture
def env(aws: None, clock: ManualClock, mail_lab: MailLab) -> Iterator[None]:
    key_id = boto3.client("kms", region_name="us-east-1").create_key(Description="mailbox secrets")["KeyMetadata"][
        "KeyId"
    ]
    # A mailbox outage is announced as a webhook event (mailbox.disconnected).
    webhooks = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="webhooks")["QueueUrl"]
    values = {
        "KINDLING_KMS_KEY_ID": key_id,
        "KINDLING_MAIL_CA_FILE": str(mail_lab.ca_path),
        "KINDLING_WEBHOOK_QUEUE_URL": webhooks,
    }
    os.environ.update(values)
    reset_settings()
    platform_aws.reset_clients()
    clock.set(NOON)
    yield
    for name in values:
        os.environ.pop(name, None)
    reset_settings()


def make_mailbox(workspace_id: str, email: str, password: str, account: MailAccount | None, **fields: Any) -> Mailbox:
    return insert_mailbox(workspace_id, email, password, account, at=NOON, **fields)


@dataclass
class World:
    clock: ManualClock
    lab: MailLab
    queue: ListQueue
    sending: CountingSending
    pool: WarmupPoolRepository
    delivery: WarmupDelivery
    workspace_id: str

    def account(self, name: str) -> MailAccount:
        return self.lab.add_account(f"{name}-{uuid.uuid4().hex[:8]}@lab-mail.test", "warm-pass-1", "lab-mail")

    def sender(self, **fields: Any) -> Mailbox:
        account = self.account("sender")
        return make_mailbox(self.workspace_id, account.email, account.password, account, **fields)

    def enqueue(
        self, sender: Mailbox, recipients: Sequence[str], *, reserved: int | None = None
    ) -> list[WarmupSendMessage]:
        """What the tick does: one queued exchange per send and `reserved` warmup sends (default: one per send)
        on the sending engine's mailbox state for today (UTC), the day the 500/day hard cap counts them on."""
        now = self.clock.now()
        state = self.sending.mailbox_state(sender.workspace_id, sender.id)
        count = len(recipients) if reserved is None else reserved
        day = eligibility.day_key(now, "UTC")
        assert self.sending.reserve_mailbox(
            sender.workspace_id, state, day, sends=0, domains={}, warmup=count, next_allowed_at=None
        )
        jobs = []
        for recipient in recipients:
            exchange = f"wx-{uuid.uuid4().hex}"
            assert self.pool.create_exchange(
                Exchange(exchange, sender.workspace_id, sender.id, new_uuid(), now.date(), "queued"), now
            )
            jobs.append(
                WarmupSendMessage(
                    exchange_id=exchange,
                    workspace_id=sender.workspace_id,
                    mailbox_id=sender.id,
                    day=now.date(),
                    recipient=recipient,
                    from_address=sender.email_address,
                    send_at=now,
                    queued_at=now,
                )
            )
        return jobs

    def reserved(self, sender: Mailbox, day: str) -> int:
        return self.sending.mailbox_state(sender.workspace_id, sender.id).today(day)[1]

    def status(self, job: WarmupSendMessage) -> str:
        exchange = self.pool.exchange(job.exchange_id)
        assert exchange is not None
        return exchange.status

    def delivered(self, job: WarmupSendMessage) -> int:
        """Copies of the job's email in the recipient's lab mailbox."""
        message_id = message_id_for(job.exchange_id, job.from_address)
        folder = self.lab.expected_folder(job.recipient, message_id)
        return sum(1 for m in self.lab.fetch_messages(job.recipient, folder) if m["Message-ID"] == message_id)

    def counted_sent(self, sender: Mailbox) -> int:
        _, rows = WarmupRepository().load(sender.workspace_id, sender.id)
        return sum(row.counters.sent for row in rows)


@pytest.fixture
def world(env: None, clock: ManualClock, mail_lab: MailLab) -> World:
    queue = ListQueue()
    sending = CountingSending()
    pool = WarmupPoolRepository()
    delivery = WarmupDelivery(clock=clock, queue=queue, sending=sending, pool=pool)
    return World(clock, mail_lab, queue, sending, pool, delivery, make_tenant(name="Warm").workspace_id)


def refuse_storage(monkeypatch: pytest.MonkeyPatch, lab: MailLab, recipient: str, times: int) -> list[int]:
    """The lab refuses `recipient`'s next `times` messages with its 451 (the store failed); returns the count left."""
    real = lab.deliver
    left = [times]

    def deliver(envelope_from: str, rcpt: str, raw: bytes, folder: str) -> None:
        if rcpt.lower() == recipient.lower() and left[0] > 0:
            left[0] -= 1
            raise MailLabError("test: the mail store is unavailable")
        real(envelope_from, rcpt, raw, folder)

    monkeypatch.setattr(lab, "deliver", deliver)
    return left


def test_a_transient_refusal_is_retried_and_then_sends_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    sender, recipient = world.sender(), world.account("rcpt")
    [job] = world.enqueue(sender, [recipient.email])
    left = refuse_storage(monkeypatch, world.lab, recipient.email, 1)
    day = eligibility.day_key(NOON, "UTC")

    first = world.delivery.process([job])
    assert (first.retrying, first.sent, first.failed) == (1, 0, 0)
    assert first.outcomes[job.exchange_id] == "rate_limited"  # the lab's 451 after the content
    assert left == [0] and world.delivered(job) == 0
    assert world.status(job) == "queued"  # back before the gate, for the retry to pass it once
    [retry] = world.queue.take()
    assert retry.attempt == 2 and retry.send_at == NOON + timedelta(minutes=5)
    assert retry.model_copy(update={"attempt": 1, "send_at": job.send_at}) == job
    assert WarmupSendMessage.from_body(retry.to_body()) == retry  # the attempt survives the queue
    assert world.reserved(sender, day) == 1  # still reserved: the retry is today's send
    assert world.sending.releases == []

    # Delivered early (the queue's delay is capped): back on the queue unchanged, the gate untouched.
    early = world.delivery.process([retry])
    assert (early.deferred, early.sent, early.retrying) == (1, 0, 0)
    assert world.queue.take() == [retry] and world.status(job) == "queued"

    world.clock.advance(timedelta(minutes=5))
    second = world.delivery.process([retry])
    assert (second.sent, second.retrying, second.failed) == (1, 0, 0)
    assert world.status(job) == "sent" and world.delivered(job) == 1
    assert world.counted_sent(sender) == 1
    assert world.reserved(sender, day) == 1 and world.sending.releases == []
    assert world.queue.jobs == []


def test_three_transient_refusals_fail_the_send_and_release_its_reservation(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender, recipient = world.sender(), world.account("rcpt")
    day = eligibility.day_key(NOON, "UTC")
    [job] = world.enqueue(sender, [recipient.email], reserved=2)  # another warmup send is reserved today too
    refuse_storage(monkeypatch, world.lab, recipient.email, 3)

    current = [job]
    for attempt, wait in ((1, 5), (2, 15)):
        result = world.delivery.process(current)
        assert result.retrying == 1 and world.status(job) == "queued"
        current = world.queue.take()
        assert [j.attempt for j in current] == [attempt + 1]
        assert current[0].send_at == world.clock.now() + timedelta(minutes=wait)
        world.clock.advance(timedelta(minutes=wait))
    last = world.delivery.process(current)
    assert (last.failed, last.retrying, last.sent) == (1, 0, 0)
    assert world.status(job) == "failed" and world.queue.jobs == []
    assert world.reserved(sender, day) == 1  # the failed send's reservation went back
    assert world.sending.releases == [(sender.id, day, 1)]
    assert world.delivered(job) == 0 and world.counted_sent(sender) == 0


def test_a_refused_login_retries_from_queued_then_fails_and_releases(world: World) -> None:
    account, recipient = world.account("sender"), world.account("rcpt")
    sender = make_mailbox(world.workspace_id, account.email, "not-the-password-1", account)
    day = eligibility.day_key(NOON, "UTC")
    jobs = world.enqueue(sender, [recipient.email, recipient.email])

    current = jobs
    for _ in range(2):
        result = world.delivery.process(current)
        assert result.retrying == 2 and {result.outcomes[j.exchange_id] for j in jobs} == {"auth_failed"}
        assert {world.status(j) for j in jobs} == {"queued"}  # the login failed before any gate
        current = world.queue.take()
        world.clock.advance(max(j.send_at for j in current) - world.clock.now())
    last = world.delivery.process(current)
    assert last.failed == 2 and {world.status(j) for j in jobs} == {"failed"}
    assert world.reserved(sender, day) == 0
    assert world.sending.releases == [(sender.id, day, 2)]  # one release for the mailbox's batch


def test_a_permanent_refusal_fails_and_releases_at_once(world: World, mail_lab: MailLab) -> None:
    day = eligibility.day_key(NOON, "UTC")
    with sink_server("plain", None, str(mail_lab.ca_path)) as server:
        sender = make_mailbox(world.workspace_id, USER, PASSWORD, None, smtp_port=server.port, smtp_security="none")
        jobs = world.enqueue(sender, ["spam-a@lab.test", "spam-b@lab.test", "fine@lab.test"])
        result = world.delivery.process(jobs)
    assert result.outcomes == {
        jobs[0].exchange_id: "rejected",
        jobs[1].exchange_id: "rejected",
        jobs[2].exchange_id: "sent",
    }
    assert (result.failed, result.sent, result.retrying) == (2, 1, 0)
    assert [world.status(j) for j in jobs] == ["failed", "failed", "sent"]
    assert world.queue.jobs == []
    assert world.reserved(sender, day) == 1  # the sent one stays counted
    assert world.sending.releases == [(sender.id, day, 2)]
    assert [d.rcpt_tos for d in server.handler.delivered] == [["fine@lab.test"]]


def test_a_changed_certificate_sends_nothing_and_disconnects_the_mailbox(
    world: World, tmp_path: Path, mail_lab: MailLab
) -> None:
    certs = CertFactory(tmp_path / "certs")
    pinned, impostor = certs.leaf("warm-pinned", self_signed=True), certs.leaf("warm-impostor", self_signed=True)
    with sink_server("starttls", impostor, str(mail_lab.ca_path)) as server:
        sender = make_mailbox(
            world.workspace_id,
            USER,
            PASSWORD,
            None,
            smtp_port=server.port,
            smtp_security="starttls",
            smtp_tls_pin=pinned.fingerprint,
        )
        jobs = world.enqueue(sender, ["fine@lab.test"])
        result = world.delivery.process(jobs)
        assert server.logins == 0 and server.handler.delivered == []  # refused before AUTH
    assert result.outcomes == {jobs[0].exchange_id: "connection_failed"}
    stored = MailboxRepository().get(world.workspace_id, sender.id)
    expected = ("disconnected", "tls_certificate_changed", "error")
    assert (stored.status, stored.last_test_code, stored.health_status) == expected
    assert stored.last_test_error == (
        "tls_certificate_changed (SMTP): The server's certificate changed since you tested this mailbox; re-test it "
        "to accept the new certificate if you trust it."
    )


def test_an_unusable_mailbox_releases_once(world: World) -> None:
    sender, recipient = world.sender(sending_enabled=False), world.account("rcpt")
    day = eligibility.day_key(NOON, "UTC")
    [job] = world.enqueue(sender, [recipient.email], reserved=3)
    result = world.delivery.process([job])
    assert result.skipped == 1 and result.outcomes == {job.exchange_id: "mailbox_unusable"}
    assert world.status(job) == "failed" and world.reserved(sender, day) == 2
    again = world.delivery.process([job])  # the queue delivers it again: nothing more to give back
    assert again.skipped == 1 and world.reserved(sender, day) == 2
    assert world.sending.releases == [(sender.id, day, 1)]


def test_a_retry_past_the_reserved_day_fails_and_releases(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.clock.set(datetime(2026, 6, 10, 23, 50, tzinfo=UTC))
    sender, recipient = world.sender(), world.account("rcpt")
    [job] = world.enqueue(sender, [recipient.email])
    refuse_storage(monkeypatch, world.lab, recipient.email, 1)
    world.clock.set(datetime(2026, 6, 10, 23, 56, tzinfo=UTC))  # a retry 5 minutes on is tomorrow (UTC)
    result = world.delivery.process([job])
    assert (result.failed, result.retrying) == (1, 0)
    assert world.status(job) == "failed" and world.queue.jobs == []
    assert world.reserved(sender, "2026-06-10") == 0
    assert world.sending.releases == [(sender.id, "2026-06-10", 1)]


def test_a_message_delivered_twice_sends_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    sender, recipient = world.sender(), world.account("rcpt")
    [plain, refused] = world.enqueue(sender, [recipient.email, recipient.email])
    # Twice in one batch, then once more later: the gate lets one copy through.
    assert world.delivery.process([plain, plain]).sent == 1
    again = world.delivery.process([plain])
    assert (again.sent, again.skipped) == (0, 1)
    assert world.delivered(plain) == 1

    # A refused send's original message comes back (the queue redelivers it) while its retry waits: whichever
    # passes the gate first sends, the other is refused by it.
    refuse_storage(monkeypatch, world.lab, recipient.email, 1)
    first = world.delivery.process([refused])
    assert first.retrying == 1
    [retry] = world.queue.take()
    redelivered = world.delivery.process([refused])
    assert redelivered.sent == 1 and world.status(refused) == "sent"
    world.clock.advance(timedelta(minutes=5))
    late: DeliveryResult = world.delivery.process([retry])
    assert (late.sent, late.skipped, late.retrying) == (0, 1, 0)
    assert world.delivered(refused) == 1 and world.counted_sent(sender) == 2
    assert world.sending.releases == [] and world.queue.jobs == []


def warmup_dsn(sender: str, recipient: str, job: WarmupSendMessage, *, status: str, action: str) -> bytes:
    """A delivery status report about a warmup email, returned to its sender (the original's headers inside)."""
    boundary = f"dsn-{uuid.uuid4().hex[:8]}"
    original = message_id_for(job.exchange_id, job.from_address)
    return (
        f"From: MAILER-DAEMON@lab-mail.test (Mail Delivery System)\r\nTo: {sender}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nDate: Wed, 10 Jun 2026 12:30:00 +0000\r\n"
        f"Message-ID: <dsn.{uuid.uuid4().hex[:12]}@lab-mail.test>\r\nAuto-Submitted: auto-replied\r\n"
        f'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        f"\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nYour message could not be delivered.\r\n"
        f"\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.lab-mail.test\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {original}\r\nFrom: {sender}\r\nTo: {recipient}\r\nSubject: Quick note [ref: ABCDEFGH]\r\n"
        f"{WARMUP_HEADER}: {job.exchange_id}\r\n\r\n--{boundary}--\r\n"
    ).encode()


def test_a_bounce_report_after_acceptance_counts_bounced_once(world: World) -> None:
    """SMTP accepted the email; a hard DSN arrives later in the sender's INBOX: inbox sync counts it on the sender's
    row (once, however often the report is seen or repeated), and a delayed (soft) report counts nothing."""
    sender, first, second = world.sender(), world.account("gone"), world.account("slow")
    jobs = world.enqueue(sender, [first.email, second.email])
    assert world.delivery.process(jobs).sent == 2
    hard = warmup_dsn(sender.email_address, first.email, jobs[0], status="5.1.1", action="failed")
    world.lab.append(sender.email_address, "INBOX", hard)
    world.lab.append(sender.email_address, "INBOX", hard)  # the remote MTA reported twice
    soft = warmup_dsn(sender.email_address, second.email, jobs[1], status="4.2.2", action="delayed")
    world.lab.append(sender.email_address, "INBOX", soft)
    syncer = InboxSync(tls=TlsPolicy(str(world.lab.ca_path), allow_private_addresses=True), clock=world.clock)
    for _ in range(2):
        assert syncer.sync(sender.workspace_id, sender.id).outcome == "synced"
    _, rows = WarmupRepository().load(sender.workspace_id, sender.id)
    assert (sum(r.counters.sent for r in rows), sum(r.counters.bounced for r in rows)) == (2, 1)
    assert (world.status(jobs[0]), world.status(jobs[1])) == ("bounced", "sent")
    stats = WarmupService(clock=world.clock).report(sender.workspace_id, sender.id).stats
    assert stats.daily[-1].bounced == 1 and stats.bounce_rate == 50  # the health score sees it


def test_a_rescue_by_another_mailbox_on_the_same_inbox_still_counts_spam(world: World) -> None:
    """The recipient's address is also connected in another workspace (not in the pool). That mailbox's sync sees
    the warmup email in Junk first and rescues it: the sender's row counts spam + rescued (not inbox), once; the
    recipient mailbox counts it received, once; the other mailbox counts nothing."""
    sender, account = world.sender(), world.account("twin")
    recipient = make_mailbox(world.workspace_id, account.email, account.password, account)
    twin = make_mailbox(make_tenant(name="Elsewhere").workspace_id, account.email, account.password, account)
    exchange = f"wx-{uuid.uuid4().hex}"
    assert world.pool.create_exchange(
        Exchange(exchange, sender.workspace_id, sender.id, recipient.id, NOON.date(), "sent"), NOON
    )
    email = compose_message(exchange, sender_name="Sam Warm", recipient_name=None)
    raw = build_message(
        email,
        from_address=sender.email_address,
        from_name="Sam Warm",
        to_address=account.email,
        to_name=None,
        message_id=message_id_for(exchange, sender.email_address),
        sent_at=NOON,
    ).as_bytes()
    world.lab.append(account.email, "Junk", raw)
    syncer = InboxSync(tls=TlsPolicy(str(world.lab.ca_path), allow_private_addresses=True), clock=world.clock)
    for _ in range(2):
        for mailbox in (twin, recipient):
            assert syncer.sync(mailbox.workspace_id, mailbox.id).outcome == "synced"

    def totals(mailbox: Mailbox) -> tuple[int, int, int, int, int]:
        _, rows = WarmupRepository().load(mailbox.workspace_id, mailbox.id)
        c = [r.counters for r in rows]
        return tuple(sum(getattr(x, f) for x in c) for f in ("inbox", "spam", "rescued", "opened", "received"))  # type: ignore[return-value]

    assert totals(sender) == (0, 1, 1, 1, 0)
    assert totals(recipient) == (0, 0, 0, 0, 1)
    assert totals(twin) == (0, 0, 0, 0, 0)
    assert world.lab.fetch_raw(account.email, "Junk") == []
    assert len(world.lab.fetch_raw(account.email, "INBOX")) == 1


def test_ten_refused_warmup_logins_report_the_mailbox_disconnected(world: World) -> None:
    """Warmup delivery counts refused logins with the campaign sender's per-mailbox count and reports the 10th to
    the mailbox health helper: the mailbox goes `disconnected` with `auth_failed` (the lab's real SMTP AUTH)."""
    sender = world.sender()
    recipient = world.account("rcpt").email
    world.lab.add_account(sender.email_address, "changed-at-the-provider", "lab-mail")  # the stored one is refused
    for attempt in range(1, 11):
        jobs = world.enqueue(sender, [recipient])
        result = world.delivery.process(jobs)
        assert result.sent == 0
        stored = MailboxRepository().get(world.workspace_id, sender.id)
        assert world.sending.mailbox_state(world.workspace_id, sender.id).auth_failures == attempt
        assert stored.status == ("disconnected" if attempt == 10 else "connected"), attempt
    assert (stored.last_test_code, stored.disconnected_since) == ("auth_failed", world.clock.now())
