"""Sending warmup email over SMTP: the sender function's warmup jobs and the receiving side's replies.

A warmup job passes a gate before its SMTP transaction (its exchange item moves queued -> sending with a
conditional write), so a duplicate queue delivery never sends twice. Outcomes are counted on the sending
mailbox's daily row (the day the tick planned it on): `sent` (+ `bounced` for a hard bounce). A hard bounce
also records a bounce from the recipient's domain for the bounce rule (3 in 7 days blocklist the domain).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from kindling.mailboxes.connection import Endpoint, TlsPolicy
from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.repository import MailboxRepository
from kindling.mailboxes.secrets import KmsSecretBox, SecretBox
from kindling.platform.clock import Clock, get_clock
from kindling.platform.errors import NotFound
from kindling.platform.observability import get_logger
from kindling.platform.settings import get_settings
from kindling.sending.outcomes import Outcome
from kindling.sending.smtp import Batch, Outgoing, SmtpSender
from kindling.warmup.content import WarmupEmail, build_message, compose_message
from kindling.warmup.counters import DailyCounters
from kindling.warmup.engine import WarmupSendJob
from kindling.warmup.pool_index import WarmupPoolRepository
from kindling.warmup.protection import BOUNCE_WINDOW, bounce_entries, domain_of
from kindling.warmup.repository import WarmupRepository


def message_id_for(exchange: str, from_address: str, *, reply: bool = False) -> str:
    """A stable Message-ID per exchange email (a retried send carries the same one)."""
    return f"<{exchange}{'.re' if reply else ''}@{domain_of(from_address)}>"


@dataclass
class DeliveryResult:
    sent: int = 0
    bounced: int = 0
    failed: int = 0
    skipped: int = 0
    outcomes: dict[str, str] = field(default_factory=dict)


class WarmupMailer:
    """SMTP for warmup mail: decrypts a mailbox's password once per process, one connection per mailbox."""

    def __init__(self, secrets: SecretBox | None = None, smtp: SmtpSender | None = None) -> None:
        self._secrets = secrets
        self._smtp = smtp
        self._passwords: dict[str, str] = {}

    @property
    def smtp(self) -> SmtpSender:
        if self._smtp is None:
            self._smtp = SmtpSender(tls=TlsPolicy(extra_ca_file=get_settings().mail_ca_file))
        return self._smtp

    def endpoint(self, mailbox: Mailbox) -> Endpoint:
        cipher = mailbox.smtp_password_enc
        if cipher not in self._passwords:
            secrets = self._secrets or KmsSecretBox()
            self._secrets = secrets
            self._passwords[cipher] = secrets.decrypt(mailbox.workspace_id, mailbox.id, cipher)
        return Endpoint(
            mailbox.smtp_host, mailbox.smtp_port, mailbox.smtp_username, self._passwords[cipher], mailbox.smtp_security
        )

    def outgoing(
        self,
        key: str,
        email: WarmupEmail,
        mailbox: Mailbox,
        to_address: str,
        to_name: str | None,
        *,
        reply: bool,
        now: datetime,
    ) -> Outgoing:
        message = build_message(
            email,
            from_address=mailbox.email_address,
            from_name=mailbox.display_name,
            to_address=to_address,
            to_name=to_name,
            message_id=message_id_for(email.exchange_id, mailbox.email_address, reply=reply),
            sent_at=now,
        )
        return Outgoing(key, mailbox.email_address, to_address, message.as_bytes())


class WarmupDelivery:
    """The sender function's warmup jobs (kind `warmup` on the send queue)."""

    def __init__(
        self,
        pool: WarmupPoolRepository | None = None,
        warmup: WarmupRepository | None = None,
        mailboxes: MailboxRepository | None = None,
        mailer: WarmupMailer | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._pool = pool or WarmupPoolRepository()
        self._warmup = warmup or WarmupRepository()
        self._mailboxes = mailboxes or MailboxRepository()
        self._mailer = mailer or WarmupMailer()
        self._clock = clock

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    def process(self, jobs: Sequence[WarmupSendJob]) -> DeliveryResult:
        result = DeliveryResult()
        now = self._now()
        distinct = {job.exchange_id: job for job in jobs}
        grouped: dict[tuple[str, str], list[WarmupSendJob]] = {}
        for job in distinct.values():
            grouped.setdefault((job.workspace_id, job.mailbox_id), []).append(job)
        batches: list[Batch] = []
        for (ws, mid), group in grouped.items():
            try:
                mailbox = self._mailboxes.get(ws, mid)
            except NotFound:
                mailbox = None
            if mailbox is None or mailbox.is_deleted or mailbox.status != "connected" or not mailbox.sending_enabled:
                for job in group:
                    self._pool.move_exchange(job.exchange_id, "queued", "failed")
                    result.skipped += 1
                    result.outcomes[job.exchange_id] = "mailbox_unusable"
                continue
            messages = []
            for job in sorted(group, key=lambda j: j.send_at):
                email = compose_message(job.exchange_id, sender_name=job.from_name, recipient_name=job.recipient_name)
                messages.append(
                    self._mailer.outgoing(
                        job.exchange_id, email, mailbox, job.recipient, job.recipient_name, reply=False, now=now
                    )
                )
            batches.append(Batch(mid, self._mailer.endpoint(mailbox), messages))
        if not batches:
            return result

        async def gate(message: Outgoing) -> bool:
            return await asyncio.to_thread(self._pool.move_exchange, message.key, "queued", "sending")

        reports = asyncio.run(self._mailer.smtp.send_batches(batches, before_send=gate))
        for report in reports:
            for res in report.results:
                job = distinct[res.key]
                result.outcomes[job.exchange_id] = str(res.outcome)
                if res.outcome is Outcome.SKIPPED:
                    result.skipped += 1
                elif res.outcome in (Outcome.SENT, Outcome.UNKNOWN):
                    self._pool.move_exchange(job.exchange_id, "sending", "sent")
                    self._count(job, now, DailyCounters(job.day, sent=1))
                    result.sent += 1
                elif res.outcome is Outcome.HARD_BOUNCE:
                    self._pool.move_exchange(job.exchange_id, "sending", "bounced")
                    self._count(job, now, DailyCounters(job.day, sent=1, bounced=1))
                    record_bounce(domain_of(job.recipient), now, job.exchange_id)
                    result.bounced += 1
                else:
                    self._pool.move_exchange(job.exchange_id, "sending", "failed")
                    result.failed += 1
        return result

    def _count(self, job: WarmupSendJob, now: datetime, delta: DailyCounters) -> None:
        self._warmup.add_day(job.workspace_id, job.mailbox_id, delta, last_sent_at=now)


def record_bounce(domain: str, now: datetime, source: str) -> bool:
    """One warmup bounce from `domain`; True when it blocklisted the domain (3 bounces within 7 days)."""
    from kindling.inbox.repository import WarmupBlocklistRepository

    blocklist = WarmupBlocklistRepository()
    blocklist.record_bounce(domain, now, source)
    added = False
    for entry in bounce_entries(blocklist.bounce_events(domain, now - BOUNCE_WINDOW, now), now, blocklist.blocklist()):
        added = blocklist.add(entry) or added
        get_logger().warning("warmup domain blocklisted after bounces", extra={"domain": entry.domain})
    return added
