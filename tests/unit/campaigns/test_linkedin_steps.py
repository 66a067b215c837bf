"""LinkedIn campaign rules (issue 18; help center §7.9, §38): one table per rule. The numbers are the spec's
(300-character note, 14-day wait), written here literally."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from kindling.campaigns.linkedin_accounts import LinkedInAccountState, account_problem
from kindling.campaigns.linkedin_steps import (
    can_send_inmail,
    channel_step_problems,
    classify_linkedin_url,
    linkedin_step_problems,
    messages_before_connection,
    not_linkedin_problems,
    note_too_long,
    pool_problems,
    with_defaults,
)
from kindling.campaigns.models import (
    CampaignCreate,
    CampaignUpdate,
    LinkedInEngagementConfig,
    StepInput,
    StepRecord,
    VariantRecord,
)
from kindling.campaigns.templates import bare_note_length

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def step(step_type: str = "linkedin", index: int = 0, active: bool = True, **fields: Any) -> StepRecord:
    variant = {k: fields.pop(k) for k in ("subject", "body_html", "body_text") if k in fields}
    variants = fields.pop("variants", None) or [VariantRecord(id="v", letter="A", **variant)]
    return StepRecord(
        id=f"s{index}",
        step_index=index,
        type=step_type,  # type: ignore[arg-type]
        is_active=active,
        variants=variants,
        created_at=NOW,
        updated_at=NOW,
        **fields,
    )


def codes(problems: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    return [(f, c) for f, _, c in problems]


# --- the LinkedIn URL classifier -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "kind", "identifier"),
    [
        ("https://www.linkedin.com/in/janedoe", "profile", "janedoe"),
        ("https://www.linkedin.com/in/janedoe/", "profile", "janedoe"),
        ("http://linkedin.com/in/jane-doe-1a2b3c?trk=public", "profile", "jane-doe-1a2b3c"),
        ("linkedin.com/in/janedoe", "profile", "janedoe"),
        ("www.linkedin.com/in/janedoe/details/skills/", "profile", "janedoe"),  # a subpage of the profile
        ("https://uk.linkedin.com/in/janedoe", "profile", "janedoe"),
        ("https://m.linkedin.com/in/janedoe", "profile", "janedoe"),
        ("https://WWW.LINKEDIN.COM/in/JaneDoe", "profile", "JaneDoe"),
        ("https://www.linkedin.com/in/j%C3%BCrgen-m%C3%BCller", "profile", "jürgen-müller"),
        ("https://www.linkedin.com/in/janedoe/overlay/contact-info/", "profile", "janedoe"),
        ("  https://www.linkedin.com/in/janedoe  ", "profile", "janedoe"),
        ("https://www.linkedin.com/in/ab", "invalid", None),  # LinkedIn slugs have at least 3 characters
        ("https://www.linkedin.com/in/", "invalid", None),
        (
            "https://www.linkedin.com/sales/lead/ACwAAAB1c2VyMTIzNDU2Nzg5,NAME_SEARCH,XYZ",
            "sales_navigator",
            "ACwAAAB1c2VyMTIzNDU2Nzg5",
        ),
        (
            "https://www.linkedin.com/sales/people/ACoAAAB1c2VyMTIzNDU2Nzg5,name,abc",
            "sales_navigator",
            "ACoAAAB1c2VyMTIzNDU2Nzg5",
        ),
        ("https://www.linkedin.com/sales/lead/ACwAAAB1c2VyMTIzNDU2Nzg5", "sales_navigator", "ACwAAAB1c2VyMTIzNDU2Nzg5"),
        ("https://www.linkedin.com/sales/lead/12345,NAME_SEARCH,XYZ", "unresolvable_sales_navigator", None),
        ("https://www.linkedin.com/sales/people/,NAME_SEARCH", "unresolvable_sales_navigator", None),
        ("https://www.linkedin.com/sales/search/people?query=x", "invalid", None),
        ("https://www.linkedin.com/company/acme", "invalid", None),
        ("https://www.linkedin.com/pub/jane-doe/1/2/3", "invalid", None),
        ("https://www.linkedin.com/feed/", "invalid", None),
        ("https://linkedin.com.evil.example/in/janedoe", "invalid", None),
        ("https://notlinkedin.com/in/janedoe", "invalid", None),
        ("ftp://www.linkedin.com/in/janedoe", "invalid", None),
        ("janedoe", "invalid", None),
        ("not a url at all", "invalid", None),
        ("http://[::1", "invalid", None),
        ("", "missing", None),
        ("   ", "missing", None),
        (None, "missing", None),
    ],
)
def test_classify_linkedin_url(url: str | None, kind: str, identifier: str | None) -> None:
    found = classify_linkedin_url(url)
    assert (found.kind, found.identifier) == (kind, identifier)
    assert found.actionable == (kind in ("profile", "sales_navigator"))


# --- fields by action ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # each action with exactly what it needs
        ({"linkedin_action_type": "view_profile"}, []),
        ({"linkedin_action_type": "send_invite"}, []),
        ({"linkedin_action_type": "send_invite", "linkedin_invite_note": ""}, []),  # blank note allowed
        ({"linkedin_action_type": "send_invite", "linkedin_invite_note": "Hi {{firstName}}"}, []),
        ({"linkedin_action_type": "send_message", "linkedin_message_template": "Thanks!"}, []),
        ({"linkedin_action_type": "comment", "linkedin_message_template": "Great post"}, []),
        (
            {"linkedin_action_type": "send_inmail", "linkedin_message_template": "Hello", "linkedin_subject": "Hi"},
            [],
        ),
        ({"linkedin_action_type": "endorse_skill"}, []),
        (
            {
                "linkedin_action_type": "endorse_skill",
                "linkedin_engagement_config": LinkedInEngagementConfig(preferred_skill="Python"),
            },
            [],
        ),
        (
            {
                "linkedin_action_type": "like_post",
                "linkedin_engagement_config": LinkedInEngagementConfig(reaction_type="CELEBRATE", post_max_age_days=7),
            },
            [],
        ),
        ({"linkedin_action_type": "wait_accept", "linkedin_max_wait_days": 14}, []),
        ({"linkedin_action_type": "wait_accept", "linkedin_on_timeout": "continue"}, []),
        ({"linkedin_action_type": "wait_accept", "linkedin_on_timeout": "stop"}, []),
        ({"linkedin_action_type": "wait_reply"}, []),
        # wait_reply is the condition "replied": a reply branch and a timeout branch, each continue or stop
        ({"linkedin_action_type": "wait_reply", "linkedin_on_timeout": "continue"}, []),
        ({"linkedin_action_type": "wait_reply", "linkedin_on_timeout": "stop"}, []),
        ({"linkedin_action_type": "wait_reply", "linkedin_on_reply": "continue"}, []),
        ({"linkedin_action_type": "wait_reply", "linkedin_on_reply": "stop", "linkedin_on_timeout": "stop"}, []),
        # required things missing
        ({}, [("linkedinActionType", "linkedin_action_required")]),
        ({"linkedin_action_type": "send_message"}, [("linkedinMessageTemplate", "linkedin_message_required")]),
        (
            {"linkedin_action_type": "send_message", "linkedin_message_template": "   "},
            [("linkedinMessageTemplate", "linkedin_message_required")],
        ),
        ({"linkedin_action_type": "comment"}, [("linkedinMessageTemplate", "linkedin_message_required")]),
        (
            {"linkedin_action_type": "send_inmail"},
            [
                ("linkedinMessageTemplate", "linkedin_message_required"),
                ("linkedinSubject", "linkedin_subject_required"),
            ],
        ),
        (
            {"linkedin_action_type": "send_inmail", "linkedin_message_template": "Hello"},
            [("linkedinSubject", "linkedin_subject_required")],
        ),
        # fields the action does not take
        (
            {"linkedin_action_type": "view_profile", "linkedin_invite_note": "hi"},
            [("linkedinInviteNote", "linkedin_field_not_allowed")],
        ),
        (
            {"linkedin_action_type": "send_invite", "linkedin_message_template": "hi"},
            [("linkedinMessageTemplate", "linkedin_field_not_allowed")],
        ),
        (
            {"linkedin_action_type": "send_message", "linkedin_message_template": "m", "linkedin_subject": "s"},
            [("linkedinSubject", "linkedin_field_not_allowed")],
        ),
        (
            {"linkedin_action_type": "send_invite", "linkedin_max_wait_days": 3},
            [("linkedinMaxWaitDays", "linkedin_field_not_allowed")],
        ),
        # the timeout branch is the waits' alone, the reply branch wait_reply's alone
        (
            {"linkedin_action_type": "send_invite", "linkedin_on_timeout": "stop"},
            [("linkedinOnTimeout", "linkedin_field_not_allowed")],
        ),
        (
            {"linkedin_action_type": "wait_accept", "linkedin_on_reply": "continue"},
            [("linkedinOnReply", "linkedin_field_not_allowed")],
        ),
        (
            {"linkedin_action_type": "send_message", "linkedin_message_template": "m", "linkedin_on_reply": "stop"},
            [("linkedinOnReply", "linkedin_field_not_allowed")],
        ),
        (
            {"linkedin_action_type": "wait_accept", "linkedin_engagement_config": LinkedInEngagementConfig()},
            [("linkedinEngagementConfig", "linkedin_field_not_allowed")],
        ),
        (
            {
                "linkedin_action_type": "send_message",
                "linkedin_message_template": "m",
                "linkedin_inmail_config": {"openProfilesOnly": True},
            },
            [("linkedinInmailConfig", "linkedin_field_not_allowed")],
        ),
        (
            {
                "linkedin_action_type": "endorse_skill",
                "linkedin_engagement_config": LinkedInEngagementConfig(reaction_type="LIKE"),
            },
            [("linkedinEngagementConfig.reactionType", "linkedin_field_not_allowed")],
        ),
        (
            {
                "linkedin_action_type": "comment",
                "linkedin_message_template": "c",
                "linkedin_engagement_config": LinkedInEngagementConfig(preferred_skill="Go"),
            },
            [("linkedinEngagementConfig.preferredSkill", "linkedin_field_not_allowed")],
        ),
        # email content on a LinkedIn step
        (
            {"linkedin_action_type": "view_profile", "subject": "s", "body_html": "<p>b</p>"},
            [("subject", "email_field_not_allowed"), ("bodyHtml", "email_field_not_allowed")],
        ),
        (
            {"linkedin_action_type": "view_profile", "send_as_reply": True},
            [("sendAsReply", "email_field_not_allowed")],
        ),
        (
            {
                "linkedin_action_type": "view_profile",
                "variants": [VariantRecord(id="a", letter="A"), VariantRecord(id="b", letter="B")],
            },
            [("variants", "variants_not_supported")],
        ),
    ],
)
def test_linkedin_step_fields(fields: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert codes(linkedin_step_problems(step(**fields))) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"subject": "s", "body_html": "b"}, []),
        (
            {"subject": "s", "body_html": "b", "linkedin_action_type": "send_invite"},
            [("linkedinActionType", "linkedin_field_not_allowed")],
        ),
        (
            {"subject": "s", "body_html": "b", "linkedin_invite_note": "hi", "linkedin_max_wait_days": 3},
            [
                ("linkedinInviteNote", "linkedin_field_not_allowed"),
                ("linkedinMaxWaitDays", "linkedin_field_not_allowed"),
            ],
        ),
    ],
)
def test_an_email_step_takes_no_linkedin_field(fields: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert codes(linkedin_step_problems(step("email", **fields))) == expected


@pytest.mark.parametrize(
    ("fields", "wait_days", "on_timeout", "on_reply", "reaction"),
    [
        ({"linkedin_action_type": "wait_accept"}, 14, "stop", None, None),
        ({"linkedin_action_type": "wait_reply"}, 14, "continue", "continue", None),
        ({"linkedin_action_type": "wait_accept", "linkedin_max_wait_days": 7}, 7, "stop", None, None),
        ({"linkedin_action_type": "wait_accept", "linkedin_on_timeout": "continue"}, 14, "continue", None, None),
        (
            {"linkedin_action_type": "wait_reply", "linkedin_on_timeout": "stop", "linkedin_on_reply": "stop"},
            14,
            "stop",
            "stop",
            None,
        ),
        ({"linkedin_action_type": "like_post"}, None, None, None, "LIKE"),
        (
            {
                "linkedin_action_type": "like_post",
                "linkedin_engagement_config": LinkedInEngagementConfig(reaction_type="LOVE"),
            },
            None,
            None,
            None,
            "LOVE",
        ),
        ({"linkedin_action_type": "send_invite"}, None, None, None, None),
    ],
)
def test_defaults(
    fields: dict[str, Any], wait_days: int | None, on_timeout: str | None, on_reply: str | None, reaction: str | None
) -> None:
    done = with_defaults(step(**fields))
    assert done.linkedin_max_wait_days == wait_days
    assert (done.linkedin_on_timeout, done.linkedin_on_reply) == (on_timeout, on_reply)
    config = done.linkedin_engagement_config
    assert (config.reaction_type if config else None) == reaction
    assert linkedin_step_problems(done) == []


def test_an_email_step_gets_no_linkedin_default() -> None:
    email = step("email", subject="s", body_html="b")
    assert with_defaults(email) is email


# --- the invite note's 300 characters -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "too_long"),
    [
        ("", False),
        ("x" * 300, False),
        ("x" * 301, True),
        ("é" * 300, False),  # characters, not bytes
        ("😀" * 300, False),
        ("😀" * 301, True),
    ],
)
def test_note_length_limit(text: str, too_long: bool) -> None:
    assert note_too_long(text) is too_long


@pytest.mark.parametrize(
    ("note", "length"),
    [
        ("x" * 300, 300),
        ("Hi {{firstName}}, " + "x" * 10, 15),  # tags empty for a prospect with no data
        ("Hi {{firstName | default: 'there'}}!", 9),  # the fallback counts
        ("  padded  ", 6),
    ],
)
def test_bare_note_length(note: str, length: int) -> None:
    assert bare_note_length(note) == length


# --- channels --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("channel", "step_type", "expected"),
    [
        ("email", "email", []),
        ("email", "linkedin", [("type", "linkedin_step_not_allowed")]),
        ("linkedin", "linkedin", []),
        ("linkedin", "email", [("type", "email_step_not_allowed")]),
        ("multichannel", "email", []),
        ("multichannel", "linkedin", []),
    ],
)
def test_channel_step_types(channel: str, step_type: str, expected: list[tuple[str, str]]) -> None:
    assert codes(channel_step_problems(channel, step_type)) == expected


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("email", [("campaignId", "not_a_linkedin_campaign")]),
        ("linkedin", []),
        ("multichannel", []),  # it has LinkedIn steps and accounts: the LinkedIn tools act on it
    ],
)
def test_only_linkedin_and_multichannel_campaigns_take_linkedin_actions(
    channel: str, expected: list[tuple[str, str]]
) -> None:
    assert codes(not_linkedin_problems(channel)) == expected


@pytest.mark.parametrize(
    ("channel", "mailboxes", "accounts", "expected"),
    [
        ("email", ["m1"], [], []),
        ("email", [], [], [("mailboxIds", "mailboxes_required")]),
        ("email", ["m1"], ["li_1"], [("linkedinAccountIds", "linkedin_accounts_not_allowed")]),
        ("linkedin", [], ["li_1"], []),
        ("linkedin", [], [], [("linkedinAccountIds", "linkedin_accounts_required")]),
        ("linkedin", ["m1"], ["li_1"], [("mailboxIds", "mailboxes_not_allowed")]),
        ("multichannel", ["m1"], ["li_1"], []),
        ("multichannel", [], ["li_1"], [("mailboxIds", "mailboxes_required")]),
        ("multichannel", ["m1"], [], [("linkedinAccountIds", "linkedin_accounts_required")]),
        (
            "multichannel",
            [],
            [],
            [("mailboxIds", "mailboxes_required"), ("linkedinAccountIds", "linkedin_accounts_required")],
        ),
    ],
)
def test_pool_problems(
    channel: str, mailboxes: list[str], accounts: list[str], expected: list[tuple[str, str]]
) -> None:
    assert codes(pool_problems(channel, mailboxes, accounts)) == expected


# --- sequence order --------------------------------------------------------------------------------------------
def _seq(*specs: tuple[str, bool]) -> list[StepRecord]:
    out = []
    for index, (action, active) in enumerate(specs):
        if action == "email":
            out.append(step("email", index, active, subject="s", body_html="b"))
        else:
            text = {"linkedin_message_template": "m"} if action == "send_message" else {}
            out.append(step("linkedin", index, active, linkedin_action_type=action, **text))
    return out


@pytest.mark.parametrize(
    ("specs", "flagged"),
    [
        ((("send_invite", True), ("wait_accept", True), ("send_message", True)), []),
        ((("send_message", True),), [0]),
        ((("view_profile", True), ("send_message", True), ("send_invite", True)), [1]),
        ((("wait_accept", True), ("send_message", True)), []),
        ((("send_invite", False), ("send_message", True)), [1]),  # an inactive invite does not connect anyone
        ((("send_message", False), ("send_invite", True)), []),  # an inactive message sends nothing
        ((("email", True), ("send_message", True), ("send_message", True)), [1, 2]),
        ((("send_inmail", True), ("send_message", True)), [1]),  # an InMail is not a connection
    ],
)
def test_messages_before_connection(specs: tuple[tuple[str, bool], ...], flagged: list[int]) -> None:
    assert [s.step_index for s in messages_before_connection(_seq(*specs))] == flagged


# --- accounts --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("account_type", "can"),
    [
        ("free", False),
        ("FREE", False),
        ("classic", False),
        ("premium", True),
        ("sales_navigator", True),
        ("recruiter", True),
        (None, True),  # unknown type = Premium, never Free (help center §36.4)
        ("", True),
    ],
)
def test_can_send_inmail(account_type: str | None, can: bool) -> None:
    assert can_send_inmail(account_type) is can


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        (None, "not_found"),
        (LinkedInAccountState("connected", "premium"), None),
        (LinkedInAccountState("disconnected", "premium"), "not_connected"),
        (LinkedInAccountState("needs_verification", None), "not_connected"),
        (LinkedInAccountState("connecting", "free"), "not_connected"),
    ],
)
def test_account_problem(state: LinkedInAccountState | None, problem: str | None) -> None:
    assert account_problem(state) == problem


# --- request shapes --------------------------------------------------------------------------------------------
def _li_create(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "LI",
        "channel": "linkedin",
        "linkedinAccountIds": ["li_5a2b1c"],
        "steps": [{"stepIndex": 0, "type": "linkedin", "linkedinActionType": "view_profile"}],
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"channel": "sms"}, "channel"),
        ({"linkedinAccountIds": ["5a2b1c"]}, "linkedinAccountIds"),
        (
            {
                "steps": [
                    {"stepIndex": 0, "type": "linkedin", "linkedinActionType": "wait_reply", "linkedinOnReply": "x"}
                ]
            },
            "linkedinOnReply",
        ),
        ({"linkedinAccountIds": ["li_"]}, "linkedinAccountIds"),
        ({"linkedinAccountIds": ["li_a b"]}, "linkedinAccountIds"),
        ({"linkedinAccountIds": ["li_" + "x" * 62]}, "linkedinAccountIds"),
        ({"linkedinAccountIds": [f"li_{i}" for i in range(21)]}, "linkedinAccountIds"),
        ({"steps": [{"stepIndex": 0, "type": "sms"}]}, "type"),
        ({"steps": [{"stepIndex": 0, "type": "linkedin", "linkedinActionType": "poke"}]}, "linkedinActionType"),
        (
            {
                "steps": [
                    {"stepIndex": 0, "type": "linkedin", "linkedinActionType": "wait_accept", "linkedinMaxWaitDays": 0}
                ]
            },
            "linkedinMaxWaitDays",
        ),
        (
            {
                "steps": [
                    {"stepIndex": 0, "type": "linkedin", "linkedinActionType": "wait_accept", "linkedinMaxWaitDays": 91}
                ]
            },
            "linkedinMaxWaitDays",
        ),
        (
            {
                "steps": [
                    {
                        "stepIndex": 0,
                        "type": "linkedin",
                        "linkedinActionType": "send_invite",
                        "linkedinInviteNote": "x" * 8001,
                    }
                ]
            },
            "linkedinInviteNote",
        ),
        (
            {
                "steps": [
                    {"stepIndex": 0, "type": "linkedin", "linkedinActionType": "send_inmail", "linkedinSubject": "a\nb"}
                ]
            },
            "linkedinSubject",
        ),
        (
            {
                "steps": [
                    {
                        "stepIndex": 0,
                        "type": "linkedin",
                        "linkedinActionType": "send_inmail",
                        "linkedinSubject": "s" * 201,
                    }
                ]
            },
            "linkedinSubject",
        ),
        (
            {
                "steps": [
                    {
                        "stepIndex": 0,
                        "type": "linkedin",
                        "linkedinActionType": "like_post",
                        "linkedinEngagementConfig": {"reactionType": "WOW"},
                    }
                ]
            },
            "reactionType",
        ),
        (
            {
                "steps": [
                    {
                        "stepIndex": 0,
                        "type": "linkedin",
                        "linkedinActionType": "like_post",
                        "linkedinEngagementConfig": {"mood": 1},
                    }
                ]
            },
            "mood",
        ),
        (
            {
                "steps": [
                    {
                        "stepIndex": 0,
                        "type": "linkedin",
                        "linkedinActionType": "send_inmail",
                        "linkedinInmailConfig": {"credits": 1},
                    }
                ]
            },
            "credits",
        ),
    ],
)
def test_linkedin_request_shapes(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CampaignCreate.model_validate(_li_create(**overrides))
    locations = {str(part) for error in caught.value.errors() for part in error["loc"]}
    assert field in locations, caught.value.errors()


def test_account_ids_are_deduplicated_in_order() -> None:
    body = CampaignCreate.model_validate(_li_create(linkedinAccountIds=["li_b", "li_a", "li_b"]))
    assert body.linkedin_account_ids == ["li_b", "li_a"]
    patch = CampaignUpdate.model_validate({"linkedinAccountIds": ["li_b", "li_a", "li_a"]})
    assert patch.linkedin_account_ids == ["li_b", "li_a"]
    with pytest.raises(ValidationError):
        CampaignUpdate.model_validate({"linkedinAccountIds": None})


def test_the_channel_defaults_to_email() -> None:
    body = CampaignCreate.model_validate(
        {"name": "E", "mailboxIds": ["m1"], "steps": [{"stepIndex": 0, "subject": "s", "bodyHtml": "b"}]}
    )
    assert (body.channel, body.linkedin_account_ids, body.steps[0].type) == ("email", [], "email")


def test_a_note_template_may_exceed_300_characters_before_rendering() -> None:
    # Merge tags may shorten it; the rendered note is what must fit (checked at save with empty tags, per prospect
    # at preview and preflight).
    data = StepInput.model_validate(
        {"stepIndex": 0, "type": "linkedin", "linkedinActionType": "send_invite", "linkedinInviteNote": "x" * 400}
    )
    assert data.linkedin_invite_note == "x" * 400
