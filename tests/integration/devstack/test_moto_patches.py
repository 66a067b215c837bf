"""The local stack's moto patches: no tracked instances, one DynamoDB request at a time, transactions that roll back
only what they touched (and never copy a table), queries that do not sort the whole table, same results; SQS delays
that also follow the injected clock."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.model_instances import model_data
from moto.core.utils import unix_time_millis
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.sqs import models as moto_sqs

from devstack.moto_patches import DYNAMODB_LOCK, apply_moto_patches
from kindling.platform.clock import ManualClock, set_clock


def tracked() -> int:
    return sum(len(getattr(cls, "instances_tracked", [])) for cls in model_data["dynamodb"].values())


@pytest.fixture
def ddb() -> Iterator[Any]:
    apply_moto_patches()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "gsi1pk", "gsi1sk")],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "gsi1",
                    "KeySchema": [
                        {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def put(client: Any, pk: str, sk: str = "#", **attrs: str) -> None:
    client.put_item(TableName="t", Item={"pk": {"S": pk}, "sk": {"S": sk}, **{k: {"S": v} for k, v in attrs.items()}})


def get(client: Any, pk: str, sk: str = "#") -> dict[str, Any] | None:
    item: dict[str, Any] | None = client.get_item(TableName="t", Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
    return item


def add_n(pk: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": "t",
            "Key": {"pk": {"S": pk}, "sk": {"S": "#"}},
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }


def test_transactions_leave_no_tracked_copies_behind(ddb: Any) -> None:
    for n in range(50):
        put(ddb, f"item{n}")
    before = tracked()
    for n in range(20):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": {"pk": {"S": f"tx{n}"}, "sk": {"S": "#"}}}},
                add_n("item0"),
            ]
        )
    assert tracked() == before == 0
    assert get(ddb, "item0")["n"] == {"N": "20"}  # type: ignore[index]  # transactions still apply


def test_a_cancelled_transaction_restores_exactly_the_items_it_touched(
    ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Table, memo: dict[int, Any]) -> Table:
        raise AssertionError("a transaction deep-copied the table")

    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)
    put(ddb, "kept", v="1")
    put(ddb, "doomed", v="1")
    put(ddb, "guard", v="no")
    with pytest.raises(ClientError) as raised:
        ddb.transact_write_items(
            TransactItems=[
                add_n("kept"),  # applied, then rolled back
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "new"}, "sk": {"S": "#"}}}},
                {"Delete": {"TableName": "t", "Key": {"pk": {"S": "doomed"}, "sk": {"S": "#"}}}},
                {
                    "ConditionCheck": {
                        "TableName": "t",
                        "Key": {"pk": {"S": "guard"}, "sk": {"S": "#"}},
                        "ConditionExpression": "v = :yes",
                        "ExpressionAttributeValues": {":yes": {"S": "yes"}},
                    }
                },
            ]
        )
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert get(ddb, "kept") == {"pk": {"S": "kept"}, "sk": {"S": "#"}, "v": {"S": "1"}}
    assert get(ddb, "new") is None
    assert get(ddb, "doomed") == {"pk": {"S": "doomed"}, "sk": {"S": "#"}, "v": {"S": "1"}}
    assert ddb.scan(TableName="t")["Count"] == 3
    # And a transaction that passes its conditions applies everything, with no table copy either.
    put(ddb, "guard", v="yes")
    ddb.transact_write_items(TransactItems=[add_n("kept"), {"Delete": {"TableName": "t", "Key": {
        "pk": {"S": "doomed"}, "sk": {"S": "#"}}}}])  # fmt: skip
    assert get(ddb, "kept")["n"] == {"N": "1"} and get(ddb, "doomed") is None  # type: ignore[index]


@pytest.mark.parametrize("forward", [True, False])
@pytest.mark.parametrize("page", [1, 3, 100])
def test_queries_return_the_same_items_in_dynamodb_order(ddb: Any, forward: bool, page: int) -> None:
    rng = random.Random(7)
    rows = [(f"p{rng.randrange(4)}", f"s{n:03d}", f"g{rng.randrange(3)}", f"k{rng.randrange(5)}") for n in range(60)]
    rng.shuffle(rows)
    for pk, sk, gpk, gsk in rows:
        put(ddb, pk, sk, gsi1pk=gpk, gsi1sk=gsk)
    put(ddb, "p0", "unindexed")  # not in the index (no gsi1 keys)

    def pages(**kwargs: Any) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        start: dict[str, Any] | None = None
        while True:
            extra = {"ExclusiveStartKey": start} if start else {}
            got = ddb.query(TableName="t", Limit=page, ScanIndexForward=forward, **kwargs, **extra)
            found += [(i["pk"]["S"], i["sk"]["S"]) for i in got["Items"]]
            start = got.get("LastEvaluatedKey")
            if not start:
                return found

    base = pages(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p0"}})
    expected_base = sorted([(pk, sk) for pk, sk, _, _ in rows if pk == "p0"] + [("p0", "unindexed")])
    assert base == (expected_base if forward else expected_base[::-1])
    index = pages(
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :g AND gsi1sk <= :k",
        ExpressionAttributeValues={":g": {"S": "g1"}, ":k": {"S": "k3"}},
    )
    ordered = sorted((gsk, pk, sk) for pk, sk, gpk, gsk in rows if gpk == "g1" and gsk <= "k3")
    expected_index = [(pk, sk) for _, pk, sk in ordered]
    assert index == (expected_index if forward else expected_index[::-1])
    assert ddb.query(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={
        ":p": {"S": "absent"}})["Items"] == []  # fmt: skip


def test_dynamodb_requests_wait_for_the_one_being_served(ddb: Any) -> None:
    done = threading.Event()

    def write() -> None:
        put(boto3.client("dynamodb", region_name="us-east-1"), "late")
        done.set()

    with DYNAMODB_LOCK:  # as while another thread's request is being served
        writer = threading.Thread(target=write)
        writer.start()
        assert not done.wait(0.5)
    assert done.wait(30)
    writer.join()
    assert get(ddb, "late") is not None


def test_a_query_does_not_sort_the_whole_table(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(300):
        put(ddb, f"p{n:03d}", gsi1pk="g" if n % 100 == 0 else "other", gsi1sk=f"{n:03d}")
    comparisons = 0
    original = DynamoType.__lt__

    def counting(self: DynamoType, other: DynamoType) -> bool:
        nonlocal comparisons
        comparisons += 1
        return original(self, other)

    monkeypatch.setattr(DynamoType, "__lt__", counting)
    got = ddb.query(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p007"}})
    assert [i["pk"]["S"] for i in got["Items"]] == ["p007"]
    index = ddb.query(
        TableName="t", IndexName="gsi1", KeyConditionExpression="gsi1pk = :g",
        ExpressionAttributeValues={":g": {"S": "g"}},
    )  # fmt: skip
    assert [i["pk"]["S"] for i in index["Items"]] == ["p000", "p100", "p200"]
    assert comparisons < 20  # sorting all 300 items takes ~2,000


def test_receiving_from_a_long_queue_keeps_the_retention_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    apply_moto_patches()
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        long = sqs.create_queue(QueueName="long")["QueueUrl"]
        for start in range(0, 500, 10):
            sqs.send_message_batch(
                QueueUrl=long, Entries=[{"Id": str(n), "MessageBody": f"m{start + n}"} for n in range(10)]
            )
        clock_readings = 0
        original = unix_time_millis  # what moto.sqs.models imported

        def counting() -> float:
            nonlocal clock_readings
            clock_readings += 1
            return original()

        monkeypatch.setattr(moto_sqs, "unix_time_millis", counting)
        got = sqs.receive_message(QueueUrl=long, MaxNumberOfMessages=10, VisibilityTimeout=60)["Messages"]
        assert [m["Body"] for m in got] == [f"m{n}" for n in range(10)]
        assert clock_readings < 100  # two per queued message per attribute pass before: thousands
        # Retention still applies: with a 60 s retention, a message sent 61 s ago is not received.
        short = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
        sqs.send_message(QueueUrl=short, MessageBody="old")
        queued: list[Any] = moto_sqs.sqs_backends["123456789012"]["us-east-1"].get_queue("short")._messages
        [message] = queued
        message.sent_timestamp -= 61_000
        assert sqs.receive_message(QueueUrl=short, WaitTimeSeconds=0).get("Messages", []) == []
        sqs.send_message(QueueUrl=short, MessageBody="fresh")
        assert [m["Body"] for m in sqs.receive_message(QueueUrl=short)["Messages"]] == ["fresh"]


@pytest.fixture
def manual_clock() -> Iterator[ManualClock]:
    apply_moto_patches()
    clock = ManualClock(datetime(2026, 6, 10, 8, 0, tzinfo=UTC))
    previous = set_clock(clock)
    try:
        with mock_aws():
            yield clock
    finally:
        set_clock(previous)


def receive(sqs: Any, url: str) -> list[str]:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=60)
    return [m["Body"] for m in got.get("Messages", [])]


def delayed(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessagesDelayed"])


def test_a_delayed_message_is_released_when_the_injected_clock_passes_its_due_time(manual_clock: ManualClock) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=900)
    sqs.send_message(QueueUrl=url, MessageBody="now", DelaySeconds=0)
    assert receive(sqs, url) == ["now"]
    assert delayed(sqs, url) == 1
    manual_clock.advance(timedelta(seconds=901))
    assert receive(sqs, url) == ["later"]  # at once, not 15 real minutes later
    assert delayed(sqs, url) == 0


def test_the_queue_default_delay_follows_the_injected_clock_too(manual_clock: ManualClock) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="slow", Attributes={"DelaySeconds": "900"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="queued")
    assert receive(sqs, url) == []
    assert delayed(sqs, url) == 1
    manual_clock.advance(timedelta(seconds=901))
    assert receive(sqs, url) == ["queued"]
    assert delayed(sqs, url) == 0


def test_a_delayed_message_is_never_released_early(manual_clock: ManualClock) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "later", "DelaySeconds": 900}])
    assert receive(sqs, url) == [] and delayed(sqs, url) == 1
    manual_clock.advance(timedelta(seconds=899))
    assert receive(sqs, url) == [] and delayed(sqs, url) == 1
    # A clock injected after the send says nothing about this message's due time, however far ahead it is.
    previous = set_clock(ManualClock(datetime(2030, 1, 1, tzinfo=UTC)))
    try:
        assert receive(sqs, url) == [] and delayed(sqs, url) == 1
    finally:
        set_clock(previous)
