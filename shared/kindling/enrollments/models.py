"""Enrollment shapes: the enroll / unenroll requests and results (the reference's Enrollments section), one
enrollment (a prospect in a campaign), the per-campaign summary and the change feed entries.

Statuses (the campaign guide and the peer API's contact statuses, plus `stopped`):
- `pending`      enrolled, no step sent yet (the scheduler picks it up once the campaign runs)
- `active`       at least one step sent, more to come
- `replied`, `bounced`, `unsubscribed`   the sequence stopped on that outcome
- `suppressed`   recorded at enrollment because the address, its domain or the prospect's global status blocks
                 it; never emailed (campaign guide: "marked as suppressed in the enrollment")
- `completed`    every step sent
- `failed`       the engine gave up (e.g. `stuck_processing_loop`, decisions.md)
- `stopped`      unenrolled through the API (soft stop: the item and its history stay, pending sends cancelled)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

EnrollmentStatus = Literal[
    "pending", "active", "replied", "bounced", "unsubscribed", "suppressed", "completed", "failed", "stopped"
]
ENROLLMENT_STATUSES: tuple[str, ...] = (
    "pending",
    "active",
    "replied",
    "bounced",
    "unsubscribed",
    "suppressed",
    "completed",
    "failed",
    "stopped",
)
# Still in the sequence: the only statuses an unenroll stops (the others have already left it).
IN_SEQUENCE: frozenset[str] = frozenset({"pending", "active"})

# One request may name up to 10,000 prospects or emails (the size of a CSV import); lists expand server-side.
MAX_IDS = 10_000
MAX_LIST_IDS = 100

RequestId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
RequestEmail = Annotated[str, StringConstraints(min_length=1, max_length=320)]


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class EnrollRequest(_Camel):
    """POST /api/v1/campaigns/{id}/enrollments: at least one of the three; they combine."""

    prospect_ids: list[RequestId] = Field(default_factory=list, max_length=MAX_IDS)
    list_ids: list[RequestId] = Field(default_factory=list, max_length=MAX_LIST_IDS)
    emails: list[RequestEmail] = Field(default_factory=list, max_length=MAX_IDS)

    @model_validator(mode="after")
    def _at_least_one(self) -> EnrollRequest:
        if not (self.prospect_ids or self.list_ids or self.emails):
            raise ValueError("provide at least one of prospectIds, listIds, emails")
        return self


class UnenrollRequest(_Camel):
    """DELETE /api/v1/campaigns/{id}/enrollments: at least one of the two."""

    prospect_ids: list[RequestId] = Field(default_factory=list, max_length=MAX_IDS)
    emails: list[RequestEmail] = Field(default_factory=list, max_length=MAX_IDS)

    @model_validator(mode="after")
    def _at_least_one(self) -> UnenrollRequest:
        if not (self.prospect_ids or self.emails):
            raise ValueError("provide at least one of prospectIds, emails")
        return self


class EnrollResult(BaseModel):
    """Each distinct prospect (or unresolvable input) is counted once, in exactly one bucket."""

    enrolled: int = 0
    suppressed: int = 0
    invalid: int = 0
    already_enrolled: int = 0

    @property
    def total_processed(self) -> int:
        return self.enrolled + self.suppressed + self.invalid + self.already_enrolled


class UnenrollResult(BaseModel):
    unenrolled: int
    total_processed: int


@dataclass(frozen=True)
class EnrollmentSummary:
    """Per campaign, kept exact in the same transactions that write enrollments (no scan to read it)."""

    total: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # status -> enrollments in it (zeros included)
    custom_field_keys: frozenset[str] = frozenset()  # union of the enrolled prospects' custom field keys

    def count(self, status: str) -> int:
        return self.counts.get(status, 0)


@dataclass(frozen=True)
class ProspectBrief:
    """What enrolling reads of a prospect (a projection of the prospect item)."""

    id: str
    email: str
    first_name: str | None
    last_name: str | None
    global_status: str
    custom_field_keys: frozenset[str]


class Enrollment(BaseModel):
    """One prospect in one campaign (at most one, which is what makes enrolling idempotent).

    Set at enrollment: identity, prospect snapshot (email, names), status, `current_step` 0 and `variant`, the
    first step's letter from `campaigns.models.assign_variant` (deterministic per enrollment id, so the engine
    derives a later step's letter the same way).
    The sending engine (scheduler and sender) owns the rest: `current_step` (index of the next step to send),
    `next_send_at`, `last_sent_at`, `mailbox_id`, `thread_message_ids` (Message-IDs of the steps sent, in order,
    for In-Reply-To/References) and, on the item only, the sparse `due_pk`/`due_sk` index attributes (the
    scheduler sets them while a step is due; a stop removes them). Every status change also sets `previous_status`
    and `updated_at` (the change feed) and moves the summary counters in the same transaction.
    """

    id: str
    workspace_id: str
    campaign_id: str
    prospect_id: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    status: EnrollmentStatus
    previous_status: EnrollmentStatus | None = None
    current_step: int = 0
    variant: str | None = None
    mailbox_id: str | None = None
    next_send_at: datetime | None = None
    last_sent_at: datetime | None = None
    thread_message_ids: list[str] = Field(default_factory=list)
    stopped_reason: str | None = None
    created_at: datetime
    updated_at: datetime
