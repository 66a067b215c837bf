"""Issue 18 on the local stack: a LinkedIn campaign (view, invite with a note) runs through the template's real
functions: the email scheduler hands the enrollment over, the LinkedIn scheduler claims the step, the action
queue's poller feeds the worker, the emulator receives one invitation, and the stats count it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from devstack.runtime import LocalStack
from kindling.platform.clock import ManualClock, set_clock
from tests.e2e.support import SCHEDULED, own_workspace

WEDNESDAY = datetime(2026, 6, 17, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(WEDNESDAY)
    previous = set_clock(manual)
    yield manual
    set_clock(previous)


def _tick(stack: LocalStack, clock: ManualClock) -> None:
    event: dict[str, Any] = {**SCHEDULED, "time": clock.now().isoformat()}
    stack.invoke("SchedulerFunction", event)
    stack.invoke("LinkedInSchedulerFunction", event)
    stack.drain(timeout=60)


def _running_campaign(
    stack: LocalStack,
    api: httpx.Client,
    name: str,
    account_name: str,
    steps: list[dict[str, Any]],
    prefix: str,
    first_name: str,
) -> tuple[str, str, str, str]:
    """A LinkedIn account connected through the emulator's hosted auth, a running all-week campaign with `steps` on
    it and one prospect enrolled: (campaign id, prospect id, the prospect's profile slug, the account id)."""
    started = api.post("/api/v1/linkedin/accounts/connect")
    assert started.status_code == 201, started.text
    account_id = started.json()["data"]["account"]["id"]
    token = urlsplit(started.json()["data"]["url"]).path.rsplit("/", 1)[-1]
    with httpx.Client(base_url=stack.linkedin_provider.control_url, trust_env=False, timeout=30) as control:
        done = control.post(f"/hosted/{token}/complete", json={"name": account_name})
        assert done.status_code in (200, 201), done.text
    body = {
        "name": name,
        "channel": "linkedin",
        "linkedinAccountIds": [account_id],
        "scheduleDays": [1, 2, 3, 4, 5, 6, 7],
        "sendingWindows": [{"start": "00:00", "end": "24:00"}],
        "steps": steps,
    }
    created = api.post("/api/v1/campaigns", json=body)
    assert created.status_code == 201, created.text
    cid = created.json()["data"]["id"]
    assert api.post(f"/api/v1/campaigns/{cid}/start").status_code == 200
    slug = f"{prefix}-{cid[:8]}"
    prospect = api.post(
        "/api/v1/prospects",
        json={
            "email": f"{slug}@example.com",
            "firstName": first_name,
            "linkedinUrl": f"https://www.linkedin.com/in/{slug}",
        },
    )
    assert prospect.status_code == 201, prospect.text
    pid = prospect.json()["data"]["id"]
    enrolled = api.post(f"/api/v1/campaigns/{cid}/enrollments", json={"prospectIds": [pid]})
    assert enrolled.status_code == 200, enrolled.text
    return cid, pid, slug, account_id


def test_a_linkedin_campaign_runs_through_the_stacks_functions(local_stack: LocalStack, clock: ManualClock) -> None:
    headers = own_workspace(local_stack, "LinkedIn engine e2e")
    with httpx.Client(base_url=local_stack.api_url, headers=headers, trust_env=False, timeout=60) as api:
        steps = [
            {"stepIndex": 0, "type": "linkedin", "linkedinActionType": "view_profile", "delayDays": 0},
            {
                "stepIndex": 1,
                "type": "linkedin",
                "linkedinActionType": "send_invite",
                "linkedinInviteNote": "Hi {{firstName}}!",
                "delayDays": 0,
            },
        ]
        cid, _, slug, _ = _running_campaign(local_stack, api, "LinkedIn e2e", "E2E Engine", steps, "e2e", "Lin")

        emulator = local_stack.linkedin_provider
        for _ in range(8):
            _tick(local_stack, clock)
            clock.advance(timedelta(minutes=1))
        member = emulator._profile_for(slug).provider_id
        invitations = [i for i in emulator.invitations.values() if i.provider_id == member]
        assert [i.message for i in invitations] == ["Hi Lin!"]
        stats = api.get(f"/api/v1/campaigns/{cid}/stats").json()["data"]
        assert [s["linkedin"] for s in stats["steps"]] == [
            {"views": 1, "invites": 0, "acceptances": 0, "messages": 0, "replies": 0},
            {"views": 0, "invites": 1, "acceptances": 0, "messages": 0, "replies": 0},
        ]


def test_the_campaigns_message_and_the_reply_share_one_inbox_conversation_on_the_stack(
    local_stack: LocalStack, clock: ManualClock
) -> None:
    """The worker function files the message it sends; the prospect's reply (found by the engine function's inbox
    poll) lands in the same conversation, after it."""
    headers = own_workspace(local_stack, "LinkedIn inbox e2e")
    with httpx.Client(base_url=local_stack.api_url, headers=headers, trust_env=False, timeout=60) as api:
        steps = [
            {"stepIndex": 0, "type": "linkedin", "linkedinActionType": "send_invite", "delayDays": 0},
            {"stepIndex": 1, "type": "linkedin", "linkedinActionType": "wait_accept", "delayDays": 0},
            {
                "stepIndex": 2,
                "type": "linkedin",
                "linkedinActionType": "send_message",
                "linkedinMessageTemplate": "Thanks, {{firstName}}!",
                "delayDays": 0,
            },
        ]
        cid, pid, slug, account_id = _running_campaign(
            local_stack, api, "LinkedIn inbox e2e", "E2E Inbox", steps, "e2e-inbox", "Noor"
        )

        emulator = local_stack.linkedin_provider
        member = emulator._profile_for(slug).provider_id
        for _ in range(3):
            _tick(local_stack, clock)
            clock.advance(timedelta(minutes=1))
        (invitation,) = [i for i in emulator.invitations.values() if i.provider_id == member]
        ingress = f"{local_stack.api_url}/linkedin/provider/webhook"
        delivered = len(emulator.deliveries)
        emulator.accept_invitation(invitation.id)
        # the stack registered the provider's new-relation and new-message webhooks itself: the acceptance reaches
        # its ingress at once, and the engine function's 6-hour poll then finds nothing left to count
        assert [(d.url, d.source, d.status) for d in emulator.deliveries[delivered:]] == [(ingress, "users", 200)]
        assert local_stack.invoke("LinkedInEngineFunction", {"task": "poll_relations"})["acceptances"] == 0
        clock.advance(timedelta(hours=25))
        for _ in range(3):
            _tick(local_stack, clock)
            clock.advance(timedelta(minutes=1))
        (chat,) = [c for c in emulator.chats.values() if c.attendee_provider_id == member]
        assert [m.text for m in chat.messages] == ["Thanks, Noor!"]

        delivered = len(emulator.deliveries)
        emulator.inbound_message(invitation.account_id, slug, "Happy to chat")
        # the reply arrives by the new-message webhook; the inbox poll finds it already counted
        assert [(d.url, d.source, d.status) for d in emulator.deliveries[delivered:]] == [(ingress, "messaging", 200)]
        assert local_stack.invoke("LinkedInEngineFunction", {"task": "poll_inbox"})["replies"] == 0
        listed = api.get("/api/v1/inbox/conversations", params={"channel": "linkedin", "campaign_id": cid})
        assert listed.status_code == 200, listed.text
        (conversation,) = listed.json()["data"]
        assert (conversation["lead_id"], conversation["mailbox_id"]) == (pid, account_id)
        detail = api.get(f"/api/v1/inbox/conversations/{conversation['id']}").json()["data"]
        assert [(m["direction"], m["text_body"], m["linkedin_chat_id"]) for m in detail["messages"]] == [
            ("outgoing", "Thanks, Noor!", chat.id),
            ("incoming", "Happy to chat", chat.id),
        ]
