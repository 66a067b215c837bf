"""Rotating the tracking secret: links already sent (signed with the previous secret) keep working on the tracking
function, links signed with a secret that was never ours are refused, and only one previous secret is kept.

Each "deploy" is a fresh copy of functions/tracking/app.py (a cold start) with the environment the template gives
it: KINDLING_TRACKING_SECRET (current) and KINDLING_TRACKING_SECRET_PREVIOUS.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from kindling.campaigns.repository import CampaignRepository
from kindling.sending.tokens import click_token, open_token, unsubscribe_token
from tests.integration.tracking.conftest import SECRET, Tracking, load_handler, table_snapshot

ROTATED = "tracking-secret-after-rotation"  # test values, not credentials
ROTATED_AGAIN = "tracking-secret-after-the-second-rotation"
NEVER_VALID = "a-secret-this-stack-never-had"
DEMO = "https://acme.example/demo"
ONE_CLICK = b"List-Unsubscribe=One-Click"


def _deploy(t: Tracking, monkeypatch: pytest.MonkeyPatch, current: str, previous: str) -> None:
    monkeypatch.setenv("KINDLING_TRACKING_SECRET", current)
    monkeypatch.setenv("KINDLING_TRACKING_SECRET_PREVIOUS", previous)
    t.app = load_handler()


def _counts(t: Tracking) -> tuple[int, int, int]:
    stats = CampaignRepository().get(t.workspace_id, t.world.campaign.id).stats
    return stats.opened, stats.clicked, stats.unsubscribed


def test_links_sent_before_a_rotation_work_after_it(tracking: Tracking, monkeypatch: pytest.MonkeyPatch) -> None:
    t = tracking
    ws, send = t.workspace_id, t.world.send.send_id
    # Links in an email sent before the rotation: signed with the secret of the time.
    old_pixel = f"/t/o/{open_token(ws, send, SECRET)}"
    old_click = f"/t/c/{click_token(ws, send, DEMO, SECRET, url_index=0)}"
    old_unsubscribe = f"/u/{unsubscribe_token(ws, send, SECRET)}"

    _deploy(t, monkeypatch, current=ROTATED, previous=SECRET)
    t.clock.advance(timedelta(minutes=5))

    assert t.request("GET", old_pixel)["statusCode"] == 200
    t.clock.advance(timedelta(seconds=30))  # a person reads, then clicks (an instant click looks like a scanner)
    clicked = t.request("GET", old_click)
    assert (clicked["statusCode"], clicked["headers"]["location"]) == (302, DEMO)
    t.clock.advance(timedelta(minutes=1))
    assert t.request("GET", old_unsubscribe)["statusCode"] == 200
    assert t.request("POST", old_unsubscribe, body=ONE_CLICK)["statusCode"] == 200
    assert _counts(t) == (1, 1, 1)
    assert [e.type for e in t.events()] == [
        "email.opened",
        "email.clicked",
        "prospect.suppressed",
        "email.unsubscribed",
    ]


def test_links_signed_with_the_new_secret_work(tracking: Tracking, monkeypatch: pytest.MonkeyPatch) -> None:
    t = tracking
    _deploy(t, monkeypatch, current=ROTATED, previous=SECRET)
    t.clock.advance(timedelta(minutes=5))
    pixel = t.request("GET", f"/t/o/{open_token(t.workspace_id, t.world.send.send_id, ROTATED)}")
    assert pixel["statusCode"] == 200
    assert _counts(t) == (1, 0, 0)


def test_a_link_signed_with_a_never_valid_secret_is_refused(
    tracking: Tracking, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = tracking
    ws, send = t.workspace_id, t.world.send.send_id
    _deploy(t, monkeypatch, current=ROTATED, previous=SECRET)
    before = table_snapshot()

    for path, method in (
        (f"/t/o/{open_token(ws, send, NEVER_VALID)}", "GET"),
        (f"/t/c/{click_token(ws, send, 'https://evil.example/', NEVER_VALID)}", "GET"),
        (f"/u/{unsubscribe_token(ws, send, NEVER_VALID)}", "GET"),
    ):
        response = t.request(method, path)
        assert response["statusCode"] == 404, path
        assert "location" not in response["headers"]
    assert t.request("POST", f"/u/{unsubscribe_token(ws, send, NEVER_VALID)}", body=ONE_CLICK)["statusCode"] == 404
    assert table_snapshot() == before
    assert t.events() == []


def test_only_one_previous_secret_is_kept(tracking: Tracking, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two rotations retire the first secret: its links stop working, the middle secret's still work."""
    t = tracking
    ws, send = t.workspace_id, t.world.send.send_id
    _deploy(t, monkeypatch, current=ROTATED_AGAIN, previous=ROTATED)
    assert t.request("GET", f"/t/o/{open_token(ws, send, SECRET)}")["statusCode"] == 404
    assert t.request("GET", f"/t/o/{open_token(ws, send, ROTATED)}")["statusCode"] == 200
