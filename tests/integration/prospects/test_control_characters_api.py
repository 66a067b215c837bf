"""CR/LF and other control characters in header-bound and logged text: 400 `validation_error` naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.prospects.conftest import Api


def _refused(response: Any, field: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [d["field"] for d in error["details"]], error["details"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("firstName", "Jane\r\nBcc: victim@example.com"),
        ("lastName", "Doe\nX-Injected: 1"),
        ("company", "Acme\rInc"),
        ("role", "CTO\x00"),
        ("city", "Paris\x1b[31m"),
        ("country", "Fran\u2028ce"),
        ("industry", "Soft\x85ware"),
    ],
)
def test_prospect_text_fields_refuse_control_characters(api: Api, field: str, value: str) -> None:
    _refused(api.call("POST", "/api/v1/prospects", json={"email": "jane@acme.com", field: value}), field)
    assert api.call("GET", "/api/v1/prospects").json()["data"] == []


def test_prospect_patch_refuses_cr_lf_and_leaves_the_stored_name(api: Api) -> None:
    created = api.call("POST", "/api/v1/prospects", json={"email": "jane@acme.com", "firstName": "Jane"})
    assert created.status_code == 201
    prospect_id = created.json()["data"]["id"]
    _refused(api.call("PATCH", f"/api/v1/prospects/{prospect_id}", json={"firstName": "Jane\r\nTo: x"}), "firstName")
    assert api.call("GET", f"/api/v1/prospects/{prospect_id}").json()["data"]["firstName"] == "Jane"


def test_custom_field_values_may_span_lines_but_carry_no_other_control_characters(api: Api) -> None:
    multi = api.call(
        "POST",
        "/api/v1/prospects",
        json={"email": "notes@acme.com", "customFields": {"notes": "line one\r\nline two\n\tindented"}},
    )
    assert multi.status_code == 201, multi.text
    assert multi.json()["data"]["customFields"] == {"notes": "line one\r\nline two\n\tindented"}
    for bad in ("bell\x07", "nul\x00", "lone\rcr", "esc\x1b"):
        _refused(
            api.call("POST", "/api/v1/prospects", json={"email": "bad@acme.com", "customFields": {"notes": bad}}),
            "customFields",
        )


def test_list_and_campaign_names_and_subjects_refuse_line_breaks(api: Api) -> None:
    _refused(api.call("POST", "/api/v1/lists", json={"name": "Leads\r\nforged log line"}), "name")
    campaign = {
        "name": "Q3 outreach",
        "mailboxIds": ["mbx_1"],
        "steps": [{"stepIndex": 0, "subject": "Hello\r\nBcc: everyone@example.com", "bodyHtml": "<p>Hi</p>"}],
    }
    _refused(api.call("POST", "/api/v1/campaigns", json=campaign), "steps.0.subject")
    _refused(api.call("POST", "/api/v1/campaigns", json={**campaign, "name": "Q3\nforged"}), "name")


@pytest.mark.parametrize(
    "url",
    ["https://hooks.example.com/in\r\nX-Injected: 1", "https://hooks.example.com/\x00", "https://h.example.com/\t"],
)
def test_webhook_urls_refuse_control_characters(api: Api, url: str) -> None:
    _refused(api.call("POST", "/api/v1/webhooks", json={"url": url, "events": ["email.sent"]}), "url")
