"""What a tracking hit needs to exist: a campaign, a prospect enrolled in it and a delivered send of one step.

Used by the integration tests (moto in-process) and the e2e test (the local stack): everything goes through the
services and repositories of this workspace, except the send itself, which the scheduler's claim and the sender
would write; here it is written with the ledger's own item type, in the state the sender leaves it (`sent`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from kindling.campaigns.models import CampaignRecord, StepRecord, VariantRecord
from kindling.campaigns.repository import CampaignRepository
from kindling.enrollments.service import EnrollmentService
from kindling.platform import table
from kindling.platform.clock import get_clock
from kindling.platform.ids import new_uuid
from kindling.platform.keys import send_pk
from kindling.prospects.models import Prospect, ProspectCreate
from kindling.prospects.service import ProspectService
from kindling.sending.ledger import SendItem, SendLedgerRepository, SendRecord, send_id_for


@dataclass(frozen=True)
class Scenario:
    workspace_id: str
    campaign: CampaignRecord
    prospect: Prospect
    enrollment_id: str
    send: SendRecord

    @property
    def step_id(self) -> str:
        return self.campaign.steps[0].id


def make_campaign(workspace_id: str, *, stop_on_unsubscribe: bool = True, steps: int = 2) -> CampaignRecord:
    now = get_clock().now()
    step_records = [
        StepRecord(
            id=new_uuid(),
            step_index=n,
            variants=[
                VariantRecord(id=new_uuid(), letter="A", subject=f"Hello {n}", body_html="<p>Hi</p>", weight=100)
            ],
            letters_used=1,
            created_at=now,
            updated_at=now,
        )
        for n in range(steps)
    ]
    record = CampaignRecord.model_validate(
        {
            "campaign_id": new_uuid(),
            "workspace_id": workspace_id,
            "name": "Tracking test",
            "status": "draft",
            "steps": step_records,
            "created_at": now,
            "updated_at": now,
            "settings": {"stop_on_unsubscribe": stop_on_unsubscribe},
        }
    )
    CampaignRepository().insert(record)
    return record


def write_send(
    workspace_id: str,
    campaign: CampaignRecord,
    prospect: Prospect,
    enrollment_id: str,
    *,
    step: int = 0,
    sent_at: datetime | None = None,
) -> SendRecord:
    """A delivered send of one step of the campaign to the prospect, as the sender leaves it."""
    sent = sent_at or get_clock().now() - timedelta(minutes=30)
    step_record = campaign.steps[step]
    send_id = send_id_for(enrollment_id, step_record.id)
    SendItem(
        pk=send_pk(workspace_id, send_id),
        sk=table.ITEM_SK,
        send_id=send_id,
        enrollment_id=enrollment_id,
        campaign_id=campaign.id,
        step_id=step_record.id,
        step_index=step,
        variant="A",
        mailbox_id="mbx-tracking-test",
        prospect_id=prospect.id,
        recipient=prospect.email or "",
        message_id=f"{send_id}@mail.example.com",
        status="sent",
        attempts=1,
        queued_at=sent - timedelta(seconds=20),
        sending_at=sent - timedelta(seconds=2),
        sent_at=sent,
        finished_at=sent,
    ).save()
    return SendLedgerRepository().get(workspace_id, send_id)


def scenario(workspace_id: str, *, email: str = "jane@acme.example", stop_on_unsubscribe: bool = True) -> Scenario:
    """A two-step campaign, a prospect enrolled in it and the delivered send of its first step."""
    campaign = make_campaign(workspace_id, stop_on_unsubscribe=stop_on_unsubscribe)
    prospect, _ = ProspectService().create(workspace_id, ProspectCreate(email=email, first_name="Jane"))
    enrollments = EnrollmentService()
    result = enrollments.enroll(workspace_id, campaign.id, prospect_ids=[prospect.id])
    assert result.enrolled == 1, result
    listed, _ = enrollments.page(workspace_id, campaign.id, None, 10, None)
    enrollment_id = next(e.id for e in listed if e.prospect_id == prospect.id)
    send = write_send(workspace_id, campaign, prospect, enrollment_id)
    return Scenario(workspace_id, campaign, prospect, enrollment_id, send)
