"""Read template.yaml the way CloudFormation + SAM would, for the local stack.

The local stack has no second list of resources: everything it creates comes from here. This module
loads the template with its short-form tags (`!Ref`, `!Sub`...), evaluates parameters, conditions and
mappings with the stack's parameter values, merges SAM `Globals` into functions, and resolves
intrinsic functions. Values that depend on other resources (`Ref`/`GetAtt` of a resource) are looked
up through a callback, so provisioning can resolve a resource once everything it references exists.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_REGION = "us-east-1"

# Resource types the local stack deliberately does not emulate, with the reason. Anything not in
# this table and not provisioned by devstack.provision is an error, so nothing is dropped silently.
SKIPPED_TYPES: dict[str, str] = {
    "AWS::CloudWatch::Alarm": "alarms need real metrics; nothing local emits them",
    "AWS::CloudWatch::Dashboard": "dashboards are a console view only",
    "AWS::CloudWatch::CompositeAlarm": "alarms need real metrics; nothing local emits them",
    "AWS::Logs::LogGroup": "handlers log to the local stack's stdout",
    "AWS::Logs::MetricFilter": "no CloudWatch Logs locally",
    "AWS::Serverless::HttpApi": "uvicorn serves create_app(); other functions' routes go through devstack.http_routes",
    "AWS::SecretsManager::Secret": "the local stack sets its secrets directly (LocalStack.local_overrides)",
    "AWS::Serverless::Api": "the API is served by uvicorn running create_app() directly",
    "AWS::ApiGatewayV2::Api": "the API is served by uvicorn running create_app() directly",
    "AWS::ApiGatewayV2::Stage": "the API is served by uvicorn running create_app() directly",
    "AWS::ApiGatewayV2::Route": "the API is served by uvicorn running create_app() directly",
    "AWS::ApiGatewayV2::Integration": "the API is served by uvicorn running create_app() directly",
    "AWS::SNS::Subscription": "alarm notifications go nowhere locally",
    "AWS::SNS::TopicPolicy": "no IAM locally",
    "AWS::SQS::QueuePolicy": "no IAM locally",
    "AWS::IAM::Role": "no IAM locally: moto does not enforce policies",
    "AWS::IAM::Policy": "no IAM locally: moto does not enforce policies",
    "AWS::IAM::ManagedPolicy": "no IAM locally: moto does not enforce policies",
    "AWS::Lambda::Permission": "no IAM locally",
    "AWS::Lambda::LayerVersion": "handlers run in-process with the venv's packages",
    "AWS::Serverless::LayerVersion": "handlers run in-process with the venv's packages",
    "AWS::Lambda::EventInvokeConfig": "async invocations run once in-process",
    "AWS::Events::Rule": "schedules come from the functions' Schedule/ScheduleV2 events",
    "AWS::Scheduler::Schedule": "schedules come from the functions' Schedule/ScheduleV2 events",
    "AWS::Scheduler::ScheduleGroup": "schedules come from the functions' Schedule/ScheduleV2 events",
    "AWS::CloudFormation::Interface": "metadata only",
}

_PSEUDO_NO_VALUE = "AWS::NoValue"


class TemplateError(Exception):
    """The template uses something the local stack cannot evaluate."""


class _NoValue:
    """`Ref: AWS::NoValue`: removes the enclosing key or list item."""

    def __repr__(self) -> str:
        return "NoValue"


NO_VALUE = _NoValue()


# --- loading -------------------------------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):  # type: ignore[misc]
    """A safe YAML loader that understands CloudFormation's short-form tags."""


def _tag_constructor(
    name: str,
) -> Callable[[yaml.SafeLoader, yaml.Node], dict[str, Any]]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if name == "Fn::GetAtt" and isinstance(value, str):
                # `!GetAtt Res.Attr.Sub` splits at the first dot only.
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    return construct


for _short in (
    "Base64",
    "Cidr",
    "FindInMap",
    "GetAtt",
    "GetAZs",
    "ImportValue",
    "Join",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "ToJsonString",
    "Length",
):
    _CfnLoader.add_constructor(f"!{_short}", _tag_constructor(f"Fn::{_short}"))
_CfnLoader.add_constructor("!Ref", _tag_constructor("Ref"))
_CfnLoader.add_constructor("!Condition", _tag_constructor("Condition"))


