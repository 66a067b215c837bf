"""The tracking function's lean store over moto writes what the pynamodb repositories write: the ledger's hit marks
and counters, the events and their dedup markers; and the open path of a cold process loads none of them."""

from __future__ import annotations

import json
import tempfile
from datetime import timedelta
from typing import Any

import boto3
import pytest

from kindling.campaigns.repository import CampaignRepository
from kindling.events.catalog import emit_event
from kindling.events.repository import EventRepository
from kindling.events.service import EventService
from kindling.platform.clock import isoformat
from kindling.platform.errors import NotFound
from kindling.sending.ledger import SendLedgerRepository
from kindling.tracking.repository import TrackingStore
from tests.integration.tracking.builders import write_send
from tests.integration.tracking.conftest import Tracking, table_snapshot


def _items(prefix: str) -> list[dict[str, Any]]:
    return [item for item in table_snapshot() if item["pk"]["S"].startswith(prefix)]


def _shape(item: dict[str, Any]) -> dict[str, str]:
    return {name: next(iter(value)) for name, value in item.items()}


def test_a_hit_mark_and_its_counters_are_written_as_the_ledger_writes_them(tracking: Tracking) -> None:
    t = tracking
    ws, world = t.workspace_id, t.world
    other = write_send(ws, world.campaign, world.prospect, world.enrollment_id, step=1)
    at = t.clock.now()
    store = TrackingStore()
    send = store.get(ws, world.send.send_id)
    assert (send.campaign_id, send.step_id, send.variant, send.opened_at) == (
        world.send.campaign_id,
        world.send.step_id,
        world.send.variant,
        None,
    )
    assert store.record_hit(ws, world.send.send_id, "open", at, send=send)
    assert SendLedgerRepository().record_hit(ws, other.send_id, "open", at)
    # A repeat changes nothing, with or without the send as read before the first mark.
    before = table_snapshot()
    assert not store.record_hit(ws, world.send.send_id, "open", at + timedelta(minutes=1), send=send)
    assert not store.record_hit(ws, world.send.send_id, "open", at + timedelta(minutes=1))
    assert table_snapshot() == before

    ledger = SendLedgerRepository()
    assert ledger.get(ws, world.send.send_id).opened_at == ledger.get(ws, other.send_id).opened_at == at
    campaign = CampaignRepository().get(ws, world.campaign.id)
    assert campaign.stats.opened == 2
    steps = [s.id for s in campaign.steps]
    assert [campaign.step_stats[s].opened for s in steps] == [1, 1]
    assert [campaign.variant_stats[f"{s}#A"].opened for s in steps] == [1, 1]
    counters = _items(f"{ws}#CAMPAIGN#")
    lean_step, ledger_step = (next(i for i in counters if i["sk"]["S"].endswith(f"S#{s}")) for s in steps)
    assert _shape(lean_step) == _shape(ledger_step)
    with pytest.raises(NotFound):
        store.record_hit(ws, "f" * 32, "click", at)


def test_hit_events_are_stored_and_published_as_the_event_service_does(tracking: Tracking) -> None:
    t = tracking
    ws, now = t.workspace_id, t.clock.now()
    base = {"prospectEmail": "jane@acme.example", "campaignId": t.world.campaign.id, "mailboxId": "mbx", "stepIndex": 0}
    lean_data = {"prospectId": "prs_lean", **base, "openedAt": isoformat(now)}
    service_data = {"prospectId": "prs_service", **base, "openedAt": isoformat(now)}
    store = TrackingStore()
    assert store.emit_hit_event(ws, "email.opened", lean_data, now=now)
    assert emit_event(EventService(), ws, "email.opened", service_data, now=now) is not None
    # The catalogue's dedup: the first open per prospect per campaign, whichever path emits the repeat.
    assert not store.emit_hit_event(ws, "email.opened", service_data, now=now + timedelta(days=3))
    assert emit_event(EventService(), ws, "email.opened", lean_data, now=now) is None

    events = t.events()
    assert [e.data["prospectId"] for e in events] == ["prs_lean", "prs_service"]
    lean_event, service_event = events
    assert lean_event.model_dump(exclude={"id", "data"}) == service_event.model_dump(exclude={"id", "data"})
    assert lean_event.data == lean_data and lean_event.campaign_id == t.world.campaign.id
    assert EventRepository().unpublished(now + timedelta(days=1)) == []
    stored = _items(f"{ws}#EVENT#")
    assert [_shape(i) for i in stored[:1]] == [_shape(i) for i in stored[1:]]
    markers = _items(f"{ws}#EVTDEDUP#")
    assert len(markers) == 2 and _shape(markers[0]) == _shape(markers[1])
    assert markers[0]["expires_at"] == markers[1]["expires_at"]


