"""Pure rules of LinkedIn and multichannel campaigns (issue 18, help center §7.9, §38; decisions.md "LinkedIn
campaigns and steps"): which fields each LinkedIn action takes, which steps and pools each channel needs, the
LinkedIn URL classifier, and the sequence-order warning. No I/O; table-driven tests in tests/unit/campaigns/.

A problem is `(field, message, code)`: the field is the camelCase name the client sent (the caller prefixes the
step's position), the code is stable (the API's 400 `details[].code`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

from kindling.campaigns.models import (
    DEFAULT_MAX_WAIT_DAYS,
    DEFAULT_ON_REPLY,
    DEFAULT_ON_TIMEOUT,
    INVITE_NOTE_MAX,
    LinkedInEngagementConfig,
    StepRecord,
)

Problem = tuple[str, str, str]

# --- fields by action ------------------------------------------------------------------------------------------
# Stored attribute -> the contract's name.
LINKEDIN_FIELDS: Mapping[str, str] = {
    "linkedin_message_template": "linkedinMessageTemplate",
    "linkedin_invite_note": "linkedinInviteNote",
    "linkedin_subject": "linkedinSubject",
    "linkedin_max_wait_days": "linkedinMaxWaitDays",
    "linkedin_on_timeout": "linkedinOnTimeout",
    "linkedin_on_reply": "linkedinOnReply",
    "linkedin_engagement_config": "linkedinEngagementConfig",
    "linkedin_inmail_config": "linkedinInmailConfig",
}

# The fields each action takes (any other LinkedIn field set on the step is refused: it would be silently ignored).
ACTION_FIELDS: Mapping[str, frozenset[str]] = {
    "view_profile": frozenset(),
    "send_invite": frozenset({"linkedin_invite_note"}),
    "send_message": frozenset({"linkedin_message_template"}),
    "send_inmail": frozenset({"linkedin_message_template", "linkedin_subject", "linkedin_inmail_config"}),
    "endorse_skill": frozenset({"linkedin_engagement_config"}),
    "like_post": frozenset({"linkedin_engagement_config"}),
    "comment": frozenset({"linkedin_message_template", "linkedin_engagement_config"}),
    "wait_accept": frozenset({"linkedin_max_wait_days", "linkedin_on_timeout"}),
    "wait_reply": frozenset({"linkedin_max_wait_days", "linkedin_on_timeout", "linkedin_on_reply"}),
}
# Fields whose meaning (and default) depends on the action: a PATCH changing the action drops them unless it sets
# them (wait_accept's `stop` on timeout must not become a wait_reply's).
ACTION_SPECIFIC_FIELDS: frozenset[str] = frozenset({"linkedin_on_timeout"})

# Which keys of `linkedinEngagementConfig` each engagement action reads.
ENGAGEMENT_KEYS: Mapping[str, frozenset[str]] = {
    "endorse_skill": frozenset({"preferred_skill"}),
    "like_post": frozenset({"reaction_type", "post_max_age_days"}),
    "comment": frozenset({"post_max_age_days"}),
}

MESSAGE_REQUIRED: frozenset[str] = frozenset({"send_message", "send_inmail", "comment"})
SUBJECT_REQUIRED: frozenset[str] = frozenset({"send_inmail"})
WAIT_ACTIONS: frozenset[str] = frozenset({"wait_accept", "wait_reply"})
# Steps after which the prospect is (or is waited for as) a 1st-degree connection.
CONNECTING_ACTIONS: frozenset[str] = frozenset({"send_invite", "wait_accept"})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def linkedin_step_problems(step: StepRecord) -> list[Problem]:
    """The field rules of one step's LinkedIn side: an email step carries no LinkedIn field; a LinkedIn step has
    an action type, only that action's fields (and config keys), its required texts, and no email content."""
    problems: list[Problem] = []
    set_fields = [attr for attr in LINKEDIN_FIELDS if getattr(step, attr) is not None]
    if not step.is_linkedin:
        if step.linkedin_action_type is not None:
            problems.append(
                ("linkedinActionType", "only a step of type linkedin has an action", "linkedin_field_not_allowed")
            )
        problems += [
            (LINKEDIN_FIELDS[attr], "only a step of type linkedin takes this field", "linkedin_field_not_allowed")
            for attr in set_fields
        ]
        return problems
    action = step.linkedin_action_type
    if action is None:
        return [("linkedinActionType", "a linkedin step needs linkedinActionType", "linkedin_action_required")]
    allowed = ACTION_FIELDS[action]
    problems += [
        (LINKEDIN_FIELDS[attr], f"a {action} step does not take this field", "linkedin_field_not_allowed")
        for attr in set_fields
        if attr not in allowed
    ]
    if action in MESSAGE_REQUIRED and not (step.linkedin_message_template or "").strip():
        problems.append(("linkedinMessageTemplate", f"a {action} step needs its text", "linkedin_message_required"))
    if action in SUBJECT_REQUIRED and not (step.linkedin_subject or "").strip():
        problems.append(("linkedinSubject", "an InMail needs a subject", "linkedin_subject_required"))
    config = step.linkedin_engagement_config
    if config is not None and action in ENGAGEMENT_KEYS:
        problems += [
            (
                f"linkedinEngagementConfig.{_camel(key)}",
                f"a {action} step does not read this key",
                "linkedin_field_not_allowed",
            )
            for key in config.model_fields_set
            if getattr(config, key) is not None and key not in ENGAGEMENT_KEYS[action]
        ]
    # A LinkedIn step has no email content; the contract's subject/body and reply threading are email's.
    primary = step.variants[0] if step.variants else None
    if primary is not None:
        for attr, name in (("subject", "subject"), ("body_html", "bodyHtml"), ("body_text", "bodyText")):
            if getattr(primary, attr) is not None:
                problems.append((name, "a linkedin step has no email content", "email_field_not_allowed"))
    if step.send_as_reply:
        problems.append(("sendAsReply", "a linkedin step has no email thread", "email_field_not_allowed"))
    if len(step.variants) > 1:
        problems.append(("variants", "linkedin steps have no A/B variants", "variants_not_supported"))
    return problems


