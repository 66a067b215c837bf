"""The inbox sync of one mailbox against real Dovecot (the mail lab) and moto: replies, bounces, out-of-office,
unsubscribes, complaints and warmup mail land where they should; cursors, dedupe, the lease, auth-failure
counting and the SQS handler's partial batch failures.

Campaign sends are written into the send ledger the way the sender records them (there is no public writer
yet), and the prospects' answers are APPENDed to the sender's INBOX with the headers a real client sets.
"""

from __future__ import annotations

import importlib.util
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import formatdate
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from devstack.maillab import MailAccount, MailLab
from devstack.moto_patches import apply_moto_patches
from devstack.runtime import free_port
from kindling.bounceshield.models import BounceShieldUpdate
from kindling.bounceshield.repository import BounceShieldRepository
from kindling.bounceshield.service import BounceShieldService
from kindling.campaigns.models import CampaignRecord, CampaignSettings, StepRecord, VariantRecord
from kindling.campaigns.repository import CampaignRepository
from kindling.enrollments.repository import EnrollmentRepository
from kindling.enrollments.service import EnrollmentService
from kindling.events.repository import EventItem
from kindling.inbox.models import ConversationFilters
from kindling.inbox.repository import InboxRepository, SyncSummary
from kindling.inbox.service import InboxService, campaign_conversation_id
from kindling.inbox.sync import (
    InboxSync,
    MailboxSyncReport,
    SyncFanout,
    parse_sync_message,
    sync_message,
)
from kindling.mail.classify import Classification
from kindling.mail.connection import Endpoint, TlsPolicy
from kindling.mail.imapsync import FetchedMessage, FolderCursor, ImapSyncError
from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.repository import MailboxRepository
from kindling.mailboxes.secrets import KmsSecretBox
from kindling.platform import aws as platform_aws
from kindling.platform.clock import ManualClock, isoformat
from kindling.platform.ids import new_uuid
from kindling.platform.keys import recipient_pk, send_pk, workspace_key
from kindling.platform.settings import reset_settings
from kindling.prospects.models import Prospect, ProspectCreate
from kindling.prospects.repository import ProspectRepository
from kindling.prospects.service import ProspectService
from kindling.sending.ledger import SendItem, SendLedgerRepository, SendRecord, send_id_for
from kindling.sending.repository import SendingRepository
from kindling.suppressions.service import SuppressionService
from kindling.warmup.blocklist import WarmupBlocklistRepository
from tests.conftest import Tenant, make_tenant
from tests.integration.mailboxes.servers import CertFactory, TlsRelay

pytestmark = pytest.mark.mail

REPO = Path(__file__).resolve().parents[3]
LAB_DOMAIN = "lab-mail.test"


@dataclass
class World:
    tenant: Tenant
    lab: MailLab
    account: MailAccount
    mailbox: Mailbox
    campaign: CampaignRecord
    clock: ManualClock
    warmup_seen: list[tuple[str, str]] = field(default_factory=list)

    @property
    def workspace_id(self) -> str:
        return self.tenant.workspace_id

    @property
    def tls(self) -> TlsPolicy:
        return TlsPolicy(str(self.lab.ca_path), allow_private_addresses=True)

    def inbox(self) -> InboxService:
        def on_warmup(_: Any, mailbox: Mailbox, folder: str, fetched: FetchedMessage, found: Classification) -> None:
            self.warmup_seen.append((folder, fetched.key))

        return InboxService(on_warmup=on_warmup)

    def syncer(self, **kwargs: Any) -> InboxSync:
        return InboxSync(self.inbox(), tls=self.tls, **kwargs)

    def sync(self, mailbox: Mailbox | None = None) -> MailboxSyncReport:
        target = mailbox or self.mailbox
        return self.syncer().sync(target.workspace_id, target.id)

    def prospect(self, email: str, *, enroll: bool = True) -> Prospect:
        prospect, _ = ProspectService().create(self.workspace_id, ProspectCreate(email=email, first_name="Pat"))
        if enroll:
            EnrollmentService().enroll(self.workspace_id, self.campaign.campaign_id, prospect_ids=[prospect.id])
        return prospect

    def send(self, prospect: Prospect, *, step: int = 0, at: datetime | None = None) -> SendRecord:
        """A campaign email to `prospect`, as the sender records it in the ledger once SMTP accepted it."""
        enrollments, _ = EnrollmentRepository().page(self.workspace_id, self.campaign.campaign_id, None, 100, None)
        enrollment = next(e for e in enrollments if e.prospect_id == prospect.id)
        step_record = self.campaign.steps[step]
        send_id = send_id_for(enrollment.id, step_record.id)
        when = at or self.clock.now()
        SendItem(
            pk=send_pk(self.workspace_id, send_id),
            sk="#",
            gsi2pk=recipient_pk(self.workspace_id, self.mailbox.id, prospect.email),
            gsi2sk=f"{isoformat(when)}#{send_id}",
            send_id=send_id,
            enrollment_id=enrollment.id,
            campaign_id=self.campaign.campaign_id,
            step_id=step_record.id,
            step_index=step,
            variant="A",
            mailbox_id=self.mailbox.id,
            prospect_id=prospect.id,
            recipient=prospect.email,
            message_id=f"{send_id}@{LAB_DOMAIN}",
            status="sent",
            attempts=1,
            queued_at=when,
            sent_at=when,
        ).save()
        return SendLedgerRepository().get(self.workspace_id, send_id)

    def status(self, prospect: Prospect) -> str:
        """The prospect's enrollment status in the campaign (the sending engine's stop is the real one)."""
        statuses = EnrollmentRepository().statuses(self.workspace_id, self.campaign.campaign_id, [prospect.id])
        return statuses[prospect.id]

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        self.lab.append(self.account.email, folder, raw)

    def events(self, event_type: str) -> list[dict[str, Any]]:
        items = EventItem.gsi1.query(workspace_key(self.workspace_id, "EVENT"))
        return [json.loads(i.data) for i in items if isinstance(i, EventItem) and i.event_type == event_type]


