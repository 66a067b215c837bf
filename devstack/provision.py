"""Create the template's resources on a moto server, in dependency order, like CloudFormation would."""

from __future__ import annotations

import io
import json
import logging
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from devstack.template import NO_VALUE, SKIPPED_TYPES, Template, TemplateError, TemplateResource

log = logging.getLogger(__name__)

# Every type this module creates; Template.resources holds nothing else (SKIPPED_TYPES aside).
PROVISIONED_TYPES = (
    "AWS::DynamoDB::Table",
    "AWS::Serverless::SimpleTable",
    "AWS::SQS::Queue",
    "AWS::KMS::Key",
    "AWS::KMS::Alias",
    "AWS::SNS::Topic",
    "AWS::Serverless::Function",
    "AWS::Lambda::Function",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Serverless::StateMachine",
    "AWS::StepFunctions::StateMachine",
)


@dataclass
class PhysicalResource:
    logical_id: str
    type: str
    ref: Any  # what `Ref` returns
    attributes: dict[str, Any] = field(default_factory=dict)  # what `Fn::GetAtt` returns


@dataclass
class EventSource:
    """An SQS queue feeding a function (a SAM `SQS` event or an AWS::Lambda::EventSourceMapping)."""

    name: str
    function_id: str
    queue_url: str
    queue_arn: str
    batch_size: int
    batching_window_seconds: int
    report_batch_item_failures: bool
    enabled: bool = True


@dataclass
class ScheduleSource:
    """A `Schedule` or `ScheduleV2` event of a function (or of a state machine: `function_id` is then its logical
    id, and firing it starts an execution with the event's Input)."""

    name: str
    function_id: str
    expression: str
    input: Any | None  # the constant Input, parsed, or None for the default Scheduled Event
    enabled: bool
    rule_name: str
    timezone: str = "UTC"
    kind: str = "Schedule"  # or "ScheduleV2" (EventBridge Scheduler)


@dataclass
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    code_uri: Path
    handler: str
    timeout: int
    memory_size: int
    environment: dict[str, str]


@dataclass
class ProvisionedStack:
    template: Template
    endpoint_url: str
    resources: dict[str, PhysicalResource] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    event_sources: list[EventSource] = field(default_factory=list)
    schedules: list[ScheduleSource] = field(default_factory=list)

    def ref(self, logical_id: str) -> Any:
        return self.resources[logical_id].ref

    def attr(self, logical_id: str, name: str) -> Any:
        return self.resources[logical_id].attributes[name]

    def of_type(self, *types: str) -> dict[str, PhysicalResource]:
        return {k: v for k, v in self.resources.items() if v.type in types}

    def queue_url_for_arn(self, arn: str) -> str:
        for res in self.of_type("AWS::SQS::Queue").values():
            if res.attributes["Arn"] == arn:
                return str(res.ref)
        raise TemplateError(f"no queue with ARN {arn} in this stack")

    def function_by_name(self, name_or_id: str) -> FunctionSpec:
        return find_function(self.functions, name_or_id)

    def outputs(self) -> dict[str, Any]:
        """Useful physical ids for tools: table name, queue urls, state machine arns, key ids."""
        out: dict[str, Any] = {"queues": {}, "state_machines": {}, "tables": {}, "kms_keys": {}, "topics": {}}
        for logical_id, res in self.resources.items():
            if res.type == "AWS::SQS::Queue":
                out["queues"][logical_id] = res.ref
            elif res.type in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
                out["state_machines"][logical_id] = res.ref
            elif res.type in ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"):
                out["tables"][logical_id] = res.ref
            elif res.type == "AWS::KMS::Key":
                out["kms_keys"][logical_id] = res.ref
            elif res.type == "AWS::SNS::Topic":
                out["topics"][logical_id] = res.ref
        return out


def find_function(functions: Mapping[str, FunctionSpec], name_or_id: str) -> FunctionSpec:
    """A function by logical id, physical name, ARN, or its CodeUri folder name (`api`, `jobs`)."""
    for spec in functions.values():
        if name_or_id in (spec.logical_id, spec.name, spec.arn, spec.code_uri.name):
            return spec
    known = ", ".join(f"{s.code_uri.name} ({s.logical_id})" for s in functions.values())
    raise KeyError(f"no function {name_or_id!r}; known: {known}")


