"""Test AWS: moto in-process, with the table created from template.yaml's own definition."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from kindling.platform import aws
from kindling.platform.dynamo import bind_models
from kindling.platform.settings import reset_settings

REPO = Path(__file__).resolve().parents[2]
TEST_TABLE = "kindling-test"
TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "KINDLING_STAGE": "test",
    "KINDLING_TABLE_NAME": TEST_TABLE,
    "KINDLING_ALLOW_PRIVATE_TARGETS": "true",
}


@lru_cache(maxsize=1)
def table_definition() -> dict[str, Any]:
    """The `Table` resource's properties, read from template.yaml (no second definition of the table)."""
    from cfnlint.decode import cfn_yaml

    template = cfn_yaml.load(str(REPO / "template.yaml"))
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::DynamoDB::Table":
            props = resource["Properties"]
            return {
                "KeySchema": props["KeySchema"],
                "AttributeDefinitions": props["AttributeDefinitions"],
                "GlobalSecondaryIndexes": props.get("GlobalSecondaryIndexes", []),
                "BillingMode": props["BillingMode"],
                "ttl": props.get("TimeToLiveSpecification"),
            }
    raise LookupError("template.yaml declares no DynamoDB table")


def create_table(name: str = TEST_TABLE) -> None:
    definition = dict(table_definition())
    ttl = definition.pop("ttl")
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(TableName=name, **_plain(definition))
    if ttl:
        client.update_time_to_live(TableName=name, TimeToLiveSpecification=_plain(ttl))


def _plain(value: Any) -> Any:
    """cfn-lint's loader returns str/dict subclasses; botocore wants plain types."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool | int):
        return value
    return str(value)


def apply_test_env() -> None:
    os.environ.update(TEST_ENV)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    reset_settings()
    aws.reset_clients()


@contextmanager
def moto_table() -> Iterator[None]:
    # The same moto the local stack runs: no table deep copies per transaction, serialised DynamoDB access.
    from devstack.moto_patches import apply_moto_patches

    apply_moto_patches()
    apply_test_env()
    with mock_aws():
        create_table()
        bind_models(force=True)
        yield
    aws.reset_clients()
