"""The local stack runs the provider emulator: on 127.0.0.1, named in dev.json with a connected demo account,
reachable through the settings every function gets, and on the stack's injected clock."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from devstack.runtime import LocalStack
from kindling.linkedin.provider import client_from_settings
from kindling.platform.clock import ManualClock
from kindling.platform.settings import get_settings
from tests.integration.linkedin.conftest import DIRECT

START = datetime(2026, 6, 10, 9, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(
        api=False, mail_lab=False, seed=True, pollers=False, schedules=False, clock=ManualClock(START)
    ) as running:
        yield running


def test_dev_json_names_the_emulator_and_the_demo_account(stack: LocalStack) -> None:
    info = stack.dev_info()["linkedin_provider"]
    assert urlsplit(info["api_url"]).hostname == "127.0.0.1"
    assert info["api_url"].endswith("/api/v1")
    assert info["control_url"].endswith("/_emulator")
    assert info["webhook_secret"] == "kindling-local-linkedin-webhook-secret"
    assert info["demo_account_id"] == stack.linkedin_demo_account_id
    json.dumps(info)  # dev.json is JSON


def test_functions_reach_the_emulator_through_their_settings(stack: LocalStack) -> None:
    env = stack.environment()
    assert env["KINDLING_LINKEDIN_PROVIDER_URL"] == stack.linkedin_provider.api_url
    assert os.environ["KINDLING_LINKEDIN_PROVIDER_URL"] == stack.linkedin_provider.api_url
    assert get_settings().linkedin_webhook_secret == "kindling-local-linkedin-webhook-secret"
    client = client_from_settings()
    demo = client.get_account(stack.linkedin_demo_account_id or "")
    assert (demo.name, demo.status, demo.account_type) == ("Demo LinkedIn account", "OK", "premium")


def test_the_emulator_follows_the_stacks_injected_clock(stack: LocalStack) -> None:
    client = client_from_settings()
    demo = client.get_account(stack.linkedin_demo_account_id or "")
    assert demo.created_at == START
    stack.advance(timedelta(hours=3))
    later = stack.linkedin_provider.create_account(name="Later")
    assert client.get_account(later.id).created_at == START + timedelta(hours=3)
    with DIRECT.open(stack.linkedin_provider.control_url + "/clock", timeout=5) as answer:
        assert json.loads(answer.read())["now"] == "2026-06-10T12:00:00.000Z"
