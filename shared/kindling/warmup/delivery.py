"""Sending warmup email over SMTP: the sender function's warmup jobs and the receiving side's replies.

A warmup job passes a gate before its SMTP transaction (its exchange item moves queued -> sending with a
conditional write), so a duplicate queue delivery never sends twice. Outcomes are counted on the sending
mailbox's daily row (the day the tick planned it on): `sent` (+ `bounced` for a hard bounce). A hard bounce
also records a bounce from the recipient's domain for the bounce rule (3 in 7 days blocklist the domain).
`unknown` (the connection died once DATA had started) counts as sent and is never retried: it may have been
delivered.

A transiently refused send (soft 4xx, rate limited, connection or login failure; see `Outcome.retryable`) is
retried: its exchange goes back to `queued` (so the retry passes the gate once, like the first try) and a copy of
the job with `attempt + 1` is queued for `now + soft_retry_delay(attempt)` (a rate limit waits at least for the
mailbox's next backoff rung). That happens at most `MAX_WARMUP_ATTEMPTS` times in all, and only while the retry
falls on the UTC day the tick reserved the send on (`queued_at`'s): the 500/day hard cap counted it on that day.
Otherwise (a permanent refusal, attempts used up, the day over) the exchange is `failed` and the send's hard-cap
reservation is given back (`SendingRepository.release_mailbox(warmup=...)`), as it is for a job whose mailbox
became unusable; releases are grouped per mailbox and day. Only the delivery whose conditional move failed the
exchange releases, so a duplicate delivery never releases twice. A job the queue delivers early (its delay is
capped at 15 minutes; a long rate-limit wait is not) goes back on the queue unchanged.

A reply (queued by inbox sync, `WarmupSendMessage.is_reply`) is a send of the replying mailbox like any other:
when it falls due it is reserved on the mailbox's pacer and under its 500/day hard cap (kindling.warmup.replies;
a reply the hard cap refuses is dropped, one whose pacer slot is later waits on the queue for it); its gate is the
exchange's `reply_status` (queued -> sending), and a sent reply counts `replied` on the exchange sender's row.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kindling.mail.connection import Endpoint, TlsPolicy
from kindling.mail.outcomes import Outcome
from kindling.mail.smtp import Batch, Outgoing, SmtpSender
from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.repository import MailboxRepository
from kindling.mailboxes.secrets import KmsSecretBox, SecretBox
from kindling.platform.clock import Clock, get_clock
from kindling.platform.errors import NotFound
from kindling.platform.observability import get_logger
from kindling.sending import backoff, circuit, eligibility
from kindling.sending.mailbox_health import report_mailbox_failure
from kindling.sending.messages import SqsSendQueue
from kindling.sending.repository import SendingRepository
from kindling.sending.sender import soft_retry_delay
from kindling.warmup.blocklist import record_bounce
from kindling.warmup.content import EXCHANGE_ID_RE, WarmupEmail, build_message, compose_message, compose_reply
from kindling.warmup.counters import DailyCounters
from kindling.warmup.messages import WarmupQueue, WarmupSendMessage
from kindling.warmup.pool_index import WarmupPoolRepository
from kindling.warmup.protection import domain_of
from kindling.warmup.replies import reserve_reply
from kindling.warmup.repository import WarmupRepository

MAX_WARMUP_ATTEMPTS = 3  # tries in all of one warmup send (the first and two retries)
# A job delivered this much before its send time goes back on the queue (SQS delays at most 15 minutes); less is
# the queue's own imprecision.
EARLY_TOLERANCE = timedelta(seconds=30)


# The outcome of a job whose message cannot be built from what is stored (failed, never retried).
UNBUILDABLE = "unbuildable"


def reserved_day(job: WarmupSendMessage) -> str:
    """The sending engine's mailbox day (UTC) the tick reserved the send on, against the hard cap."""
    return eligibility.day_key(job.queued_at, "UTC")


