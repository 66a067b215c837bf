"""The warmup email's send queue message (`WarmupSendMessage`, body `kind: "warmup"`): the warmup tick, the
receiving side's replies and the delivery retry path queue it on the send queue
(`kindling.sending.messages.SqsSendQueue`), the sender function reads it. The sender imports this module, not the
warmup tick engine.

A reply (`reply_to` set: the Message-ID it answers) is queued by inbox sync unreserved (`reserved` False) for the
moment its natural delay ends; the sender reserves its pacer slot and its place under the 500/day hard cap when it
falls due (kindling.warmup.replies), as the tick does for its own sends."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from kindling.platform.clock import isoformat, parse_iso

MESSAGE_VERSION = 1


class WarmupSendMessage(BaseModel):
    """One warmup email for the sender function (body `kind: "warmup"`; campaign messages have no `kind`)."""

    model_config = ConfigDict(frozen=True)

    v: int = MESSAGE_VERSION
    kind: Literal["warmup"] = "warmup"
    exchange_id: str
    workspace_id: str
    mailbox_id: str
    day: date  # the sender's local day the send counts on
    recipient: str
    recipient_name: str | None = None
    from_address: str
    from_name: str | None = None
    send_at: datetime
    queued_at: datetime
    attempt: int = 1  # 1 for the first try; a transient SMTP failure re-queues the message with attempt + 1
    # A reply to the exchange's email (sent by its recipient mailbox): the Message-ID and References it threads on,
    # the subject it answers; `reserved` False until the sender reserved its pacer slot and hard-cap place.
    reply_to: str | None = None
    reply_references: tuple[str, ...] = ()
    reply_subject: str | None = None
    reserved: bool = True

    @property
    def is_reply(self) -> bool:
        return self.reply_to is not None

    @property
    def key(self) -> str:
        """The send's own key (an exchange's email and its reply are two sends)."""
        return f"{self.exchange_id}.re" if self.is_reply else self.exchange_id

    def to_body(self) -> str:
        data: dict[str, Any] = self.model_dump(mode="json")
        data["send_at"], data["queued_at"] = isoformat(self.send_at), isoformat(self.queued_at)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_body(cls, body: str) -> WarmupSendMessage:
        data = json.loads(body)
        if not isinstance(data, dict) or data.get("kind") != "warmup" or data.get("v") != MESSAGE_VERSION:
            raise ValueError("not a warmup send message of this version")
        data["send_at"], data["queued_at"] = parse_iso(data["send_at"]), parse_iso(data["queued_at"])
        return cls.model_validate(data)


def is_warmup_body(body: str) -> bool:
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("kind") == "warmup"


class WarmupQueue(Protocol):
    def send(self, messages: Sequence[WarmupSendMessage], now: datetime) -> None: ...
