"""Gates for a message a person sends from the unified inbox (`POST /inbox/conversations/{id}/reply` and a new
conversation's first message, `POST /inbox/conversations`): the same rules as a campaign send, through the same pure
rule (`eligibility.check`) and the same mailbox-day counters; each recipient's copy is one send, the message one
pacer slot.

Refused, with a stable code and nothing sent: a suppressed recipient (`recipient_suppressed`, the caller's check);
a mailbox that is not connected or has sending disabled (422 `mailbox_unavailable`); a full day (429
`daily_limit_reached`: the mailbox's limit, the 500/day hard cap or the recipient-domain limit, with the limit, the
count and when it resets); the backoff or the pacer (429 `mailbox_paced`, with `retry_after_seconds`). Otherwise
the sends are reserved in the mailbox's day (a reply counts against it exactly like a campaign send) and the pacer
moves, with the scheduler's version-conditioned write, before SMTP. Copies the server refused are given back by the
caller (`release_manual_send`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kindling.mailboxes.models import Mailbox
from kindling.platform.clock import isoformat
from kindling.platform.errors import Conflict, KindlingError, LimitReached, Unprocessable, field_error
from kindling.prospects.fields import email_domain
from kindling.sending import eligibility, planning
from kindling.sending.eligibility import Eligible, Reason, Snapshot
from kindling.sending.repository import SendingRepository

WORKSPACE_TIMEZONE = "UTC"  # the mailbox counters' day, as the scheduler counts it
_ATTEMPTS = 5
_DAY_FULL = frozenset({Reason.MAILBOX_DAILY_LIMIT, Reason.HARD_CAP, Reason.RECIPIENT_DOMAIN_LIMIT})
_UNAVAILABLE = frozenset({Reason.NOT_CONNECTED, Reason.SENDING_DISABLED})


@dataclass(frozen=True)
class ManualReservation:
    """Sends reserved in a mailbox's day for one message (a recipient domain per recipient, in order) and the pacer
    slot it took (`previous_slot`: the mailbox's last send before it), so that copies the server refused can be
    given back."""

    workspace_id: str
    mailbox_id: str
    day: str
    domains: tuple[str, ...]
    slot: datetime
    previous_slot: datetime | None


def reserve_manual_send(
    workspace_id: str,
    mailbox: Mailbox,
    recipients: Sequence[str],
    now: datetime,
    repo: SendingRepository | None = None,
) -> ManualReservation:
    """Check every gate but suppression (the caller's, with its own code) for one message to `recipients` (one send
    each, one pacer slot for the message) and reserve them together; raise when any is refused (nothing reserved)."""
    repo = repo or SendingRepository()
    domains = tuple(email_domain(r) for r in recipients)
    day = eligibility.day_key(now, WORKSPACE_TIMEZONE)
    for _ in range(_ATTEMPTS):
        state = repo.mailbox_state(workspace_id, mailbox.id)
        sent, warm, counts = state.today(day)
        interval = eligibility.pacer_interval(planning.active_intervals(state.intervals, now).values())
        added: dict[str, int] = {}
        for n, domain in enumerate(domains):
            snapshot = Snapshot(
                now=now,
                active_on_campaign=True,
                mailbox_status=mailbox.status,
                sending_enabled=mailbox.sending_enabled,
                mailbox_daily_limit=mailbox.daily_send_limit,
                mailbox_sent_today=sent + n,
                campaign_daily_limit=None,
                campaign_sent_today=0,
                campaign_mailbox_limit=None,
                campaign_mailbox_sent_today=0,
                warmup_sent_today=warm,
                recipient_domain_sent_today=counts.get(domain, 0) + added.get(domain, 0),
                backoff_until=state.backoff.until,
                last_send_at=state.last_send_at if n == 0 else None,  # the message's other copies share its slot
                pacer_interval=interval,
                workspace_timezone=WORKSPACE_TIMEZONE,
            )
            verdict = eligibility.check(snapshot)
            if not isinstance(verdict, Eligible):
                raise refusal(snapshot, verdict)
            added[domain] = added.get(domain, 0) + 1
        if repo.reserve_mailbox(
            workspace_id, state, day, sends=len(domains), domains=added, next_allowed_at=None, last_slot=now
        ):
            return ManualReservation(workspace_id, mailbox.id, day, domains, now, state.last_send_at)
    raise Conflict("The mailbox's counters kept changing while this message was checked; retry.")


def release_manual_send(
    reservation: ManualReservation, refused: Sequence[int], repo: SendingRepository | None = None
) -> None:
    """The server refused the copies to the recipients at `refused` (indexes): their sends go back to the day, and
    the pacer slot too when no copy went out (see `release_mailbox`)."""
    if not refused:
        return
    domains: dict[str, int] = {}
    for index in refused:
        domain = reservation.domains[index]
        domains[domain] = domains.get(domain, 0) + 1
    everything = len(set(refused)) == len(reservation.domains)
    (repo or SendingRepository()).release_mailbox(
        reservation.workspace_id,
        reservation.mailbox_id,
        reservation.day,
        len(refused),
        domains,
        slot=(reservation.slot, reservation.previous_slot) if everything else None,
    )


def _seconds_until(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


def _day_numbers(s: Snapshot, reason: Reason) -> tuple[int, int]:
    """(limit, used today) of the daily cap `reason` names."""
    if reason is Reason.MAILBOX_DAILY_LIMIT:
        return s.mailbox_daily_limit, s.mailbox_sent_today
    if reason is Reason.HARD_CAP:
        return s.hard_cap, s.mailbox_sent_today + s.warmup_sent_today
    return s.recipient_domain_limit, s.recipient_domain_sent_today


def refusal(s: Snapshot, reason: Reason) -> KindlingError:
    """The error for a refused manual send: 422 when the mailbox cannot send at all, 429 when a limit lifts later."""
    until = eligibility.blocked_until(s, reason)
    if reason in _UNAVAILABLE or until is None:
        detail = [field_error("mailbox_id", reason.value, reason.value)]
        return Unprocessable(f"The mailbox cannot send ({reason.value}).", code="mailbox_unavailable", details=detail)
    wait = _seconds_until(until, s.now)
    if reason in _DAY_FULL:
        limit, used = _day_numbers(s, reason)
        day: dict[str, Any] = {
            **field_error("mailbox_id", f"{reason.value}: {used} of {limit} sent today", reason.value),
            "limit": limit,
            "used": used,
            "resets_at": isoformat(until),
            "retry_after_seconds": wait,
        }
        return LimitReached(
            f"The mailbox has reached a daily limit ({reason.value}: {used} of {limit}); it resets at "
            f"{isoformat(until)}.",
            code="daily_limit_reached",
            retry_after=wait,
            details=[day],
        )
    paced: dict[str, Any] = {
        **field_error("mailbox_id", f"{reason.value} until {isoformat(until)}", reason.value),
        "next_send_at": isoformat(until),
        "retry_after_seconds": wait,
    }
    return LimitReached(
        f"The mailbox must wait before sending again ({reason.value}, {wait} s).",
        code="mailbox_paced",
        retry_after=wait,
        details=[paced],
    )
