"""Suppression rules, and `is_suppressed()`: the one answer to "may we email this address?".

The sending engine and enrollment call `SuppressionService().check(ws, email)` (or `check_many`); it reads
two keys in one BatchGetItem: the address's email record (email entry + prospect status) and its domain entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from kindling.events.service import EventService
from kindling.platform.clock import Clock, get_clock
from kindling.platform.errors import Conflict, NotFound, ValidationFailed, field_error
from kindling.platform.ids import prefixed_id
from kindling.prospects.fields import InvalidEmail, email_domain, normalize_email
from kindling.prospects.models import BLOCKING_STATUSES, Prospect
from kindling.prospects.service import emit_suppressed
from kindling.suppressions.models import (
    EmailRecordView,
    SuppressionCheck,
    SuppressionCreate,
    SuppressionEntry,
    SuppressResult,
)
from kindling.suppressions.repository import (
    SUPPRESSED_STATUSES,
    DomainSuppressionItem,
    SuppressionRepository,
    entry_of,
)


def normalize_domain(raw: str) -> str:
    """`@Acme.COM` -> `acme.com`; the same syntax rules as an address's domain."""
    candidate = raw.strip().lstrip("@")
    if not candidate or "@" in candidate:
        raise InvalidEmail("not a domain name")
    return email_domain(normalize_email(f"postmaster@{candidate}"))


STATUS_BY_SOURCE: dict[str, str] = {"bounce": "bounced", "unsubscribe": "unsubscribed"}


def decide(email: str, record: EmailRecordView | None, domain_entry: DomainSuppressionItem | None) -> SuppressionCheck:
    """Pure: the check's answer from the two items (email entry first, then domain, then prospect status)."""
    prospect_id = record.prospect_id if record is not None else None
    status = record.prospect_status if record is not None else None
    email_entry = entry_of(record) if record is not None else None
    if email_entry is not None:
        return SuppressionCheck(
            email=email,
            blocked=True,
            reason="email",
            entry=email_entry,
            prospect_id=prospect_id,
            prospect_status=status,
        )
    domain = entry_of(domain_entry) if domain_entry is not None else None
    if domain is not None:
        return SuppressionCheck(
            email=email, blocked=True, reason="domain", entry=domain, prospect_id=prospect_id, prospect_status=status
        )
    if status in BLOCKING_STATUSES:
        return SuppressionCheck(
            email=email, blocked=True, reason="prospect_status", prospect_id=prospect_id, prospect_status=status
        )
    return SuppressionCheck(email=email, blocked=False, prospect_id=prospect_id, prospect_status=status)


