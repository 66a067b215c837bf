"""Enrollments over the in-process API on moto: the reference's counts, soft-stop unenroll, the listing, the change
feed, idempotency (by key and by content), concurrency and the request budget of a large enrollment."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pytest

from bench.support import count_aws_requests, total
from kindling.auth.scopes import ALL_SCOPES
from kindling.enrollments.repository import EnrollmentItem, EnrollmentRepository
from kindling.enrollments.service import EnrollmentService
from kindling.platform.clock import ManualClock
from kindling.platform.keys import campaign_pk, enrollment_sk
from tests.conftest import make_tenant
from tests.integration.enrollments.conftest import Api, make_campaign, seed_prospects


def _counts(response: Any) -> dict[str, int]:
    assert response.status_code == 200, response.text
    data: dict[str, int] = response.json()["data"]
    return data


def _listed(api: Api, campaign_id: str, **params: Any) -> list[dict[str, Any]]:
    response = api.call("GET", f"/api/v1/campaigns/{campaign_id}/enrollments", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["data"]
    return items


def test_enroll_by_ids_lists_and_emails_counts_each_prospect_once(api: Api) -> None:
    ws = api.workspace_id
    campaign = make_campaign(ws)
    by_id = seed_prospects(ws, 3, prefix="id", custom_fields={"plan": "pro"})
    in_list = seed_prospects(ws, 4, prefix="member", custom_fields={"seats": 3})
    by_email = seed_prospects(ws, 2, prefix="mail")
    listed = api.call("POST", "/api/v1/lists", json={"name": "Founders"}).json()["data"]["id"]
    members = [p.id for p in in_list] + [by_id[0].id]  # one member is also named by id
    assert api.call("POST", f"/api/v1/lists/{listed}/prospects", json={"prospectIds": members}).status_code == 200

    result = api.enroll(
        campaign.id,
        prospectIds=[p.id for p in by_id] + [by_id[1].id, "00000000-0000-4000-8000-000000000000"],
        listIds=[listed, listed],
        emails=[p.email.upper() for p in by_email] + [by_id[2].email, "nobody@acme.com", "not-an-email"],
    )
    assert _counts(result) == {
        "enrolledCount": 9,
        "suppressedCount": 0,
        "invalidCount": 3,  # the unknown id, the address with no prospect, the malformed address
        "alreadyEnrolledCount": 0,
        "totalProcessed": 12,
    }
    assert result.json()["meta"]["request_id"].startswith("req_")

    summary = EnrollmentService().summary(ws, campaign.id)
    assert summary.total == 9 and summary.count("pending") == 9 and summary.count("suppressed") == 0
    assert summary.custom_field_keys == {"plan", "seats"}

    items = _listed(api, campaign.id, limit=100)
    assert len(items) == 9
    first = items[0]
    assert set(first) == {
        "id",
        "campaignId",
        "prospectId",
        "email",
        "firstName",
        "lastName",
        "status",
        "previousStatus",
        "currentStep",
        "variant",
        "mailboxId",
        "nextSendAt",
        "lastSentAt",
        "stoppedReason",
        "createdAt",
        "updatedAt",
    }
    assert first["id"].startswith("enr_") and first["campaignId"] == campaign.id
    # A pending enrollment is due from the moment it is enrolled; the scheduler sends once the campaign runs.
    assert (first["status"], first["currentStep"], first["nextSendAt"]) == ("pending", 0, first["createdAt"])
    assert first["createdAt"] == "2026-06-10T09:00:00.000Z"
    assert {i["variant"] for i in items} <= {"A", "B"}


def test_resending_enrolls_nobody_twice(api: Api) -> None:
    ws = api.workspace_id
    campaign = make_campaign(ws)
    prospects = seed_prospects(ws, 150)
    body = {"prospectIds": [p.id for p in prospects]}
    assert _counts(api.enroll(campaign.id, **body))["enrolledCount"] == 150
    before = {i["prospectId"]: i["id"] for i in _listed(api, campaign.id, limit=100)}
    again = _counts(api.enroll(campaign.id, **body))
    assert again == {
        "enrolledCount": 0,
        "suppressedCount": 0,
        "invalidCount": 0,
        "alreadyEnrolledCount": 150,
        "totalProcessed": 150,
    }
    after = {i["prospectId"]: i["id"] for i in _listed(api, campaign.id, limit=100)}
    assert after == before  # the same enrollments, not new ones
    assert EnrollmentService().summary(ws, campaign.id).total == 150


def test_idempotency_key_replays_the_first_answer(api: Api) -> None:
    ws = api.workspace_id
    campaign = make_campaign(ws)
    prospects = seed_prospects(ws, 5)
    headers = {"Idempotency-Key": "enroll-batch-1"}
    path = f"/api/v1/campaigns/{campaign.id}/enrollments"
    body = {"prospectIds": [p.id for p in prospects]}
    first = api.call("POST", path, json=body, headers=headers)
    replay = api.call("POST", path, json=body, headers=headers)
    assert first.status_code == replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json() and first.json()["data"]["enrolledCount"] == 5
    assert first.json()["meta"]["idempotency_key"] == "enroll-batch-1"
    other = api.call("POST", path, json={"prospectIds": [prospects[0].id]}, headers=headers)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"


def test_suppressed_and_blocked_prospects_are_recorded_as_suppressed(api: Api) -> None:
    ws = api.workspace_id
    campaign = make_campaign(ws)
    fine = seed_prospects(ws, 2, prefix="fine", custom_fields={"plan": "x"})
    by_entry = seed_prospects(ws, 1, prefix="entry", custom_fields={"secret": "x"})
    by_domain = seed_prospects(ws, 1, prefix="boss", domain="rival.io")
    unsubscribed = seed_prospects(ws, 1, prefix="unsub", global_status="unsubscribed")
    bounced = seed_prospects(ws, 1, prefix="bounce", global_status="bounced")
    invalid = seed_prospects(ws, 1, prefix="invalid", global_status="invalid")
    entry = api.call(
        "POST", "/api/v1/suppressions", json={"type": "email", "value": by_entry[0].email, "reason": "asked"}
    )
    assert entry.status_code == 201, entry.text
    assert api.call("POST", "/api/v1/suppressions", json={"type": "domain", "value": "rival.io"}).status_code == 201

    everyone = fine + by_entry + by_domain + unsubscribed + bounced + invalid
    result = _counts(api.enroll(campaign.id, prospectIds=[p.id for p in everyone]))
    assert result == {
        "enrolledCount": 2,
        "suppressedCount": 4,
        "invalidCount": 1,
        "alreadyEnrolledCount": 0,
        "totalProcessed": 7,
    }
    statuses = {i["email"]: i["status"] for i in _listed(api, campaign.id)}
    assert statuses == {
        **{p.email: "pending" for p in fine},
        **{p.email: "suppressed" for p in by_entry + by_domain + unsubscribed + bounced},
    }
    summary = EnrollmentService().summary(ws, campaign.id)
    assert (summary.total, summary.count("pending"), summary.count("suppressed")) == (6, 2, 4)
    assert summary.custom_field_keys == {"plan"}  # only enrolled prospects' fields
    suppressed_only = _listed(api, campaign.id, status="suppressed")
    assert {i["email"] for i in suppressed_only} == {p.email for p in by_entry + by_domain + unsubscribed + bounced}

    # Still blocked: counted suppressed again, not already enrolled, and nothing new is written.
    again = _counts(api.enroll(campaign.id, prospectIds=[by_domain[0].id, fine[0].id]))
    assert (again["suppressedCount"], again["alreadyEnrolledCount"], again["enrolledCount"]) == (1, 1, 0)
    assert EnrollmentService().summary(ws, campaign.id).total == 6


def test_lifting_the_block_lets_a_suppressed_enrollment_in(api: Api, clock: ManualClock) -> None:
    ws = api.workspace_id
    campaign = make_campaign(ws)
    boss = seed_prospects(ws, 1, prefix="boss", domain="rival.io", custom_fields={"tier": "gold"})[0]
    entry = api.call("POST", "/api/v1/suppressions", json={"type": "domain", "value": "rival.io"}).json()["data"]
    assert _counts(api.enroll(campaign.id, emails=[boss.email]))["suppressedCount"] == 1
    recorded = _listed(api, campaign.id)[0]

    assert api.call("DELETE", f"/api/v1/suppressions/{entry['id']}").status_code == 204
    clock.advance(timedelta(minutes=5))
    result = _counts(api.enroll(campaign.id, emails=[boss.email]))
    assert (result["enrolledCount"], result["suppressedCount"]) == (1, 0)
    now = _listed(api, campaign.id)[0]
    assert now["id"] == recorded["id"]  # the same enrollment, re-activated
    assert (now["status"], now["previousStatus"]) == ("pending", "suppressed")
    summary = EnrollmentService().summary(ws, campaign.id)
    assert (summary.total, summary.count("pending"), summary.count("suppressed")) == (1, 1, 0)
    assert summary.custom_field_keys == {"tier"}


def test_unenroll_soft_stops_and_the_change_feed_reports_it(api: Api, clock: ManualClock) -> None:
    ws = api.workspace_id
    campaign = make_campaign(ws)
    prospects = seed_prospects(ws, 4)
    never = seed_prospects(ws, 1, prefix="never")[0]
    _counts(api.enroll(campaign.id, prospectIds=[p.id for p in prospects]))
    # The scheduler's attributes on one enrollment: a stop must take it out of the due index.
    item = EnrollmentItem.get(campaign_pk(ws, campaign.id), enrollment_sk(prospects[0].id))
    item.update(
        actions=[
            EnrollmentItem.due_pk.set("DUE#SEND#03"),
            EnrollmentItem.due_sk.set("2026-06-10T10:00:00.000Z#x"),
            EnrollmentItem.next_send_at.set(clock.now() + timedelta(hours=1)),
        ]
    )
    clock.advance(timedelta(hours=1))
    since = "2026-06-10T09:30:00Z"
    assert (
        api.call("GET", f"/api/v1/campaigns/{campaign.id}/enrollments/changes", params={"updatedSince": since}).json()[
            "data"
        ]
        == []
    )

    result = api.unenroll(
        campaign.id, prospectIds=[prospects[0].id, never.id], emails=[prospects[1].email.upper(), "ghost@acme.com"]
    )
    assert _counts(result) == {"unenrolledCount": 2, "totalProcessed": 4}
    assert _counts(api.unenroll(campaign.id, prospectIds=[prospects[0].id])) == {
        "unenrolledCount": 0,
        "totalProcessed": 1,
    }

    stopped = EnrollmentItem.get(campaign_pk(ws, campaign.id), enrollment_sk(prospects[0].id))
    assert (stopped.status, stopped.previous_status, stopped.stopped_reason) == ("stopped", "pending", "unenrolled")
    assert stopped.due_pk is None and stopped.due_sk is None and stopped.next_send_at is None
    summary = EnrollmentService().summary(ws, campaign.id)
    assert (summary.total, summary.count("pending"), summary.count("stopped")) == (4, 2, 2)

    for path in ("enrollments", "contacts"):
        feed = api.call("GET", f"/api/v1/campaigns/{campaign.id}/{path}/changes", params={"updatedSince": since})
        assert feed.status_code == 200, feed.text
        body = feed.json()
        assert body["meta"]["updated_since"] == "2026-06-10T09:30:00.000Z"
        assert body["pagination"] == {"has_more": False, "next_cursor": None}
        assert sorted((c["email"], c["status"], c["previousStatus"]) for c in body["data"]) == sorted(
            (p.email, "stopped", "pending") for p in prospects[:2]
        )
        assert {c["updatedAt"] for c in body["data"]} == {"2026-06-10T10:00:00.000Z"}
        assert all(c["enrollmentId"].startswith("enr_") for c in body["data"])

    # Stopped prospects stay enrolled: enrolling them again does not restart the sequence.
    assert _counts(api.enroll(campaign.id, prospectIds=[prospects[0].id]))["alreadyEnrolledCount"] == 1
    by_status = {i["prospectId"]: i["status"] for i in _listed(api, campaign.id, status="stopped")}
    assert by_status == {prospects[0].id: "stopped", prospects[1].id: "stopped"}


def test_listing_pages_newest_first_and_contacts_is_the_same_listing(api: Api, clock: ManualClock) -> None:
    ws = api.workspace_id
    campaign = make_campaign(ws)
    early = seed_prospects(ws, 3, prefix="early")
    _counts(api.enroll(campaign.id, prospectIds=[p.id for p in early]))
    clock.advance(timedelta(minutes=1))
    late = seed_prospects(ws, 2, prefix="late")
    _counts(api.enroll(campaign.id, prospectIds=[p.id for p in late]))

    path = f"/api/v1/campaigns/{campaign.id}/enrollments"
    first = api.call("GET", path, params={"limit": 2}).json()
    assert {i["email"] for i in first["data"]} == {p.email for p in late}
    assert first["pagination"]["has_more"] is True
    rest = api.call("GET", path, params={"limit": 50, "cursor": first["pagination"]["next_cursor"]}).json()
    assert {i["email"] for i in rest["data"]} == {p.email for p in early}
    assert rest["pagination"] == {"has_more": False, "next_cursor": None}
    contacts = api.call("GET", f"/api/v1/campaigns/{campaign.id}/contacts", params={"limit": 2}).json()
    assert contacts["data"] == first["data"]


def test_errors_unknown_campaign_list_status_scopes_and_other_workspaces(api: Api) -> None:
    ws = api.workspace_id
    campaign = make_campaign(ws)
    prospect = seed_prospects(ws, 1)[0]
    unknown = "00000000-0000-4000-8000-000000000000"

    missing = api.enroll(unknown, prospectIds=[prospect.id])
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    for method, path in (
        ("GET", f"/api/v1/campaigns/{unknown}/enrollments"),
        ("GET", f"/api/v1/campaigns/{unknown}/enrollments/changes?updatedSince=2026-01-01T00:00:00Z"),
        ("DELETE", f"/api/v1/campaigns/{unknown}/enrollments"),
    ):
        kwargs: dict[str, Any] = {"json": {"prospectIds": [prospect.id]}} if method == "DELETE" else {}
        assert api.call(method, path, **kwargs).status_code == 404
    no_list = api.enroll(campaign.id, prospectIds=[prospect.id], listIds=["lst_missing"])
    assert no_list.status_code == 404
    assert EnrollmentService().summary(ws, campaign.id).total == 0  # nothing written before the 404

    empty = api.enroll(campaign.id)
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "validation_error"
    assert api.unenroll(campaign.id, listIds=["x"]).status_code == 400
    no_since = api.call("GET", f"/api/v1/campaigns/{campaign.id}/enrollments/changes")
    assert no_since.status_code == 400
    bad_status = api.call("GET", f"/api/v1/campaigns/{campaign.id}/enrollments", params={"status": "sent"})
    assert bad_status.status_code == 400

    done = make_campaign(ws, status="completed")
    closed = api.enroll(done.id, prospectIds=[prospect.id])
    assert closed.status_code == 400 and closed.json()["error"]["code"] == "invalid_status"
    paused = make_campaign(ws, status="paused")
    assert _counts(api.enroll(paused.id, prospectIds=[prospect.id]))["enrolledCount"] == 1

    reader = make_tenant(scopes=("campaigns:read", "prospects:read"), name="Reader")
    headers = {"Authorization": f"Bearer {reader.token}"}
    path = f"/api/v1/campaigns/{campaign.id}/enrollments"
    refused = api.client.post(path, json={"prospectIds": [prospect.id]}, headers=headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
    # The reader's own workspace has no such campaign: reads are scoped, and ids never cross workspaces.
    assert api.client.get(path, headers=headers).status_code == 404
    writer = make_tenant(scopes=tuple(s for s in ALL_SCOPES if s != "campaigns:read" and s != "campaigns:write"))
    assert api.client.get(path, headers={"Authorization": f"Bearer {writer.token}"}).status_code == 403
    other = make_tenant(name="Other")
    stolen = api.client.post(path, json={"prospectIds": [prospect.id]}, headers=other.headers)
    assert stolen.status_code == 404


class _StaleRead(EnrollmentRepository):
    """Reads no existing enrollment the first time, as if a concurrent request enrolled them in between."""

    def __init__(self) -> None:
        super().__init__()
        self.stale_reads = 1

    def statuses(self, workspace_id: str, campaign_id: str, prospect_ids: Iterable[str]) -> dict[str, str]:
        if self.stale_reads:
            self.stale_reads -= 1
            return {}
        return super().statuses(workspace_id, campaign_id, prospect_ids)


def test_a_concurrent_enrollment_is_not_counted_twice(api: Api) -> None:
    ws = api.workspace_id
    campaign = make_campaign(ws)
    prospects = seed_prospects(ws, 120)
    ids = [p.id for p in prospects]
    first = EnrollmentService().enroll(ws, campaign.id, prospect_ids=ids[:60])
    assert first.enrolled == 60
    racing = EnrollmentService(repository=_StaleRead())
    second = racing.enroll(ws, campaign.id, prospect_ids=ids)
    # The first group's transaction is refused (its puts are conditional); the retry re-reads and writes the rest.
    assert (second.enrolled, second.already_enrolled, second.total_processed) == (60, 60, 120)
    summary = EnrollmentService().summary(ws, campaign.id)
    assert (summary.total, summary.count("pending")) == (120, 120)


def test_ten_thousand_ids_in_one_request_within_the_request_budget(api: Api) -> None:
    ws = api.workspace_id
    campaign = make_campaign(ws)
    prospects = seed_prospects(ws, 10_000, custom_fields={"plan": "pro"})
    body = {"prospectIds": [p.id for p in prospects]}
    with count_aws_requests() as counts:
        result = _counts(api.enroll(campaign.id, **body))
    assert result["enrolledCount"] == 10_000 and result["totalProcessed"] == 10_000
    # The request's own overhead (auth, rate limit, campaign read) is included.
    assert total(counts, "dynamodb") / 10_000 <= 1.2, counts
    assert counts["dynamodb.PutItem"] == 0 and counts["dynamodb.BatchWriteItem"] == 0
    again = _counts(api.enroll(campaign.id, **body))
    assert (again["enrolledCount"], again["alreadyEnrolledCount"]) == (0, 10_000)
    summary = EnrollmentService().summary(ws, campaign.id)
    assert (summary.total, summary.count("pending"), summary.custom_field_keys) == (10_000, 10_000, frozenset({"plan"}))


@pytest.mark.parametrize("weights", [(100, 0), (0, 100)])
def test_variant_is_assigned_at_enrollment_by_weight(api: Api, weights: tuple[int, int]) -> None:
    ws = api.workspace_id
    campaign = make_campaign(ws, weights=weights)
    prospects = seed_prospects(ws, 20)
    _counts(api.enroll(campaign.id, prospectIds=[p.id for p in prospects]))
    expected = "A" if weights[0] else "B"
    assert {i["variant"] for i in _listed(api, campaign.id)} == {expected}