def with_defaults(step: StepRecord) -> StepRecord:
    """Defaults a valid LinkedIn step gets when stored: the waits' 14 days (§38.6), their timeout branch
    (wait_accept `stop`, wait_reply `continue`), wait_reply's `continue` on a reply, like_post's LIKE reaction."""
    if not step.is_linkedin:
        return step
    update: dict[str, object] = {}
    action = step.linkedin_action_type
    if action in WAIT_ACTIONS and step.linkedin_max_wait_days is None:
        update["linkedin_max_wait_days"] = DEFAULT_MAX_WAIT_DAYS
    on_timeout = DEFAULT_ON_TIMEOUT.get(str(action))
    if on_timeout is not None and step.linkedin_on_timeout is None:
        update["linkedin_on_timeout"] = on_timeout
    if action == "wait_reply" and step.linkedin_on_reply is None:
        update["linkedin_on_reply"] = DEFAULT_ON_REPLY
    if action == "like_post":
        config = step.linkedin_engagement_config or LinkedInEngagementConfig()
        if config.reaction_type is None:
            update["linkedin_engagement_config"] = config.model_copy(update={"reaction_type": "LIKE"})
    return step.model_copy(update=update) if update else step


def note_too_long(rendered: str) -> bool:
    """Help center §38.9: an invite note holds at most 300 characters (Unicode characters, as LinkedIn counts)."""
    return len(rendered) > INVITE_NOTE_MAX


# --- channels --------------------------------------------------------------------------------------------------
# The channels whose campaigns have LinkedIn steps and accounts (what a LinkedIn tool may act on).
LINKEDIN_CHANNELS: frozenset[str] = frozenset({"linkedin", "multichannel"})


def not_linkedin_problems(channel: str) -> list[Problem]:
    """A LinkedIn-only action (the MCP's LinkedIn tools) refuses an email campaign, which has no LinkedIn step or
    account: acting on it would be an email change made under the LinkedIn name and rate limit."""
    if channel in LINKEDIN_CHANNELS:
        return []
    return [("campaignId", f"a {channel} campaign has no LinkedIn steps", "not_a_linkedin_campaign")]


def channel_step_problems(channel: str, step_type: str) -> list[Problem]:
    """An email campaign takes only email steps, a LinkedIn campaign only LinkedIn steps (its waits included);
    a multichannel campaign takes both."""
    if channel == "email" and step_type == "linkedin":
        return [("type", "an email campaign takes only email steps", "linkedin_step_not_allowed")]
    if channel == "linkedin" and step_type == "email":
        return [("type", "a linkedin campaign takes only linkedin steps", "email_step_not_allowed")]
    return []


