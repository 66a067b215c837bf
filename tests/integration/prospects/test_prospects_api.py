"""Prospects and lists over HTTP: reference shapes, dedupe by email, filters, exact list counts, isolation."""

from __future__ import annotations

from datetime import timedelta

from kindling.platform.clock import ManualClock
from tests.conftest import make_tenant
from tests.integration.prospects.conftest import Api

JANE = {
    "email": "Jane.Doe@Acme.COM",
    "firstName": "Jane",
    "lastName": "Doe",
    "company": "Acme Inc",
    "linkedinUrl": "https://www.linkedin.com/in/janedoe",
    "customFields": {"Plan Tier": "enterprise"},
}


def test_create_returns_the_reference_shape_and_normalises(api: Api) -> None:
    response = api.call("POST", "/api/v1/prospects", json=JANE)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["alreadyExisted"] is False
    data = body["data"]
    assert data["email"] == "jane.doe@acme.com"
    assert data["globalStatus"] == "active"
    assert data["customFields"] == {"plan_tier": "enterprise"}
    assert data["phone"] is None and data["role"] is None
    assert data["createdAt"].endswith("Z") and len(data["createdAt"]) == 24
    assert set(data) >= {"id", "firstName", "lastName", "company", "linkedinUrl", "createdAt", "updatedAt"}


def test_same_email_in_other_case_is_merged_with_200(api: Api, clock: ManualClock) -> None:
    first = api.call("POST", "/api/v1/prospects", json=JANE).json()["data"]
    clock.advance(timedelta(minutes=5))
    again = api.call(
        "POST",
        "/api/v1/prospects",
        json={"email": "JANE.DOE@acme.com", "role": "CTO", "customFields": {"seats": 40}},
    )
    assert again.status_code == 200
    body = again.json()
    assert body["alreadyExisted"] is True
    assert body["data"]["id"] == first["id"]
    assert body["data"]["role"] == "CTO" and body["data"]["firstName"] == "Jane"
    assert body["data"]["customFields"] == {"plan_tier": "enterprise", "seats": 40}
    listed = api.call("GET", "/api/v1/prospects").json()["data"]
    assert [p["id"] for p in listed] == [first["id"]]


