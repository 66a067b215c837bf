"""Invariant no-local-values-deployed: template.yaml gives every function of every deployed stage settings that
load, and the functions that build links a public https base URL that is never the local fallback.

Each function's environment is resolved the way CloudFormation would for a stage (parameters, conditions,
Globals merged, resource references replaced by deployed-looking values) and read by kindling's own
`load_settings`: a local-only value anywhere (private targets allowed, the mail lab's CA, an endpoint override,
a loopback or http base URL...) makes the stack's functions refuse to start, so it fails here first.
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.template import evaluate, load_template, references
from kindling.platform.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
KINDLING = ROOT / "shared" / "kindling"

API_ID = "a1b2c3d4e5"  # what Ref HttpApi returns in these resolutions
API_URL = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
CUSTOM_DOMAIN = "https://links.example.com"

Raw = dict[str, Any]


def deployed_value(logical_id: str, attribute: str | None) -> str:
    """A stand-in for a deployed resource's Ref / GetAtt (only the HTTP API's id matters to these checks)."""
    if logical_id == "HttpApi" and attribute is None:
        return API_ID
    if attribute is None:
        return f"kindling-prod-{logical_id}"
    return f"arn:aws:service:us-east-1:123456789012:{logical_id}/{attribute}"


def function_environments(raw: Raw, stage: str, public_base_url: str) -> dict[str, dict[str, str]]:
    """Each function's environment as deployed with these parameters."""
    template = evaluate(
        copy.deepcopy(raw),
        TEMPLATE_PATH,
        stack_name=f"kindling-{stage}",
        parameters={"Stage": stage, "PublicBaseUrl": public_base_url},
    )
    template.context.lookup = deployed_value
    functions = {
        logical_id: res for logical_id, res in template.resources.items() if res.type == "AWS::Serverless::Function"
    }
    environments: dict[str, dict[str, str]] = {}
    for logical_id, res in functions.items():
        variables = template.resolve(res.properties.get("Environment", {})).get("Variables", {})
        environments[logical_id] = {name: str(value) for name, value in variables.items()}
    return environments


def deployed_stages(raw: Raw) -> list[str]:
    return list(raw["Parameters"]["Stage"]["AllowedValues"])


# ------------------------------------------------------------------ which functions build links


def link_modules() -> set[str]:
    """kindling modules that put the public base URL into links (they call Settings.link_base_url)."""
    found: set[str] = set()
    for path in KINDLING.rglob("*.py"):
        if path.name != "settings.py" and "link_base_url(" in path.read_text("utf-8"):
            found.add(".".join(path.relative_to(KINDLING.parent).with_suffix("").parts))
    return found


def imported_modules(source: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text("utf-8"), str(source))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return names


def link_builders(raw: Raw) -> set[str]:
    """Functions whose handler imports a link-building module (or asks for the base URL itself)."""
    modules = link_modules()
    builders: set[str] = set()
    for logical_id, res in raw["Resources"].items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        handler = ROOT / res["Properties"]["CodeUri"] / "app.py"
        if imported_modules(handler) & modules or "link_base_url(" in handler.read_text("utf-8"):
            builders.add(logical_id)
    return builders


def test_the_sender_is_the_one_function_that_builds_links() -> None:
    assert link_modules() == {"kindling.sending.sender"}
    assert link_builders(load_template(TEMPLATE_PATH)) == {"SenderFunction"}


# ------------------------------------------------------------------ checks


def check_deployed_settings_load(raw: Raw) -> list[str]:
    """Every function of every deployed stage, with and without a custom domain, loads its settings."""
    problems: list[str] = []
    for stage in deployed_stages(raw):
        for public_base_url in ("", CUSTOM_DOMAIN):
            for logical_id, env in function_environments(raw, stage, public_base_url).items():
                try:
                    settings = load_settings(env)
                except (SettingsError, ValueError) as exc:
                    problems.append(f"{stage} {logical_id}: {exc}")
                    continue
                if settings.stage != stage:
                    problems.append(f"{stage} {logical_id}: KINDLING_STAGE is {settings.stage!r}")
    return problems