def make_mailbox(workspace_id: str, account: MailAccount, clock: ManualClock, **fields: Any) -> Mailbox:
    mailbox_id = new_uuid()
    box = KmsSecretBox()
    password = fields.pop("password", account.password)
    now = clock.now()
    values: dict[str, Any] = {
        "id": mailbox_id,
        "workspace_id": workspace_id,
        "email_address": account.email,
        "display_name": "Alex Sender",
        "status": "connected",
        "generation": 1,
        "smtp_host": account.smtp_host,
        "smtp_port": account.smtp_port,
        "smtp_username": account.email,
        "smtp_security": account.smtp_security,
        "smtp_password_enc": box.encrypt(workspace_id, mailbox_id, password),
        "imap_host": account.imap_host,
        "imap_port": account.imap_port,
        "imap_username": account.email,
        "imap_security": account.imap_security,
        "imap_password_enc": box.encrypt(workspace_id, mailbox_id, password),
        "created_at": now,
        "updated_at": now,
    }
    values.update(fields)
    mailbox = Mailbox.model_validate(values)
    MailboxRepository().insert(mailbox)
    return mailbox


def make_campaign(workspace_id: str, clock: ManualClock, **settings: Any) -> CampaignRecord:
    now = clock.now()
    steps = [
        StepRecord(
            id=new_uuid(),
            step_index=n,
            variants=[VariantRecord(id=new_uuid(), letter="A", subject="Quick question", body_html="<p>Hi</p>")],
            created_at=now,
            updated_at=now,
        )
        for n in range(2)
    ]
    record = CampaignRecord(
        campaign_id=new_uuid(),
        workspace_id=workspace_id,
        name="Inbox sync",
        status="running",
        settings=CampaignSettings(**settings),
        steps=steps,
        created_at=now,
        updated_at=now,
    )
    CampaignRepository().insert(record)
    return record


def lab_account(lab: MailLab, prefix: str = "sender") -> MailAccount:
    return lab.add_account(f"{prefix}-{uuid.uuid4().hex[:10]}@{LAB_DOMAIN}", "sender-pass-1", "lab-mail")


@pytest.fixture
def aws_env(aws: None, mail_lab: MailLab) -> Iterator[dict[str, str]]:
    """moto KMS + the webhook and sync queues, wired through the settings the code reads."""
    if mail_lab.imap_backend != "dovecot":
        pytest.skip("the inbox sync tests need Dovecot")
    apply_moto_patches()
    key_id = boto3.client("kms", region_name="us-east-1").create_key(Description="mailbox secrets")["KeyMetadata"][
        "KeyId"
    ]
    sqs = boto3.client("sqs", region_name="us-east-1")
    env = {
        "KINDLING_KMS_KEY_ID": key_id,
        "KINDLING_WEBHOOK_QUEUE_URL": sqs.create_queue(QueueName="webhooks")["QueueUrl"],
        "KINDLING_SYNC_QUEUE_URL": sqs.create_queue(QueueName="sync")["QueueUrl"],
        "KINDLING_MAIL_CA_FILE": str(mail_lab.ca_path),
    }
    os.environ.update(env)
    reset_settings()
    platform_aws.reset_clients()
    yield env
    for name in env:
        os.environ.pop(name, None)
    reset_settings()


