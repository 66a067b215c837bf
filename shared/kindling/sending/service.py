"""What other parts of the system ask of the sending engine: stop an enrollment (a reply, a bounce report, an
unsubscribe, a suppression), whether a campaign stops on such an outcome, and a spam complaint.

Stopping sets the enrollment's status, takes it out of the due index, moves the campaign's enrollment summary
and cancels the send of its current step when that is still queued (a send already handed to SMTP cannot be
called back; the sender's final write then leaves the stopped enrollment alone).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from kindling.campaigns.models import CampaignSettings, StepRecord
from kindling.campaigns.repository import CampaignRepository
from kindling.campaigns.service import CampaignService
from kindling.enrollments.models import IN_SEQUENCE
from kindling.enrollments.repository import EnrollmentRepository
from kindling.enrollments.service import campaign_service
from kindling.platform.errors import InvalidStatus, NotFound
from kindling.platform.observability import get_logger
from kindling.prospects.repository import ProspectRepository
from kindling.sending import windows
from kindling.sending.ledger import send_id_for
from kindling.sending.repository import SendingRepository
from kindling.sending.safety import CampaignSafety

StopReason = Literal["replied", "bounced", "unsubscribed", "suppressed", "stopped"]
STOP_STATUSES: dict[str, str] = {
    "replied": "replied",
    "bounced": "bounced",
    "unsubscribed": "unsubscribed",
    "suppressed": "suppressed",
    "stopped": "stopped",
}
MAX_ATTEMPTS = 4
COMPLETED_REASON = "all_enrollments_finished"


def should_stop(settings: CampaignSettings, reason: StopReason) -> bool:
    """Does this campaign stop a prospect's sequence on `reason`? (stopOnReply / stopOnBounce /
    stopOnUnsubscribe; a suppression or an explicit stop always does)."""
    if reason == "replied":
        return settings.stop_on_reply
    if reason == "bounced":
        return settings.stop_on_bounce
    if reason == "unsubscribed":
        return settings.stop_on_unsubscribe
    return True


def current_step(steps: list[StepRecord], index: int) -> StepRecord | None:
    """The step an enrollment pointing at `index` sends next: the first active one at or after it."""
    for step in steps[index:]:
        if step.is_active:
            return step
    return None


def stop_enrollment(
    workspace_id: str,
    campaign_id: str,
    prospect_id: str,
    reason: StopReason,
    at: datetime,
    *,
    repository: SendingRepository | None = None,
    campaigns: CampaignRepository | None = None,
) -> bool:
    """Stop the prospect's enrollment in the campaign; True when this call stopped it (False: no such
    enrollment, or it had already left the sequence). Whether the campaign stops on `reason` is the caller's
    call (`should_stop`)."""
    if reason not in STOP_STATUSES:
        raise ValueError(f"unknown stop reason {reason!r}")
    repo = repository or SendingRepository()
    for _ in range(MAX_ATTEMPTS):
        item = repo.get_enrollment(workspace_id, campaign_id, prospect_id)
        if item is None or item.status not in IN_SEQUENCE:
            return False
        try:
            steps = (campaigns or CampaignRepository()).get(workspace_id, campaign_id).steps
        except NotFound:
            steps = []
        step = current_step(steps, int(item.current_step or 0))
        if step is not None:
            # A queued send of the current step never goes out: the sender's gate needs `queued`.
            repo.cancel_send(workspace_id, send_id_for(item.enrollment_id, step.id), at)
        if repo.set_status(workspace_id, campaign_id, prospect_id, item.status, STOP_STATUSES[reason], reason, at):
            complete_if_finished(workspace_id, campaign_id, at)
            return True
    get_logger().warning(
        "could not stop an enrollment that keeps changing",
        extra={"campaign_id": campaign_id, "prospect_id": prospect_id, "reason": reason},
    )
    return False


def continue_after_out_of_office(
    workspace_id: str,
    campaign_id: str,
    prospect_id: str,
    at: datetime,
    *,
    repository: SendingRepository | None = None,
    campaigns: CampaignRepository | None = None,
    prospects: ProspectRepository | None = None,
) -> bool:
    """The prospect's answer in this campaign was an out-of-office: the sequence goes on (help center §22). One still
    in the sequence keeps its schedule. One a reply stopped (`replied`, reason `replied`) goes back to the status it
    had, its next step due when it falls due after the last send (at `at` when that has passed or nothing was sent
    yet: the next scheduler tick), and the prospect's reply mark goes if that reply set it. Left alone: any other
    stop, a campaign that ended, and a prospect whose reply mark comes from another reply while the campaign stops
    on replies (the scheduler would stop it again). True when this call put the enrollment back."""
    repo = repository or SendingRepository()
    item = repo.get_enrollment(workspace_id, campaign_id, prospect_id)
    if item is None or item.status != "replied" or item.stopped_reason != "replied":
        return False
    try:
        campaign = (campaigns or CampaignRepository()).get(workspace_id, campaign_id)
    except NotFound:
        return False
    if campaign.status in ("completed", "errored"):
        return False
    people = prospects or ProspectRepository()
    record = people.email_record(workspace_id, item.email)
    replied_at = record.replied_at if record is not None else None
    own_mark = replied_at is not None and replied_at == item.updated_at
    if replied_at is not None and not own_mark and campaign.settings.stop_on_reply:
        return False
    previous = item.previous_status if item.previous_status in IN_SEQUENCE else None
    target = previous or ("active" if item.last_sent_at is not None else "pending")
    due = at
    step = current_step(campaign.steps, int(item.current_step or 0))
    if step is not None and item.last_sent_at is not None:
        timezone = campaign.settings.timezone
        due = max(at, windows.step_due(item.last_sent_at, step.delay_days, step.delay_hours, timezone))
    if not repo.set_status(workspace_id, campaign_id, prospect_id, "replied", target, None, at, due=due):
        return False
    if own_mark and replied_at is not None:
        people.withdraw_replied(workspace_id, item.email, replied_at)
    get_logger().info(
        "out-of-office: sequence resumed",
        extra={"campaign_id": campaign_id, "prospect_id": prospect_id, "status": target},
    )
    return True


def complete_if_finished(
    workspace_id: str, campaign_id: str, at: datetime, campaigns: CampaignService | None = None
) -> bool:
    """A running (or paused, cooldown) campaign whose enrollments have all left the sequence is completed. Read
    from the enrollment summary, which every status change moves in the same transaction."""
    summary = EnrollmentRepository().summary(workspace_id, campaign_id)
    if summary.total == 0 or summary.count("pending") + summary.count("active") > 0:
        return False
    if campaigns is None:
        campaigns = campaign_service()
    try:
        campaigns.transition(workspace_id, campaign_id, "complete", reason=COMPLETED_REASON)
    except (InvalidStatus, NotFound):
        return False
    return True


def record_complaint(workspace_id: str, campaign_id: str, at: datetime) -> int:
    """A spam complaint (an ARF report) about a campaign's email: counted, and the campaign re-checked at once
    (campaign safety: 3 complaints send it to cooldown). Returns the campaign's complaint count."""

    count = SendingRepository().add_complaint(workspace_id, campaign_id)
    CampaignSafety().check(workspace_id, campaign_id, at)
    return count