def check_link_builders_get_a_public_base_url(raw: Raw) -> list[str]:
    """Link builders get the HTTP API's own https URL, or the custom domain when PublicBaseUrl is given."""
    problems: list[str] = []
    builders = link_builders(raw)
    for stage in deployed_stages(raw):
        for public_base_url, expected in (("", API_URL), (CUSTOM_DOMAIN, CUSTOM_DOMAIN)):
            environments = function_environments(raw, stage, public_base_url)
            for logical_id in sorted(builders):
                try:
                    url = load_settings(environments[logical_id]).link_base_url()
                except (SettingsError, ValueError) as exc:
                    problems.append(f"{stage} {logical_id} (PublicBaseUrl={public_base_url!r}): {exc}")
                    continue
                if url != expected:
                    problems.append(f"{stage} {logical_id} (PublicBaseUrl={public_base_url!r}): links go to {url}")
    return problems


def check_no_bare_empty_parameter_as_base_url(raw: Raw) -> list[str]:
    """KINDLING_PUBLIC_BASE_URL is never just a parameter whose default is empty (the old loopback fallback)."""
    empty_by_default = {name for name, spec in raw["Parameters"].items() if spec.get("Default") == ""}
    places: list[tuple[str, Any]] = [("Globals", raw.get("Globals", {}).get("Function", {}))]
    places += [(logical_id, res.get("Properties", {})) for logical_id, res in raw["Resources"].items()]
    problems: list[str] = []
    for where, properties in places:
        value = properties.get("Environment", {}).get("Variables", {}).get("KINDLING_PUBLIC_BASE_URL")
        if isinstance(value, dict) and value.get("Ref") in empty_by_default:
            problems.append(f"{where}: KINDLING_PUBLIC_BASE_URL is Ref {value['Ref']}, empty by default")
    return problems


def dependency_edges(raw: Raw) -> dict[str, set[str]]:
    """Resource -> resources it needs, with SAM's implicit edges: an HttpApi needs its integrations' functions."""
    resources: dict[str, Any] = raw["Resources"]
    globals_ = raw.get("Globals", {}).get("Function", {})
    edges: dict[str, set[str]] = {}
    for logical_id, res in resources.items():
        properties = res.get("Properties", {})
        if res.get("Type") == "AWS::Serverless::Function":
            properties = {**properties, "Globals": globals_}
            properties.pop("Events", None)
        edges.setdefault(logical_id, set()).update(references(properties) & set(resources) - {logical_id})
        for event in res.get("Properties", {}).get("Events", {}).values():
            api = event.get("Properties", {}).get("ApiId")
            if event.get("Type") == "HttpApi" and isinstance(api, dict) and api.get("Ref") in resources:
                edges.setdefault(api["Ref"], set()).add(logical_id)
    return edges


def cycles(edges: dict[str, set[str]]) -> Iterator[list[str]]:
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> Iterator[list[str]]:
        if node in path:
            yield [*path[path.index(node) :], node]
            return
        if node in done:
            return
        for target in sorted(edges.get(node, ())):
            yield from visit(target, [*path, node])
        done.add(node)

    for node in sorted(edges):
        yield from visit(node, [])


def check_no_cycle_through_the_http_api(raw: Raw) -> list[str]:
    """A function behind the HTTP API cannot reference the API (CloudFormation would refuse the cycle)."""
    return [" -> ".join(cycle) for cycle in cycles(dependency_edges(raw))]


CHECKS = [
    check_deployed_settings_load,
    check_link_builders_get_a_public_base_url,
    check_no_bare_empty_parameter_as_base_url,
    check_no_cycle_through_the_http_api,
]


@pytest.fixture
def raw() -> Raw:
    return load_template(TEMPLATE_PATH)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_template_passes(raw: Raw, check: Any) -> None:
    assert check(raw) == []


def test_deployed_stages_are_exactly_dev_staging_prod(raw: Raw) -> None:
    assert deployed_stages(raw) == ["dev", "staging", "prod"]
    assert raw["Globals"]["Function"]["Environment"]["Variables"]["KINDLING_STAGE"] == {"Ref": "Stage"}


