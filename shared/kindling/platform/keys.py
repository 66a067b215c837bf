"""Keys of the sparse `due` index for sending work (pure; no I/O).

- `DUE#SEND#<shard>` / `<iso next send>#<pk>#<sk>`: enrollments whose next step is due at that instant. Only
  enrollments in the sequence with a next send carry these attributes, so the scheduler's tick reads what is
  due (one query per shard), never what is merely enrolled. Shards spread the index's write load over
  partitions; the shard is a stable hash of the item's key, so an item never moves between shards.
- `DUE#PARK#<ws>#<campaign>` / same sort key: enrollments that came due while their campaign was not running
  (draft, scheduled, paused, cooldown); moved back to their shard when it runs again.
- `DUE#CAMPSEND` / `<next check>#<pk>`: per-campaign sending state to look at (parked enrollments, completion,
  cooldown re-check).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from kindling.platform.clock import isoformat

SEND_SHARDS = 16
SEND_PREFIX = "DUE#SEND#"
PARK_PREFIX = "DUE#PARK#"
CAMPAIGN_WATCH_PK = "DUE#CAMPSEND"
# Sorts after every "<iso>#..." key with the same instant: `due_sk <= upper(now)` includes everything due at now.
_AFTER = "#~"


def shard_of(key: str, shards: int) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % shards


def send_shards() -> list[str]:
    return [f"{SEND_PREFIX}{n:02d}" for n in range(SEND_SHARDS)]


def instant(when: datetime) -> str:
    return isoformat(when) or ""


def upper(now: datetime) -> str:
    """The inclusive upper bound of a due query at `now`."""
    return instant(now) + _AFTER


def send_due_keys(pk: str, sk: str, when: datetime) -> tuple[str, str]:
    """(due_pk, due_sk) of an enrollment (item `pk`/`sk`) whose next step is due at `when`."""
    return f"{SEND_PREFIX}{shard_of(pk + '|' + sk, SEND_SHARDS):02d}", f"{instant(when)}#{pk}#{sk}"


def park_pk(workspace_id: str, campaign_id: str) -> str:
    return f"{PARK_PREFIX}{workspace_id}#{campaign_id}"


def campaign_watch_sk(pk: str, when: datetime) -> str:
    return f"{instant(when)}#{pk}"