def load_template(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{path} has no Resources section")
    return data


# --- evaluation ----------------------------------------------------------------------------------

# (logical id, attribute or None for Ref) -> value
ResourceLookup = Callable[[str, str | None], Any]


@dataclass
class StackContext:
    """What intrinsic functions are evaluated against."""

    stack_name: str
    region: str = DEFAULT_REGION
    account_id: str = ACCOUNT_ID
    parameters: dict[str, Any] = field(default_factory=dict)
    mappings: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, bool] = field(default_factory=dict)
    resource_ids: frozenset[str] = frozenset()
    lookup: ResourceLookup | None = None

    def pseudo(self, name: str) -> Any:
        values: dict[str, Any] = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": (f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local"),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            _PSEUDO_NO_VALUE: NO_VALUE,
        }
        if name not in values:
            raise TemplateError(f"unknown pseudo parameter {name}")
        return values[name]


_SUB_VAR = re.compile(r"\$\{([^}]+)\}")


def _ref(name: str, ctx: StackContext) -> Any:
    if name.startswith("AWS::"):
        return ctx.pseudo(name)
    if name in ctx.parameters:
        return ctx.parameters[name]
    if name in ctx.resource_ids:
        if ctx.lookup is None:
            raise TemplateError(f"Ref {name}: resource values are not available here")
        return ctx.lookup(name, None)
    raise TemplateError(f"Ref to unknown name {name!r}")


def _get_att(args: Any, ctx: StackContext) -> Any:
    if isinstance(args, str):
        args = args.split(".", 1)
    if not isinstance(args, list) or len(args) != 2:
        raise TemplateError(f"Fn::GetAtt needs [resource, attribute], got {args!r}")
    logical_id, attribute = resolve(args[0], ctx), resolve(args[1], ctx)
    if logical_id not in ctx.resource_ids:
        raise TemplateError(f"Fn::GetAtt of unknown resource {logical_id!r}")
    if ctx.lookup is None:
        raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute}: resource values are not available here")
    return ctx.lookup(logical_id, attribute)


def _sub(args: Any, ctx: StackContext) -> str:
    if isinstance(args, str):
        text, local_vars = args, {}
    elif isinstance(args, list) and len(args) == 2 and isinstance(args[0], str):
        text, local_vars = args[0], {k: resolve(v, ctx) for k, v in dict(args[1]).items()}
    else:
        raise TemplateError(f"Fn::Sub needs a string or [string, {{vars}}], got {args!r}")

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"  # `${!Literal}` escapes a substitution
        if name in local_vars:
            value = local_vars[name]
        elif "." in name and not name.startswith("AWS::"):
            value = _get_att(name.split(".", 1), ctx)
        else:
            value = _ref(name, ctx)
        if isinstance(value, bool):
            return "true" if value else "false"
        if not isinstance(value, str | int | float):
            raise TemplateError(f"Fn::Sub variable {name} is not a scalar: {value!r}")
        return str(value)

    return _SUB_VAR.sub(replace, text)


def _condition(value: Any, ctx: StackContext) -> bool:
    result = resolve(value, ctx)
    if not isinstance(result, bool):
        raise TemplateError(f"condition did not evaluate to a boolean: {value!r}")
    return result


def _named_condition(name: Any, ctx: StackContext) -> bool:
    if name not in ctx.conditions:
        raise TemplateError(f"unknown condition {name!r}")
    return ctx.conditions[name]


def _find_in_map(args: Any, ctx: StackContext) -> Any:
    if not isinstance(args, list) or len(args) not in (3, 4):
        raise TemplateError(f"Fn::FindInMap needs [map, key, key], got {args!r}")
    map_name, top, second = (resolve(a, ctx) for a in args[:3])
    try:
        return ctx.mappings[map_name][top][second]
    except (KeyError, TypeError) as exc:
        if len(args) == 4 and isinstance(args[3], dict) and "DefaultValue" in args[3]:
            return resolve(args[3]["DefaultValue"], ctx)
        raise TemplateError(f"Fn::FindInMap: no {map_name}/{top}/{second}") from exc


def _select(args: Any, ctx: StackContext) -> Any:
    if not isinstance(args, list) or len(args) != 2:
        raise TemplateError(f"Fn::Select needs [index, list], got {args!r}")
    index, items = int(resolve(args[0], ctx)), resolve(args[1], ctx)
    if not isinstance(items, list) or not 0 <= index < len(items):
        raise TemplateError(f"Fn::Select index {index} out of range for {items!r}")
    return items[index]


def _join(args: Any, ctx: StackContext) -> str:
    if not isinstance(args, list) or len(args) != 2:
        raise TemplateError(f"Fn::Join needs [delimiter, list], got {args!r}")
    delimiter, items = resolve(args[0], ctx), resolve(args[1], ctx)
    if not isinstance(items, list):
        raise TemplateError(f"Fn::Join needs a list, got {items!r}")
    return str(delimiter).join(str(i) for i in items if i is not NO_VALUE)


