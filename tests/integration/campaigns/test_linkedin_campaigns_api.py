"""LinkedIn and multichannel campaigns over HTTP (in-process API, moto): create and PATCH with each channel, LinkedIn
steps and their error codes, start, preview, preflight and stats (issue 18, help center §7.9, §38).

The LinkedIn accounts package is built on another branch; until it is merged, the account lookup campaigns use is
an injected `LinkedInAccountDirectory`. These tests install a directory holding the accounts they need (the one
thing faked here: the real one reads the LinkedIn accounts table, which does not exist on this branch yet).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from kindling.campaigns.linkedin_accounts import LinkedInAccountState, NoLinkedInAccounts, use_linkedin_directory
from kindling.campaigns.repository import CampaignRepository
from kindling.enrollments.service import campaign_service
from tests.integration.campaigns.conftest import MailboxFactory
from tests.integration.campaigns.test_campaigns_api import STEP0, error_of, prospect
from tests.integration.prospects.conftest import Api

VIEW = {"stepIndex": 0, "type": "linkedin", "linkedinActionType": "view_profile"}
INVITE = {
    "stepIndex": 1,
    "type": "linkedin",
    "linkedinActionType": "send_invite",
    "linkedinInviteNote": "Hi {{firstName}}, enjoyed your post about {{company}}.",
    "delayDays": 1,
}
WAIT = {"stepIndex": 2, "type": "linkedin", "linkedinActionType": "wait_accept"}
WAIT_REPLY = {"stepIndex": 4, "type": "linkedin", "linkedinActionType": "wait_reply"}
MESSAGE = {
    "stepIndex": 3,
    "type": "linkedin",
    "linkedinActionType": "send_message",
    "linkedinMessageTemplate": "Thanks for connecting, {{firstName}}!",
}


class Directory:
    """Accounts by (workspace, id): what the LinkedIn accounts package will answer."""

    def __init__(self) -> None:
        self.accounts: dict[tuple[str, str], LinkedInAccountState] = {}

    def get(self, workspace_id: str, account_id: str) -> LinkedInAccountState | None:
        return self.accounts.get((workspace_id, account_id))


@pytest.fixture
def directory(api: Api) -> Iterator[Directory]:
    installed = Directory()
    previous = use_linkedin_directory(installed)
    try:
        yield installed
    finally:
        use_linkedin_directory(previous)


def add_account(
    api: Api, directory: Directory, account_id: str, status: str = "connected", kind: str | None = "premium"
) -> str:
    directory.accounts[(api.tenant.workspace_id, account_id)] = LinkedInAccountState(status, kind)
    return account_id


def li_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "LinkedIn founders",
        "channel": "linkedin",
        "linkedinAccountIds": ["li_5a2b1c"],
        "steps": [VIEW, INVITE, WAIT, MESSAGE],
    }
    body.update(overrides)
    return body


def create_li(api: Api, **overrides: Any) -> dict[str, Any]:
    response = api.call("POST", "/api/v1/campaigns", json=li_body(**overrides))
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def details(response: Any) -> list[tuple[str, str]]:
    assert response.status_code == 400, response.text
    return [(d["field"], d["code"]) for d in error_of(response)["details"]]


# --- create / get ----------------------------------------------------------------------------------------------
def test_a_linkedin_campaign_round_trips_with_its_steps_and_pool(api: Api) -> None:
    created = create_li(api, linkedinAccountIds=["li_a", "li_b", "li_a"])
    assert (created["channel"], created["linkedinAccountIds"], created["mailboxes"]) == (
        "linkedin",
        ["li_a", "li_b"],
        [],
    )
    got = api.call("GET", f"/api/v1/campaigns/{created['id']}").json()["data"]
    steps = got["steps"]
    assert [s["type"] for s in steps] == ["linkedin"] * 4
    assert [s["linkedinActionType"] for s in steps] == ["view_profile", "send_invite", "wait_accept", "send_message"]
    assert steps[1]["linkedinInviteNote"] == INVITE["linkedinInviteNote"]
    assert steps[2]["linkedinMaxWaitDays"] == 14  # wait_accept's default (help center §38.6)
    assert steps[3]["linkedinMessageTemplate"] == MESSAGE["linkedinMessageTemplate"]
    assert (steps[0]["subject"], steps[0]["bodyHtml"], steps[0]["linkedinSubject"]) == (None, None, None)
    assert [s["delayDays"] for s in steps] == [0, 1, 1, 1]
    listed = api.call("GET", "/api/v1/campaigns").json()["data"]
    assert [(c["id"], c["channel"], c["linkedinAccountIds"]) for c in listed] == [
        (created["id"], "linkedin", ["li_a", "li_b"])
    ]


def test_every_linkedin_action_and_config_is_stored(api: Api) -> None:
    steps = [
        VIEW,
        {**INVITE, "linkedinInviteNote": ""},
        {
            "stepIndex": 2,
            "type": "linkedin",
            "linkedinActionType": "endorse_skill",
            "linkedinEngagementConfig": {"preferredSkill": "Python"},
        },
        {"stepIndex": 3, "type": "linkedin", "linkedinActionType": "like_post"},
        {
            "stepIndex": 4,
            "type": "linkedin",
            "linkedinActionType": "comment",
            "linkedinMessageTemplate": "Great point, {{firstName}}",
            "linkedinEngagementConfig": {"postMaxAgeDays": 7},
        },
        {
            "stepIndex": 5,
            "type": "linkedin",
            "linkedinActionType": "send_inmail",
            "linkedinSubject": "Quick idea for {{company}}",
            "linkedinMessageTemplate": "Hello {{firstName}}",
            "linkedinInmailConfig": {"openProfilesOnly": True},
        },
        {"stepIndex": 6, "type": "linkedin", "linkedinActionType": "wait_reply", "linkedinMaxWaitDays": 5},
    ]
    got = create_li(api, steps=steps)["steps"]
    assert got[1]["linkedinInviteNote"] == ""  # a blank note is allowed (help center §38.9)
    assert got[2]["linkedinEngagementConfig"] == {
        "preferredSkill": "Python",
        "reactionType": None,
        "postMaxAgeDays": None,
    }
    assert got[3]["linkedinEngagementConfig"] == {
        "preferredSkill": None,
        "reactionType": "LIKE",
        "postMaxAgeDays": None,
    }
    assert got[4]["linkedinEngagementConfig"]["postMaxAgeDays"] == 7
    assert got[5]["linkedinInmailConfig"] == {"sendAsMessageIfConnected": True, "openProfilesOnly": True}
    assert (got[5]["linkedinSubject"], got[6]["linkedinMaxWaitDays"]) == ("Quick idea for {{company}}", 5)


def test_the_email_channel_is_the_default_and_unchanged(api: Api, mailbox_factory: MailboxFactory) -> None:
    mailbox = mailbox_factory()
    response = api.call("POST", "/api/v1/campaigns", json={"name": "E", "mailboxIds": [mailbox.id], "steps": [STEP0]})
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert (data["channel"], data["linkedinAccountIds"], data["steps"][0]["linkedinActionType"]) == ("email", [], None)


def test_a_multichannel_campaign_mixes_email_and_linkedin_steps(api: Api, mailbox_factory: MailboxFactory) -> None:
    mailbox = mailbox_factory()
    body = li_body(
        channel="multichannel",
        mailboxIds=[mailbox.id],
        steps=[{**STEP0, "type": "email"}, {**INVITE, "stepIndex": 1}, {**MESSAGE, "stepIndex": 2}],
    )
    response = api.call("POST", "/api/v1/campaigns", json=body)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["channel"] == "multichannel"
    assert [m["mailboxId"] for m in data["mailboxes"]] == [mailbox.id]
    assert [(s["type"], s["linkedinActionType"]) for s in data["steps"]] == [
        ("email", None),
        ("linkedin", "send_invite"),
        ("linkedin", "send_message"),
    ]


LONG_NOTE = "x" * 301


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"linkedinAccountIds": []}, ("linkedinAccountIds", "linkedin_accounts_required")),
        ({"mailboxIds": ["m-1"]}, ("mailboxIds", "mailboxes_not_allowed")),
        ({"channel": "email", "steps": [STEP0]}, ("linkedinAccountIds", "linkedin_accounts_not_allowed")),
        ({"channel": "email", "linkedinAccountIds": [], "steps": [STEP0]}, ("mailboxIds", "mailboxes_required")),
        ({"channel": "multichannel"}, ("mailboxIds", "mailboxes_required")),
        ({"steps": [STEP0]}, ("steps.0.type", "email_step_not_allowed")),
        ({"steps": [{"stepIndex": 0, "type": "linkedin"}]}, ("steps.0.linkedinActionType", "linkedin_action_required")),
        (
            {"steps": [{**MESSAGE, "stepIndex": 0, "linkedinMessageTemplate": None}]},
            ("steps.0.linkedinMessageTemplate", "linkedin_message_required"),
        ),
        (
            {"steps": [{"stepIndex": 0, "type": "linkedin", "linkedinActionType": "comment"}]},
            ("steps.0.linkedinMessageTemplate", "linkedin_message_required"),
        ),
        (
            {
                "steps": [
                    {
                        "stepIndex": 0,
                        "type": "linkedin",
                        "linkedinActionType": "send_inmail",
                        "linkedinMessageTemplate": "m",
                    }
                ]
            },
            ("steps.0.linkedinSubject", "linkedin_subject_required"),
        ),
        (
            {"steps": [{**VIEW, "linkedinInviteNote": "hi"}]},
            ("steps.0.linkedinInviteNote", "linkedin_field_not_allowed"),
        ),
        (
            {"steps": [{**INVITE, "stepIndex": 0, "linkedinMaxWaitDays": 3}]},
            ("steps.0.linkedinMaxWaitDays", "linkedin_field_not_allowed"),
        ),
        (
            {"steps": [{**VIEW, "linkedinEngagementConfig": {"reactionType": "LIKE"}}]},
            ("steps.0.linkedinEngagementConfig", "linkedin_field_not_allowed"),
        ),
        (
            {
                "steps": [
                    {
                        "stepIndex": 0,
                        "type": "linkedin",
                        "linkedinActionType": "endorse_skill",
                        "linkedinEngagementConfig": {"reactionType": "LIKE"},
                    }
                ]
            },
            ("steps.0.linkedinEngagementConfig.reactionType", "linkedin_field_not_allowed"),
        ),
        ({"steps": [{**VIEW, "subject": "s"}]}, ("steps.0.subject", "email_field_not_allowed")),
        ({"steps": [{**VIEW, "variants": [{}, {}]}]}, ("steps.0.variants", "variants_not_supported")),
        (
            {"steps": [{**INVITE, "stepIndex": 0, "linkedinInviteNote": LONG_NOTE}]},
            ("steps.0.linkedinInviteNote", "invite_note_too_long"),
        ),
        (
            {"steps": [{**INVITE, "stepIndex": 0, "linkedinInviteNote": "Hi {{firstName"}]},
            ("steps.0.linkedinInviteNote", "template_syntax"),
        ),
        ({"linkedinAccountIds": ["5a2b1c"]}, ("linkedinAccountIds.0", "string_pattern_mismatch")),
        ({"channel": "fax"}, ("channel", "literal_error")),
        (
            {"steps": [{"stepIndex": 0, "type": "linkedin", "linkedinActionType": "poke"}]},
            ("steps.0.linkedinActionType", "literal_error"),
        ),
        (
            {"steps": [{**WAIT, "stepIndex": 0, "linkedinMaxWaitDays": 91}]},
            ("steps.0.linkedinMaxWaitDays", "less_than_equal"),
        ),
        (
            {"steps": [{**WAIT, "stepIndex": 0, "linkedinOnTimeout": "branch"}]},
            ("steps.0.linkedinOnTimeout", "literal_error"),
        ),
        (
            {"steps": [{**INVITE, "stepIndex": 0, "linkedinOnTimeout": "continue"}]},
            ("steps.0.linkedinOnTimeout", "linkedin_field_not_allowed"),
        ),
        (
            {"steps": [{**WAIT_REPLY, "stepIndex": 0, "linkedinOnReply": "branch"}]},
            ("steps.0.linkedinOnReply", "literal_error"),
        ),
        (
            {"steps": [{**WAIT_REPLY, "stepIndex": 0, "linkedinOnTimeout": "later"}]},
            ("steps.0.linkedinOnTimeout", "literal_error"),
        ),
        (
            {"steps": [{**WAIT, "stepIndex": 0, "linkedinOnReply": "stop"}]},
            ("steps.0.linkedinOnReply", "linkedin_field_not_allowed"),
        ),
        (
            {"steps": [{**MESSAGE, "stepIndex": 0, "linkedinOnReply": "continue"}]},
            ("steps.0.linkedinOnReply", "linkedin_field_not_allowed"),
        ),
    ],
)
def test_create_error_codes(api: Api, overrides: dict[str, Any], expected: tuple[str, str]) -> None:
    response = api.call("POST", "/api/v1/campaigns", json=li_body(**overrides))
    assert error_of(response)["code"] == "validation_error"
    assert expected in details(response)
    assert api.call("GET", "/api/v1/campaigns").json()["data"] == []  # nothing half-written


def test_an_email_campaign_refuses_a_linkedin_step(api: Api, mailbox_factory: MailboxFactory) -> None:
    mailbox = mailbox_factory()
    body = {"name": "E", "mailboxIds": [mailbox.id], "steps": [STEP0, INVITE]}
    assert ("steps.1.type", "linkedin_step_not_allowed") in details(api.call("POST", "/api/v1/campaigns", json=body))
    email_step_with_li_field = {**STEP0, "linkedinInviteNote": "hi"}
    body = {"name": "E", "mailboxIds": [mailbox.id], "steps": [email_step_with_li_field]}
    response = api.call("POST", "/api/v1/campaigns", json=body)
    assert ("steps.0.linkedinInviteNote", "linkedin_field_not_allowed") in details(response)


# --- PATCH -----------------------------------------------------------------------------------------------------
def test_patch_replaces_the_linkedin_pool_under_the_channel_rules(api: Api, mailbox_factory: MailboxFactory) -> None:
    cid = create_li(api)["id"]
    patched = api.call("PATCH", f"/api/v1/campaigns/{cid}", json={"linkedinAccountIds": ["li_x", "li_y", "li_x"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["linkedinAccountIds"] == ["li_x", "li_y"]
    emptied = api.call("PATCH", f"/api/v1/campaigns/{cid}", json={"linkedinAccountIds": []})
    assert ("linkedinAccountIds", "linkedin_accounts_required") in details(emptied)
    nulled = api.call("PATCH", f"/api/v1/campaigns/{cid}", json={"linkedinAccountIds": None})
    assert nulled.status_code == 400
    mailbox = mailbox_factory()
    with_mailbox = api.call("PATCH", f"/api/v1/campaigns/{cid}", json={"mailboxIds": [mailbox.id]})
    assert ("mailboxIds", "mailboxes_not_allowed") in details(with_mailbox)
    attach = api.call("POST", f"/api/v1/campaigns/{cid}/mailboxes", json={"mailboxId": mailbox.id})
    assert ("mailboxId", "mailboxes_not_allowed") in details(attach)
    assert api.call("GET", f"/api/v1/campaigns/{cid}").json()["data"]["linkedinAccountIds"] == ["li_x", "li_y"]

    email = api.call("POST", "/api/v1/campaigns", json={"name": "E", "mailboxIds": [mailbox.id], "steps": [STEP0]})
    eid = email.json()["data"]["id"]
    refused = api.call("PATCH", f"/api/v1/campaigns/{eid}", json={"linkedinAccountIds": ["li_x"]})
    assert ("linkedinAccountIds", "linkedin_accounts_not_allowed") in details(refused)


# --- steps -----------------------------------------------------------------------------------------------------
def test_linkedin_step_crud(api: Api, mailbox_factory: MailboxFactory) -> None:
    cid = create_li(api, steps=[VIEW])["id"]
    base = f"/api/v1/campaigns/{cid}/steps"
    added = api.call("POST", base, json={"type": "linkedin", "linkedinActionType": "wait_accept"})
    assert added.status_code == 201, added.text
    wait = added.json()["data"]
    assert (wait["stepIndex"], wait["linkedinMaxWaitDays"], wait["delayDays"]) == (1, 14, 1)

    # A new action drops the old action's fields the PATCH does not set, defaults included.
    changed = api.call(
        "PATCH", f"{base}/{wait['id']}", json={"linkedinActionType": "send_invite", "linkedinInviteNote": "Hi"}
    )
    assert changed.status_code == 200, changed.text
    got = changed.json()["data"]
    assert (got["linkedinActionType"], got["linkedinInviteNote"], got["linkedinMaxWaitDays"]) == (
        "send_invite",
        "Hi",
        None,
    )

    too_long = api.call("PATCH", f"{base}/{wait['id']}", json={"linkedinInviteNote": LONG_NOTE})
    assert ("linkedinInviteNote", "invite_note_too_long") in details(too_long)
    not_allowed = api.call("PATCH", f"{base}/{wait['id']}", json={"linkedinSubject": "s"})
    assert ("linkedinSubject", "linkedin_field_not_allowed") in details(not_allowed)
    to_message = api.call("PATCH", f"{base}/{wait['id']}", json={"linkedinActionType": "send_message"})
    assert ("linkedinMessageTemplate", "linkedin_message_required") in details(to_message)
    assert (
        api.call("GET", f"{base}/{wait['id']}").json()["data"]["linkedinInviteNote"] == "Hi"
    )  # refusals left no trace

    email_step = api.call("POST", base, json={"subject": "s", "bodyHtml": "<p>b</p>"})
    assert ("type", "email_step_not_allowed") in details(email_step)
    variant = api.call("POST", f"{base}/{wait['id']}/variants", json={})
    assert ("variants", "variants_not_supported") in details(variant)

    mailbox = mailbox_factory()
    email = api.call("POST", "/api/v1/campaigns", json={"name": "E", "mailboxIds": [mailbox.id], "steps": [STEP0]})
    refused = api.call(
        "POST", f"/api/v1/campaigns/{email.json()['data']['id']}/steps", json={**INVITE, "stepIndex": None}
    )
    assert ("type", "linkedin_step_not_allowed") in details(refused)


# --- start -----------------------------------------------------------------------------------------------------
def test_start_needs_a_connected_linkedin_account(api: Api, directory: Directory) -> None:
    cid = create_li(api, linkedinAccountIds=["li_gone", "li_off"])["id"]
    add_account(api, directory, "li_off", status="disconnected")
    refused = api.call("POST", f"/api/v1/campaigns/{cid}/start")
    assert refused.status_code == 400
    error = error_of(refused)
    assert error["code"] == "unusable_linkedin_accounts"
    assert [(d["linkedinAccountId"], d["code"]) for d in error["details"]] == [
        ("li_gone", "not_found"),
        ("li_off", "not_connected"),
    ]
    assert api.call("GET", f"/api/v1/campaigns/{cid}").json()["data"]["status"] == "draft"
    add_account(api, directory, "li_off", status="connected")
    started = api.call("POST", f"/api/v1/campaigns/{cid}/start")
    assert started.status_code == 200, started.text
    assert started.json()["data"]["status"] == "running"


def test_without_the_linkedin_package_no_account_exists(api: Api) -> None:
    """The default directory knows no account: a LinkedIn campaign cannot start before the accounts are wired."""
    previous = use_linkedin_directory(NoLinkedInAccounts())
    try:
        cid = create_li(api)["id"]
        refused = api.call("POST", f"/api/v1/campaigns/{cid}/start")
        assert error_of(refused)["code"] == "unusable_linkedin_accounts"
        assert [d["code"] for d in error_of(refused)["details"]] == ["not_found"]
    finally:
        use_linkedin_directory(previous)


def test_start_refuses_inmail_when_every_connected_account_is_free(api: Api, directory: Directory) -> None:
    inmail = {
        "stepIndex": 0,
        "type": "linkedin",
        "linkedinActionType": "send_inmail",
        "linkedinSubject": "Idea",
        "linkedinMessageTemplate": "Hello",
    }
    add_account(api, directory, "li_free", kind="free")
    add_account(api, directory, "li_premium_off", status="disconnected", kind="premium")
    cid = create_li(api, linkedinAccountIds=["li_free", "li_premium_off"], steps=[inmail])["id"]
    refused = api.call("POST", f"/api/v1/campaigns/{cid}/start")
    assert error_of(refused)["code"] == "inmail_not_available"
    assert [(d["field"], d["code"]) for d in error_of(refused)["details"]] == [
        ("steps.0.linkedinActionType", "inmail_on_free_account")
    ]
    add_account(api, directory, "li_premium_off", status="connected", kind="sales_navigator")
    assert api.call("POST", f"/api/v1/campaigns/{cid}/start").status_code == 200


def test_a_multichannel_start_needs_a_mailbox_and_an_account(
    api: Api, directory: Directory, mailbox_factory: MailboxFactory
) -> None:
    mailbox = mailbox_factory()
    body = li_body(channel="multichannel", mailboxIds=[mailbox.id], steps=[STEP0, INVITE])
    cid = api.call("POST", "/api/v1/campaigns", json=body).json()["data"]["id"]
    assert error_of(api.call("POST", f"/api/v1/campaigns/{cid}/start"))["code"] == "unusable_linkedin_accounts"
    add_account(api, directory, "li_5a2b1c")
    assert api.call("POST", f"/api/v1/campaigns/{cid}/start").json()["data"]["status"] == "running"


# --- preview ---------------------------------------------------------------------------------------------------
def test_preview_renders_a_stored_linkedin_step(api: Api) -> None:
    created = create_li(api)
    invite = created["steps"][1]
    pid = prospect(
        api, "jane@example.com", firstName="Jane", company="Acme", linkedinUrl="https://www.linkedin.com/in/janedoe"
    )
    body = {"campaignId": created["id"], "stepId": invite["id"], "prospectId": pid}
    response = api.call("POST", "/api/v1/campaigns/steps/preview", json=body)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    text = "Hi Jane, enjoyed your post about Acme."
    assert data == {
        "channel": "linkedin",
        "subject": None,
        "bodyHtml": None,
        "bodyText": None,
        "linkedinActionType": "send_invite",
        "linkedinText": text,
        "linkedinSubject": None,
        "characterCount": len(text),
        "characterLimit": 300,
        "issues": [],
    }


def test_preview_reports_a_note_over_300_characters_and_a_missing_url(api: Api) -> None:
    note = "{{custom.pitch}}"
    created = create_li(api, steps=[{**INVITE, "stepIndex": 0, "linkedinInviteNote": note}])
    step_id = created["steps"][0]["id"]
    body = {
        "campaignId": created["id"],
        "stepId": step_id,
        "contact": {"firstName": "Sam", "customFields": {"pitch": "y" * 301}},
    }
    data = api.call("POST", "/api/v1/campaigns/steps/preview", json=body).json()["data"]
    assert (data["characterCount"], data["characterLimit"]) == (301, 300)
    assert [i["code"] for i in data["issues"]] == ["missing_linkedin_url", "invite_note_too_long"]
    body["contact"] = {
        "customFields": {"pitch": "y" * 300},
        "linkedinUrl": "https://www.linkedin.com/sales/lead/123,NAME_SEARCH,x",
    }
    data = api.call("POST", "/api/v1/campaigns/steps/preview", json=body).json()["data"]
    assert data["characterCount"] == 300
    assert [i["code"] for i in data["issues"]] == ["unresolvable_sales_navigator_url"]
    body["contact"] = {"customFields": {"pitch": "ok"}, "linkedinUrl": "https://www.linkedin.com/company/acme"}
    data = api.call("POST", "/api/v1/campaigns/steps/preview", json=body).json()["data"]
    assert [i["code"] for i in data["issues"]] == ["invalid_linkedin_url"]


def test_ad_hoc_linkedin_preview(api: Api) -> None:
    step = {
        "type": "linkedin",
        "linkedinActionType": "send_inmail",
        "linkedinSubject": "Idea for {{company}}",
        "linkedinMessageTemplate": "{Hi|Hello} {{firstName}}",
    }
    body = {
        "step": step,
        "contact": {"firstName": "Ana", "company": "Acme", "linkedinUrl": "linkedin.com/in/ana"},
        "seed": "s",
    }
    data = api.call("POST", "/api/v1/campaigns/steps/preview", json=body).json()["data"]
    assert data["linkedinSubject"] == "Idea for Acme"
    assert data["linkedinText"] in ("Hi Ana", "Hello Ana")
    assert (data["characterLimit"], data["characterCount"], data["issues"]) == (None, None, [])
    missing = api.call("POST", "/api/v1/campaigns/steps/preview", json={"step": {**step, "linkedinSubject": None}})
    assert ("step.linkedinSubject", "linkedin_subject_required") in details(missing)
    email = api.call(
        "POST",
        "/api/v1/campaigns/steps/preview",
        json={"step": {"subject": "Hi {{firstName}}", "bodyHtml": "<p>x</p>"}},
    )
    assert email.status_code == 200, email.text
    assert (email.json()["data"]["channel"], email.json()["data"]["subject"], email.json()["data"]["issues"]) == (
        "email",
        "Hi",
        [],
    )


# --- preflight -------------------------------------------------------------------------------------------------
def enroll(api: Api, cid: str, prospect_ids: list[str]) -> None:
    response = api.call("POST", f"/api/v1/campaigns/{cid}/enrollments", json={"prospectIds": prospect_ids})
    assert response.status_code in (200, 201), response.text


def test_preflight_reports_the_linkedin_issues(api: Api, directory: Directory) -> None:
    add_account(api, directory, "li_free", kind="free")
    add_account(api, directory, "li_prem", kind="premium")
    steps = [
        {**MESSAGE, "stepIndex": 0},  # before any invite: 1st-degree only
        {**INVITE, "stepIndex": 1, "linkedinInviteNote": "{{custom.pitch}}"},
        {
            "stepIndex": 2,
            "type": "linkedin",
            "linkedinActionType": "send_inmail",
            "linkedinSubject": "s",
            "linkedinMessageTemplate": "m",
        },
    ]
    cid = create_li(api, linkedinAccountIds=["li_free", "li_prem", "li_gone"], steps=steps)["id"]
    good = prospect(
        api, "good@example.com", linkedinUrl="https://www.linkedin.com/in/good", customFields={"pitch": "short"}
    )
    no_url = prospect(api, "nourl@example.com", customFields={"pitch": "short"})
    junk = prospect(api, "junk@example.com", linkedinUrl="https://example.com/in/junk", customFields={"pitch": "short"})
    sales = prospect(
        api,
        "sales@example.com",
        linkedinUrl="https://www.linkedin.com/sales/lead/xyz,NAME_SEARCH,1",
        customFields={"pitch": "short"},
    )
    wordy = prospect(
        api, "wordy@example.com", linkedinUrl="https://www.linkedin.com/in/wordy", customFields={"pitch": "w" * 301}
    )
    enroll(api, cid, [good, no_url, junk, sales, wordy])

    response = api.call("GET", f"/api/v1/campaigns/{cid}/preflight")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    checks = {c["name"]: (c["passed"], c["blocking"]) for c in data["checks"]}
    assert "has_mailboxes" not in checks and "mailbox_connected" not in checks  # a LinkedIn campaign sends no email
    assert checks["has_linkedin_accounts"] == (True, True)
    assert checks["linkedin_account_connected"] == (True, True)
    assert checks["inmail_account_type"] == (False, False)  # a warning: the premium account sends the InMails
    assert checks["linkedin_sequence_order"] == (False, False)
    assert checks["prospects_linkedin_url"] == (False, False)
    assert checks["invite_note_length"] == (False, False)
    assert data["blockingFailures"] == []
    issues = {i["code"]: i for i in data["issues"]}
    assert set(issues) == {
        "linkedin_account_not_found",
        "inmail_on_free_account",
        "message_before_connection",
        "missing_linkedin_url",
        "invalid_linkedin_url",
        "unresolvable_sales_navigator_url",
        "invite_note_too_long",
    }
    assert issues["linkedin_account_not_found"]["ids"] == ["li_gone"]
    assert issues["inmail_on_free_account"]["ids"] == ["li_free"]
    assert (issues["missing_linkedin_url"]["ids"], issues["invalid_linkedin_url"]["ids"]) == ([no_url], [junk])
    assert issues["unresolvable_sales_navigator_url"]["ids"] == [sales]
    assert (issues["invite_note_too_long"]["ids"], issues["invite_note_too_long"]["count"]) == ([wordy], 1)
    assert all(not i["blocking"] for i in data["issues"])


def test_preflight_blocks_without_a_connected_account_or_with_only_free_inmail(api: Api, directory: Directory) -> None:
    inmail = {
        "stepIndex": 0,
        "type": "linkedin",
        "linkedinActionType": "send_inmail",
        "linkedinSubject": "s",
        "linkedinMessageTemplate": "m",
    }
    cid = create_li(api, linkedinAccountIds=["li_free"], steps=[inmail])["id"]
    data = api.call("GET", f"/api/v1/campaigns/{cid}/preflight").json()["data"]
    assert "linkedin_account_connected" in data["blockingFailures"]
    assert [(i["code"], i["blocking"]) for i in data["issues"]] == [("linkedin_account_not_found", True)]
    add_account(api, directory, "li_free", kind="free")
    data = api.call("GET", f"/api/v1/campaigns/{cid}/preflight").json()["data"]
    assert data["blockingFailures"] == ["inmail_account_type"]
    assert [(i["code"], i["blocking"]) for i in data["issues"]] == [("inmail_on_free_account", True)]


def test_an_email_campaign_preflight_has_no_linkedin_checks(api: Api, mailbox_factory: MailboxFactory) -> None:
    mailbox = mailbox_factory()
    cid = api.call(
        "POST", "/api/v1/campaigns", json={"name": "E", "mailboxIds": [mailbox.id], "steps": [STEP0]}
    ).json()["data"]["id"]
    data = api.call("GET", f"/api/v1/campaigns/{cid}/preflight").json()["data"]
    assert [c["name"] for c in data["checks"]] == [
        "has_steps",
        "has_prospects",
        "has_mailboxes",
        "mailbox_connected",
        "templates_valid",
        "schedule_set",
        "end_date_ok",
    ]
    assert data["issues"] == []


# --- stats -----------------------------------------------------------------------------------------------------
def test_stats_carry_linkedin_counters_per_linkedin_step(api: Api, mailbox_factory: MailboxFactory) -> None:
    mailbox = mailbox_factory()
    body = li_body(channel="multichannel", mailboxIds=[mailbox.id], steps=[STEP0, INVITE])
    cid = api.call("POST", "/api/v1/campaigns", json=body).json()["data"]["id"]
    data = api.call("GET", f"/api/v1/campaigns/{cid}/stats").json()["data"]
    assert [(s["type"], s["linkedin"]) for s in data["steps"]] == [
        ("email", None),
        ("linkedin", {"views": 0, "invites": 0, "acceptances": 0, "messages": 0, "replies": 0}),
    ]


def test_the_service_takes_an_injected_directory(api: Api) -> None:
    """A directory passed to the service wins over the installed one (how the lead wires the real one)."""
    cid = create_li(api)["id"]
    directory = Directory()
    directory.accounts[(api.tenant.workspace_id, "li_5a2b1c")] = LinkedInAccountState("connected", None)
    service = campaign_service()
    service = type(service)(enrollments=service.enrollments, linkedin_accounts=directory)
    assert service.start(api.tenant.workspace_id, cid).status == "running"


def test_linkedin_templates_take_part_in_the_launch_custom_field_check(api: Api, directory: Directory) -> None:
    add_account(api, directory, "li_5a2b1c")
    note = {**INVITE, "stepIndex": 0, "linkedinInviteNote": "Hi {{firstName}}, about {{custom.pitch}}"}
    cid = create_li(api, steps=[note])["id"]
    enroll(api, cid, [prospect(api, "nopitch@example.com", linkedinUrl="https://www.linkedin.com/in/nopitch")])
    refused = api.call("POST", f"/api/v1/campaigns/{cid}/start")
    assert refused.status_code == 400
    assert (error_of(refused)["code"], [d["field"] for d in error_of(refused)["details"]]) == (
        "unresolved_custom_fields",
        ["custom.pitch"],
    )
    preflight = api.call("GET", f"/api/v1/campaigns/{cid}/preflight").json()["data"]
    assert "templates_valid" in preflight["blockingFailures"]


def test_the_wait_accept_timeout_branch_round_trips_and_patches(api: Api) -> None:
    """`linkedinOnTimeout` (decisions.md "Waits."): wait_accept's timeout goes to the next step (`continue`) or
    stops the prospect (`stop`, the default help center L4297 describes); PATCH like the other LinkedIn fields."""
    continuing = {**WAIT, "stepIndex": 1, "linkedinOnTimeout": "continue"}
    cid = create_li(api, steps=[{**INVITE, "stepIndex": 0}, continuing, {**MESSAGE, "stepIndex": 2}])["id"]
    steps = api.call("GET", f"/api/v1/campaigns/{cid}").json()["data"]["steps"]
    assert [s.get("linkedinOnTimeout") for s in steps] == [None, "continue", None]
    base = f"/api/v1/campaigns/{cid}/steps/{steps[1]['id']}"
    stopped = api.call("PATCH", base, json={"linkedinOnTimeout": "stop"})
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["data"]["linkedinOnTimeout"] == "stop"
    untouched = api.call("PATCH", base, json={"linkedinMaxWaitDays": 7})
    assert (untouched.json()["data"]["linkedinOnTimeout"], untouched.json()["data"]["linkedinMaxWaitDays"]) == (
        "stop",
        7,
    )
    refused = api.call("PATCH", base, json={"linkedinOnTimeout": "later"})
    assert ("linkedinOnTimeout", "literal_error") in details(refused)
    assert api.call("GET", f"/api/v1/campaigns/{cid}").json()["data"]["steps"][1]["linkedinOnTimeout"] == "stop"
    added = api.call(
        "POST", f"/api/v1/campaigns/{cid}/steps", json={"type": "linkedin", "linkedinActionType": "wait_accept"}
    )
    assert added.json()["data"]["linkedinOnTimeout"] == "stop"  # the default, shown
    other = api.call(
        "PATCH",
        f"/api/v1/campaigns/{cid}/steps/{added.json()['data']['id']}",
        json={"linkedinActionType": "wait_reply"},
    )
    assert other.status_code == 200, other.text
    # another action drops it, like the other fields: wait_accept's `stop` is not carried over, wait_reply's own
    # default is shown
    assert (other.json()["data"]["linkedinOnTimeout"], other.json()["data"]["linkedinOnReply"]) == (
        "continue",
        "continue",
    )
    schema = api.call("GET", "/openapi.json").json()["components"]["schemas"]
    on_timeout = schema["StepInput"]["properties"]["linkedinOnTimeout"]
    assert {"stop", "continue"} <= set(json.dumps(on_timeout).replace('"', " ").split())


def test_the_wait_reply_branches_round_trip_and_patch(api: Api) -> None:
    """wait_reply is the condition "replied" (decisions.md "Waits."): `linkedinOnReply` (continue by default) when
    the prospect replied, `linkedinOnTimeout` (continue by default, what wait_reply always did) when the wait ran
    out; both stored and shown on every wait_reply step, PATCHed like the other LinkedIn fields, 400 elsewhere."""
    stopping = {**WAIT_REPLY, "stepIndex": 1, "linkedinOnReply": "stop", "linkedinOnTimeout": "stop"}
    plain = {**WAIT_REPLY, "stepIndex": 3}
    cid = create_li(api, steps=[{**VIEW}, stopping, {**MESSAGE, "stepIndex": 2}, plain])["id"]
    steps = api.call("GET", f"/api/v1/campaigns/{cid}").json()["data"]["steps"]
    shown = [(s["linkedinActionType"], s.get("linkedinOnReply"), s.get("linkedinOnTimeout")) for s in steps]
    assert shown == [
        ("view_profile", None, None),
        ("wait_reply", "stop", "stop"),
        ("send_message", None, None),
        ("wait_reply", "continue", "continue"),  # the defaults, shown
    ]
    base = f"/api/v1/campaigns/{cid}/steps/{steps[1]['id']}"
    patched = api.call("PATCH", base, json={"linkedinOnReply": "continue"})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["data"]["linkedinOnReply"], patched.json()["data"]["linkedinOnTimeout"]) == (
        "continue",
        "stop",
    )
    untouched = api.call("PATCH", base, json={"linkedinMaxWaitDays": 5})
    data = untouched.json()["data"]
    assert (data["linkedinOnReply"], data["linkedinOnTimeout"], data["linkedinMaxWaitDays"]) == ("continue", "stop", 5)
    cleared = api.call("PATCH", base, json={"linkedinOnReply": None, "linkedinOnTimeout": None})
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["data"]["linkedinOnReply"], cleared.json()["data"]["linkedinOnTimeout"]) == (
        "continue",
        "continue",
    )  # null clears a field to its default
    refused = api.call("PATCH", base, json={"linkedinOnReply": "later"})
    assert ("linkedinOnReply", "literal_error") in details(refused)
    on_message = api.call("PATCH", f"/api/v1/campaigns/{cid}/steps/{steps[2]['id']}", json={"linkedinOnReply": "stop"})
    assert error_of(on_message)["code"] == "validation_error"
    assert ("linkedinOnReply", "linkedin_field_not_allowed") in details(on_message)
    got = api.call("GET", f"/api/v1/campaigns/{cid}").json()["data"]["steps"]
    assert [(s.get("linkedinOnReply"), s.get("linkedinOnTimeout")) for s in got][1:3] == [
        ("continue", "continue"),
        (None, None),
    ]  # the refused PATCHes changed nothing
    to_accept = api.call("PATCH", base, json={"linkedinActionType": "wait_accept"})
    assert to_accept.status_code == 200, to_accept.text
    assert (to_accept.json()["data"]["linkedinOnReply"], to_accept.json()["data"]["linkedinOnTimeout"]) == (
        None,
        "stop",
    )  # wait_accept takes no reply branch; its own timeout default
    schema = api.call("GET", "/openapi.json").json()["components"]["schemas"]
    for model in ("StepInput", "StepUpdate"):
        on_reply = schema[model]["properties"]["linkedinOnReply"]
        assert {"stop", "continue"} <= set(json.dumps(on_reply).replace('"', " ").split())


def test_a_wait_step_stored_before_its_branch_fields_existed_shows_the_branches_the_engine_applies(api: Api) -> None:
    cid = create_li(api, steps=[{**VIEW}, {**WAIT_REPLY, "stepIndex": 1}, {**WAIT, "stepIndex": 2}])["id"]
    repo = CampaignRepository()
    record = repo.get(api.tenant.workspace_id, cid)
    old = [s.model_copy(update={"linkedin_on_reply": None, "linkedin_on_timeout": None}) for s in record.steps[1:]]
    repo.save(record, record.version, step_puts=old)  # as a step saved before the fields existed
    stored = repo.get(api.tenant.workspace_id, cid).steps
    assert [(s.linkedin_on_reply, s.linkedin_on_timeout) for s in stored[1:]] == [(None, None), (None, None)]
    steps = api.call("GET", f"/api/v1/campaigns/{cid}").json()["data"]["steps"]
    assert [(s.get("linkedinOnReply"), s.get("linkedinOnTimeout")) for s in steps[1:]] == [
        ("continue", "continue"),  # wait_reply
        (None, "stop"),  # wait_accept
    ]