@pytest.fixture
def world(aws_env: dict[str, str], clock: ManualClock, mail_lab: MailLab) -> World:
    tenant = make_tenant()
    account = lab_account(mail_lab)
    mailbox = make_mailbox(tenant.workspace_id, account, clock)
    campaign = make_campaign(tenant.workspace_id, clock)
    world = World(tenant, mail_lab, account, mailbox, campaign, clock)
    # Someone who never answers keeps the campaign running (it completes once every enrollment has stopped).
    world.prospect(f"quiet-{uuid.uuid4().hex[:6]}@keep.test")
    return world


# --- raw messages ----------------------------------------------------------------------------------------------


def reply(
    sender: str,
    to: str,
    body: str,
    *,
    subject: str = "Re: Quick question",
    in_reply_to: str | None = None,
    headers: str = "",
) -> tuple[str, bytes]:
    mid = f"<reply.{uuid.uuid4().hex[:12]}@prospect.test>"
    thread = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to else ""
    raw = (
        f"From: Pat Prospect <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {formatdate()}\r\n"
        f"Message-ID: {mid}\r\n{thread}{headers}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"{body}\r\n"
    )
    return mid, raw.encode("utf-8")


def dsn(to: str, recipient: str, original_id: str, *, status: str = "5.1.1", action: str = "failed") -> bytes:
    code = "550" if status.startswith("5") else "452"
    boundary = f"dsn-{uuid.uuid4().hex[:8]}"
    return (
        f"From: MAILER-DAEMON@{LAB_DOMAIN} (Mail Delivery System)\r\nTo: {to}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nDate: {formatdate()}\r\n"
        f"Message-ID: <dsn.{uuid.uuid4().hex[:12]}@{LAB_DOMAIN}>\r\nAuto-Submitted: auto-replied\r\n"
        f'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        f"\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Your message could not be delivered to <{recipient}>.\r\n"
        f"\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.{LAB_DOMAIN}\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {code} {status} <{recipient}>: Recipient address rejected\r\n"
        f"\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {original_id}\r\nFrom: {to}\r\nTo: {recipient}\r\nSubject: Quick question\r\n"
        f"\r\n--{boundary}--\r\n"
    ).encode()


def arf(to: str, complainer: str, original_id: str) -> bytes:
    boundary = f"arf-{uuid.uuid4().hex[:8]}"
    return (
        f"From: Feedback <feedback@fbl.test>\r\nTo: {to}\r\nSubject: FW: Quick question\r\nDate: {formatdate()}\r\n"
        f"Message-ID: <arf.{uuid.uuid4().hex[:12]}@fbl.test>\r\n"
        f'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary="{boundary}"\r\n'
        f"\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n"
        f"\r\n--{boundary}\r\nContent-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: abuse\r\nUser-Agent: FBL/1.0\r\nVersion: 1\r\nOriginal-Mail-From: <{to}>\r\n"
        f"Original-Rcpt-To: <{complainer}>\r\n"
        f"\r\n--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n"
        f"Message-ID: {original_id}\r\nFrom: {to}\r\nTo: {complainer}\r\nSubject: Quick question\r\n\r\nHi\r\n"
        f"\r\n--{boundary}--\r\n"
    ).encode()


def angle(record: SendRecord) -> str:
    return f"<{record.message_id}>"


# --- replies ---------------------------------------------------------------------------------------------------


def test_reply_by_in_reply_to_stops_emits_once_and_threads(world: World) -> None:
    pat = world.prospect("pat@acme-corp.test")
    sent = world.send(pat)
    first_sync = world.sync()  # nothing has arrived yet
    assert first_sync.outcome == "synced" and first_sync.processed == []
    _, raw = reply(
        pat.email, world.account.email, "Sounds interesting! Can you send over more details?", in_reply_to=angle(sent)
    )
    world.deliver(raw)

    report = world.sync()
    (processed,) = report.processed
    assert (processed.kind, processed.match and processed.match.by) == ("reply", "message_id")
    assert processed.stopped and world.status(pat) == "replied"
    # Recorded on her email record too: every other campaign that stops on replies skips her.
    record = ProspectRepository().email_record(world.workspace_id, pat.email)
    assert record is not None and record.replied_at is not None
    conversation, messages = world.inbox().get(world.workspace_id, processed.conversation_id or "")
    assert conversation.id == campaign_conversation_id(world.mailbox.id, world.campaign.campaign_id, pat.id)
    assert (conversation.campaign_id, conversation.prospect_id, conversation.contact_email) == (
        world.campaign.campaign_id,
        pat.id,
        pat.email,
    )
    assert conversation.label == "interested" and conversation.is_positive
    assert conversation.unread_count == 1 and not conversation.is_read
    assert [m.direction for m in messages] == ["incoming"]
    assert messages[0].text_body.startswith("Sounds interesting!")
    (event,) = world.events("reply.received")
    assert event["prospectId"] == pat.id and event["campaignId"] == world.campaign.campaign_id
    assert event["mailboxId"] == world.mailbox.id and event["channel"] == "email"
    stats = CampaignRepository().get(world.workspace_id, world.campaign.campaign_id)
    assert stats.stats.replied == 1 and stats.step_stats[sent.step_id].replied == 1

    # A second reply (to step 2) joins the conversation; reply.received stays the first one, ever.
    sent2 = world.send(pat, step=1)
    _, raw2 = reply(pat.email, world.account.email, "Also: is there a free trial?", in_reply_to=angle(sent2))
    world.deliver(raw2)
    again = world.sync()
    assert [p.conversation_id for p in again.processed] == [conversation.id]
    _, messages = world.inbox().get(world.workspace_id, conversation.id)
    assert len(messages) == 2
    assert len(world.events("reply.received")) == 1
    assert CampaignRepository().get(world.workspace_id, world.campaign.campaign_id).stats.replied == 1
    # Idle: one STATUS per folder and no FETCH.
    idle = world.sync()
    assert idle.processed == [] and idle.fetches == 0
    assert all(f.commands == {"STATUS": 1} and f.mode == "idle" for f in idle.folders)
    assert {f.folder for f in idle.folders} == {"INBOX", "Junk"}


