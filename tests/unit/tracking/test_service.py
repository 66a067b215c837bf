"""Tracking rules with in-memory collaborators: tokens gate everything, scanner verdicts decide what is counted,
events follow the catalogue's dedup, unsubscribe is a POST-only, idempotent sequence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from kindling.platform.errors import NotFound
from kindling.sending.tokens import Kind, TokenPayload, click_token, open_token, sign, unsubscribe_token
from kindling.tracking.pages import PageState
from kindling.tracking.scanners import HitReason
from kindling.tracking.service import InvalidToken, Visitor
from tests.unit.tracking.fakes import NOW, SECRET, SEND_ID, SENT_AT, WS, rig, send_record

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
PERSON = Visitor(CHROME, "203.0.113.7")
OPEN = open_token(WS, SEND_ID, SECRET)
DEMO = "https://acme.example/demo?utm_source=mail&x=1#top"
CLICK = click_token(WS, SEND_ID, DEMO, SECRET, url_index=0)
UNSUBSCRIBE = unsubscribe_token(WS, SEND_ID, SECRET)


def _tampered(token: str) -> str:
    payload, tag = token.split(".")
    return f"{payload}.{'A' if tag[0] != 'A' else 'B'}{tag[1:]}"


BAD_TOKENS = [
    pytest.param(lambda: _tampered(OPEN), "open", id="tampered-tag"),
    pytest.param(lambda: open_token(WS, SEND_ID, "another-secret"), "open", id="foreign-secret"),
    pytest.param(lambda: CLICK, "open", id="click-token-on-pixel"),
    pytest.param(lambda: OPEN, "click", id="open-token-on-click"),
    pytest.param(lambda: UNSUBSCRIBE, "click", id="unsubscribe-token-on-click"),
    pytest.param(lambda: OPEN, "unsubscribe", id="open-token-on-unsubscribe"),
    pytest.param(lambda: "garbage", "open", id="garbage"),
    pytest.param(lambda: "", "click", id="empty"),
    pytest.param(lambda: OPEN + "=", "open", id="re-encoded"),
]


@pytest.mark.parametrize(("make", "kind"), BAD_TOKENS)
def test_a_bad_token_is_not_found_and_touches_nothing(make: object, kind: str) -> None:
    r = rig()
    token = make()  # type: ignore[operator]
    actions: dict[str, Callable[[str], object]] = {
        "open": lambda t: r.service.handle_open(t, PERSON),
        "click": lambda t: r.service.handle_click(t, PERSON),
        "unsubscribe": lambda t: r.service.handle_unsubscribe(t, one_click=True),
    }
    with pytest.raises(InvalidToken):
        actions[kind](token)
    assert (r.ledger.hits, r.hits.touched, r.events.offered, r.suppressions.calls, r.stopper.calls) == (
        [],
        0,
        [],
        [],
        [],
    )


def test_invalid_token_is_a_not_found_with_its_own_code() -> None:
    assert issubclass(InvalidToken, NotFound)
    assert InvalidToken("x").code == "invalid_token"


def test_an_index_only_click_token_has_no_target_and_is_not_found() -> None:
    r = rig()
    token = sign(TokenPayload(Kind.CLICK, WS, SEND_ID, None, 2), SECRET)
    with pytest.raises(InvalidToken):
        r.service.handle_click(token, PERSON)


def test_the_first_human_open_is_counted_and_emitted_once() -> None:
    r = rig()
    first = r.service.handle_open(OPEN, PERSON)
    assert (first.counted, first.first, first.event) == (True, True, True)
    r.clock.current = NOW + timedelta(minutes=5)
    again = r.service.handle_open(OPEN, PERSON)
    assert (again.counted, again.first, again.event) == (True, False, False)
    assert r.events.types() == ["email.opened"]
    assert [kind for _, kind, _ in r.ledger.hits] == ["open"]
    data = r.events.emitted[0].data
    assert data == {
        "prospectId": "prs_unit00001",
        "prospectEmail": "jane@example.com",
        "campaignId": "cmp_unit00001",
        "openedAt": "2026-06-10T11:00:00.000Z",
        "mailboxId": "mbx_unit00001",
        "stepIndex": 1,
    }
    assert r.events.emitted[0].campaign_id == "cmp_unit00001"


def test_an_open_of_another_step_counts_for_that_step_but_no_second_event() -> None:
    other = "fedcba9876543210fedcba9876543210"
    r = rig(send_record(), send_record(send_id=other, step_index=2))
    r.service.handle_open(OPEN, PERSON)
    r.clock.current = NOW + timedelta(hours=1)
    outcome = r.service.handle_open(open_token(WS, other, SECRET), PERSON)
    assert (outcome.counted, outcome.first, outcome.event) == (True, True, False)
    assert r.events.types() == ["email.opened"]  # first open per prospect per campaign


SCANNERS = [
    pytest.param(Visitor("Mozilla/4.0 (compatible; ms-office; MSOffice 16)", "203.0.113.7"), NOW, id="safelinks-ua"),
    pytest.param(Visitor("Mimecast URL Protect", "203.0.113.7"), NOW, id="mimecast-ua"),
    pytest.param(Visitor(CHROME, "67.231.150.10"), NOW, id="proofpoint-ip"),
    pytest.param(Visitor(CHROME, "209.222.82.3"), NOW, id="barracuda-ip"),
    pytest.param(Visitor(CHROME, "40.107.3.4"), NOW, id="microsoft-eop-ip"),
    pytest.param(Visitor("curl/8.5.0", "203.0.113.7"), NOW, id="automation-ua"),
    pytest.param(Visitor(None, "203.0.113.7"), NOW, id="no-ua"),
    pytest.param(PERSON, SENT_AT + timedelta(seconds=3), id="seconds-after-delivery"),
]


@pytest.mark.parametrize(("visitor", "at"), SCANNERS)
@pytest.mark.parametrize("kind", ["open", "click"])
def test_scanner_hits_are_not_counted_but_still_served(kind: str, visitor: Visitor, at: object) -> None:
    r = rig()
    r.clock.current = at  # type: ignore[assignment]
    if kind == "open":
        outcome = r.service.handle_open(OPEN, visitor)
    else:
        click = r.service.handle_click(CLICK, visitor)
        assert click.url == DEMO  # the visitor still gets the page
        outcome = click.hit
    assert outcome.verdict is not None and not outcome.verdict.human
    assert (outcome.counted, outcome.first, outcome.event) == (False, False, False)
    assert r.ledger.hits == [] and r.events.offered == []
    assert r.hits.touched == 1  # the hit is still seen, for the burst rule


def test_apple_privacy_proxy_opens_are_not_counted_but_its_clicks_are() -> None:
    r = rig()
    apple = Visitor("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15", "17.58.1.1")
    assert r.service.handle_open(OPEN, apple).verdict.reason is HitReason.PRIVACY_PROXY  # type: ignore[union-attr]
    r.clock.current = NOW + timedelta(minutes=1)
    assert r.service.handle_click(CLICK, apple).hit.counted


def test_gmail_image_proxy_open_counts() -> None:
    r = rig()
    proxy = Visitor("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)")
    outcome = r.service.handle_open(OPEN, proxy)
    assert outcome.counted and outcome.verdict is not None and outcome.verdict.reason is HitReason.IMAGE_PROXY


def test_a_burst_of_link_fetches_counts_only_the_first() -> None:
    second = "https://acme.example/pricing"
    r = rig()
    first = r.service.handle_click(CLICK, PERSON)
    r.clock.current = NOW + timedelta(milliseconds=300)
    burst = r.service.handle_click(click_token(WS, SEND_ID, second, SECRET, url_index=1), PERSON)
    assert first.hit.counted and not burst.hit.counted
    assert burst.hit.verdict is not None and burst.hit.verdict.reason is HitReason.BURST
    assert burst.url == second
    assert [e.data["url"] for e in r.events.emitted] == [DEMO]


def test_each_url_clicked_emits_once_per_day_and_the_send_counts_one_click() -> None:
    second = "https://acme.example/pricing"
    r = rig()
    r.service.handle_click(CLICK, PERSON)
    r.clock.current = NOW + timedelta(minutes=1)
    r.service.handle_click(CLICK, PERSON)  # same URL, same day
    r.clock.current = NOW + timedelta(minutes=2)
    r.service.handle_click(click_token(WS, SEND_ID, second, SECRET), PERSON)
    r.clock.current = NOW + timedelta(days=1)
    r.service.handle_click(CLICK, PERSON)  # same URL, next day
    assert [e.data["url"] for e in r.events.emitted] == [DEMO, second, DEMO]
    assert [kind for _, kind, _ in r.ledger.hits] == ["click"]
    assert r.events.emitted[0].data["clickedAt"] == "2026-06-10T11:00:00.000Z"


@pytest.mark.parametrize("status", ["queued", "skipped", "canceled", "failed"])
def test_hits_on_a_send_that_never_left_are_not_counted(status: str) -> None:
    r = rig(send_record(status=status, sent_at=None))
    assert not r.service.handle_open(OPEN, PERSON).counted
    assert r.service.handle_click(CLICK, PERSON).url == DEMO
    assert r.ledger.hits == [] and r.events.offered == [] and r.hits.touched == 0


def test_an_open_while_the_sender_is_still_marking_the_send_counts() -> None:
    r = rig(send_record(status="sending", sent_at=None, sending_at=SENT_AT))
    assert r.service.handle_open(OPEN, PERSON).counted


def test_an_unknown_send_records_nothing_but_still_serves() -> None:
    r = rig(send_record(send_id="ffffffffffffffffffffffffffffffff"))
    assert r.service.handle_open(OPEN, PERSON) == r.service.handle_open(OPEN, PERSON)
    assert r.service.handle_click(CLICK, PERSON).url == DEMO
    assert r.ledger.hits == [] and r.events.offered == []


def test_a_recording_failure_still_redirects_and_is_reported() -> None:
    r = rig()
    r.ledger.fail = True
    click = r.service.handle_click(CLICK, PERSON)
    assert click.url == DEMO and click.hit.failed
    assert r.service.handle_open(OPEN, PERSON).failed
    assert [message for message, _ in r.errors] == [
        "recording a tracked click failed",
        "recording a tracked open failed",
    ]


def test_no_configured_secret_is_an_error_not_a_silent_404(monkeypatch: pytest.MonkeyPatch) -> None:
    from kindling.platform.settings import reset_settings
    from kindling.tracking.service import TrackingService

    monkeypatch.delenv("KINDLING_TRACKING_SECRET", raising=False)
    reset_settings()
    try:
        with pytest.raises(RuntimeError, match="KINDLING_TRACKING_SECRET"):
            TrackingService().handle_open(OPEN, PERSON)
    finally:
        reset_settings()


def test_rotated_secrets_verify_old_links() -> None:
    from kindling.tracking.service import TrackingService

    service = TrackingService(secrets=["new-secret", SECRET])
    assert service.verify(OPEN, Kind.OPEN).send_id == SEND_ID


# --- unsubscribe -------------------------------------------------------------------------------------------------


def test_get_shows_the_form_and_changes_nothing() -> None:
    r = rig()
    outcome = r.service.handle_unsubscribe(UNSUBSCRIBE, one_click=False)
    assert (outcome.state, outcome.email, outcome.unsubscribed_now) == (PageState.CONFIRM, "jane@example.com", False)
    assert (r.ledger.hits, r.suppressions.calls, r.stopper.calls, r.events.offered) == ([], [], [], [])


def test_post_unsubscribes_everywhere_and_a_repeat_is_a_no_op() -> None:
    r = rig()
    first = r.service.handle_unsubscribe(UNSUBSCRIBE, one_click=True)
    assert (first.state, first.unsubscribed_now) == (PageState.DONE, True)
    assert r.suppressions.calls == [(WS, ["jane@example.com"], "unsubscribe", "unsubscribe")]
    assert r.stopper.calls == [(WS, "cmp_unit00001", "prs_unit00001")]
    assert r.events.types() == ["email.unsubscribed"]
    assert r.events.emitted[0].data == {
        "prospectId": "prs_unit00001",
        "prospectEmail": "jane@example.com",
        "campaignId": "cmp_unit00001",
        "unsubscribedAt": "2026-06-10T11:00:00.000Z",
    }
    assert [kind for _, kind, _ in r.ledger.hits] == ["unsubscribe"]

    r.clock.current = NOW + timedelta(minutes=3)
    again = r.service.handle_unsubscribe(UNSUBSCRIBE, one_click=True)
    assert (again.state, again.email, again.unsubscribed_now) == (PageState.DONE, "jane@example.com", False)
    assert r.events.types() == ["email.unsubscribed"]
    assert r.service.handle_unsubscribe(UNSUBSCRIBE, one_click=False).state is PageState.DONE


def test_a_failed_unsubscribe_leaves_the_form_and_a_retry_completes_it() -> None:
    r = rig()
    r.suppressions.fail = True
    with pytest.raises(ConnectionError):
        r.service.handle_unsubscribe(UNSUBSCRIBE, one_click=True)
    assert r.ledger.hits == [] and r.events.offered == []
    assert r.service.handle_unsubscribe(UNSUBSCRIBE, one_click=False).state is PageState.CONFIRM
    r.suppressions.fail = False
    assert r.service.handle_unsubscribe(UNSUBSCRIBE, one_click=True).unsubscribed_now
    assert r.events.types() == ["email.unsubscribed"]


def test_unsubscribing_an_unknown_send_is_not_found() -> None:
    r = rig(send_record(send_id="ffffffffffffffffffffffffffffffff"))
    with pytest.raises(NotFound):
        r.service.handle_unsubscribe(UNSUBSCRIBE, one_click=True)
    assert r.suppressions.calls == []
