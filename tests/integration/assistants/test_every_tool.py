"""Every tool, over real HTTP with the SDK's client, on the fully seeded workspaces of the isolation test: each runs
for its own workspace, and with the other workspace's ids it finds nothing and shows nothing of it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from kindling.campaigns.linkedin_accounts import LinkedInAccountState, use_linkedin_directory
from kindling.jobs.service import JobService
from tests.integration.api.test_isolation import (  # noqa: F401 (world: the seeded two workspaces)
    Seeded,
    World,
    run_job,
    world,
)
from tests.integration.assistants.conftest import RunningServer, connect, payload, start_server, stop_server
from tests.integration.campaigns.test_linkedin_campaigns_api import INVITE, VIEW, Directory


@pytest.fixture
def server(world: World) -> Iterator[RunningServer]:  # noqa: F811
    running = start_server()
    yield running
    stop_server(running)


@pytest.fixture
def linkedin(world: World) -> Iterator[None]:  # noqa: F811
    """A running LinkedIn campaign in each workspace, on its own connected account (the LinkedIn accounts package
    is another branch's: its lookup is an in-memory directory here, as in the LinkedIn campaign API tests)."""
    directory = Directory()
    previous = use_linkedin_directory(directory)
    try:
        for seeded in (world.alpha, world.bravo):
            account = f"li_{seeded.tag.lower()}"
            directory.accounts[(seeded.tenant.workspace_id, account)] = LinkedInAccountState("connected", "premium")
            body = {
                "name": f"LinkedIn {seeded.tag}",
                "channel": "linkedin",
                "linkedinAccountIds": [account],
                "steps": [VIEW, {**INVITE, "linkedinInviteNote": f"Hi from {seeded.tag}"}],
            }
            created = world.ok(seeded, "POST", "/api/v1/campaigns", 201, json_body=body)
            world.ok(seeded, "POST", f"/api/v1/campaigns/{created['id']}/start")
            seeded.ids["linkedin_campaign_id"] = created["id"]
            seeded.markers |= {f"LinkedIn {seeded.tag}", f"Hi from {seeded.tag}", created["id"]}
        yield
    finally:
        use_linkedin_directory(previous)


def calls(s: Seeded) -> list[tuple[str, dict[str, Any]]]:
    """(tool, arguments) for every tool, naming the workspace's own resources."""
    ids = s.ids
    step = {"subject": "Follow-up", "bodyHtml": "<p>Following up</p>", "delayDays": 2}
    return [
        ("get_workspace_info", {}),
        ("get_workspace_overview", {}),
        ("list_mailboxes", {}),
        ("get_mailbox", {"mailbox_id": ids["mailbox_id"]}),
        ("get_warmup_stats", {"mailbox_id": ids["mailbox_id"]}),
        ("list_campaigns", {}),
        ("get_campaign", {"campaign_id": ids["campaign_id"]}),
        ("get_campaign_preflight", {"campaign_id": ids["campaign_id"]}),
        ("list_prospects_and_lists", {"list_id": ids["list_id"]}),
        ("check_suppression", {"email": f"blocked-{s.tag}@{s.tag}-blocked.test"}),
        ("list_conversations", {"campaign_id": ids["campaign_id"]}),
        ("get_conversation", {"conversation_id": ids["conversation_id"]}),
        ("list_webhooks", {}),
        ("get_job", {"job_id": ids["job_id"]}),
        ("create_prospects", {"prospects": [{"email": f"new-{s.tag}@{s.tag}-new.test"}], "idempotency_key": "a"}),
        ("update_prospect", {"prospect_id": ids["prospect_id"], "changes": {"role": "CTO"}}),
        ("add_prospects_to_list", {"list_id": ids["list_id"], "prospect_ids": [ids["prospect_id"]]}),
        ("suppress_prospects", {"emails": [f"gone-{s.tag}@{s.tag}-gone.test"]}),
        (
            "create_campaign_draft",
            {
                "campaign": {
                    "name": f"Draft {s.tag}",
                    "mailboxIds": [ids["mailbox_id"]],
                    "steps": [{"stepIndex": 0, "subject": "Hi", "bodyHtml": "<p>Hi</p>"}],
                }
            },
        ),
        ("add_campaign_step_or_variant", {"campaign_id": ids["campaign_id"], "step": step}),
        (
            "add_campaign_step_or_variant",
            {"campaign_id": ids["campaign_id"], "step_id": ids["step_id"], "variant": {"subject": "Variant C"}},
        ),
        ("unenroll_prospects", {"campaign_id": ids["campaign_id"], "prospect_ids": [ids["prospect_id"]]}),
        ("enroll_prospects", {"campaign_id": ids["campaign_id"], "list_ids": [ids["list_id"]]}),
        ("start_campaign", {"campaign_id": ids["campaign_id"]}),
        ("pause_campaign", {"campaign_id": ids["campaign_id"]}),
        ("label_conversation", {"conversation_id": ids["conversation_id"], "label": "interested"}),
        ("update_warmup_settings", {"mailbox_id": ids["mailbox_id"], "settings": {"warmup_reply_rate": 30}}),
        ("enroll_in_linkedin_campaign", {"campaign_id": ids["linkedin_campaign_id"], "list_ids": [ids["list_id"]]}),
        ("pause_linkedin_campaign", {"campaign_id": ids["linkedin_campaign_id"]}),
        ("resume_linkedin_campaign", {"campaign_id": ids["linkedin_campaign_id"]}),
        (
            "bulk_update_warmup",
            {"update": {"mailbox_ids": [ids["mailbox_id"]], "updates": {"warmup_reply_rate": 25}}},
        ),
    ]


def test_every_tool_runs_for_its_workspace_and_not_across(
    world: World,  # noqa: F811
    linkedin: None,
    server: RunningServer,
) -> None:
    alpha, bravo = world.alpha, world.bravo
    own_results: dict[str, list[dict[str, Any]]] = {}
    cross_results: list[tuple[str, dict[str, Any]]] = []

    async def main() -> None:
        async with connect(server.url, alpha.tenant.token) as client:
            assert len((await client.list_tools()).tools) == 30
            for name, args in calls(alpha):
                result = await client.call_tool(name, args)
                body = payload(result)
                assert not result.is_error, (name, body)
                own_results.setdefault(name, []).append(body)
        async with connect(server.url, bravo.tenant.token) as client:
            for name, args in calls(alpha):
                if any(key.endswith("_id") or key == "campaign" or key == "update" for key in args):
                    result = await client.call_tool(name, args)
                    cross_results.append((name, payload(result)))

    anyio.run(main)
    tools_called = set(own_results)
    assert len(tools_called) == 30

    # What each call returned is the workspace's own data.
    assert own_results["get_workspace_info"][0]["workspace"]["name"] == "Alpha Works"
    assert own_results["get_mailbox"][0]["id"] == alpha.ids["mailbox_id"]
    assert own_results["get_campaign"][0]["steps"][0]["id"] == alpha.ids["step_id"]
    assert own_results["check_suppression"][0]["blocked"] is True
    assert own_results["get_conversation"][0]["messages"][0]["text_body"] == "Hello from alpha"
    assert own_results["list_webhooks"][0]["items"][0]["recent_deliveries"]
    assert own_results["get_job"][0]["status"] == "completed"
    assert own_results["label_conversation"][0]["label"] == "interested"
    assert own_results["pause_campaign"][0]["status"] == "paused"
    assert own_results["bulk_update_warmup"][0]["total_items"] == 1
    assert own_results["enroll_in_linkedin_campaign"][0]["enrolled"] == 1  # the list's one prospect
    linkedin_campaign = alpha.ids["linkedin_campaign_id"]
    assert own_results["pause_linkedin_campaign"][0]["id"] == linkedin_campaign
    assert (
        own_results["pause_linkedin_campaign"][0]["status"],
        own_results["pause_linkedin_campaign"][0]["paused_reason"],
    ) == ("paused", "api")
    assert own_results["resume_linkedin_campaign"][0]["status"] == "running"
    for name, bodies in own_results.items():
        for body in bodies:
            assert not bravo.leaked_into(json.dumps(body)), (name, bravo.leaked_into(json.dumps(body)))

    # With Alpha's ids, Bravo finds nothing and learns nothing.
    assert cross_results
    for name, body in cross_results:
        if name == "bulk_update_warmup":  # a job, as over REST: the other's mailbox fails as not found in it
            run_job(bravo.tenant.workspace_id, body["job_id"])
            job = JobService().get(bravo.tenant.workspace_id, body["job_id"])
            assert job.failed_items == 1 and [e.code for e in job.errors] == ["not_found"]
        elif name.startswith("list_"):  # a filter naming the other's id matches nothing (as over REST)
            assert body.get("items") == [] or body.get("error", {}).get("code") == "not_found", (name, body)
        else:
            assert "error" in body and body["error"]["code"] in ("not_found", "unusable_mailboxes"), (name, body)
        text = json.dumps(body)
        leaked = {m for m in alpha.leaked_into(text) if m not in json.dumps(alpha.ids)}
        assert not leaked, (name, leaked)
    # Bravo's calls with Alpha's LinkedIn campaign changed nothing: it is running as Alpha's resume left it.
    alpha_linkedin = world.ok(alpha, "GET", f"/api/v1/campaigns/{alpha.ids['linkedin_campaign_id']}")
    assert (alpha_linkedin["status"], alpha_linkedin["pausedReason"]) == ("running", None)
    assert [e["prospectId"] for e in world.ok(alpha, "GET", f"/api/v1/campaigns/{linkedin_campaign}/enrollments")] == [
        alpha.ids["prospect_id"]
    ]
