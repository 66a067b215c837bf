"""The engines' mailbox-health helper: how the sender, inbox sync and warmup delivery report a mailbox that refuses
their login or cannot be reached, and what happens when an outage opens or closes.

- `report_mailbox_failure(...)`: the one call every engine makes, with the classified code; the write itself is
  `kindling.mailboxes.health.report_failure` (one conditional write, nothing when already reported).
- The listener registered here with `on_health_change` runs once per outage change, whoever wrote it (an engine,
  the checker, the user's re-test, the reconnect sweep):
  - outage opened on a mailbox that worked before (`disconnected`): the `mailbox.disconnected` webhook event; and
    every live campaign left with no usable mailbox pauses with `mailbox_disconnected`;
  - outage closed: `mailbox.reconnected`, and the campaigns paused for `mailbox_disconnected` with this mailbox in
    their pool resume (a campaign paused for any other reason stays paused), their failure-rate window reset.
Importing this module registers the listener: every entry point that can change a mailbox's health imports it.
"""

from __future__ import annotations

from datetime import datetime

from kindling.bounceshield.service import BounceShieldService
from kindling.enrollments.service import campaign_service
from kindling.events.catalog import emit_event
from kindling.events.service import EventService
from kindling.mail.connection import Protocol_
from kindling.mailboxes import health
from kindling.mailboxes.health import HealthChange, on_health_change
from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.repository import MailboxRepository
from kindling.platform.clock import isoformat
from kindling.platform.observability import get_logger

DISCONNECTED_REASON = "mailbox_disconnected"


def report_mailbox_failure(
    repository: MailboxRepository,
    mailbox: Mailbox,
    protocol: Protocol_,
    code: str,
    now: datetime,
    detail: str | None = None,
) -> bool:
    """An engine's login was refused (or the server is gone) with the credentials of `mailbox`: report it once.
    True when this report opened the outage (False: already reported, or the mailbox changed meanwhile)."""
    return health.report_failure(repository, mailbox, protocol, code, now, detail) is not None


def outage_consequences(mailbox: Mailbox, now: datetime) -> list[str]:
    """What an open outage implies, idempotently: the campaigns left with no usable mailbox pause, and a mailbox that
    worked before is announced (`mailbox.disconnected`, deduplicated per outage). The listener runs it when the
    outage opens; the reconnect sweep runs it again for a mailbox still down, so a listener that failed half-way
    (the status written, the pause or the event not) is completed. Returns the campaigns it paused."""
    ws = mailbox.workspace_id
    paused = campaign_service().pause_campaigns_for_mailbox(ws, mailbox.id, DISCONNECTED_REASON)
    if mailbox.status == "disconnected":  # it worked before; a mailbox that never did (`error`) is not news
        emit_event(
            EventService(),
            ws,
            "mailbox.disconnected",
            {
                "mailboxId": mailbox.id,
                "email": mailbox.email_address,
                "status": mailbox.status,
                "code": mailbox.last_test_code or "unknown_error",
                "message": mailbox.last_test_error,
                "disconnectedAt": isoformat(mailbox.disconnected_since or now),
                "pausedCampaignIds": paused,
            },
            now=now,
        )
    if paused:
        get_logger().warning(
            "mailbox outage: campaigns paused", extra={"mailbox_id": mailbox.id, "paused_campaigns": len(paused)}
        )
    return paused


def reconnection_consequences(mailbox: Mailbox, since: datetime, now: datetime) -> list[str]:
    """What the end of the outage that began at `since` implies, idempotently: the campaigns paused for
    `mailbox_disconnected` with the mailbox in their pool resume (their failure-rate window reset), one
    `mailbox.reconnected` (deduplicated per outage), then the mailbox's resume marker is cleared. The listener runs
    it on the flip; the reconnect sweep runs it for a marker left behind by a crash. Returns the campaigns resumed."""
    ws = mailbox.workspace_id
    service = campaign_service()
    resumed = service.resume_campaigns_paused_for(ws, DISCONNECTED_REASON, mailbox_id=mailbox.id)
    shield = BounceShieldService(campaigns=service)
    for campaign_id in resumed:
        # The outage's refused sends must not pause the resumed campaign straight back (help center: the
        # failure-rate window resets on reconnection).
        shield.reset_failure_window(ws, campaign_id)
    emit_event(
        EventService(),
        ws,
        "mailbox.reconnected",
        {
            "mailboxId": mailbox.id,
            "email": mailbox.email_address,
            "disconnectedAt": isoformat(since),
            "reconnectedAt": isoformat(mailbox.last_connected_at or now),
            "resumedCampaignIds": resumed,
        },
        now=now,
    )
    health.clear_resume_pending(MailboxRepository(), mailbox, since, now)
    get_logger().info(
        "mailbox reconnected: campaigns resumed", extra={"mailbox_id": mailbox.id, "resumed_campaigns": len(resumed)}
    )
    return resumed


@on_health_change
def _on_health_change(change: HealthChange, now: datetime) -> None:
    if change.started:
        outage_consequences(change.after, now)
        return
    reconnection_consequences(change.after, change.before.disconnected_since or now, now)
