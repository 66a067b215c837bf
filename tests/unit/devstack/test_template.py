"""Intrinsic functions, conditions and Globals, evaluated the way CloudFormation does (table-driven)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.template import NO_VALUE, StackContext, TemplateError, _CfnLoader, evaluate, references, resolve


def _lookup(logical_id: str, attribute: str | None) -> Any:
    if attribute is None:
        return f"ref-of-{logical_id}"
    return f"{logical_id}.{attribute}"


CTX = StackContext(
    stack_name="kindling-local",
    region="eu-west-1",
    parameters={"Stage": "dev", "Zones": ["a", "b", "c"], "Empty": ""},
    mappings={"StageConfig": {"dev": {"Days": 14}, "prod": {"Days": 90}}},
    conditions={"IsProd": False, "IsDev": True},
    resource_ids=frozenset({"Queue", "Table"}),
    lookup=_lookup,
)


def _y(text: str) -> Any:
    return yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


CASES: list[tuple[str, Any]] = [
    ("!Ref Stage", "dev"),
    ("!Ref AWS::Region", "eu-west-1"),
    ("!Ref AWS::StackName", "kindling-local"),
    ("!Ref AWS::AccountId", "123456789012"),
    ("!Ref AWS::Partition", "aws"),
    ("!Ref Queue", "ref-of-Queue"),
    ("!GetAtt Queue.Arn", "Queue.Arn"),
    ("{'Fn::GetAtt': [Table, StreamArn]}", "Table.StreamArn"),
    ("!Sub 'kindling-${Stage}-${AWS::Region}'", "kindling-dev-eu-west-1"),
    ("!Sub '${Queue}|${Queue.QueueName}'", "ref-of-Queue|Queue.QueueName"),
    ("!Sub ['${Name}-x-${Stage}', {Name: !Ref Table}]", "ref-of-Table-x-dev"),
    ("!Sub 'literal ${!NotAVar}'", "literal ${NotAVar}"),
    ("!Join ['-', [a, !Ref Stage, c]]", "a-dev-c"),
    ("!Join ['', []]", ""),
    ("!Select [1, !Ref Zones]", "b"),
    ("!Select [0, !Split [',', 'x,y']]", "x"),
    ("!If [IsProd, big, small]", "small"),
    ("!If [IsDev, big, small]", "big"),
    ("!FindInMap [StageConfig, !Ref Stage, Days]", 14),
    ("!Equals [!Ref Stage, dev]", True),
    ("!Not [!Equals [!Ref Empty, '']]", False),
    ("!And [!Condition IsDev, !Equals [a, a]]", True),
    ("!Or [!Condition IsProd, !Equals [a, b]]", False),
    ("{'Fn::ToJsonString': {a: !Ref Stage}}", '{"a":"dev"}'),
    ("{Keep: 1, Drop: !Ref AWS::NoValue}", {"Keep": 1}),
    ("[1, !If [IsProd, 2, !Ref AWS::NoValue], 3]", [1, 3]),
    ("{Nested: {Deep: [!Sub '${Stage}']}}", {"Nested": {"Deep": ["dev"]}}),
]


@pytest.mark.parametrize(("source", "expected"), CASES, ids=[c[0] for c in CASES])
def test_intrinsics_resolve(source: str, expected: Any) -> None:
    assert resolve(_y(source), CTX) == expected


ERRORS = [
    "!Ref Nope",
    "!GetAtt Nope.Arn",
    "!Ref AWS::Nope",
    "!Select [5, [a]]",
    "!FindInMap [StageConfig, staging, Days]",
    "!If [Unknown, a, b]",
    "{'Fn::ImportValue': x}",
]


@pytest.mark.parametrize("source", ERRORS)
def test_what_cannot_be_resolved_is_an_error(source: str) -> None:
    with pytest.raises(TemplateError):
        resolve(_y(source), CTX)


def test_no_value_is_a_marker_not_a_string() -> None:
    assert resolve(_y("!Ref AWS::NoValue"), CTX) is NO_VALUE


def test_references_finds_refs_getatts_and_sub_variables() -> None:
    value = _y("{A: !Ref Queue, B: !GetAtt Table.Arn, C: !Sub '${Other.Arn}-${Stage}-${!Lit}', D: [!Ref X]}")
    assert references(value) == {"Queue", "Table", "Other", "Stage", "X"}


TEMPLATE = """
Parameters:
  Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  IsDev: !Not [!Condition IsProd]
Globals:
  Function:
    Timeout: 30
    Layers: [global-layer]
    Environment:
      Variables: {SHARED: one, OVERRIDDEN: global}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Timeout: 5
      Layers: [own-layer]
      Environment:
        Variables: {OVERRIDDEN: own, QUEUE: !Ref Queue}
  Queue:
    Type: AWS::SQS::Queue
  ProdQueue:
    Type: AWS::SQS::Queue
    Condition: IsProd
  DevQueue:
    Type: AWS::SQS::Queue
    Condition: IsDev
    DependsOn: Queue
  Alarm:
    Type: AWS::CloudWatch::Alarm
"""


def _evaluate(**parameters: Any) -> Any:
    return evaluate(_y(TEMPLATE), Path("/tmp/template.yaml"), stack_name="s", parameters=parameters)


def test_globals_merge_like_sam() -> None:
    props = _evaluate().resources["Fn"].properties
    assert props["Timeout"] == 5  # scalars: the function wins
    assert props["Layers"] == ["global-layer", "own-layer"]  # lists: concatenated
    assert props["Environment"]["Variables"] == {"SHARED": "one", "OVERRIDDEN": "own", "QUEUE": {"Ref": "Queue"}}


def test_conditions_and_skipped_types_decide_what_is_created() -> None:
    dev = _evaluate()
    assert set(dev.resources) == {"Fn", "Queue", "DevQueue"}
    assert "condition IsProd is false" in dev.skipped["ProdQueue"]
    assert "alarms" in dev.skipped["Alarm"]
    prod = _evaluate(Stage="prod")
    assert set(prod.resources) == {"Fn", "Queue", "ProdQueue"}


def test_creation_order_puts_dependencies_first() -> None:
    order = _evaluate().creation_order()
    assert order.index("Queue") < order.index("Fn")
    assert order.index("Queue") < order.index("DevQueue")


def test_parameters_are_validated() -> None:
    with pytest.raises(TemplateError, match="not one of"):
        _evaluate(Stage="qa")
    with pytest.raises(TemplateError, match="unknown parameters"):
        _evaluate(Nope="x")