def test_reply_matched_by_sender_and_recent_send(world: World) -> None:
    kim = world.prospect("kim@initech.test")
    world.send(kim)
    # No In-Reply-To (a client that starts a new thread): the sender and the recent send decide.
    _, raw = reply(kim.email, world.account.email, "We're not interested, thanks.", subject="Your email")
    world.deliver(raw)
    (processed,) = world.sync().processed
    assert processed.match is not None and processed.match.by == "recent_send"
    assert processed.match.prospect_id == kim.id
    conversation, _ = world.inbox().get(world.workspace_id, processed.conversation_id or "")
    assert conversation.label == "not_interested" and not conversation.is_positive
    assert len(world.events("reply.received")) == 1


def test_stop_on_reply_off_records_but_does_not_stop(world: World, clock: ManualClock) -> None:
    world.campaign = make_campaign(world.workspace_id, clock, stop_on_reply=False)
    lee = world.prospect("lee@globex.test")
    sent = world.send(lee)
    world.deliver(reply(lee.email, world.account.email, "Can we set up a quick call?", in_reply_to=angle(sent))[1])
    (processed,) = world.sync().processed
    assert processed.actions.record_reply and not processed.stopped
    assert world.status(lee) == "pending"
    assert len(world.events("reply.received")) == 1


def test_unknown_sender_is_a_conversation_only(world: World) -> None:
    _, raw = reply("stranger@elsewhere.test", world.account.email, "Hello, who is this?", subject="Hi")
    world.deliver(raw)
    (processed,) = world.sync().processed
    assert processed.match is None and processed.kind == "reply"
    conversation, _ = world.inbox().get(world.workspace_id, processed.conversation_id or "")
    assert conversation.campaign_id is None and conversation.label == "question"
    assert world.events("reply.received") == []


def test_out_of_office_in_german_never_stops_and_never_counts(world: World) -> None:
    jo = world.prospect("jo@muster.test")
    sent = world.send(jo)
    body = "Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich 14. Juni nicht im Büro."
    _, raw = reply(
        jo.email,
        world.account.email,
        body,
        subject="Abwesenheitsnotiz: Quick question",
        in_reply_to=angle(sent),
        headers="Auto-Submitted: auto-replied\r\n",
    )
    world.deliver(raw)
    (processed,) = world.sync().processed
    assert processed.kind == "out_of_office" and processed.match is not None
    assert not processed.stopped and world.status(jo) == "pending"
    assert world.events("reply.received") == []
    conversation, messages = world.inbox().get(world.workspace_id, processed.conversation_id or "")
    assert conversation.label == "out_of_office" and messages[0].kind == "out_of_office"
    assert CampaignRepository().get(world.workspace_id, world.campaign.campaign_id).stats.replied == 0


def test_an_auto_reply_after_a_real_reply_does_not_resume_the_sequence(world: World) -> None:
    """The detected out-of-office goes through the same resume rule as a hand-set label, and that rule reads the
    conversation's label: a real reply ("interested") is never hidden by an auto-reply, so Pat stays stopped."""
    pat = world.prospect("pat@initrode.test")
    sent = world.send(pat)
    world.deliver(reply(pat.email, world.account.email, "Sounds great, tell me more!", in_reply_to=angle(sent))[1])
    (first,) = world.sync().processed
    assert first.stopped and world.status(pat) == "replied"
    world.clock.advance(timedelta(hours=1))
    _, raw = reply(
        pat.email,
        world.account.email,
        "I am out of the office until Monday with limited access to email.",
        subject="Automatic reply: Re: Quick question",
        in_reply_to=angle(sent),
        headers="Auto-Submitted: auto-replied\r\n",
    )
    world.deliver(raw)
    (second,) = world.sync().processed
    assert second.kind == "out_of_office" and second.conversation_id == first.conversation_id
    conversation, _ = world.inbox().get(world.workspace_id, second.conversation_id or "")
    assert conversation.label == "interested"
    assert world.status(pat) == "replied"
    record = ProspectRepository().email_record(world.workspace_id, pat.email)
    assert record is not None and record.replied_at is not None


