"""Tracking over HTTP on the local stack: the links an email carries (built on the public base URL, which locally
is the API's own port) reach the tracking Lambda handler through the template's HttpApi routes; opens, clicks and
a one-click unsubscribe show up in the campaign's stats, the suppression list and the workspace's webhooks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from devstack.runtime import LocalStack
from kindling.auth.scopes import ALL_SCOPES
from kindling.auth.service import AuthService
from kindling.platform.clock import ManualClock, set_clock
from kindling.platform.settings import get_settings
from kindling.sending.tokens import click_token, open_token, unsubscribe_token
from kindling.tracking.pages import PIXEL_GIF
from tests.integration.tracking.builders import Scenario, scenario
from tests.integration.webhooks.receiver import Receiver, running_receiver

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
DEMO = "https://acme.example/demo?utm_source=kindling"
EVENTS = ("email.opened", "email.clicked", "email.unsubscribed", "prospect.suppressed")


@dataclass
class Tenant:
    api: httpx.Client  # the public API, authenticated
    web: httpx.Client  # what a recipient's mail client or browser does: no auth, no redirects followed
    stack: LocalStack
    receiver: Receiver
    world: Scenario

    def link(self, path: str, token: str) -> str:
        return f"{get_settings().public_base_url}/{path}/{token}"

    def wait_for_events(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.receiver.received()) < count:
            self.stack.drain()
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} webhook deliveries, got {len(self.receiver.received())}")
            time.sleep(0.05)
        return [json.loads(r.body) for r in self.receiver.received()]


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    """Every handler reads this clock, so the test moves time instead of sleeping through the scanner windows."""
    manual = ManualClock(datetime.now(UTC).replace(microsecond=0))
    previous = set_clock(manual)
    yield manual
    set_clock(previous)


@pytest.fixture
def tenant(local_stack: LocalStack, clock: ManualClock) -> Iterator[Tenant]:
    auth = AuthService()
    workspace = auth.create_workspace("E2E tracking")
    _, key = auth.create_api_key(workspace.id, name="e2e tracking", scopes=ALL_SCOPES)
    with (
        running_receiver() as receiver,
        httpx.Client(base_url=local_stack.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as api,
        httpx.Client(headers={"User-Agent": CHROME}, timeout=30, follow_redirects=False, trust_env=False) as web,
    ):
        hook = api.post("/api/v1/webhooks", json={"url": receiver.url("/hook"), "events": list(EVENTS)})
        assert hook.status_code == 201, hook.text
        yield Tenant(api, web, local_stack, receiver, scenario(workspace.id))
        api.delete(f"/api/v1/webhooks/{hook.json()['data']['id']}")


def test_tracking_links_work_end_to_end(tenant: Tenant, clock: ManualClock) -> None:
    t, world = tenant, tenant.world
    ws, send_id, secret = world.workspace_id, world.send.send_id, get_settings().tracking_secret
    assert secret and get_settings().public_base_url == t.stack.api_url  # links point at the local API port

    # The pixel: a scanner's fetch is served but not counted, the recipient's is.
    pixel = t.link("t/o", open_token(ws, send_id, secret))
    scanned = t.web.get(pixel, headers={"User-Agent": "Mozilla/5.0 (compatible; ms-office; MSOffice 16)"})
    assert scanned.status_code == 200 and scanned.content == PIXEL_GIF
    clock.advance(timedelta(minutes=5))  # the recipient reads it later
    opened = t.web.get(pixel)
    assert (opened.status_code, opened.headers["content-type"], opened.content) == (200, "image/gif", PIXEL_GIF)
    assert "no-store" in opened.headers["cache-control"]

    # The click: a redirect to the signed URL only, whatever the query says.
    clock.advance(timedelta(seconds=20))
    clicked = t.web.get(t.link("t/c", click_token(ws, send_id, DEMO, secret)), params={"url": "https://evil.example/"})
    assert (clicked.status_code, clicked.headers["location"]) == (302, DEMO)
    forged = t.web.get(t.link("t/c", click_token(ws, send_id, "https://evil.example/", "guessed-secret")))
    assert forged.status_code == 404 and "location" not in forged.headers

    # Unsubscribe: the page only asks; the RFC 8058 POST (what its button sends too) unsubscribes, once.
    page_url = t.link("u", unsubscribe_token(ws, send_id, secret))
    page = t.web.get(page_url)
    assert page.status_code == 200 and '<form method="post">' in page.text and world.prospect.email in page.text
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    done = t.web.post(page_url, headers=form, content=b"List-Unsubscribe=One-Click")
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    again = t.web.post(page_url, headers=form, content=b"List-Unsubscribe=One-Click")
    assert (again.status_code, again.text) == (200, done.text)

    # What the API shows afterwards.
    campaign = t.api.get(f"/api/v1/campaigns/{world.campaign.id}").json()["data"]
    assert (campaign["opened"], campaign["clicked"], campaign["unsubscribed"]) == (1, 1, 1)
    entries = t.api.get("/api/v1/suppressions", params={"type": "email"}).json()["data"]
    assert [e["value"] for e in entries] == [world.prospect.email]
    prospect = t.api.get(f"/api/v1/prospects/{world.prospect.id}").json()["data"]
    assert prospect["globalStatus"] == "unsubscribed"

    # Each event reached the workspace's webhook once, with the reference's payload.
    deliveries = t.wait_for_events(4)
    time.sleep(0.5)
    t.stack.drain()
    assert len(t.receiver.received()) == 4  # the repeats (second open, second unsubscribe) emitted nothing
    by_type = {d["type"]: d["data"] for d in deliveries}
    assert set(by_type) == set(EVENTS), deliveries
    assert by_type["email.clicked"]["url"] == DEMO
    assert by_type["email.opened"]["prospectEmail"] == world.prospect.email
    assert by_type["email.unsubscribed"]["campaignId"] == world.campaign.id
    assert by_type["prospect.suppressed"]["reason"] == "unsubscribe"
    # Every tracking request went through the tracking function's Lambda handler.
    routes = {e["routeKey"] for f, e in t.stack.invocations if f == "TrackingFunction"}
    assert routes == {"GET /t/o/{token}", "GET /t/c/{token}", "GET /u/{token}", "POST /u/{token}"}
