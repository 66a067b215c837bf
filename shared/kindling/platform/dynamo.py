"""pynamodb plumbing: lazy binding of models to the table, workspace-scoped keys, cursor pages, batch reads and writes
of any item types, transactions.

Only repositories import this module. Models are declared with a placeholder table name and bound to
the configured table on first use, so importing a model never reads the environment.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import TransactWriteError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from kindling.platform import aws, table
from kindling.platform.errors import ValidationFailed, field_error
from kindling.platform.settings import get_settings


class _Gsi1(GlobalSecondaryIndex["TableModel"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class _Gsi2(GlobalSecondaryIndex["TableModel"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class _Due(GlobalSecondaryIndex["TableModel"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "due"
        projection = AllProjection()

    due_pk = UnicodeAttribute(hash_key=True)
    due_sk = UnicodeAttribute(range_key=True)


class TableModel(Model):
    """Base of every item type in the single table. Subclasses add their own attributes."""

    class Meta:
        table_name = "unbound"  # replaced by bind_models() on first use

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=table.ITEM_SK)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    due_pk = UnicodeAttribute(null=True)
    due_sk = UnicodeAttribute(null=True)
    # Plain number, not pynamodb's TTLAttribute: that one refuses past instants, and tests move the clock.
    expires_at = NumberAttribute(null=True)

    gsi1 = _Gsi1()
    gsi2 = _Gsi2()
    due = _Due()

    _bound_to: ClassVar[tuple[str, str] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Item types imported after binding (routers load lazily) join the bound table and connection.
        super().__init_subclass__(**kwargs)
        if TableModel._bound_to is not None:
            cls._connection = TableModel._connection
            cls._bound_to = TableModel._bound_to


_bind_lock = threading.Lock()


def _all_models() -> Iterable[type[TableModel]]:
    stack: list[type[TableModel]] = [TableModel]
    while stack:
        cls = stack.pop()
        yield cls
        stack.extend(cls.__subclasses__())


def bind_models(force: bool = False) -> None:
    """Point every TableModel subclass at the configured table and region (idempotent, cheap)."""
    settings = get_settings()
    target = (settings.table_name, settings.region)
    if not force and TableModel._bound_to == target:
        return
    with _bind_lock:
        models = list(_all_models())
        for cls in models:
            cls.Meta.table_name = settings.table_name
            cls.Meta.region = settings.region  # type: ignore[attr-defined]
            cls._connection = None
        # Every item type shares the table's keys and indexes, so one connection (one botocore client) serves
        # them all: a client per model class would load the DynamoDB service model again for each class, which
        # was most of the API's cold start.
        shared = TableModel._get_connection()
        with aws.client_creation_lock():
            # pynamodb keeps its session per thread only to create the client; give it the process session.
            shared.connection._local.session = aws.botocore_session()
            _ = shared.connection.client
        for cls in models:
            cls._connection = shared
            cls._bound_to = target


CONDITION_FAILED = "ConditionalCheckFailed"


def condition_failed(exc: Exception) -> bool:
    """A single-item write (put/update/delete) refused by its condition expression."""
    return getattr(exc, "cause_response_code", None) == CONDITION_FAILED + "Exception"


def cancellation_codes(exc: TransactWriteError) -> list[str | None]:
    """Per-item cancellation reason codes of a failed transaction, in the order the items were added."""
    reasons: list[Any] = getattr(exc, "cancellation_reasons", None) or []
    return [reason.code if reason is not None else None for reason in reasons]


def cancelled_by_condition(exc: TransactWriteError, position: int | None = None) -> bool:
    """A transaction cancelled because a condition failed: on the item at `position`, or on any item."""
    codes = cancellation_codes(exc)
    if position is None:
        return CONDITION_FAILED in codes
    return len(codes) > position and codes[position] == CONDITION_FAILED


def transaction() -> TransactWrite:
    """A DynamoDB transaction on the configured region (all-or-nothing writes across items)."""
    bind_models()
    # The shared connection: a fresh Connection builds a new botocore client (~100 ms) per transaction. The token
    # makes botocore's own retry of a transaction that did commit a no-op instead of a condition cancellation.
    return TransactWrite(connection=TableModel._get_connection().connection, client_request_token=str(uuid.uuid4()))


ModelT = TypeVar("ModelT", bound=TableModel)


@dataclass(frozen=True)
class Page(Generic[ModelT]):
    items: list[ModelT]
    next_cursor: str | None

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


def encode_cursor(key: dict[str, str]) -> str:
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, workspace_id: str, attributes: tuple[str, ...]) -> dict[str, str]:
    """Decode an opaque cursor; anything malformed or from another workspace is a validation error."""
    bad = ValidationFailed(
        "The cursor is invalid or expired.", details=[field_error("cursor", "not a cursor from this API")]
    )
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise bad from exc
    if not isinstance(data, dict) or set(data) != set(attributes):
        raise bad
    if not all(isinstance(v, str) for v in data.values()):
        raise bad
    if not data[table.HASH_KEY].startswith(workspace_id + "#"):
        raise bad
    return data


def query_page(
    query_on: Any,
    hash_value: str,
    *,
    workspace_id: str,
    limit: int,
    cursor: str | None,
    range_condition: Any = None,
    filter_condition: Any = None,
    newest_first: bool = True,
    index_keys: tuple[str, str] | None = None,
) -> Page[Any]:
    """One page of a query on the table or an index, with an exact `has_more`.

    Reads limit+1 items so `has_more` never lies; the cursor is built from the last returned item's
    keys (table keys plus the index keys when querying an index).
    """
    bind_models()
    key_attrs: tuple[str, ...] = (table.HASH_KEY, table.RANGE_KEY) + (index_keys or ())
    start_key = None
    if cursor:
        decoded = decode_cursor(cursor, workspace_id, key_attrs)
        start_key = {name: {"S": value} for name, value in decoded.items()}
    results = query_on.query(
        hash_value,
        range_key_condition=range_condition,
        filter_condition=filter_condition,
        scan_index_forward=not newest_first,
        last_evaluated_key=start_key,
        limit=limit + 1,
        page_size=limit + 1,
    )
    items = list(results)
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        next_cursor = encode_cursor({name: str(getattr(last, name)) for name in key_attrs})
    return Page(items=items, next_cursor=next_cursor)


# --- batches of any item types ---------------------------------------------------------------------------------
Key = tuple[str, str]


def _table_name() -> str:
    bind_models()
    return str(TableModel.Meta.table_name)


def batch_get_raw(keys: Iterable[Key], attributes: Sequence[str] = ()) -> dict[Key, dict[str, Any]]:
    """Strongly consistent BatchGetItem of any item types (100 keys per request); raw items by (pk, sk).

    `attributes`, when given, projects the items to those attributes (plus the keys): big items cost less to
    read and to deserialise."""
    name = _table_name()
    projection = {"attributes_to_get": [table.HASH_KEY, table.RANGE_KEY, *attributes]} if attributes else {}
    connection = TableModel._get_connection()
    wanted = [{table.HASH_KEY: {"S": pk}, table.RANGE_KEY: {"S": sk}} for pk, sk in dict.fromkeys(keys)]
    found: dict[Key, dict[str, Any]] = {}
    for start in range(0, len(wanted), 100):
        batch: list[dict[str, Any]] = wanted[start : start + 100]
        attempt = 0
        while batch:
            response = connection.batch_get_item(batch, consistent_read=True, **projection)  # type: ignore[arg-type]
            for raw in response.get("Responses", {}).get(name, []):
                found[(raw[table.HASH_KEY]["S"], raw[table.RANGE_KEY]["S"])] = raw
            batch = response.get("UnprocessedKeys", {}).get(name, {}).get("Keys", [])
            if batch:
                attempt += 1
                if attempt > 8:
                    raise RuntimeError("BatchGetItem left keys unprocessed after 8 retries")
                time.sleep(min(0.05 * 2**attempt, 2.0))
    return found


def batch_write(puts: Sequence[TableModel], deletes: Sequence[TableModel] = ()) -> None:
    """BatchWriteItem, 25 items per request (pynamodb resends unprocessed items)."""
    if not puts and not deletes:
        return
    bind_models()
    with TableModel.batch_write() as writer:
        for item in puts:
            writer.save(item)
        for item in deletes:
            writer.delete(item)
