"""The links a real campaign email carries (scheduler -> sender -> SMTP sink, the sending engine's own test world)
work on the tracking function: the pixel and the click are counted, the List-Unsubscribe one-click unsubscribes."""

from __future__ import annotations

import email
import html
import re
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest

from kindling.campaigns.repository import CampaignRepository
from kindling.suppressions.service import SuppressionService
from tests.integration.sending.world import World
from tests.integration.tracking.conftest import CHROME, load_handler

TARGET = "https://acme.test/demo?x=1&y=two"
_LINK = re.compile(r'(?:href|src)="(https://track\.example\.test/[^"]+)"')


def _request(app: Any, method: str, url: str, body: bytes | None = None) -> dict[str, Any]:
    path = urlsplit(url).path
    event: dict[str, Any] = {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"user-agent": CHROME, **({"content-type": "application/x-www-form-urlencoded"} if body else {})},
        "requestContext": {"http": {"method": method, "path": path, "sourceIp": "203.0.113.7"}},
        "isBase64Encoded": False,
        **({"body": body.decode()} if body else {}),
    }
    response: dict[str, Any] = app.handler(event, None)
    return response


def test_a_sent_emails_links_are_tracked(world: World) -> None:
    mailbox = world.mailbox()
    body = f'<p>Hi {{{{firstName}}}}, see <a href="{html.escape(TARGET)}">the demo</a></p>'
    steps: list[dict[str, Any]] = [
        {"subject": "Hello", "body_html": body},
        {"subject": "Again", "body_html": "<p>Hi</p>", "delay_days": 3},
    ]
    campaign = world.campaign([mailbox], steps, minutes_between_sends=0)
    [ann] = world.prospects(["ann@client.test"])
    world.enroll(campaign, [ann])
    _, result = world.run()
    assert result.sent == 1

    message: EmailMessage = email.message_from_bytes(
        world.delivered_to("ann@client.test")[0].content, policy=policy.default
    )  # type: ignore[assignment]
    part = message.get_body(("html",))
    assert part is not None
    links = [html.unescape(link) for link in _LINK.findall(part.get_content())]
    pixel = next(link for link in links if "/t/o/" in link)
    click = next(link for link in links if "/t/c/" in link)
    one_click = next(u.strip("<> ") for u in str(message["List-Unsubscribe"]).split(",") if "/u/" in u)

    app = load_handler()
    world.clock.advance(timedelta(minutes=20))  # the recipient reads it later
    assert _request(app, "GET", pixel)["statusCode"] == 200
    world.clock.advance(timedelta(seconds=30))
    redirect = _request(app, "GET", click)
    assert (redirect["statusCode"], redirect["headers"]["location"]) == (302, TARGET)
    world.clock.advance(timedelta(minutes=1))
    assert _request(app, "POST", one_click, b"List-Unsubscribe=One-Click")["statusCode"] == 200

    stats = CampaignRepository().get(world.workspace_id, campaign.campaign_id).stats
    assert (stats.sent, stats.opened, stats.clicked, stats.unsubscribed) == (1, 1, 1, 1)
    assert world.enrollment(campaign, ann).status == "unsubscribed"  # the second step will not go out
    assert world.run(timedelta(days=4))[0].claimed == 0
    assert SuppressionService().check(world.workspace_id, "ann@client.test").blocked


def test_after_a_rotation_new_emails_are_signed_with_the_current_secret(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kindling.platform.settings import reset_settings
    from kindling.sending.tokens import verify
    from tests.integration.sending.world import TRACKING_SECRET

    rotated = "tracking-secret-after-rotation"  # a test value, not a credential
    monkeypatch.setenv("KINDLING_TRACKING_SECRET", rotated)
    monkeypatch.setenv("KINDLING_TRACKING_SECRET_PREVIOUS", TRACKING_SECRET)
    reset_settings()
    mailbox = world.mailbox()
    body = f'<p>Hi, see <a href="{html.escape(TARGET)}">the demo</a></p>'
    campaign = world.campaign([mailbox], [{"subject": "Hello", "body_html": body}], minutes_between_sends=0)
    [bob] = world.prospects(["bob@client.test"])
    world.enroll(campaign, [bob])
    assert world.run()[1].sent == 1

    message: EmailMessage = email.message_from_bytes(
        world.delivered_to("bob@client.test")[0].content, policy=policy.default
    )  # type: ignore[assignment]
    part = message.get_body(("html",))
    assert part is not None
    links = [html.unescape(link) for link in _LINK.findall(part.get_content())]
    links += [u.strip("<> ") for u in str(message["List-Unsubscribe"]).split(",") if "/u/" in u]
    tokens = [urlsplit(link).path.rsplit("/", 1)[1] for link in links]
    kinds = set()
    for token in tokens:
        payload = verify(token, rotated)
        assert payload is not None
        kinds.add(payload.kind.value)
        assert verify(token, TRACKING_SECRET) is None
    assert kinds == {"o", "c", "u"}  # the pixel, the click and the unsubscribe links
