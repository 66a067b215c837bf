"""Invariant no-local-values-deployed: settings that only make sense locally cannot be carried into a deployed stage.

Every local-only value x every deployed stage refuses to load, naming the environment variable; the local stack
and the test stage accept each of them. Settings are validated at construction, so a function refuses at cold
start, before it handles anything.
"""

from __future__ import annotations

import pytest

from devstack.runtime import LocalStack
from kindling.platform.settings import Settings, SettingsError, load_settings
from kindling.platform.stage_guard import check_environment, public_url_problem

DEPLOYED = ["dev", "staging", "prod"]
NOT_DEPLOYED = ["local", "test"]

# (environment variable, a value only the local stack or tests use)
LOCAL_ONLY = [
    ("KINDLING_ALLOW_PRIVATE_TARGETS", "true"),
    ("KINDLING_MAIL_CA_FILE", "/tmp/kindling-maillab-x1/ca.pem"),  # the mail lab's CA
    ("KINDLING_MAIL_CA_FILE", "/etc/ssl/certs/extra-ca.pem"),  # any extra CA: the lab's is the only use
    ("KINDLING_MX_LOOKUPS", "false"),
    ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
    ("KINDLING_TRACKING_SECRET", "kindling-local-tracking-secret"),
    ("KINDLING_PUBLIC_BASE_URL", "http://127.0.0.1:3000"),  # the old fallback
    ("KINDLING_PUBLIC_BASE_URL", "https://127.0.0.1:3000"),
    ("KINDLING_PUBLIC_BASE_URL", "https://localhost"),
    ("KINDLING_PUBLIC_BASE_URL", "https://api.localhost"),
    ("KINDLING_PUBLIC_BASE_URL", "http://links.example.com"),  # plain http
    ("KINDLING_PUBLIC_BASE_URL", "https://10.1.2.3"),
    ("KINDLING_PUBLIC_BASE_URL", "https://172.16.0.10"),
    ("KINDLING_PUBLIC_BASE_URL", "https://192.168.1.20"),
    ("KINDLING_PUBLIC_BASE_URL", "https://169.254.169.254"),  # link-local (instance metadata)
    ("KINDLING_PUBLIC_BASE_URL", "https://100.64.0.1"),  # shared address space (CGNAT)
    ("KINDLING_PUBLIC_BASE_URL", "https://0.0.0.0"),
    ("KINDLING_PUBLIC_BASE_URL", "https://[::1]"),
    ("KINDLING_PUBLIC_BASE_URL", "https://[fe80::1]"),
    ("KINDLING_PUBLIC_BASE_URL", "https://[fd00::1]"),
    ("KINDLING_PUBLIC_BASE_URL", "https://[::ffff:127.0.0.1]"),
    ("KINDLING_PUBLIC_BASE_URL", "https://kindling.local"),
    ("KINDLING_PUBLIC_BASE_URL", "https://tracking.internal"),
    ("KINDLING_PUBLIC_BASE_URL", "https://kindling"),  # a single-label (intranet) name
    # The LinkedIn provider: the local emulator's URL, any loopback/private or plain-http provider URL, a plain API
    # key in the environment (deployed stages read it from Secrets Manager), the local webhook secret.
    ("KINDLING_LINKEDIN_PROVIDER_URL", "http://127.0.0.1:4710/api/v1"),
    ("KINDLING_LINKEDIN_PROVIDER_URL", "https://127.0.0.1:4710/api/v1"),
    ("KINDLING_LINKEDIN_PROVIDER_URL", "https://[::1]:4710/api/v1"),
    ("KINDLING_LINKEDIN_PROVIDER_URL", "https://10.0.0.5:13851/api/v1"),
    ("KINDLING_LINKEDIN_PROVIDER_URL", "http://api8.unipile.com:13851/api/v1"),
    ("KINDLING_LINKEDIN_PROVIDER_URL", "https://unipile.internal/api/v1"),
    ("KINDLING_LINKEDIN_PROVIDER_API_KEY", "local-emulator-key"),
    ("KINDLING_LINKEDIN_WEBHOOK_SECRET", "kindling-local-linkedin-webhook-secret"),
    # Where the provider's webhooks go: the local API's ingress, or any loopback/private or plain-http URL.
    ("KINDLING_LINKEDIN_WEBHOOK_URL", "http://127.0.0.1:3000/linkedin/provider/webhook"),
    ("KINDLING_LINKEDIN_WEBHOOK_URL", "https://127.0.0.1:3000/linkedin/provider/webhook"),
    ("KINDLING_LINKEDIN_WEBHOOK_URL", "https://localhost/linkedin/provider/webhook"),
    ("KINDLING_LINKEDIN_WEBHOOK_URL", "https://10.0.0.7/linkedin/provider/webhook"),
    ("KINDLING_LINKEDIN_WEBHOOK_URL", "http://abc123.execute-api.us-east-1.amazonaws.com/linkedin/provider/webhook"),
]


