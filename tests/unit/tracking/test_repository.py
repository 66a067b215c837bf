"""The lean tracking store repeats a few rules and formats of the modules that own them (so the open/click path
imports neither pydantic nor pynamodb); these tests hold the copies equal to the originals. The table's keys are not
copied: the store imports them from kindling.platform.keys like their owners."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pynamodb.attributes import UTCDateTimeAttribute

from kindling.campaigns import repository as campaigns
from kindling.events import catalog
from kindling.events import repository as events
from kindling.platform.settings import load_settings
from kindling.sending import ledger
from kindling.tracking import repository as lean

REPO = Path(__file__).resolve().parents[3]
WS = "ws_unit000001"
TIMES = [
    datetime(2026, 6, 10, 11, 0, tzinfo=UTC),
    datetime(2026, 6, 10, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
    datetime(2027, 1, 1, 0, 0, tzinfo=UTC),
    datetime(2026, 6, 10, 8, 30, 15, 123_456, tzinfo=UTC),
]


def test_ledger_hit_attributes_and_counters_match_the_ledger() -> None:
    assert lean._HIT_ATTRIBUTE == ledger._HIT_ATTRIBUTE
    assert lean._HIT_COUNTER == ledger._HIT_COUNTER
    for counter in lean._HIT_COUNTER.values():
        assert getattr(campaigns.CampaignPartItem, counter).attr_name == counter
    for attribute in lean._HIT_ATTRIBUTE.values():
        assert getattr(ledger.SendItem, attribute).attr_name == attribute


def test_event_storage_constants_match_the_event_repository() -> None:
    assert lean.EVENT_RETENTION == events.EVENT_RETENTION


@pytest.mark.parametrize("event_type", sorted(lean.HIT_EVENT_FIELDS))
def test_hit_event_fields_and_dedup_match_the_catalogue(event_type: str) -> None:
    assert lean.HIT_EVENT_FIELDS[event_type] == catalog.PAYLOAD_FIELDS[event_type]
    data = {
        "prospectId": "prs_1",
        "prospectEmail": "jane@example.com",
        "campaignId": "cmp_1",
        "url": "https://acme.example/demo?a=1",
        "openedAt": "x",
        "clickedAt": "x",
        "mailboxId": "mbx_1",
        "stepIndex": 0,
    }
    data.pop("url" if event_type == "email.opened" else "openedAt")
    data.pop("clickedAt" if event_type == "email.opened" else "openedAt", None)
    catalog.validate_payload(event_type, data)
    lean.validate_hit_payload(event_type, data)
    for now in TIMES:
        assert lean.hit_dedup(event_type, data, now) == catalog.dedup_for(event_type, data, now)
    for broken in ({**data, "prospectId": None}, {**data, "extra": 1}):
        with pytest.raises(catalog.InvalidEventPayload):
            catalog.validate_payload(event_type, broken)
        with pytest.raises(ValueError, match=event_type):
            lean.validate_hit_payload(event_type, broken)


def test_datetimes_are_stored_as_pynamodb_stores_them() -> None:
    attribute = UTCDateTimeAttribute()
    for when in [*TIMES, datetime(2026, 6, 10, 13, 0, tzinfo=timezone(timedelta(hours=2)))]:
        text = lean.serialize_datetime(when)
        assert text == attribute.serialize(when)  # type: ignore[no-untyped-call]
        assert lean.parse_datetime(text) == attribute.deserialize(text) == when  # type: ignore[no-untyped-call]
    for bad in ("2026-06-10T11:00:00Z", "2026-06-10T11:00:00.000000+0200", "2026-06-10 11:00:00.000000+0000"):
        with pytest.raises(ValueError, match="not a stored UTC datetime"):
            lean.parse_datetime(bad)


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"KINDLING_TABLE_NAME": "kindling-dev", "AWS_DEFAULT_REGION": "eu-west-1"},
        {"AWS_REGION": "eu-central-1", "AWS_DEFAULT_REGION": "eu-west-1", "KINDLING_WEBHOOK_QUEUE_URL": "https://q"},
        {"KINDLING_TABLE_NAME": "", "AWS_REGION": "", "KINDLING_WEBHOOK_QUEUE_URL": ""},
    ],
)
def test_configuration_is_read_as_the_settings_read_it(environ: dict[str, str]) -> None:
    settings = load_settings(environ)
    store = lean.TrackingStore(environ=environ)
    assert (store.table_name, store.region, store.webhook_queue_url) == (
        settings.table_name,
        settings.region,
        settings.webhook_queue_url,
    )


def test_a_malformed_table_name_is_refused() -> None:
    with pytest.raises(RuntimeError, match="KINDLING_TABLE_NAME"):
        lean.TrackingStore(environ={"KINDLING_TABLE_NAME": "no spaces allowed"})


def test_the_service_loads_no_third_party_package() -> None:
    # The open/click path: the service module and its store import only the standard library (botocore comes on
    # the first AWS call); pydantic, pynamodb, the ledger and the event service load only for an unsubscribe. The
    # tokens live beside the message builder in kindling.sending, and the webhook queue's event message in
    # kindling.events.messages; those modules and their packages' docstring-only modules are standard library only.
    code = (
        "import sys; before = set(sys.modules);"
        "import kindling.tracking.service as s; s.TrackingService();"
        "new = set(sys.modules) - before;"
        "print(sorted({n.split('.')[0] for n in new} - set(sys.stdlib_module_names) - {'kindling'}),"
        " sorted(n for n in new if n.startswith(('kindling.sending', 'kindling.events', 'kindling.webhooks',"
        " 'kindling.platform.settings', 'kindling.platform.dynamo', 'kindling.platform.aws'))"
        " and n not in ('kindling.sending', 'kindling.sending.tokens', 'kindling.events', 'kindling.events.messages')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "shared")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[] []", done.stdout + done.stderr
