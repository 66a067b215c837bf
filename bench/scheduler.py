"""Scheduler benchmark: DynamoDB requests per tick and per delivered email, and the AWS cost of 1,000 emails.

In-process, against moto (`mock_aws` with the local stack's emulator patches, the table from template.yaml), a
real SMTP sink on 127.0.0.1 (aiosmtpd) and the real handlers:
1. a campaign with 40 mailboxes and 1,000 enrollments, none due: one idle tick, its requests counted;
2. 99,000 more enrollments, none due: the idle tick again (invariant cost-follows-due-work: it must cost the same);
3. 1,000 of the 100,000 come due: one tick claims and queues them; the send queue is then drained through the
   sender handler in batches of 10 (as Lambda's poller does: receive, invoke, delete), over SMTP.

Every AWS request is counted (bench.support) and each DynamoDB write and read is priced by a capacity model that
reads the item sizes from moto before and after each request (moto reports no real consumed capacity):
- write: ceil(max(size before, size after) / 1 KB) WRU, doubled inside TransactWriteItems (a ConditionCheck is
  priced as a write); each of the item's indexes (all project ALL attributes) adds ceil(size / 1 KB) for an
  insert, an in-place update or a removal, and both for a key change (delete + insert), never doubled;
- read: ceil(size / 4 KB) RRU per item strongly consistent (GetItem, BatchGetItem; 1 for a missing item), half
  that rounded per response for an eventually consistent Query on an index (minimum 0.5).

Cost model (us-east-1 list prices, November 2025; constants below): Lambda arm64 GB-seconds and requests (the
scheduler and sender at their template memory; durations are the larger of the measured in-process time and a
production estimate of 8 ms per DynamoDB/SQS/KMS request plus 150 ms per SMTP message), DynamoDB on-demand
WRU/RRU, SQS standard requests (send, receive, delete, the webhook queue's events), EventBridge scheduled
invocations (priced as EventBridge Scheduler; the tick that claims 1,000 emails is one invocation).
Targets: <= 4 DynamoDB requests per delivered email end to end; an idle tick costs the same at 1,000 and
100,000 enrollments; < $0.02 per 1,000 emails.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ENROLLED = 100_000
DUE = 1_000
MAILBOXES = 40
SQS_BATCH = 10

# Prices, USD (us-east-1 list prices as of November 2025).
LAMBDA_ARM_GB_SECOND = 0.0000133334
LAMBDA_REQUEST = 0.20 / 1_000_000
DYNAMODB_WRU = 0.625 / 1_000_000  # on-demand write request unit (after the November 2024 price cut)
DYNAMODB_RRU = 0.125 / 1_000_000  # on-demand read request unit
SQS_REQUEST = 0.40 / 1_000_000  # standard queue, per 64 KB chunk
EVENTBRIDGE_INVOCATION = 1.00 / 1_000_000  # EventBridge Scheduler; classic scheduled rules are free
SCHEDULER_MEMORY_GB = 0.5
SENDER_MEMORY_GB = 0.5
PROD_MS_PER_AWS_REQUEST = 8.0
PROD_MS_PER_SMTP_MESSAGE = 150.0

TARGET_REQUESTS_PER_EMAIL = 4.0
TARGET_COST_PER_1000 = 0.02


@dataclass
class Capacity:
    wru: float = 0.0
    rru: float = 0.0
    by_operation: Counter[str] = field(default_factory=Counter)


def _kb(size: int, unit: int) -> int:
    return max(1, math.ceil(size / unit))


class CapacityMeter:
    """Prices each DynamoDB request from moto's items before and after it (see the module docstring)."""

    def __init__(self, table_name: str) -> None:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        self.table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_table(table_name)
        self.indexes = [
            (i.name, i.schema[0]["AttributeName"], i.schema[1]["AttributeName"]) for i in self.table.global_indexes
        ]

    def _item(self, key: dict[str, Any]) -> Any:
        try:
            return self.table.get_item(_dyn(key["pk"]), _dyn(key["sk"]))
        except Exception:
            return None

    def _size(self, item: Any) -> int:
        return int(item.size()) if item is not None else 0

    def _index_keys(self, item: Any) -> dict[str, tuple[Any, Any] | None]:
        found: dict[str, tuple[Any, Any] | None] = {}
        for name, hash_attr, range_attr in self.indexes:
            if item is None or hash_attr not in item.attrs or range_attr not in item.attrs:
                found[name] = None
            else:
                found[name] = (item.attrs[hash_attr].value, item.attrs[range_attr].value)
        return found

    def write_cost(self, before: Any, after: Any, transactional: bool) -> float:
        pre, post = self._size(before), self._size(after)
        cost = _kb(max(pre, post), 1024) * (2 if transactional else 1)
        keys_before, keys_after = self._index_keys(before), self._index_keys(after)
        for name, _, _ in self.indexes:
            old, new = keys_before[name], keys_after[name]
            if old is None and new is None:
                continue
            if old is None:
                cost += _kb(post, 1024)
            elif new is None:
                cost += _kb(pre, 1024)
            elif old == new:
                cost += _kb(max(pre, post), 1024)
            else:
                cost += _kb(pre, 1024) + _kb(post, 1024)
        return cost