def client(service: str, endpoint_url: str, region: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
        config=Config(retries={"max_attempts": 2, "mode": "standard"}),
    )


def _generated_name(stack: str, logical_id: str, limit: int, suffix: str = "") -> str:
    # CloudFormation's generated names are `<stack>-<LogicalId>-<random>`; locally the random part
    # is unnecessary and a stable name is easier to find.
    name = re.sub(r"[^A-Za-z0-9_-]", "-", f"{stack}-{logical_id}")
    return name[: limit - len(suffix)] + suffix


def _tiny_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        # Never executed: moto only needs a package; the local stack routes invocations in-process.
        zf.writestr("placeholder.py", "def handler(event, context):\n    return None\n")
    return buf.getvalue()


class Provisioner:
    def __init__(self, template: Template, endpoint_url: str) -> None:
        self.template = template
        self.ctx = template.context
        self.endpoint_url = endpoint_url
        self.stack = ProvisionedStack(template=template, endpoint_url=endpoint_url)
        self._clients: dict[str, Any] = {}
        self._role_arn: str | None = None
        self.ctx.lookup = self._lookup

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = client(service, self.endpoint_url, self.ctx.region)
        return self._clients[service]

    def _lookup(self, logical_id: str, attribute: str | None) -> Any:
        if logical_id in self.stack.resources:
            res = self.stack.resources[logical_id]
            if attribute is None:
                return res.ref
            if attribute not in res.attributes:
                raise TemplateError(f"{logical_id} ({res.type}) has no attribute {attribute} locally")
            return res.attributes[attribute]
        if logical_id in self.template.skipped:
            # A resource the local stack does not create (a log group, the HTTP API): give a stable
            # placeholder so properties that mention it still resolve.
            name = _generated_name(self.ctx.stack_name, logical_id, 128)
            if attribute is None:
                return name
            return f"arn:aws:local:{self.ctx.region}:{self.ctx.account_id}:{logical_id}/{name}"
        raise TemplateError(f"{logical_id} is referenced before it exists (dependency order bug)")

    def _resolve(self, res: TemplateResource, key: str, default: Any = None) -> Any:
        if key not in res.properties:
            return default
        value = self.template.resolve(res.properties[key])
        return default if value is NO_VALUE else value

    # --- per type ---------------------------------------------------------------------------------

    def provision(self) -> ProvisionedStack:
        handlers: dict[str, Callable[[TemplateResource], PhysicalResource | None]] = {
            "AWS::DynamoDB::Table": self._table,
            "AWS::Serverless::SimpleTable": self._simple_table,
            "AWS::SQS::Queue": self._queue,
            "AWS::KMS::Key": self._kms_key,
            "AWS::KMS::Alias": self._kms_alias,
            "AWS::SNS::Topic": self._topic,
            "AWS::Serverless::Function": self._function,
            "AWS::Lambda::Function": self._function,
            "AWS::Lambda::EventSourceMapping": self._event_source_mapping,
            "AWS::Serverless::StateMachine": self._state_machine,
            "AWS::StepFunctions::StateMachine": self._state_machine,
        }
        unsupported = {f"{r.logical_id} ({r.type})" for r in self.template.resources.values() if r.type not in handlers}
        if unsupported:
            raise TemplateError(
                "the local stack cannot emulate these resources; provision them in devstack/provision.py "
                "or list them in devstack.template.SKIPPED_TYPES with a reason: " + ", ".join(sorted(unsupported))
            )
        for logical_id in self.template.creation_order():
            res = self.template.resources[logical_id]
            physical = handlers[res.type](res)
            if physical is not None:
                self.stack.resources[logical_id] = physical
        # Events are resolved last: they may point at queues created after their function. A state machine's
        # Schedule events become schedules too (their target is the state machine: LocalStack starts an execution).
        for spec in self.template.resources.values():
            if spec.type in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
                self._function_events(spec)
        return self.stack

    def _table(self, res: TemplateResource) -> PhysicalResource:
        name = self._resolve(res, "TableName") or _generated_name(self.ctx.stack_name, res.logical_id, 255)
        kwargs: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": self._resolve(res, "AttributeDefinitions"),
            "KeySchema": self._resolve(res, "KeySchema"),
            "BillingMode": self._resolve(res, "BillingMode", "PROVISIONED"),
        }
        throughput = self._resolve(res, "ProvisionedThroughput")
        if kwargs["BillingMode"] == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = throughput or {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            indexes = self._resolve(res, key)
            if indexes:
                # CloudFormation-only keys (ContributorInsightsSpecification...) are not API parameters.
                allowed = {"IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput"}
                kwargs[key] = [{k: v for k, v in ix.items() if k in allowed} for ix in indexes]
        stream = self._resolve(res, "StreamSpecification")
        if stream:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, **stream}
        sse = self._resolve(res, "SSESpecification")
        if sse:
            # CloudFormation says SSEEnabled where the API says Enabled.
            api_sse = {"Enabled": bool(sse.get("SSEEnabled", False))}
            api_sse.update({k: v for k, v in sse.items() if k in ("SSEType", "KMSMasterKeyId")})
            kwargs["SSESpecification"] = api_sse
        ddb = self._client("dynamodb")
        desc = ddb.create_table(**kwargs)["TableDescription"]
        ttl = self._resolve(res, "TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        attrs = {"Arn": desc["TableArn"]}
        if "LatestStreamArn" in desc:
            attrs["StreamArn"] = desc["LatestStreamArn"]
        return PhysicalResource(res.logical_id, res.type, name, attrs)

    def _simple_table(self, res: TemplateResource) -> PhysicalResource:
        name = self._resolve(res, "TableName") or _generated_name(self.ctx.stack_name, res.logical_id, 255)
        pk = self._resolve(res, "PrimaryKey") or {"Name": "id", "Type": "String"}
        attr_type = {"String": "S", "Number": "N", "Binary": "B"}[pk["Type"]]
        desc = self._client("dynamodb").create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": pk["Name"], "AttributeType": attr_type}],
            KeySchema=[{"AttributeName": pk["Name"], "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )["TableDescription"]
        return PhysicalResource(res.logical_id, res.type, name, {"Arn": desc["TableArn"]})

    def _queue(self, res: TemplateResource) -> PhysicalResource:
        fifo = bool(self._resolve(res, "FifoQueue", False))
        name = self._resolve(res, "QueueName") or _generated_name(
            self.ctx.stack_name, res.logical_id, 80, ".fifo" if fifo else ""
        )
        attributes: dict[str, str] = {}
        for key in (
            "VisibilityTimeout",
            "MessageRetentionPeriod",
            "DelaySeconds",
            "MaximumMessageSize",
            "ReceiveMessageWaitTimeSeconds",
            "KmsMasterKeyId",
            "KmsDataKeyReusePeriodSeconds",
            "SqsManagedSseEnabled",
            "ContentBasedDeduplication",
            "DeduplicationScope",
            "FifoThroughputLimit",
        ):
            value = self._resolve(res, key)
            if value is not None:
                attributes[key] = str(value).lower() if isinstance(value, bool) else str(value)
        if fifo:
            attributes["FifoQueue"] = "true"
        for key in ("RedrivePolicy", "RedriveAllowPolicy"):
            value = self._resolve(res, key)
            if value:
                attributes[key] = value if isinstance(value, str) else json.dumps(value)
        sqs = self._client("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return PhysicalResource(res.logical_id, res.type, url, {"Arn": arn, "QueueName": name, "QueueUrl": url})

    def _kms_key(self, res: TemplateResource) -> PhysicalResource:
        kwargs: dict[str, Any] = {}
        for key in ("Description", "KeyUsage", "KeySpec", "MultiRegion"):
            value = self._resolve(res, key)
            if value is not None:
                kwargs[key] = value
        policy = self._resolve(res, "KeyPolicy")
        if policy:
            kwargs["Policy"] = policy if isinstance(policy, str) else json.dumps(policy)
        kms = self._client("kms")
        meta = kms.create_key(**kwargs)["KeyMetadata"]
        if self._resolve(res, "EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=meta["KeyId"])
        return PhysicalResource(res.logical_id, res.type, meta["KeyId"], {"Arn": meta["Arn"], "KeyId": meta["KeyId"]})

    def _kms_alias(self, res: TemplateResource) -> PhysicalResource:
        alias = self._resolve(res, "AliasName")
        self._client("kms").create_alias(AliasName=alias, TargetKeyId=self._resolve(res, "TargetKeyId"))
        return PhysicalResource(res.logical_id, res.type, alias, {})

    def _topic(self, res: TemplateResource) -> PhysicalResource:
        fifo = bool(self._resolve(res, "FifoTopic", False))
        name = self._resolve(res, "TopicName") or _generated_name(
            self.ctx.stack_name, res.logical_id, 256, ".fifo" if fifo else ""
        )
        attributes = {"FifoTopic": "true"} if fifo else {}
        display = self._resolve(res, "DisplayName")
        if display:
            attributes["DisplayName"] = display
        arn = self._client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
        return PhysicalResource(res.logical_id, res.type, arn, {"TopicArn": arn, "TopicName": name})

    def _function(self, res: TemplateResource) -> PhysicalResource:
        name = self._resolve(res, "FunctionName") or _generated_name(self.ctx.stack_name, res.logical_id, 64)
        code_uri = self._resolve(res, "CodeUri")
        if not isinstance(code_uri, str):
            raise TemplateError(f"{res.logical_id}: CodeUri must be a local folder for the local stack")
        handler = str(self._resolve(res, "Handler"))
        timeout = int(self._resolve(res, "Timeout", 3))
        memory = int(self._resolve(res, "MemorySize", 128))
        env = {k: _env_str(v) for k, v in ((self._resolve(res, "Environment") or {}).get("Variables") or {}).items()}
        runtime = self._resolve(res, "Runtime", "python3.11")
        fn = self._client("lambda").create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=self._lambda_role(),
            Handler=handler,
            Code={"ZipFile": _tiny_zip()},
            Timeout=timeout,
            MemorySize=memory,
            Environment={"Variables": env},
        )
        self.stack.functions[res.logical_id] = FunctionSpec(
            logical_id=res.logical_id,
            name=name,
            arn=fn["FunctionArn"],
            code_uri=(self.template.base_dir / code_uri).resolve(),
            handler=handler,
            timeout=timeout,
            memory_size=memory,
            environment=env,
        )
        return PhysicalResource(res.logical_id, res.type, name, {"Arn": fn["FunctionArn"]})

    def _lambda_role(self) -> str:
        """One execution role for every function: moto checks it exists, nothing enforces its policies."""
        if self._role_arn is None:
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
            self._role_arn = str(
                self._client("iam").create_role(
                    RoleName=f"{self.ctx.stack_name}-lambda"[:64], AssumeRolePolicyDocument=json.dumps(trust)
                )["Role"]["Arn"]
            )
        return self._role_arn

    def _function_events(self, res: TemplateResource) -> None:
        events: dict[str, Any] = res.properties.get("Events") or {}
        for event_name, event in events.items():
            etype = event.get("Type")
            if etype not in ("SQS", "Schedule", "ScheduleV2"):
                continue  # HttpApi events are served by uvicorn; other types are not used locally
            props = self.template.resolve(event.get("Properties") or {})
            source_name = f"{res.logical_id}.{event_name}"
            if etype == "SQS":
                batch = int(props.get("BatchSize", 10))
                self.stack.event_sources.append(
                    EventSource(
                        name=source_name,
                        function_id=res.logical_id,
                        queue_arn=props["Queue"],
                        queue_url=self.stack.queue_url_for_arn(props["Queue"]),
                        batch_size=batch,
                        batching_window_seconds=int(props.get("MaximumBatchingWindowInSeconds", 0)),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in (props.get("FunctionResponseTypes") or []),
                        enabled=bool(props.get("Enabled", True)),
                    )
                )
            else:
                if etype == "Schedule":
                    expression = props["Schedule"]
                    enabled = bool(props.get("Enabled", True)) and props.get("State", "ENABLED") == "ENABLED"
                    timezone = "UTC"
                else:
                    expression = props["ScheduleExpression"]
                    enabled = props.get("State", "ENABLED") == "ENABLED"
                    timezone = props.get("ScheduleExpressionTimezone", "UTC")
                raw_input = props.get("Input")
                parsed = json.loads(raw_input) if isinstance(raw_input, str) else raw_input
                self.stack.schedules.append(
                    ScheduleSource(
                        name=source_name,
                        function_id=res.logical_id,
                        expression=str(expression),
                        input=parsed,
                        enabled=enabled,
                        rule_name=props.get("Name") or _generated_name(self.ctx.stack_name, source_name, 64),
                        timezone=str(timezone),
                        kind=str(etype),
                    )
                )

    def _event_source_mapping(self, res: TemplateResource) -> PhysicalResource | None:
        source_arn = str(self._resolve(res, "EventSourceArn", ""))
        if ":sqs:" not in source_arn:
            raise TemplateError(f"{res.logical_id}: only SQS event source mappings are emulated locally")
        function = str(self._resolve(res, "FunctionName"))
        spec = next((f for f in self.stack.functions.values() if function in (f.name, f.arn, f.logical_id)), None)
        if spec is None:
            raise TemplateError(f"{res.logical_id}: function {function} is not in this stack")
        self.stack.event_sources.append(
            EventSource(
                name=res.logical_id,
                function_id=spec.logical_id,
                queue_arn=source_arn,
                queue_url=self.stack.queue_url_for_arn(source_arn),
                batch_size=int(self._resolve(res, "BatchSize", 10)),
                batching_window_seconds=int(self._resolve(res, "MaximumBatchingWindowInSeconds", 0)),
                report_batch_item_failures="ReportBatchItemFailures"
                in (self._resolve(res, "FunctionResponseTypes") or []),
                enabled=bool(self._resolve(res, "Enabled", True)),
            )
        )
        return PhysicalResource(res.logical_id, res.type, f"local-esm-{res.logical_id}", {})

    def _state_machine(self, res: TemplateResource) -> PhysicalResource:
        name = (
            self._resolve(res, "Name")
            or self._resolve(res, "StateMachineName")
            or _generated_name(self.ctx.stack_name, res.logical_id, 80)
        )
        if "DefinitionUri" in res.properties:
            uri = self._resolve(res, "DefinitionUri")
            if not isinstance(uri, str):
                raise TemplateError(f"{res.logical_id}: DefinitionUri must be a local file")
            text = (self.template.base_dir / uri).read_text(encoding="utf-8")
        elif "Definition" in res.properties:
            text = json.dumps(self._resolve(res, "Definition"))
        elif "DefinitionString" in res.properties:
            text = str(self._resolve(res, "DefinitionString"))
        else:
            raise TemplateError(f"{res.logical_id}: no Definition, DefinitionUri or DefinitionString")
        substitutions = self._resolve(res, "DefinitionSubstitutions") or {}
        for key, value in substitutions.items():
            text = text.replace("${" + key + "}", str(value))
        leftover = re.findall(r"\$\{([A-Za-z0-9_]+)\}", text)
        if leftover:
            raise TemplateError(f"{res.logical_id}: definition has unsubstituted ${{{leftover[0]}}}")
        json.loads(text)  # fail here, not at the first execution, on a broken definition
        sm_type = self._resolve(res, "Type") or self._resolve(res, "StateMachineType") or "STANDARD"
        arn = self._client("stepfunctions").create_state_machine(
            name=name,
            definition=text,
            roleArn=f"arn:aws:iam::{self.ctx.account_id}:role/kindling-local-states",
            type=sm_type,
        )["stateMachineArn"]
        return PhysicalResource(res.logical_id, res.type, arn, {"Arn": arn, "Name": name})


def _env_str(value: Any) -> str:
    # Lambda environment values are strings; YAML booleans and numbers become their CloudFormation text.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def provision(template: Template, endpoint_url: str) -> ProvisionedStack:
    return Provisioner(template, endpoint_url).provision()


def declared_counts(template: Template) -> dict[str, int]:
    """How many resources of each provisioned type the evaluated template declares (for tests/reports)."""
    counts: dict[str, int] = {}
    for res in template.resources.values():
        if res.type not in SKIPPED_TYPES:
            counts[res.type] = counts.get(res.type, 0) + 1
    return counts