def retry_decision(
    outcome: Outcome, attempt: int, now: datetime, reserved_on: str, rate_limited_until: datetime | None = None
) -> datetime | None:
    """When to try a send that ended with `outcome` on try `attempt` again; None to give it up.

    Only a refusal that certainly left no mail is retried (never `unknown`: no duplicates), at most
    `MAX_WARMUP_ATTEMPTS` tries in all, and only on the day the send was reserved on: a retry on a later day
    would count against a day whose hard cap never reserved it.
    """
    if not outcome.retryable or attempt >= MAX_WARMUP_ATTEMPTS:
        return None
    when = now + soft_retry_delay(attempt)
    if outcome is Outcome.RATE_LIMITED and rate_limited_until is not None:
        when = max(when, rate_limited_until)
    if eligibility.day_key(when, "UTC") != reserved_on:
        return None
    return when


def message_id_for(exchange: str, from_address: str, *, reply: bool = False) -> str:
    """A stable Message-ID per exchange email (a retried send carries the same one)."""
    return f"<{exchange}{'.re' if reply else ''}@{domain_of(from_address)}>"


def exchange_of_message_id(message_id: str | None) -> str | None:
    """The exchange whose first email carried `message_id` (`message_id_for`); None for a reply or another id."""
    local = (message_id or "").strip().strip("<>").partition("@")[0]
    return local if EXCHANGE_ID_RE.fullmatch(local) else None


