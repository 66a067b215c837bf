"""The sender (send queue -> SMTP): one batch of claimed sends, one reused SMTP connection per mailbox.

Per batch:
1. one BatchGetItem: each send's ledger item and enrollment, the recipient's suppression entries (address and
   domain) and the mailboxes' sending state, plus one read per mailbox (and its SMTP password, decrypted once
   per process and ciphertext);
2. stale work is dropped: a duplicate or an earlier attempt's message (the ledger is not `queued` under this
   claim's token), an enrollment that stopped or moved on (the send is `canceled`), a suppressed recipient (the
   send is `skipped` and the sequence stops: the suppression check right before SMTP);
3. SMTP per mailbox (kindling.mail.smtp); right before each message's MAIL FROM the gate moves its ledger
   item queued -> sending with a conditional write. Only one caller can pass it per claim, so a duplicate SQS
   delivery, a Lambda retry or a crash never produces a second DATA for the same step. A crash leaves the
   message that was in SMTP `sending` (the watchdog records it `unknown` and never resends it) and the ones
   after it `queued` (re-enqueued under the same claim);
4. one transaction records every outcome: ledger statuses, the enrollments' next step (or retry, stop,
   completion) and the campaign, step, variant and mailbox counters;
5. then the consequences: hard bounces are suppressed and announced (email.bounced), the mailbox's backoff,
   authentication failures and host circuit move, campaign safety and completion are re-checked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kindling.bounceshield.service import Attempt, AttemptKind, BounceShieldService
from kindling.enrollments.service import campaign_service
from kindling.events.catalog import emit_event
from kindling.events.service import EventService
from kindling.mail.connection import Endpoint, TlsPolicy
from kindling.mail.outcomes import Outcome, Stage
from kindling.mail.smtp import Batch, Outgoing, SendResult, SmtpSender
from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.repository import MailboxRepository
from kindling.mailboxes.secrets import KmsSecretBox, SecretBox
from kindling.platform import table
from kindling.platform.clock import Clock, get_clock, isoformat
from kindling.platform.errors import NotFound
from kindling.platform.keys import (
    campaign_pk,
    enrollment_sk,
    prospect_email_pk,
    recipient_domain_key,
    suppressed_domain_pk,
)
from kindling.platform.observability import get_logger
from kindling.platform.settings import get_settings
from kindling.prospects.fields import email_domain
from kindling.prospects.repository import email_record_from_raw
from kindling.sending import backoff, circuit, eligibility, recipient_backoff
from kindling.sending.compose import OutgoingEmail, Tracking, build_message
from kindling.sending.ledger import SendItem
from kindling.sending.mailbox_health import report_mailbox_failure
from kindling.sending.messages import SendMessage
from kindling.sending.recipient_backoff_repository import RecipientBackoffRepository, state_of
from kindling.sending.repository import (
    Advance,
    Counters,
    EnrollmentState,
    LedgerFinal,
    MailboxState,
    SendingRepository,
    enrollment_from_raw,
    mailbox_state_from_raw,
)
from kindling.sending.safety import CampaignSafety
from kindling.sending.service import complete_if_finished
from kindling.suppressions.repository import domain_entry_from_raw
from kindling.suppressions.service import SuppressionService, decide

MAX_ATTEMPTS = 5  # a step refused softly this many times is given up (ledger `failed`, the sequence moves on)
SOFT_RETRY_DELAYS = (timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1), timedelta(hours=3))
UNUSABLE_MAILBOX_RETRY = timedelta(hours=1)
# A warm container reuses a mailbox read for this long (real seconds): one read per mailbox per minute instead of
# one per batch. The scheduler reads mailboxes fresh on every tick, so a disconnected or disabled mailbox gets no
# new sends; the sender may still try the ones already queued for it during that minute.
MAILBOX_CACHE_SECONDS = 60.0
IN_SEQUENCE = ("pending", "active")

# Test instrumentation for crash safety: when set, called as hook(point, send_id) at "gate" (right before a
# message's gate) and "finish" (after SMTP, before the final write); raising there is a crash at that point.
fault_hook: Callable[[str, str], None] | None = None


def _fault(point: str, send_id: str) -> None:
    if fault_hook is not None:
        fault_hook(point, send_id)


def soft_retry_delay(attempt: int) -> timedelta:
    return SOFT_RETRY_DELAYS[min(max(attempt, 1), len(SOFT_RETRY_DELAYS)) - 1]


@dataclass
class BatchResult:
    sent: int = 0
    bounced: int = 0
    failed: int = 0
    retrying: int = 0
    unknown: int = 0
    skipped: int = 0  # duplicates, stale claims, stopped enrollments, suppressed recipients
    outcomes: dict[str, str] = field(default_factory=dict)  # send id -> what happened


@dataclass
class _Work:
    job: SendMessage
    ledger: SendItem | None
    enrollment: EnrollmentState | None
    blocked: bool


@dataclass(frozen=True)
class Hold:
    """Why a mailbox cannot send a queued message now, and when the scheduler tries again."""

    reason: str  # mailbox_unusable / backoff / host_circuit_open
    until: datetime


def mailbox_hold(
    mailbox: Mailbox | None, state: MailboxState | None, host: circuit.HostCircuit | None, now: datetime
) -> Hold | None:
    """The one reading of a mailbox's backoff and its SMTP host's circuit for a queued send; None when it may send.
    The retry waits for the backoff, else the open circuit, else UNUSABLE_MAILBOX_RETRY (also for an unusable
    mailbox whose backoff or circuit is what lifts first)."""
    backoff_until = state.backoff.until if state is not None and state.backoff.active(now) else None
    circuit_until = host.open_until if host is not None and host.is_open(now) else None
    if mailbox is None or not mailbox.can_send:
        reason = "mailbox_unusable"
    elif backoff_until is not None:
        reason = "backoff"
    elif circuit_until is not None:
        reason = "host_circuit_open"
    else:
        return None
    return Hold(reason, backoff_until or circuit_until or now + UNUSABLE_MAILBOX_RETRY)


class Sender:
    def __init__(
        self,
        repository: SendingRepository | None = None,
        mailboxes: MailboxRepository | None = None,
        secrets: SecretBox | None = None,
        smtp: SmtpSender | None = None,
        events: EventService | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._repo = repository or SendingRepository()
        self._mailboxes = mailboxes or MailboxRepository()
        self._secrets = secrets or KmsSecretBox()
        self._smtp = smtp
        self._events = events
        self._clock = clock
        self._passwords: dict[str, str] = {}
        self._mailbox_cache: dict[tuple[str, str], tuple[float, Mailbox]] = {}

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    @property
    def smtp(self) -> SmtpSender:
        if self._smtp is None:
            self._smtp = SmtpSender(tls=TlsPolicy.from_settings())
        return self._smtp

    def _event_service(self) -> EventService:
        if self._events is None:
            self._events = EventService()
        return self._events

    # --- a batch -------------------------------------------------------------------------------------------------

    def process(self, jobs: Sequence[SendMessage]) -> BatchResult:
        result = BatchResult()
        distinct: dict[tuple[str, str], SendMessage] = {}
        for job in jobs:  # the same claim twice in one batch: one copy goes through, the others are duplicates
            if (job.send_id, job.token) in distinct:
                result.skipped += 1
            else:
                distinct[(job.send_id, job.token)] = job
        jobs = list(distinct.values())
        if not jobs:
            return result
        now = self._now()
        mailboxes = self._load_mailboxes(jobs)
        raw = self._read(jobs, mailboxes)
        states = {
            (ws, mid): mailbox_state_from_raw(mid, raw.get(self._repo.mailbox_state_key(ws, mid)))
            for ws, mid in {(j.workspace_id, j.mailbox_id) for j in jobs}
        }
        circuits = self._repo.host_circuits({m.smtp_host for m in mailboxes.values()})
        domains = {
            (ws, dom): state_of(raw.get(recipient_domain_key(ws, dom)))
            for ws, dom in {(j.workspace_id, email_domain(j.recipient)) for j in jobs}
        }
        finals: list[LedgerFinal] = []
        advances: list[Advance] = []
        counters = Counters()
        ready: list[_Work] = []
        for job in jobs:
            work = self._work(job, raw)
            verdict = self._precheck(work, mailboxes, states, circuits, now)
            held = domains[(job.workspace_id, email_domain(job.recipient))]
            if verdict is None and held.active(now):  # the domain deferred lately: every mailbox waits
                verdict = Hold("recipient_domain_backoff", held.until or now + UNUSABLE_MAILBOX_RETRY)
            if verdict is None:
                ready.append(work)
                continue
            if isinstance(verdict, Hold):  # not now: back to the scheduler later, nothing attempted
                result.outcomes[job.send_id] = verdict.reason
                self._retry(
                    work,
                    now,
                    verdict.until,
                    finals,
                    advances,
                    expected="queued",
                    code=verdict.reason,
                    detail=verdict.reason,
                )
                result.retrying += 1
            else:
                result.outcomes[job.send_id] = verdict
                result.skipped += 1
        gated: set[str] = set()
        unbuildable: dict[str, SendResult] = {}
        reports = self._smtp_send(ready, mailboxes, now, gated, unbuildable) if ready else []
        by_key = {r.key: r for report in reports for r in report.results} | unbuildable
        bounces: list[SendMessage] = []
        attempts: list[Attempt] = []
        for work in ready:
            job = work.job
            res = by_key.get(job.send_id)
            if res is None or res.outcome is Outcome.SKIPPED:
                result.skipped += 1
                result.outcomes[job.send_id] = "duplicate"
                continue
            expected = "sending" if job.send_id in gated else "queued"
            state = states[(job.workspace_id, job.mailbox_id)]
            until = backoff.on_rate_limited(state.backoff, now).until or now
            self._record(work, res.outcome, res.detail, now, expected, finals, advances, counters, result, until)
            if res.outcome is Outcome.HARD_BOUNCE:
                bounces.append(job)
            if res.outcome is not Outcome.UNKNOWN:
                attempts.append(Attempt(job.workspace_id, job.campaign_id, job.recipient, attempt_kind(res.outcome)))
        domain_results: dict[tuple[str, str], list[tuple[Outcome, Stage | None]]] = {}
        for work in ready:
            res = by_key.get(work.job.send_id)
            if res is not None:
                place = (work.job.workspace_id, email_domain(work.job.recipient))
                domain_results.setdefault(place, []).append((res.outcome, res.stage))
        for job in jobs:
            _fault("finish", job.send_id)
        dropped = self._repo.finish(finals, advances, counters)
        if dropped:
            get_logger().info("enrollments moved during SMTP were left alone", extra={"count": len(dropped)})
        self._after(jobs, reports, mailboxes, states, circuits, bounces, advances, now)
        self._recipient_domains(domain_results, domains, now)
        try:
            BounceShieldService(events=self._event_service()).observe(attempts, now)
        except Exception:
            get_logger().exception("Bounce Shield and the failure-rate guard could not count a batch")
        return result

    # --- reads ---------------------------------------------------------------------------------------------------

    def _load_mailboxes(self, jobs: Sequence[SendMessage]) -> dict[tuple[str, str], Mailbox]:
        found: dict[tuple[str, str], Mailbox] = {}
        now = time.monotonic()
        for ws, mid in {(j.workspace_id, j.mailbox_id) for j in jobs}:
            cached = self._mailbox_cache.get((ws, mid))
            if cached is not None and now - cached[0] < MAILBOX_CACHE_SECONDS:
                found[(ws, mid)] = cached[1]
                continue
            try:
                found[(ws, mid)] = self._mailboxes.get(ws, mid)
            except NotFound:
                continue
            self._mailbox_cache[(ws, mid)] = (now, found[(ws, mid)])
        return found

    def _read(
        self, jobs: Sequence[SendMessage], mailboxes: dict[tuple[str, str], Mailbox]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        keys: list[tuple[str, str]] = []
        for job in jobs:
            ws = job.workspace_id
            keys += [
                self._repo.ledger_key(ws, job.send_id),
                (campaign_pk(ws, job.campaign_id), enrollment_sk(job.prospect_id)),
                (prospect_email_pk(ws, job.recipient), table.ITEM_SK),
                (suppressed_domain_pk(ws, email_domain(job.recipient)), table.ITEM_SK),
                self._repo.mailbox_state_key(ws, job.mailbox_id),
                recipient_domain_key(ws, email_domain(job.recipient)),  # the recipient domain's backoff
            ]
        return self._repo.get_raw(keys)

    def _work(self, job: SendMessage, raw: dict[tuple[str, str], dict[str, Any]]) -> _Work:
        ws = job.workspace_id
        ledger_raw = raw.get(self._repo.ledger_key(ws, job.send_id))
        enrollment_raw = raw.get((campaign_pk(ws, job.campaign_id), enrollment_sk(job.prospect_id)))
        record_raw = raw.get((prospect_email_pk(ws, job.recipient), table.ITEM_SK))
        domain_raw = raw.get((suppressed_domain_pk(ws, email_domain(job.recipient)), table.ITEM_SK))
        check = decide(
            job.recipient,
            email_record_from_raw(record_raw) if record_raw else None,
            domain_entry_from_raw(domain_raw) if domain_raw else None,
        )
        return _Work(
            job,
            SendItem.from_raw_data(ledger_raw) if ledger_raw else None,
            enrollment_from_raw(enrollment_raw) if enrollment_raw else None,
            check.blocked,
        )

    def _precheck(
        self,
        work: _Work,
        mailboxes: dict[tuple[str, str], Mailbox],
        states: dict[tuple[str, str], MailboxState],
        circuits: dict[str, circuit.HostCircuit],
        now: datetime,
    ) -> str | Hold | None:
        """None when the job may go to SMTP; else why it is skipped (duplicate / stale / suppressed) or the mailbox's
        hold (unusable, backoff, host circuit) with when to try again."""
        job, ledger, enrollment = work.job, work.ledger, work.enrollment
        if ledger is None or ledger.status != "queued" or ledger.token != job.token:
            return "duplicate"  # another delivery of this claim got there first, or an older attempt's message
        if (
            enrollment is None
            or enrollment.status not in IN_SEQUENCE
            or int(enrollment.current_step or 0) != job.step_index
        ):
            self._repo.cancel_send(job.workspace_id, job.send_id, now)
            return "stale"
        if work.blocked:
            self._repo.cancel_send(job.workspace_id, job.send_id, now, status="skipped")
            self._repo.set_status(
                job.workspace_id, job.campaign_id, job.prospect_id, enrollment.status, "suppressed", "suppressed", now
            )
            return "suppressed"
        mailbox = mailboxes.get((job.workspace_id, job.mailbox_id))
        host = circuits.get(circuit.host_key(mailbox.smtp_host)) if mailbox is not None else None
        return mailbox_hold(mailbox, states.get((job.workspace_id, job.mailbox_id)), host, now)

    # --- SMTP ------------------------------------------------------------------------------------------------------

    def _endpoint(self, mailbox: Mailbox) -> Endpoint:
        cipher = mailbox.smtp_password_enc
        if cipher not in self._passwords:
            self._passwords[cipher] = self._secrets.decrypt(mailbox.workspace_id, mailbox.id, cipher)
        return mailbox.smtp_endpoint(self._passwords[cipher])

    def _build(self, job: SendMessage, now: datetime) -> Outgoing:
        settings = get_settings()
        if not settings.tracking_secret:
            raise RuntimeError("KINDLING_TRACKING_SECRET is not configured")
        built = build_message(
            OutgoingEmail(
                from_address=job.from_address,
                to_address=job.recipient,
                subject=job.subject,
                html=job.html,
                text=job.text,
                date=now,
                enrollment_id=job.enrollment_id,
                step=job.step_id,
                sending_domain=job.sending_domain,
                from_name=job.from_name,
                to_name=job.recipient_name,
                send_as_reply=job.send_as_reply,
                thread=job.thread,
            ),
            Tracking(
                base_url=settings.link_base_url(),
                secret=settings.tracking_secret,
                workspace_id=job.workspace_id,
                send_id=job.send_id,
                track_opens=job.track_opens,
                track_clicks=job.track_clicks,
            ),
        )
        if built.message_id != f"<{job.message_id}>":
            raise AssertionError(f"message id mismatch: {built.message_id} != <{job.message_id}>")
        return Outgoing(job.send_id, built.envelope_from, built.recipient, built.as_bytes())

    def _smtp_send(
        self,
        ready: Sequence[_Work],
        mailboxes: dict[tuple[str, str], Mailbox],
        now: datetime,
        gated: set[str],
        unbuildable: dict[str, SendResult],
    ) -> list[Any]:
        """SMTP for the ready jobs; a job whose message cannot be built lands in `unbuildable` as a rejection
        (a permanent failure: the step is given up, never retried) and the rest of the batch goes out."""
        jobs = {w.job.send_id: w.job for w in ready}
        grouped: dict[tuple[str, str], list[Outgoing]] = {}
        for work in sorted(ready, key=lambda w: w.job.send_at):
            job = work.job
            try:
                outgoing = self._build(job, now)
            except ValueError as exc:
                get_logger().warning(
                    "message cannot be built",
                    extra={"workspace_id": job.workspace_id, "send_id": job.send_id, "error": str(exc)},
                )
                unbuildable[job.send_id] = SendResult(job.send_id, Outcome.REJECTED, detail=f"unbuildable: {exc}")
                continue
            grouped.setdefault((job.workspace_id, job.mailbox_id), []).append(outgoing)
        batches = [
            Batch(mid, self._endpoint(mailboxes[(ws, mid)]), messages) for (ws, mid), messages in grouped.items()
        ]

        async def gate(message: Outgoing) -> bool:
            job = jobs[message.key]
            _fault("gate", job.send_id)
            passed = await asyncio.to_thread(self._repo.gate, job.workspace_id, job.send_id, job.token, now)
            if passed:
                gated.add(job.send_id)
            return passed

        return asyncio.run(self.smtp.send_batches(batches, before_send=gate))

    # --- outcomes ----------------------------------------------------------------------------------------------------

    def _record(
        self,
        work: _Work,
        outcome: Outcome,
        detail: str,
        now: datetime,
        expected: str,
        finals: list[LedgerFinal],
        advances: list[Advance],
        counters: Counters,
        result: BatchResult,
        rate_limited_until: datetime,
    ) -> None:
        job = work.job
        ws = job.workspace_id
        day = eligibility.day_key(now, "UTC")
        result.outcomes[job.send_id] = str(outcome)
        common = {"token": job.token, "expected": expected, "mailbox_id": job.mailbox_id, "recipient": job.recipient}
        if outcome is Outcome.SENT:
            finals.append(LedgerFinal(ws, job.send_id, "sent", now, sent_at=now, **common))  # type: ignore[arg-type]
            self._move_on(work, now, advances, message_id=job.message_id)
            counters.add_campaign(ws, job.campaign_id, job.step_id, job.variant, "sent")
            counters.add_mailbox(ws, job.mailbox_id, day, "sent")
            result.sent += 1
        elif outcome is Outcome.HARD_BOUNCE:
            finals.append(
                LedgerFinal(ws, job.send_id, "bounced", now, error_code="hard_bounce", detail=detail, **common)  # type: ignore[arg-type]
            )
            if job.stop_on_bounce:
                self._stop(work, now, advances, "bounced")
            else:
                self._move_on(work, now, advances, message_id=None)
            counters.add_campaign(ws, job.campaign_id, job.step_id, job.variant, "sent")
            counters.add_campaign(ws, job.campaign_id, job.step_id, job.variant, "bounced")
            counters.add_mailbox(ws, job.mailbox_id, day, "sent")
            counters.add_mailbox(ws, job.mailbox_id, day, "bounced")
            result.bounced += 1
        elif outcome is Outcome.UNKNOWN:
            finals.append(LedgerFinal(ws, job.send_id, "unknown", now, error_code="unknown", detail=detail, **common))  # type: ignore[arg-type]
            self._move_on(work, now, advances, message_id=job.message_id)
            result.unknown += 1
        elif outcome.retryable and job.attempt < MAX_ATTEMPTS:
            # A rate limit waits out the mailbox's next backoff rung; other soft refusals back off per attempt.
            when = rate_limited_until if outcome is Outcome.RATE_LIMITED else now + soft_retry_delay(job.attempt)
            self._retry(work, now, when, finals, advances, expected=expected, code=str(outcome), detail=detail)
            result.retrying += 1
        else:  # rejected, or a soft refusal too many times: give the step up, the sequence moves on
            finals.append(
                LedgerFinal(ws, job.send_id, "failed", now, error_code=str(outcome), detail=detail, **common)  # type: ignore[arg-type]
            )
            self._move_on(work, now, advances, message_id=None)
            result.failed += 1

    def _retry(
        self,
        work: _Work,
        now: datetime,
        when: datetime,
        finals: list[LedgerFinal],
        advances: list[Advance],
        *,
        expected: str,
        code: str,
        detail: str,
    ) -> None:
        job, enrollment = work.job, work.enrollment
        finals.append(
            LedgerFinal(
                job.workspace_id,
                job.send_id,
                "failed",
                now,
                expected=expected,
                token=job.token,
                retryable=True,
                error_code=code,
                detail=detail,
            )
        )
        if enrollment is not None:
            advances.append(
                Advance(
                    job.workspace_id,
                    job.campaign_id,
                    job.prospect_id,
                    job.step_index,
                    enrollment.status,
                    "retry",
                    now,
                    next_send_at=when,
                )
            )

    def _move_on(self, work: _Work, now: datetime, advances: list[Advance], *, message_id: str | None) -> None:
        job, enrollment = work.job, work.enrollment
        if enrollment is None:
            return
        kind = "complete" if job.next_step_index is None else "advance"
        advances.append(
            Advance(
                job.workspace_id,
                job.campaign_id,
                job.prospect_id,
                job.step_index,
                enrollment.status,
                kind,
                now,
                message_id=message_id,
                mailbox_id=job.mailbox_id,
                next_step_index=job.next_step_index,
                next_send_at=job.next_send_at,
            )
        )

    def _stop(self, work: _Work, now: datetime, advances: list[Advance], status: str) -> None:
        job, enrollment = work.job, work.enrollment
        if enrollment is None:
            return
        advances.append(
            Advance(
                job.workspace_id,
                job.campaign_id,
                job.prospect_id,
                job.step_index,
                enrollment.status,
                "stop",
                now,
                mailbox_id=job.mailbox_id,
                stop_status=status,
                reason=status,
            )
        )

    def _recipient_domains(
        self,
        results: dict[tuple[str, str], list[tuple[Outcome, Stage | None]]],
        known: dict[tuple[str, str], recipient_backoff.DomainBackoff],
        now: datetime,
    ) -> None:
        """A domain that deferred backs off (for every mailbox of the workspace); one that accepted resets."""
        repo = RecipientBackoffRepository()
        for (ws, domain), outcomes in results.items():
            verdict = recipient_backoff.domain_verdict(outcomes)
            try:
                if verdict == "deferred":
                    after = repo.apply(ws, domain, lambda s: recipient_backoff.on_deferred(s, now), now)
                    get_logger().info("recipient domain deferred", extra={"domain": domain, "level": after.level})
                elif verdict == "accepted" and known.get((ws, domain), recipient_backoff.DomainBackoff()).level:
                    repo.apply(ws, domain, recipient_backoff.on_accepted, now)
            except Exception:
                get_logger().exception("recording a recipient domain's backoff failed", extra={"domain": domain})

    # --- consequences --------------------------------------------------------------------------------------------

    def _after(
        self,
        jobs: Sequence[SendMessage],
        reports: Sequence[Any],
        mailboxes: dict[tuple[str, str], Mailbox],
        states: dict[tuple[str, str], MailboxState],
        circuits: dict[str, circuit.HostCircuit],
        bounces: Sequence[SendMessage],
        advances: Sequence[Advance],
        now: datetime,
    ) -> None:
        log = get_logger()
        workspace_of = {j.mailbox_id: j.workspace_id for j in jobs}
        for report in reports:
            ws = workspace_of[report.mailbox_id]
            try:
                self._mailbox_health(
                    ws, report, mailboxes[(ws, report.mailbox_id)], states[(ws, report.mailbox_id)], circuits, now
                )
            except Exception:
                log.exception("recording a mailbox's health failed", extra={"mailbox_id": report.mailbox_id})
        for job in bounces:
            try:
                self._bounced(job, now)
            except Exception:
                log.exception("handling a hard bounce failed", extra={"send_id": job.send_id})

        service = campaign_service()
        for ws, cid in {(j.workspace_id, j.campaign_id) for j in bounces}:
            CampaignSafety(self._repo, service=service).check(ws, cid, now)
        for ws, cid in {(a.workspace_id, a.campaign_id) for a in advances if a.kind in ("complete", "stop")}:
            complete_if_finished(ws, cid, now, service)

    def _mailbox_health(
        self,
        workspace_id: str,
        report: Any,
        mailbox: Mailbox,
        state: MailboxState,
        circuits: dict[str, circuit.HostCircuit],
        now: datetime,
    ) -> None:
        outcomes = [r.outcome for r in report.results]
        current = state.backoff
        updated = current
        if Outcome.RATE_LIMITED in outcomes:
            updated = backoff.on_rate_limited(current, now)
        else:
            for outcome in outcomes:
                if outcome is Outcome.SENT:
                    updated = backoff.on_success(updated, now)
        if updated != current:
            self._repo.save_backoff(workspace_id, mailbox.id, updated)
        if report.authenticated is not None and (report.authenticated is False or state.auth_failures):
            failures = self._repo.auth_result(workspace_id, mailbox.id, failed=report.authenticated is False)
            if circuit.AuthGuard(failures).disable_mailbox:
                self._disable(mailbox, now)
        if report.refused == "tls_certificate_changed":
            # Not the certificate pinned at test time (nothing was sent): only the user's re-test can accept it.
            self._mailbox_cache.pop((mailbox.workspace_id, mailbox.id), None)
            report_mailbox_failure(self._mailboxes, mailbox, "smtp", "tls_certificate_changed", now)
        key = circuit.host_key(mailbox.smtp_host)
        before = circuits.get(key, circuit.HostCircuit())
        after = circuit.observe_host(before, connected=report.connected, now=now)
        if after != before:
            self._repo.save_host_circuit(mailbox.smtp_host, after)
            circuits[key] = after

    def _disable(self, mailbox: Mailbox, now: datetime) -> None:
        """10 consecutive refused logins: the mailbox is reported to the health helper with `auth_failed` (it goes
        `disconnected`, its campaigns with no usable mailbox left pause; decisions.md)."""
        self._mailbox_cache.pop((mailbox.workspace_id, mailbox.id), None)
        detail = f"SMTP authentication failed {circuit.AUTH_FAILURE_THRESHOLD} times in a row"
        if report_mailbox_failure(self._mailboxes, mailbox, "smtp", "auth_failed", now, detail):
            get_logger().error(
                "mailbox disabled after repeated authentication failures", extra={"mailbox_id": mailbox.id}
            )

    def _bounced(self, job: SendMessage, now: datetime) -> None:
        """Suppress the address (a hard bounce at RCPT) and announce it."""
        SuppressionService(events=self._event_service()).suppress_emails(
            job.workspace_id, [job.recipient], reason="hard_bounce", source="bounce"
        )
        emit_event(
            self._event_service(),
            job.workspace_id,
            "email.bounced",
            {
                "prospectEmail": job.recipient,
                "prospectId": job.prospect_id,
                "campaignId": job.campaign_id,
                "mailboxId": job.mailbox_id,
                "bounceType": "hard",
                "bouncedAt": isoformat(now),
            },
            now=now,
        )


def attempt_kind(outcome: Outcome) -> AttemptKind:
    """How Bounce Shield and the failure-rate guard count an SMTP outcome (decisions.md "Bounce Shield")."""
    if outcome is Outcome.SENT:
        return "sent"
    if outcome is Outcome.HARD_BOUNCE:
        return "bounced"
    if outcome is Outcome.RATE_LIMITED:
        return "deferred"
    return "failed"
