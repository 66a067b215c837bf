"""Reactions over HTTP: the engagement cap is taken before the provider is called, 429 with details at the cap,
a provider failure gives the slot back, Idempotency-Key replays, either post URL form, the reference shapes."""

from __future__ import annotations

from urllib.parse import quote

from kindling.linkedin.provider import MAX_ATTEMPTS
from tests.integration.linkedin_accounts.conftest import LinkedInWorld

POST = "urn:li:activity:7300000000000000000"
ENCODED = quote(POST, safe="")  # urn%3Ali%3Aactivity%3A7300000000000000000


def react_path(post: str = ENCODED) -> str:
    return f"/api/v1/linkedin/posts/{post}/reactions"


def test_reactions_until_the_cap_then_429_with_details_and_no_provider_call(li: LinkedInWorld) -> None:
    account = li.connect()
    body = {"linkedin_account_id": account["id"], "reaction_type": "LIKE"}
    for n in range(5):  # new_account, week 1: 5 engagements a day
        created = li.ok(
            "POST", react_path(quote(f"urn:li:activity:{7300000000000000000 + n}", safe="")), 201, json=body
        )
        assert created == {
            "post_id": f"urn:li:activity:{7300000000000000000 + n}",
            "reaction_type": "LIKE",
            "linkedin_account_id": account["id"],
        }
        li.advance(31)  # 2 actions a minute per account
    assert li.provider_calls("POST", "/posts/reaction") == 5

    refused = li.call("POST", react_path(), json=body)
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert error["code"] == "linkedin_limit_reached"
    assert error["details"] == [
        {
            "field": "engagements_day",
            "message": "limit reached",
            "code": "limit_reached",
            "limit": 5,
            "used": 5,
            "remaining": 0,
            "resets_at": "2026-06-11T00:00:00.000Z",
        }
    ]
    assert int(refused.headers["Retry-After"]) > 0
    assert li.provider_calls("POST", "/posts/reaction") == 5  # nothing reached the provider at the limit
    listed = li.ok("GET", "/api/v1/linkedin/accounts")[0]
    assert listed["engagements_today"] == 5
    assert listed["daily_limits"] == {"engagements_per_day": 5, "engagements_remaining": 0}
    assert listed["activity"]["today"]["engagements"] == 5  # the tally: the five that went out, not the refused


def test_the_pace_is_two_actions_a_minute(li: LinkedInWorld) -> None:
    account = li.connect()
    body = {"linkedin_account_id": account["id"], "reaction_type": "celebrate"}
    li.ok("POST", react_path(), 201, json=body)
    li.ok("POST", react_path(), 201, json=body)
    third = li.call("POST", react_path(), json=body)
    assert third.status_code == 429, third.text
    assert third.json()["error"]["code"] == "linkedin_pace_limited"
    assert li.provider_calls("POST", "/posts/reaction") == 2
    li.advance(60)
    li.ok("POST", react_path(), 201, json=body)


def test_a_provider_failure_releases_the_reservation(li: LinkedInWorld) -> None:
    account = li.connect()
    body = {"linkedin_account_id": account["id"], "reaction_type": "LIKE"}
    li.emulator.server_error(MAX_ATTEMPTS)  # every attempt the client makes fails
    failed = li.call("POST", react_path(), json=body)
    assert failed.status_code == 502, failed.text
    assert failed.json()["error"]["code"] == "provider_error"
    listed = li.ok("GET", "/api/v1/linkedin/accounts")[0]
    assert listed["engagements_today"] == 0
    assert listed["daily_limits"]["engagements_remaining"] == 5
    li.advance(60)
    li.ok("POST", react_path(), 201, json=body)
    assert li.ok("GET", "/api/v1/linkedin/accounts")[0]["engagements_today"] == 1


def test_idempotency_key_replays_without_a_second_reaction(li: LinkedInWorld) -> None:
    account = li.connect()
    body = {"linkedin_account_id": account["id"], "reaction_type": "LIKE"}
    headers = {"Idempotency-Key": "react-once-1"}
    first = li.call("POST", react_path(), json=body, headers=headers)
    again = li.call("POST", react_path(), json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["data"] == again.json()["data"]
    assert li.provider_calls("POST", "/posts/reaction") == 1
    assert li.ok("GET", "/api/v1/linkedin/accounts")[0]["engagements_today"] == 1


def test_post_urls_in_either_form_and_the_list_shape(li: LinkedInWorld) -> None:
    account = li.connect(name="Sam Rivera")
    body = {"linkedin_account_id": account["id"], "reaction_type": "insightful"}
    feed = quote("https://www.linkedin.com/feed/update/urn:li:activity:7311111111111111111/", safe="")
    made = li.ok("POST", react_path(feed), 201, json=body)
    assert made["post_id"] == "urn:li:activity:7311111111111111111"
    li.advance(60)
    posts = quote("https://www.linkedin.com/posts/samrivera_growth-activity-7311111111111111111-Ab1c", safe="")
    li.ok("POST", react_path(posts), 201, json={**body, "reaction_type": "LIKE"})

    listed = li.call("GET", react_path(quote("urn:li:activity:7311111111111111111", safe="")), params={"limit": 1})
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert page["pagination"]["has_more"] is True
    assert set(page["data"][0]) >= {"user_id", "name", "reaction_type", "timestamp"}
    assert page["data"][0]["name"] == "Sam Rivera"
    assert page["data"][0]["user_id"].startswith("urn:li:person:")
    rest = li.ok(
        "GET",
        react_path(quote("urn:li:activity:7311111111111111111", safe="")),
        params={"cursor": page["pagination"]["next_cursor"]},
    )
    assert sorted([page["data"][0]["reaction_type"], rest[0]["reaction_type"]]) == ["INSIGHTFUL", "LIKE"]

    for bad in (
        "7311111111111111111",
        quote("urn:li:share:1", safe=""),
        quote("https://evil.example/posts/a_activity-1-x", safe=""),
    ):
        refused = li.call("POST", react_path(bad), json=body)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["details"][0]["code"] == "invalid_post_id"
    unknown_type = li.call("POST", react_path(), json={**body, "reaction_type": "ANGRY"})
    assert unknown_type.status_code == 400
    assert li.provider_calls("POST", "/posts/reaction") == 2


def test_a_disconnected_account_cannot_react_and_counts_nothing(li: LinkedInWorld) -> None:
    account = li.connect()
    li.emulator.set_account_status(next(iter(li.emulator.accounts)), "CREDENTIALS")  # the webhook flips the row
    refused = li.call("POST", react_path(), json={"linkedin_account_id": account["id"], "reaction_type": "LIKE"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "linkedin_account_not_connected"
    assert li.provider_calls("POST", "/posts/reaction") == 0
