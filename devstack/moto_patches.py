"""Moto adjustments the long-running local stack needs (emulator behaviour only; nothing AWS does).

`apply_moto_patches()` applies them all (idempotent):

1. No instance tracking. moto records every model instance it ever creates in `<Model>.instances_tracked` (for its
   web dashboard, which the local stack does not serve). Its DynamoDB TransactWriteItems deep-copies each table it
   touches to be able to roll back, and every copied item is recorded too, so nothing is ever freed: measured here,
   300 transactions on a table of 2,000 items grew the process by 1.6 GB.
2. One DynamoDB request at a time. moto's DynamoDB backend is not thread-safe and the local stack calls it from many
   threads (API, SQS pollers, the concurrent records of a batch): a query iterating the items while another thread
   inserts fails with "dictionary changed size during iteration", and a cancelled transaction restored a table copy
   taken before other threads' writes, silently undoing them. DynamoDB itself applies each request atomically.
3. Transactions roll back only the items they touched. moto deep-copied every table a transaction names, on every
   transaction, so each cost time proportional to the table (seconds per transaction at tens of thousands of items).
4. Queries do not sort the whole table. `Table.query` starts from `all_items()`, which sorts every item of the table,
   and then sorts its candidates again by the query's own keys: a base-table query now starts from its partition
   and an index query from the unsorted items, with the same results in the same order.
5. SQS calls do not slow down with the queue's length. moto rebuilt every queue attribute (three passes over the
   queue, reading the clock twice per message) for each message sent and each message received: one ReceiveMessage of
   10 took 1.4 s with 1,000 messages queued. The receive's retention check now reads the retention period directly,
   and the visible / delayed / in-flight counts read the clock once per pass.
6. SQS delays follow the injected clock too. End-to-end tests on the local stack run on an injected clock
   (kindling.platform.clock; schedules already follow it, see devstack/schedules.py) and producers compute
   DelaySeconds from it, but moto delays by the wall clock: advancing a ManualClock 15 minutes left a 12-minute delay
   to run in real time. A delayed message is now released when either the wall clock passes moto's own due time or
   the clock that was injected when it was sent passes send time + delay. It only ever releases messages earlier,
   never later; with the default SystemClock the two due times coincide.
"""

from __future__ import annotations

import copy
import inspect
import threading
from collections.abc import Callable
from typing import Any

_applied: set[str] = set()
_apply_lock = threading.Lock()
DYNAMODB_LOCK = threading.RLock()  # held for each DynamoDB request moto serves (patch 2)
_query_hint = threading.local()


def apply_moto_patches() -> None:
    """Apply every patch below (idempotent)."""
    stop_instance_tracking()
    serialise_dynamodb()
    cheap_transaction_rollback()
    unsorted_query_candidates()
    sqs_independent_of_queue_length()
    sqs_delays_follow_injected_clock()


def _once(name: str, patch: Callable[[], None]) -> None:
    with _apply_lock:
        if name in _applied:
            return
        patch()
        _applied.add(name)


def stop_instance_tracking() -> None:
    """Make new moto model instances untracked (idempotent)."""

    def patch() -> None:
        from moto.core.common_models import BaseModel
        from moto.core.model_instances import reset_model_data

        def untracked_new(cls: type[Any], *args: Any, **kwargs: Any) -> Any:
            return object.__new__(cls)

        BaseModel.__new__ = untracked_new  # type: ignore[assignment,method-assign]
        reset_model_data()

    _once("instances", patch)


def serialise_dynamodb() -> None:
    """Serve one DynamoDB request at a time, in server mode and under mock_aws alike."""

    def patch() -> None:
        from moto.dynamodb.responses import DynamoHandler

        original = DynamoHandler.call_action

        def call_action(self: Any) -> Any:
            with DYNAMODB_LOCK:
                return original(self)

        DynamoHandler.call_action = call_action  # type: ignore[method-assign]

    _once("serialise", patch)


class _CopyKeepingTables:
    """Stands in for the `copy` module inside moto.dynamodb.models: deep copies of a whole Table are skipped (the
    patched transaction restores the items it touched instead); everything else is copied as before."""

    def __init__(self, table_type: type[Any]) -> None:
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        if isinstance(value, self._table_type):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _item_key(table: Any, op_type: str, op: dict[str, Any]) -> tuple[Any, Any] | None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    attrs = op.get("Item") if op_type == "Put" else op.get("Key")
    if not isinstance(attrs, dict) or table.hash_key_attr not in attrs:
        return None  # malformed: moto's own validation reports it
    hash_value = DynamoType(attrs[table.hash_key_attr])
    if table.range_key_attr is None:
        return hash_value, None
    if table.range_key_attr not in attrs:
        return None
    return hash_value, DynamoType(attrs[table.range_key_attr])


def _restore(table: Any, hash_value: Any, range_value: Any, prior: Any) -> None:
    if range_value is None:
        if prior is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = prior
        return
    bucket = table.items.get(hash_value)
    if prior is not None:
        table.items[hash_value][range_value] = prior
    elif bucket is not None:
        bucket.pop(range_value, None)
        if not bucket:
            table.items.pop(hash_value, None)