def _dyn(value: dict[str, Any]) -> Any:
    from moto.dynamodb.models.dynamo_type import DynamoType

    return DynamoType(value)


def _write_keys(operation: str, body: dict[str, Any]) -> list[tuple[dict[str, Any], bool]]:
    """(key, transactional) of every item a write request touches."""
    if operation in ("PutItem",):
        return [({"pk": body["Item"]["pk"], "sk": body["Item"]["sk"]}, False)]
    if operation in ("UpdateItem", "DeleteItem"):
        return [(body["Key"], False)]
    if operation == "TransactWriteItems":
        keys = []
        for entry in body["TransactItems"]:
            for kind, spec in entry.items():
                key = spec["Item"] if kind == "Put" else spec["Key"]
                keys.append(({"pk": key["pk"], "sk": key["sk"]}, True))
        return keys
    if operation == "BatchWriteItem":
        keys = []
        for requests in body["RequestItems"].values():
            for request in requests:
                if "PutRequest" in request:
                    item = request["PutRequest"]["Item"]
                    keys.append(({"pk": item["pk"], "sk": item["sk"]}, False))
                else:
                    keys.append((request["DeleteRequest"]["Key"], False))
        return keys
    return []


def _read_units(operation: str, body: dict[str, Any], parsed: dict[str, Any]) -> float:
    from moto.dynamodb.models.dynamo_type import Item

    def size(raw: dict[str, Any]) -> int:
        return int(Item(_dyn(raw["pk"]), _dyn(raw["sk"]), raw).size())

    if operation == "GetItem":
        return _kb(size(parsed["Item"]), 4096) if "Item" in parsed else 1
    if operation == "BatchGetItem":
        asked = sum(len(spec["Keys"]) for spec in body["RequestItems"].values())
        found = [item for items in parsed.get("Responses", {}).values() for item in items]
        return sum(_kb(size(i), 4096) for i in found) + (asked - len(found))
    if operation in ("Query", "Scan"):
        total = sum(size(i) for i in parsed.get("Items", []))
        units = max(1, math.ceil(total / 4096))
        return units * (1.0 if body.get("ConsistentRead") else 0.5)
    return 0.0