def _split(args: Any, ctx: StackContext) -> list[str]:
    delimiter, text = resolve(args[0], ctx), resolve(args[1], ctx)
    return str(text).split(str(delimiter))


def _if(args: Any, ctx: StackContext) -> Any:
    if not isinstance(args, list) or len(args) != 3:
        raise TemplateError(f"Fn::If needs [condition, then, else], got {args!r}")
    return resolve(args[1] if _named_condition(args[0], ctx) else args[2], ctx)


def _equals(args: Any, ctx: StackContext) -> bool:
    left, right = resolve(args[0], ctx), resolve(args[1], ctx)
    return bool(str(left) == str(right))


_FUNCTIONS: dict[str, Callable[[Any, StackContext], Any]] = {
    "Ref": lambda a, c: _ref(resolve(a, c), c),
    "Fn::GetAtt": _get_att,
    "Fn::Sub": _sub,
    "Fn::Join": _join,
    "Fn::Split": _split,
    "Fn::Select": _select,
    "Fn::If": _if,
    "Fn::Equals": _equals,
    "Fn::Not": lambda a, c: not _condition(a[0], c),
    "Fn::And": lambda a, c: all(_condition(x, c) for x in a),
    "Fn::Or": lambda a, c: any(_condition(x, c) for x in a),
    "Condition": _named_condition,
    "Fn::FindInMap": _find_in_map,
    "Fn::GetAZs": lambda a, c: [f"{c.region}{z}" for z in "abc"],
    "Fn::ToJsonString": lambda a, c: json.dumps(resolve(a, c), separators=(",", ":")),
    "Fn::Length": lambda a, c: len(resolve(a, c)),
}


def resolve(value: Any, ctx: StackContext) -> Any:
    """Evaluate every intrinsic function inside `value` (a deep copy is returned)."""
    if isinstance(value, dict):
        if len(value) == 1:
            (key, args), *_ = value.items()
            if key in _FUNCTIONS:
                return _FUNCTIONS[key](args, ctx)
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not supported by the local stack")
        resolved = {k: resolve(v, ctx) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}
    if isinstance(value, list):
        items = [resolve(v, ctx) for v in value]
        return [v for v in items if v is not NO_VALUE]
    return value


