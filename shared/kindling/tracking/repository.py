"""The last tracking hit of each send, for the scanners' burst rule (kindling.tracking.scanners).

- hit marker: pk `ws#TRACKHIT#<send id>` sk `#`: `last_hit_ms` (epoch milliseconds of the latest open or click,
  human or not), `hits` (how many), TTL a day after the latest hit (the burst window is one second).

One UpdateItem per hit sets the new time and returns the previous one (ReturnValues UPDATED_OLD). DynamoDB
applies updates to one item one at a time, so of a scanner's parallel fetches of every link each sees the
time of another and only the first can count.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pynamodb.attributes import NumberAttribute

from kindling.platform import table
from kindling.platform.clock import epoch_seconds
from kindling.platform.dynamo import TableModel, bind_models, workspace_key

MARKER_TTL = timedelta(days=1)


class HitMarkerItem(TableModel):
    last_hit_ms = NumberAttribute(null=True)
    hits = NumberAttribute(null=True)


def marker_pk(workspace_id: str, send_id: str) -> str:
    return workspace_key(workspace_id, "TRACKHIT", send_id)


def _epoch_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


class TrackingRepository:
    def __init__(self) -> None:
        bind_models()

    def touch(self, workspace_id: str, send_id: str, at: datetime) -> datetime | None:
        """Record a hit on the send at `at`; returns the time of the hit before it (None for the first)."""
        response = HitMarkerItem._get_connection().update_item(
            marker_pk(workspace_id, send_id),
            range_key=table.ITEM_SK,
            actions=[
                HitMarkerItem.last_hit_ms.set(_epoch_ms(at)),
                HitMarkerItem.hits.add(1),
                HitMarkerItem.expires_at.set(epoch_seconds(at + MARKER_TTL)),
            ],
            return_values="UPDATED_OLD",
        )
        previous = (response.get("Attributes") or {}).get("last_hit_ms", {}).get("N")
        return datetime.fromtimestamp(int(previous) / 1000, UTC) if previous is not None else None
