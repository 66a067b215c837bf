"""In-process API over moto (with the webhook queue suppressions publish to), plus builders: a campaign stored
through the campaigns repository and prospects written in bulk the way an import writes them."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient

from devstack.moto_patches import apply_moto_patches
from kindling.api.app import create_app
from kindling.campaigns.models import CampaignRecord, StepRecord, VariantRecord
from kindling.campaigns.repository import CampaignRepository
from kindling.platform import aws as aws_clients
from kindling.platform.clock import ManualClock, get_clock
from kindling.platform.dynamo import batch_write
from kindling.platform.ids import new_uuid
from kindling.platform.settings import reset_settings
from kindling.prospects.models import Prospect
from kindling.prospects.repository import new_email_record, prospect_item
from tests.conftest import Tenant, make_tenant


@dataclass
class Api:
    client: TestClient
    tenant: Tenant

    @property
    def workspace_id(self) -> str:
        return self.tenant.workspace_id

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.tenant.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def enroll(self, campaign_id: str, **body: Any) -> Any:
        return self.call("POST", f"/api/v1/campaigns/{campaign_id}/enrollments", json=body)

    def unenroll(self, campaign_id: str, **body: Any) -> Any:
        return self.call("DELETE", f"/api/v1/campaigns/{campaign_id}/enrollments", json=body)


@pytest.fixture
def api(aws: None, clock: ManualClock) -> Iterator[Api]:
    # The local stack's emulator fixes: without them moto deep-copies the whole table for each item of every
    # TransactWriteItems (minutes for a 10,000-prospect enrollment); DynamoDB's behaviour is unchanged.
    apply_moto_patches()
    queue_url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="webhooks")["QueueUrl"]
    os.environ["KINDLING_WEBHOOK_QUEUE_URL"] = queue_url
    reset_settings()
    aws_clients.reset_clients()
    try:
        with TestClient(create_app()) as client:
            yield Api(client=client, tenant=make_tenant())
    finally:
        os.environ.pop("KINDLING_WEBHOOK_QUEUE_URL", None)
        reset_settings()


def make_campaign(
    workspace_id: str, *, status: str = "draft", weights: Sequence[int] = (50, 50), name: str = "Q3 outbound"
) -> CampaignRecord:
    """A campaign with one step whose variants A, B, ... have the given weights."""
    now = get_clock().now()
    variants = [
        VariantRecord(id=new_uuid(), letter=chr(ord("A") + n), subject=f"Hi {n}", body_html="<p>x</p>", weight=w)
        for n, w in enumerate(weights)
    ]
    step = StepRecord(
        id=new_uuid(), step_index=0, variants=variants, letters_used=len(variants), created_at=now, updated_at=now
    )
    extra: dict[str, Any] = {"paused_reason": "api", "paused_at": now} if status == "paused" else {}
    record = CampaignRecord(
        campaign_id=new_uuid(),
        workspace_id=workspace_id,
        name=name,
        status=status,  # type: ignore[arg-type]
        steps=[step],
        created_at=now,
        updated_at=now,
        **extra,
    )
    CampaignRepository().insert(record)
    return record


def seed_prospects(
    workspace_id: str,
    count: int,
    *,
    prefix: str = "lead",
    domain: str = "acme.com",
    custom_fields: dict[str, Any] | None = None,
    global_status: str = "active",
    when: datetime | None = None,
) -> list[Prospect]:
    """Prospects and their email records written with BatchWriteItem, as a CSV import writes them."""
    now = when or get_clock().now()
    prospects = [
        Prospect(
            id=new_uuid(),
            workspace_id=workspace_id,
            email=f"{prefix}{n}@{domain}",
            first_name=f"First{n}",
            last_name=f"Last{n}",
            global_status=global_status,  # type: ignore[arg-type]
            custom_fields=custom_fields or {},
            created_at=now,
            updated_at=now,
        )
        for n in range(count)
    ]
    batch_write([item for p in prospects for item in (prospect_item(p), new_email_record(p))])
    return prospects
