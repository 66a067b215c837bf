"""Prospect and list rules: create-or-merge by email, partial updates, filters, exact list counts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kindling.events.catalog import emit_event
from kindling.events.service import EventService
from kindling.platform.clock import Clock, get_clock, isoformat
from kindling.platform.ids import new_uuid, prefixed_id
from kindling.prospects.fields import InvalidEmail, normalize_email
from kindling.prospects.models import (
    TEXT_FIELDS,
    ListCreate,
    ListUpdate,
    MembershipResult,
    Prospect,
    ProspectCreate,
    ProspectFilters,
    ProspectList,
    ProspectUpdate,
)
from kindling.prospects.repository import ProspectRepository

TRANSACTION_CHUNK = 99  # members per transaction, plus the list's count update


def emit_suppressed(
    events: EventService, workspace_id: str, prospect: Prospect, reason: str | None, when: datetime
) -> None:
    # Through the webhook catalogue, so the payload is checked and the type's dedup rule (inventory 30.1) applies.
    emit_event(
        events,
        workspace_id,
        "prospect.suppressed",
        # An API suppression without a reason is a manual one (the help center names unsubscribe, bounce, manual).
        {
            "prospectId": prospect.id,
            "email": prospect.email,
            "reason": reason or "manual",
            "suppressedAt": isoformat(when),
        },
        now=when,
    )


class ProspectService:
    def __init__(
        self,
        repository: ProspectRepository | None = None,
        events: EventService | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._repo = repository or ProspectRepository()
        self._events = events
        self._clock = clock

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    def _event_service(self) -> EventService:
        if self._events is None:
            self._events = EventService()
        return self._events

    def create(self, workspace_id: str, data: ProspectCreate) -> tuple[Prospect, bool]:
        """Create, or merge into the prospect with the same email. Returns (prospect, already_existed)."""
        email = data.normalized_email
        for _ in range(3):
            record = self._repo.email_record(workspace_id, email)
            now = self._now()
            if record is not None and record.prospect_id:
                existing = self._repo.get(workspace_id, record.prospect_id)
                merged = existing.merged_with(data, now)
                if merged is not existing:
                    self._repo.replace(merged, status_changed=False)
                return merged, True
            fields: dict[str, Any] = {name: getattr(data, name) for name in TEXT_FIELDS}
            prospect = Prospect(
                id=new_uuid(),
                workspace_id=workspace_id,
                email=email,
                custom_fields=data.custom_fields or {},
                created_at=now,
                updated_at=now,
                **fields,
            )
            if self._repo.insert(prospect):
                return prospect, False
        raise RuntimeError("could not create or merge the prospect after 3 attempts")

    def get(self, workspace_id: str, prospect_id: str) -> Prospect:
        return self._repo.get(workspace_id, prospect_id)

    def update(self, workspace_id: str, prospect_id: str, data: ProspectUpdate) -> Prospect:
        current = self._repo.get(workspace_id, prospect_id)
        changes: dict[str, Any] = {}
        for name in data.model_fields_set:
            value = getattr(data, name)
            if name == "custom_fields":
                value = {**current.custom_fields, **(value or {})} if value is not None else {}
            changes[name] = value
        if not changes:
            return current
        now = self._now()
        updated = current.model_copy(update={**changes, "updated_at": now})
        status_changed = updated.global_status != current.global_status
        self._repo.replace(updated, status_changed=status_changed)
        if status_changed and updated.global_status == "suppressed":
            emit_suppressed(self._event_service(), workspace_id, updated, "manual", now)
        return updated

    def page(
        self, workspace_id: str, filters: ProspectFilters, limit: int, cursor: str | None
    ) -> tuple[list[Prospect], str | None]:
        if filters.email is not None:
            try:
                email = normalize_email(filters.email)
            except InvalidEmail:
                return [], None
            record = self._repo.email_record(workspace_id, email)
            if record is None or not record.prospect_id:
                return [], None
            prospect = self._repo.get(workspace_id, record.prospect_id)
            keep = (not filters.global_status or prospect.global_status == filters.global_status) and (
                filters.updated_since is None or prospect.updated_at >= filters.updated_since
            )
            if filters.list_id:
                keep = keep and bool(self._repo.existing_members(workspace_id, filters.list_id, [prospect.id]))
            return ([prospect] if keep else []), None
        return self._repo.page(workspace_id, filters, limit, cursor)


class ListService:
    def __init__(self, repository: ProspectRepository | None = None, clock: Clock | None = None) -> None:
        self._repo = repository or ProspectRepository()
        self._clock = clock

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    def create(self, workspace_id: str, data: ListCreate) -> ProspectList:
        now = self._now()
        prospect_list = ProspectList(
            id=prefixed_id("lst"),
            workspace_id=workspace_id,
            name=data.name,
            color=data.color,
            prospect_count=0,
            created_at=now,
            updated_at=now,
        )
        self._repo.put_list(prospect_list)
        return prospect_list

    def get(self, workspace_id: str, list_id: str) -> ProspectList:
        return self._repo.get_list(workspace_id, list_id)

    def page(self, workspace_id: str, limit: int, cursor: str | None) -> tuple[list[ProspectList], str | None]:
        return self._repo.lists_page(workspace_id, limit, cursor)

    def update(self, workspace_id: str, list_id: str, data: ListUpdate) -> ProspectList:
        changes = {name: getattr(data, name) for name in data.model_fields_set}
        if not changes:
            return self._repo.get_list(workspace_id, list_id)
        return self._repo.update_list(workspace_id, list_id, changes, self._now())

    def delete(self, workspace_id: str, list_id: str) -> None:
        self._repo.delete_list(workspace_id, list_id)

    def add(self, workspace_id: str, list_id: str, prospect_ids: Sequence[str]) -> MembershipResult:
        return self._change(workspace_id, list_id, prospect_ids, add=True)

    def remove(self, workspace_id: str, list_id: str, prospect_ids: Sequence[str]) -> MembershipResult:
        return self._change(workspace_id, list_id, prospect_ids, add=False)

    def _change(self, workspace_id: str, list_id: str, prospect_ids: Sequence[str], *, add: bool) -> MembershipResult:
        self._repo.get_list(workspace_id, list_id)
        wanted = list(dict.fromkeys(prospect_ids))
        if add:
            known = set(self._repo.get_many(workspace_id, wanted))
            not_found = [pid for pid in wanted if pid not in known]
            candidates = [pid for pid in wanted if pid in known]
        else:
            not_found, candidates = [], wanted
        changed = 0
        for start in range(0, len(candidates), TRANSACTION_CHUNK):
            chunk = candidates[start : start + TRANSACTION_CHUNK]
            for _ in range(5):
                members = self._repo.existing_members(workspace_id, list_id, chunk)
                todo = [pid for pid in chunk if (pid not in members) == add]
                if not todo or self._repo.change_members(workspace_id, list_id, todo, self._now(), add=add):
                    changed += len(todo)
                    break
                self._repo.get_list(workspace_id, list_id)  # NotFound when the list was deleted meanwhile
            else:
                raise RuntimeError("list membership kept changing; retry the request")
        current = self._repo.get_list(workspace_id, list_id)
        unchanged = len(wanted) - changed - len(not_found)
        return MembershipResult(
            changed=changed, unchanged=unchanged, not_found=len(not_found), prospect_count=current.prospect_count
        )