def references(value: Any) -> set[str]:
    """Names a value refers to via Ref, GetAtt or Sub (resource ids, parameters and pseudo params)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if len(value) == 1:
            (key, args), *_ = value.items()
            if key == "Ref" and isinstance(args, str):
                return {args}
            if key == "Fn::GetAtt":
                parts = args.split(".", 1) if isinstance(args, str) else args
                if isinstance(parts, list) and parts and isinstance(parts[0], str):
                    found.add(parts[0])
                return found
            if key == "Fn::Sub":
                text = args if isinstance(args, str) else args[0]
                local = set(args[1]) if isinstance(args, list) and len(args) > 1 else set()
                for name in _SUB_VAR.findall(text):
                    if not name.startswith("!") and name not in local:
                        found.add(name.split(".", 1)[0])
                if isinstance(args, list) and len(args) > 1:
                    found |= references(args[1])
                return found
        for v in value.values():
            found |= references(v)
    elif isinstance(value, list):
        for v in value:
            found |= references(v)
    return found


# --- the stack view ------------------------------------------------------------------------------


@dataclass
class TemplateResource:
    logical_id: str
    type: str
    properties: dict[str, Any]  # unresolved, with SAM Globals merged in
    depends_on: set[str]


@dataclass
class Template:
    """A loaded template evaluated for one stack (parameters, conditions and Globals applied)."""

    path: Path
    raw: dict[str, Any]
    context: StackContext
    resources: dict[str, TemplateResource]  # only those whose Condition holds
    skipped: dict[str, str]  # logical id -> reason (type not emulated, or condition false)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, value: Any) -> Any:
        return resolve(value, self.context)

    def of_type(self, *types: str) -> list[TemplateResource]:
        return [r for r in self.resources.values() if r.type in types]

    def creation_order(self) -> list[str]:
        """Logical ids ordered so every resource comes after what it references (like CloudFormation)."""
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(logical_id: str, path: tuple[str, ...]) -> None:
            if state.get(logical_id) == 2:
                return
            if state.get(logical_id) == 1:
                raise TemplateError("circular dependency: " + " -> ".join((*path, logical_id)))
            state[logical_id] = 1
            for dep in sorted(self.resources[logical_id].depends_on):
                if dep in self.resources:
                    visit(dep, (*path, logical_id))
            state[logical_id] = 2
            order.append(logical_id)

        for logical_id in sorted(self.resources):
            visit(logical_id, ())
        return order


def _merge_globals(global_props: Mapping[str, Any], props: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's Globals rule: maps merge (resource wins), lists concatenate, scalars are overridden."""
    merged: dict[str, Any] = copy.deepcopy(dict(global_props))
    for key, value in props.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = _merge_globals(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            merged[key] = current + copy.deepcopy(value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


_GLOBALS_SECTIONS = {
    "AWS::Serverless::Function": "Function",
    "AWS::Serverless::StateMachine": "StateMachine",
    "AWS::Serverless::SimpleTable": "SimpleTable",
}


def _parameter_value(name: str, spec: Mapping[str, Any], overrides: Mapping[str, Any]) -> Any:
    if name in overrides:
        value = overrides[name]
    elif "Default" in spec:
        value = spec["Default"]
    else:
        raise TemplateError(f"parameter {name} has no Default and no value was given")
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in allowed:
        raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
    if str(spec.get("Type", "String")) == "CommaDelimitedList" and isinstance(value, str):
        return [v.strip() for v in value.split(",")]
    return value


def evaluate(
    raw: dict[str, Any],
    path: Path,
    *,
    stack_name: str,
    parameters: Mapping[str, Any] | None = None,
    region: str = DEFAULT_REGION,
) -> Template:
    """Apply parameters, conditions and Globals; drop resources whose Condition is false."""
    overrides = dict(parameters or {})
    unknown = set(overrides) - set(raw.get("Parameters") or {})
    if unknown:
        raise TemplateError(f"unknown parameters: {sorted(unknown)}")
    params = {
        name: _parameter_value(name, spec or {}, overrides) for name, spec in (raw.get("Parameters") or {}).items()
    }
    all_resources: dict[str, Any] = raw["Resources"]
    ctx = StackContext(
        stack_name=stack_name,
        region=region,
        parameters=params,
        mappings=raw.get("Mappings") or {},
        resource_ids=frozenset(all_resources),
    )
    # Conditions may refer to each other; evaluate lazily with a guard against cycles.
    raw_conditions: dict[str, Any] = raw.get("Conditions") or {}
    evaluating: set[str] = set()

    class _LazyConditions(dict[str, bool]):
        def __contains__(self, key: object) -> bool:
            return key in raw_conditions

        def __getitem__(self, key: str) -> bool:
            if not dict.__contains__(self, key):
                if key in evaluating:
                    raise TemplateError(f"condition {key} refers to itself")
                evaluating.add(key)
                dict.__setitem__(self, key, _condition(raw_conditions[key], ctx))
                evaluating.discard(key)
            return bool(dict.__getitem__(self, key))

    lazy = _LazyConditions()
    ctx.conditions = lazy
    for name in raw_conditions:
        lazy[name]  # evaluate all now: a broken condition should fail at load time
    ctx.conditions = {name: lazy[name] for name in raw_conditions}

    globals_section: dict[str, Any] = raw.get("Globals") or {}
    resources: dict[str, TemplateResource] = {}
    skipped: dict[str, str] = {}
    for logical_id, spec in all_resources.items():
        rtype = str(spec.get("Type"))
        condition = spec.get("Condition")
        if condition is not None and not ctx.conditions.get(condition, False):
            skipped[logical_id] = f"condition {condition} is false for this stack"
            continue
        if rtype in SKIPPED_TYPES:
            skipped[logical_id] = SKIPPED_TYPES[rtype]
            continue
        props = dict(spec.get("Properties") or {})
        if rtype in _GLOBALS_SECTIONS:
            props = _merge_globals(globals_section.get(_GLOBALS_SECTIONS[rtype]) or {}, props)
        depends = spec.get("DependsOn") or []
        depends_on = {depends} if isinstance(depends, str) else set(depends)
        depends_on |= references(props) & set(all_resources)
        resources[logical_id] = TemplateResource(logical_id, rtype, props, depends_on - {logical_id})
    return Template(path=path, raw=raw, context=ctx, resources=resources, skipped=skipped)


def load(
    path: Path,
    *,
    stack_name: str,
    parameters: Mapping[str, Any] | None = None,
    region: str = DEFAULT_REGION,
) -> Template:
    return evaluate(load_template(path), path, stack_name=stack_name, parameters=parameters, region=region)