@contextmanager
def metered(meter: CapacityMeter) -> Iterator[tuple[Counter[str], Capacity]]:
    """Counts every AWS request (`service.Operation`) and prices the DynamoDB ones."""
    from botocore.endpoint import Endpoint

    counts: Counter[str] = Counter()
    capacity = Capacity()
    original = Endpoint.make_request

    def measuring(self: Endpoint, operation_model: Any, request_dict: Any) -> Any:
        service = operation_model.service_model.service_name
        operation = operation_model.name
        counts[f"{service}.{operation}"] += 1
        if service != "dynamodb":
            return original(self, operation_model, request_dict)
        body = json.loads(request_dict.get("body") or "{}")
        keys = _write_keys(operation, body)
        before = [meter._item(key) for key, _ in keys]
        before_copies = [_snapshot(item) for item in before]
        result = original(self, operation_model, request_dict)
        if keys:
            for (key, transactional), old in zip(keys, before_copies, strict=True):
                wru = meter.write_cost(old, meter._item(key), transactional)
                capacity.wru += wru
                capacity.by_operation[f"wru.{operation}"] += wru  # type: ignore[assignment]
        else:
            rru = _read_units(operation, body, result[1])
            capacity.rru += rru
            capacity.by_operation[f"rru.{operation}"] += rru  # type: ignore[assignment]
        return result

    Endpoint.make_request = measuring  # type: ignore[method-assign]
    try:
        yield counts, capacity
    finally:
        Endpoint.make_request = original  # type: ignore[method-assign]


def _snapshot(item: Any) -> Any:
    """A frozen copy of an item's size and index keys (moto updates items in place)."""
    if item is None:
        return None

    class Frozen:
        def __init__(self, size: int, attrs: dict[str, Any]) -> None:
            self._size, self.attrs = size, attrs

        def size(self) -> int:
            return self._size

    class Value:
        def __init__(self, value: Any) -> None:
            self.value = value

    return Frozen(int(item.size()), {k: Value(v.value) for k, v in item.attrs.items()})