def test_unsubscribe_by_reply_suppresses_and_stops(world: World) -> None:
    sam = world.prospect("sam@umbrella.test")
    sent = world.send(sam)
    world.deliver(reply(sam.email, world.account.email, "Please remove me from your list.", in_reply_to=angle(sent))[1])
    (processed,) = world.sync().processed
    assert processed.actions.suppress == "unsubscribe"
    assert world.status(sam) == "unsubscribed"
    check = SuppressionService().check(world.workspace_id, sam.email)
    assert check.blocked and check.entry is not None and check.entry.source == "unsubscribe"
    assert ProspectService().get(world.workspace_id, sam.id).global_status == "unsubscribed"
    assert [e["prospectId"] for e in world.events("email.unsubscribed")] == [sam.id]
    assert [e["reason"] for e in world.events("prospect.suppressed")] == ["unsubscribe"]
    assert len(world.events("reply.received")) == 1


def test_unsubscribe_from_another_address_suppresses_the_prospect(world: World) -> None:
    sam = world.prospect("sam.lee@umbrella.test")
    sent = world.send(sam)
    # Answered from a personal alias; In-Reply-To still names our email.
    world.deliver(reply("sammy@home.test", world.account.email, "Unsubscribe", in_reply_to=angle(sent))[1])
    (processed,) = world.sync().processed
    assert processed.match is not None and processed.match.by == "message_id"
    assert SuppressionService().check(world.workspace_id, sam.email).blocked
    assert world.status(sam) == "unsubscribed"


# --- bounces, complaints, warmup -------------------------------------------------------------------------------


def test_hard_bounce_dsn_bounces_suppresses_and_emits(world: World) -> None:
    gone = world.prospect("gone@acme-corp.test")
    sent = world.send(gone)
    world.deliver(dsn(world.account.email, gone.email, angle(sent)))
    (processed,) = world.sync().processed
    assert processed.kind == "bounce" and processed.match is not None and processed.match.by == "message_id"
    assert processed.conversation_id is None
    assert world.status(gone) == "bounced"
    assert ProspectService().get(world.workspace_id, gone.id).global_status == "bounced"
    assert [e["reason"] for e in world.events("prospect.suppressed")] == ["hard_bounce"]
    check = SuppressionService().check(world.workspace_id, gone.email)
    assert check.blocked and check.entry is not None and check.entry.source == "bounce"
    (event,) = world.events("email.bounced")
    assert event["bounceType"] == "hard" and event["prospectEmail"] == gone.email
    assert "5.1.1" in event["bounceReason"]
    (record,) = InboxRepository().bounces(world.workspace_id)
    assert (record.bounce_type, record.recipient, record.send_id) == ("hard", gone.email, sent.send_id)
    assert CampaignRepository().get(world.workspace_id, world.campaign.campaign_id).stats.bounced == 1


def test_late_bounces_found_by_sync_activate_bounce_shield(world: World) -> None:
    shield = BounceShieldService()
    shield.update(world.workspace_id, BounceShieldUpdate(threshold_percent=8, window_type="sends", window_sends=20))
    # The sender counted 20 sends this hour (it records its batches in the shield's hour bucket).
    BounceShieldRepository().record(world.workspace_id, world.clock.now(), 20, [])
    first, second = world.prospect("gone1@acme-corp.test"), world.prospect("gone2@acme-corp.test")
    world.deliver(dsn(world.account.email, first.email, angle(world.send(first))))
    world.sync()  # 1 of 20 = 5%: not above 8%
    assert world.events("bounce_shield.activated") == []
    assert CampaignRepository().get(world.workspace_id, world.campaign.campaign_id).status == "running"
    world.deliver(dsn(world.account.email, second.email, angle(world.send(second))))
    world.sync()  # 2 of 20 = 10%
    (event,) = world.events("bounce_shield.activated")
    assert (event["sent"], event["bounced"], event["bounceRate"]) == (20, 2, 10.0)
    campaign = CampaignRepository().get(world.workspace_id, world.campaign.campaign_id)
    assert (campaign.status, campaign.paused_reason) == ("paused", "bounce_shield")
    assert event["pausedCampaignIds"] == [world.campaign.campaign_id]


