"""The tracking function over moto: opens, clicks and unsubscribes recorded once, events published with the
reference's dedup, scanners and bad tokens recording nothing, and no open redirect."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta

import pytest

from kindling.campaigns.models import CampaignStats
from kindling.campaigns.repository import CampaignRepository
from kindling.enrollments.repository import EnrollmentRepository
from kindling.platform.clock import isoformat
from kindling.sending.ledger import SendLedgerRepository
from kindling.sending.tokens import Kind, TokenPayload, click_token, open_token, sign, unsubscribe_token
from kindling.suppressions.service import SuppressionService
from kindling.tracking.pages import PIXEL_GIF
from tests.integration.tracking.builders import scenario, write_send
from tests.integration.tracking.conftest import CHROME, SECRET, Tracking, table_snapshot

DEMO = "https://acme.example/demo?utm_source=kindling&x=1"
PRICING = "https://acme.example/pricing"
ONE_CLICK = b"List-Unsubscribe=One-Click"


def _stats(t: Tracking, step: int = 0) -> tuple[CampaignStats, CampaignStats, CampaignStats]:
    campaign = CampaignRepository().get(t.workspace_id, t.world.campaign.id)
    step_id = campaign.steps[step].id
    return campaign.stats, campaign.step_stats[step_id], campaign.variant_stats[f"{step_id}#A"]


def _counts(t: Tracking) -> dict[str, int]:
    stats = CampaignRepository().get(t.workspace_id, t.world.campaign.id).stats
    return {"opened": stats.opened, "clicked": stats.clicked, "unsubscribed": stats.unsubscribed}


def test_an_open_is_recorded_once_and_emitted_once(tracking: Tracking) -> None:
    t = tracking
    first = t.open()
    assert first["statusCode"] == 200 and base64.b64decode(first["body"]) == PIXEL_GIF
    opened_at = t.clock.now()
    t.clock.advance(timedelta(minutes=10))
    assert t.open()["statusCode"] == 200

    assert [s.opened for s in _stats(t)] == [1, 1, 1]  # campaign, step, variant
    assert SendLedgerRepository().get(t.workspace_id, t.world.send.send_id).opened_at == opened_at
    events = t.events()
    assert [e.type for e in events] == ["email.opened"]
    assert events[0].campaign_id == t.world.campaign.id
    assert events[0].data == {
        "prospectId": t.world.prospect.id,
        "prospectEmail": "jane@acme.example",
        "campaignId": t.world.campaign.id,
        "mailboxId": "mbx-tracking-test",
        "stepIndex": 0,
        "openedAt": isoformat(opened_at),
    }


def test_the_next_steps_open_counts_for_its_step_without_a_second_event(tracking: Tracking) -> None:
    t = tracking
    t.open()
    second = write_send(t.workspace_id, t.world.campaign, t.world.prospect, t.world.enrollment_id, step=1)
    t.clock.advance(timedelta(days=2))
    t.open(second.send_id)
    assert [s.opened for s in _stats(t, step=1)][1:] == [1, 1]
    assert [e.type for e in t.events()] == ["email.opened"]  # first open per prospect per campaign


def test_clicks_redirect_count_once_and_emit_per_url_per_day(tracking: Tracking) -> None:
    t = tracking
    response = t.click(DEMO)
    assert (response["statusCode"], response["headers"]["location"]) == (302, DEMO)
    t.clock.advance(timedelta(minutes=1))
    t.click(DEMO)
    t.clock.advance(timedelta(minutes=1))
    assert t.click(PRICING)["headers"]["location"] == PRICING
    assert [(e.type, e.data["url"]) for e in t.events()] == [("email.clicked", DEMO), ("email.clicked", PRICING)]
    t.clock.advance(timedelta(days=1))
    t.click(DEMO)
    assert [(e.type, e.data["url"]) for e in t.events()] == [("email.clicked", DEMO)]
    assert [s.clicked for s in _stats(t)] == [1, 1, 1]
    assert _counts(t) == {"opened": 0, "clicked": 1, "unsubscribed": 0}


def _flip_last(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


BAD: list[tuple[str, Callable[[str, str], str]]] = [
    ("GET", lambda ws, s: "/t/o/" + open_token(ws, s, "not-our-secret")),
    ("GET", lambda ws, s: "/t/o/" + _flip_last(open_token(ws, s, SECRET))),
    ("GET", lambda ws, s: "/t/c/" + click_token(ws, s, DEMO, "not-our-secret")),
    ("GET", lambda ws, s: "/t/c/" + _flip_last(click_token(ws, s, DEMO, SECRET))),
    ("GET", lambda ws, s: "/t/c/" + unsubscribe_token(ws, s, SECRET)),
    ("GET", lambda ws, s: "/t/o/" + "A" * 80),
    ("GET", lambda ws, s: "/u/" + _flip_last(unsubscribe_token(ws, s, SECRET))),
    ("POST", lambda ws, s: "/u/" + unsubscribe_token(ws, s, "not-our-secret")),
    ("POST", lambda ws, s: "/u/" + open_token(ws, s, SECRET)),
    ("POST", lambda ws, s: "/u/" + _flip_last(unsubscribe_token(ws, s, SECRET))),
    # Genuine, but for a send that does not exist: nobody to unsubscribe.
    ("POST", lambda ws, s: "/u/" + unsubscribe_token(ws, "f" * 32, SECRET)),
]


@pytest.mark.parametrize(("method", "make_path"), BAD)
def test_bad_tokens_are_404_and_record_nothing(
    tracking: Tracking, method: str, make_path: Callable[[str, str], str]
) -> None:
    t = tracking
    before = table_snapshot()
    response = t.request(method, make_path(t.workspace_id, t.world.send.send_id), body=ONE_CLICK)
    assert response["statusCode"] == 404 and "location" not in response["headers"]
    assert table_snapshot() == before
    assert t.events() == []


def test_a_genuine_token_for_an_unknown_send_is_served_and_records_nothing(tracking: Tracking) -> None:
    t = tracking
    before = table_snapshot()
    assert t.open("e" * 32)["statusCode"] == 200
    token = click_token(t.workspace_id, "e" * 32, DEMO, SECRET)
    assert t.request("GET", f"/t/c/{token}")["headers"]["location"] == DEMO
    assert table_snapshot() == before and t.events() == []


def test_the_redirect_target_is_only_the_signed_url(tracking: Tracking) -> None:
    t = tracking
    token = click_token(t.workspace_id, t.world.send.send_id, DEMO, SECRET)
    evil = {"url": "https://evil.example/", "redirect": "https://evil.example/", "next": "//evil.example"}
    assert t.request("GET", f"/t/c/{token}", query=evil)["headers"]["location"] == DEMO
    # Re-pointing the signed payload at another site breaks the signature.
    forged = sign(TokenPayload(Kind.CLICK, t.workspace_id, t.world.send.send_id, "https://evil.example/"), "guess")
    spliced = f"{forged.partition('.')[0]}.{token.partition('.')[2]}"
    assert t.request("GET", f"/t/c/{spliced}")["statusCode"] == 404


SCANNERS = [
    pytest.param("Mozilla/5.0 (compatible; SafeLinks; ms-office)", "203.0.113.7", timedelta(0), id="safelinks-ua"),
    pytest.param("Mimecast URL Protect", "203.0.113.7", timedelta(0), id="mimecast-ua"),
    pytest.param("Proofpoint URL Defense", "203.0.113.7", timedelta(0), id="proofpoint-ua"),
    pytest.param("Barracuda Sentinel (EE)", "203.0.113.7", timedelta(0), id="barracuda-ua"),
    pytest.param(CHROME, "148.163.130.4", timedelta(0), id="proofpoint-ip"),
    pytest.param(CHROME, "205.139.111.9", timedelta(0), id="mimecast-ip"),
    pytest.param(CHROME, "104.47.20.1", timedelta(0), id="microsoft-eop-ip"),
    # The send went out 30 minutes before the fixture's now: rewind to 4 s after it.
    pytest.param(CHROME, "203.0.113.7", timedelta(minutes=30) - timedelta(seconds=4), id="seconds-after-delivery"),
]


@pytest.mark.parametrize(("agent", "ip", "rewind"), SCANNERS)
def test_scanners_are_served_but_not_counted(tracking: Tracking, agent: str, ip: str, rewind: timedelta) -> None:
    t = tracking
    t.clock.advance(-rewind)
    assert t.open(agent=agent, ip=ip)["statusCode"] == 200
    assert t.click(DEMO, agent=agent, ip=ip)["headers"]["location"] == DEMO
    assert _counts(t) == {"opened": 0, "clicked": 0, "unsubscribed": 0}
    assert t.events() == []
    t.clock.advance(rewind + timedelta(minutes=5))
    t.open()
    assert _counts(t)["opened"] == 1  # a person afterwards still counts


def test_a_burst_of_every_link_at_once_counts_only_the_first(tracking: Tracking) -> None:
    t = tracking
    t.click(DEMO)
    t.clock.advance(timedelta(milliseconds=200))
    t.click(PRICING)
    t.clock.advance(timedelta(milliseconds=200))
    t.open()
    assert [e.data["url"] for e in t.events()] == [DEMO]
    assert _counts(t) == {"opened": 0, "clicked": 1, "unsubscribed": 0}


def test_unsubscribe_get_shows_the_form_and_unsubscribes_nobody(tracking: Tracking) -> None:
    t = tracking
    before = table_snapshot()
    response = t.request("GET", t.unsubscribe_path())
    assert response["statusCode"] == 200 and '<form method="post">' in response["body"]
    assert "jane@acme.example" in response["body"]
    assert table_snapshot() == before and t.events() == []
    assert not SuppressionService().check(t.workspace_id, "jane@acme.example").blocked


def test_one_click_unsubscribe_suppresses_stops_and_emits_once(tracking: Tracking) -> None:
    t = tracking
    # RFC 8058: the mail provider's server posts, with its own agent (or none).
    first = t.request("POST", t.unsubscribe_path(), body=ONE_CLICK, agent=None)
    assert first["statusCode"] == 200 and "You are unsubscribed" in first["body"]

    check = SuppressionService().check(t.workspace_id, "jane@acme.example")
    assert check.blocked and check.reason == "email" and check.entry is not None
    assert (check.entry.source, check.entry.reason, check.prospect_status) == (
        "unsubscribe",
        "unsubscribe",
        "unsubscribed",
    )
    statuses = EnrollmentRepository().statuses(t.workspace_id, t.world.campaign.id, [t.world.prospect.id])
    assert statuses == {t.world.prospect.id: "unsubscribed"}
    assert [s.unsubscribed for s in _stats(t)] == [1, 1, 1]
    events = t.events()
    assert sorted(e.type for e in events) == ["email.unsubscribed", "prospect.suppressed"]
    unsubscribed = next(e for e in events if e.type == "email.unsubscribed")
    assert unsubscribed.data == {
        "prospectId": t.world.prospect.id,
        "prospectEmail": "jane@acme.example",
        "campaignId": t.world.campaign.id,
        "unsubscribedAt": isoformat(t.clock.now()),
    }
    suppressed = next(e for e in events if e.type == "prospect.suppressed")
    assert (suppressed.data["email"], suppressed.data["reason"]) == ("jane@acme.example", "unsubscribe")

    before = table_snapshot()
    t.clock.advance(timedelta(minutes=2))
    again = t.request("POST", t.unsubscribe_path(), body=ONE_CLICK, agent=CHROME)
    assert (again["statusCode"], again["body"]) == (200, first["body"])
    assert t.request("GET", t.unsubscribe_path())["body"] == first["body"]
    assert t.events() == []
    assert table_snapshot() == before


def test_a_post_without_the_one_click_body_unsubscribes_nobody(tracking: Tracking) -> None:
    t = tracking
    assert t.request("POST", t.unsubscribe_path(), body=b"confirm=yes")["statusCode"] == 400
    assert not SuppressionService().check(t.workspace_id, "jane@acme.example").blocked
    assert t.events() == []


def test_a_campaign_that_does_not_stop_on_unsubscribe_keeps_the_enrollment(tracking: Tracking) -> None:
    t = tracking
    other = scenario(t.workspace_id, email="sam@acme.example", stop_on_unsubscribe=False)
    assert t.request("POST", t.unsubscribe_path(other.send.send_id), body=ONE_CLICK)["statusCode"] == 200
    assert SuppressionService().check(t.workspace_id, "sam@acme.example").blocked  # every campaign skips it
    statuses = EnrollmentRepository().statuses(t.workspace_id, other.campaign.id, [other.prospect.id])
    assert statuses == {other.prospect.id: "pending"}
    assert sorted(e.type for e in t.events()) == ["email.unsubscribed", "prospect.suppressed"]