@dataclass
class DeliveryResult:
    sent: int = 0
    bounced: int = 0
    failed: int = 0
    skipped: int = 0
    retrying: int = 0  # re-queued for a later try
    deferred: int = 0  # delivered before their send time: back on the queue unchanged
    dropped: int = 0  # replies the mailbox's 500/day hard cap refused
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
            self._smtp = SmtpSender(tls=TlsPolicy.from_settings())
        return self._smtp

    def endpoint(self, mailbox: Mailbox) -> Endpoint:
        cipher = mailbox.smtp_password_enc
        if cipher not in self._passwords:
            secrets = self._secrets or KmsSecretBox()
            self._secrets = secrets
            self._passwords[cipher] = secrets.decrypt(mailbox.workspace_id, mailbox.id, cipher)
        return mailbox.smtp_endpoint(self._passwords[cipher])

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
        queue: WarmupQueue | None = None,
        sending: SendingRepository | None = None,
    ) -> None:
        self._pool = pool or WarmupPoolRepository()
        self._warmup = warmup or WarmupRepository()
        self._mailboxes = mailboxes or MailboxRepository()
        self._mailer = mailer or WarmupMailer()
        self._clock = clock
        self._queue = queue or SqsSendQueue()
        self._sending = sending or SendingRepository()

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    def process(self, jobs: Sequence[WarmupSendMessage]) -> DeliveryResult:
        result = DeliveryResult()
        now = self._now()
        distinct = {job.key: job for job in jobs}
        waiting = self._reserve_replies(distinct, now, result)
        early = [job for job in distinct.values() if job.send_at > now + EARLY_TOLERANCE]
        result.deferred = len(early)
        early += waiting
        grouped: dict[tuple[str, str], list[WarmupSendMessage]] = {}
        for job in distinct.values():
            if job.send_at <= now + EARLY_TOLERANCE:
                grouped.setdefault((job.workspace_id, job.mailbox_id), []).append(job)
        releases: Counter[tuple[str, str, str]] = Counter()
        batches: list[Batch] = []
        senders: dict[str, Mailbox] = {}
        for (ws, mid), group in grouped.items():
            try:
                mailbox = self._mailboxes.get(ws, mid)
            except NotFound:
                mailbox = None
            if mailbox is None or not mailbox.can_send:
                for job in group:
                    if self._move(job, "queued", "failed"):
                        releases[(ws, mid, reserved_day(job))] += 1
                    result.skipped += 1
                    result.outcomes[job.key] = "mailbox_unusable"
                continue
            messages = []
            for job in sorted(group, key=lambda j: j.send_at):
                try:
                    email = _email_of(job, mailbox)
                    outgoing = self._mailer.outgoing(
                        job.key, email, mailbox, job.recipient, job.recipient_name, reply=job.is_reply, now=now
                    )
                except ValueError as exc:
                    # A message that cannot be built (an address stored with a line break...) never will be:
                    # it fails alone, at once, and its reservation goes back; the rest of the batch goes out.
                    get_logger().warning(
                        "warmup message cannot be built",
                        extra={
                            "workspace_id": ws,
                            "mailbox_id": mid,
                            "exchange_id": job.exchange_id,
                            "error": str(exc),
                        },
                    )
                    if self._move(job, "queued", "failed"):
                        releases[(ws, mid, reserved_day(job))] += 1
                    result.failed += 1
                    result.outcomes[job.key] = UNBUILDABLE
                    continue
                messages.append(outgoing)
            if messages:
                batches.append(Batch(mid, self._mailer.endpoint(mailbox), messages))
                senders[mid] = mailbox
        retries = self._send(batches, distinct, now, result, releases, senders) if batches else []
        for (ws, mid, day), count in releases.items():
            self._sending.release_mailbox(ws, mid, day, 0, {}, warmup=count)
        if early or retries:
            self._queue.send([*early, *retries], now)
        return result

    def _move(self, job: WarmupSendMessage, expected: str, status: str) -> bool:
        """The send's gate and status: the exchange's for its email, the exchange's `reply_status` for its reply."""
        if job.is_reply:
            return self._pool.move_reply(job.exchange_id, expected, status)
        return self._pool.move_exchange(job.exchange_id, expected, status)

    def _reserve_replies(
        self, distinct: dict[str, WarmupSendMessage], now: datetime, result: DeliveryResult
    ) -> list[WarmupSendMessage]:
        """Reserve the due unreserved replies of the batch on their mailboxes (pacer slot, hard cap), in place in
        `distinct`; returns those that wait for a later slot (taken out of `distinct`, to go back on the queue)."""
        waiting: list[WarmupSendMessage] = []
        for key, job in list(distinct.items()):
            if job.reserved or job.send_at > now + EARLY_TOLERANCE:
                continue
            try:
                mailbox = self._mailboxes.get(job.workspace_id, job.mailbox_id)
            except NotFound:
                mailbox = None
            if mailbox is None or not mailbox.can_send:
                del distinct[key]
                self._pool.move_reply(job.exchange_id, "queued", "failed")  # nothing reserved, nothing to give back
                result.skipped += 1
                result.outcomes[key] = "mailbox_unusable"
                continue
            slot = reserve_reply(self._sending, job, now)
            if slot.verdict == "hard_cap":
                del distinct[key]
                self._pool.move_reply(job.exchange_id, "queued", "failed")
                result.dropped += 1
                result.outcomes[key] = "daily_hard_cap"
                get_logger().info(
                    "warmup reply dropped: the mailbox's 500/day hard cap",
                    extra={"mailbox_id": job.mailbox_id, "exchange_id": job.exchange_id},
                )
                continue
            assert slot.at is not None
            if slot.verdict == "wait":
                del distinct[key]
                waiting.append(job.model_copy(update={"send_at": slot.at}))
                result.outcomes[key] = "pacer"
                continue
            reserved = job.model_copy(update={"reserved": True, "send_at": slot.at, "queued_at": now})
            if slot.at > now:
                # Its pacer slot is ahead, if only by seconds: it waits on the queue for it (the early tolerance is
                # for the queue's own imprecision, never a way round the pacer).
                del distinct[key]
                waiting.append(reserved)
                result.outcomes[key] = "pacer"
                continue
            distinct[key] = reserved
        return waiting

    def _observe_login(self, mailbox: Mailbox, authenticated: bool | None, now: datetime) -> None:
        """The mailbox's login, counted with the campaign sender's (one count per mailbox): the 10th refusal in a
        row is reported to the health helper with `auth_failed`; a good login after refusals resets the count."""
        if authenticated is None:
            return
        ws = mailbox.workspace_id
        if authenticated:
            if self._sending.mailbox_state(ws, mailbox.id).auth_failures:
                self._sending.auth_result(ws, mailbox.id, failed=False)
            return
        failures = self._sending.auth_result(ws, mailbox.id, failed=True)
        if circuit.AuthGuard(failures).disable_mailbox:
            detail = f"SMTP authentication failed {circuit.AUTH_FAILURE_THRESHOLD} times in a row"
            report_mailbox_failure(self._mailboxes, mailbox, "smtp", "auth_failed", now, detail)

    def _send(
        self,
        batches: list[Batch],
        distinct: dict[str, WarmupSendMessage],
        now: datetime,
        result: DeliveryResult,
        releases: Counter[tuple[str, str, str]],
        senders: dict[str, Mailbox],
    ) -> list[WarmupSendMessage]:
        """SMTP for the batches and their outcomes; returns the jobs to try again."""
        gated: set[str] = set()

        async def gate(message: Outgoing) -> bool:
            passed = await asyncio.to_thread(self._move, distinct[message.key], "queued", "sending")
            if passed:
                gated.add(message.key)
            return passed

        reports = asyncio.run(self._mailer.smtp.send_batches(batches, before_send=gate))
        backoff_until: dict[tuple[str, str], datetime | None] = {}
        retries: list[WarmupSendMessage] = []
        for report in reports:
            if report.refused == "tls_certificate_changed":
                # Not the certificate pinned at test time (nothing was sent): only the user's re-test accepts it.
                report_mailbox_failure(self._mailboxes, senders[report.mailbox_id], "smtp", report.refused, now)
            self._observe_login(senders[report.mailbox_id], report.authenticated, now)
            for res in report.results:
                job = distinct[res.key]
                result.outcomes[job.key] = str(res.outcome)
                if res.outcome is Outcome.SKIPPED:
                    result.skipped += 1
                elif res.outcome in (Outcome.SENT, Outcome.UNKNOWN):
                    self._move(job, "sending", "sent")
                    if job.is_reply:
                        self._count_reply(job)
                    else:
                        self._count(job, now, DailyCounters(job.day, sent=1))
                    result.sent += 1
                elif res.outcome is Outcome.HARD_BOUNCE:
                    self._move(job, "sending", "bounced")
                    if not job.is_reply:  # a reply's bounce is not the exchange sender's
                        self._count(job, now, DailyCounters(job.day, sent=1, bounced=1))
                        record_bounce(domain_of(job.recipient), now, job.exchange_id)
                    result.bounced += 1
                else:
                    # Messages left unattempted after a refused login, a rate limit or a lost connection never
                    # reached the gate: their exchange is still `queued`.
                    held = "sending" if job.key in gated else "queued"
                    until = None
                    if res.outcome is Outcome.RATE_LIMITED:
                        key = (job.workspace_id, job.mailbox_id)
                        if key not in backoff_until:
                            state = self._sending.mailbox_state(*key)
                            backoff_until[key] = backoff.on_rate_limited(state.backoff, now).until
                        until = backoff_until[key]
                    when = retry_decision(res.outcome, job.attempt, now, reserved_day(job), until)
                    if when is not None and (held == "queued" or self._move(job, held, "queued")):
                        retries.append(job.model_copy(update={"attempt": job.attempt + 1, "send_at": when}))
                        result.retrying += 1
                        continue
                    if self._move(job, held, "failed"):
                        releases[(job.workspace_id, job.mailbox_id, reserved_day(job))] += 1
                    result.failed += 1
        return retries

    def _count(self, job: WarmupSendMessage, now: datetime, delta: DailyCounters) -> None:
        self._warmup.add_day(job.workspace_id, job.mailbox_id, delta, last_sent_at=now)

    def _count_reply(self, job: WarmupSendMessage) -> None:
        """A sent reply counts `replied` on the row of the exchange's sender, for the exchange's day."""
        exchange = self._pool.exchange(job.exchange_id)
        if exchange is not None:
            self._warmup.add_day(
                exchange.sender_workspace_id, exchange.sender_mailbox_id, DailyCounters(exchange.sender_day, replied=1)
            )


def _email_of(job: WarmupSendMessage, mailbox: Mailbox) -> WarmupEmail:
    """The job's email: the exchange's first email, or the reply threaded on it (`sender_name`: the replier's)."""
    if not job.is_reply:
        return compose_message(job.exchange_id, sender_name=job.from_name, recipient_name=job.recipient_name)
    return compose_reply(
        job.exchange_id,
        original_subject=job.reply_subject or "",
        original_message_id=job.reply_to or "",
        original_references=list(job.reply_references),
        sender_name=mailbox.display_name,
        recipient_name=job.recipient_name,
    )
