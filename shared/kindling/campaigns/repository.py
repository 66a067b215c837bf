"""Campaigns in DynamoDB. Everything of a campaign lives in its own partition `ws#CAMPAIGN#<id>`:

- campaign: sk `#`; settings, mailbox pool and the step order as JSON; gsi1 `ws#CAMPAIGN` / `<created>#<id>`
            (the list, newest first); `due` `DUE#CAMPAIGN` / `<instant>#<pk>` while a start date (scheduled) or
            an end date (running, paused, cooldown) is pending, so the engine reads only campaigns that are due.
- step:     sk `C#STEP#<step id>`; the step and its variants as JSON (one item: a variant change is one write)
- counters: sk `C#STATS#C`, `C#STATS#S#<step id>`, `C#STATS#V#<step id>#<letter>`; sent/opened/clicked/
            replied/bounced/unsubscribed, incremented with ADD (never read-modify-write)

The enrollments module uses `ENROLL#<prospect id>` and `ENROLLMENTS` in the same partition; reads here only
touch `#` and the `C#` prefix. Every change to the campaign or its steps writes the campaign item with a
condition on the version it read, so a step edit and a start can never interleave unseen (`Stale` instead).
The step order lives on the campaign item, so inserting or deleting a step is two item writes, not a reindex.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError

from kindling.campaigns.models import (
    PAUSED_REASONS,
    STAT_NAMES,
    CampaignHeader,
    CampaignRecord,
    CampaignStats,
    LinkedInStepStats,
    StepRecord,
)
from kindling.platform import table
from kindling.platform.clock import isoformat
from kindling.platform.dynamo import (
    TableModel,
    bind_models,
    cancelled_by_condition,
    condition_failed,
    query_page,
    transaction,
)
from kindling.platform.errors import NotFound, ValidationFailed, field_error
from kindling.platform.keys import (
    CAMPAIGN_CHILD_PREFIX,
    CAMPAIGN_DUE_PK,
    CAMPAIGN_STATS_SK,
    STEP_PREFIX,
    STEP_STATS_PREFIX,
    VARIANT_STATS_PREFIX,
    campaign_failures_pk,
    campaign_pk,
    campaigns_gsi_pk,
    step_sk,
    step_stats_sk,
    time_ordered_sk,
    upper,
    variant_stats_sk,
)

MAX_STEP_BYTES = 350_000  # a DynamoDB item holds 400 KB; leave room for keys and attribute names


class Stale(Exception):
    """The campaign changed since it was read."""


class UnexplainedPause(ValueError):
    """A write would store a paused campaign without its reason and instant (help center §7.8: such a campaign is
    invisible to the auto-resume sweep). Records built with `model_copy` skip the model's validator; this does not."""


class FailureWindowMark(TableModel):
    """The `since` mark of a campaign's failure-rate window (`FAILRATE` item, sk ITEM): the failure-rate guard
    (kindling.bounceshield) counts only the hours after it. Written here too so that an engine resume and the
    window's reset are one transaction."""

    since = UTCDateTimeAttribute(null=True)


class CampaignItem(TableModel):
    campaign_id = UnicodeAttribute()
    name = UnicodeAttribute()
    status = UnicodeAttribute()
    version = NumberAttribute()
    paused_reason = UnicodeAttribute(null=True)
    paused_at = UTCDateTimeAttribute(null=True)
    body = UnicodeAttribute()  # everything else of the header, and the step order, as JSON
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class CampaignPartItem(TableModel):
    """A step (`kind` "step", `body` JSON) or a counter item (`kind` "stats", the counters)."""

    kind = UnicodeAttribute()
    body = UnicodeAttribute(null=True)
    sent = NumberAttribute(null=True)
    opened = NumberAttribute(null=True)
    clicked = NumberAttribute(null=True)
    replied = NumberAttribute(null=True)
    bounced = NumberAttribute(null=True)
    unsubscribed = NumberAttribute(null=True)
    # A LinkedIn step's counters, written by the LinkedIn engine (kindling.outreach) on the step's counter item.
    li_views = NumberAttribute(null=True)
    li_invites = NumberAttribute(null=True)
    li_acceptances = NumberAttribute(null=True)
    li_messages = NumberAttribute(null=True)
    li_replies = NumberAttribute(null=True)


