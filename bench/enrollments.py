"""Enrollment benchmark: 10,000 prospects enrolled in one request through the API app.

Runs in-process: the FastAPI app under Starlette's TestClient against moto (`mock_aws`, with the local stack's
emulator patches: moto otherwise deep-copies the whole table for each item of a transaction), with the table created
from template.yaml. Counts every DynamoDB request the process sends while the request runs (authentication, rate limit,
campaign read, prospect/suppression/enrollment reads and the writes), then re-sends the same request (idempotent:
everyone is reported already enrolled) and counts that too.

Baseline: the naive write path, one PutItem per prospect (1.0 request per enrollment, before any read or the
suppression check); `ratio_to_naive_baseline` is ours divided by it. Target: <= 1.2 requests per enrollment.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

PROSPECTS = 10_000
TARGET_REQUESTS_PER_ENROLLMENT = 1.2


def run() -> dict[str, float]:
    from fastapi.testclient import TestClient

    from bench.support import count_aws_requests, total
    from devstack.moto_patches import apply_moto_patches
    from kindling.api.app import create_app
    from kindling.auth.scopes import ALL_SCOPES
    from kindling.auth.service import AuthService
    from kindling.campaigns.models import CampaignRecord, StepRecord, VariantRecord
    from kindling.campaigns.repository import CampaignRepository
    from kindling.platform.dynamo import batch_write
    from kindling.platform.ids import new_uuid
    from kindling.prospects.models import Prospect
    from kindling.prospects.repository import new_email_record, prospect_item
    from tests.support.aws import moto_table

    apply_moto_patches()
    with moto_table():
        auth = AuthService()
        workspace = auth.create_workspace("Bench")
        _, token = auth.create_api_key(workspace.id, name="bench", scopes=ALL_SCOPES)
        now = datetime.now(UTC)
        variants = [
            VariantRecord(id=new_uuid(), letter=letter, subject="Hi {{firstName}}", body_html="<p>Hi</p>")
            for letter in "AB"
        ]
        campaign = CampaignRecord(
            campaign_id=new_uuid(),
            workspace_id=workspace.id,
            name="Bench",
            steps=[
                StepRecord(
                    id=new_uuid(), step_index=0, variants=variants, letters_used=2, created_at=now, updated_at=now
                )
            ],
            created_at=now,
            updated_at=now,
        )
        CampaignRepository().insert(campaign)
        prospects = [
            Prospect(
                id=new_uuid(),
                workspace_id=workspace.id,
                email=f"lead{n}@company{n % 700}.com",
                first_name=f"First{n}",
                custom_fields={"plan": f"tier{n % 3}"},
                created_at=now,
                updated_at=now,
            )
            for n in range(PROSPECTS)
        ]
        batch_write([item for p in prospects for item in (prospect_item(p), new_email_record(p))])

        headers = {"Authorization": f"Bearer {token}"}
        path = f"/api/v1/campaigns/{campaign.campaign_id}/enrollments"
        body = {"prospectIds": [p.id for p in prospects]}
        with TestClient(create_app()) as client:
            client.get(path, headers=headers).raise_for_status()  # loads the routers outside the timing
            with count_aws_requests() as counts:
                started = time.perf_counter()
                response = client.post(path, json=body, headers=headers)
                elapsed = time.perf_counter() - started
            response.raise_for_status()
            with count_aws_requests() as resend_counts:
                resend_started = time.perf_counter()
                resent = client.post(path, json=body, headers=headers)
                resend_elapsed = time.perf_counter() - resend_started
            resent.raise_for_status()

    data, again = response.json()["data"], resent.json()["data"]
    if data["enrolledCount"] != PROSPECTS or again["alreadyEnrolledCount"] != PROSPECTS:
        raise RuntimeError(f"enrollment did not complete: {data} then {again}")
    requests = total(counts, "dynamodb")
    per_enrollment = requests / PROSPECTS
    return {
        "prospects": float(PROSPECTS),
        "enrolled": float(data["enrolledCount"]),
        "seconds": round(elapsed, 2),
        "enrollments_per_second": round(PROSPECTS / elapsed, 1),
        "dynamodb_requests": float(requests),
        "requests_per_enrollment": round(per_enrollment, 4),
        "target_requests_per_enrollment_max": TARGET_REQUESTS_PER_ENROLLMENT,
        "batch_get_requests": float(counts.get("dynamodb.BatchGetItem", 0)),
        "transact_write_requests": float(counts.get("dynamodb.TransactWriteItems", 0)),
        "baseline_naive_requests": float(PROSPECTS),
        "baseline_naive_requests_per_enrollment": 1.0,
        "ratio_to_naive_baseline": round(per_enrollment / 1.0, 4),
        "resend_seconds": round(resend_elapsed, 2),
        "resend_requests_per_prospect": round(total(resend_counts, "dynamodb") / PROSPECTS, 4),
    }
