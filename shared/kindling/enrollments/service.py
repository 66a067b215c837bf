"""Enrollment rules: enroll by prospect id, list and email (one enrollment per prospect per campaign), soft-stop
unenroll, the listing, the change feed and the per-campaign summary.

Enrolling streams the distinct prospects through chunks of `CHUNK` ids; per chunk, BatchGetItem (100 keys per
request) for the existing enrollments' statuses, then for the prospects not enrolled yet their prospect items and
the suppression check (email records + domain entries, `SuppressionService.check_many`), then one transaction per
99 enrollments that also moves the summary. Each distinct input is counted once: `enrolled`, `suppressed` (recorded
with status `suppressed`, never emailed), `invalid` (a malformed email, an email or id with no prospect, a prospect
whose global status is `invalid`) or `alreadyEnrolled`. Re-sending a request enrolls nobody twice. The help
center's "409 conflict on a duplicate enrollment" is not used: the reference's batch response reports duplicates
as `alreadyEnrolledCount`.

Emails that are not prospects yet are counted invalid, not created: the reference says the endpoint finds and
enrolls prospects by email (campaign guide), and creating prospects is POST /prospects or an import.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from kindling.campaigns.models import CampaignRecord, assign_variant
from kindling.campaigns.repository import CampaignRepository
from kindling.campaigns.service import CampaignService
from kindling.enrollments.models import (
    IN_SEQUENCE,
    Enrollment,
    EnrollmentStatus,
    EnrollmentSummary,
    EnrollResult,
    ProspectBrief,
    UnenrollResult,
)
from kindling.enrollments.repository import TRANSACTION_ITEMS, EnrollmentRepository, Refused
from kindling.mailboxes.repository import MailboxRepository
from kindling.platform.clock import Clock, get_clock
from kindling.platform.errors import InvalidStatus
from kindling.platform.ids import prefixed_id
from kindling.prospects.fields import InvalidEmail, normalize_email
from kindling.prospects.models import BLOCKING_STATUSES
from kindling.prospects.repository import ProspectRepository
from kindling.suppressions.models import SuppressionCheck
from kindling.suppressions.service import SuppressionService

# A campaign that can never send again (help center §7.5: completed and errored campaigns cannot be started)
# takes no new enrollments; every other status can (draft and paused ones send once started or resumed).
CLOSED_CAMPAIGN_STATUSES: frozenset[str] = frozenset({"completed", "errored"})
CHUNK = 5 * TRANSACTION_ITEMS  # ids per round of batch reads: 5 BatchGetItem requests of each kind, 5 transactions
MAX_ATTEMPTS = 6  # a cancelled transaction is re-read and retried (a concurrent request enrolled the same prospect)

Outcome = Literal["new", "new_suppressed", "reactivate", "suppressed", "invalid", "already"]


def classify(global_status: str, check: SuppressionCheck, existing: str | None) -> Outcome:
    """Pure: what enrolling one prospect does, given its global status, the suppression check and the status of
    its enrollment in this campaign (None when it has none).

    - an enrollment other than `suppressed` exists: `already` (nothing written)
    - global status `invalid` (the verifier's verdict): `invalid`, nothing recorded
    - blocked (email or domain entry, or an unsubscribed/bounced/suppressed prospect): recorded as `suppressed`
      once (`new_suppressed`), counted `suppressed` again after that
    - otherwise a new `pending` enrollment, or the `suppressed` one re-activated once the block is lifted
    """
    if existing is not None and existing != "suppressed":
        return "already"
    if global_status == "invalid":
        return "invalid"
    if check.blocked or global_status in BLOCKING_STATUSES:
        return "suppressed" if existing == "suppressed" else "new_suppressed"
    return "reactivate" if existing == "suppressed" else "new"


def count_of(outcome: Outcome) -> str:
    """The result bucket an outcome is reported in."""
    return {
        "new": "enrolled",
        "reactivate": "enrolled",
        "new_suppressed": "suppressed",
        "suppressed": "suppressed",
        "invalid": "invalid",
        "already": "already_enrolled",
    }[outcome]


def chunks(values: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class _Tally:
    enrolled: int = 0
    suppressed: int = 0
    invalid: int = 0
    already_enrolled: int = 0

    def add(self, bucket: str, n: int = 1) -> None:
        setattr(self, bucket, getattr(self, bucket) + n)

    def result(self) -> EnrollResult:
        return EnrollResult(
            enrolled=self.enrolled,
            suppressed=self.suppressed,
            invalid=self.invalid,
            already_enrolled=self.already_enrolled,
        )


class EnrollmentService:
    def __init__(
        self,
        repository: EnrollmentRepository | None = None,
        prospects: ProspectRepository | None = None,
        suppressions: SuppressionService | None = None,
        campaigns: CampaignRepository | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._repo = repository or EnrollmentRepository()
        self._prospects = prospects or ProspectRepository()
        self._suppressions = suppressions or SuppressionService()
        self._campaigns = campaigns or CampaignRepository()
        self._clock = clock

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    # --- enroll ------------------------------------------------------------------------------------

    def enroll(
        self,
        workspace_id: str,
        campaign_id: str,
        *,
        prospect_ids: Sequence[str] = (),
        list_ids: Sequence[str] = (),
        emails: Sequence[str] = (),
    ) -> EnrollResult:
        campaign = self._campaigns.get(workspace_id, campaign_id)  # NotFound for an unknown campaign
        if campaign.status in CLOSED_CAMPAIGN_STATUSES:
            raise InvalidStatus(f"Cannot enroll prospects in a {campaign.status} campaign.")
        lists = list(dict.fromkeys(list_ids))
        for list_id in lists:  # every list must exist before anything is written (404 otherwise)
            self._prospects.get_list(workspace_id, list_id)
        tally = _Tally()
        seen: set[str] = set()

        def distinct(ids: Iterable[str]) -> Iterator[str]:
            for pid in ids:
                if pid not in seen:
                    seen.add(pid)
                    yield pid

        def from_lists() -> Iterator[str]:
            for list_id in lists:
                yield from self._repo.list_member_ids(workspace_id, list_id)

        for chunk in chunks(distinct(prospect_ids), CHUNK):
            self._enroll_chunk(workspace_id, campaign, chunk, tally)
        for chunk in chunks(distinct(from_lists()), CHUNK):
            self._enroll_chunk(workspace_id, campaign, chunk, tally)
        for chunk in chunks(distinct(self._prospects_by_email(workspace_id, emails, tally)), CHUNK):
            self._enroll_chunk(workspace_id, campaign, chunk, tally)
        return tally.result()

    def _prospects_by_email(self, workspace_id: str, emails: Sequence[str], tally: _Tally) -> Iterator[str]:
        """Prospect ids of the addresses; malformed addresses and addresses with no prospect count invalid."""
        addresses: list[str] = []
        malformed: set[str] = set()
        for raw in emails:
            try:
                addresses.append(normalize_email(raw))
            except InvalidEmail:
                malformed.add(raw.strip().lower())
        tally.add("invalid", len(malformed))
        for chunk in chunks(dict.fromkeys(addresses), CHUNK):
            records = self._prospects.email_records(workspace_id, chunk)
            for email in chunk:
                record = records.get(email)
                if record is None or not record.prospect_id:
                    tally.add("invalid")
                    continue
                yield record.prospect_id

    def _enroll_chunk(
        self, workspace_id: str, campaign: CampaignRecord, prospect_ids: list[str], tally: _Tally
    ) -> None:
        # Enrolled already (the whole of a re-sent request): settled by one status read, nothing else is read.
        existing = self._repo.statuses(workspace_id, campaign.id, prospect_ids)
        todo = [pid for pid in prospect_ids if existing.get(pid) in (None, "suppressed")]
        tally.add("already_enrolled", len(prospect_ids) - len(todo))
        if not todo:
            return
        prospects = self._repo.prospect_briefs(workspace_id, todo)
        tally.add("invalid", len(todo) - len(prospects))
        found = [prospects[pid] for pid in todo if pid in prospects]
        if not found:
            return
        checks = self._suppressions.check_many(workspace_id, [p.email for p in found])
        for start in range(0, len(found), TRANSACTION_ITEMS):
            group = found[start : start + TRANSACTION_ITEMS]
            self._write_group(workspace_id, campaign, group, checks, existing, tally)

    def _write_group(
        self,
        workspace_id: str,
        campaign: CampaignRecord,
        group: list[ProspectBrief],
        checks: dict[str, SuppressionCheck],
        existing: dict[str, str],
        tally: _Tally,
    ) -> None:
        buckets: list[str] = []
        for attempt in range(MAX_ATTEMPTS):
            now = self._now()
            new: list[Enrollment] = []
            reactivated: list[ProspectBrief] = []
            keys: set[str] = set()
            buckets = []
            for prospect in group:
                outcome = classify(prospect.global_status, checks[prospect.email], existing.get(prospect.id))
                buckets.append(count_of(outcome))
                if outcome == "new":
                    new.append(self._new_enrollment(workspace_id, campaign, prospect, "pending", now))
                elif outcome == "new_suppressed":
                    new.append(self._new_enrollment(workspace_id, campaign, prospect, "suppressed", now))
                elif outcome == "reactivate":
                    reactivated.append(prospect)
                if outcome in ("new", "reactivate"):
                    keys.update(prospect.custom_field_keys)
            if not new and not reactivated:
                break
            try:
                self._repo.write(workspace_id, campaign.id, new, reactivated, keys, now)
                break
            except Refused:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
                # Another request enrolled (or re-activated) some of these meanwhile, or held the summary item:
                # re-read their state and write what is still missing.
                time.sleep(min(0.05 * 2**attempt, 1.0))
                existing = self._repo.statuses(workspace_id, campaign.id, [p.id for p in group])
        for bucket in buckets:
            tally.add(bucket)

    def _new_enrollment(
        self,
        workspace_id: str,
        campaign: CampaignRecord,
        prospect: ProspectBrief,
        status: EnrollmentStatus,
        now: datetime,
    ) -> Enrollment:
        enrollment_id = prefixed_id("enr")
        return Enrollment(
            id=enrollment_id,
            workspace_id=workspace_id,
            campaign_id=campaign.id,
            prospect_id=prospect.id,
            email=prospect.email,
            first_name=prospect.first_name,
            last_name=prospect.last_name,
            status=status,
            variant=self._variant(campaign, enrollment_id),
            created_at=now,
            updated_at=now,
        )

    @staticmethod
    def _variant(campaign: CampaignRecord, enrollment_id: str) -> str | None:
        """The first step's variant letter (None while it has no enabled variant: the start check refuses that)."""
        steps = sorted(campaign.steps, key=lambda s: s.step_index)
        if not steps or not steps[0].enabled_variants:
            return None
        return assign_variant(steps[0].variants, enrollment_id)

    # --- unenroll ----------------------------------------------------------------------------------

    def unenroll(
        self, workspace_id: str, campaign_id: str, *, prospect_ids: Sequence[str] = (), emails: Sequence[str] = ()
    ) -> UnenrollResult:
        """Soft-stop: enrollments still in the sequence become `stopped` (kept, out of the `due` index, so the
        scheduler queues nothing more; the sender re-checks the status when it claims a step). Others are skipped."""
        self._campaigns.get(workspace_id, campaign_id)
        ids = list(dict.fromkeys(prospect_ids))
        addresses: list[str] = []
        malformed: set[str] = set()
        for raw in emails:
            try:
                addresses.append(normalize_email(raw))
            except InvalidEmail:
                malformed.add(raw.strip().lower())
        processed = len(ids) + len(malformed)
        known = set(ids)
        for chunk in chunks(dict.fromkeys(addresses), CHUNK):
            records = self._prospects.email_records(workspace_id, chunk)
            for email in chunk:
                record = records.get(email)
                if record is not None and record.prospect_id:
                    if record.prospect_id in known:
                        continue  # named twice (by id and by email): one prospect
                    known.add(record.prospect_id)
                    ids.append(record.prospect_id)
                processed += 1
        stopped = 0
        for start in range(0, len(ids), TRANSACTION_ITEMS):
            stopped += self._stop_group(workspace_id, campaign_id, ids[start : start + TRANSACTION_ITEMS])
        return UnenrollResult(unenrolled=stopped, total_processed=processed)

    def _stop_group(self, workspace_id: str, campaign_id: str, prospect_ids: list[str]) -> int:
        for attempt in range(MAX_ATTEMPTS):
            existing = self._repo.statuses(workspace_id, campaign_id, prospect_ids)
            current = [(pid, status) for pid, status in existing.items() if status in IN_SEQUENCE]
            if not current:
                return 0
            try:
                self._repo.stop(workspace_id, campaign_id, current, "unenrolled", self._now())
                return len(current)
            except Refused:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
                time.sleep(min(0.05 * 2**attempt, 1.0))  # a status moved meanwhile (a send, a reply): re-read
        return 0

    # --- reads -------------------------------------------------------------------------------------

    def summary(self, workspace_id: str, campaign_id: str) -> EnrollmentSummary:
        return self._repo.summary(workspace_id, campaign_id)

    def page(
        self, workspace_id: str, campaign_id: str, status: str | None, limit: int, cursor: str | None
    ) -> tuple[list[Enrollment], str | None]:
        self._campaigns.get(workspace_id, campaign_id)
        return self._repo.page(workspace_id, campaign_id, status, limit, cursor)

    def changes(
        self, workspace_id: str, campaign_id: str, since: datetime, limit: int, cursor: str | None
    ) -> tuple[list[Enrollment], str | None]:
        self._campaigns.get(workspace_id, campaign_id)
        return self._repo.changes(workspace_id, campaign_id, since, limit, cursor)


def campaign_service(
    repository: CampaignRepository | None = None,
    mailboxes: MailboxRepository | None = None,
    *,
    clock: Clock | None = None,
) -> CampaignService:
    """A `CampaignService` with the enrollments it reads: the one way the API and the engines build one
    (campaigns sit below enrollments, so they are handed an `EnrollmentService` instead of importing it)."""
    return CampaignService(repository, mailboxes, enrollments=EnrollmentService(), clock=clock)