_LI_COUNTERS = ("views", "invites", "acceptances", "messages", "replies")


def _li_stats(item: CampaignPartItem) -> LinkedInStepStats:
    return LinkedInStepStats(**{name: int(getattr(item, f"li_{name}") or 0) for name in _LI_COUNTERS})


_HEADER_COLUMNS = {"campaign_id", "workspace_id", "name", "status", "version", "paused_reason", "paused_at"}
_HEADER_COLUMNS |= {"created_at", "updated_at", "stats"}


def _due_at(header: CampaignHeader) -> datetime | None:
    settings = header.settings
    if header.status == "scheduled":
        return settings.start_date
    if header.status in ("running", "paused", "cooldown"):
        return settings.end_date
    return None


def _check_pause(header: CampaignHeader) -> None:
    if header.status == "paused":
        if header.paused_reason not in PAUSED_REASONS or header.paused_at is None:
            raise UnexplainedPause(
                f"campaign {header.campaign_id}: paused needs a paused_reason among {PAUSED_REASONS} and paused_at"
            )
    elif header.paused_reason is not None or header.paused_at is not None:
        raise UnexplainedPause(f"campaign {header.campaign_id}: only a paused campaign carries a pause reason")


def _campaign_item(header: CampaignHeader, step_order: Sequence[str]) -> CampaignItem:
    _check_pause(header)
    body = header.model_dump(mode="json", exclude=_HEADER_COLUMNS)
    body["step_order"] = list(step_order)
    pk = campaign_pk(header.workspace_id, header.campaign_id)
    due = _due_at(header)
    return CampaignItem(
        pk=pk,
        sk=table.ITEM_SK,
        gsi1pk=campaigns_gsi_pk(header.workspace_id),
        gsi1sk=time_ordered_sk(isoformat(header.created_at), header.campaign_id),
        due_pk=CAMPAIGN_DUE_PK if due is not None else None,
        due_sk=time_ordered_sk(isoformat(due), pk) if due is not None else None,
        campaign_id=header.campaign_id,
        name=header.name,
        status=header.status,
        version=header.version,
        paused_reason=header.paused_reason,
        paused_at=header.paused_at,
        body=json.dumps(body, separators=(",", ":")),
        created_at=header.created_at,
        updated_at=header.updated_at,
    )


def _header_data(workspace_id: str, item: CampaignItem) -> tuple[dict[str, Any], list[str]]:
    data: dict[str, Any] = json.loads(item.body)
    order: list[str] = data.pop("step_order", [])
    data.update(
        campaign_id=item.campaign_id,
        workspace_id=workspace_id,
        name=item.name,
        status=item.status,
        version=int(item.version),
        paused_reason=item.paused_reason,
        paused_at=item.paused_at,
        created_at=item.created_at,
        updated_at=item.updated_at,
    )
    return data, order


def _step_item(workspace_id: str, campaign_id: str, step: StepRecord) -> CampaignPartItem:
    body = json.dumps(step.model_dump(mode="json", exclude={"step_index"}), separators=(",", ":"))
    if len(body.encode()) > MAX_STEP_BYTES:
        raise ValidationFailed(
            "The step and its variants are too large to store.",
            code="step_too_large",
            details=[field_error("variants", f"together at most {MAX_STEP_BYTES} bytes of content", "too_large")],
        )
    return CampaignPartItem(pk=campaign_pk(workspace_id, campaign_id), sk=step_sk(step.id), kind="step", body=body)


def _stats(item: CampaignPartItem) -> CampaignStats:
    return CampaignStats(**{name: int(getattr(item, name) or 0) for name in STAT_NAMES})