def test_soft_bounce_is_only_recorded(world: World) -> None:
    full = world.prospect("full@acme-corp.test")
    sent = world.send(full)
    world.deliver(dsn(world.account.email, full.email, angle(sent), status="4.2.2", action="delayed"))
    (processed,) = world.sync().processed
    assert processed.actions.bounce == "soft"
    assert world.status(full) == "pending" and world.events("email.bounced") == []
    assert not SuppressionService().check(world.workspace_id, full.email).blocked
    assert ProspectService().get(world.workspace_id, full.id).global_status == "active"
    (record,) = InboxRepository().bounces(world.workspace_id)
    assert record.bounce_type == "soft" and record.campaign_id == world.campaign.campaign_id


def test_three_hard_bounces_from_a_domain_within_a_week_blocklist_it(world: World, clock: ManualClock) -> None:
    domain = f"dead-{uuid.uuid4().hex[:6]}.test"
    blocklist = WarmupBlocklistRepository()
    for n in range(3):
        person = world.prospect(f"p{n}@{domain}")
        sent = world.send(person)
        world.deliver(dsn(world.account.email, person.email, angle(sent)))
        world.sync()
        assert blocklist.blocklist().blocks(domain) == (n == 2)
        clock.advance(timedelta(days=2))
    entry = blocklist.blocklist().entry_for(f"mx.{domain}")
    assert entry is not None and entry.source == "bounces"


def test_bounces_spread_over_more_than_a_week_do_not_blocklist(world: World, clock: ManualClock) -> None:
    domain = f"slow-{uuid.uuid4().hex[:6]}.test"
    for n in range(3):
        person = world.prospect(f"p{n}@{domain}")
        world.deliver(dsn(world.account.email, person.email, angle(world.send(person))))
        world.sync()
        clock.advance(timedelta(days=4))
    assert not WarmupBlocklistRepository().blocklist().blocks(domain)


def test_spam_complaint_is_counted_once_and_suppresses(world: World) -> None:
    ann = world.prospect("ann@hooli.test")
    sent = world.send(ann)
    world.deliver(arf(world.account.email, ann.email, angle(sent)))
    world.deliver(arf(world.account.email, ann.email, angle(sent)))  # the same complaint reported twice
    report = world.sync()
    assert [p.kind for p in report.processed] == ["complaint", "complaint"]
    state = SendingRepository().campaign_state(world.workspace_id, world.campaign.campaign_id)
    assert state is not None and state.complaints == 1  # what campaign safety reads
    assert SuppressionService().check(world.workspace_id, ann.email).blocked
    assert world.status(ann) == "unsubscribed"


def test_warmup_mail_goes_to_the_warmup_hook_only(world: World) -> None:
    _, raw = reply(
        "peer@lab-junk.test", world.account.email, "Thanks, sounds great!", subject="Catching up [ref: AB12CD34]"
    )
    world.deliver(raw)
    (processed,) = world.sync().processed
    assert processed.kind == "warmup" and processed.conversation_id is None
    assert world.warmup_seen == [("INBOX", processed.key)]
    page, _ = world.inbox().page(world.workspace_id, ConversationFilters(), 50, None)
    assert page == []


# --- cursors, dedupe, lease ------------------------------------------------------------------------------------


def test_the_same_message_in_two_folders_is_handled_once(world: World) -> None:
    mid, raw = reply("twice@elsewhere.test", world.account.email, "Is this still available?", subject="Hi")
    world.deliver(raw)
    world.deliver(raw, "Junk")
    report = world.sync()
    assert [(p.folder, p.key) for p in report.processed] == [("INBOX", mid)]
    junk = next(f for f in report.folders if f.folder == "Junk")
    assert junk.skipped == 1


def test_a_resync_after_uidvalidity_changes_reads_nothing_twice(world: World) -> None:
    world.deliver(reply("one@elsewhere.test", world.account.email, "First?", subject="Hi")[1])
    assert len(world.sync().processed) == 1
    # The folder's cursor now names a UIDVALIDITY the server no longer has (as after a mailbox rebuild).
    repo = InboxRepository()
    cursor = repo.cursors(world.workspace_id, world.mailbox.id)["INBOX"]
    repo.save_cursor(
        world.workspace_id, world.mailbox.id, "INBOX", FolderCursor(cursor.uidvalidity + 1, 99), world.clock.now()
    )
    second, raw = reply("two@elsewhere.test", world.account.email, "Second?", subject="Hi")
    world.deliver(raw)
    report = world.sync()
    inbox = next(f for f in report.folders if f.folder == "INBOX")
    assert inbox.mode == "resync" and inbox.skipped == 1
    assert [p.key for p in report.processed] == [second]


