"""The three LinkedIn tools over real HTTP with the SDK's client: `pause_linkedin_campaign`,
`resume_linkedin_campaign`, `enroll_in_linkedin_campaign` (issue 19). Campaigns are made and read back over the REST
API, so what a tool did is checked where a client sees it.

The LinkedIn accounts package is built on another branch: as in the LinkedIn campaign API tests, the account lookup
campaigns use is an installed in-memory directory holding the accounts a test needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import anyio
import pytest

from kindling.auth.service import AuthService
from kindling.campaigns.linkedin_accounts import LinkedInAccountState, use_linkedin_directory
from kindling.platform.clock import ManualClock
from tests.integration.assistants.conftest import RunningServer, connect, payload
from tests.integration.campaigns.conftest import make_mailbox
from tests.integration.campaigns.test_linkedin_campaigns_api import INVITE, MESSAGE, VIEW, WAIT, Directory
from tests.integration.prospects.conftest import Api, api  # noqa: F401 (the fixture: REST in-process, moto)

ACCOUNT = "li_5a2b1c"
EMAIL_STEP = {"stepIndex": 0, "subject": "Hi {{firstName}}", "bodyHtml": "<p>Hello</p>"}


@pytest.fixture
def directory(api: Api) -> Iterator[Directory]:  # noqa: F811
    installed = Directory()
    installed.accounts[(api.tenant.workspace_id, ACCOUNT)] = LinkedInAccountState("connected", "premium")
    previous = use_linkedin_directory(installed)
    try:
        yield installed
    finally:
        use_linkedin_directory(previous)


def ok(api: Api, method: str, path: str, status: int = 200, **kwargs: Any) -> dict[str, Any]:  # noqa: F811
    response = api.call(method, path, **kwargs)
    assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
    return dict(response.json()["data"])


def campaign(api: Api, channel: str = "linkedin", *, start: bool = True) -> str:  # noqa: F811
    body: dict[str, Any] = {"name": f"A {channel} campaign", "channel": channel}
    if channel in ("email", "multichannel"):
        body["mailboxIds"] = [make_mailbox(api.tenant.workspace_id).id]
    if channel in ("linkedin", "multichannel"):
        body["linkedinAccountIds"] = [ACCOUNT]
    body["steps"] = {
        "email": [EMAIL_STEP],
        "linkedin": [VIEW, INVITE, WAIT, MESSAGE],
        "multichannel": [EMAIL_STEP, {**INVITE, "stepIndex": 1}],
    }[channel]
    campaign_id = str(ok(api, "POST", "/api/v1/campaigns", 201, json=body)["id"])
    if start:
        assert ok(api, "POST", f"/api/v1/campaigns/{campaign_id}/start")["status"] == "running"
    return campaign_id


def prospect(api: Api, name: str) -> str:  # noqa: F811
    body = {"email": f"{name}@people.test", "firstName": name.title(), "linkedinUrl": f"linkedin.com/in/{name}-lee"}
    response = api.call("POST", "/api/v1/prospects", json=body)
    assert response.status_code in (200, 201), response.text
    return str(response.json()["data"]["id"])


def rest_campaign(api: Api, campaign_id: str) -> dict[str, Any]:  # noqa: F811
    return ok(api, "GET", f"/api/v1/campaigns/{campaign_id}")


def enrolled(api: Api, campaign_id: str) -> list[tuple[str, str]]:  # noqa: F811
    response = api.call("GET", f"/api/v1/campaigns/{campaign_id}/enrollments", params={"limit": 100})
    assert response.status_code == 200, response.text
    return sorted((e["email"], e["status"]) for e in response.json()["data"])


def call(server: RunningServer, token: str, *calls: tuple[str, dict[str, Any]]) -> list[tuple[bool, dict[str, Any]]]:
    """(is_error, payload) of each tool call, in one client session."""

    async def main() -> list[tuple[bool, dict[str, Any]]]:
        async with connect(server.url, token) as client:
            return [
                (bool(result.is_error), payload(result))
                for result in [await client.call_tool(name, args) for name, args in calls]
            ]

    return anyio.run(main)


def error(outcome: tuple[bool, dict[str, Any]]) -> dict[str, Any]:
    is_error, body = outcome
    assert is_error, body
    return dict(body["error"])


def result(outcome: tuple[bool, dict[str, Any]]) -> dict[str, Any]:
    is_error, body = outcome
    assert not is_error, body
    return body


def test_pause_stores_the_api_reason_and_resume_runs_it_again(
    mcp_server: RunningServer,
    api: Api,  # noqa: F811
    directory: Directory,
) -> None:
    cid = campaign(api)
    pause = {"campaign_id": cid}
    first, again = call(
        mcp_server, api.tenant.token, ("pause_linkedin_campaign", pause), ("pause_linkedin_campaign", pause)
    )
    paused = result(first)
    assert (paused["id"], paused["channel"], paused["status"], paused["paused_reason"]) == (
        cid,
        "linkedin",
        "paused",
        "api",
    )
    assert paused["paused_at"] is not None and paused["linkedin_account_ids"] == [ACCOUNT]
    seen = rest_campaign(api, cid)
    assert (seen["status"], seen["pausedReason"]) == ("paused", "api") and seen["pausedAt"] is not None
    # A second pause is what REST answers for a paused campaign: invalid_status, nothing changes.
    assert error(again)["code"] == "invalid_status"

    resumed, twice = call(
        mcp_server, api.tenant.token, ("resume_linkedin_campaign", pause), ("resume_linkedin_campaign", pause)
    )
    assert (result(resumed)["status"], result(resumed)["paused_reason"], result(resumed)["paused_at"]) == (
        "running",
        None,
        None,
    )
    seen = rest_campaign(api, cid)
    assert (seen["status"], seen["pausedReason"], seen["pausedAt"]) == ("running", None, None)
    refused = error(twice)
    assert refused["code"] == "invalid_status" and "cannot be resumed" in refused["message"]


def test_resume_follows_the_start_rules_and_never_launches_a_draft(
    mcp_server: RunningServer,
    api: Api,  # noqa: F811
    directory: Directory,
) -> None:
    draft = campaign(api, start=False)
    running = campaign(api)
    outcomes = call(
        mcp_server,
        api.tenant.token,
        ("resume_linkedin_campaign", {"campaign_id": draft}),
        ("pause_linkedin_campaign", {"campaign_id": draft}),
        ("pause_linkedin_campaign", {"campaign_id": running}),
    )
    assert error(outcomes[0])["code"] == "invalid_status"
    assert "A draft campaign cannot be resumed" in error(outcomes[0])["message"]
    assert error(outcomes[1])["code"] == "invalid_status"
    assert rest_campaign(api, draft)["status"] == "draft"
    assert result(outcomes[2])["status"] == "paused"

    # The account disconnects while the campaign is paused: resuming runs start's checks and refuses, as REST does.
    directory.accounts[(api.tenant.workspace_id, ACCOUNT)] = LinkedInAccountState("disconnected", "premium")
    (refused,) = call(mcp_server, api.tenant.token, ("resume_linkedin_campaign", {"campaign_id": running}))
    failure = error(refused)
    assert failure["code"] == "unusable_linkedin_accounts"
    assert [(d["linkedinAccountId"], d["code"]) for d in failure["details"]] == [(ACCOUNT, "not_connected")]
    seen = rest_campaign(api, running)
    assert (seen["status"], seen["pausedReason"]) == ("paused", "api")

    directory.accounts[(api.tenant.workspace_id, ACCOUNT)] = LinkedInAccountState("connected", "premium")
    (resumed,) = call(mcp_server, api.tenant.token, ("resume_linkedin_campaign", {"campaign_id": running}))
    assert result(resumed)["status"] == "running"


def test_enroll_by_ids_list_and_emails_counts_each_prospect_once(
    mcp_server: RunningServer,
    api: Api,  # noqa: F811
    directory: Directory,
) -> None:
    cid = campaign(api)
    ada, grace = prospect(api, "ada"), prospect(api, "grace")
    prospect(api, "alan")
    prospect(api, "blocked")
    ok(api, "POST", "/api/v1/suppressions", 201, json={"type": "email", "value": "blocked@people.test"})
    listed = str(ok(api, "POST", "/api/v1/lists", 201, json={"name": "Founders"})["id"])
    ok(api, "POST", f"/api/v1/lists/{listed}/prospects", json={"prospectIds": [grace, ada]})
    args = {
        "campaign_id": cid,
        "prospect_ids": [ada],
        "list_ids": [listed],
        "emails": ["alan@people.test", "blocked@people.test", "nobody@people.test"],
    }
    first, second = call(
        mcp_server, api.tenant.token, ("enroll_in_linkedin_campaign", args), ("enroll_in_linkedin_campaign", args)
    )
    # ada (by id, and again in the list: once), grace (list), alan (email); blocked is suppressed; nobody has no
    # prospect.
    assert result(first) == {"enrolled": 3, "suppressed": 1, "invalid": 1, "already_enrolled": 0, "total_processed": 5}
    # Again: nobody is enrolled twice; the suppressed prospect is checked again (as over REST) and still is.
    assert result(second) == {"enrolled": 0, "suppressed": 1, "invalid": 1, "already_enrolled": 3, "total_processed": 5}
    assert enrolled(api, cid) == [
        ("ada@people.test", "pending"),
        ("alan@people.test", "pending"),
        ("blocked@people.test", "suppressed"),
        ("grace@people.test", "pending"),
    ]
    (empty,) = call(mcp_server, api.tenant.token, ("enroll_in_linkedin_campaign", {"campaign_id": cid}))
    assert error(empty)["code"] == "validation_error"


def test_an_email_campaign_is_refused_by_every_linkedin_tool_and_a_multichannel_one_is_not(
    mcp_server: RunningServer,
    api: Api,  # noqa: F811
    directory: Directory,
) -> None:
    email = campaign(api, "email")
    ada = prospect(api, "ada")
    outcomes = call(
        mcp_server,
        api.tenant.token,
        ("pause_linkedin_campaign", {"campaign_id": email}),
        ("resume_linkedin_campaign", {"campaign_id": email}),
        ("enroll_in_linkedin_campaign", {"campaign_id": email, "prospect_ids": [ada]}),
    )
    for outcome in outcomes:
        refused = error(outcome)
        assert refused["code"] == "validation_error"
        assert [(d["field"], d["code"]) for d in refused["details"]] == [("campaign_id", "not_a_linkedin_campaign")]
    # Nothing changed: still running, nobody enrolled.
    assert rest_campaign(api, email)["status"] == "running"
    assert enrolled(api, email) == []

    multichannel = campaign(api, "multichannel")
    paused, enroll = call(
        mcp_server,
        api.tenant.token,
        ("pause_linkedin_campaign", {"campaign_id": multichannel}),
        ("enroll_in_linkedin_campaign", {"campaign_id": multichannel, "prospect_ids": [ada]}),
    )
    assert (result(paused)["channel"], result(paused)["status"], result(paused)["paused_reason"]) == (
        "multichannel",
        "paused",
        "api",
    )
    assert result(enroll)["enrolled"] == 1
    (missing,) = call(mcp_server, api.tenant.token, ("pause_linkedin_campaign", {"campaign_id": "cmp_unknown1"}))
    assert error(missing)["code"] == "not_found"


def test_the_scopes_are_the_rest_endpoints(
    mcp_server: RunningServer,
    api: Api,  # noqa: F811
    directory: Directory,
) -> None:
    cid = campaign(api)
    ada = prospect(api, "ada")
    auth = AuthService()
    # Every LinkedIn scope, but not campaigns:write: pausing and resuming are campaign writes over REST too.
    _, linkedin_only = auth.create_api_key(
        api.tenant.workspace_id,
        name="linkedin",
        scopes=("campaigns:read", "linkedin:read", "linkedin:write", "enrollments:write"),
    )
    _, campaigns_only = auth.create_api_key(api.tenant.workspace_id, name="campaigns", scopes=("campaigns:write",))
    refused = call(
        mcp_server,
        linkedin_only,
        ("pause_linkedin_campaign", {"campaign_id": cid}),
        ("resume_linkedin_campaign", {"campaign_id": cid}),
    )
    for outcome in refused:
        assert (error(outcome)["code"], error(outcome)["required_scope"]) == ("insufficient_scope", "campaigns:write")
    assert rest_campaign(api, cid)["status"] == "running"

    paused, enroll = call(
        mcp_server,
        campaigns_only,
        ("pause_linkedin_campaign", {"campaign_id": cid}),
        ("enroll_in_linkedin_campaign", {"campaign_id": cid, "prospect_ids": [ada]}),
    )
    assert result(paused)["status"] == "paused"
    assert (error(enroll)["code"], error(enroll)["required_scope"]) == ("insufficient_scope", "enrollments:write")
    assert enrolled(api, cid) == []
    (allowed,) = call(
        mcp_server, linkedin_only, ("enroll_in_linkedin_campaign", {"campaign_id": cid, "prospect_ids": [ada]})
    )
    assert result(allowed)["enrolled"] == 1


def test_linkedin_writes_share_the_10_per_minute_limit_with_warmup_writes(
    mcp_server: RunningServer,
    api: Api,  # noqa: F811
    directory: Directory,
    clock: ManualClock,
) -> None:
    """5 warmup writes and 5 LinkedIn writes fill the category's 10; the 11th call, LinkedIn, is refused before it
    runs (the campaign stays running); email writes and reads have their own windows."""
    cid = campaign(api)
    email = campaign(api, "email")
    ada = prospect(api, "ada")
    warmup = {"mailbox_id": "0f8fad5b-d9cb-469f-a165-70867728950e", "settings": {"warmup_reply_rate": 20}}
    enroll = {"campaign_id": cid, "prospect_ids": [ada]}
    outcomes = call(
        mcp_server,
        api.tenant.token,
        *[("update_warmup_settings", warmup)] * 5,
        *[("enroll_in_linkedin_campaign", enroll)] * 5,
        ("pause_linkedin_campaign", {"campaign_id": cid}),
        ("pause_campaign", {"campaign_id": email}),
        ("get_workspace_info", {}),
    )
    assert [error(o)["code"] for o in outcomes[:5]] == ["not_found"] * 5
    assert [result(o)["enrolled"] for o in outcomes[5:10]] == [1, 0, 0, 0, 0]
    limited = error(outcomes[10])
    # The clock stands at the start of a minute: 10 calls weigh 10 * (60 - t) / 60 in the next window; one more
    # fits when that is 9, 66 s from now.
    assert (limited["code"], limited["retry_after_seconds"]) == ("rate_limited", 66)
    assert rest_campaign(api, cid)["status"] == "running"
    assert result(outcomes[11])["status"] == "paused"  # an email write: its own window
    info = result(outcomes[12])
    assert info["server"]["rate_limits_per_minute"] == {"read": 60, "email_write": 30, "linkedin_warmup_write": 10}
    categories = {tool["name"]: (tool["category"], tool["scope"]) for tool in info["server"]["tools"]}
    assert categories["pause_linkedin_campaign"] == ("linkedin_warmup_write", "campaigns:write")
    assert categories["resume_linkedin_campaign"] == ("linkedin_warmup_write", "campaigns:write")
    assert categories["enroll_in_linkedin_campaign"] == ("linkedin_warmup_write", "enrollments:write")
    assert categories["update_warmup_settings"] == ("linkedin_warmup_write", "warmup:write")
    assert "send an email, a LinkedIn invite, message or InMail, or view a profile directly" in info["server"]["never"]

    clock.advance(timedelta(seconds=66))
    (later,) = call(mcp_server, api.tenant.token, ("pause_linkedin_campaign", {"campaign_id": cid}))
    assert result(later)["status"] == "paused"
