"""The Warmup API in-process over moto: stats (one, list), settings, and the bulk update as a job.

The job state machine exists (JobService starts an execution) but moto does not run it here; `run_job` plays
its part through the same JobService the Lambda task calls. tests/e2e/test_warmup_e2e.py runs the real
definition on the local stack.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient

from kindling.api.app import create_app
from kindling.auth.service import AuthService
from kindling.jobs.service import JobService
from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.repository import MailboxRepository
from kindling.platform import aws as aws_clients
from kindling.platform.clock import ManualClock
from kindling.platform.ids import new_uuid
from kindling.platform.settings import reset_settings
from kindling.sending.repository import SendingRepository
from kindling.warmup.counters import DailyCounters
from kindling.warmup.models import WarmupSettingsUpdate
from kindling.warmup.repository import WarmupRepository, WarmupRow
from kindling.warmup.service import WarmupService
from tests.conftest import START, Tenant, make_tenant

REFERENCE_EXAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "reference" / "warmup-examples.json"
# Documented additions to the reference's warmup object (see kindling.api.routes.warmup.WarmupStatsView).
EXTENSIONS = {
    "warmup_strategy",
    "warmup_window_start_hour",
    "warmup_window_end_hour",
    "warmup_timezone",
    "warmup_reply_rate",
    "strategy",
    "strategy_reason",
    "strategy_changed_at",
    "ramp_day",
    "health_band",
    "saved_from_spam",
    "daily",
}
DAILY_KEYS = {"date", "sent", "received", "inbox_count", "spam_count", "saved_from_spam", "bounced"}
TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def examples() -> dict[str, Any]:
    """The JSON examples of the reference's Warmup and Jobs sections, extracted verbatim into a fixture."""
    loaded: dict[str, Any] = json.loads(REFERENCE_EXAMPLES.read_text())
    return loaded


