"""The check queue: `{"workspace_id", "mailbox_id", "generation"}` messages consumed by the checker function."""

from __future__ import annotations

import json
from typing import Protocol

from kindling.platform import aws
from kindling.platform.queues import required_url, send_one
from kindling.platform.settings import get_settings


class CheckQueue(Protocol):
    def enqueue(self, workspace_id: str, mailbox_id: str, generation: int) -> None: ...


class SqsCheckQueue:
    def enqueue(self, workspace_id: str, mailbox_id: str, generation: int) -> None:
        url = required_url(get_settings().check_queue_url, "KINDLING_CHECK_QUEUE_URL")
        body = {"workspace_id": workspace_id, "mailbox_id": mailbox_id, "generation": generation}
        send_one(aws.client("sqs"), url, json.dumps(body, separators=(",", ":")))


def parse_check_message(body: str) -> tuple[str, str, int]:
    data = json.loads(body)
    return str(data["workspace_id"]), str(data["mailbox_id"]), int(data["generation"])