@pytest.mark.parametrize("stage", DEPLOYED)
@pytest.mark.parametrize(("variable", "value"), LOCAL_ONLY)
def test_a_deployed_stage_refuses_a_local_only_value(stage: str, variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({"KINDLING_STAGE": stage, variable: value})
    message = str(refused.value)
    assert f"stage '{stage}'" in message and variable in message


@pytest.mark.parametrize("stage", NOT_DEPLOYED)
@pytest.mark.parametrize(("variable", "value"), LOCAL_ONLY)
def test_the_local_stack_and_tests_accept_local_only_values(stage: str, variable: str, value: str) -> None:
    settings = load_settings({"KINDLING_STAGE": stage, variable: value})
    assert settings.stage == stage
    check_environment({"KINDLING_STAGE": stage, variable: value})


@pytest.mark.parametrize("stage", DEPLOYED)
@pytest.mark.parametrize(("variable", "value"), LOCAL_ONLY)
def test_the_raw_environment_check_refuses_the_same(stage: str, variable: str, value: str) -> None:
    """check_environment (the tracking function's lean path, no pydantic) reads the environment as Settings do."""
    with pytest.raises(SettingsError) as refused:
        check_environment({"KINDLING_STAGE": stage, variable: value})
    message = str(refused.value)
    assert f"stage '{stage}'" in message and variable in message


@pytest.mark.parametrize("stage", DEPLOYED)
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KINDLING_ALLOW_PRIVATE_TARGETS", "false"),
        ("KINDLING_ALLOW_PRIVATE_TARGETS", "0"),
        ("KINDLING_ALLOW_PRIVATE_TARGETS", ""),
        ("KINDLING_MX_LOOKUPS", "true"),
        ("KINDLING_MX_LOOKUPS", "1"),
        ("KINDLING_MAIL_CA_FILE", ""),
        ("KINDLING_TRACKING_SECRET", "a-secret-the-stack-generated-0123456789abcdef"),
        ("KINDLING_PUBLIC_BASE_URL", ""),
        ("KINDLING_PUBLIC_BASE_URL", "https://links.example.com"),
        ("KINDLING_LINKEDIN_PROVIDER_URL", "https://api8.unipile.com:13851/api/v1"),
        ("KINDLING_LINKEDIN_PROVIDER_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:li-AbCdEf"),
        ("KINDLING_LINKEDIN_WEBHOOK_SECRET", "a-secret-the-stack-generated-fedcba9876543210"),
        (
            "KINDLING_LINKEDIN_WEBHOOK_URL",
            "https://abc123.execute-api.us-east-1.amazonaws.com/linkedin/provider/webhook",
        ),
    ],
)
def test_deployed_values_pass_both_readings(stage: str, variable: str, value: str) -> None:
    environ = {"KINDLING_STAGE": stage, variable: value}
    assert load_settings(environ).stage == stage
    check_environment(environ)


@pytest.mark.parametrize("stage", DEPLOYED)
def test_the_refusal_lists_every_offending_variable(stage: str) -> None:
    environ = {"KINDLING_STAGE": stage, **dict(LOCAL_ONLY[:7])}
    with pytest.raises(SettingsError) as refused:
        load_settings(environ)
    message = str(refused.value)
    for variable in (
        "KINDLING_ALLOW_PRIVATE_TARGETS",
        "KINDLING_MAIL_CA_FILE",
        "KINDLING_MX_LOOKUPS",
        "AWS_ENDPOINT_URL",
        "KINDLING_TRACKING_SECRET",
        "KINDLING_PUBLIC_BASE_URL",
    ):
        assert variable in message


@pytest.mark.parametrize("stage", DEPLOYED)
def test_constructing_the_model_directly_refuses_too(stage: str) -> None:
    with pytest.raises(SettingsError, match="KINDLING_ALLOW_PRIVATE_TARGETS"):
        Settings(stage=stage, allow_private_targets=True)  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match="KINDLING_PUBLIC_BASE_URL"):
        Settings(stage=stage, public_base_url="")  # type: ignore[arg-type]