def cheap_transaction_rollback() -> None:
    """TransactWriteItems snapshots and restores the items it touches instead of deep-copying whole tables."""

    def patch() -> None:
        import moto.dynamodb.models as models
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models.table import Table

        setattr(models, "copy", _CopyKeepingTables(Table))  # noqa: B010 - the module's own global, replaced
        original = DynamoDBBackend.transact_write_items

        def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
            touched: list[tuple[Any, Any, Any, Any]] = []
            for entry in transact_items:
                if not isinstance(entry, dict) or len(entry) != 1:
                    continue
                op_type, op = next(iter(entry.items()))
                if not isinstance(op, dict) or op.get("TableName") not in self.tables:
                    continue
                table: Any = self.tables[op["TableName"]]
                key = _item_key(table, op_type, op)
                if key is None:
                    continue
                touched.append((table, key[0], key[1], copy.deepcopy(table.get_item(*key))))
            try:
                original(self, transact_items)
            except BaseException:
                for table, hash_value, range_value, prior in reversed(touched):
                    _restore(table, hash_value, range_value, prior)
                raise

        DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]

    _once("transactions", patch)


def unsorted_query_candidates() -> None:
    """`Table.query` gets its candidates without sorting the whole table first (it sorts the candidates itself)."""

    def patch() -> None:
        from moto.dynamodb.models.table import Table

        original_query = Table.query
        original_all_items = Table.all_items
        signature = inspect.signature(original_query)

        def query(self: Any, *args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(self, *args, **kwargs)
            index_name = bound.arguments.get("index_name")
            _query_hint.table = self
            _query_hint.partition = None if index_name else bound.arguments.get("hash_key")
            try:
                return original_query(self, *args, **kwargs)
            finally:
                _query_hint.table = None

        def all_items(self: Any) -> list[Any]:
            if id(getattr(_query_hint, "table", None)) != id(self):
                return original_all_items(self)  # type: ignore[no-any-return]
            table: Any = self
            partition = _query_hint.partition
            if partition is not None:
                bucket = table.items.get(partition)
                if bucket is None:
                    return []
                return list(bucket.values()) if table.range_key_attr else [bucket]
            if not table.range_key_attr:
                return list(table.items.values())
            return [item for bucket in table.items.values() for item in bucket.values()]

        Table.query = query  # type: ignore[method-assign]
        Table.all_items = all_items  # type: ignore[method-assign]

    _once("query", patch)


def sqs_independent_of_queue_length() -> None:
    """SendMessage and ReceiveMessage cost the same whatever the queue's length (nearly: one cheap pass remains)."""

    def patch() -> None:
        from moto.core.utils import unix_time, unix_time_millis
        from moto.sqs.models import Queue, SQSBackend

        def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
            retention = int(self.get_queue(queue_name).message_retention_period)
            return bool(retention + message.sent_timestamp / 1000 > unix_time())

        def visible_messages(self: Any) -> list[Any]:
            now, injected = unix_time_millis(), _injected_now()
            return [m for m in self._messages if now > m.visible_at and not _still_delayed(m, now, injected)]

        def delayed_count(self: Any) -> int:
            now, injected = unix_time_millis(), _injected_now()
            return sum(1 for m in self._messages if _still_delayed(m, now, injected))

        def not_visible_count(self: Any) -> int:
            now = unix_time_millis()
            return sum(1 for m in self._messages if not now > m.visible_at)

        SQSBackend.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
            is_message_valid_based_on_retention_period
        )
        # Same rules as Message.visible / Message.delayed (plus patch 6's injected due time), with one reading of
        # each clock per pass instead of two per message.
        Queue.messages = property(visible_messages)  # type: ignore[assignment,method-assign]
        Queue.approximate_number_of_messages_delayed = property(delayed_count)  # type: ignore[assignment,method-assign]
        Queue.approximate_number_of_messages_not_visible = property(not_visible_count)  # type: ignore[assignment,method-assign]

    _once("sqs_queue_length", patch)


def _injected_now() -> tuple[int, float]:
    """(id of the injected clock, its time in epoch milliseconds): one reading."""
    from kindling.platform.clock import get_clock

    clock = get_clock()
    return id(clock), clock.now().timestamp() * 1000


def _still_delayed(message: Any, now_ms: float, injected: tuple[int, float]) -> bool:
    """moto's rule (wall clock before `delayed_until`), unless the injected clock has passed the due time recorded
    at send (patch 6). Only the clock that was injected at send counts: a clock swapped in later (a ManualClock may be
    set anywhere in time) says nothing about when an earlier message is due."""
    if not now_ms < message.delayed_until:
        return False
    due = getattr(message, "kindling_injected_due", None)  # absent: sent undelayed or before patch 6
    return due is None or due[0] != injected[0] or injected[1] < due[1]


def sqs_delays_follow_injected_clock() -> None:
    """A delayed SQS message also records its due time on the injected clock (read by patch 5's passes)."""

    def patch() -> None:
        from moto.sqs.models import Message

        original = Message.delay

        def delay(self: Any, delay_seconds: int) -> None:
            original(self, delay_seconds)
            clock_id, now_ms = _injected_now()
            # id, not the clock itself: receive deep-copies messages, and a ManualClock holds a lock.
            self.kindling_injected_due = (clock_id, now_ms + int(delay_seconds) * 1000)

        Message.delay = delay  # type: ignore[method-assign]

    _once("sqs_injected_clock_delays", patch)