def test_a_second_concurrent_sync_of_one_mailbox_backs_off(world: World) -> None:
    repo = InboxRepository()
    assert repo.acquire_sync(world.workspace_id, world.mailbox.id, "other", world.clock.now(), timedelta(minutes=3))
    assert world.sync().outcome == "busy"
    world.clock.advance(timedelta(minutes=4))  # the other holder crashed: its lease runs out
    assert world.sync().outcome == "synced"


def test_a_vanished_folder_does_not_stop_the_others(world: World) -> None:
    repo = InboxRepository()
    # The folders found last time name a Junk folder the user has since deleted.
    assert repo.acquire_sync(world.workspace_id, world.mailbox.id, "seed", world.clock.now(), timedelta(minutes=3))
    repo.release_sync(
        world.workspace_id,
        world.mailbox.id,
        "seed",
        auth_failures=0,
        generation=world.mailbox.generation,
        folders={"inbox": "INBOX", "junk": "Old Spam", "sent": None, "trash": None},
        error_code=None,
        summary=SyncSummary("synced"),
        now=world.clock.now(),
    )
    world.deliver(reply("still@elsewhere.test", world.account.email, "Still there?", subject="Hi")[1])
    report = world.sync()
    assert report.outcome == "synced" and [p.folder for p in report.processed] == ["INBOX"]
    again = world.sync()  # discovered again: the real Junk folder
    assert {f.folder for f in again.folders} == {"INBOX", "Junk"} and again.processed == []


# --- connection errors and auth failures -----------------------------------------------------------------------


def test_ten_consecutive_auth_failures_mark_the_mailbox_disconnected(world: World, clock: ManualClock) -> None:
    account = lab_account(world.lab, "locked")
    mailbox = make_mailbox(world.workspace_id, account, clock, password="not-the-password")
    first = world.sync(mailbox)  # a real refusal from Dovecot
    assert (first.outcome, first.error_code, first.auth_failures) == ("auth_failed", "auth_failed", 1)

    def refuse(endpoint: Endpoint, tls: TlsPolicy) -> Any:
        raise ImapSyncError("auth_failed", "[AUTHENTICATIONFAILED] Authentication failed.")

    # The rest without Dovecot's 2 s delay per failed login; the count lives in the table, not in the process.
    outcomes = [world.syncer(connect=refuse).sync(world.workspace_id, mailbox.id).outcome for _ in range(9)]
    assert outcomes == ["auth_failed"] * 8 + ["mailbox_error"]
    stored = MailboxRepository().get(world.workspace_id, mailbox.id)
    # It worked before: `disconnected` (an outage the reconnect sweep re-tests), with the login's code.
    assert (stored.status, stored.last_test_code, stored.health_status) == ("disconnected", "auth_failed", "error")
    assert stored.disconnected_since == clock.now() and stored.next_retest_at == clock.now() + timedelta(minutes=15)
    assert stored.last_test_error and stored.last_test_error.startswith("auth_failed (IMAP)")
    assert world.sync(stored).outcome == "skipped"  # disconnected mailboxes are not synced
    summary = InboxRepository().sync_summary(world.workspace_id, mailbox.id)
    assert summary is not None and summary["auth_failures"] == 10  # spec decisions: 10 consecutive auth failures


def test_a_successful_login_or_new_credentials_restart_the_count(world: World, clock: ManualClock) -> None:
    def refuse(endpoint: Endpoint, tls: TlsPolicy) -> Any:
        raise ImapSyncError("auth_failed")

    for _ in range(5):
        world.syncer(connect=refuse).sync(world.workspace_id, world.mailbox.id)
    assert world.sync().auth_failures == 0  # the real password works: the streak is over
    for _ in range(9):
        world.syncer(connect=refuse).sync(world.workspace_id, world.mailbox.id)
    repo = MailboxRepository()
    current = repo.get(world.workspace_id, world.mailbox.id)
    repo.replace(current.model_copy(update={"generation": current.generation + 1}), current.version)
    report = world.syncer(connect=refuse).sync(world.workspace_id, world.mailbox.id)
    assert (report.outcome, report.auth_failures) == ("auth_failed", 1)  # new credentials, new count


def test_connection_errors_are_classified_and_acknowledged(world: World, clock: ManualClock) -> None:
    account = lab_account(world.lab, "down")
    mailbox = make_mailbox(world.workspace_id, account, clock, imap_port=free_port())
    report = world.sync(mailbox)
    assert (report.outcome, report.error_code, report.auth_failures) == ("connection_error", "connection_refused", 0)
    summary = InboxRepository().sync_summary(world.workspace_id, mailbox.id)
    assert summary is not None and summary["last_error_code"] == "connection_refused"
    assert MailboxRepository().get(world.workspace_id, mailbox.id).status == "connected"


