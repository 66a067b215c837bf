"""GET/PATCH /api/v1/bounce-shield over HTTP (in-process API, moto): the documented defaults, partial updates,
validation with stable codes, scopes and workspace isolation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import make_tenant
from tests.integration.prospects.conftest import Api

PATH = "/api/v1/bounce-shield"
DEFAULTS = {
    "enabled": True,
    "thresholdPercent": 8.0,
    "windowType": "sends",
    "windowSends": 100,
    "windowHours": 24,
    "autoPause": True,
    "autoBlocklist": True,
    "notify": True,
    "activations": 0,
    "lastActivatedAt": None,
    "updatedAt": None,
}


def test_defaults_then_a_partial_update(api: Api) -> None:
    got = api.call("GET", PATH)
    assert got.status_code == 200, got.text
    assert got.json()["data"] == DEFAULTS
    patched = api.call("PATCH", PATH, json={"thresholdPercent": 5, "windowType": "hours", "windowHours": 6})
    assert patched.status_code == 200, patched.text
    data = patched.json()["data"]
    assert (data["thresholdPercent"], data["windowType"], data["windowHours"]) == (5.0, "hours", 6)
    assert (data["windowSends"], data["autoPause"], data["autoBlocklist"]) == (100, True, True)  # unchanged
    assert data["updatedAt"] is not None
    assert api.call("GET", PATH).json()["data"] == data


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"thresholdPercent": 0.5}, "thresholdPercent"),  # 1-50
        ({"thresholdPercent": 51}, "thresholdPercent"),
        ({"windowSends": 19}, "windowSends"),  # 20-10,000
        ({"windowSends": 10_001}, "windowSends"),
        ({"windowHours": 0}, "windowHours"),  # 1-168
        ({"windowHours": 169}, "windowHours"),
        ({"windowType": "days"}, "windowType"),
        ({"autoPause": None}, "autoPause"),  # nothing may be cleared
        ({"threshold": 5}, "threshold"),  # unknown field
    ],
)
def test_bad_settings_are_refused_and_nothing_changes(api: Api, body: dict[str, Any], field: str) -> None:
    refused = api.call("PATCH", PATH, json=body)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "validation_error"
    assert field in refused.text
    assert api.call("GET", PATH).json()["data"] == DEFAULTS


def test_scopes_and_isolation(api: Api) -> None:
    assert api.call("PATCH", PATH, json={"thresholdPercent": 12}).status_code == 200
    reader = make_tenant(scopes=("campaigns:read",), name="Reader")
    headers = {"Authorization": f"Bearer {reader.token}"}
    assert api.client.get(PATH, headers=headers).json()["data"]["thresholdPercent"] == 8.0  # its own workspace
    refused = api.client.patch(PATH, json={"thresholdPercent": 12}, headers=headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
    outsider = make_tenant(scopes=("prospects:read",), name="Outsider")
    assert api.client.get(PATH, headers={"Authorization": f"Bearer {outsider.token}"}).status_code == 403
    assert api.call("GET", PATH).json()["data"]["thresholdPercent"] == 12.0
