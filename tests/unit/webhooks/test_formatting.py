"""Slack Block Kit and Discord embed bodies, checked against the documented schemas and limits."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from kindling.webhooks.formatting import (
    BLUE,
    GREEN,
    RED,
    destination_of,
    discord_message,
    render_body,
    slack_message,
)

TS = "2026-06-10T11:00:00.000Z"
LONG = "word " * 300
SAMPLES: dict[str, dict[str, Any]] = {
    "reply.received": {"prospectId": "p1", "prospectEmail": "sam@acme.test", "campaignId": "c1", "mailboxId": "m1",
                       "subject": "Re: <Quick> & question " + LONG, "messageId": "<a@b>", "receivedAt": TS},
    "email.bounced": {"prospectEmail": "sam@acme.test", "campaignId": "c1", "mailboxId": "m1", "bounceType": "hard",
                      "bounceReason": "550 user unknown", "bouncedAt": TS},
    "email.unsubscribed": {"prospectId": "p1", "prospectEmail": "sam@acme.test", "campaignId": "c1",
                           "unsubscribedAt": TS},
    "email.opened": {"prospectId": "p1", "prospectEmail": "sam@acme.test", "campaignId": "c1", "stepIndex": 0,
                     "openedAt": TS},
    "email.clicked": {"prospectId": "p1", "prospectEmail": "sam@acme.test", "campaignId": "c1",
                      "url": "https://yourdomain.com/demo", "clickedAt": TS},
    "prospect.suppressed": {"prospectId": "p1", "email": "sam@acme.test", "reason": "manual opt-out",
                            "suppressedAt": TS},
    "limit.hit": {"limitType": "daily_mailbox", "mailboxId": "m1", "currentValue": 50, "limitValue": 50, "hitAt": TS},
    "webhook.test": {"webhookId": "wh_1", "timestamp": TS, "message": "This is a test event from WarmySender"},
    "bounce_shield.activated": {"bounceRate": 12.5, "thresholdPercent": 8, "sent": 40, "bounced": 5, "activatedAt": TS,
                                "windowType": "sends", "windowSends": 40, "pausedCampaignIds": ["c1", "c2"],
                                "blocklistedCount": 5},
    "linkedin.reply_received": {"prospectName": "Sam Rivera", "prospectLinkedinUrl": "https://www.linkedin.com/in/sam",
                                "campaignId": "c1", "enrollmentId": "enr_1", "linkedinAccountId": "li_1",
                                "messageText": LONG, "threadId": "th_1", "receivedAt": TS},
    "linkedin.invite_accepted": {"prospectName": "Sam Rivera", "prospectLinkedinUrl": "https://www.linkedin.com/in/sam",
                                 "campaignId": "c1", "enrollmentId": "enr_1", "linkedinAccountId": "li_1",
                                 "acceptedAt": TS},
    "linkedin.account_disconnected": {"linkedinAccountId": "li_1", "reason": "session expired"},
}  # fmt: skip


def _text_object(obj: Any, max_len: int, plain_only: bool = False) -> None:
    assert isinstance(obj, dict) and set(obj) <= {"type", "text", "emoji", "verbatim"}
    assert obj["type"] in (("plain_text",) if plain_only else ("plain_text", "mrkdwn"))
    assert isinstance(obj["text"], str) and 1 <= len(obj["text"]) <= max_len


def check_slack(message: dict[str, Any]) -> None:
    """Block Kit limits (api.slack.com/reference/block-kit/blocks)."""
    assert set(message) <= {"text", "blocks"} and isinstance(message["text"], str)
    blocks = message["blocks"]
    assert 1 <= len(blocks) <= 50
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            assert set(block) <= {"type", "text", "block_id"}
            _text_object(block["text"], 150, plain_only=True)
        elif kind == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                _text_object(block["text"], 3000)
            for item in block.get("fields", []):
                _text_object(item, 2000)
            assert len(block.get("fields", [])) <= 10
        elif kind == "actions":
            assert 1 <= len(block["elements"]) <= 25
            for element in block["elements"]:
                assert element["type"] == "button"
                _text_object(element["text"], 75, plain_only=True)
                assert element["url"].startswith("https://") and len(element["url"]) <= 3000
                assert len(element["action_id"]) <= 255
        elif kind == "context":
            assert 1 <= len(block["elements"]) <= 10
            for element in block["elements"]:
                _text_object(element, 3000)
        else:
            pytest.fail(f"unexpected block type {kind}")


def check_discord(message: dict[str, Any]) -> None:
    """Execute Webhook body and embed limits (discord.com/developers/docs/resources/message, "Embed Limits")."""
    assert message["content"] is None and set(message) == {"content", "embeds"}
    embeds = message["embeds"]
    assert 1 <= len(embeds) <= 10
    total = 0
    for embed in embeds:
        assert set(embed) <= {"title", "description", "url", "timestamp", "color", "footer", "fields"}
        assert len(embed["title"]) <= 256
        assert len(embed.get("description", "")) <= 4096
        assert isinstance(embed["color"], int) and 0 <= embed["color"] <= 0xFFFFFF
        datetime.fromisoformat(embed["timestamp"].replace("Z", "+00:00"))
        assert len(embed["footer"]["text"]) <= 2048
        fields = embed.get("fields", [])
        assert len(fields) <= 25
        for item in fields:
            assert 1 <= len(item["name"]) <= 256 and 1 <= len(item["value"]) <= 1024
        total += len(embed["title"]) + len(embed.get("description", "")) + len(embed["footer"]["text"])
        total += sum(len(f["name"]) + len(f["value"]) for f in fields)
    assert total <= 6000


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_slack_body_matches_block_kit(event_type: str) -> None:
    message = slack_message(event_type, SAMPLES[event_type], TS)
    check_slack(message)
    assert message["blocks"][0]["type"] == "header"


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_discord_body_matches_embed_schema(event_type: str) -> None:
    check_discord(discord_message(event_type, SAMPLES[event_type], TS))


def test_slack_reply_card_truncates_and_escapes() -> None:
    message = slack_message("linkedin.reply_received", SAMPLES["linkedin.reply_received"], TS)
    assert message["blocks"][0]["text"]["text"] == "New LinkedIn reply"
    quoted = next(b for b in message["blocks"] if b["type"] == "section" and "text" in b)["text"]["text"]
    assert quoted.startswith("> word") and quoted.endswith("…")
    assert len(quoted) <= 400 + 2  # the help center: "truncated to ~400 chars"
    button = next(b for b in message["blocks"] if b["type"] == "actions")["elements"][0]
    assert (button["text"]["text"], button["url"]) == ("View on LinkedIn", "https://www.linkedin.com/in/sam")
    email_reply = slack_message("reply.received", SAMPLES["reply.received"], TS)
    text = json.dumps(email_reply)
    assert "&lt;Quick&gt; &amp; question" in text and "<Quick>" not in text
    assert not any(b["type"] == "actions" for b in email_reply["blocks"])  # no URL, no button


def test_discord_colours_and_titles() -> None:
    reply = discord_message("linkedin.reply_received", SAMPLES["linkedin.reply_received"], TS)["embeds"][0]
    assert reply["color"] == BLUE == 3447003
    assert reply["title"] == "New LinkedIn reply: Sam Rivera"
    assert reply["footer"]["text"] == "Campaign: c1 · LinkedIn account: li_1"
    assert len(reply["description"]) <= 400
    accepted = discord_message("linkedin.invite_accepted", SAMPLES["linkedin.invite_accepted"], TS)["embeds"][0]
    assert accepted["color"] == GREEN
    gone = discord_message("linkedin.account_disconnected", SAMPLES["linkedin.account_disconnected"], TS)["embeds"][0]
    assert gone["color"] == RED


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://hooks.slack.com/services/T000/B000/XXXX", "slack"),
        ("https://hooks.slack.com/workflows/T000/A000", "raw"),
        ("https://hooks.slack.com.evil.test/services/x", "raw"),
        ("https://discord.com/api/webhooks/123/abc", "discord"),
        ("https://discordapp.com/api/webhooks/123/abc", "discord"),
        ("https://discord.com/channels/1/2", "raw"),
        ("https://n8n.example.com/webhook/abc", "raw"),
    ],
)
def test_routing_by_url(url: str, expected: str) -> None:
    assert destination_of(url) == expected


def test_raw_envelope_is_type_data_timestamp() -> None:
    body = json.loads(render_body("https://example.com/h", "email.opened", SAMPLES["email.opened"], TS))
    assert body == {"type": "email.opened", "data": SAMPLES["email.opened"], "timestamp": TS}
    slack = json.loads(
        render_body("https://hooks.slack.com/services/a/b/c", "email.opened", SAMPLES["email.opened"], TS)
    )
    assert "blocks" in slack
