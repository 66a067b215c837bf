"""Rate-limit window counters, ADD 1, expiring by TTL: pk `ws_x#RATE#<bucket>#<window start>` per workspace, and
`@RATE#<bucket>#<source ip>#<window start>` for requests that belong to no workspace (failed authentications)."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute
from pynamodb.exceptions import DoesNotExist

from kindling.platform.dynamo import TableModel, bind_models
from kindling.platform.keys import rate_window_pk, source_rate_window_pk


class RateWindowItem(TableModel):
    hits = NumberAttribute(default=0)


class RateLimitRepository:
    def __init__(self) -> None:
        bind_models()

    def increment(self, workspace_id: str, bucket: str, window_start: int, expires_at: int) -> int:
        """Atomically count one hit in the window and return the new count (one UpdateItem)."""
        return self._add(rate_window_pk(workspace_id, bucket, window_start), expires_at)

    def increment_source(self, source_ip: str, bucket: str, window_start: int, expires_at: int) -> int:
        """The same for a source IP address (no workspace)."""
        return self._add(source_rate_window_pk(source_ip, bucket, window_start), expires_at)

    @staticmethod
    def _add(pk: str, expires_at: int) -> int:
        item = RateWindowItem(pk=pk, sk="#")
        item.update(actions=[RateWindowItem.hits.add(1), RateWindowItem.expires_at.set(expires_at)])
        return int(item.hits)

    def read(self, workspace_id: str, bucket: str, window_start: int) -> int:
        """The count of one workspace window (0 when it has no item); a strongly consistent read."""
        try:
            item = RateWindowItem.get(rate_window_pk(workspace_id, bucket, window_start), "#", consistent_read=True)
        except DoesNotExist:
            return 0
        return int(item.hits or 0)

    def decrement(self, workspace_id: str, bucket: str, window_start: int) -> None:
        """Take back one hit (a refused call is not counted against the window)."""
        item = RateWindowItem(pk=rate_window_pk(workspace_id, bucket, window_start), sk="#")
        item.update(actions=[RateWindowItem.hits.add(-1)])
