"""The provider client from the stack's settings: the API key from Secrets Manager (deployed) or the environment
(local), and a clear refusal when either part is missing."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from kindling.linkedin.provider import client_from_settings, forget_provider_secret, provider_api_key
from kindling.platform.settings import Settings, SettingsError


@pytest.fixture(autouse=True)
def fresh_secret_cache() -> Iterator[None]:
    forget_provider_secret()
    yield
    forget_provider_secret()


def test_the_key_comes_from_secrets_manager_when_an_arn_is_set(aws: None) -> None:
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(Name="kindling/linkedin-provider", SecretString="  the-real-key \n")["ARN"]
    settings = Settings(stage="test", linkedin_provider_secret_arn=arn, linkedin_provider_api_key="ignored")
    assert provider_api_key(settings) == "the-real-key"
    secrets.put_secret_value(SecretId=arn, SecretString="rotated")
    assert provider_api_key(settings) == "the-real-key"  # read once per process
    forget_provider_secret()
    assert provider_api_key(settings) == "rotated"


def test_an_empty_secret_is_refused(aws: None) -> None:
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(Name="kindling/empty", SecretString=" ")["ARN"]
    with pytest.raises(SettingsError, match="holds no provider API key"):
        provider_api_key(Settings(stage="test", linkedin_provider_secret_arn=arn))


def test_locally_the_key_is_a_plain_value() -> None:
    settings = Settings(linkedin_provider_url="http://127.0.0.1:4710/api/v1", linkedin_provider_api_key="local-key")
    assert provider_api_key(settings) == "local-key"
    client_from_settings(settings)  # builds without calling anything


def test_missing_parts_are_refused_with_the_variable_names() -> None:
    with pytest.raises(SettingsError, match="KINDLING_LINKEDIN_PROVIDER_URL"):
        client_from_settings(Settings(linkedin_provider_api_key="k"))
    with pytest.raises(SettingsError, match="KINDLING_LINKEDIN_PROVIDER_SECRET_ARN"):
        client_from_settings(Settings(linkedin_provider_url="https://api8.unipile.com:13851/api/v1"))
