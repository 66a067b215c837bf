"""The MCP tool table: which tools exist, what they need, what they say, and what is never exposed."""

from __future__ import annotations

import anyio
import pytest

from kindling.assistants.registry import CATEGORY_LIMITS, TOOLS
from kindling.assistants.server import KindlingMCPServer
from kindling.auth.scopes import ALL_SCOPES

# The 30: 13 reads, 11 email writes, 5 LinkedIn and warmup writes, 1 meta tool.
READ_TOOLS = {
    "get_workspace_overview",
    "list_mailboxes",
    "get_mailbox",
    "get_warmup_stats",
    "list_campaigns",
    "get_campaign",
    "get_campaign_preflight",
    "list_prospects_and_lists",
    "check_suppression",
    "list_conversations",
    "get_conversation",
    "list_webhooks",
    "get_job",
}
EMAIL_WRITE_TOOLS = {
    "create_prospects",
    "update_prospect",
    "add_prospects_to_list",
    "suppress_prospects",
    "create_campaign_draft",
    "add_campaign_step_or_variant",
    "start_campaign",
    "pause_campaign",
    "enroll_prospects",
    "unenroll_prospects",
    "label_conversation",
}
LINKEDIN_WARMUP_WRITE_TOOLS = {
    "update_warmup_settings",
    "bulk_update_warmup",
    "pause_linkedin_campaign",
    "resume_linkedin_campaign",
    "enroll_in_linkedin_campaign",
}
META_TOOLS = {"get_workspace_info"}
ALL_TOOLS = READ_TOOLS | EMAIL_WRITE_TOOLS | LINKEDIN_WARMUP_WRITE_TOOLS | META_TOOLS

# Words that would name a tool the server must never expose: deletes, direct sends (LinkedIn actions included),
# account connect/disconnect, warmup tags.
NEVER_EXPOSED_WORDS = (
    *("delete", "remove", "send", "reply", "invite", "message", "connect", "disconnect", "tag"),
    *("inmail", "view", "like", "comment", "endorse", "react"),
)


def listed_tool_names() -> set[str]:
    async def names() -> set[str]:
        return {tool.name for tool in await KindlingMCPServer().list_tools()}

    return anyio.run(names)


def test_exactly_the_30_tools_are_listed() -> None:
    assert len(READ_TOOLS) == 13 and len(EMAIL_WRITE_TOOLS) == 11 and len(LINKEDIN_WARMUP_WRITE_TOOLS) == 5
    assert listed_tool_names() == ALL_TOOLS
    assert len(ALL_TOOLS) == 30


def test_nothing_destructive_or_sending_is_exposed() -> None:
    for name in listed_tool_names():
        words = name.split("_")
        assert not any(word in words for word in NEVER_EXPOSED_WORDS), name
    for forbidden in (
        "delete_mailbox",
        "delete_campaign",
        "delete_prospect",
        "delete_list",
        "delete_suppression",
        "delete_webhook",
        "send_email",
        "reply_to_conversation",
        "create_conversation",
        "send_linkedin_invite",
        "send_linkedin_message",
        "send_linkedin_inmail",
        "view_linkedin_profile",
        "like_linkedin_post",
        "comment_on_linkedin_post",
        "endorse_linkedin_skill",
        "delete_linkedin_campaign",
        "disconnect_linkedin_account",
        "connect_mailbox",
        "create_mailbox",
        "disconnect_mailbox",
        "connect_linkedin_account",
        "update_warmup_tags",
    ):
        assert forbidden not in listed_tool_names()


def test_categories_scopes_and_limits() -> None:
    by_name = {spec.name: spec for spec in TOOLS}
    assert {n for n, s in by_name.items() if s.category == "read"} == READ_TOOLS | META_TOOLS
    assert {n for n, s in by_name.items() if s.category == "email_write"} == EMAIL_WRITE_TOOLS
    assert {n for n, s in by_name.items() if s.category == "linkedin_warmup_write"} == LINKEDIN_WARMUP_WRITE_TOOLS
    assert CATEGORY_LIMITS == {"read": 60, "email_write": 30, "linkedin_warmup_write": 10}
    assert by_name["get_workspace_info"].scopes == ()
    for spec in TOOLS:
        assert set(spec.scopes) <= set(ALL_SCOPES), spec.name
        if spec.category == "read" and spec.scopes:
            assert all(s.endswith(":read") for s in spec.scopes), spec.name
        if spec.category != "read":
            assert all(s.endswith(":write") for s in spec.scopes) and spec.scopes, spec.name
    assert by_name["label_conversation"].scopes == ("inbox:write",)
    assert by_name["suppress_prospects"].scopes == ("suppressions:write",)
    assert by_name["enroll_prospects"].scopes == ("enrollments:write",)
    assert by_name["bulk_update_warmup"].scopes == ("warmup:write",)
    # The LinkedIn tools need what the REST endpoints they mirror need (pause / start, enrollments).
    assert by_name["pause_linkedin_campaign"].scopes == ("campaigns:write",)
    assert by_name["resume_linkedin_campaign"].scopes == ("campaigns:write",)
    assert by_name["enroll_in_linkedin_campaign"].scopes == ("enrollments:write",)


@pytest.mark.parametrize("spec", TOOLS, ids=[spec.name for spec in TOOLS])
def test_descriptions_say_what_changes_and_what_never_happens(spec: object) -> None:
    from kindling.assistants.registry import ToolSpec

    assert isinstance(spec, ToolSpec)
    assert len(spec.description) >= 80
    if spec.category == "read":
        assert "Read-only: changes nothing." in spec.description
    else:
        assert "never" in spec.description.lower()


@pytest.mark.parametrize("name", ["pause_linkedin_campaign", "resume_linkedin_campaign", "enroll_in_linkedin_campaign"])
def test_linkedin_descriptions_say_they_never_act_on_linkedin_and_refuse_email_campaigns(name: str) -> None:
    description = {spec.name: spec.description for spec in TOOLS}[name]
    assert "Never sends an invite, message or InMail, never views a profile, never deletes anything" in description
    assert "not_a_linkedin_campaign" in description


def test_only_email_writes_take_an_idempotency_key() -> None:
    async def tools() -> dict[str, dict[str, object]]:
        return {tool.name: tool.input_schema for tool in await KindlingMCPServer().list_tools()}

    schemas = anyio.run(tools)
    for name, schema in schemas.items():
        properties = schema["properties"]
        assert isinstance(properties, dict)
        assert ("idempotency_key" in properties) == (name in EMAIL_WRITE_TOOLS), name