def _load(function: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"bench_{function}_app", REPO / "functions" / function / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dynamodb(counts: Counter[str]) -> int:
    return sum(n for k, n in counts.items() if k.startswith("dynamodb."))


def _aws(counts: Counter[str]) -> int:
    return sum(counts.values())


def run() -> dict[str, float]:
    import boto3

    from devstack.moto_patches import apply_moto_patches
    from kindling.campaigns.models import CampaignMailbox, CampaignRecord, CampaignSettings, StepRecord, VariantRecord
    from kindling.campaigns.repository import CampaignRepository
    from kindling.enrollments.models import Enrollment
    from kindling.enrollments.repository import enrollment_item
    from kindling.mailboxes.models import Mailbox
    from kindling.mailboxes.repository import MailboxRepository
    from kindling.mailboxes.secrets import KmsSecretBox
    from kindling.platform import keys
    from kindling.platform.clock import ManualClock, set_clock
    from kindling.platform.dynamo import batch_write
    from kindling.platform.ids import new_uuid, prefixed_id
    from kindling.platform.settings import get_settings
    from kindling.prospects.models import Prospect
    from kindling.prospects.repository import new_email_record, prospect_item
    from kindling.sending.scheduler import Scheduler
    from tests.integration.sending.conftest import PASSWORD, USER, sink_server
    from tests.integration.sending.world import clear_aws_extras, setup_aws_extras
    from tests.support.aws import moto_table

    apply_moto_patches()
    now = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
    clock = ManualClock(now)
    previous_clock = set_clock(clock)
    figures: dict[str, float] = {}
    try:
        with moto_table(), sink_server("plain", None, "") as smtp:
            env = setup_aws_extras()
            try:
                workspace_id = prefixed_id("ws")
                box = KmsSecretBox()
                mailboxes = []
                for n in range(MAILBOXES):
                    mailbox_id = new_uuid()
                    mailbox = Mailbox(
                        id=mailbox_id,
                        workspace_id=workspace_id,
                        email_address=f"sender{n}@lab.test",
                        display_name=f"Sender {n}",
                        status="connected",
                        daily_send_limit=50,
                        smtp_host="127.0.0.1",
                        smtp_port=smtp.port,
                        smtp_username=USER,
                        smtp_security="none",
                        smtp_password_enc=box.encrypt(workspace_id, mailbox_id, PASSWORD),
                        imap_host="127.0.0.1",
                        imap_port=1,
                        imap_username=USER,
                        imap_security="none",
                        imap_password_enc=box.encrypt(workspace_id, mailbox_id, PASSWORD),
                        created_at=now,
                        updated_at=now,
                    )
                    MailboxRepository().insert(mailbox)
                    mailboxes.append(mailbox)
                steps = [
                    StepRecord(
                        id=new_uuid(),
                        step_index=index,
                        delay_days=delay,
                        send_as_reply=index == 1,
                        variants=[
                            VariantRecord(
                                id=new_uuid(),
                                letter=letter,
                                subject=f"Hi {{{{firstName}}}} ({letter})" if index != 1 else "",
                                body_html='<p>Hi {{firstName}} at {{company}}, <a href="https://acme.test/x">see</a></p>',
                            )
                            for letter in "AB"
                        ],
                        letters_used=2,
                        created_at=now,
                        updated_at=now,
                    )
                    for index, delay in enumerate((0, 2, 3))
                ]
                campaign = CampaignRecord(
                    campaign_id=new_uuid(),
                    workspace_id=workspace_id,
                    name="Bench",
                    status="running",
                    started_at=now,
                    settings=CampaignSettings(
                        schedule_days=[1, 2, 3, 4, 5, 6, 7], minutes_between_sends=0, daily_send_limit=10_000
                    ),
                    mailboxes=[CampaignMailbox(mailbox_id=m.id, added_at=now) for m in mailboxes],
                    steps=steps,
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
                            company=f"Company {n % 997}",
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
                                variant="AB"[n % 2],
                                created_at=now,
                                updated_at=now,
                            )
                        )
                        item.next_send_at = when
                        item.due_pk, item.due_sk = keys.send_due_keys(item.pk, item.sk, when)
                        items.append(item)
                    batch_write(items)

                later = now + timedelta(days=3)
                enroll(1_000, 0, later, with_prospects=False)
                meter = CapacityMeter(get_settings().table_name)
                scheduler = Scheduler()
                with metered(meter) as (counts, _):
                    scheduler.tick(now)
                figures["idle_tick_dynamodb_requests_at_1k"] = _dynamodb(counts)

                enroll(ENROLLED - 1_000 - DUE, 1_000, later, with_prospects=False)
                with metered(meter) as (counts, _):
                    scheduler.tick(now)
                figures["idle_tick_dynamodb_requests_at_100k"] = _dynamodb(counts)
                figures["enrollments"] = ENROLLED

                enroll(DUE, ENROLLED - DUE, now, with_prospects=True)
                with metered(meter) as (tick_counts, tick_capacity):
                    started = time.perf_counter()
                    report = scheduler.tick(now)
                    tick_seconds = time.perf_counter() - started
                figures["due"] = DUE
                figures["claimed"] = report.claimed
                figures["tick_dynamodb_requests"] = _dynamodb(tick_counts)
                figures["tick_seconds"] = round(tick_seconds, 3)

                sender = _load("sender")
                sqs = boto3.client("sqs", region_name="us-east-1")
                url = env["KINDLING_SEND_QUEUE_URL"]
                batches = 0
                send_seconds = 0.0
                with metered(meter) as (send_counts, send_capacity):
                    while True:
                        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=SQS_BATCH)
                        messages = received.get("Messages") or []
                        if not messages:
                            break
                        batches += 1
                        started = time.perf_counter()
                        response = sender.handler(_event(messages), None)
                        send_seconds += time.perf_counter() - started
                        assert response == {"batchItemFailures": []}, response
                        sqs.delete_message_batch(
                            QueueUrl=url,
                            Entries=[
                                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
                            ],
                        )
                delivered = len(smtp.handler.delivered)
                figures["delivered"] = delivered
                figures["sender_batches"] = batches
                figures["sender_dynamodb_requests"] = _dynamodb(send_counts)
                figures["sender_seconds"] = round(send_seconds, 3)

                dynamo_total = figures["tick_dynamodb_requests"] + figures["sender_dynamodb_requests"]
                figures["dynamodb_requests_per_email"] = round(dynamo_total / delivered, 3)
                figures["scheduler_dynamodb_requests_per_due_send"] = round(figures["tick_dynamodb_requests"] / DUE, 3)
                figures["sender_dynamodb_requests_per_email"] = round(
                    figures["sender_dynamodb_requests"] / delivered, 3
                )
                wru = tick_capacity.wru + send_capacity.wru
                rru = tick_capacity.rru + send_capacity.rru
                figures["wru_per_email"] = round(wru / delivered, 2)
                figures["rru_per_email"] = round(rru / delivered, 2)
                figures.update(
                    _costs(figures, tick_counts, send_counts, wru, rru, delivered, tick_seconds, send_seconds)
                )
                figures["target_dynamodb_requests_per_email"] = TARGET_REQUESTS_PER_EMAIL
                figures["target_cost_per_1000_emails_usd"] = TARGET_COST_PER_1000
            finally:
                clear_aws_extras(env)
    finally:
        set_clock(previous_clock)
    return figures


