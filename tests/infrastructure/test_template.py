"""Static checks of template.yaml, samconfig.toml and the state machine definitions.

Each rule is a `check_*` function returning a list of problems, so it can be asserted clean on the real
template and shown to fire on a deliberately broken copy (the `test_*_detects_*` tests).
"""

from __future__ import annotations

import ast
import copy
import json
import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from kindling.platform import table
from kindling.platform.dynamo import TableModel

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"

Template = dict[str, Any]

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
QUEUE_NAMES = ("CheckQueue", "SendQueue", "SyncQueue", "WebhookQueue")
# Planned consumer timeouts (seconds) for queues whose consumers arrive in later issues.
PLANNED_CONSUMER_TIMEOUTS = {"CheckQueue": 60, "SendQueue": 120, "SyncQueue": 120, "WebhookQueue": 30}
LAMBDA_DEFAULT_TIMEOUT = 3
# Every scheduled function's stopped-running alarm window (seconds): a few schedule periods without one invocation.
STOPPED_WINDOWS = {
    "SchedulerFunction": 300,  # rate(1 minute)
    "WebhookSweepFunction": 300,  # rate(1 minute)
    "InboxSyncFanoutFunction": 900,  # rate(5 minutes)
    "WarmupTickFunction": 2700,  # rate(15 minutes)
    "WarmupDomainCheckFunction": 21600,  # rate(2 hours)
    "LinkedInSchedulerFunction": 300,  # rate(1 minute)
    "LinkedInEngineFunction": 900,  # rate(5 minutes) (and the 30-minute and 6-hour polls)
}
# Reserved concurrency per stage for the public functions; the rest of the account's pool (at least 100 of a fresh
# account's 1,000 stays unreserved by AWS rule) is shared by the workers.
RESERVED_CONCURRENCY = {
    "dev": {"Api": 10, "Mcp": 5, "Tracking": 20},
    "staging": {"Api": 10, "Mcp": 5, "Tracking": 20},
    "prod": {"Api": 50, "Mcp": 20, "Tracking": 100},
}
SQS_DEFAULT_VISIBILITY = 30
PLACEHOLDER_RE = re.compile(r"\$\{([^}]+)\}")


def load_template() -> Template:
    loaded: Template = cfn_yaml.load(str(TEMPLATE_PATH))
    return loaded


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template()


@pytest.fixture
def broken() -> Template:
    """A private copy of the template that a test may damage."""
    return copy.deepcopy(load_template())


# ------------------------------------------------------------------ helpers


def resources(t: Template, *types: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in t["Resources"].items() if res.get("Type") in types}


