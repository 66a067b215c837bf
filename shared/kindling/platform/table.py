"""The single DynamoDB table's key schema: one source of truth for the pynamodb models and the infra test.

Key conventions (see docs/decisions.md, "Table design"):
- Workspace data: `pk` starts with the workspace id (`ws_...#TYPE#id`), so no query can cross workspaces.
- `gsi1` (gsi1pk, gsi1sk): per-workspace collections in order (e.g. `ws_x#MAILBOX`, `<created>#<id>`).
- `gsi2` (gsi2pk, gsi2sk): a second access path per entity (by list, by campaign, by update time...).
- `due` (due_pk, due_sk): sparse, time-ordered work across workspaces, sharded (`DUE#SEND#07`,
  `<iso due time>#<pk>`); the scheduler and the webhook retry sweep read only what is due.
- Platform items that are not workspace data (API key hash pointers, the warmup pool) start with `@`.
- `expires_at` (epoch seconds) is the TTL attribute for ephemeral items (rate windows, idempotency
  records, delivery logs).
"""

from __future__ import annotations

HASH_KEY = "pk"
RANGE_KEY = "sk"
TTL_ATTRIBUTE = "expires_at"

# index name -> (hash key attribute, range key attribute); every index projects ALL attributes.
INDEXES: dict[str, tuple[str, str]] = {
    "gsi1": ("gsi1pk", "gsi1sk"),
    "gsi2": ("gsi2pk", "gsi2sk"),
    "due": ("due_pk", "due_sk"),
}

ITEM_SK = "#"  # the sort key of an entity's own item; children use descriptive sort keys
PLATFORM_PREFIX = "@"
