"""Builders for the sending engine's integration tests: moto (DynamoDB, KMS, SQS) plus a real SMTP sink on
127.0.0.1, mailboxes with KMS-encrypted passwords, campaigns stored through the campaigns repository, prospects
enrolled through the enrollments service, and a queue that hands the scheduler's jobs to the sender in-process."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3

from kindling.campaigns.models import (
    CampaignMailbox,
    CampaignRecord,
    CampaignSettings,
    StepRecord,
    VariantRecord,
)
from kindling.campaigns.repository import CampaignRepository
from kindling.enrollments.repository import EnrollmentItem
from kindling.enrollments.service import EnrollmentService
from kindling.events.models import DomainEvent
from kindling.events.service import EventService
from kindling.mail.connection import TlsPolicy
from kindling.mail.smtp import SmtpSender
from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.repository import MailboxRepository
from kindling.mailboxes.secrets import KmsSecretBox
from kindling.platform import aws as aws_clients
from kindling.platform.clock import ManualClock
from kindling.platform.dynamo import batch_write
from kindling.platform.ids import new_uuid, prefixed_id
from kindling.platform.keys import campaign_pk, enrollment_sk
from kindling.platform.settings import reset_settings
from kindling.prospects.models import Prospect
from kindling.prospects.repository import new_email_record, prospect_item
from kindling.sending.ledger import SendLedgerRepository, SendRecord, send_id_for
from kindling.sending.messages import SendMessage
from kindling.sending.repository import SendingRepository
from kindling.sending.scheduler import Scheduler, TickReport
from kindling.sending.sender import BatchResult, Sender

if TYPE_CHECKING:  # the conftest imports this module for its `world` fixture
    from tests.integration.sending.conftest import SinkServer

TRACKING_SECRET = "integration-tracking-secret"  # a test value, not a credential


class ListPublisher:
    """Domain events as published (after the dedup write), for assertions."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def publish(self, event: DomainEvent) -> None:
        self.events.append(event)

    def of(self, event_type: str) -> list[DomainEvent]:
        return [e for e in self.events if e.type == event_type]


class ListQueue:
    """The send queue as a list: what the scheduler enqueued, in order (delays recorded, not waited for)."""

    def __init__(self) -> None:
        self.jobs: list[SendMessage] = []
        self.delays: list[float] = []

    def send(self, jobs: Sequence[SendMessage], now: datetime) -> None:
        for job in jobs:
            self.jobs.append(job)
            self.delays.append((job.send_at - now).total_seconds())

    def take(self) -> list[SendMessage]:
        taken, self.jobs, self.delays = self.jobs, [], []
        return taken


def setup_aws_extras() -> dict[str, str]:
    """KMS key for mailbox passwords, a webhook queue for domain events, the tracking secret."""
    key_id = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["KeyId"]
    queue = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="webhooks")["QueueUrl"]
    send_queue = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="send")["QueueUrl"]
    env = {
        "KINDLING_KMS_KEY_ID": key_id,
        "KINDLING_WEBHOOK_QUEUE_URL": queue,
        "KINDLING_SEND_QUEUE_URL": send_queue,
        "KINDLING_TRACKING_SECRET": TRACKING_SECRET,
        "KINDLING_PUBLIC_BASE_URL": "https://track.example.test",
    }
    os.environ.update(env)
    reset_settings()
    aws_clients.reset_clients()
    return env


def clear_aws_extras(env: dict[str, str]) -> None:
    for name in env:
        os.environ.pop(name, None)
    reset_settings()


