"""NaN, Infinity and overflowing numbers: refused at the edge with 400, and never able to break a listing."""

from __future__ import annotations

import pytest

from kindling.prospects.repository import ProspectItem, prospect_pk
from tests.integration.prospects.conftest import Api

JSON = {"content-type": "application/json"}

NON_FINITE_BODIES = [
    b'{"email": "nan@acme.com", "customFields": {"score": NaN}}',
    b'{"email": "inf@acme.com", "customFields": {"score": Infinity}}',
    b'{"email": "neg@acme.com", "customFields": {"score": -Infinity}}',
    b'{"email": "big@acme.com", "customFields": {"score": 1e999}}',
]


@pytest.mark.parametrize("body", NON_FINITE_BODIES)
def test_prospect_create_with_a_non_finite_custom_value_is_400_and_nothing_is_stored(api: Api, body: bytes) -> None:
    response = api.call("POST", "/api/v1/prospects", content=body, headers=JSON)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["code"] == "non_finite_number"
    listed = api.call("GET", "/api/v1/prospects")
    assert listed.status_code == 200
    assert listed.json()["data"] == []


def _refused(response: object) -> None:
    assert response.status_code == 400, response.text  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert error["code"] == "validation_error"
    assert [d["code"] for d in error["details"]] == ["non_finite_number"]


def test_update_and_other_bodies_refuse_non_finite_numbers(api: Api) -> None:
    created = api.call("POST", "/api/v1/prospects", json={"email": "ok@acme.com", "customFields": {"score": 1.5}})
    assert created.status_code == 201
    prospect_id = created.json()["data"]["id"]
    _refused(
        api.call("PATCH", f"/api/v1/prospects/{prospect_id}", content=b'{"customFields": {"score": NaN}}', headers=JSON)
    )
    _refused(
        api.call("POST", "/api/v1/campaigns", content=b'{"name": "Q3", "dailyLimit": NaN, "steps": []}', headers=JSON)
    )
    _refused(
        api.call(
            "POST",
            "/api/v1/webhooks",
            content=b'{"url": "https://hooks.example.com/k", "events": ["email.sent"], "x": -Infinity}',
            headers=JSON,
        )
    )
    _refused(api.call("POST", "/api/v1/lists", content=b'{"name": "L", "n": 1e400}', headers=JSON))
    # The stored finite value is untouched by the refused update.
    fetched = api.call("GET", f"/api/v1/prospects/{prospect_id}").json()["data"]
    assert fetched["customFields"] == {"score": 1.5}


def test_a_non_finite_value_already_stored_does_not_break_the_list(api: Api) -> None:
    good = api.call("POST", "/api/v1/prospects", json={"email": "good@acme.com", "customFields": {"score": 3}})
    poisoned = api.call("POST", "/api/v1/prospects", json={"email": "old@acme.com", "customFields": {"score": 1}})
    assert good.status_code == 201 and poisoned.status_code == 201
    poisoned_id = poisoned.json()["data"]["id"]
    # Legacy data written before the edge refused it: the stored JSON text carries NaN and Infinity.
    item = ProspectItem.get(prospect_pk(api.tenant.workspace_id, poisoned_id), "#")
    item.update(actions=[ProspectItem.custom_fields.set('{"score":NaN,"ceiling":Infinity,"plan":"pro"}')])

    listed = api.call("GET", "/api/v1/prospects")
    assert listed.status_code == 200, listed.text
    by_email = {p["email"]: p for p in listed.json()["data"]}
    assert by_email["good@acme.com"]["customFields"] == {"score": 3}
    assert by_email["old@acme.com"]["customFields"] == {"score": None, "ceiling": None, "plan": "pro"}
    one = api.call("GET", f"/api/v1/prospects/{poisoned_id}")
    assert one.status_code == 200
    assert one.json()["data"]["customFields"]["plan"] == "pro"