def test_clicks_are_deduplicated_per_url_per_day(tracking: Tracking) -> None:
    t = tracking
    ws, now = t.workspace_id, t.clock.now()
    store = TrackingStore()
    data = {
        "prospectId": "prs_1",
        "prospectEmail": "jane@acme.example",
        "campaignId": t.world.campaign.id,
        "url": "https://acme.example/a",
        "clickedAt": isoformat(now),
    }
    assert store.emit_hit_event(ws, "email.clicked", data, now=now)
    assert not store.emit_hit_event(ws, "email.clicked", data, now=now + timedelta(minutes=5))
    assert store.emit_hit_event(ws, "email.clicked", {**data, "url": "https://acme.example/b"}, now=now)
    assert store.emit_hit_event(ws, "email.clicked", data, now=now + timedelta(days=1))
    assert len(t.events()) == 3


def test_an_event_is_recorded_before_a_missing_queue_fails_its_publication(
    tracking: Tracking, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = tracking
    monkeypatch.delenv("KINDLING_WEBHOOK_QUEUE_URL")
    data = {"prospectId": "prs_1", "prospectEmail": "j@acme.example", "campaignId": "cmp_1", "openedAt": "x"}
    with pytest.raises(RuntimeError, match="KINDLING_WEBHOOK_QUEUE_URL"):
        TrackingStore().emit_hit_event(t.workspace_id, "email.opened", data, now=t.clock.now())
    # Left for the sweep (EventService.republish_stale), as when a publish fails.
    assert [e.type for e in EventRepository().unpublished(t.clock.now() + timedelta(days=1))] == ["email.opened"]


def test_the_hit_marker_returns_the_previous_hit(tracking: Tracking) -> None:
    t = tracking
    store, at = TrackingStore(), t.clock.now().replace(microsecond=250_000)
    assert store.touch(t.workspace_id, t.world.send.send_id, at) is None
    assert store.touch(t.workspace_id, t.world.send.send_id, at + timedelta(seconds=3)) == at
    (marker,) = _items(f"{t.workspace_id}#TRACKHIT#")
    assert marker["hits"] == {"N": "2"}
    assert int(marker["expires_at"]["N"]) == int((at + timedelta(days=1, seconds=3)).timestamp())


def test_a_cold_process_serves_a_first_open_without_pydantic_or_pynamodb() -> None:
    import bench.tracking as bench

    with tempfile.TemporaryDirectory() as tmp:
        result = bench.cold_start("ours", bench.child_environment(tmp))
    assert (result["status"], result["recorded"], result["heavy_modules"]) == (200, True, [])


def test_the_sqs_message_names_the_event(tracking: Tracking) -> None:
    t = tracking
    data = {"prospectId": "prs_1", "prospectEmail": "j@acme.example", "campaignId": "cmp_1", "openedAt": "x"}
    assert TrackingStore().emit_hit_event(t.workspace_id, "email.opened", data, now=t.clock.now())
    sqs = boto3.client("sqs", region_name="us-east-1")
    (message,) = sqs.receive_message(QueueUrl=t.queue_url, MaxNumberOfMessages=10)["Messages"]
    body = json.loads(message["Body"])
    assert set(body) == {"kind", "workspace_id", "event_id"} and body["kind"] == "event"
    assert EventRepository().get(t.workspace_id, body["event_id"]).data == data
