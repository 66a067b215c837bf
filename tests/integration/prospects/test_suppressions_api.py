"""Suppressions over HTTP: suppress by email (reference counts), blocklist entries, the check, the event."""

from __future__ import annotations

from typing import Any

import pytest

from kindling.platform.dynamo import TableModel
from kindling.suppressions.service import SuppressionService
from tests.integration.prospects.conftest import Api


def _prospect(api: Api, email: str) -> str:
    return str(api.call("POST", "/api/v1/prospects", json={"email": email}).json()["data"]["id"])


def test_suppress_by_email_counts_exactly_as_the_reference(api: Api) -> None:
    jane = _prospect(api, "jane@acme.com")
    body = {"emails": ["Jane@Acme.com", "ghost@nowhere.io", "jane@acme.com"], "reason": "manual opt-out"}
    first = api.call("POST", "/api/v1/prospects/suppress", json=body)
    assert first.status_code == 200, first.text
    assert first.json()["data"] == {
        "suppressedCount": 1,
        "alreadySuppressedCount": 0,
        "notFoundCount": 1,
        "totalProcessed": 2,
    }
    second = api.call("POST", "/api/v1/prospects/suppress", json=body).json()["data"]
    assert second == {"suppressedCount": 0, "alreadySuppressedCount": 2, "notFoundCount": 0, "totalProcessed": 2}
    assert api.call("GET", f"/api/v1/prospects/{jane}").json()["data"]["globalStatus"] == "suppressed"
    listed = api.call("GET", "/api/v1/suppressions").json()
    assert {(e["type"], e["value"], e["reason"], e["source"]) for e in listed["data"]} == {
        ("email", "jane@acme.com", "manual opt-out", "api"),
        ("email", "ghost@nowhere.io", "manual opt-out", "api"),
    }
    assert all(e["id"].startswith("sup_") for e in listed["data"])
    events = api.events()
    assert len(events) == 1  # one prospect became suppressed; the address without a prospect has no event


def test_suppressed_event_data_matches_the_reference(api: Api) -> None:
    from kindling.events.repository import EventRepository

    jane = _prospect(api, "jane@acme.com")
    api.call("POST", "/api/v1/prospects/suppress", json={"emails": ["jane@acme.com"], "reason": "manual opt-out"})
    message = api.events()[0]
    event = EventRepository().get(api.tenant.workspace_id, message["event_id"])
    assert event.type == "prospect.suppressed"
    assert event.data["prospectId"] == jane and event.data["email"] == "jane@acme.com"
    assert event.data["reason"] == "manual opt-out" and event.data["suppressedAt"].endswith("Z")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/suppressions", {"type": "email", "value": "jane@acme.com"}),
        ("POST", "/api/v1/prospects/suppress", {"emails": ["jane@acme.com"]}),
    ],
)
def test_suppressing_a_prospect_without_a_reason_is_manual(
    api: Api, method: str, path: str, body: dict[str, object]
) -> None:
    from kindling.events.repository import EventRepository

    _prospect(api, "jane@acme.com")
    response = api.call(method, path, json=body)
    assert response.status_code in (200, 201), response.text
    event = EventRepository().get(api.tenant.workspace_id, api.events()[0]["event_id"])
    assert event.type == "prospect.suppressed" and event.data["reason"] == "manual"


def test_invalid_addresses_are_refused_and_nothing_is_written(api: Api) -> None:
    response = api.call("POST", "/api/v1/prospects/suppress", json={"emails": ["ok@acme.com", "bad@"]})
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "emails.1"
    assert api.call("GET", "/api/v1/suppressions").json()["data"] == []


def test_domain_entry_blocks_every_address_of_the_domain(api: Api) -> None:
    created = api.call(
        "POST", "/api/v1/suppressions", json={"type": "domain", "value": "@Competitor.COM", "reason": "rival"}
    )
    assert created.status_code == 201, created.text
    entry = created.json()["data"]
    assert entry["type"] == "domain" and entry["value"] == "competitor.com"
    again = api.call("POST", "/api/v1/suppressions", json={"type": "domain", "value": "competitor.com"})
    assert again.status_code == 200 and again.json()["data"]["id"] == entry["id"]
    check = api.call("GET", "/api/v1/suppressions/check", params={"email": "CEO@competitor.com"}).json()["data"]
    assert check["blocked"] is True and check["reason"] == "domain" and check["entry"]["id"] == entry["id"]
    other = api.call("GET", "/api/v1/suppressions/check", params={"email": "ceo@sub.competitor.com"}).json()["data"]
    assert other["blocked"] is False and other["entry"] is None
    only_domains = api.call("GET", "/api/v1/suppressions", params={"type": "domain"}).json()["data"]
    assert [e["id"] for e in only_domains] == [entry["id"]]
    assert api.call("DELETE", f"/api/v1/suppressions/{entry['id']}").status_code == 204
    assert api.call("DELETE", f"/api/v1/suppressions/{entry['id']}").status_code == 404
    check = api.call("GET", "/api/v1/suppressions/check", params={"email": "ceo@competitor.com"}).json()["data"]
    assert check["blocked"] is False


def test_email_entry_marks_the_prospect_and_delete_keeps_the_status(api: Api) -> None:
    jane = _prospect(api, "jane@acme.com")
    created = api.call(
        "POST", "/api/v1/suppressions", json={"type": "email", "value": "JANE@acme.com", "reason": "asked"}
    )
    assert created.status_code == 201
    entry = created.json()["data"]
    check = api.call("GET", "/api/v1/suppressions/check", params={"email": "jane@acme.com"}).json()["data"]
    assert check == {
        "email": "jane@acme.com",
        "blocked": True,
        "reason": "email",
        "entry": entry,
        "prospectId": jane,
        "prospectStatus": "suppressed",
    }
    assert api.call("DELETE", f"/api/v1/suppressions/{entry['id']}").status_code == 204
    check = api.call("GET", "/api/v1/suppressions/check", params={"email": "jane@acme.com"}).json()["data"]
    assert check["reason"] == "prospect_status"  # the entry is gone; the prospect stays suppressed
    assert api.call("GET", f"/api/v1/prospects/{jane}").json()["data"]["globalStatus"] == "suppressed"
    assert api.call("GET", "/api/v1/suppressions/check", params={"email": "nope"}).status_code == 400


def test_the_check_costs_one_batch_get_of_two_keys(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    api.call("POST", "/api/v1/suppressions", json={"type": "domain", "value": "spam.io"})
    calls: list[int] = []
    connection = TableModel._get_connection()
    original = connection.batch_get_item

    def counting(keys: Any, **kwargs: Any) -> Any:
        calls.append(len(keys))
        return original(keys, **kwargs)

    monkeypatch.setattr(connection, "batch_get_item", counting)
    monkeypatch.setattr(connection, "get_item", lambda *a, **k: pytest.fail("no single gets"))
    result = SuppressionService().check(api.tenant.workspace_id, "x@spam.io")
    assert result.blocked and result.reason == "domain"
    assert calls == [2]
