"""A rotated tracking secret over real HTTP: the local stack serves the template's tracking routes on its API port,
with the environment a deploy after a rotation gives the function (KINDLING_TRACKING_SECRET = the new secret,
KINDLING_TRACKING_SECRET_PREVIOUS = the one it replaced). Links already sent still work; a link signed with a secret
this stack never had gets a 404; a link signed with the new secret works."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from devstack.runtime import LocalStack
from kindling.auth.service import AuthService
from kindling.campaigns.repository import CampaignRepository
from kindling.sending.tokens import click_token, open_token
from kindling.tracking.pages import PIXEL_GIF
from tests.integration.tracking.builders import Scenario, scenario

BEFORE = "tracking-secret-before-rotation"  # test values, not credentials
AFTER = "tracking-secret-after-rotation"
NEVER = "a-secret-this-stack-never-had"
DEMO = "https://acme.example/demo"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


@pytest.fixture(scope="module")
def rotated_stack() -> Iterator[LocalStack]:
    env = {"KINDLING_TRACKING_SECRET": AFTER, "KINDLING_TRACKING_SECRET_PREVIOUS": BEFORE}
    with LocalStack(api=True, mail_lab=False, seed=False, pollers=False, schedules=False, env=env) as stack:
        yield stack


@pytest.fixture
def world(rotated_stack: LocalStack) -> Scenario:
    return scenario(AuthService().create_workspace("Rotation over HTTP").id)


def test_links_across_a_rotation_over_http(rotated_stack: LocalStack, world: Scenario) -> None:
    ws, send = world.workspace_id, world.send.send_id
    with httpx.Client(
        base_url=rotated_stack.api_url, headers={"User-Agent": CHROME}, timeout=30, trust_env=False
    ) as web:
        old_pixel = web.get(f"/t/o/{open_token(ws, send, BEFORE)}")
        assert (old_pixel.status_code, old_pixel.content) == (200, PIXEL_GIF)
        old_click = web.get(f"/t/c/{click_token(ws, send, DEMO, BEFORE)}")
        assert (old_click.status_code, old_click.headers["location"]) == (302, DEMO)

        forged = web.get(f"/t/c/{click_token(ws, send, 'https://evil.example/', NEVER)}")
        assert forged.status_code == 404 and "location" not in forged.headers
        assert web.get(f"/t/o/{open_token(ws, send, NEVER)}").status_code == 404

        new_pixel = web.get(f"/t/o/{open_token(ws, send, AFTER)}")
        assert (new_pixel.status_code, new_pixel.content) == (200, PIXEL_GIF)
    # The old link's open was recorded (once per send): the previous secret is really accepted, not just served.
    assert CampaignRepository().get(ws, world.campaign.id).stats.opened == 1
