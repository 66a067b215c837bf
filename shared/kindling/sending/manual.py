"""Gates for a message a person sends from the unified inbox (`POST /inbox/conversations/{id}/reply`): the same rules
as a campaign send, through the same pure rule (`eligibility.check`) and the same mailbox-day counters.

Refused, with a stable code and nothing sent: a suppressed recipient (`recipient_suppressed`); a mailbox that is not
connected or has sending disabled (`mailbox_unavailable`); a full day (`daily_limit_reached`: the mailbox's limit,
the 500/day hard cap or the recipient-domain limit); the backoff or the pacer (`mailbox_paced`, with when it may
send). Otherwise one send is reserved in the mailbox's day (a reply counts against it) and the pacer moves, with
the scheduler's version-conditioned write, before SMTP.
"""

from __future__ import annotations

from datetime import datetime

from kindling.mailboxes.models import Mailbox
from kindling.platform.errors import Conflict, Unprocessable, field_error
from kindling.prospects.fields import email_domain
from kindling.sending import eligibility, planning
from kindling.sending.eligibility import Eligible, Reason, Snapshot
from kindling.sending.repository import SendingRepository

WORKSPACE_TIMEZONE = "UTC"  # the mailbox counters' day, as the scheduler counts it
_ATTEMPTS = 5
_DAY_FULL = frozenset({Reason.MAILBOX_DAILY_LIMIT, Reason.HARD_CAP, Reason.RECIPIENT_DOMAIN_LIMIT})
_UNAVAILABLE = frozenset({Reason.NOT_CONNECTED, Reason.SENDING_DISABLED})


def reserve_manual_send(
    workspace_id: str, mailbox: Mailbox, recipient: str, now: datetime, repo: SendingRepository | None = None
) -> None:
    """Check every gate but suppression (the caller's, with its own code) and reserve one send; raise when refused."""
    repo = repo or SendingRepository()
    domain = email_domain(recipient)
    day = eligibility.day_key(now, WORKSPACE_TIMEZONE)
    for _ in range(_ATTEMPTS):
        state = repo.mailbox_state(workspace_id, mailbox.id)
        sent, warm, counts = state.today(day)
        snapshot = Snapshot(
            now=now,
            active_on_campaign=True,
            mailbox_status=mailbox.status,
            sending_enabled=mailbox.sending_enabled,
            mailbox_daily_limit=mailbox.daily_send_limit,
            mailbox_sent_today=sent,
            campaign_daily_limit=None,
            campaign_sent_today=0,
            campaign_mailbox_limit=None,
            campaign_mailbox_sent_today=0,
            warmup_sent_today=warm,
            recipient_domain_sent_today=counts.get(domain, 0),
            backoff_until=state.backoff.until,
            last_send_at=state.last_send_at,
            pacer_interval=eligibility.pacer_interval(planning.active_intervals(state.intervals, now).values()),
            workspace_timezone=WORKSPACE_TIMEZONE,
        )
        verdict = eligibility.check(snapshot)
        if not isinstance(verdict, Eligible):
            raise refusal(verdict, eligibility.blocked_until(snapshot, verdict))
        if repo.reserve_mailbox(
            workspace_id, state, day, sends=1, domains={domain: 1}, next_allowed_at=None, last_slot=now
        ):
            return
    raise Conflict("The mailbox's counters kept changing while this reply was checked; retry.")


def refusal(reason: Reason, until: datetime | None) -> Unprocessable:
    when = f" until {until.isoformat()}" if until is not None else ""
    detail = [field_error("mailbox_id", f"{reason.value}{when}", reason.value)]
    if reason in _UNAVAILABLE:
        return Unprocessable(f"The mailbox cannot send ({reason.value}).", code="mailbox_unavailable", details=detail)
    if reason in _DAY_FULL:
        return Unprocessable(
            f"The mailbox has reached a daily limit ({reason.value}); it sends again tomorrow.",
            code="daily_limit_reached",
            details=detail,
        )
    return Unprocessable(
        f"The mailbox must wait before sending again ({reason.value}{when}).", code="mailbox_paced", details=detail
    )