def test_a_changed_certificate_marks_the_mailbox_disconnected_before_any_login(
    world: World, clock: ManualClock, tmp_path: Path
) -> None:
    """Pinned at test time to one self-signed certificate; the IMAP endpoint now presents another (a relay with
    its own certificate in front of the lab's IMAP port): no LOGIN, and the mailbox says why at once."""
    certs = CertFactory(tmp_path / "certs")
    pinned, impostor = certs.leaf("pinned", self_signed=True), certs.leaf("impostor", self_signed=True)
    account = lab_account(world.lab, "pinned")
    with TlsRelay(impostor, world.lab.imap_port) as relay:
        mailbox = make_mailbox(
            world.workspace_id,
            account,
            clock,
            imap_host="127.0.0.1",
            imap_port=relay.port,
            imap_security="ssl",
            imap_tls_pin=pinned.fingerprint,
        )
        report = world.sync(mailbox)
    assert (report.outcome, report.error_code, report.auth_failures) == ("mailbox_error", "tls_certificate_changed", 0)
    received = bytes(relay.received)
    assert b"LOGIN" not in received.upper() and account.password.encode() not in received
    stored = MailboxRepository().get(world.workspace_id, mailbox.id)
    assert (stored.status, stored.last_test_code) == ("disconnected", "tls_certificate_changed")
    assert stored.last_test_error and stored.last_test_error.startswith(
        "tls_certificate_changed (IMAP): The server's certificate changed since you tested this mailbox; re-test it"
    )
    assert stored.imap_tls_pin == pinned.fingerprint  # kept until the user's re-test replaces it


# --- the Lambda handler ----------------------------------------------------------------------------------------


def load_handler() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "kindling_inbox_sync_app", REPO / "functions" / "inbox_sync" / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sqs_event(*bodies: str) -> dict[str, Any]:
    template = json.loads((REPO / "events" / "inbox_sync.json").read_text())["Records"][0]
    return {"Records": [{**template, "body": body, "messageId": f"msg-{n}"} for n, body in enumerate(bodies)]}


@dataclass
class FakeContext:
    remaining_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_handler_reports_only_the_failing_record(world: World, clock: ManualClock) -> None:
    down = make_mailbox(world.workspace_id, lab_account(world.lab, "down"), clock, imap_port=free_port())
    world.deliver(reply("someone@elsewhere.test", world.account.email, "Any news?", subject="Hi")[1])
    app = load_handler()
    event = sqs_event(
        sync_message(world.workspace_id, down.id),  # unreachable: recorded, acknowledged
        "{not json",  # a poison message: that record alone fails
        sync_message(world.workspace_id, world.mailbox.id),  # synced although its neighbour failed
    )
    response = app.handler(event, FakeContext(100_000))
    assert response["batchItemFailures"] == [{"itemIdentifier": "msg-1"}]
    page, _ = world.inbox().page(world.workspace_id, ConversationFilters(), 50, None)
    assert [c.contact_email for c in page] == ["someone@elsewhere.test"]
    summary = InboxRepository().sync_summary(world.workspace_id, down.id)
    assert summary is not None and summary["last_error_code"] == "connection_refused"

    # Too little time left to start a sync: the record is not started and SQS delivers it again (a batch whose
    # every record failed makes the invocation fail, which Lambda also retries).
    with pytest.raises(BatchProcessingError, match="All records failed"):
        app.handler(sqs_event(sync_message(world.workspace_id, world.mailbox.id)), FakeContext(10_000))


# --- the fan-out -----------------------------------------------------------------------------------------------


def test_fanout_queues_one_message_per_connected_mailbox(world: World, clock: ManualClock) -> None:
    """Connected mailboxes of every workspace, and only those; each message then syncs its mailbox."""
    other = make_tenant(name="Other")
    elsewhere = make_mailbox(other.workspace_id, lab_account(world.lab, "other"), clock)
    broken = make_mailbox(world.workspace_id, lab_account(world.lab, "broken"), clock)
    repo = MailboxRepository()
    current = repo.get(world.workspace_id, broken.id)
    repo.replace(current.model_copy(update={"status": "error"}), current.version)
    testing = make_mailbox(world.workspace_id, lab_account(world.lab, "testing"), clock, status="testing")

    assert SyncFanout().run() == 2
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = os.environ["KINDLING_SYNC_QUEUE_URL"]
    bodies = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [m["Body"] for m in got]
        for message in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    queued = sorted(parse_sync_message(b) for b in bodies)
    assert queued == sorted([(world.workspace_id, world.mailbox.id), (other.workspace_id, elsewhere.id)])
    assert testing.id not in {m for _, m in queued}

    # Back to connected (after a successful re-test): queued again.
    current = repo.get(world.workspace_id, broken.id)
    repo.replace(current.model_copy(update={"status": "connected"}), current.version)
    assert SyncFanout().run() == 3
    response = load_handler().handler(sqs_event(*bodies), FakeContext(100_000))
    assert response["batchItemFailures"] == []
