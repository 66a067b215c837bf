"""Destination formatting, routed by the URL (inventory 30.5): Slack Block Kit, Discord embeds, or the raw envelope.

- Slack: host `hooks.slack.com`, path under `/services/` (decisions.md) -> `{"text", "blocks"}`: a header, a
  section of fields, the event's text quoted and truncated to ~400 characters, URL buttons where the event
  has a URL, and a context line with the time.
- Discord: hosts `discord.com` / `discordapp.com` (and their ptb/canary subdomains), path `/api/webhooks/` ->
  `{"content": null, "embeds": [one embed]}`; colours: blue replies (3447003), green acceptances, red
  account_disconnected and failures.
- Anything else: the signed JSON envelope `{"type", "data", "timestamp"}`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

Destination = Literal["slack", "discord", "raw"]

TEXT_LIMIT = 400
BLUE = 3447003
GREEN = 3066993
RED = 15158332
ORANGE = 15105570
YELLOW = 16776960
GREY = 9807270
BLURPLE = 5793266

_DISCORD_HOSTS = ("discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com")

# type -> (title, colour, text field, url field, button label)
_STYLE: dict[str, tuple[str, int, str | None, str | None, str]] = {
    "reply.received": ("New reply received", BLUE, "subject", None, ""),
    "email.bounced": ("Email bounced", RED, "bounceReason", None, ""),
    "email.unsubscribed": ("Prospect unsubscribed", ORANGE, None, None, ""),
    "email.opened": ("Email opened", GREY, None, None, ""),
    "email.clicked": ("Link clicked", GREY, None, "url", "Open link"),
    "prospect.suppressed": ("Prospect suppressed", ORANGE, "reason", None, ""),
    "limit.hit": ("Sending limit reached", YELLOW, None, None, ""),
    "webhook.test": ("Test event", BLURPLE, "message", None, ""),
    "bounce_shield.activated": ("Bounce Shield activated", RED, None, None, ""),
    "linkedin.reply_received": ("New LinkedIn reply", BLUE, "messageText", "prospectLinkedinUrl", "View on LinkedIn"),
    "linkedin.invite_accepted": (
        "New connection accepted",
        GREEN,
        None,
        "prospectLinkedinUrl",
        "View on LinkedIn",
    ),
    "linkedin.message_sent": ("LinkedIn message sent", GREY, None, None, ""),
    "linkedin.account_disconnected": ("LinkedIn account disconnected", RED, "reason", None, ""),
}

_LABELS: dict[str, str] = {
    "prospectName": "Prospect",
    "prospectEmail": "Prospect",
    "email": "Email",
    "campaignName": "Campaign",
    "campaignId": "Campaign",
    "mailboxId": "Mailbox",
    "linkedinAccountId": "LinkedIn account",
    "bounceType": "Bounce type",
    "stepIndex": "Step",
    "url": "URL",
    "limitType": "Limit",
    "currentValue": "Current",
    "limitValue": "Limit value",
    "webhookId": "Webhook",
    "enrollmentId": "Enrollment",
}
_TIME_FIELDS = (
    "receivedAt",
    "bouncedAt",
    "unsubscribedAt",
    "openedAt",
    "clickedAt",
    "suppressedAt",
    "hitAt",
    "acceptedAt",
    "disconnectedAt",
    "timestamp",
)


def destination_of(url: str) -> Destination:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "raw"
    host = (parts.hostname or "").lower()
    if host == "hooks.slack.com" and parts.path.startswith("/services/"):
        return "slack"
    if host in _DISCORD_HOSTS and parts.path.startswith("/api/webhooks/"):
        return "discord"
    return "raw"


def truncate(text: str, limit: int = TEXT_LIMIT) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _style(event_type: str) -> tuple[str, int, str | None, str | None, str]:
    return _STYLE.get(event_type, (event_type, GREY, None, None, ""))


def _fields(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for key, label in _LABELS.items():
        value = data.get(key)
        if value is None or value == "" or label in seen:
            continue
        seen.add(label)
        out.append((label, str(value)))
    return out


def _when(data: Mapping[str, Any], timestamp: str) -> str:
    for key in _TIME_FIELDS:
        if data.get(key):
            return str(data[key])
    return timestamp


def _web_url(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) <= 3000:
        return value
    return None


def slack_message(event_type: str, data: Mapping[str, Any], timestamp: str) -> dict[str, Any]:
    title, _colour, text_field, url_field, button = _style(event_type)
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}}]
    fields = _fields(data)[:10]
    if fields:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": truncate(f"*{label}*\n{_slack_escape(value)}", 2000)}
                    for label, value in fields
                ],
            }
        )
    text = data.get(text_field) if text_field else None
    if isinstance(text, str) and text.strip():
        quoted = "\n".join("> " + line for line in _slack_escape(truncate(text)).splitlines())
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": quoted}})
    link = _web_url(data.get(url_field)) if url_field else None
    if link is not None:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": button[:75]},
                        "url": link,
                        "action_id": "open_url",
                    }
                ],
            }
        )
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{event_type} · {_when(data, timestamp)}"}]}
    )
    return {"text": title, "blocks": blocks}


def discord_message(event_type: str, data: Mapping[str, Any], timestamp: str) -> dict[str, Any]:
    title, colour, text_field, url_field, _button = _style(event_type)
    who = data.get("prospectName") or data.get("prospectEmail") or data.get("email")
    embed: dict[str, Any] = {
        "title": truncate(f"{title}: {who}" if who else title, 256),
        "color": colour,
        "timestamp": _when(data, timestamp),
    }
    text = data.get(text_field) if text_field else None
    if isinstance(text, str) and text.strip():
        embed["description"] = truncate(text)
    link = _web_url(data.get(url_field)) if url_field else None
    if link is not None:
        embed["url"] = link
    fields = [(label, value) for label, value in _fields(data) if label != "Prospect"][:25]
    if fields:
        embed["fields"] = [{"name": label, "value": truncate(value, 1024), "inline": True} for label, value in fields]
    footer = [
        f"Campaign: {data.get('campaignName') or data.get('campaignId')}" if data.get("campaignId") else None,
        f"LinkedIn account: {data['linkedinAccountId']}" if data.get("linkedinAccountId") else None,
    ]
    embed["footer"] = {"text": truncate(" · ".join(p for p in footer if p) or "Kindling", 2048)}
    return {"content": None, "embeds": [embed]}


def envelope(event_type: str, data: Mapping[str, Any], timestamp: str) -> dict[str, Any]:
    return {"type": event_type, "data": dict(data), "timestamp": timestamp}


def render_body(url: str, event_type: str, data: Mapping[str, Any], timestamp: str) -> bytes:
    """The exact bytes POSTed (and signed) for this destination."""
    destination = destination_of(url)
    if destination == "slack":
        payload = slack_message(event_type, data, timestamp)
    elif destination == "discord":
        payload = discord_message(event_type, data, timestamp)
    else:
        payload = envelope(event_type, data, timestamp)
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
