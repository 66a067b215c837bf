"""The sending engine's mailbox-deletion listener (help center §10), registered with `on_mailbox_deleted`.

After a mailbox is soft-deleted, every in-flight enrollment (pending or active) assigned to it keeps its history and
step, loses the assignment (`mailbox_id` cleared; the next step is sent by whichever pool mailbox rotation picks),
and its next send moves out by `RELEASE_DELAY` (1 hour) from when it was due, or from the deletion if that was
already past. Campaigns left with no usable mailbox pause with `mailbox_disconnected`. Idempotent: a repeated
DELETE finds the assignments cleared and the campaigns paused.
"""

from __future__ import annotations

from datetime import datetime

from kindling.campaigns.repository import CampaignRepository
from kindling.enrollments.service import campaign_service
from kindling.mailboxes.service import RELEASE_DELAY, on_mailbox_deleted
from kindling.platform.observability import get_logger
from kindling.sending.repository import SendingRepository


def next_send_after_deletion(next_send_at: datetime | None, deleted_at: datetime) -> datetime:
    """Pure: pushed out by 1 hour from when it was due (never from a time already past)."""
    base = deleted_at if next_send_at is None or next_send_at < deleted_at else next_send_at
    return base + RELEASE_DELAY


def release_deleted_mailbox(workspace_id: str, mailbox_id: str, deleted_at: datetime) -> int:
    """Returns how many enrollments were released."""
    campaigns = CampaignRepository()
    repo = SendingRepository()
    released = 0
    cursor: str | None = None
    headers = []
    while True:
        page, cursor = campaigns.list_page(workspace_id, None, 100, cursor)
        headers.extend(page)
        if cursor is None:
            break
    for header in headers:
        if header.mailbox(mailbox_id) is None:
            continue
        for item in repo.assigned_enrollments(workspace_id, header.campaign_id, mailbox_id):
            when = next_send_after_deletion(item.next_send_at, deleted_at)
            released += int(repo.unassign_mailbox(item, mailbox_id, when))
    paused = campaign_service().pause_campaigns_for_mailbox(workspace_id, mailbox_id)
    get_logger().info(
        "deleted mailbox released",
        extra={"mailbox_id": mailbox_id, "enrollments": released, "paused_campaigns": len(paused)},
    )
    return released


@on_mailbox_deleted
def _on_deleted(workspace_id: str, mailbox_id: str, deleted_at: datetime) -> None:
    release_deleted_mailbox(workspace_id, mailbox_id, deleted_at)
