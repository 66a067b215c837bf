"""The tool table: every tool the MCP server exposes, with its scope, rate category and description.

Adding a tool is one row here plus its function in kindling.assistants.tools. Exactly 30 tools: 13 reads, 11 email
writes, 5 LinkedIn and warmup writes (`update_warmup_settings`, `bulk_update_warmup`, `pause_linkedin_campaign`,
`resume_linkedin_campaign`, `enroll_in_linkedin_campaign`) and the meta tool `get_workspace_info`. Each needs the
scope of its REST endpoint (the LinkedIn tools: `campaigns:write` to pause and resume, `enrollments:write` to enroll).

Never exposed, by design: deletes of any kind, direct email / invite / message sends (inbox replies and new
conversations included), account (mailbox) connect or disconnect, warmup tag changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from kindling.assistants import tools as t
from kindling.assistants.context import current_principal

Category = Literal["read", "email_write", "linkedin_warmup_write"]

# Calls per workspace per category over a sliding 60-second window (docs/decisions.md, "MCP server").
# `linkedin_warmup_write` holds the LinkedIn and the warmup writes: both only change state or queue engine work
# that steers accounts' reputation, and an assistant looping on them is the costliest mistake, so they get the
# strictest limit.
CATEGORY_LIMITS: dict[str, int] = {"read": 60, "email_write": 30, "linkedin_warmup_write": 10}


@dataclass(frozen=True)
class ToolSpec:
    name: str
    fn: Callable[..., dict[str, Any]]
    category: Category
    scopes: tuple[str, ...]  # every one is required; empty for the meta tool
    description: str

    @property
    def scope(self) -> str | None:
        return self.scopes[0] if self.scopes else None

    @property
    def idempotent(self) -> bool:
        """Email writes take an optional `idempotency_key`."""
        return self.category == "email_write"

    @property
    def read_only(self) -> bool:
        return self.category == "read"


# --- the meta tool (here: it describes the table) ---------------------------------------------------------------
def get_workspace_info() -> dict[str, Any]:
    principal = current_principal()
    workspace = t.auth_service().get_workspace(principal.workspace_id)
    return {
        "workspace": {"id": workspace.id, "name": workspace.name, "timezone": workspace.timezone},
        "api_key": {"id": principal.key_id, "name": principal.key_name, "scopes": list(principal.scopes)},
        "server": {
            "tools": [{"name": t.name, "scope": t.scope, "category": t.category} for t in TOOLS],
            "rate_limits_per_minute": dict(CATEGORY_LIMITS),
            "idempotency_window_hours": 24,
            "never": [
                "delete anything",
                "send an email, a LinkedIn invite, message or InMail, or view a profile directly",
                "connect or disconnect an account",
                "change warmup tags",
            ],
        },
    }


_READ = "Read-only: changes nothing."
_WRITE_NEVER = "Never sends an email, never deletes anything."
_LINKEDIN_NEVER = (
    "Never sends an invite, message or InMail, never views a profile, never deletes anything; refuses an email "
    "campaign (`not_a_linkedin_campaign`)."
)

TOOLS: tuple[ToolSpec, ...] = (
    # --- meta
    ToolSpec(
        "get_workspace_info",
        get_workspace_info,
        "read",
        (),
        "The workspace's name and timezone, this API key's id and scopes, and what this server can do: its tools "
        "with the scope each needs, the rate limits per category and what it never does. " + _READ,
    ),
    # --- reads
    ToolSpec(
        "get_workspace_overview",
        t.get_workspace_overview,
        "read",
        ("mailboxes:read", "campaigns:read"),
        "A snapshot of the workspace: mailboxes by status and health, how many warm up, campaigns by status and "
        "their sent / replied / bounced totals (over the first 100 of each; `more` says there are others). " + _READ,
    ),
    ToolSpec(
        "list_mailboxes",
        t.list_mailboxes,
        "read",
        ("mailboxes:read",),
        "List sending mailboxes with their health (status, health_status, health_reasons, daily limit, warmup "
        "progress). Filter by `status`; page with `cursor`. " + _READ + " Never shows passwords.",
    ),
    ToolSpec(
        "get_mailbox",
        t.get_mailbox,
        "read",
        ("mailboxes:read",),
        "One mailbox with its health, by id. " + _READ + " Never shows passwords.",
    ),
    ToolSpec(
        "get_warmup_stats",
        t.get_warmup_stats,
        "read",
        ("warmup:read",),
        "Warmup statistics: with `mailbox_id` for that mailbox, otherwise a page over all mailboxes. Shows the "
        "effective daily limit and why, sent/received today and over 7 days, reputation, inbox/spam/bounce rates "
        "and the current strategy. " + _READ,
    ),
    ToolSpec(
        "list_campaigns",
        t.list_campaigns,
        "read",
        ("campaigns:read",),
        "List campaigns with their stats (sent, opened, clicked, replied, bounced, unsubscribed) and prospect "
        "totals. Filter by `status`; page with `cursor`. " + _READ,
    ),
    ToolSpec(
        "get_campaign",
        t.get_campaign,
        "read",
        ("campaigns:read",),
        "One campaign with its stats, its steps (with per-step stats) and their variants. " + _READ,
    ),
    ToolSpec(
        "get_campaign_preflight",
        t.get_campaign_preflight,
        "read",
        ("campaigns:read",),
        "Check whether a campaign is ready to start: each check, the blocking failures and the warnings. " + _READ,
    ),
    ToolSpec(
        "list_prospects_and_lists",
        t.list_prospects_and_lists,
        "read",
        ("prospects:read",),
        "A page of prospects (filter by global_status, list_id, email, updated_since) and the workspace's "
        "prospect lists (first 100) with their sizes. " + _READ,
    ),
    ToolSpec(
        "check_suppression",
        t.check_suppression,
        "read",
        ("suppressions:read",),
        "Whether an email address may be contacted: `blocked`, and why (an email or domain suppression entry, "
        "or the prospect's status such as unsubscribed or bounced). " + _READ,
    ),
    ToolSpec(
        "list_conversations",
        t.list_conversations,
        "read",
        ("inbox:read",),
        "The unified inbox: conversations, most recent first, with their label, unread count and a snippet. "
        "Filter by channel (email or linkedin), campaign, mailbox, label, unread or a search text. "
        + _READ
        + " Does not mark anything read.",
    ),
    ToolSpec(
        "get_conversation",
        t.get_conversation,
        "read",
        ("inbox:read",),
        "One conversation with its messages (plain text bodies). " + _READ + " Does not mark anything read.",
    ),
    ToolSpec(
        "list_webhooks",
        t.list_webhooks,
        "read",
        ("webhooks:read",),
        "Webhook subscriptions (url, events, active, failure count), each with its 5 most recent deliveries. "
        + _READ
        + " Never shows signing secrets.",
    ),
    ToolSpec(
        "get_job",
        t.get_job,
        "read",
        ("jobs:read",),
        "A background job (e.g. a bulk warmup update) by id: status, items processed and failed, the first "
        "errors. " + _READ,
    ),
    # --- email writes
    ToolSpec(
        "create_prospects",
        t.create_prospects,
        "email_write",
        ("prospects:write",),
        "Create up to 100 prospects. An email that already exists updates that prospect's non-empty fields "
        "instead (reported `created: false`). " + _WRITE_NEVER + " Does not enroll anyone in a campaign.",
    ),
    ToolSpec(
        "update_prospect",
        t.update_prospect,
        "email_write",
        ("prospects:write",),
        "Change a prospect's fields (only those given). " + _WRITE_NEVER + " Cannot change the email address.",
    ),
    ToolSpec(
        "add_prospects_to_list",
        t.add_prospects_to_list,
        "email_write",
        ("prospects:write",),
        "Add prospects (by id, up to 1,000) to a prospect list; members already in it are counted, not added "
        "twice. " + _WRITE_NEVER + " Does not enroll the list anywhere.",
    ),
    ToolSpec(
        "suppress_prospects",
        t.suppress_prospects,
        "email_write",
        ("suppressions:write",),
        "Add email addresses (up to 500) to the workspace's suppression list: they are never emailed again and "
        "existing prospects become `suppressed`. " + _WRITE_NEVER + " There is no tool to unsuppress.",
    ),
    ToolSpec(
        "create_campaign_draft",
        t.create_campaign_draft,
        "email_write",
        ("campaigns:write",),
        "Create a campaign in `draft` (the REST create body: name, steps, mailbox_ids, optional prospect_ids and "
        "settings). " + _WRITE_NEVER + " Nothing is sent until `start_campaign`.",
    ),
    ToolSpec(
        "add_campaign_step_or_variant",
        t.add_campaign_step_or_variant,
        "email_write",
        ("campaigns:write",),
        "Add a step to a campaign (`step`), or an A/B variant to one of its steps (`variant` with `step_id`). "
        + _WRITE_NEVER,
    ),
    ToolSpec(
        "start_campaign",
        t.start_campaign,
        "email_write",
        ("campaigns:write",),
        "Start (or resume) a campaign after its preflight passes. From then on the sending engine sends within "
        "every cap, window and suppression rule; this tool itself sends nothing and never deletes anything.",
    ),
    ToolSpec(
        "pause_campaign",
        t.pause_campaign,
        "email_write",
        ("campaigns:write",),
        "Pause a running campaign: no further step is sent until it is started again. " + _WRITE_NEVER,
    ),
    ToolSpec(
        "enroll_prospects",
        t.enroll_prospects,
        "email_write",
        ("enrollments:write",),
        "Enroll prospects in a campaign by id, list id and/or email. Suppressed addresses are recorded as "
        "suppressed and never emailed; enrolling twice enrolls nobody twice. " + _WRITE_NEVER,
    ),
    ToolSpec(
        "unenroll_prospects",
        t.unenroll_prospects,
        "email_write",
        ("enrollments:write",),
        "Stop prospects' sequences in a campaign (by id or email); their history is kept. " + _WRITE_NEVER,
    ),
    ToolSpec(
        "label_conversation",
        t.label_conversation,
        "email_write",
        ("inbox:write",),
        "Set (or clear with null) a conversation's label, e.g. interested or not_interested. "
        + _WRITE_NEVER
        + " Never replies.",
    ),
    # --- LinkedIn and warmup writes
    ToolSpec(
        "update_warmup_settings",
        t.update_warmup_settings,
        "linkedin_warmup_write",
        ("warmup:write",),
        "Change one mailbox's warmup settings (enabled, ramp speed, target volume, strategy, window, reply "
        "rate). Only changes settings: the warmup engine enforces every cap and schedule. Never sends, never "
        "changes warmup tags, never deletes anything.",
    ),
    ToolSpec(
        "bulk_update_warmup",
        t.bulk_update_warmup,
        "linkedin_warmup_write",
        ("warmup:write",),
        "Queue a background job applying the same warmup settings to many mailboxes; returns the job id "
        "(follow it with get_job). Only queues work: the engine enforces every cap. Never sends, never changes "
        "warmup tags, never deletes anything.",
    ),
    ToolSpec(
        "pause_linkedin_campaign",
        t.pause_linkedin_campaign,
        "linkedin_warmup_write",
        ("campaigns:write",),
        "Pause a running or scheduled LinkedIn (or multichannel) campaign: its status becomes `paused` with "
        "paused_reason `api`, and the engines start no further step (for a multichannel campaign, no email either) "
        "until it is resumed. Only changes the campaign's status. " + _LINKEDIN_NEVER,
    ),
    ToolSpec(
        "resume_linkedin_campaign",
        t.resume_linkedin_campaign,
        "linkedin_warmup_write",
        ("campaigns:write",),
        "Resume a paused LinkedIn (or multichannel) campaign after the same checks as starting it (an active "
        "step, a connected LinkedIn account, the end date...); it does not start a draft. Only changes the "
        "campaign's status: the engines then pace every action within the accounts' daily and weekly caps. "
        + _LINKEDIN_NEVER,
    ),
    ToolSpec(
        "enroll_in_linkedin_campaign",
        t.enroll_in_linkedin_campaign,
        "linkedin_warmup_write",
        ("enrollments:write",),
        "Enroll prospects in a LinkedIn (or multichannel) campaign by id, list id and/or email. Only queues them: "
        "the engines reach them within the accounts' caps. Suppressed addresses are recorded as suppressed and "
        "never contacted; enrolling twice enrolls nobody twice. " + _LINKEDIN_NEVER,
    ),
)

TOOLS_BY_NAME: dict[str, ToolSpec] = {spec.name: spec for spec in TOOLS}