def assert_warmup_object(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    """Exactly the reference's keys plus the documented extensions, with the reference's JSON types."""
    assert set(actual) == set(expected) | EXTENSIONS, set(actual) ^ (set(expected) | EXTENSIONS)
    for key, value in expected.items():
        if value is not None and actual[key] is not None:
            assert type(actual[key]) is type(value), key
    assert [set(point) for point in actual["daily"]] == [DAILY_KEYS] * 7


@dataclass
class Api:
    client: TestClient
    tenant: Tenant

    def call(self, method: str, path: str, tenant: Tenant | None = None, **kwargs: Any) -> Any:
        headers = {**(tenant or self.tenant).headers, **kwargs.pop("headers", {})}
        return self.client.request(method, f"/api/v1{path}", headers=headers, **kwargs)

    def mailbox(self, status: str = "connected", tenant: Tenant | None = None, **fields: Any) -> Mailbox:
        """A mailbox written straight to the table (connection tests are covered by the mailbox suite)."""
        mailbox_id = new_uuid()
        workspace_id = (tenant or self.tenant).workspace_id
        mailbox = Mailbox(
            id=mailbox_id,
            workspace_id=workspace_id,
            email_address=fields.pop("email_address", f"{mailbox_id[:8]}@lab.test"),
            status=status,  # type: ignore[arg-type]
            smtp_host="smtp.lab.test",
            smtp_port=587,
            smtp_username="user",
            smtp_security="starttls",
            smtp_password_enc="ciphertext",
            imap_host="imap.lab.test",
            imap_port=993,
            imap_username="user",
            imap_security="ssl",
            imap_password_enc="ciphertext",
            created_at=START - timedelta(days=3),
            updated_at=START - timedelta(days=3),
            **fields,
        )
        MailboxRepository().insert(mailbox)
        return mailbox


def run_job(workspace_id: str, job_id: str) -> None:
    """What the state machine does: prepare, process every batch, complete."""
    service = JobService()
    for batch in service.prepare(workspace_id, job_id):
        service.process_batch(workspace_id, job_id, batch.batch_index)
    service.complete(workspace_id, job_id)


@pytest.fixture
def api(aws: None, clock: ManualClock) -> Iterator[Api]:
    machine = boto3.client("stepfunctions", region_name="us-east-1").create_state_machine(
        name="jobs",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/jobs",
    )["stateMachineArn"]
    os.environ["KINDLING_JOB_STATE_MACHINE_ARN"] = machine
    reset_settings()
    aws_clients.reset_clients()
    try:
        with TestClient(create_app(), raise_server_exceptions=False) as client:
            yield Api(client=client, tenant=make_tenant())
    finally:
        os.environ.pop("KINDLING_JOB_STATE_MACHINE_ARN", None)
        reset_settings()


def add_day(mailbox: Mailbox, days_ago: int, **counts: Any) -> None:
    last_sent_at = counts.pop("last_sent_at", None)
    WarmupRepository().add_day(
        mailbox.workspace_id,
        mailbox.id,
        DailyCounters(START.date() - timedelta(days=days_ago), **counts),
        last_sent_at=last_sent_at,
    )


# --- shapes ---------------------------------------------------------------------------------------------------
def test_responses_have_the_reference_shapes(api: Api) -> None:
    ref = examples()
    mailbox = api.mailbox()

    body = ref["PATCH /api/v1/warmup/settings/{mailboxId} (request)"]
    patched = api.call("PATCH", f"/warmup/settings/{mailbox.id}", json=body)
    assert patched.status_code == 200, patched.text
    assert set(patched.json()) == {"data", "meta"}
    assert_warmup_object(patched.json()["data"], ref["PATCH /api/v1/warmup/settings/{mailboxId}"]["data"])

    one = api.call("GET", f"/warmup/stats/{mailbox.id}").json()
    assert set(one) == {"data", "meta"}
    assert_warmup_object(one["data"], ref["GET /api/v1/warmup/stats/{mailboxId}"]["data"])

    listing = api.call("GET", "/warmup/stats").json()
    assert set(listing) == set(ref["GET /api/v1/warmup/stats"])
    assert set(listing["pagination"]) == set(ref["GET /api/v1/warmup/stats"]["pagination"])
    assert_warmup_object(listing["data"][0], ref["GET /api/v1/warmup/stats"]["data"][0])

    bulk_body = dict(ref["POST /api/v1/warmup/bulk-update (request)"], mailbox_ids=[mailbox.id, new_uuid()])
    accepted = api.call("POST", "/warmup/bulk-update", json=bulk_body, headers={"Idempotency-Key": "bulk-shape"})
    assert accepted.status_code == 202, accepted.text
    expected = ref["POST /api/v1/warmup/bulk-update"]
    assert set(accepted.json()["data"]) == set(expected["data"])
    assert set(accepted.json()["meta"]) == set(expected["meta"])  # request_id and the idempotency key
    run_job(api.tenant.workspace_id, accepted.json()["data"]["job_id"])
    job = api.call("GET", f"/jobs/{accepted.json()['data']['job_id']}").json()
    assert set(job["data"]) == set(ref["GET /api/v1/jobs/{id}"]["data"])
    assert job["data"]["type"] == ref["GET /api/v1/jobs/{id}"]["data"]["type"] == "bulk_warmup_update"
    for key in ("created_at", "completed_at"):
        assert re.fullmatch(TIMESTAMP, job["data"][key]), job["data"][key]


# --- settings --------------------------------------------------------------------------------------------------
def test_settings_change_shows_in_the_stats_and_the_mailbox(api: Api, clock: ManualClock) -> None:
    mailbox = api.mailbox()
    body = {
        "warmup_enabled": True,
        "warmup_type": "conservative",
        "warmup_target_daily_volume": 20,
        "warmup_window_start_hour": 8,
        "warmup_window_end_hour": 18,
        "warmup_timezone": "Europe/Amsterdam",
        "warmup_reply_rate": 40,
    }
    response = api.call("PATCH", f"/warmup/settings/{mailbox.id}", json=body)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert {key: data[key] for key in body} == body
    assert data["warmup_strategy"] == "auto" and data["strategy"] == "new_domain" and data["ramp_day"] == 1
    # New Domain day 1 at any speed: 1 email, the ramp (not the target of 20) binds.
    assert (data["effective_daily_limit"], data["effective_limit_reason"]) == (1, "ramp_up")
    assert data["warmup_progress"] == 5  # 1 of 20

    again = api.call("GET", f"/warmup/stats/{mailbox.id}").json()["data"]
    assert again == data
    seen = api.call("GET", f"/mailboxes/{mailbox.id}").json()["data"]
    assert {k: seen[k] for k in ("warmup_enabled", "warmup_type", "warmup_progress")} == {
        "warmup_enabled": True,
        "warmup_type": "conservative",
        "warmup_progress": 5,
    }
    assert seen["updated_at"] == "2026-06-10T09:00:00.000Z"

    clock.advance(timedelta(hours=1))
    pinned = api.call(
        "PATCH",
        f"/warmup/settings/{mailbox.id}",
        json={"warmup_strategy": "maintenance", "warmup_type": "aggressive", "warmup_target_daily_volume": 100},
    ).json()["data"]
    assert (pinned["warmup_strategy"], pinned["strategy"], pinned["strategy_reason"]) == (
        "maintenance",
        "maintenance",
        "manual_override",
    )
    assert pinned["strategy_changed_at"] == "2026-06-10T10:00:00.000Z"
    assert (pinned["effective_daily_limit"], pinned["effective_limit_reason"]) == (15, "maintenance")
    assert pinned["warmup_progress"] == 100
    assert api.call("GET", f"/mailboxes/{mailbox.id}").json()["data"]["warmup_progress"] == 100

    disabled = api.call("PATCH", f"/warmup/settings/{mailbox.id}", json={"warmup_enabled": False}).json()["data"]
    assert (disabled["effective_daily_limit"], disabled["effective_limit_reason"]) == (0, "warmup_disabled")
    assert disabled["warmup_target_daily_volume"] == 100 and disabled["warmup_progress"] == 100  # history kept


@pytest.mark.parametrize(
    ("status", "body", "http", "code"),
    [
        ("created", {"warmup_enabled": True}, 400, "mailbox_not_connected"),
        ("testing", {"warmup_enabled": True}, 400, "mailbox_not_connected"),
        ("error", {"warmup_enabled": True}, 400, "mailbox_not_connected"),
        ("disconnected", {"warmup_enabled": True, "warmup_target_daily_volume": 5}, 400, "mailbox_not_connected"),
        ("deleted", {"warmup_target_daily_volume": 5}, 400, "invalid_status"),
        ("connected", {"warmup_type": "aggressive"}, 400, "speed_not_allowed"),
        ("connected", {"warmup_target_daily_volume": 0}, 400, "validation_error"),
        ("connected", {"warmup_target_daily_volume": 101}, 400, "validation_error"),
        ("connected", {"warmup_window_start_hour": 24}, 400, "validation_error"),
        ("connected", {"warmup_window_start_hour": 7, "warmup_window_end_hour": 7}, 400, "validation_error"),
        ("connected", {"warmup_timezone": "Nowhere/Special"}, 400, "validation_error"),
        ("connected", {"warmup_enabled": None}, 400, "validation_error"),
    ],
)
def test_refused_settings_change_nothing(api: Api, status: str, body: dict[str, Any], http: int, code: str) -> None:
    mailbox = api.mailbox(status=status)
    before = api.call("GET", f"/warmup/stats/{mailbox.id}").json()["data"]
    response = api.call("PATCH", f"/warmup/settings/{mailbox.id}", json=body)
    assert response.status_code == http, response.text
    assert response.json()["error"]["code"] == code
    assert api.call("GET", f"/warmup/stats/{mailbox.id}").json()["data"] == before
    assert MailboxRepository().get(mailbox.workspace_id, mailbox.id).version == mailbox.version


def test_disabling_cancels_a_pending_auto_enable(api: Api) -> None:
    mailbox = api.mailbox(status="testing", warmup_pending=True)
    response = api.call("PATCH", f"/warmup/settings/{mailbox.id}", json={"warmup_enabled": False})
    assert response.status_code == 200, response.text
    assert MailboxRepository().get(mailbox.workspace_id, mailbox.id).warmup_pending is False


def test_unknown_and_foreign_mailboxes_are_not_found(api: Api) -> None:
    other = make_tenant(name="Other")
    theirs = api.mailbox(tenant=other)
    for path in (f"/warmup/stats/{theirs.id}", f"/warmup/stats/{new_uuid()}", "/warmup/stats/not-a-uuid"):
        response = api.call("GET", path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    response = api.call("PATCH", f"/warmup/settings/{theirs.id}", json={"warmup_target_daily_volume": 5})
    assert response.status_code == 404
    assert (
        api.call("GET", f"/warmup/stats/{theirs.id}", tenant=other).json()["data"]["warmup_target_daily_volume"] == 10
    )


def test_scopes(api: Api) -> None:
    mailbox = api.mailbox()
    reader = make_tenant(scopes=("warmup:read",), name="Reader")
    reader_box = api.mailbox(tenant=reader)
    assert api.call("GET", f"/warmup/stats/{reader_box.id}", tenant=reader).status_code == 200
    for method, path, body in (
        ("PATCH", f"/warmup/settings/{reader_box.id}", {"warmup_enabled": False}),
        ("POST", "/warmup/bulk-update", {"mailbox_ids": [reader_box.id], "updates": {"warmup_enabled": False}}),
    ):
        response = api.call(method, path, tenant=reader, json=body)
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "insufficient_scope"
    mailboxes_only = make_tenant(scopes=("mailboxes:read", "mailboxes:write"), name="Mailboxes")
    assert api.call("GET", "/warmup/stats", tenant=mailboxes_only).status_code == 403
    assert api.call("GET", f"/warmup/stats/{mailbox.id}").status_code == 200


# --- stats -----------------------------------------------------------------------------------------------------
def test_stats_come_from_the_daily_counter_rows(api: Api) -> None:
    mailbox = api.mailbox(warmup_enabled=True)
    api.call("PATCH", f"/warmup/settings/{mailbox.id}", json={"warmup_strategy": "maintenance"})
    last = datetime(2026, 6, 10, 8, 45, tzinfo=UTC)
    add_day(mailbox, 0, sent=2, inbox=1, received=3)
    add_day(mailbox, 0, sent=2, inbox=2, spam=1, rescued=1, received=1, last_sent_at=last)  # ADDs up
    add_day(mailbox, 3, sent=10, inbox=6, spam=4, rescued=3, bounced=1)
    add_day(mailbox, 9, sent=50, spam=50, last_sent_at=last - timedelta(days=9))  # outside the window

    data = api.call("GET", f"/warmup/stats/{mailbox.id}").json()["data"]
    assert (data["sent_today"], data["received_today"]) == (4, 4)
    assert data["saved_from_spam"] == 4
    assert data["last_sent_at"] == "2026-06-10T08:45:00.000Z"
    # 14 sent in 7 days: inbox 9 + rescued 4 -> 93 %, spam 5 -> 36 %, bounced 1 -> 7 %: 100 - 78.6 = 21.
    assert (data["inbox_rate"], data["spam_rate"]) == (93, 36)
    assert data["reputation_score"] == 21 and data["health_band"] == "critical"
    # The target (10) binds, below Maintenance's 15.
    assert (data["effective_daily_limit"], data["effective_limit_reason"]) == (10, None)
    assert [p["date"] for p in data["daily"]] == [f"2026-06-{d:02d}" for d in range(4, 11)]
    assert data["daily"][3] == {
        "date": "2026-06-07",
        "sent": 10,
        "received": 0,
        "inbox_count": 6,
        "spam_count": 4,
        "saved_from_spam": 3,
        "bounced": 1,
    }
    assert data["daily"][6]["sent"] == 4 and data["daily"][6]["spam_count"] == 1


def test_todays_campaign_sends_count_against_the_hard_cap(api: Api, clock: ManualClock) -> None:
    """The sending engine's own count of today's campaign sends (its mailbox state) limits warmup, over HTTP."""
    box = api.mailbox(warmup_enabled=True)
    other = api.mailbox(warmup_enabled=True)
    api.call("PATCH", f"/warmup/settings/{box.id}", json={"warmup_strategy": "maintenance"})
    api.call("PATCH", f"/warmup/settings/{other.id}", json={"warmup_strategy": "maintenance"})
    sending = SendingRepository()
    today = clock.now().date().isoformat()
    assert sending.reserve_mailbox(
        box.workspace_id,
        sending.mailbox_state(box.workspace_id, box.id),
        today,
        sends=493,
        domains={},
        next_allowed_at=None,
    )
    data = api.call("GET", f"/warmup/stats/{box.id}").json()["data"]
    assert (data["effective_daily_limit"], data["effective_limit_reason"]) == (7, "daily_hard_cap")  # 500 - 493
    listed = {row["mailbox_id"]: row for row in api.call("GET", "/warmup/stats").json()["data"]}
    assert (listed[box.id]["effective_daily_limit"], listed[box.id]["effective_limit_reason"]) == (7, "daily_hard_cap")
    assert listed[other.id]["effective_limit_reason"] != "daily_hard_cap"
    # Yesterday's count is not today's.
    clock.advance(timedelta(days=1))
    data = api.call("GET", f"/warmup/stats/{box.id}").json()["data"]
    assert data["effective_limit_reason"] != "daily_hard_cap"


def test_today_is_in_the_workspace_timezone(api: Api, clock: ManualClock) -> None:
    workspace = AuthService().create_workspace("Tokyo", timezone="Asia/Tokyo")
    _, token = AuthService().create_api_key(workspace.id, name="t", scopes=("warmup:read", "warmup:write"))
    tokyo = Tenant(workspace.id, "key", token)
    mailbox = api.mailbox(tenant=tokyo)
    clock.set(datetime(2026, 6, 10, 20, 0, tzinfo=UTC))  # already 2026-06-11 05:00 in Tokyo
    WarmupRepository().add_day(workspace.id, mailbox.id, DailyCounters(date(2026, 6, 11), sent=3))
    data = api.call("GET", f"/warmup/stats/{mailbox.id}", tenant=tokyo).json()["data"]
    assert data["daily"][-1]["date"] == "2026-06-11" and data["sent_today"] == 3
    assert data["warmup_timezone"] == "Asia/Tokyo"


def test_list_is_cursor_paginated_and_skips_deleted_mailboxes(api: Api) -> None:
    kept = [api.mailbox() for _ in range(3)]
    api.mailbox(status="deleted")
    api.mailbox(tenant=make_tenant(name="Other"))
    first = api.call("GET", "/warmup/stats", params={"limit": 2}).json()
    assert first["pagination"]["has_more"] is True and len(first["data"]) == 2
    second = api.call("GET", "/warmup/stats", params={"limit": 2, "cursor": first["pagination"]["next_cursor"]}).json()
    assert second["pagination"] == {"has_more": False, "next_cursor": None}
    assert sorted(m["mailbox_id"] for m in first["data"] + second["data"]) == sorted(m.id for m in kept)
    bad = api.call("GET", "/warmup/stats", params={"cursor": "garbage"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"


def test_stats_read_state_and_counters_in_one_query_per_mailbox(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    boxes = [api.mailbox() for _ in range(3)]
    for box in boxes:
        api.call("PATCH", f"/warmup/settings/{box.id}", json={"warmup_target_daily_volume": 30})
        add_day(box, 1, sent=1)
    calls = {"query": 0, "get": 0}
    query, get = WarmupRow.query, WarmupRow.get

    def counting_query(*args: Any, **kwargs: Any) -> Any:
        calls["query"] += 1
        return query(*args, **kwargs)

    def counting_get(*args: Any, **kwargs: Any) -> Any:
        calls["get"] += 1
        return get(*args, **kwargs)

    monkeypatch.setattr(WarmupRow, "query", counting_query)
    monkeypatch.setattr(WarmupRow, "get", counting_get)
    listing = api.call("GET", "/warmup/stats").json()["data"]
    assert calls == {"query": 3, "get": 0}
    assert {m["warmup_target_daily_volume"] for m in listing} == {30}
    assert {m["daily"][-2]["sent"] for m in listing} == {1}


# --- bulk update -----------------------------------------------------------------------------------------------
def test_bulk_update_job_applies_and_records_per_item_errors(api: Api) -> None:
    good = [api.mailbox() for _ in range(30)]  # two batches of 25
    not_connected = api.mailbox(status="error")
    deleted = api.mailbox(status="deleted")
    missing = new_uuid()
    foreign = api.mailbox(tenant=make_tenant(name="Other"))
    ids = [m.id for m in good] + [not_connected.id, deleted.id, missing, foreign.id, good[0].id]
    body = {
        "mailbox_ids": ids,
        "updates": {"warmup_enabled": True, "warmup_type": "conservative", "warmup_target_daily_volume": 25},
    }
    accepted = api.call("POST", "/warmup/bulk-update", json=body, headers={"Idempotency-Key": "bulk-1"})
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["data"]["job_id"]
    assert accepted.json()["data"] == {"job_id": job_id, "status": "processing", "total_items": 34}  # deduplicated
    replay = api.call("POST", "/warmup/bulk-update", json=body, headers={"Idempotency-Key": "bulk-1"})
    assert replay.status_code == 202 and replay.json()["data"]["job_id"] == job_id

    pending = api.call("GET", f"/jobs/{job_id}").json()["data"]
    assert (pending["status"], pending["processed_items"], pending["completed_at"]) == ("processing", 0, None)
    assert api.call("GET", f"/warmup/stats/{good[0].id}").json()["data"]["warmup_enabled"] is False  # not yet

    run_job(api.tenant.workspace_id, job_id)
    job = api.call("GET", f"/jobs/{job_id}").json()["data"]
    assert (job["status"], job["total_items"], job["processed_items"], job["failed_items"]) == (
        "completed",
        34,
        34,
        4,
    )
    assert {(e["item_id"], e["code"]) for e in job["errors"]} == {
        (not_connected.id, "mailbox_not_connected"),
        (deleted.id, "invalid_status"),
        (missing, "not_found"),
        (foreign.id, "not_found"),
    }
    assert all(e["message"] for e in job["errors"])
    for box in good:
        data = api.call("GET", f"/warmup/stats/{box.id}").json()["data"]
        assert (data["warmup_enabled"], data["warmup_type"], data["warmup_target_daily_volume"]) == (
            True,
            "conservative",
            25,
        )
    assert api.call("GET", f"/warmup/stats/{not_connected.id}").json()["data"]["warmup_enabled"] is False

    # A batch retried after it was counted changes nothing and counts nothing twice.
    JobService().process_batch(api.tenant.workspace_id, job_id, 0)
    assert api.call("GET", f"/jobs/{job_id}").json()["data"]["processed_items"] == 34


def test_bulk_update_items_are_idempotent_when_reapplied(api: Api) -> None:
    box = api.mailbox()
    service = WarmupService()
    change = WarmupSettingsUpdate(warmup_enabled=True, warmup_strategy="recovery")
    first_mailbox, first_state = service.apply(box.workspace_id, box.id, change)
    again_mailbox, again_state = service.apply(box.workspace_id, box.id, change)
    assert (again_mailbox.version, again_state.version) == (first_mailbox.version, first_state.version)
    assert (again_state.strategy, again_state.resume_strategy) == ("recovery", "new_domain")


@pytest.mark.parametrize(
    "body",
    [
        {"mailbox_ids": ["a"], "updates": {}},
        {"mailbox_ids": [], "updates": {"warmup_enabled": True}},
        {"mailbox_ids": ["a"], "updates": {"warmup_strategy": "new_domain", "warmup_type": "aggressive"}},
        {"mailbox_ids": ["a"], "updates": {"warmup_window_start_hour": 5, "warmup_window_end_hour": 5}},
        {"mailbox_ids": ["a"], "updates": {"warmup_target_daily_volume": 1000}},
        {"mailbox_ids": ["a"], "updates": {"warmup_enabled": True}, "extra": 1},
    ],
)
def test_bulk_update_refuses_bad_requests_before_starting_a_job(api: Api, body: dict[str, Any]) -> None:
    response = api.call("POST", "/warmup/bulk-update", json=body)
    assert response.status_code == 400, response.text
    executions = boto3.client("stepfunctions", region_name="us-east-1").list_executions(
        stateMachineArn=os.environ["KINDLING_JOB_STATE_MACHINE_ARN"]
    )["executions"]
    assert executions == []


def test_engine_state_changes_keep_the_mailbox_progress_in_step(api: Api) -> None:
    box = api.mailbox()
    api.call("PATCH", f"/warmup/settings/{box.id}", json={"warmup_enabled": True, "warmup_target_daily_volume": 40})
    assert api.call("GET", f"/mailboxes/{box.id}").json()["data"]["warmup_progress"] == 3  # 1 of 40

    WarmupService().save_engine_state(box.workspace_id, box.id, lambda s: s.model_copy(update={"ramp_day": 30}))
    mailbox = api.call("GET", f"/mailboxes/{box.id}").json()["data"]
    stats = api.call("GET", f"/warmup/stats/{box.id}").json()["data"]
    assert mailbox["warmup_progress"] == stats["warmup_progress"] == 75  # day 30: 30 of 40
    assert stats["ramp_day"] == 30