@dataclass
class World:
    workspace_id: str
    clock: ManualClock
    server: SinkServer
    queue: ListQueue = field(default_factory=ListQueue)
    published: ListPublisher = field(default_factory=ListPublisher)

    def __post_init__(self) -> None:
        events = EventService(publisher=self.published, clock=self.clock)
        self.scheduler = Scheduler(queue=self.queue, clock=self.clock, events=events)
        self.sender = Sender(
            smtp=SmtpSender(tls=TlsPolicy(allow_private_addresses=True), timeout=5.0), clock=self.clock, events=events
        )
        self.repo = SendingRepository()
        self.ledger = SendLedgerRepository()

    # --- builders ------------------------------------------------------------------------------------------------

    def mailbox(self, email: str | None = None, *, daily_limit: int = 50, name: str = "Sam Sender") -> Mailbox:
        now = self.clock.now()
        mailbox_id = new_uuid()
        box = KmsSecretBox()
        login = self.server.endpoint()  # the sink's host and its one account
        mailbox = Mailbox(
            id=mailbox_id,
            workspace_id=self.workspace_id,
            email_address=email or login.username,
            display_name=name,
            status="connected",
            daily_send_limit=daily_limit,
            smtp_host=login.host,
            smtp_port=self.server.port,
            smtp_username=login.username,
            smtp_security="none",
            smtp_password_enc=box.encrypt(self.workspace_id, mailbox_id, login.password),
            imap_host=login.host,
            imap_port=1,
            imap_username=login.username,
            imap_security="none",
            imap_password_enc=box.encrypt(self.workspace_id, mailbox_id, login.password),
            created_at=now,
            updated_at=now,
        )
        MailboxRepository().insert(mailbox)
        return mailbox

    def campaign(
        self,
        mailboxes: Sequence[Mailbox],
        steps: Sequence[Any],
        *,
        status: str = "running",
        mailbox_limits: dict[str, int] | None = None,
        **settings: Any,
    ) -> CampaignRecord:
        now = self.clock.now()
        records = []
        for index, spec in enumerate(steps):
            variants = spec.get("variants") or [
                {"subject": spec.get("subject"), "body_html": spec.get("body_html", "<p>Hello</p>")}
            ]
            records.append(
                StepRecord(
                    id=new_uuid(),
                    step_index=index,
                    delay_days=spec.get("delay_days", 0 if index == 0 else 1),
                    delay_hours=spec.get("delay_hours"),
                    send_as_reply=spec.get("send_as_reply"),
                    is_active=spec.get("is_active", True),
                    variants=[
                        VariantRecord(id=new_uuid(), letter=chr(ord("A") + n), weight=v.pop("weight", 100), **v)
                        for n, v in enumerate(dict(v) for v in variants)
                    ],
                    letters_used=len(variants),
                    created_at=now,
                    updated_at=now,
                )
            )
        limits = mailbox_limits or {}
        record = CampaignRecord(
            campaign_id=new_uuid(),
            workspace_id=self.workspace_id,
            name="Engine test",
            status=status,  # type: ignore[arg-type]
            started_at=now if status == "running" else None,
            settings=CampaignSettings(**{"schedule_days": [1, 2, 3, 4, 5, 6, 7], **settings}),
            mailboxes=[
                CampaignMailbox(mailbox_id=m.id, added_at=now, max_sends_per_mailbox_per_day=limits.get(m.id))
                for m in mailboxes
            ],
            steps=records,
            created_at=now,
            updated_at=now,
            **({"paused_reason": "api", "paused_at": now} if status == "paused" else {}),
        )
        CampaignRepository().insert(record)
        return record

    def prospects(self, emails: Sequence[str], **fields: Any) -> list[Prospect]:
        now = self.clock.now()
        prospects = [
            Prospect(
                id=new_uuid(),
                workspace_id=self.workspace_id,
                email=email,
                first_name=fields.get("first_name", email.split("@")[0].capitalize()),
                company=fields.get("company", "Acme"),
                custom_fields=fields.get("custom_fields", {}),
                created_at=now,
                updated_at=now,
            )
            for email in emails
        ]
        batch_write([item for p in prospects for item in (prospect_item(p), new_email_record(p))])
        return prospects

    def enroll(self, campaign: CampaignRecord, prospects: Sequence[Prospect]) -> None:
        EnrollmentService(clock=self.clock).enroll(
            self.workspace_id, campaign.campaign_id, prospect_ids=[p.id for p in prospects]
        )
        self.repo.schedule_pending(self.workspace_id, campaign.campaign_id, self.clock.now())

    # --- running -------------------------------------------------------------------------------------------------

    def tick(self, advance: timedelta = timedelta(0)) -> TickReport:
        if advance:
            self.clock.advance(advance)
        return self.scheduler.tick()

    def send(self, jobs: Sequence[SendMessage] | None = None) -> BatchResult:
        return self.sender.process(self.queue.take() if jobs is None else jobs)

    def run(self, advance: timedelta = timedelta(0)) -> tuple[TickReport, BatchResult]:
        report = self.tick(advance)
        return report, self.send()

    # --- reading -------------------------------------------------------------------------------------------------

    def enrollment(self, campaign: CampaignRecord, prospect: Prospect) -> EnrollmentItem:
        return EnrollmentItem.get(
            campaign_pk(self.workspace_id, campaign.campaign_id), enrollment_sk(prospect.id), consistent_read=True
        )

    def enrollment_of(self, job: SendMessage) -> EnrollmentItem:
        return EnrollmentItem.get(
            campaign_pk(job.workspace_id, job.campaign_id), enrollment_sk(job.prospect_id), consistent_read=True
        )

    def send_record(self, campaign: CampaignRecord, prospect: Prospect, step_index: int) -> SendRecord:
        item = self.enrollment(campaign, prospect)
        step = CampaignRepository().get(self.workspace_id, campaign.campaign_id).steps[step_index]
        return self.ledger.get(self.workspace_id, send_id_for(item.enrollment_id, step.id))

    def delivered_to(self, address: str) -> list[Any]:
        return [d for d in self.server.handler.delivered if address in d.rcpt_tos]


def new_workspace() -> str:
    return prefixed_id("ws")


def jobs_by_recipient(jobs: Sequence[SendMessage]) -> Iterator[tuple[str, SendMessage]]:
    for job in jobs:
        yield job.recipient, job
