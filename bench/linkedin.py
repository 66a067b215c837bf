"""LinkedIn engine benchmark: the LinkedIn scheduler's idle tick and the DynamoDB requests per LinkedIn action.

In-process, against moto (`mock_aws` with the local stack's patches, the table from template.yaml) and the provider
emulator on 127.0.0.1 (devstack/linkedin_provider), with the real scheduler and worker:
1. a LinkedIn campaign (one view-profile step) with 1,000 enrollments, none due: one idle tick, its DynamoDB
   requests and provider calls counted;
2. 99,000 more, none due: the idle tick again (it must cost the same: it reads only the due shards);
3. 2 of them come due (one account paces 2 actions a minute): one tick claims and queues them, the worker handles
   the queue; DynamoDB requests per action = (tick + worker requests) / actions done. Target <= 3 is the issue's;
   the figure is reported as measured.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.support import count_aws_requests, total

ENROLLED = 100_000
DUE = 2
TARGET_REQUESTS_PER_ACTION = 3.0


def run() -> dict[str, float]:
    import boto3

    from devstack.linkedin_provider import LOCAL_API_KEY, LinkedInProviderEmulator
    from devstack.moto_patches import apply_moto_patches
    from kindling.campaigns.models import CampaignRecord, CampaignSettings, SendingWindow, StepRecord
    from kindling.campaigns.repository import CampaignRepository
    from kindling.enrollments.models import Enrollment
    from kindling.enrollments.repository import enrollment_item
    from kindling.linkedin.models import LinkedInAccount
    from kindling.linkedin.repository import LinkedInAccountRepository
    from kindling.linkedin.service import default_provider
    from kindling.outreach.engine import ActionWorker, LinkedInScheduler, handle_batch
    from kindling.platform import keys
    from kindling.platform.clock import ManualClock, set_clock
    from kindling.platform.dynamo import batch_write
    from kindling.platform.ids import new_uuid, prefixed_id
    from kindling.platform.settings import reset_settings
    from kindling.prospects.models import Prospect
    from kindling.prospects.repository import new_email_record, prospect_item
    from tests.integration.sending.world import clear_aws_extras, setup_aws_extras
    from tests.support.aws import moto_table

    apply_moto_patches()
    now = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
    clock = ManualClock(now)
    previous_clock = set_clock(clock)
    figures: dict[str, float] = {}
    try:
        with moto_table(), LinkedInProviderEmulator(clock=clock) as emulator:
            env = setup_aws_extras()
            queue = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="li-actions")["QueueUrl"]
            env.update(
                {
                    "KINDLING_LINKEDIN_ACTION_QUEUE_URL": queue,
                    "KINDLING_LINKEDIN_PROVIDER_URL": emulator.api_url,
                    "KINDLING_LINKEDIN_PROVIDER_API_KEY": LOCAL_API_KEY,
                }
            )
            os.environ.update(env)
            reset_settings()
            try:
                workspace_id = prefixed_id("ws")
                provider_account = emulator.create_account(name="Bench account")
                account = LinkedInAccount(
                    id=prefixed_id("li"),
                    workspace_id=workspace_id,
                    name="Bench account",
                    status="connected",
                    provider_status="OK",
                    provider_account_id=provider_account.id,
                    account_type="premium",
                    strategy="established",
                    created_at=now - timedelta(days=90),
                    updated_at=now,
                )
                LinkedInAccountRepository().insert(account)
                step = StepRecord(
                    id=new_uuid(),
                    step_index=0,
                    type="linkedin",
                    linkedin_action_type="view_profile",
                    variants=[],
                    created_at=now,
                    updated_at=now,
                )
                campaign = CampaignRecord(
                    campaign_id=new_uuid(),
                    workspace_id=workspace_id,
                    name="Bench",
                    channel="linkedin",
                    status="running",
                    started_at=now,
                    settings=CampaignSettings(
                        schedule_days=[1, 2, 3, 4, 5, 6, 7],
                        sending_windows=[SendingWindow(start="00:00", end="24:00")],
                    ),
                    linkedin_account_ids=[account.id],
                    steps=[step],
                    created_at=now,
                    updated_at=now,
                )
                CampaignRepository().insert(campaign)
                cid = campaign.campaign_id

                def enroll(count: int, start: int, when: datetime, with_prospects: bool) -> None:
                    items: list[Any] = []
                    for n in range(start, start + count):
                        prospect = Prospect(
                            id=f"p{n:06d}",
                            workspace_id=workspace_id,
                            email=f"lead{n}@company{n % 997}.com",
                            first_name=f"First{n}",
                            linkedin_url=f"https://www.linkedin.com/in/lead-{n}",
                            created_at=now,
                            updated_at=now,
                        )
                        if with_prospects:
                            items += [prospect_item(prospect), new_email_record(prospect)]
                        item = enrollment_item(
                            Enrollment(
                                id=f"enr_{n:08d}",
                                workspace_id=workspace_id,
                                campaign_id=cid,
                                prospect_id=prospect.id,
                                email=prospect.email,
                                first_name=prospect.first_name,
                                status="pending",
                                created_at=now,
                                updated_at=now,
                            )
                        )
                        item.next_send_at = when
                        item.due_pk, item.due_sk = keys.li_due_keys(item.pk, item.sk, when)
                        items.append(item)
                    batch_write(items)

                later = now + timedelta(days=3)
                scheduler = LinkedInScheduler()
                enroll(1_000, 0, later, with_prospects=False)
                calls = len(emulator.requests)
                with count_aws_requests() as counts:
                    scheduler.tick(now)
                figures["idle_tick_dynamodb_requests_at_1k"] = total(counts, "dynamodb")
                figures["idle_tick_provider_calls_at_1k"] = len(emulator.requests) - calls

                enroll(ENROLLED - 1_000 - DUE, 1_000, later, with_prospects=False)
                calls = len(emulator.requests)
                with count_aws_requests() as counts:
                    scheduler.tick(now)
                figures["idle_tick_dynamodb_requests_at_100k"] = total(counts, "dynamodb")
                figures["idle_tick_provider_calls_at_100k"] = len(emulator.requests) - calls
                figures["enrollments"] = ENROLLED

                enroll(DUE, ENROLLED - DUE, now, with_prospects=True)
                with count_aws_requests() as tick_counts:
                    report = scheduler.tick(now)
                figures["due"] = DUE
                figures["claimed"] = report.claimed
                figures["tick_dynamodb_requests"] = total(tick_counts, "dynamodb")
                sqs = boto3.client("sqs", region_name="us-east-1")
                worker = ActionWorker(default_provider())
                done = 0
                with count_aws_requests() as worker_counts:
                    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages") or []
                    records = [{"messageId": m["MessageId"], "body": m["Body"]} for m in messages]
                    result = handle_batch(worker, records)
                assert result == {"batchItemFailures": []}, result
                for n in range(ENROLLED - DUE, ENROLLED):
                    got = worker._repo.enrollment(workspace_id, cid, f"p{n:06d}")
                    done += int(got is not None and got.status == "completed")
                figures["actions_done"] = done
                figures["worker_dynamodb_requests"] = total(worker_counts, "dynamodb")
                figures["dynamodb_requests_per_action"] = round(
                    (figures["tick_dynamodb_requests"] + figures["worker_dynamodb_requests"]) / max(done, 1), 2
                )
                figures["worker_dynamodb_requests_per_action"] = round(
                    figures["worker_dynamodb_requests"] / max(done, 1), 2
                )
                figures["target_dynamodb_requests_per_action"] = TARGET_REQUESTS_PER_ACTION
            finally:
                clear_aws_extras(env)
    finally:
        set_clock(previous_clock)
    return figures