def test_globals_pin_private_targets_off_and_set_no_other_local_only_variable(raw: Raw) -> None:
    assert raw["Globals"]["Function"]["Environment"]["Variables"]["KINDLING_ALLOW_PRIVATE_TARGETS"] == "false"
    places = [raw["Globals"]["Function"], *(res.get("Properties", {}) for res in raw["Resources"].values())]
    for properties in places:
        variables = properties.get("Environment", {}).get("Variables", {})
        assert variables.get("KINDLING_ALLOW_PRIVATE_TARGETS", "false") == "false"
        assert not {"KINDLING_MAIL_CA_FILE", "KINDLING_MX_LOOKUPS", "AWS_ENDPOINT_URL"} & set(variables)


# ------------------------------------------------------------------ the checks fire on a damaged copy

LOCAL_ONLY_GLOBALS = [
    ("KINDLING_ALLOW_PRIVATE_TARGETS", "true"),
    ("KINDLING_MAIL_CA_FILE", "/tmp/kindling-maillab/ca.pem"),
    ("KINDLING_MX_LOOKUPS", "false"),
    ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
    ("KINDLING_TRACKING_SECRET", "kindling-local-tracking-secret"),
    ("KINDLING_PUBLIC_BASE_URL", "http://127.0.0.1:3000"),
]


@pytest.mark.parametrize(("variable", "value"), LOCAL_ONLY_GLOBALS)
def test_detects_a_local_only_value_in_globals(raw: Raw, variable: str, value: str) -> None:
    raw["Globals"]["Function"]["Environment"]["Variables"][variable] = value
    problems = check_deployed_settings_load(raw)
    assert problems and all(variable in problem for problem in problems)
    assert {problem.split()[0] for problem in problems} == {"dev", "staging", "prod"}


def test_detects_a_local_stage_name(raw: Raw) -> None:
    raw["Globals"]["Function"]["Environment"]["Variables"]["KINDLING_STAGE"] = "local"
    assert any("KINDLING_STAGE is 'local'" in problem for problem in check_deployed_settings_load(raw))


def test_detects_the_old_wiring_a_bare_empty_parameter_in_globals(raw: Raw) -> None:
    variables = raw["Globals"]["Function"]["Environment"]["Variables"]
    variables["KINDLING_PUBLIC_BASE_URL"] = {"Ref": "PublicBaseUrl"}
    del raw["Resources"]["SenderFunction"]["Properties"]["Environment"]["Variables"]["KINDLING_PUBLIC_BASE_URL"]
    assert check_no_bare_empty_parameter_as_base_url(raw) == [
        "Globals: KINDLING_PUBLIC_BASE_URL is Ref PublicBaseUrl, empty by default"
    ]
    problems = check_link_builders_get_a_public_base_url(raw)
    # Without a custom domain the sender has no base URL and refuses; with one it works.
    assert len(problems) == 3 and all("(PublicBaseUrl='')" in p and "KINDLING_PUBLIC_BASE_URL" in p for p in problems)


def test_detects_a_link_builder_without_a_base_url(raw: Raw) -> None:
    del raw["Resources"]["SenderFunction"]["Properties"]["Environment"]["Variables"]["KINDLING_PUBLIC_BASE_URL"]
    problems = check_link_builders_get_a_public_base_url(raw)
    assert len(problems) == 6 and all(p.split()[1] == "SenderFunction" for p in problems)


def test_detects_an_api_integration_referencing_the_api(raw: Raw) -> None:
    variables = raw["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]
    variables["KINDLING_PUBLIC_BASE_URL"] = {
        "Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    }
    assert check_no_cycle_through_the_http_api(raw) == ["ApiFunction -> HttpApi -> ApiFunction"]


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("", True),
        ("https://links.example.com", True),
        ("https://links.example.com:8443/kindling/", True),
        ("http://links.example.com", False),
        ("https://user:pw@links.example.com", False),
        ("https://links.example.com/?utm=1", False),
        ("links.example.com", False),
    ],
)
def test_the_public_base_url_parameter_takes_only_https_urls(raw: Raw, value: str, allowed: bool) -> None:
    # CloudFormation refuses the deploy up front; loopback and private hosts are left to the settings' guard.
    pattern = raw["Parameters"]["PublicBaseUrl"]["AllowedPattern"]
    assert (re.fullmatch(pattern, value) is not None) is allowed