class SuppressionService:
    def __init__(
        self,
        repository: SuppressionRepository | None = None,
        events: EventService | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._repo = repository or SuppressionRepository()
        self._events = events
        self._clock = clock

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    def _event_service(self) -> EventService:
        if self._events is None:
            self._events = EventService()
        return self._events

    # --- the check ---------------------------------------------------------------------------------

    def check(self, workspace_id: str, email: str) -> SuppressionCheck:
        """Is this address suppressed? (email entry, domain entry, or the prospect's global status)."""
        try:
            address = normalize_email(email)
        except InvalidEmail as exc:
            raise ValidationFailed("The email address is invalid.", details=[field_error("email", str(exc))]) from exc
        return self.check_many(workspace_id, [address])[address]

    def check_many(self, workspace_id: str, emails: Iterable[str]) -> dict[str, SuppressionCheck]:
        """The check for already-normalised addresses, 50 addresses per BatchGetItem."""
        addresses = list(dict.fromkeys(emails))
        records, domains = self._repo.lookup(workspace_id, addresses)
        return {e: decide(e, records.get(e), domains.get(email_domain(e))) for e in addresses}

    # --- suppressing -------------------------------------------------------------------------------

    def suppress_emails(
        self, workspace_id: str, emails: list[str], reason: str | None, source: str = "api"
    ) -> SuppressResult:
        """POST /prospects/suppress: add email entries; existing prospects become `suppressed`."""
        addresses: list[str] = []
        bad: list[dict[str, str]] = []
        for index, raw in enumerate(emails):
            try:
                addresses.append(normalize_email(raw))
            except InvalidEmail as exc:
                bad.append(field_error(f"emails.{index}", str(exc)))
        if bad:
            raise ValidationFailed("Some email addresses are invalid.", details=bad)
        addresses = list(dict.fromkeys(addresses))
        records, _ = self._repo.lookup(workspace_id, addresses)
        suppressed = already = not_found = 0
        for email in addresses:
            outcome, _ = self._suppress_one(workspace_id, email, records.get(email), reason, source)
            if outcome == "suppressed":
                suppressed += 1
            elif outcome == "already":
                already += 1
            else:
                not_found += 1
        return SuppressResult(
            suppressed_count=suppressed,
            already_suppressed_count=already,
            not_found_count=not_found,
            total_processed=len(addresses),
        )

    def _new_entry(self, value: str, kind: str, reason: str | None, source: str) -> SuppressionEntry:
        return SuppressionEntry(
            id=prefixed_id("sup"),
            type=kind,
            value=value,
            source=source,
            reason=reason,
            created_at=self._now(),  # type: ignore[arg-type]
        )

    def _suppress_one(
        self, workspace_id: str, email: str, record: EmailRecordView | None, reason: str | None, source: str
    ) -> tuple[str, SuppressionEntry | None]:
        """('suppressed' | 'already' | 'not_found', the entry written if any).

        'suppressed': a prospect became suppressed; 'not_found': an entry was added for an address with no
        prospect; 'already': the address was suppressed before (nothing written)."""
        has_entry = record is not None and bool(record.supp_id)
        prospect_id = record.prospect_id if record is not None else None
        status = record.prospect_status if record is not None else None
        if prospect_id and status not in SUPPRESSED_STATUSES:
            entry = None if has_entry else self._new_entry(email, "email", reason, source)
            when = self._now()
            # A hard bounce or an unsubscribe says so in the prospect's globalStatus; anything else is `suppressed`.
            new_status = STATUS_BY_SOURCE.get(source, "suppressed")
            if self._repo.suppress_prospect(workspace_id, email, prospect_id, entry, when, new_status):
                prospect = Prospect(
                    id=prospect_id, workspace_id=workspace_id, email=email, created_at=when, updated_at=when
                )
                emit_suppressed(self._event_service(), workspace_id, prospect, reason, when)
                return "suppressed", entry
            return "already", None
        if has_entry:
            return "already", None
        entry = self._new_entry(email, "email", reason, source)
        if not self._repo.add_email_entry(workspace_id, email, entry):
            return "already", None
        return ("already" if prospect_id else "not_found"), entry

    def create(self, workspace_id: str, data: SuppressionCreate, source: str = "api") -> tuple[SuppressionEntry, bool]:
        """POST /suppressions: returns (entry, created). An existing entry for the same value is returned as is."""
        try:
            value = normalize_email(data.value) if data.type == "email" else normalize_domain(data.value)
        except InvalidEmail as exc:
            raise ValidationFailed(f"The {data.type} is invalid.", details=[field_error("value", str(exc))]) from exc
        if data.type == "email":
            records, _ = self._repo.lookup(workspace_id, [value])
            _, written = self._suppress_one(workspace_id, value, records.get(value), data.reason, source)
            if written is not None:
                return written, True
            current = self.check_many(workspace_id, [value])[value]
            if current.reason != "email" or current.entry is None:
                # The prospect was already suppressed by status only: add the missing email entry.
                entry = self._new_entry(value, "email", data.reason, source)
                if self._repo.add_email_entry(workspace_id, value, entry):
                    return entry, True
                current = self.check_many(workspace_id, [value])[value]
            if current.entry is None:
                raise Conflict("The entry changed while it was being written; retry.")
            return current.entry, False
        entry = self._new_entry(value, "domain", data.reason, source)
        if self._repo.add_domain_entry(workspace_id, value, entry):
            return entry, True
        _, domains = self._repo.lookup(workspace_id, [f"postmaster@{value}"])
        found = entry_of(domains[value]) if value in domains else None
        if found is None:
            raise Conflict("The entry changed while it was being written; retry.")
        return found, False

    def delete(self, workspace_id: str, entry_id: str) -> None:
        entry = self._repo.find(workspace_id, entry_id)
        deleted = False
        if entry is not None:
            if entry.type == "email":
                deleted = self._repo.delete_email_entry(workspace_id, entry.value, entry_id)
            else:
                deleted = self._repo.delete_domain_entry(workspace_id, entry.value, entry_id)
        if not deleted:
            raise NotFound(f"Suppression entry {entry_id} not found.")

    def page(
        self, workspace_id: str, entry_type: str | None, limit: int, cursor: str | None
    ) -> tuple[list[SuppressionEntry], str | None]:
        return self._repo.page(workspace_id, entry_type, limit, cursor)
