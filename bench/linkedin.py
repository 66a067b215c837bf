"""LinkedIn engine benchmark: the LinkedIn scheduler's idle tick and the DynamoDB requests per LinkedIn action.

In-process, against moto (`mock_aws` with the local stack's patches, the table from template.yaml) and the provider
emulator on 127.0.0.1 (devstack/linkedin_provider), with the real scheduler and worker:
1. a LinkedIn campaign (one view-profile step) with 1,000 enrollments, none due: one idle tick, its DynamoDB
   requests and provider calls counted;
2. 99,000 more, none due: the idle tick again (it must cost the same: it reads only the due shards);
3. per action type (view_profile, send_invite, send_message to a connected prospect) a campaign of its own over a
   pool of 15 accounts with 30 prospects due at once: the engine runs minute by minute (a tick, the queue drained
   by one worker in batches of 5 as Lambda would, the clock one minute on) until every prospect is done. An
   account paces 2 actions a minute and the prospects spread over the pool by the rotation's hash, so some
   accounts are asked for more than 2: the action goes to another account or waits for a later minute (whatever
   that costs is counted). The worker starts cold: its first actions read the campaign and each account.
   - marginal DynamoDB requests per action = (the ticks' requests - the idle tick's requests, per tick) + the
     worker's requests, divided by the actions done: what an action adds to the idle cost;
   - all-in = (the ticks' requests + the worker's requests) / actions done (the idle shard reads included).
   `dynamodb_requests_per_action` is the marginal figure over the three types. Target <= 3 is the issue's; the
   figures are reported as measured.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.support import count_aws_requests, total

ENROLLED = 100_000
ACCOUNTS = 15
DUE = 30  # per action type, due at once over the pool of ACCOUNTS accounts
BATCH = 5  # SQS records per worker invocation (template.yaml: the worker's event source BatchSize)
MAX_MINUTES = 15
ACTION_TYPES = ("view_profile", "send_invite", "send_message")
TARGET_REQUESTS_PER_ACTION = 3.0
# This benchmark run on the engine before the cost work (commit ebfc8a5: the worker read ledger, enrollment and
# prospect, the campaign, each account tried, the reservation, the `sending` mark, the success; the tick claimed and
# leased each action on its own), reported beside today's figures (`<name>_before`).
BEFORE = {
    "dynamodb_requests_per_action": 14.07,
    "dynamodb_requests_per_action_all_in": 14.37,
    "tick_dynamodb_requests_per_action": 2.07,
    "worker_dynamodb_requests_per_action": 12.0,
    "view_profile_dynamodb_requests_per_action": 12.27,
    "send_invite_dynamodb_requests_per_action": 14.47,
    "send_message_dynamodb_requests_per_action": 15.47,
}
# Until 8879789 the message phase's prospects were not the accounts' connections as meant (the sticky account was set
# on an item type that does not store it), so all but one or two of its 30 messages were skipped ("not a 1st-degree
# connection") and its figures (15.47 above; 3.5 then) counted skips. With that set-up fixed, 8879789 measured this,
# before the success transaction took the message's event in (`<name>_before_success_transaction`):
BEFORE_SUCCESS_TRANSACTION = {
    "dynamodb_requests_per_action": 3.47,
    "dynamodb_requests_per_action_all_in": 3.77,
    "worker_dynamodb_requests_per_action": 3.23,
    "send_message_dynamodb_requests_per_action": 5.3,
    "send_message_dynamodb_requests_per_action_all_in": 5.6,
}


def run() -> dict[str, float]:
    import boto3

    from devstack.linkedin_provider import LOCAL_API_KEY, LinkedInProviderEmulator
    from devstack.moto_patches import apply_moto_patches
    from kindling.campaigns.models import CampaignRecord, CampaignSettings, SendingWindow, StepRecord
    from kindling.campaigns.repository import CampaignRepository
    from kindling.enrollments.models import Enrollment
    from kindling.enrollments.repository import enrollment_item
    from kindling.inbox.linkedin import engine_worker
    from kindling.linkedin.models import LinkedInAccount
    from kindling.linkedin.repository import LinkedInAccountRepository
    from kindling.linkedin.service import default_provider
    from kindling.outreach.engine import LinkedInScheduler, handle_batch
    from kindling.outreach.repository import LinkedInEnrollmentItem, OutreachRepository
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
            sqs = boto3.client("sqs", region_name="us-east-1")
            queue = sqs.create_queue(QueueName="li-actions")["QueueUrl"]
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
                accounts: list[LinkedInAccount] = []
                for n in range(ACCOUNTS):
                    provider_account = emulator.create_account(name=f"Bench account {n}")
                    account = LinkedInAccount(
                        id=prefixed_id("li"),
                        workspace_id=workspace_id,
                        name=f"Bench account {n}",
                        status="connected",
                        provider_status="OK",
                        provider_account_id=provider_account.id,
                        account_type="premium",
                        strategy="established",
                        created_at=now - timedelta(days=90),
                        updated_at=now,
                    )
                    LinkedInAccountRepository().insert(account)
                    accounts.append(account)

                def campaign_with(action: str) -> str:
                    step = StepRecord(
                        id=new_uuid(),
                        step_index=0,
                        type="linkedin",
                        linkedin_action_type=action,
                        linkedin_invite_note="Hi {{firstName}}, glad to connect." if action == "send_invite" else None,
                        linkedin_message_template="Hello {{firstName}}!" if action == "send_message" else None,
                        variants=[],
                        created_at=now,
                        updated_at=now,
                    )
                    campaign = CampaignRecord(
                        campaign_id=new_uuid(),
                        workspace_id=workspace_id,
                        name=f"Bench {action}",
                        channel="linkedin",
                        status="running",
                        started_at=now,
                        settings=CampaignSettings(
                            schedule_days=[1, 2, 3, 4, 5, 6, 7],
                            sending_windows=[SendingWindow(start="00:00", end="24:00")],
                        ),
                        linkedin_account_ids=[a.id for a in accounts],
                        steps=[step],
                        created_at=now,
                        updated_at=now,
                    )
                    CampaignRepository().insert(campaign)
                    return campaign.campaign_id

                def enroll(
                    cid: str, count: int, start: int, when: datetime, with_prospects: bool, connected: bool = False
                ) -> list[str]:
                    items: list[Any] = []
                    ids: list[str] = []
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
                        ids.append(prospect.id)
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
                        if connected:  # invited and accepted before: the message goes from that account
                            account = accounts[n % ACCOUNTS]
                            # the engine's view of the enrollment: the sticky account is an attribute only it declares
                            item = LinkedInEnrollmentItem.from_raw_data(item.serialize())
                            item.li_account_id = account.id
                            member = emulator._profile_for(f"lead-{n}").provider_id
                            emulator.relations.setdefault(str(account.provider_account_id), {})[member] = now
                        items.append(item)
                    batch_write(items)
                    return ids

                later = now + timedelta(days=3)
                scheduler = LinkedInScheduler()
                idle_cid = campaign_with("view_profile")
                enroll(idle_cid, 1_000, 0, later, with_prospects=False)
                calls = len(emulator.requests)
                with count_aws_requests() as counts:
                    scheduler.tick(now)
                figures["idle_tick_dynamodb_requests_at_1k"] = total(counts, "dynamodb")
                figures["idle_tick_provider_calls_at_1k"] = len(emulator.requests) - calls

                enroll(idle_cid, ENROLLED - 1_000, 1_000, later, with_prospects=False)
                calls = len(emulator.requests)
                with count_aws_requests() as counts:
                    scheduler.tick(now)
                idle = total(counts, "dynamodb")
                figures["idle_tick_dynamodb_requests_at_100k"] = idle
                figures["idle_tick_provider_calls_at_100k"] = len(emulator.requests) - calls
                figures["enrollments"] = ENROLLED

                repo = OutreachRepository()
                worker = engine_worker(default_provider())  # as the worker function builds it: the inbox copy included
                sums = {"ticks": 0, "tick": 0, "worker": 0, "done": 0, "claimed": 0, "marginal": 0}
                start = ENROLLED
                for action in ACTION_TYPES:
                    cid = campaign_with(action)
                    ids = enroll(cid, DUE, start, clock.now(), with_prospects=True, connected=action == "send_message")
                    start += DUE
                    tick_requests = worker_requests = ticks = claimed = 0
                    for _ in range(MAX_MINUTES):
                        with count_aws_requests() as tick_counts:
                            report = scheduler.tick(clock.now())
                        ticks += 1
                        claimed += report.claimed
                        tick_requests += total(tick_counts, "dynamodb")
                        with count_aws_requests() as worker_counts:
                            while True:
                                got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=BATCH)
                                messages = got.get("Messages") or []
                                if not messages:
                                    break
                                records = [{"messageId": m["MessageId"], "body": m["Body"]} for m in messages]
                                result = handle_batch(worker, records)
                                assert result == {"batchItemFailures": []}, result
                                for m in messages:
                                    sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
                        worker_requests += total(worker_counts, "dynamodb")
                        clock.set(clock.now() + timedelta(seconds=60))
                        states = [repo.enrollment(workspace_id, cid, pid) for pid in ids]
                        if all(s is not None and s.status == "completed" for s in states):
                            break
                    done = sum(
                        1
                        for pid in ids
                        if (s := repo.enrollment(workspace_id, cid, pid)) is not None and s.status == "completed"
                    )
                    if action == "send_message":  # every one really sent (a skip would cost less and prove nothing)
                        sent = sum(1 for pid in ids if (s := repo.enrollment(workspace_id, cid, pid)) and s.li_chat_id)
                        figures["send_message_messages_sent"] = sent
                        assert sent == DUE, f"{sent} of {DUE} messages sent"
                    marginal = tick_requests - idle * ticks + worker_requests
                    figures[f"{action}_actions_done"] = done
                    figures[f"{action}_minutes"] = ticks
                    figures[f"{action}_dynamodb_requests_per_action"] = round(marginal / max(done, 1), 2)
                    figures[f"{action}_dynamodb_requests_per_action_all_in"] = round(
                        (tick_requests + worker_requests) / max(done, 1), 2
                    )
                    sums["ticks"] += ticks
                    sums["tick"] += tick_requests
                    sums["worker"] += worker_requests
                    sums["done"] += done
                    sums["claimed"] += claimed
                    sums["marginal"] += marginal
                done = max(sums["done"], 1)
                figures["accounts"] = ACCOUNTS
                figures["due"] = DUE * len(ACTION_TYPES)
                figures["claimed"] = sums["claimed"]
                figures["actions_done"] = sums["done"]
                figures["ticks"] = sums["ticks"]
                figures["tick_dynamodb_requests"] = sums["tick"]
                figures["worker_dynamodb_requests"] = sums["worker"]
                figures["dynamodb_requests_per_action"] = round(sums["marginal"] / done, 2)
                figures["dynamodb_requests_per_action_all_in"] = round((sums["tick"] + sums["worker"]) / done, 2)
                figures["tick_dynamodb_requests_per_action"] = round((sums["tick"] - idle * sums["ticks"]) / done, 2)
                figures["worker_dynamodb_requests_per_action"] = round(sums["worker"] / done, 2)
                figures["target_dynamodb_requests_per_action"] = TARGET_REQUESTS_PER_ACTION
                figures.update({f"{name}_before": value for name, value in BEFORE.items()})
                figures.update(
                    {f"{name}_before_success_transaction": v for name, v in BEFORE_SUCCESS_TRANSACTION.items()}
                )
            finally:
                clear_aws_extras(env)
    finally:
        set_clock(previous_clock)
    return figures
