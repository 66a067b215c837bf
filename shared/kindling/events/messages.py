"""The webhook queue's `event` message: a recorded event to fan out to the workspace's subscriptions. Standard
library only: the tracking function's lean store queues it too."""

from __future__ import annotations

import json


def event_message(workspace_id: str, event_id: str) -> str:
    return json.dumps({"kind": "event", "workspace_id": workspace_id, "event_id": event_id})