def pool_problems(channel: str, mailbox_ids: Sequence[str], linkedin_account_ids: Sequence[str]) -> list[Problem]:
    """What each channel needs to send from (§7.9): email a mailbox, LinkedIn an account, multichannel both.
    A pool the channel never uses is refused rather than kept silently."""
    problems: list[Problem] = []
    if channel in ("email", "multichannel") and not mailbox_ids:
        problems.append(("mailboxIds", f"a {channel} campaign needs at least one mailbox", "mailboxes_required"))
    if channel in ("linkedin", "multichannel") and not linkedin_account_ids:
        problems.append(
            (
                "linkedinAccountIds",
                f"a {channel} campaign needs at least one LinkedIn account",
                "linkedin_accounts_required",
            )
        )
    if channel == "email" and linkedin_account_ids:
        problems.append(
            ("linkedinAccountIds", "an email campaign has no LinkedIn accounts", "linkedin_accounts_not_allowed")
        )
    if channel == "linkedin" and mailbox_ids:
        problems.append(("mailboxIds", "a linkedin campaign sends no email", "mailboxes_not_allowed"))
    return problems


# --- sequence order --------------------------------------------------------------------------------------------
def messages_before_connection(steps: Sequence[StepRecord]) -> list[StepRecord]:
    """Active send_message steps with no active send_invite / wait_accept step before them: a LinkedIn message
    reaches 1st-degree connections only, so those steps reach only prospects who are already connected."""
    found: list[StepRecord] = []
    connecting = False
    for step in steps:
        if not (step.is_active and step.is_linkedin):
            continue
        if step.linkedin_action_type in CONNECTING_ACTIONS:
            connecting = True
        elif step.linkedin_action_type == "send_message" and not connecting:
            found.append(step)
    return found


# --- accounts --------------------------------------------------------------------------------------------------
# The account types that cannot send InMail (§37.3: Free has 0 InMails a day). The API reference's example shows
# "classic" for a basic (non-premium) account; both spellings mean the same here.
FREE_ACCOUNT_TYPES: frozenset[str] = frozenset({"free", "classic"})


def can_send_inmail(account_type: str | None) -> bool:
    """§36.4: an unknown type is treated as Premium, never as Free."""
    return (account_type or "").strip().lower() not in FREE_ACCOUNT_TYPES


# --- LinkedIn URLs ---------------------------------------------------------------------------------------------
UrlKind = Literal["profile", "sales_navigator", "unresolvable_sales_navigator", "missing", "invalid"]
_HOST = re.compile(r"^(?:[a-z]{2,3}\.|www\.|m\.)?linkedin\.com$")
_SLUG = re.compile(r"^[^\s/?#,]{3,100}$")
# A Sales Navigator lead/person id is the member's URN id: "ACoAA..." / "ACwAA..." (base64url characters).
_LEAD_ID = re.compile(r"^AC[A-Za-z0-9_-]{10,}$")


@dataclass(frozen=True)
class LinkedInUrl:
    kind: UrlKind
    identifier: str | None = None  # the public slug (profile) or the member id (Sales Navigator)

    @property
    def actionable(self) -> bool:
        """Whether the engine can act on this prospect (a public profile, or a Sales Navigator lead id)."""
        return self.kind in ("profile", "sales_navigator")


def classify_linkedin_url(url: str | None) -> LinkedInUrl:
    """linkedin.com/in/<slug>[/...] (any scheme, www./m./country subdomain, query or trailing slash) is a profile;
    /sales/lead/<id>,... and /sales/people/<id>,... are Sales Navigator URLs, resolvable when the id is a member
    id (AC...); anything else (another site, a company page, /pub/, a search) is invalid."""
    if url is None or not url.strip():
        return LinkedInUrl("missing")
    text = url.strip()
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
    except ValueError:
        return LinkedInUrl("invalid")
    if parts.scheme.lower() not in ("http", "https") or not _HOST.match((parts.hostname or "").lower()):
        return LinkedInUrl("invalid")
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) >= 2 and segments[0].lower() == "in":
        slug = unquote(segments[1])
        if _SLUG.match(slug):
            return LinkedInUrl("profile", slug)
        return LinkedInUrl("invalid")
    if len(segments) >= 3 and segments[0].lower() == "sales" and segments[1].lower() in ("lead", "people"):
        lead = unquote(segments[2]).split(",", 1)[0]
        if _LEAD_ID.match(lead):
            return LinkedInUrl("sales_navigator", lead)
        return LinkedInUrl("unresolvable_sales_navigator")
    return LinkedInUrl("invalid")