def _event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(m["Body"].encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:send",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def _costs(
    figures: dict[str, float],
    tick_counts: Counter[str],
    send_counts: Counter[str],
    wru: float,
    rru: float,
    delivered: int,
    tick_seconds: float,
    send_seconds: float,
) -> dict[str, float]:
    per = 1000 / delivered
    tick_requests = _aws(tick_counts)
    send_requests = _aws(send_counts)
    tick_model = (tick_requests * PROD_MS_PER_AWS_REQUEST) / 1000
    send_model = (send_requests * PROD_MS_PER_AWS_REQUEST + delivered * PROD_MS_PER_SMTP_MESSAGE) / 1000
    tick_duration = max(tick_seconds, tick_model)
    send_duration = max(send_seconds, send_model)
    batches = figures["sender_batches"]
    lambda_cost = (
        tick_duration * SCHEDULER_MEMORY_GB * LAMBDA_ARM_GB_SECOND
        + send_duration * SENDER_MEMORY_GB * LAMBDA_ARM_GB_SECOND
        + (1 + batches) * LAMBDA_REQUEST
    )
    # The poller's receives and deletes are SQS requests too: one receive and one delete batch per batch.
    sqs_requests = sum(n for k, n in tick_counts.items() if k.startswith("sqs.")) + sum(
        n for k, n in send_counts.items() if k.startswith("sqs.")
    )
    dynamodb_cost = wru * DYNAMODB_WRU + rru * DYNAMODB_RRU
    sqs_cost = sqs_requests * SQS_REQUEST
    eventbridge_cost = 1 * EVENTBRIDGE_INVOCATION
    total_cost = lambda_cost + dynamodb_cost + sqs_cost + eventbridge_cost
    return {
        "lambda_seconds_modelled": round(tick_duration + send_duration, 3),
        "sqs_requests_per_email": round(sqs_requests / delivered, 3),
        "cost_lambda_per_1000_usd": round(lambda_cost * per, 6),
        "cost_dynamodb_per_1000_usd": round(dynamodb_cost * per, 6),
        "cost_sqs_per_1000_usd": round(sqs_cost * per, 6),
        "cost_eventbridge_per_1000_usd": round(eventbridge_cost * per, 6),
        "cost_per_1000_emails_usd": round(total_cost * per, 6),
        "price_lambda_arm_gb_second": LAMBDA_ARM_GB_SECOND,
        "price_lambda_per_million_requests": LAMBDA_REQUEST * 1_000_000,
        "price_dynamodb_per_million_wru": DYNAMODB_WRU * 1_000_000,
        "price_dynamodb_per_million_rru": DYNAMODB_RRU * 1_000_000,
        "price_sqs_per_million_requests": SQS_REQUEST * 1_000_000,
        "price_eventbridge_per_million": EVENTBRIDGE_INVOCATION * 1_000_000,
        "model_ms_per_aws_request": PROD_MS_PER_AWS_REQUEST,
        "model_ms_per_smtp_message": PROD_MS_PER_SMTP_MESSAGE,
    }


if __name__ == "__main__":
    results = run()
    (REPO / "bench" / "results" / "scheduler.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(json.dumps(results, indent=2, sort_keys=True))
