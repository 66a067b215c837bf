"""Rate-limit window counters: pk `ws_x#RATE#<bucket>#<window start>`, ADD 1, expiring by TTL."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute

from kindling.platform.dynamo import TableModel, bind_models
from kindling.platform.keys import workspace_key


class RateWindowItem(TableModel):
    hits = NumberAttribute(default=0)


class RateLimitRepository:
    def __init__(self) -> None:
        bind_models()

    def increment(self, workspace_id: str, bucket: str, window_start: int, expires_at: int) -> int:
        """Atomically count one hit in the window and return the new count (one UpdateItem)."""
        item = RateWindowItem(pk=workspace_key(workspace_id, "RATE", bucket, str(window_start)), sk="#")
        item.update(actions=[RateWindowItem.hits.add(1), RateWindowItem.expires_at.set(expires_at)])
        return int(item.hits)