class CampaignRepository:
    def __init__(self) -> None:
        bind_models()

    # --- reads -------------------------------------------------------------------------------------------------
    def get(self, workspace_id: str, campaign_id: str) -> CampaignRecord:
        """The whole campaign (steps ordered, counters included); `NotFound` if absent or another workspace's."""
        pk = campaign_pk(workspace_id, campaign_id)
        try:
            root = CampaignItem.get(pk, table.ITEM_SK, consistent_read=True)
        except (DoesNotExist, ValueError) as exc:
            raise NotFound(f"Campaign {campaign_id} not found.") from exc
        data, order = _header_data(workspace_id, root)
        steps: dict[str, StepRecord] = {}
        step_stats: dict[str, CampaignStats] = {}
        variant_stats: dict[str, CampaignStats] = {}
        linkedin_stats: dict[str, LinkedInStepStats] = {}
        for part in CampaignPartItem.query(
            pk, CampaignPartItem.sk.startswith(CAMPAIGN_CHILD_PREFIX), consistent_read=True
        ):
            sk = part.sk
            if sk.startswith(STEP_PREFIX) and part.body:
                step_id = sk[len(STEP_PREFIX) :]
                steps[step_id] = StepRecord.model_validate({**json.loads(part.body), "step_index": 0})
            elif sk == CAMPAIGN_STATS_SK:
                data["stats"] = _stats(part)
            elif sk.startswith(STEP_STATS_PREFIX):
                step_stats[sk[len(STEP_STATS_PREFIX) :]] = _stats(part)
                linkedin_stats[sk[len(STEP_STATS_PREFIX) :]] = _li_stats(part)
            elif sk.startswith(VARIANT_STATS_PREFIX):
                variant_stats[sk[len(VARIANT_STATS_PREFIX) :]] = _stats(part)
        ordered = [
            steps[step_id].model_copy(update={"step_index": index})
            for index, step_id in enumerate(sid for sid in order if sid in steps)
        ]
        return CampaignRecord.model_validate(
            {
                **data,
                "steps": ordered,
                "step_stats": step_stats,
                "variant_stats": variant_stats,
                "linkedin_step_stats": {k: v for k, v in linkedin_stats.items() if k in steps and steps[k].is_linkedin},
            }
        )

    def list_page(
        self, workspace_id: str, status: str | None, limit: int, cursor: str | None
    ) -> tuple[list[CampaignHeader], str | None]:
        """Newest first, with the campaign counters (one BatchGetItem for the page)."""
        page = query_page(
            CampaignItem.gsi1,
            campaigns_gsi_pk(workspace_id),
            workspace_id=workspace_id,
            limit=limit,
            cursor=cursor,
            filter_condition=(CampaignItem.status == status) if status else None,
            index_keys=("gsi1pk", "gsi1sk"),
        )
        items = [i for i in page.items if isinstance(i, CampaignItem)]
        stats = self._campaign_stats(workspace_id, [i.campaign_id for i in items])
        headers = []
        for item in items:
            data, _ = _header_data(workspace_id, item)
            data["stats"] = stats.get(item.campaign_id, CampaignStats())
            headers.append(CampaignHeader.model_validate(data))
        return headers, page.next_cursor

    def _campaign_stats(self, workspace_id: str, campaign_ids: Iterable[str]) -> dict[str, CampaignStats]:
        keys = [(campaign_pk(workspace_id, cid), CAMPAIGN_STATS_SK) for cid in campaign_ids]
        if not keys:
            return {}
        found: dict[str, CampaignStats] = {}
        for item in CampaignPartItem.batch_get(keys, consistent_read=True):
            found[item.pk.rsplit("#", 1)[1]] = _stats(item)
        return found

    def due(self, now: datetime, limit: int = 100) -> list[tuple[str, str]]:
        """(workspace id, campaign id) of campaigns whose start or end instant is at or before `now`."""
        bind_models()
        bound = upper(now)
        results = CampaignItem.due.query(CAMPAIGN_DUE_PK, CampaignItem.due_sk <= bound, limit=limit)
        out = []
        for item in results:
            if isinstance(item, CampaignItem):
                out.append((item.pk.split("#", 1)[0], item.campaign_id))
        return out

    # --- writes ------------------------------------------------------------------------------------------------
    def insert(self, record: CampaignRecord) -> None:
        """Steps first, the campaign item last (it is what makes the campaign visible), so a crash in between
        leaves unreachable step items at worst, never a campaign missing steps."""
        _check_pause(record)
        ws, cid = record.workspace_id, record.campaign_id
        step_items = [_step_item(ws, cid, step) for step in record.steps]
        with CampaignPartItem.batch_write() as writer:
            for item in step_items:
                writer.save(item)
        root = _campaign_item(record.header(), [s.id for s in record.steps])
        try:
            root.save(condition=CampaignItem.pk.does_not_exist())
        except PutError as exc:
            if condition_failed(exc):
                raise Stale(cid) from exc
            raise

    def save(
        self,
        record: CampaignRecord,
        expected_version: int,
        *,
        step_puts: Sequence[StepRecord] = (),
        step_deletes: Sequence[str] = (),
        failure_window_since: datetime | None = None,
    ) -> CampaignRecord:
        """Write the campaign item (version = expected + 1, step order from `record.steps`) and the given step
        changes in one transaction, if nobody wrote since `expected_version`; `Stale` otherwise.
        `failure_window_since` also resets the campaign's failure-rate window to that instant, in the same
        transaction (an engine resume: the failures of the outage must not pause the campaign again)."""
        _check_pause(record)  # status, reason and instant travel together in the one conditional put below
        saved = record.model_copy(update={"version": expected_version + 1})
        root = _campaign_item(saved.header(), [s.id for s in saved.steps])
        condition = CampaignItem.version == expected_version
        ws, cid = record.workspace_id, record.campaign_id
        if not step_puts and not step_deletes and failure_window_since is None:
            try:
                root.save(condition=condition)
            except PutError as exc:
                if condition_failed(exc):
                    raise Stale(cid) from exc
                raise
            return saved
        step_items = [_step_item(ws, cid, step) for step in step_puts]
        try:
            with transaction() as tx:
                tx.save(root, condition=condition)
                for item in step_items:
                    tx.save(item)
                for step_id in step_deletes:
                    tx.delete(CampaignPartItem(pk=campaign_pk(ws, cid), sk=step_sk(step_id)))
                if failure_window_since is not None:
                    mark = FailureWindowMark(pk=campaign_failures_pk(ws, cid), sk=table.ITEM_SK)
                    tx.update(mark, actions=[FailureWindowMark.since.set(failure_window_since)])
        except TransactWriteError as exc:
            if cancelled_by_condition(exc, 0):
                raise Stale(cid) from exc
            raise
        return saved

    def increment_stats(
        self,
        workspace_id: str,
        campaign_id: str,
        *,
        step_id: str | None = None,
        letter: str | None = None,
        **deltas: int,
    ) -> None:
        """Add to the campaign's counters and, when given, the step's and the variant's, atomically (ADD).

        `deltas`: any of sent/opened/clicked/replied/bounced/unsubscribed; e.g. `increment_stats(ws, c, step_id=s,
        letter="B", sent=1)`. Safe under concurrency; the sending engine calls it once per event.
        """
        unknown = set(deltas) - set(STAT_NAMES)
        if unknown or not deltas:
            raise ValueError(f"counters must be among {STAT_NAMES}, got {sorted(deltas)}")
        if letter is not None and step_id is None:
            raise ValueError("a variant counter needs its step id")
        pk = campaign_pk(workspace_id, campaign_id)
        keys = [CAMPAIGN_STATS_SK]
        if step_id is not None:
            keys.append(step_stats_sk(step_id))
            if letter is not None:
                keys.append(variant_stats_sk(step_id, letter))
        actions = [getattr(CampaignPartItem, name).add(value) for name, value in deltas.items()]
        with transaction() as tx:
            for sk in keys:
                tx.update(CampaignPartItem(pk=pk, sk=sk), actions=[*actions, CampaignPartItem.kind.set("stats")])
