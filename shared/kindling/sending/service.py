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
