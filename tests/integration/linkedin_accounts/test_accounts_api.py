"""The LinkedIn accounts API over HTTP, against the provider emulator over real HTTP (which calls the API back)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from kindling.linkedin.repository import LinkedInAccountRepository
from kindling.platform.settings import reset_settings
from tests.integration.linkedin_accounts.conftest import WEBHOOK_SECRET, LinkedInWorld

REFERENCE_KEYS = {
    "id",
    "name",
    "linkedin_url",
    "status",
    "linkedin_account_type",
    "strategy",
    "ramp_week",
    "engagements_today",
    "engagements_day",
    "created_at",
    "daily_limits",
}


def token_of(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1]


def test_connect_returns_the_hosted_url_and_the_callback_links_the_row(li: LinkedInWorld) -> None:
    started = li.ok("POST", "/api/v1/linkedin/accounts/connect", 201)
    assert started["url"].startswith(li.emulator.root_url + "/hosted/")
    account_id = started["account"]["id"]
    assert account_id.startswith("li_")
    assert started["account"]["status"] == "connecting"

    provider_account = li.emulator.complete_hosted_link(
        token_of(started["url"]), account_name="Jordan Lee", account_type="sales_navigator"
    )

    account = li.ok("GET", f"/api/v1/linkedin/accounts/{account_id}")
    assert account["status"] == "connected"
    assert account["name"] == "Jordan Lee"
    assert account["linkedin_account_type"] == "sales_navigator"
    assert account["linkedin_url"] == f"https://www.linkedin.com/in/{provider_account.public_identifier}"
    audit = LinkedInAccountRepository().audit(li.tenant.workspace_id, account_id)
    assert [(e.old_status, e.new_status, e.source) for e in audit] == [("connecting", "connected", "callback")]


def test_a_second_click_within_90_seconds_returns_the_same_url(li: LinkedInWorld) -> None:
    first = li.ok("POST", "/api/v1/linkedin/accounts/connect", 201)
    li.advance(89)
    again = li.ok("POST", "/api/v1/linkedin/accounts/connect", 200)
    assert again["url"] == first["url"]
    assert again["account"]["id"] == first["account"]["id"]
    assert li.provider_calls("POST", "/hosted/accounts/link") == 1
    li.advance(2)  # 91 s after the first click
    later = li.ok("POST", "/api/v1/linkedin/accounts/connect", 201)
    assert later["url"] != first["url"]
    assert li.provider_calls("POST", "/hosted/accounts/link") == 2


def test_the_list_has_the_reference_shape(li: LinkedInWorld) -> None:
    account = li.connect()
    listed = li.ok("GET", "/api/v1/linkedin/accounts")
    assert [a["id"] for a in listed] == [account["id"]]
    item = listed[0]
    assert set(item) >= REFERENCE_KEYS
    assert item["status"] == "connected"
    assert item["strategy"] == "new_account"
    assert item["ramp_week"] == 1
    assert item["engagements_today"] == 0
    assert item["engagements_day"] == "2026-06-10"
    assert item["created_at"] == "2026-06-10T09:00:00.000Z"
    # new_account week 1 engages 5 a day (help center 37.7), below Premium's 40
    assert item["daily_limits"] == {"engagements_per_day": 5, "engagements_remaining": 5}
    assert item["limits"]["engagements_day"]["cap"] == 5
    assert item["limits"]["invites_week"]["resets_at"] == "2026-06-15T00:00:00.000Z"  # the next Monday
    assert item["limits"]["messages_day"]["resets_at"] == "2026-06-11T00:00:00.000Z"


def test_a_connect_without_the_stack_secret_links_nothing(li: LinkedInWorld) -> None:
    started = li.ok("POST", "/api/v1/linkedin/accounts/connect", 201)
    body = {"status": "CREATION_SUCCESS", "account_id": "acc_forged", "name": f"{li.tenant.workspace_id}:x"}
    for params, headers in (({}, {}), ({"secret": "wrong"}, {}), ({}, {"X-Kindling-Webhook-Secret": "wrong"})):
        refused = li.api.post("/linkedin/provider/notify", params=params, headers=headers, json=body)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "invalid_signature"
    forged = li.api.post(
        "/linkedin/provider/webhook",
        json={"AccountStatus": {"account_id": "acc_forged", "account_type": "LINKEDIN", "message": "CREDENTIALS"}},
    )
    assert forged.status_code == 401
    assert li.ok("GET", f"/api/v1/linkedin/accounts/{started['account']['id']}")["status"] == "connecting"


def test_a_new_relation_webhook_for_no_known_account_is_accepted_and_stores_nothing(li: LinkedInWorld) -> None:
    headers = {"X-Kindling-Webhook-Secret": WEBHOOK_SECRET}
    relation = {
        "event": "new_relation",
        "account_id": "acc_1",
        "account_type": "LINKEDIN",
        "webhook_name": "relations",
        "user_full_name": "Sam Rivera",
        "user_provider_id": "ACoAAB",
        "user_public_identifier": "samrivera",
        "user_profile_url": "https://www.linkedin.com/in/samrivera",
        "user_picture_url": None,
    }
    response = li.api.post("/linkedin/provider/webhook", headers=headers, json=relation)
    assert response.status_code == 200, response.text
    assert response.json()["handled"] == "unknown_account"  # issue 18's engine handles those of known accounts


def test_patch_overrides_need_acknowledgement_and_stay_under_the_ceilings(li: LinkedInWorld) -> None:
    account = li.connect(account_type="recruiter")
    path = f"/api/v1/linkedin/accounts/{account['id']}"
    above = li.call("PATCH", path, json={"overrides": {"inmails_day": 51}, "risk_acknowledged": True})
    assert above.status_code == 400, above.text
    assert above.json()["error"]["code"] == "validation_error"
    assert [d["code"] for d in above.json()["error"]["details"]] == ["override_above_safe_ceiling"]
    unacknowledged = li.call("PATCH", path, json={"overrides": {"engagements_day": 3}})
    assert unacknowledged.status_code == 400
    assert unacknowledged.json()["error"]["details"][0]["code"] == "risk_acknowledgement_required"
    disable = li.call("PATCH", path, json={"overrides": {"engagements_day": "unlimited"}, "risk_acknowledged": True})
    assert disable.status_code == 400
    assert li.ok("GET", path)["daily_limits"]["engagements_per_day"] == 5  # nothing was written

    lowered = li.ok("PATCH", path, json={"overrides": {"engagements_day": 3}, "risk_acknowledged": True})
    assert lowered["daily_limits"] == {"engagements_per_day": 3, "engagements_remaining": 3}
    assert lowered["overrides"] == {"engagements_day": 3}
    assert lowered["overrides_acknowledged_at"] == "2026-06-10T09:00:00.000Z"
    cleared = li.ok("PATCH", path, json={"overrides": {"engagements_day": None}})
    assert cleared["overrides"] == {}
    assert cleared["daily_limits"]["engagements_per_day"] == 5

    steady = li.ok("PATCH", path, json={"strategy": "steady"})  # the reference's value
    assert steady["strategy"] == "established"
    assert steady["daily_limits"]["engagements_per_day"] == 15  # established starts at 15 (help center 37.7)
    bad = li.call("PATCH", path, json={"strategy": "yolo"})
    assert bad.status_code == 400


def _raw_items() -> list[dict[str, Any]]:
    table = boto3.client("dynamodb", region_name="us-east-1")
    name = table.list_tables()["TableNames"][0]
    return list(table.scan(TableName=name)["Items"])


def test_proxy_credentials_are_encrypted_and_never_returned(li: LinkedInWorld) -> None:
    account = li.connect()
    path = f"/api/v1/linkedin/accounts/{account['id']}"
    secret_user, secret_pass = "proxyuser42", "Pr0xy-Pa55word!"
    updated = li.call(
        "PATCH",
        path,
        json={"proxy": {"mode": "custom", "url": f"socks5://{secret_user}:{secret_pass}@proxy.example.com:1080"}},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["data"]["proxy"] == {
        "mode": "custom",
        "country": None,
        "url": "socks5://proxy.example.com:1080",
        "has_credentials": True,
    }
    for response in (updated, li.call("GET", path), li.call("GET", "/api/v1/linkedin/accounts")):
        assert secret_user not in response.text and secret_pass not in response.text
    stored = json.dumps(_raw_items())
    assert secret_pass not in stored and secret_user not in stored

    for bad in (
        {"mode": "custom", "url": "ftp://u:p@proxy.example.com:21"},
        {"mode": "custom", "url": "http://proxy.example.com"},
        {"mode": "country", "country": "Germany"},
        {"mode": "rotating"},
    ):
        refused = li.call("PATCH", path, json={"proxy": bad})
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] == "validation_error"
    country = li.ok("PATCH", path, json={"proxy": {"mode": "country", "country": "de"}})
    assert country["proxy"] == {"mode": "country", "country": "DE", "url": None, "has_credentials": False}


def test_delete_removes_the_account_at_the_provider_and_keeps_its_history(li: LinkedInWorld) -> None:
    account = li.connect()
    provider_ids = set(li.emulator.accounts)
    deleted = li.ok("DELETE", f"/api/v1/linkedin/accounts/{account['id']}")
    assert deleted["status"] == "deleted"
    assert len(li.emulator.accounts) == len(provider_ids) - 1
    assert li.call("GET", f"/api/v1/linkedin/accounts/{account['id']}").status_code == 404
    assert li.ok("GET", "/api/v1/linkedin/accounts") == []
    audit = LinkedInAccountRepository().audit(li.tenant.workspace_id, account["id"])
    assert [(e.old_status, e.new_status) for e in audit] == [("connecting", "connected"), ("connected", "deleted")]


def test_a_stack_without_a_provider_answers_502_not_500(li: LinkedInWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KINDLING_LINKEDIN_PROVIDER_URL")
    reset_settings()
    try:
        response = li.call("POST", "/api/v1/linkedin/accounts/connect")
        assert response.status_code == 502, response.text
        assert response.json()["error"]["code"] == "provider_error"
        assert li.ok("GET", "/api/v1/linkedin/accounts") == []  # no half-made row
    finally:
        monkeypatch.undo()
        reset_settings()


def test_racing_first_clicks_get_one_url(li: LinkedInWorld) -> None:
    import threading

    barrier = threading.Barrier(4)
    answers: list[dict[str, Any]] = []

    def click() -> None:
        barrier.wait()
        response = li.call("POST", "/api/v1/linkedin/accounts/connect")
        assert response.status_code in (200, 201), response.text
        answers.append(response.json()["data"])

    threads = [threading.Thread(target=click) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 4
    assert len({a["url"] for a in answers}) == 1
    assert len({a["account"]["id"] for a in answers}) == 1
    assert [a["id"] for a in li.ok("GET", "/api/v1/linkedin/accounts")] == [answers[0]["account"]["id"]]


def test_a_status_webhook_for_an_account_of_no_workspace_changes_nothing(li: LinkedInWorld) -> None:
    account = li.connect()
    body = {"AccountStatus": {"account_id": "acc_of_nobody", "account_type": "LINKEDIN", "message": "CREDENTIALS"}}
    response = li.api.post(
        "/linkedin/provider/webhook", headers={"X-Kindling-Webhook-Secret": WEBHOOK_SECRET}, json=body
    )
    assert response.status_code == 200, response.text
    assert response.json()["handled"] == "unknown_account"
    assert li.ok("GET", f"/api/v1/linkedin/accounts/{account['id']}")["status"] == "connected"
