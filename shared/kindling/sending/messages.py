"""The send queue and its campaign message: one claimed send with everything the sender needs except secrets.

The scheduler renders the step for the prospect and decides what follows a successful send (the next step and
when it is due), so the sender reads no campaign and no prospect: it checks the gate, the suppression list and
the mailbox, speaks SMTP and records the outcome.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from kindling.platform import aws
from kindling.platform.clock import isoformat, parse_iso
from kindling.platform.observability import get_logger
from kindling.platform.queues import QueueMessage, delay_until, required_url, send_batches
from kindling.platform.settings import get_settings

VERSION = 1


class SendMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    v: int = VERSION
    workspace_id: str
    campaign_id: str
    campaign_name: str = ""
    enrollment_id: str
    prospect_id: str
    step_id: str
    step_index: int
    variant: str | None = None
    mailbox_id: str
    send_id: str
    token: str  # this claim's token: a stale queue message of an earlier attempt never passes the gate
    recipient: str
    recipient_name: str | None = None
    from_address: str
    from_name: str | None = None
    message_id: str  # without angle brackets
    sending_domain: str
    subject: str
    html: str
    text: str
    send_as_reply: bool = False
    thread: list[str] = Field(default_factory=list)
    track_opens: bool = True
    track_clicks: bool = True
    stop_on_bounce: bool = True
    send_at: datetime  # the pacer's slot for this send
    attempt: int = 1
    # What a successful send leads to: the next step's index (None: the sequence is complete) and its due time.
    next_step_index: int | None = None
    next_send_at: datetime | None = None
    queued_at: datetime

    def to_body(self) -> str:
        data: dict[str, Any] = self.model_dump(mode="json")
        for name in ("send_at", "next_send_at", "queued_at"):
            data[name] = isoformat(getattr(self, name))
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_body(cls, body: str) -> SendMessage:
        data = json.loads(body)
        if not isinstance(data, dict) or data.get("v") != VERSION:
            raise ValueError("not a send message of this version")
        for name in ("send_at", "next_send_at", "queued_at"):
            if data.get(name):
                data[name] = parse_iso(data[name])
        return cls.model_validate(data)


class Delayed(Protocol):
    """A send queue message (a campaign `SendMessage`, a `kindling.warmup.messages.WarmupSendMessage`)."""

    @property
    def send_at(self) -> datetime: ...

    def to_body(self) -> str: ...


class SqsSendQueue:
    """The send queue (the sender function's), for campaign and warmup messages alike: 10 per SendMessageBatch,
    each delayed until its pacer slot (at most 15 minutes ahead)."""

    def __init__(self, queue_url: str | None = None) -> None:
        self._url = queue_url

    def send(self, messages: Sequence[Delayed], now: datetime) -> None:
        url = required_url(self._url or get_settings().send_queue_url, "KINDLING_SEND_QUEUE_URL")
        queued = [QueueMessage(m.to_body(), delay_until(m.send_at, now)) for m in messages]
        refused = send_batches(aws.client("sqs"), url, queued)
        if refused:
            # The claims stand; the watchdog (campaigns) or the retry path (warmup) sends them again. Say so now.
            get_logger().error(
                "send queue refused messages", extra={"failed": [(r.position, r.code, r.reason) for r in refused]}
            )
