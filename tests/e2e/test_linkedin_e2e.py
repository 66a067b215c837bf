"""Issue 17 on the local stack, over HTTP: connect a LinkedIn account through the provider emulator's hosted auth,
react to posts until the engagement cap answers 429, flip the account to CREDENTIALS in the emulator and see it
detected (the provider's webhook, then the real sweep state machine), `linkedin.account_disconnected` delivered to
a real receiver once, the 24 h notification sent once (an injected clock), and the account reconnected."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from devstack.runtime import LocalStack
from kindling.linkedin.service import LinkedInAccountService
from kindling.platform.clock import ManualClock, get_clock
from tests.e2e.support import own_workspace
from tests.integration.webhooks.receiver import running_receiver


def _emulator(stack: LocalStack, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    with httpx.Client(base_url=stack.linkedin_provider.control_url, trust_env=False, timeout=30) as control:
        response = control.request(method, path, json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()


def _token(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1]


def test_connect_react_to_the_cap_disconnect_notify_and_reconnect(local_stack: LocalStack) -> None:
    headers = own_workspace(local_stack, "LinkedIn e2e")
    with (
        httpx.Client(base_url=local_stack.api_url, headers=headers, trust_env=False, timeout=60) as api,
        running_receiver() as receiver,
    ):
        hook = api.post(
            "/api/v1/webhooks", json={"url": receiver.url("/li"), "events": ["linkedin.account_disconnected"]}
        )
        assert hook.status_code == 201, hook.text

        # Connect through hosted auth: the user completes the emulator's hosted page, the emulator calls the
        # stack's notify URL, the row is linked.
        started = api.post("/api/v1/linkedin/accounts/connect")
        assert started.status_code == 201, started.text
        account_id = started.json()["data"]["account"]["id"]
        again = api.post("/api/v1/linkedin/accounts/connect")
        assert again.json()["data"]["url"] == started.json()["data"]["url"]  # within 90 s: the same URL
        provider_id = _emulator(
            local_stack, "POST", f"/hosted/{_token(started.json()['data']['url'])}/complete", {"name": "E2E Jordan"}
        )["account_id"]
        account = api.get(f"/api/v1/linkedin/accounts/{account_id}").json()["data"]
        assert (account["status"], account["name"]) == ("connected", "E2E Jordan")

        # React until the engagement cap: an explicit, acknowledged override of 2 a day keeps it under the pace.
        lowered = api.patch(
            f"/api/v1/linkedin/accounts/{account_id}",
            json={"overrides": {"engagements_day": 2}, "risk_acknowledged": True},
        )
        assert lowered.json()["data"]["daily_limits"] == {"engagements_per_day": 2, "engagements_remaining": 2}
        body = {"linkedin_account_id": account_id, "reaction_type": "LIKE"}
        for n in (1, 2):
            post = quote(f"urn:li:activity:73000000000000000{n:02d}", safe="")
            made = api.post(f"/api/v1/linkedin/posts/{post}/reactions", json=body)
            assert made.status_code == 201, made.text
        refused = api.post(
            f"/api/v1/linkedin/posts/{quote('urn:li:activity:7300000000000000099', safe='')}/reactions", json=body
        )
        assert refused.status_code == 429, refused.text
        detail = refused.json()["error"]["details"][0]
        assert (detail["limit"], detail["used"], detail["remaining"]) == (2, 2, 0)
        reactions = [
            r for r in _emulator(local_stack, "GET", "/requests")["items"] if r["path"].endswith("/posts/reaction")
        ]
        assert len(reactions) == 2  # the refused one never reached the provider

        # The session expires at the provider: its status webhook reaches the stack's ingress.
        _emulator(local_stack, "POST", f"/accounts/{provider_id}/status", {"status": "CREDENTIALS"})
        detected = api.get(f"/api/v1/linkedin/accounts/{account_id}").json()["data"]
        assert detected["status"] == "disconnected"
        # The real sweep state machine finds nothing more to flip and still runs to the end.
        execution = local_stack.start_execution("LinkedInSweepStateMachine", {"run": "health"})
        assert local_stack.wait_execution(execution, timeout=120)["status"] == "SUCCEEDED"
        assert api.get(f"/api/v1/linkedin/accounts/{account_id}").json()["data"]["status"] == "disconnected"

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not receiver.received("/li"):
            local_stack.drain()
            time.sleep(0.2)
        local_stack.drain()
        delivered = [json.loads(r.body) for r in receiver.received("/li")]
        assert len(delivered) == 1, delivered
        assert account_id in json.dumps(delivered[0])

        # 24 hours later (an injected clock) one notification, and only one.
        sent: list[tuple[str, str, str]] = []
        later = ManualClock(get_clock().now() + timedelta(hours=24, seconds=1))
        notifier = LinkedInAccountService(clock=later, notify=lambda *message: sent.append(message))
        notifier.notify_long_outages()
        notifier.notify_long_outages()
        mine = [m for m in sent if "E2E Jordan" in m[1]]
        assert [m[1] for m in mine] == ["Your LinkedIn account E2E Jordan needs to be reconnected"]

        # Reconnect through hosted auth.
        reconnect = api.post(f"/api/v1/linkedin/accounts/{account_id}/reconnect")
        assert reconnect.status_code == 200, reconnect.text
        _emulator(local_stack, "POST", f"/hosted/{_token(reconnect.json()['data']['url'])}/complete", {})
        back = api.get(f"/api/v1/linkedin/accounts/{account_id}").json()["data"]
        assert (back["status"], back["disconnected_since"]) == ("connected", None)


def test_the_demo_workspace_has_a_connected_emulator_account(local_stack: LocalStack) -> None:
    headers = {"Authorization": f"Bearer {local_stack.api_key}"}
    with httpx.Client(base_url=local_stack.api_url, headers=headers, trust_env=False, timeout=30) as api:
        listed = api.get("/api/v1/linkedin/accounts")
        assert listed.status_code == 200, listed.text
        demo = [a for a in listed.json()["data"] if a["id"] == local_stack.linkedin_account_id]
        assert demo and demo[0]["status"] == "connected" and demo[0]["name"] == "Demo LinkedIn account"
        assert local_stack.dev_info()["linkedin_provider"]["linkedin_account_id"] == local_stack.linkedin_account_id
        # The reference's own example works against the local stack: any well-formed post id.
        made = api.post(
            "/api/v1/linkedin/posts/urn%3Ali%3Aactivity%3A7300000000000000000/reactions",
            json={"linkedin_account_id": local_stack.linkedin_account_id, "reaction_type": "LIKE"},
        )
        assert made.status_code == 201, made.text
        assert made.json()["data"] == {
            "post_id": "urn:li:activity:7300000000000000000",
            "reaction_type": "LIKE",
            "linkedin_account_id": local_stack.linkedin_account_id,
        }