def props(res: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = res.get("Properties", {})
    return found


def referenced(value: Any) -> str | None:
    """The logical id behind a Ref or a GetAtt (either syntax), else None."""
    if isinstance(value, dict) and len(value) == 1:
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return str(target[0] if isinstance(target, list) else str(target).split(".")[0])
    return None


def global_function_prop(t: Template, name: str, default: Any = None) -> Any:
    return t.get("Globals", {}).get("Function", {}).get(name, default)


def function_prop(t: Template, res: dict[str, Any], name: str, default: Any = None) -> Any:
    return props(res).get(name, global_function_prop(t, name, default))


def walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from walk_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_strings(item)


def function_consuming(t: Template) -> dict[str, list[str]]:
    """Queue logical id -> functions with an SQS event source on it."""
    consumers: dict[str, list[str]] = {}
    for fname, res in resources(t, "AWS::Serverless::Function").items():
        for event in props(res).get("Events", {}).values():
            if event.get("Type") == "SQS":
                queue = referenced(event.get("Properties", {}).get("Queue"))
                if queue:
                    consumers.setdefault(queue, []).append(fname)
    for mapping in resources(t, "AWS::Lambda::EventSourceMapping").values():
        queue = referenced(props(mapping).get("EventSourceArn"))
        target = referenced(props(mapping).get("FunctionName"))
        if queue and target:
            consumers.setdefault(queue, []).append(target)
    return consumers


def schedule_events(res: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in props(res).get("Events", {}).values() if e.get("Type") in ("Schedule", "ScheduleV2")]


def failure_destinations(t: Template) -> dict[str, set[str]]:
    """Queue logical id -> the functions whose failed asynchronous or scheduled invocations it receives."""
    found: dict[str, set[str]] = {}
    for fname, res in resources(t, "AWS::Serverless::Function").items():
        targets = [referenced(props(res).get("DeadLetterQueue", {}).get("TargetArn"))]
        on_failure = props(res).get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure", {})
        targets.append(referenced(on_failure.get("Destination")))
        for event in schedule_events(res):
            targets.append(referenced(event.get("Properties", {}).get("DeadLetterConfig", {}).get("Arn")))
        for queue in targets:
            if queue:
                found.setdefault(queue, set()).add(fname)
    return found


def alarms_on(t: Template, namespace: str, metric: str, dimension: str) -> dict[str, list[dict[str, Any]]]:
    """Logical id of the dimension's target -> the properties of every alarm on that metric of it."""
    found: dict[str, list[dict[str, Any]]] = {}
    for alarm in resources(t, "AWS::CloudWatch::Alarm").values():
        p = props(alarm)
        if p.get("Namespace") != namespace or p.get("MetricName") != metric:
            continue
        for d in p.get("Dimensions", []):
            target = referenced(d.get("Value"))
            if d.get("Name") == dimension and target:
                found.setdefault(target, []).append(p)
    return found


def notifies_topic(p: dict[str, Any]) -> bool:
    return "AlarmTopic" in [referenced(a) for a in p.get("AlarmActions", [])]


def fires_on_first(p: dict[str, Any]) -> bool:
    return p.get("ComparisonOperator") == "GreaterThanOrEqualToThreshold" and p.get("Threshold") == 1


def log_group_has_retention(t: Template, logical_id: str | None) -> bool:
    if logical_id is None:
        return False
    res = t["Resources"].get(logical_id, {})
    return res.get("Type") == "AWS::Logs::LogGroup" and "RetentionInDays" in props(res)


def state_machine_definition(res: dict[str, Any]) -> tuple[Path, str]:
    path = ROOT / str(props(res)["DefinitionUri"])
    return path, path.read_text()


def task_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, including those inside Map item processors and Parallel branches."""
    for name, state in states.items():
        yield name, state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from task_states(processor["States"])
        for branch in state.get("Branches", []):
            yield from task_states(branch["States"])


# ------------------------------------------------------------------ checks


def check_table_matches_key_module(t: Template) -> list[str]:
    problems: list[str] = []
    tables = resources(t, "AWS::DynamoDB::Table")
    if len(tables) != 1:
        return [f"expected exactly one table, found {sorted(tables)}"]
    p = props(next(iter(tables.values())))
    key_schema = [(k["AttributeName"], k["KeyType"]) for k in p.get("KeySchema", [])]
    if key_schema != [(table.HASH_KEY, "HASH"), (table.RANGE_KEY, "RANGE")]:
        problems.append(f"table key schema {key_schema}")
    gsis: dict[str, tuple[str, ...]] = {}
    for gsi in p.get("GlobalSecondaryIndexes", []):
        gsis[gsi["IndexName"]] = tuple(k["AttributeName"] for k in gsi["KeySchema"])
        if [k["KeyType"] for k in gsi["KeySchema"]] != ["HASH", "RANGE"]:
            problems.append(f"index {gsi['IndexName']} key types")
        if gsi.get("Projection", {}).get("ProjectionType") != "ALL":
            problems.append(f"index {gsi['IndexName']} does not project ALL")
    if gsis != dict(table.INDEXES):
        problems.append(f"indexes {gsis} != {table.INDEXES}")
    if p.get("LocalSecondaryIndexes"):
        problems.append("unexpected local secondary indexes")
    definitions = {d["AttributeName"]: d["AttributeType"] for d in p.get("AttributeDefinitions", [])}
    key_attrs = {table.HASH_KEY, table.RANGE_KEY} | {a for pair in table.INDEXES.values() for a in pair}
    if definitions != dict.fromkeys(key_attrs, "S"):
        problems.append(f"attribute definitions {definitions}")
    ttl = p.get("TimeToLiveSpecification", {})
    if ttl.get("AttributeName") != table.TTL_ATTRIBUTE or ttl.get("Enabled") is not True:
        problems.append(f"TTL {ttl}")
    if p.get("BillingMode") != "PAY_PER_REQUEST":
        problems.append("table is not on-demand")
    if p.get("SSESpecification", {}).get("SSEEnabled") is not True:
        problems.append("table SSE is not enabled")
    return problems


def check_table_matches_pynamodb(t: Template) -> list[str]:
    problems: list[str] = []
    p = props(next(iter(resources(t, "AWS::DynamoDB::Table").values())))
    attributes = TableModel.get_attributes()
    hash_keys = [a.attr_name for a in attributes.values() if a.is_hash_key]
    range_keys = [a.attr_name for a in attributes.values() if a.is_range_key]
    schema = {k["KeyType"]: k["AttributeName"] for k in p["KeySchema"]}
    if hash_keys != [schema.get("HASH")] or range_keys != [schema.get("RANGE")]:
        problems.append(f"model keys {hash_keys}/{range_keys} vs table {schema}")
    definitions = {d["AttributeName"]: d["AttributeType"] for d in p["AttributeDefinitions"]}
    model_indexes: dict[str, tuple[str | None, str | None]] = {}
    for index in TableModel._indexes.values():
        meta = index.Meta
        idx_hash = next((a.attr_name for a in meta.attributes.values() if a.is_hash_key), None)
        idx_range = next((a.attr_name for a in meta.attributes.values() if a.is_range_key), None)
        model_indexes[meta.index_name] = (idx_hash, idx_range)
        if meta.projection.projection_type != "ALL":
            problems.append(f"model index {meta.index_name} projection {meta.projection.projection_type}")
        for attr in meta.attributes.values():
            if definitions.get(attr.attr_name) != attr.attr_type:
                problems.append(f"model index attribute {attr.attr_name} type {attr.attr_type}")
    table_indexes = {
        g["IndexName"]: tuple(k["AttributeName"] for k in g["KeySchema"]) for g in p.get("GlobalSecondaryIndexes", [])
    }
    if model_indexes != table_indexes:
        problems.append(f"model indexes {model_indexes} vs table {table_indexes}")
    for name, kind in definitions.items():
        attr = next((a for a in attributes.values() if a.attr_name == name), None)
        if attr is None or attr.attr_type != kind:
            problems.append(f"table attribute {name} ({kind}) has no matching model attribute")
    ttl_attr = next((a for a in attributes.values() if a.attr_name == table.TTL_ATTRIBUTE), None)
    if ttl_attr is None or ttl_attr.attr_type != "N":
        problems.append("the model has no numeric TTL attribute")
    return problems


def check_pitr_only_in_prod(t: Template) -> list[str]:
    p = props(next(iter(resources(t, "AWS::DynamoDB::Table").values())))
    value = p.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled")
    if not (isinstance(value, dict) and "Fn::If" in value):
        return [f"PITR is not conditional: {value!r}"]
    condition, when_true, when_false = value["Fn::If"]
    if (when_true, when_false) != (True, False):
        return [f"PITR branches are {when_true!r}/{when_false!r}"]
    equals = t.get("Conditions", {}).get(condition, {}).get("Fn::Equals")
    if not equals or sorted(map(json.dumps, equals)) != sorted(map(json.dumps, [{"Ref": "Stage"}, "prod"])):
        return [f"condition {condition} is not Stage == prod: {equals!r}"]
    return []


def check_table_is_retained(t: Template) -> list[str]:
    res = next(iter(resources(t, "AWS::DynamoDB::Table").values()))
    if res.get("DeletionPolicy") != "Retain" or res.get("UpdateReplacePolicy") != "Retain":
        return ["the table is not retained on delete/replace"]
    return []


def check_queues(t: Template) -> list[str]:
    problems: list[str] = []
    queues = resources(t, "AWS::SQS::Queue")
    dlqs: set[str] = set()
    for name, res in queues.items():
        if not props(res).get("SqsManagedSseEnabled") and not props(res).get("KmsMasterKeyId"):
            problems.append(f"{name} is not encrypted")
        redrive = props(res).get("RedrivePolicy")
        if redrive:
            dlq = referenced(redrive.get("deadLetterTargetArn"))
            if dlq not in queues:
                problems.append(f"{name} redrives to unknown {dlq}")
                continue
            dlqs.add(str(dlq))
            if redrive.get("maxReceiveCount") != 5:
                problems.append(f"{name} maxReceiveCount {redrive.get('maxReceiveCount')}")
    for name in QUEUE_NAMES:
        if name not in queues:
            problems.append(f"missing queue {name}")
        elif referenced(props(queues[name]).get("RedrivePolicy", {}).get("deadLetterTargetArn")) != (
            f"{name}DeadLetterQueue"
        ):
            problems.append(f"{name} does not redrive to {name}DeadLetterQueue")
    dlqs |= set(failure_destinations(t)) & set(queues)
    for name in set(queues) - dlqs:
        if not props(queues[name]).get("RedrivePolicy"):
            problems.append(f"{name} has no dead-letter queue")
    for dlq in dlqs:
        if props(queues[dlq]).get("MessageRetentionPeriod") != 14 * 24 * 3600:
            problems.append(f"{dlq} does not keep messages 14 days")
    return problems


def check_dlq_alarms(t: Template) -> list[str]:
    problems: list[str] = []
    queues = resources(t, "AWS::SQS::Queue")
    dlqs = {
        str(referenced(props(q)["RedrivePolicy"]["deadLetterTargetArn"]))
        for q in queues.values()
        if "RedrivePolicy" in props(q)
    } | set(failure_destinations(t))
    topics = resources(t, "AWS::SNS::Topic")
    alarmed: set[str] = set()
    for name, alarm in resources(t, "AWS::CloudWatch::Alarm").items():
        p = props(alarm)
        dims = {d["Name"]: referenced(d["Value"]) for d in p.get("Dimensions", [])}
        queue = dims.get("QueueName")
        if p.get("Namespace") != "AWS/SQS" or queue not in dlqs:
            continue
        if p.get("MetricName") != "ApproximateNumberOfMessagesVisible":
            problems.append(f"{name} watches {p.get('MetricName')}")
        if p.get("ComparisonOperator") != "GreaterThanOrEqualToThreshold" or p.get("Threshold") != 1:
            problems.append(f"{name} does not fire on the first message")
        actions = [referenced(a) for a in p.get("AlarmActions", [])]
        if "AlarmTopic" not in actions or "AlarmTopic" not in topics:
            problems.append(f"{name} does not notify AlarmTopic")
        alarmed.add(str(queue))
    problems.extend(f"{dlq} has no alarm" for dlq in sorted(dlqs - alarmed))
    return problems


def check_visibility_timeouts(t: Template) -> list[str]:
    problems: list[str] = []
    queues = resources(t, "AWS::SQS::Queue")
    functions = resources(t, *FUNCTION_TYPES)
    for queue, consumers in function_consuming(t).items():
        visibility = props(queues[queue]).get("VisibilityTimeout", SQS_DEFAULT_VISIBILITY)
        for fname in consumers:
            timeout = function_prop(t, functions[fname], "Timeout", LAMBDA_DEFAULT_TIMEOUT)
            if visibility < 6 * timeout:
                problems.append(f"{queue} visibility {visibility} < 6 x {fname} timeout {timeout}")
    for queue, planned in PLANNED_CONSUMER_TIMEOUTS.items():
        visibility = props(queues.get(queue, {})).get("VisibilityTimeout", SQS_DEFAULT_VISIBILITY)
        if visibility < 6 * planned:
            problems.append(f"{queue} visibility {visibility} < 6 x planned consumer timeout {planned}")
    return problems


def check_log_groups(t: Template) -> list[str]:
    problems: list[str] = []
    for name, res in resources(t, *FUNCTION_TYPES).items():
        group = referenced(props(res).get("LoggingConfig", {}).get("LogGroup"))
        if not log_group_has_retention(t, group):
            problems.append(f"{name} has no explicit log group with retention")
    for name, res in resources(t, "AWS::Serverless::StateMachine").items():
        destinations = props(res).get("Logging", {}).get("Destinations", [])
        groups = [referenced(d.get("CloudWatchLogsLogGroup", {}).get("LogGroupArn")) for d in destinations]
        if not groups or not all(log_group_has_retention(t, g) for g in groups):
            problems.append(f"{name} does not log to a log group with retention")
    for name, res in resources(t, "AWS::Serverless::HttpApi").items():
        access = props(res).get("AccessLogSettings")
        if access and not log_group_has_retention(t, referenced(access.get("DestinationArn"))):
            problems.append(f"{name} access logs go to a log group without retention")
    for name, res in resources(t, "AWS::Logs::LogGroup").items():
        if "RetentionInDays" not in props(res):
            problems.append(f"log group {name} keeps logs forever")
    return problems


def check_least_privilege(t: Template) -> list[str]:
    problems = [f"FullAccess policy: {s}" for s in walk_strings(t["Resources"]) if "fullaccess" in s.lower()]
    for name, res in t["Resources"].items():
        policies = props(res).get("Policies", [])
        for policy in policies if isinstance(policies, list) else [policies]:
            statements = policy.get("Statement", []) if isinstance(policy, dict) else []
            for statement in statements:
                actions = statement.get("Action", [])
                for action in [actions] if isinstance(actions, str) else actions:
                    if action == "*" or action.endswith(":*"):
                        problems.append(f"{name} grants wildcard action {action}")
    return problems


def check_handlers(t: Template) -> list[str]:
    problems: list[str] = []
    for name, res in resources(t, "AWS::Serverless::Function").items():
        code = ROOT / str(function_prop(t, res, "CodeUri", ""))
        if not code.is_dir():
            problems.append(f"{name} CodeUri {code} does not exist")
            continue
        module, _, attribute = str(function_prop(t, res, "Handler", "")).rpartition(".")
        source = code / (module.replace(".", "/") + ".py")
        if not module or not source.is_file():
            problems.append(f"{name} handler module {source} does not exist")
            continue
        if attribute not in top_level_names(ast.parse(source.read_text(), str(source))):
            problems.append(f"{name}: {source} does not define {attribute}")
    return problems


def top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
    return names


def check_state_machines(t: Template) -> list[str]:
    problems: list[str] = []
    functions = resources(t, *FUNCTION_TYPES)
    for name, res in resources(t, "AWS::Serverless::StateMachine").items():
        path, text = state_machine_definition(res)
        substitutions: dict[str, Any] = props(res).get("DefinitionSubstitutions", {})
        try:
            definition = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(f"{name}: {path} is not JSON ({exc})")
            continue
        used = set(PLACEHOLDER_RE.findall(text))
        problems.extend(f"{name}: ${{{p}}} has no substitution" for p in sorted(used - set(substitutions)))
        problems.extend(f"{name}: substitution {s} is unused" for s in sorted(set(substitutions) - used))
        invoked: set[str] = set()
        for state_name, state in task_states(definition["States"]):
            resource = str(state.get("Resource", ""))
            if state.get("Type") != "Task" or ":lambda:" not in resource:
                continue
            if resource.startswith("arn:aws:states:::lambda:invoke"):
                target = str(state.get("Parameters", {}).get("FunctionName", ""))
            else:
                target = resource
            match = PLACEHOLDER_RE.fullmatch(target)
            function = referenced(substitutions.get(match.group(1))) if match else None
            if function not in functions:
                problems.append(f"{name}.{state_name} invokes {target}, not a function of this template")
            else:
                invoked.add(str(function))
        allowed = {
            referenced(p["LambdaInvokePolicy"]["FunctionName"])
            for p in props(res).get("Policies", [])
            if isinstance(p, dict) and "LambdaInvokePolicy" in p
        }
        problems.extend(f"{name} may not invoke {f}" for f in sorted(invoked - allowed))
    return problems


def check_layers(t: Template) -> list[str]:
    problems: list[str] = []
    layers = resources(t, "AWS::Serverless::LayerVersion")
    architectures = global_function_prop(t, "Architectures", ["x86_64"])
    for name, res in layers.items():
        content = ROOT / str(props(res)["ContentUri"])
        if not content.is_dir():
            problems.append(f"{name} ContentUri {content} does not exist")
        metadata = res.get("Metadata", {})
        if metadata.get("BuildArchitecture") not in architectures:
            problems.append(f"{name} is built for {metadata.get('BuildArchitecture')}, not {architectures}")
    if not (ROOT / str(props(layers.get("KindlingLayer", {})).get("ContentUri", "-")) / "kindling").is_dir():
        problems.append("KindlingLayer does not contain the kindling package")
    wanted = {"DependenciesLayer", "KindlingLayer"}
    for name, res in resources(t, "AWS::Serverless::Function").items():
        attached = {referenced(layer) for layer in function_prop(t, res, "Layers", [])}
        if not wanted <= attached:
            problems.append(f"{name} lacks layers {sorted(wanted - attached)}")
    return problems


def check_dashboard(t: Template) -> list[str]:
    dashboards = resources(t, "AWS::CloudWatch::Dashboard")
    if len(dashboards) != 1:
        return [f"expected one dashboard, found {sorted(dashboards)}"]
    body = props(next(iter(dashboards.values())))["DashboardBody"]["Fn::Sub"]
    problems: list[str] = []
    for placeholder in set(PLACEHOLDER_RE.findall(body)):
        logical = placeholder.split(".")[0]
        if not placeholder.startswith("AWS::") and logical not in t["Resources"]:
            problems.append(f"dashboard refers to unknown {placeholder}")
    rendered = PLACEHOLDER_RE.sub(lambda m: m.group(1), body)
    try:
        widgets = json.loads(rendered)["widgets"]
    except (json.JSONDecodeError, KeyError) as exc:
        return [*problems, f"dashboard body is not valid JSON: {exc}"]
    lines = [json.dumps(metric) for w in widgets for metric in w.get("properties", {}).get("metrics", [])]

    def shown(*parts: str) -> bool:
        return any(all(part in line for part in parts) for line in lines)

    for metric in ("4xx", "5xx", "Latency"):
        if not shown("AWS/ApiGateway", f'"{metric}"', "HttpApi"):
            problems.append(f"dashboard lacks API {metric}")
    for queue in QUEUE_NAMES:
        if not shown("ApproximateAgeOfOldestMessage", f"{queue}.QueueName"):
            problems.append(f"dashboard lacks the age of {queue}")
        if not shown("ApproximateNumberOfMessagesVisible", f"{queue}DeadLetterQueue.QueueName"):
            problems.append(f"dashboard lacks the depth of {queue}DeadLetterQueue")
    for dlq in sorted(failure_destinations(t)):
        if not shown("ApproximateNumberOfMessagesVisible", f"{dlq}.QueueName"):
            problems.append(f"dashboard lacks the depth of {dlq}")
    if not shown("Kindling", "EmailsSent", "60"):
        problems.append("dashboard lacks sends per minute")
    for name in resources(t, *FUNCTION_TYPES):
        if not shown("AWS/Lambda", '"Errors"', f"{name}"):
            problems.append(f"dashboard lacks errors of {name}")
    return problems


def check_function_alarms(t: Template) -> list[str]:
    problems: list[str] = []
    for metric in ("Errors", "Throttles"):
        alarms = alarms_on(t, "AWS/Lambda", metric, "FunctionName")
        for name in resources(t, *FUNCTION_TYPES):
            good = [p for p in alarms.get(name, []) if notifies_topic(p) and fires_on_first(p)]
            if not good:
                problems.append(f"{name} has no {metric} alarm to AlarmTopic")
            elif any(p.get("TreatMissingData") != "notBreaching" for p in good):
                problems.append(f"{name}'s {metric} alarm treats no data as a problem")
    return problems


def check_scheduled_functions(t: Template) -> list[str]:
    problems: list[str] = []
    stopped = alarms_on(t, "AWS/Lambda", "Invocations", "FunctionName")
    queues = resources(t, "AWS::SQS::Queue")
    dlq_alarms = alarms_on(t, "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName")
    scheduled = {n for n, res in resources(t, "AWS::Serverless::Function").items() if schedule_events(res)}
    if scheduled != set(STOPPED_WINDOWS):
        problems.append(f"scheduled functions {sorted(scheduled)} != {sorted(STOPPED_WINDOWS)}")
    for name in sorted(scheduled):
        res = t["Resources"][name]
        alarms = [
            p
            for p in stopped.get(name, [])
            if notifies_topic(p)
            and p.get("ComparisonOperator") == "LessThanThreshold"
            and p.get("Threshold") == 1
            and p.get("Statistic") == "Sum"
            and p.get("TreatMissingData") == "breaching"
        ]
        if not alarms:
            problems.append(f"{name} has no stopped-running alarm")
        elif [p.get("Period", 0) * p.get("EvaluationPeriods", 0) for p in alarms] != [STOPPED_WINDOWS.get(name)]:
            problems.append(f"{name}'s stopped-running window is not {STOPPED_WINDOWS.get(name)} s")
        dlq = props(res).get("DeadLetterQueue", {})
        if dlq.get("Type") != "SQS" or referenced(dlq.get("TargetArn")) not in queues:
            problems.append(f"{name} has no dead-letter queue for failed asynchronous invocations")
        elif not dlq_alarms.get(str(referenced(dlq.get("TargetArn")))):
            problems.append(f"{name}'s dead-letter queue has no alarm")
        for event in schedule_events(res):
            p = event.get("Properties", {})
            if referenced(p.get("DeadLetterConfig", {}).get("Arn")) not in queues:
                problems.append(f"{name}'s schedule has no dead-letter queue")
            if "MaximumRetryAttempts" not in p.get("RetryPolicy", {}):
                problems.append(f"{name}'s schedule has no retry policy")
    return problems


def check_state_machine_alarms(t: Template) -> list[str]:
    alarms = alarms_on(t, "AWS/States", "ExecutionsFailed", "StateMachineArn")
    return [
        f"{name} has no ExecutionsFailed alarm to AlarmTopic"
        for name in resources(t, "AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
        if not [p for p in alarms.get(name, []) if notifies_topic(p) and fires_on_first(p)]
    ]


def catches_all(state: dict[str, Any]) -> bool:
    return any("States.ALL" in c.get("ErrorEquals", []) for c in state.get("Catch", []))


def uncaught_tasks(states: dict[str, Any], caught_outside: bool = False) -> list[str]:
    """Task states whose failure nothing catches: neither their own Catch nor their Map's or Parallel's."""
    found: list[str] = []
    for name, state in states.items():
        caught = caught_outside or catches_all(state)
        if state.get("Type") == "Task" and not caught:
            found.append(name)
        processor = state.get("ItemProcessor") or state.get("Iterator")
        inner = [processor] if processor else []
        for sub in [*inner, *state.get("Branches", [])]:
            found.extend(uncaught_tasks(sub["States"], caught))
    return found


def check_state_machines_catch_every_task(t: Template) -> list[str]:
    problems: list[str] = []
    for name, res in resources(t, "AWS::Serverless::StateMachine").items():
        _, text = state_machine_definition(res)
        problems.extend(f"{name}.{state} has no Catch" for state in uncaught_tasks(json.loads(text)["States"]))
    return problems


def check_tracking_secret_retained(t: Template) -> list[str]:
    res = t["Resources"].get("TrackingSecret", {})
    if res.get("DeletionPolicy") != "Retain" or res.get("UpdateReplacePolicy") != "Retain":
        return ["TrackingSecret is not retained on delete/replace"]
    return []


def check_reserved_concurrency(t: Template) -> list[str]:
    problems: list[str] = []
    functions = resources(t, *FUNCTION_TYPES)
    for name, key in (("ApiFunction", "Api"), ("McpFunction", "Mcp"), ("TrackingFunction", "Tracking")):
        value = props(functions.get(name, {})).get("ReservedConcurrentExecutions")
        expected = {
            "Fn::If": [
                "ReservesConcurrency",
                {"Fn::FindInMap": ["StageConcurrency", {"Ref": "Stage"}, key]},
                {"Ref": "AWS::NoValue"},
            ]
        }
        if value != expected:
            problems.append(f"{name} reserved concurrency is {value!r}, not the ReserveConcurrency parameter's")
    condition = t.get("Conditions", {}).get("ReservesConcurrency")
    if condition != {"Fn::Equals": [{"Ref": "ReserveConcurrency"}, "true"]}:
        problems.append(f"ReservesConcurrency is {condition!r}")
    parameter = t.get("Parameters", {}).get("ReserveConcurrency", {})
    if parameter.get("AllowedValues") != ["true", "false"]:
        problems.append("ReserveConcurrency cannot be turned off")
    return problems


def check_scheduled_state_machines(t: Template) -> list[str]:
    """A state machine started by a schedule (the reconnect sweep) gets the scheduled functions' failure paths: a
    retry policy and the alarmed schedule dead-letter queue; its Maps bound their concurrency."""
    problems: list[str] = []
    queues = resources(t, "AWS::SQS::Queue")
    dlq_alarms = alarms_on(t, "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName")
    for name, res in resources(t, "AWS::Serverless::StateMachine").items():
        events = schedule_events(res)
        for event in events:
            p = event.get("Properties", {})
            dlq = referenced(p.get("DeadLetterConfig", {}).get("Arn"))
            if dlq not in queues:
                problems.append(f"{name}'s schedule has no dead-letter queue")
            elif not dlq_alarms.get(str(dlq)):
                problems.append(f"{name}'s schedule dead-letter queue has no alarm")
            if "MaximumRetryAttempts" not in p.get("RetryPolicy", {}):
                problems.append(f"{name}'s schedule has no retry policy")
        if not events:
            continue
        _, text = state_machine_definition(res)
        for state_name, state in task_states(json.loads(text)["States"]):
            if state.get("Type") == "Map" and not 0 < int(state.get("MaxConcurrency", 0)) <= 10:
                problems.append(f"{name}.{state_name} has no bounded MaxConcurrency")
    return problems


CHECKS: dict[str, Callable[[Template], list[str]]] = {
    "table_matches_key_module": check_table_matches_key_module,
    "table_matches_pynamodb": check_table_matches_pynamodb,
    "pitr_only_in_prod": check_pitr_only_in_prod,
    "table_is_retained": check_table_is_retained,
    "queues": check_queues,
    "dlq_alarms": check_dlq_alarms,
    "visibility_timeouts": check_visibility_timeouts,
    "log_groups": check_log_groups,
    "least_privilege": check_least_privilege,
    "handlers": check_handlers,
    "state_machines": check_state_machines,
    "layers": check_layers,
    "dashboard": check_dashboard,
    "function_alarms": check_function_alarms,
    "scheduled_functions": check_scheduled_functions,
    "scheduled_state_machines": check_scheduled_state_machines,
    "state_machine_alarms": check_state_machine_alarms,
    "state_machines_catch_every_task": check_state_machines_catch_every_task,
    "tracking_secret_retained": check_tracking_secret_retained,
    "reserved_concurrency": check_reserved_concurrency,
}


@pytest.mark.parametrize("check", CHECKS.values(), ids=CHECKS.keys())
def test_template_passes(template: Template, check: Callable[[Template], list[str]]) -> None:
    assert check(template) == []


# ------------------------------------------------------------------ the checks can fail


def test_the_reconnect_sweep_runs_every_15_minutes_by_default(template: Template) -> None:
    parameter = template["Parameters"]["ReconnectSweepSchedule"]
    assert parameter["Default"] == "rate(15 minutes)"
    [event] = schedule_events(template["Resources"]["ReconnectSweepStateMachine"])
    assert referenced(event["Properties"]["Schedule"]) == "ReconnectSweepSchedule"
    _, text = state_machine_definition(template["Resources"]["ReconnectSweepStateMachine"])
    assert json.loads(text)["States"]["RetestEach"]["MaxConcurrency"] == 5


def test_detects_a_scheduled_state_machine_without_failure_paths(broken: Template) -> None:
    [event] = schedule_events(broken["Resources"]["ReconnectSweepStateMachine"])
    del event["Properties"]["DeadLetterConfig"]
    del event["Properties"]["RetryPolicy"]
    assert check_scheduled_state_machines(broken) == [
        "ReconnectSweepStateMachine's schedule has no dead-letter queue",
        "ReconnectSweepStateMachine's schedule has no retry policy",
    ]


def test_detects_index_drift(broken: Template) -> None:
    gsi = props(broken["Resources"]["Table"])["GlobalSecondaryIndexes"][1]
    gsi["KeySchema"][1]["AttributeName"] = "gsi2other"
    assert check_table_matches_key_module(broken)
    assert check_table_matches_pynamodb(broken)


def test_detects_missing_ttl_and_projection(broken: Template) -> None:
    p = props(broken["Resources"]["Table"])
    p["TimeToLiveSpecification"]["AttributeName"] = "ttl"
    p["GlobalSecondaryIndexes"][0]["Projection"] = {"ProjectionType": "KEYS_ONLY"}
    problems = check_table_matches_key_module(broken)
    assert any("TTL" in p for p in problems)
    assert any("project ALL" in p for p in problems)


def test_detects_unconditional_pitr(broken: Template) -> None:
    props(broken["Resources"]["Table"])["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] = True
    assert check_pitr_only_in_prod(broken)


def test_detects_queue_without_dlq_or_alarm(broken: Template) -> None:
    del props(broken["Resources"]["SyncQueue"])["RedrivePolicy"]
    del broken["Resources"]["WebhookQueueDeadLetterAlarm"]
    assert "SyncQueue has no dead-letter queue" in check_queues(broken)
    problems = check_dlq_alarms(broken)
    assert "WebhookQueueDeadLetterQueue has no alarm" in problems


def test_detects_alarm_not_notifying_topic(broken: Template) -> None:
    props(broken["Resources"]["SendQueueDeadLetterAlarm"])["AlarmActions"] = []
    assert check_dlq_alarms(broken) == ["SendQueueDeadLetterAlarm does not notify AlarmTopic"]


def test_detects_short_visibility_for_a_consumer(broken: Template) -> None:
    # A consumer with a 300 s timeout on a queue with 360 s visibility breaks the 6x rule.
    props(broken["Resources"]["JobsFunction"])["Events"] = {
        "Checks": {"Type": "SQS", "Properties": {"Queue": {"Fn::GetAtt": ["CheckQueue", "Arn"]}}}
    }
    assert check_visibility_timeouts(broken) == ["CheckQueue visibility 360 < 6 x JobsFunction timeout 300"]
    props(broken["Resources"]["SendQueue"])["VisibilityTimeout"] = 60
    assert "SendQueue visibility 60 < 6 x planned consumer timeout 120" in check_visibility_timeouts(broken)


def test_detects_function_without_log_group(broken: Template) -> None:
    del props(broken["Resources"]["ApiFunction"])["LoggingConfig"]
    del props(broken["Resources"]["JobsFunctionLogGroup"])["RetentionInDays"]
    problems = check_log_groups(broken)
    assert "ApiFunction has no explicit log group with retention" in problems
    assert "JobsFunction has no explicit log group with retention" in problems


def test_detects_full_access_and_wildcards(broken: Template) -> None:
    policies = props(broken["Resources"]["ApiFunction"])["Policies"]
    policies.append("AmazonDynamoDBFullAccess")
    policies.append({"Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]})
    problems = check_least_privilege(broken)
    assert "FullAccess policy: AmazonDynamoDBFullAccess" in problems
    assert "ApiFunction grants wildcard action sqs:*" in problems


def test_detects_missing_handler(broken: Template) -> None:
    props(broken["Resources"]["ApiFunction"])["Handler"] = "app.not_there"
    props(broken["Resources"]["JobsFunction"])["CodeUri"] = "functions/nowhere/"
    problems = check_handlers(broken)
    assert any("does not define not_there" in p for p in problems)
    assert any("JobsFunction CodeUri" in p for p in problems)


def test_detects_unsubstituted_and_foreign_lambda_targets(broken: Template) -> None:
    machine = props(broken["Resources"]["JobStateMachine"])
    machine["DefinitionSubstitutions"] = {"JobsFunctionArn": {"Fn::GetAtt": ["Elsewhere", "Arn"]}}
    problems = check_state_machines(broken)
    assert any("not a function of this template" in p for p in problems)
    machine["DefinitionSubstitutions"] = {"Other": "x"}
    problems = check_state_machines(broken)
    assert "JobStateMachine: ${JobsFunctionArn} has no substitution" in problems
    assert "JobStateMachine: substitution Other is unused" in problems


def test_detects_dashboard_gaps(broken: Template) -> None:
    body = props(broken["Resources"]["Dashboard"])["DashboardBody"]
    body["Fn::Sub"] = body["Fn::Sub"].replace("EmailsSent", "Nothing").replace('"5xx"', '"2xx"')
    body["Fn::Sub"] = body["Fn::Sub"].replace("ScheduleDeadLetterQueue.QueueName", "ScheduleDeadLetterQueue.Arn")
    problems = check_dashboard(broken)
    assert "dashboard lacks the depth of ScheduleDeadLetterQueue" in problems
    assert "dashboard lacks sends per minute" in problems
    assert "dashboard lacks API 5xx" in problems


def test_detects_missing_function_alarms(broken: Template) -> None:
    del broken["Resources"]["SenderFunctionErrorsAlarm"]
    props(broken["Resources"]["TrackingFunctionThrottlesAlarm"])["AlarmActions"] = []
    assert check_function_alarms(broken) == [
        "SenderFunction has no Errors alarm to AlarmTopic",
        "TrackingFunction has no Throttles alarm to AlarmTopic",
    ]


def test_detects_a_scheduled_function_without_its_alarm_or_failure_destination(broken: Template) -> None:
    del broken["Resources"]["SchedulerFunctionStoppedAlarm"]
    props(broken["Resources"]["WarmupTickFunctionStoppedAlarm"])["Period"] = 900
    del props(broken["Resources"]["WebhookSweepFunction"])["DeadLetterQueue"]
    del props(broken["Resources"]["WarmupDomainCheckFunction"])["Events"]["Every2Hours"]["Properties"]["RetryPolicy"]
    problems = check_scheduled_functions(broken)
    assert problems == [
        "SchedulerFunction has no stopped-running alarm",
        "WarmupDomainCheckFunction's schedule has no retry policy",
        "WarmupTickFunction's stopped-running window is not 2700 s",
        "WebhookSweepFunction has no dead-letter queue for failed asynchronous invocations",
    ]


def test_detects_a_failure_destination_without_an_alarm(broken: Template) -> None:
    del broken["Resources"]["ScheduleDeadLetterAlarm"]
    assert "ScheduleDeadLetterQueue has no alarm" in check_dlq_alarms(broken)
    assert "SchedulerFunction's dead-letter queue has no alarm" in check_scheduled_functions(broken)


def test_detects_a_state_machine_without_failure_alarm(broken: Template) -> None:
    del broken["Resources"]["JobStateMachineExecutionsFailedAlarm"]
    assert check_state_machine_alarms(broken) == ["JobStateMachine has no ExecutionsFailed alarm to AlarmTopic"]


def test_detects_uncaught_tasks() -> None:
    definition = json.loads((ROOT / "statemachines" / "job.asl.json").read_text())
    assert uncaught_tasks(definition["States"]) == []
    # Every Task of the real definition, the one inside the Map included (through the Map's Catch).
    del definition["States"]["MarkFailed"]["Catch"]
    definition["States"]["ProcessBatches"]["Catch"][0]["ErrorEquals"] = ["States.TaskFailed"]
    assert uncaught_tasks(definition["States"]) == ["ProcessBatch", "MarkFailed"]


def test_detects_an_unretained_tracking_secret(broken: Template) -> None:
    broken["Resources"]["TrackingSecret"]["UpdateReplacePolicy"] = "Delete"
    assert check_tracking_secret_retained(broken) == ["TrackingSecret is not retained on delete/replace"]


def test_detects_reserved_concurrency_not_from_the_parameter(broken: Template) -> None:
    props(broken["Resources"]["ApiFunction"])["ReservedConcurrentExecutions"] = 50
    del props(broken["Resources"]["TrackingFunction"])["ReservedConcurrentExecutions"]
    problems = check_reserved_concurrency(broken)
    assert problems == [
        "ApiFunction reserved concurrency is 50, not the ReserveConcurrency parameter's",
        "TrackingFunction reserved concurrency is None, not the ReserveConcurrency parameter's",
    ]


def test_reserved_concurrency_numbers(template: Template) -> None:
    assert template["Parameters"]["ReserveConcurrency"]["Default"] == "true"
    assert template["Mappings"]["StageConcurrency"] == RESERVED_CONCURRENCY
    # A fresh account's quota is 1,000 and AWS keeps 100 unreserved: every stage reserves far below the 900 left.
    assert max(sum(stage.values()) for stage in RESERVED_CONCURRENCY.values()) == 170


def test_tracking_secret_rotation_wiring(template: Template) -> None:
    """Both functions read the (pinned or current) version; only tracking reads the previous one, when set."""
    secret = template["Resources"]["TrackingSecret"]
    assert secret["Condition"] == "CreatesTrackingSecret"
    sender = props(template["Resources"]["SenderFunction"])["Environment"]["Variables"]
    tracking = props(template["Resources"]["TrackingFunction"])["Environment"]["Variables"]
    assert sender["KINDLING_TRACKING_SECRET"] == tracking["KINDLING_TRACKING_SECRET"]
    condition, pinned, latest = tracking["KINDLING_TRACKING_SECRET"]["Fn::If"]
    assert condition == "PinsTrackingSecretVersion"
    assert pinned["Fn::Sub"][0] == "{{resolve:secretsmanager:${Secret}:SecretString:::${TrackingSecretVersion}}}"
    assert latest["Fn::Sub"][0] == "{{resolve:secretsmanager:${Secret}}}"
    condition, previous, none = tracking["KINDLING_TRACKING_SECRET_PREVIOUS"]["Fn::If"]
    assert (condition, none) == ("HasPreviousTrackingSecret", "")
    assert previous["Fn::Sub"][0] == (
        "{{resolve:secretsmanager:${Secret}:SecretString:::${TrackingSecretPreviousVersion}}}"
    )
    secret_ref = {"Fn::If": ["CreatesTrackingSecret", {"Ref": "TrackingSecret"}, {"Ref": "ExistingTrackingSecretArn"}]}
    assert {json.dumps(s["Fn::Sub"][1]["Secret"]) for s in (pinned, latest, previous)} == {json.dumps(secret_ref)}
    assert "KINDLING_TRACKING_SECRET_PREVIOUS" not in sender


def test_handler_names_include_assignments_and_imports() -> None:
    tree = ast.parse("from mangum import Mangum as M\nimport x.y\napp = 1\nhandler: int = M(app)\n")
    assert top_level_names(tree) == {"M", "x", "app", "handler"}


# ------------------------------------------------------------------ specific settings


def test_globals_and_environment(template: Template) -> None:
    globals_ = template["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.11"
    assert globals_["Architectures"] == ["arm64"]
    assert globals_["Tracing"] == "Active"
    assert globals_["LoggingConfig"]["LogFormat"] == "JSON"
    env = globals_["Environment"]["Variables"]
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Kindling"
    expected = {
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_LOG_LEVEL",
        "KINDLING_STAGE",
        "KINDLING_TABLE_NAME",
        "KINDLING_KMS_KEY_ID",
        "KINDLING_CHECK_QUEUE_URL",
        "KINDLING_SEND_QUEUE_URL",
        "KINDLING_SYNC_QUEUE_URL",
        "KINDLING_WEBHOOK_QUEUE_URL",
        "KINDLING_ALLOW_PRIVATE_TARGETS",
    }
    assert expected <= set(env)
    # Only the functions that build links get a base URL (tests/infrastructure/test_deployed_settings.py).
    assert "KINDLING_PUBLIC_BASE_URL" not in env
    api = props(template["Resources"]["ApiFunction"])
    assert referenced(api["Environment"]["Variables"]["KINDLING_JOB_STATE_MACHINE_ARN"]) == "JobStateMachine"
    execution = [p for p in api["Policies"] if isinstance(p, dict) and "StepFunctionsExecutionPolicy" in p]
    assert [referenced(p["StepFunctionsExecutionPolicy"]["StateMachineName"]) for p in execution] == ["JobStateMachine"]


def test_api_routes_use_the_http_api(template: Template) -> None:
    events = props(template["Resources"]["ApiFunction"])["Events"].values()
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events if e["Type"] == "HttpApi"}
    assert routes == {
        ("ANY", "/api/{proxy+}"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("POST", "/linkedin/provider/{proxy+}"),  # the LinkedIn provider's webhooks and hosted-auth notify
    }
    assert {referenced(e["Properties"]["ApiId"]) for e in events} == {"HttpApi"}
    assert not resources(template, "AWS::Serverless::Api", "AWS::ApiGateway::RestApi")


def test_the_mcp_server_is_its_own_function_behind_the_same_http_api(template: Template) -> None:
    mcp = props(template["Resources"]["McpFunction"])
    events = mcp["Events"].values()
    assert {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events} == {("ANY", "/mcp")}
    assert {referenced(e["Properties"]["ApiId"]) for e in events} == {"HttpApi"}
    assert mcp["Handler"] == "app.handler" and mcp["CodeUri"] == "functions/mcp/"
    # Least privilege: the table, the webhook queue (events of tool writes), the job state machine; no KMS (no
    # tool reads or writes mailbox passwords) and no check/send/sync queue (no tool connects or sends).
    policies = [next(iter(p)) for p in mcp["Policies"]]
    assert sorted(policies) == ["DynamoDBCrudPolicy", "SQSSendMessagePolicy", "StepFunctionsExecutionPolicy"]
    assert "McpUrl" in template["Outputs"]


def test_stage_parameter_and_outputs(template: Template) -> None:
    stage = template["Parameters"]["Stage"]
    assert stage["AllowedValues"] == ["dev", "staging", "prod"]
    assert stage["Default"] == "dev"
    retention = template["Mappings"]["StageConfig"]
    assert {s: retention[s]["LogRetentionDays"] for s in stage["AllowedValues"]} == {
        "dev": 14,
        "staging": 14,
        "prod": 90,
    }
    assert {
        "ApiUrl",
        "TableName",
        "MailboxSecretsKeyId",
        "CheckQueueUrl",
        "SendQueueUrl",
        "SyncQueueUrl",
        "WebhookQueueUrl",
        "JobStateMachineArn",
        "AlarmTopicArn",
        "DashboardName",
    } <= set(template["Outputs"])


def test_alarm_email_subscription_is_optional(template: Template) -> None:
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    subscriptions = resources(template, "AWS::SNS::Subscription")
    assert subscriptions
    for sub in subscriptions.values():
        condition = template["Conditions"][sub["Condition"]]
        assert json.dumps(condition) == json.dumps({"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]})


def test_mailbox_key_rotates_and_has_an_alias(template: Template) -> None:
    key = props(template["Resources"]["MailboxSecretsKey"])
    assert key["EnableKeyRotation"] is True
    aliases = resources(template, "AWS::KMS::Alias").values()
    assert [referenced(props(a)["TargetKeyId"]) for a in aliases] == ["MailboxSecretsKey"]
    assert [props(a)["AliasName"] for a in aliases] == [{"Fn::Sub": "alias/kindling-${Stage}-mailbox-secrets"}]


def test_samconfig_per_stage() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for env, stage in (("default", "dev"), ("dev", "dev"), ("staging", "staging"), ("prod", "prod")):
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["stack_name"] == f"kindling-{stage}"
        assert deploy["resolve_s3"] is True
        assert "CAPABILITY_IAM" in deploy["capabilities"].split()
        assert deploy["parameter_overrides"] == f'Stage="{stage}"'
        assert deploy["confirm_changeset"] is (stage == "prod")
