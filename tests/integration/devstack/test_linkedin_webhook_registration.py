"""The local stack registers the provider's webhooks as a deployed stack does: through
kindling.linkedin.webhooks over the emulator's HTTP API (POST /api/v1/webhooks), all three sources (account status,
new relations, new messages) pointing at its own ingress with the local secret; an acceptance and an inbound
message then reach the stack's ingress; the sweep state machine's {"run": "webhooks"} keeps them as they are."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from devstack.runtime import LocalStack
from kindling.linkedin.provider import client_from_settings
from kindling.platform.clock import ManualClock

START = datetime(2026, 6, 10, 9, 0, 0, tzinfo=UTC)
SECRET = "kindling-local-linkedin-webhook-secret"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(
        api=True, mail_lab=False, seed=True, pollers=False, schedules=False, clock=ManualClock(START)
    ) as running:
        yield running


def test_the_stack_registers_three_sources_over_the_providers_api(stack: LocalStack) -> None:
    emulator = stack.linkedin_provider
    ingress = f"{stack.api_url}/linkedin/provider/webhook"
    assert sorted((w.source, w.request_url, w.name) for w in emulator.webhooks.values()) == [
        ("account_status", ingress, "kindling-local-account_status"),
        ("messaging", ingress, "kindling-local-messaging"),
        ("users", ingress, "kindling-local-users"),
    ]
    for webhook in emulator.webhooks.values():
        assert webhook.headers["X-Kindling-Webhook-Secret"] == SECRET
    # over HTTP: the emulator's API recorded the listing and the three creations
    assert [r for r in emulator.requests if r[1] == "/webhooks"][:4] == [("GET", "/webhooks")] + [
        ("POST", "/webhooks")
    ] * 3
    assert stack.linkedin_webhooks is not None
    assert stack.linkedin_webhooks["created"] == ["account_status", "users", "messaging"]


def test_an_acceptance_and_an_inbound_message_reach_the_stacks_ingress(stack: LocalStack) -> None:
    emulator = stack.linkedin_provider
    account_id = stack.linkedin_demo_account_id or ""
    client = client_from_settings()
    prospect = client.get_profile(account_id, "registration-prospect")
    emulator.deliveries.clear()
    emulator.accept_invitation(client.send_invitation(account_id, prospect.provider_id, None))
    emulator.inbound_message(account_id, "registration-prospect", "Thanks for connecting")
    ingress = f"{stack.api_url}/linkedin/provider/webhook"
    assert [(d.url, d.source, d.status, d.error) for d in emulator.deliveries] == [
        (ingress, "users", 200, None),
        (ingress, "messaging", 200, None),
    ]


def test_the_sweeps_webhooks_run_keeps_them(stack: LocalStack) -> None:
    emulator = stack.linkedin_provider
    before = sorted(emulator.webhooks)
    emulator.requests.clear()
    arn = stack.start_execution("LinkedInSweepStateMachine", {"run": "webhooks"})
    result = stack.wait_execution(arn, timeout=60)
    assert result["status"] == "SUCCEEDED", result
    output = result["output_json"]["result"]
    assert (output["created"], output["deleted"], output["failed"]) == ([], [], [])
    assert sorted(output["kept"]) == before
    assert emulator.requests == [("GET", "/webhooks")]
    assert sorted(emulator.webhooks) == before


def test_a_stale_registration_is_replaced_by_the_sweep(stack: LocalStack) -> None:
    emulator = stack.linkedin_provider
    stale = client_from_settings().create_webhook(
        "users", "http://127.0.0.1:9/linkedin/provider/webhook", {}, name="kindling-local-users"
    )
    arn = stack.start_execution("LinkedInSweepStateMachine", {"run": "webhooks"})
    result = stack.wait_execution(arn, timeout=60)
    assert result["status"] == "SUCCEEDED", result
    assert result["output_json"]["result"]["deleted"] == [stale]
    assert stale not in emulator.webhooks
    assert sorted(w.source for w in emulator.webhooks.values()) == ["account_status", "messaging", "users"]