def test_invalid_email_and_missing_email_are_400_with_fields(api: Api) -> None:
    bad = api.call("POST", "/api/v1/prospects", json={"email": "not-an-email"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "validation_error"
    assert any(d["field"] == "email" for d in bad.json()["error"]["details"])
    missing = api.call("POST", "/api/v1/prospects", json={"firstName": "Nobody"})
    assert missing.status_code == 400
    unknown = api.call("POST", "/api/v1/prospects", json={"email": "a@acme.com", "favourite": "x"})
    assert unknown.status_code == 400


def test_linkedin_only_prospect_gets_the_placeholder_address(api: Api) -> None:
    response = api.call("POST", "/api/v1/prospects", json={"linkedinUrl": "https://linkedin.com/in/John-Smith-42/"})
    assert response.status_code == 201
    assert response.json()["data"]["email"] == "li.john-smith-42@noemail.warmysender.com"


def test_patch_clears_linkedin_changes_status_and_emits_suppressed(api: Api) -> None:
    created = api.call("POST", "/api/v1/prospects", json=JANE).json()["data"]
    patched = api.call(
        "PATCH", f"/api/v1/prospects/{created['id']}", json={"linkedinUrl": None, "role": "VP Engineering"}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["linkedinUrl"] is None
    assert patched.json()["data"]["role"] == "VP Engineering"
    assert patched.json()["data"]["firstName"] == "Jane"
    bad = api.call("PATCH", f"/api/v1/prospects/{created['id']}", json={"globalStatus": "gone"})
    assert bad.status_code == 400
    suppressed = api.call("PATCH", f"/api/v1/prospects/{created['id']}", json={"globalStatus": "suppressed"})
    assert suppressed.json()["data"]["globalStatus"] == "suppressed"
    check = api.call("GET", "/api/v1/suppressions/check", params={"email": "jane.doe@acme.com"}).json()["data"]
    assert check["blocked"] is True and check["reason"] == "prospect_status"
    assert [e["kind"] for e in api.events()] == ["event"]
    reactivated = api.call("PATCH", f"/api/v1/prospects/{created['id']}", json={"globalStatus": "active"})
    assert reactivated.json()["data"]["globalStatus"] == "active"
    check = api.call("GET", "/api/v1/suppressions/check", params={"email": "jane.doe@acme.com"}).json()["data"]
    assert check["blocked"] is False


def test_filters_and_cursor_pagination(api: Api, clock: ManualClock) -> None:
    ids = []
    for n in range(5):
        clock.advance(timedelta(seconds=1))
        ids.append(api.call("POST", "/api/v1/prospects", json={"email": f"p{n}@acme.com"}).json()["data"]["id"])
    since = clock.advance(timedelta(seconds=1))
    api.call("PATCH", f"/api/v1/prospects/{ids[1]}", json={"globalStatus": "bounced"})

    page1 = api.call("GET", "/api/v1/prospects", params={"limit": 2}).json()
    assert [p["id"] for p in page1["data"]] == [ids[4], ids[3]]
    assert page1["pagination"]["has_more"] is True
    page2 = api.call("GET", "/api/v1/prospects", params={"limit": 2, "cursor": page1["pagination"]["next_cursor"]})
    assert [p["id"] for p in page2.json()["data"]] == [ids[2], ids[1]]

    bounced = api.call("GET", "/api/v1/prospects", params={"globalStatus": "bounced"}).json()["data"]
    assert [p["id"] for p in bounced] == [ids[1]]
    by_email = api.call("GET", "/api/v1/prospects", params={"email": "P3@ACME.com"}).json()["data"]
    assert [p["id"] for p in by_email] == [ids[3]]
    updated = api.call("GET", "/api/v1/prospects", params={"updatedSince": since.isoformat()}).json()["data"]
    assert [p["id"] for p in updated] == [ids[1]]
    assert api.call("GET", "/api/v1/prospects", params={"cursor": "garbage"}).status_code == 400


def test_lists_keep_exact_counts(api: Api) -> None:
    ids = [
        api.call("POST", "/api/v1/prospects", json={"email": f"l{n}@acme.com"}).json()["data"]["id"] for n in range(3)
    ]
    created = api.call("POST", "/api/v1/lists", json={"name": " Q3 leads ", "color": "#ff8800"})
    assert created.status_code == 201
    lst = created.json()["data"]
    assert lst["name"] == "Q3 leads" and lst["prospectCount"] == 0
    added = api.call("POST", f"/api/v1/lists/{lst['id']}/prospects", json={"prospectIds": [*ids[:2], "nope", ids[0]]})
    assert added.json()["data"] == {"addedCount": 2, "unchangedCount": 0, "notFoundCount": 1, "prospectCount": 2}
    again = api.call("POST", f"/api/v1/lists/{lst['id']}/prospects", json={"prospectIds": ids})
    assert again.json()["data"]["addedCount"] == 1 and again.json()["data"]["unchangedCount"] == 2
    assert again.json()["data"]["prospectCount"] == 3
    removed = api.call("POST", f"/api/v1/lists/{lst['id']}/prospects/remove", json={"prospectIds": [ids[0], ids[0]]})
    assert removed.json()["data"]["removedCount"] == 1 and removed.json()["data"]["prospectCount"] == 2
    members = api.call("GET", "/api/v1/prospects", params={"listId": lst["id"]}).json()["data"]
    assert sorted(p["id"] for p in members) == sorted(ids[1:])
    renamed = api.call("PATCH", f"/api/v1/lists/{lst['id']}", json={"name": "Q4"})
    assert renamed.json()["data"]["name"] == "Q4" and renamed.json()["data"]["prospectCount"] == 2
    assert api.call("GET", "/api/v1/lists").json()["data"][0]["id"] == lst["id"]
    assert api.call("DELETE", f"/api/v1/lists/{lst['id']}").status_code == 204
    assert api.call("GET", f"/api/v1/lists/{lst['id']}").status_code == 404
    assert api.call("GET", f"/api/v1/prospects/{ids[1]}").status_code == 200


def test_another_workspace_sees_nothing(api: Api) -> None:
    created = api.call("POST", "/api/v1/prospects", json=JANE).json()["data"]
    other = make_tenant(name="Other")
    response = api.client.get(f"/api/v1/prospects/{created['id']}", headers=other.headers)
    assert response.status_code == 404
    assert api.client.get("/api/v1/prospects", headers=other.headers).json()["data"] == []
    again = api.client.post("/api/v1/prospects", json=JANE, headers=other.headers)
    assert again.status_code == 201 and again.json()["data"]["id"] != created["id"]


def test_scopes_are_enforced(api: Api) -> None:
    reader = make_tenant(scopes=("prospects:read",), name="Reader")
    assert api.client.get("/api/v1/prospects", headers=reader.headers).status_code == 200
    denied = api.client.post("/api/v1/prospects", json=JANE, headers=reader.headers)
    assert denied.status_code == 403
    assert api.client.get("/api/v1/suppressions", headers=reader.headers).status_code == 403
