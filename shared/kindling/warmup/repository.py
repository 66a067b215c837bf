"""Warmup state and daily counters in DynamoDB, in the mailbox's own partition.

- state: pk `ws_x#MAILBOX#<id>` sk `WARMUP#STATE`           settings + engine state as JSON, `version`
- day:   pk `ws_x#MAILBOX#<id>` sk `WARMUP#DAY#<YYYY-MM-DD>` counters (counters.py's fields) + `last_sent_at`;
                                                             the day in the workspace's timezone

The state item sorts right after every day row ("D" < "S"), so one Query (newest first, from the state down)
reads the state and the latest days together: what the stats need per mailbox. Day rows are only ever
added to (UpdateItem ADD), so the warmup sender and inbox syncs never lose each other's counts.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, PutError

from kindling.platform.dynamo import TableModel, bind_models, condition_failed
from kindling.platform.keys import (
    WARMUP_DAY_PREFIX,
    WARMUP_STATE_SK,
    mailbox_pk,
    warmup_day_sk,
)
from kindling.warmup.counters import COUNT_FIELDS, WINDOW_DAYS, DailyCounters
from kindling.warmup.models import DayRow, WarmupState

_STATE_COLUMNS = {"workspace_id", "mailbox_id", "version"}


class Stale(Exception):
    """The warmup state changed since it was read."""


class WarmupRow(TableModel):
    """Both item kinds (a Query returns them together); the sort key says which one a row is."""

    mailbox_id = UnicodeAttribute(null=True)
    # state
    version = NumberAttribute(null=True)
    body = UnicodeAttribute(null=True)
    # day
    day = UnicodeAttribute(null=True)
    sent = NumberAttribute(null=True)
    received = NumberAttribute(null=True)
    inbox = NumberAttribute(null=True)
    spam = NumberAttribute(null=True)
    rescued = NumberAttribute(null=True)
    bounced = NumberAttribute(null=True)
    opened = NumberAttribute(null=True)
    replied = NumberAttribute(null=True)
    last_sent_at = UTCDateTimeAttribute(null=True)


def state_of(workspace_id: str, mailbox_id: str, raw: dict[str, Any] | None) -> WarmupState:
    """The state from a raw item of a batch read (`warmup_state_key`); the defaults when there is none."""
    if raw is None:
        return WarmupState(workspace_id=workspace_id, mailbox_id=mailbox_id)
    return _state_from(workspace_id, mailbox_id, WarmupRow.from_raw_data(raw))


def day_row_of(raw: dict[str, Any] | None) -> DayRow | None:
    """The day row from a raw item of a batch read (`warmup_day_key`); None when there is none."""
    if raw is None:
        return None
    row = WarmupRow.from_raw_data(raw)
    return _day_from(row) if row.day else None


def _state_from(workspace_id: str, mailbox_id: str, row: WarmupRow) -> WarmupState:
    data: dict[str, Any] = json.loads(row.body or "{}")
    data.update(workspace_id=workspace_id, mailbox_id=mailbox_id, version=int(row.version or 0))
    return WarmupState.model_validate(data)


def _day_from(row: WarmupRow) -> DayRow:
    counts = {name: int(getattr(row, name) or 0) for name in COUNT_FIELDS}
    return DayRow(
        counters=DailyCounters(date.fromisoformat(str(row.day)), **counts),
        last_sent_at=row.last_sent_at,
    )


class WarmupRepository:
    def __init__(self) -> None:
        bind_models()

    def get(self, workspace_id: str, mailbox_id: str) -> WarmupState:
        """The mailbox's warmup state; the defaults (version 0) when none is stored yet."""
        try:
            row = WarmupRow.get(mailbox_pk(workspace_id, mailbox_id), WARMUP_STATE_SK, consistent_read=True)
        except (DoesNotExist, ValueError):
            return WarmupState(workspace_id=workspace_id, mailbox_id=mailbox_id)
        return _state_from(workspace_id, mailbox_id, row)

    def load(self, workspace_id: str, mailbox_id: str, days: int = WINDOW_DAYS) -> tuple[WarmupState, list[DayRow]]:
        """The state and the latest `days` + 1 day rows (newest first), in one Query.

        One row more than the window so that, with the workspace's "today" one day ahead of the newest row's
        day, the whole window is still there; rows outside the window only feed `last_sent_at`.
        """
        pk = mailbox_pk(workspace_id, mailbox_id)
        rows = WarmupRow.query(
            pk,
            WarmupRow.sk.between(WARMUP_DAY_PREFIX, WARMUP_STATE_SK),
            scan_index_forward=False,
            consistent_read=True,
            limit=days + 2,
        )
        state: WarmupState | None = None
        day_rows: list[DayRow] = []
        for row in rows:
            if row.sk == WARMUP_STATE_SK:
                state = _state_from(workspace_id, mailbox_id, row)
            elif row.day:
                day_rows.append(_day_from(row))
        return state or WarmupState(workspace_id=workspace_id, mailbox_id=mailbox_id), day_rows

    def save(self, state: WarmupState, expected_version: int) -> WarmupState:
        """Write `state` (its version becomes expected+1) if nobody wrote since; `Stale` otherwise."""
        saved = state.model_copy(update={"version": expected_version + 1})
        row = WarmupRow(
            pk=mailbox_pk(state.workspace_id, state.mailbox_id),
            sk=WARMUP_STATE_SK,
            mailbox_id=state.mailbox_id,
            version=saved.version,
            body=json.dumps(saved.model_dump(mode="json", exclude=_STATE_COLUMNS), separators=(",", ":")),
        )
        condition = WarmupRow.pk.does_not_exist() if expected_version == 0 else WarmupRow.version == expected_version
        try:
            row.save(condition=condition)
        except PutError as exc:
            if condition_failed(exc):
                raise Stale(state.mailbox_id) from exc
            raise
        return saved

    def add_day(
        self,
        workspace_id: str,
        mailbox_id: str,
        delta: DailyCounters,
        *,
        last_sent_at: datetime | None = None,
    ) -> None:
        """Add `delta` to the mailbox's row for `delta.day` (creating it); `last_sent_at` goes with a send."""
        actions: list[Any] = [WarmupRow.mailbox_id.set(mailbox_id), WarmupRow.day.set(delta.day.isoformat())]
        for name in COUNT_FIELDS:
            attribute = getattr(WarmupRow, name)
            actions.append(attribute.add(getattr(delta, name)))
        if last_sent_at is not None:
            actions.append(WarmupRow.last_sent_at.set(last_sent_at))
        WarmupRow(pk=mailbox_pk(workspace_id, mailbox_id), sk=warmup_day_sk(delta.day)).update(actions=actions)