def local_stack_environment() -> dict[str, str]:
    """What the local stack imposes on every function (as `make dev` runs it), with the mail lab's CA."""
    stack = LocalStack(moto_port=5000, api_port=3000)
    return {**stack.local_overrides(), "KINDLING_MAIL_CA_FILE": "/tmp/kindling-maillab-x1/ca.pem"}


# Set by the local stack but harmless anywhere: the region, and credentials Lambda never lets a function set.
HARMLESS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION", "KINDLING_STAGE"}


def test_the_local_stack_environment_is_what_the_table_covers() -> None:
    assert set(local_stack_environment()) - HARMLESS == {
        "AWS_ENDPOINT_URL",
        "KINDLING_ALLOW_PRIVATE_TARGETS",
        "KINDLING_TRACKING_SECRET",
        "KINDLING_PUBLIC_BASE_URL",
        "KINDLING_MAIL_CA_FILE",
    }


@pytest.mark.parametrize("stage", DEPLOYED)
@pytest.mark.parametrize("variable", sorted(set(local_stack_environment()) - HARMLESS))
def test_a_deployed_stage_refuses_each_value_the_local_stack_sets(stage: str, variable: str) -> None:
    value = local_stack_environment()[variable]
    with pytest.raises(SettingsError, match=variable):
        load_settings({"KINDLING_STAGE": stage, variable: value})


@pytest.mark.parametrize("stage", DEPLOYED)
def test_the_local_stack_environment_relabelled_as_deployed_refuses(stage: str) -> None:
    assert load_settings(local_stack_environment()).stage == "local"
    with pytest.raises(SettingsError):
        load_settings({**local_stack_environment(), "KINDLING_STAGE": stage})


# ------------------------------------------------------------------ the public base URL of links

PUBLIC_URLS = [
    "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",  # the HTTP API's own URL
    "https://links.example.com",
    "https://links.example.com/",
    "https://example.com:8443/kindling",
    "https://8.8.8.8",
]


@pytest.mark.parametrize("stage", DEPLOYED)
@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_a_deployed_stage_takes_a_public_https_base_url(stage: str, url: str) -> None:
    settings = load_settings({"KINDLING_STAGE": stage, "KINDLING_PUBLIC_BASE_URL": url})
    assert settings.link_base_url() == url


@pytest.mark.parametrize("stage", DEPLOYED)
def test_a_deployed_stage_without_a_base_url_refuses_to_build_links(stage: str) -> None:
    # Functions that build no links (the API, the tracker...) load without one; link building refuses.
    settings = load_settings({"KINDLING_STAGE": stage, "KINDLING_PUBLIC_BASE_URL": ""})
    with pytest.raises(SettingsError, match="KINDLING_PUBLIC_BASE_URL"):
        settings.link_base_url()


@pytest.mark.parametrize("stage", NOT_DEPLOYED)
def test_local_links_fall_back_to_the_local_api(stage: str) -> None:
    assert load_settings({"KINDLING_STAGE": stage}).link_base_url() == "http://127.0.0.1:3000"
    configured = load_settings({"KINDLING_STAGE": stage, "KINDLING_PUBLIC_BASE_URL": "http://127.0.0.1:41234"})
    assert configured.link_base_url() == "http://127.0.0.1:41234"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://links.example.com", None),
        ("http://links.example.com", "must be an https URL"),
        ("links.example.com", "must be an https URL"),
        ("", "must be an https URL"),
        ("https://", "has no host"),
        ("https://user:pw@links.example.com", "must not carry credentials"),
        ("https://links.example.com/?x=1", "must not carry a query or fragment"),
        ("https://links.example.com/#top", "must not carry a query or fragment"),
        ("https://links.example.com:99999", "is not a valid URL"),
        ("https://127.0.0.1", "points at a loopback, private, link-local or reserved address"),
        ("https://[::ffff:10.0.0.1]", "points at a loopback, private, link-local or reserved address"),
        ("https://224.0.0.1", "points at a loopback, private, link-local or reserved address"),
        ("https://localhost.", "is not a public host name"),
        ("https://router.home.arpa", "is not a public host name"),
        ("https://kindling.test", "is not a public host name"),
    ],
)
def test_public_url_problem(url: str, problem: str | None) -> None:
    assert public_url_problem(url) == problem
