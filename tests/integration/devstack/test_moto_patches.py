"""The local stack stops moto from keeping every model instance alive (TransactWriteItems deep-copies tables)."""

from __future__ import annotations

import boto3
from moto import mock_aws
from moto.core.model_instances import model_data

from devstack.moto_patches import stop_instance_tracking


def tracked() -> int:
    return sum(len(getattr(cls, "instances_tracked", [])) for cls in model_data["dynamodb"].values())


def test_transactions_leave_no_tracked_copies_behind() -> None:
    stop_instance_tracking()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for n in range(50):
            client.put_item(TableName="t", Item={"pk": {"S": f"item{n}"}})
        before = tracked()
        for n in range(20):
            client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "t", "Item": {"pk": {"S": f"tx{n}"}}}},
                    {
                        "Update": {
                            "TableName": "t",
                            "Key": {"pk": {"S": "item0"}},
                            "UpdateExpression": "ADD n :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                ]
            )
        assert tracked() == before == 0
        item = client.get_item(TableName="t", Key={"pk": {"S": "item0"}})["Item"]
        assert item["n"] == {"N": "20"}  # transactions still apply
