"""What the LinkedIn engine does after an action could not be done (help center §38; issue 18, "Error dispositions"):
pure rules from an error code, the prospect's streaks, the time and a seeded random source to a `Disposition`.

Error codes: the provider's (kindling.linkedin.provider `ProviderError.code`: `credentials`, `checkpoint`,
`not_found`, `cannot_resend_yet`, `rate_limited`, `invalid`, `unavailable`, `forbidden`) and the engine's own
(`account_disconnected` when the account is not connected at action time, `unresolved_url` for a Sales Navigator
URL that does not resolve, `limit_reached` / `pace_limited` when the account's caps refuse the reservation,
`outside_window` when the sending window leaves no slot, `account_cooldown` when the account is cooling down).

The rules (numbers from the help center; the delays it does not give are decided in docs/decisions.md):
- `cannot_resend_yet` (38.1): the account cools down for 4-8 h (a random whole second in that range), never shortened
  (GREATEST of the current and the new end); the prospect stays on its step, the job is expired, and the enrollment
  comes back at the cooldown's end plus 1-15 minutes of jitter. The invite was not sent: its slot is freed.
- `not_found` (38.2): the first two consecutive 404s retry (after 1 h, then 2 h); the third excludes the prospect:
  `stopped`, "Excluded: profile inaccessible (HTTP 404)", pending jobs cancelled, the slot freed, no provider call
  (`exclude_inaccessible` is the same disposition for the Exclude button).
- `unresolved_url` (38.3): `linkedin_status` `unresolved_url`, retried after 15 min, 30 min, 1 h, 2 h; the fifth
  failed try is terminal `failed`. Never completed silently.
- `invalid` / `forbidden` (other 422s and refusals, 38.4): deferred 30 minutes, never failed inline.
- `account_disconnected`, `credentials`, `checkpoint` (38.5): the enrollment is parked (`paused_account`, woken by the
  auto-resume sweep) and the campaign pauses with `linkedin_account_disconnected`.
- Transient blockers: a disconnected account, a cap hit, window starvation, a provider 429 or 5xx, an invalid or
  forbidden answer. They retry after 5, 10, 20, 40 minutes (or later, when the error says when: a cap's reset, a
  429's Retry-After, the next window); the fifth in a row fails the enrollment permanently with the reason
  ("Permanently failed after 5 stuck", inventory 27.7). Waiting for the pace or an account cooldown is not a blocker
  (it is how the account is paced). A success resets every streak (`after_success`); other errors leave the other
  streaks as they are.
- Endorse Skill (38.8): the skill is chosen by `choose_skill`; a provider failure retries twice, 5 minutes apart,
  then the step is marked failed and the enrollment continues.
- The reserved cap slot is freed whenever the action did not happen, except after `unavailable` with the request
  sent (a timeout or 5xx: the action may have reached LinkedIn, so it stays counted).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

Outcome = Literal["cooldown", "retry", "defer", "exclude", "fail", "park", "wait", "step_failed"]
EnrollmentStatus = Literal["stopped", "failed", "paused_account"]

COOLDOWN_MIN_SECONDS = 4 * 3600
COOLDOWN_MAX_SECONDS = 8 * 3600
RESCHEDULE_JITTER_MIN_SECONDS = 60
RESCHEDULE_JITTER_MAX_SECONDS = 15 * 60
NOT_FOUND_EXCLUDE_AT = 3  # consecutive 404s
NOT_FOUND_RETRY_BASE = timedelta(hours=1)
URL_RESOLVE_TRIES = 5
URL_RETRY_BASE = timedelta(minutes=15)
DEFER_DELAY = timedelta(minutes=30)
STUCK_LIMIT = 5  # consecutive transient blockers
BLOCKER_RETRY_BASE = timedelta(minutes=5)
ENDORSE_RETRIES = 2
ENDORSE_RETRY_DELAY = timedelta(minutes=5)

EXCLUDED_404_REASON = "Excluded: profile inaccessible (HTTP 404)"
UNRESOLVED_URL_REASON = "Sales Navigator URL could not be resolved after 5 tries"
DISCONNECTED_PAUSE_REASON = "linkedin_account_disconnected"
SKIPPED_NO_SKILLS = "Skipped — no endorsable skills found"
SKIPPED_ALREADY_ENDORSED = "Skipped — already endorsed"
ENDORSE_FAILED_REASON = "Endorse skill failed after 2 retries"

_DISCONNECTED = frozenset({"account_disconnected", "credentials", "checkpoint"})
_BLOCKER_WORDS = {
    "account_disconnected": "LinkedIn account disconnected",
    "limit_reached": "account limit reached",
    "outside_window": "no slot in the sending window",
    "rate_limited": "provider rate limit (HTTP 429)",
    "unavailable": "provider unavailable",
    "invalid": "request refused by LinkedIn (HTTP 422)",
    "forbidden": "action not allowed by LinkedIn (HTTP 403)",
}
_ENDORSE_FAILURES = frozenset({"not_found", "invalid", "forbidden", "unavailable", "rate_limited"})
ERROR_CODES: frozenset[str] = frozenset(
    {
        "cannot_resend_yet",
        "not_found",
        "unresolved_url",
        "invalid",
        "forbidden",
        "account_disconnected",
        "credentials",
        "checkpoint",
        "rate_limited",
        "unavailable",
        "limit_reached",
        "pace_limited",
        "outside_window",
        "account_cooldown",
    }
)


@dataclass(frozen=True)
class ActionState:
    """What the engine keeps about one prospect's LinkedIn step between attempts."""

    action_type: str
    not_found_streak: int = 0  # consecutive 404s
    url_attempts: int = 0  # failed Sales Navigator URL resolutions
    blocker_streak: int = 0  # consecutive transient blockers
    endorse_failures: int = 0  # failed endorse attempts of the current step
    account_cooldown_until: datetime | None = None  # the account's current cooldown end
    maybe_sent: bool = False  # a call of this step may have reached LinkedIn without an answer (timeout, 5xx)


@dataclass(frozen=True)
class Disposition:
    outcome: Outcome
    advance: bool  # move the prospect past this step
    retry_at: datetime | None  # when to try this step again (None: not by time)
    release_slot: bool  # hand the reserved cap slot back
    account_cooldown_until: datetime | None  # the account's cooldown end to store (GREATEST applied)
    enrollment_status: EnrollmentStatus | None  # None: unchanged
    reason: str | None
    pause_campaign_reason: str | None
    state: ActionState  # the streaks to store
    linkedin_status: str | None = None  # `unresolved_url`, `paused_account`, `failed`; None: unchanged
    job_status: str | None = None  # `expired` for the job a cannot_resend_yet refused
    cancel_pending: bool = False  # cancel the prospect's pending jobs
    step_failed: bool = False  # the step is marked failed (the enrollment continues)


def greatest(current: datetime | None, new: datetime) -> datetime:
    """A cooldown end never moves earlier."""
    return new if current is None else max(current, new)


def cooldown_end(current: datetime | None, now: datetime, rng: random.Random) -> datetime:
    return greatest(current, now + timedelta(seconds=rng.randint(COOLDOWN_MIN_SECONDS, COOLDOWN_MAX_SECONDS)))


def after_cooldown(until: datetime, rng: random.Random) -> datetime:
    """When a prospect held by a cooldown comes back: its end plus 1-15 minutes, so they do not all come at once."""
    return until + timedelta(seconds=rng.randint(RESCHEDULE_JITTER_MIN_SECONDS, RESCHEDULE_JITTER_MAX_SECONDS))


def exclude_inaccessible(state: ActionState) -> Disposition:
    """Exclude a prospect whose profile keeps answering 404: stopped, pending jobs cancelled, slot freed, and no
    provider call (a database-only operation, safe during a cooldown)."""
    return Disposition(
        outcome="exclude",
        advance=False,
        retry_at=None,
        release_slot=True,
        account_cooldown_until=state.account_cooldown_until,
        enrollment_status="stopped",
        reason=EXCLUDED_404_REASON,
        pause_campaign_reason=None,
        state=state,
        cancel_pending=True,
    )


def after_success(state: ActionState) -> ActionState:
    """A done action ends every streak."""
    return replace(state, not_found_streak=0, url_attempts=0, blocker_streak=0, endorse_failures=0)


def _wait(state: ActionState, retry_at: datetime, *, release_slot: bool = True) -> Disposition:
    return Disposition(
        outcome="wait",
        advance=False,
        retry_at=retry_at,
        release_slot=release_slot,
        account_cooldown_until=state.account_cooldown_until,
        enrollment_status=None,
        reason=None,
        pause_campaign_reason=None,
        state=state,
    )


def _blocker(
    code: str, state: ActionState, now: datetime, not_before: datetime | None, *, release_slot: bool
) -> Disposition:
    streak = state.blocker_streak + 1
    new_state = replace(state, blocker_streak=streak)
    disconnected = code in _DISCONNECTED
    pause = DISCONNECTED_PAUSE_REASON if disconnected else None
    what = _BLOCKER_WORDS["account_disconnected" if disconnected else code]
    if streak >= STUCK_LIMIT:
        return Disposition(
            outcome="fail",
            advance=False,
            retry_at=None,
            release_slot=release_slot,
            account_cooldown_until=state.account_cooldown_until,
            enrollment_status="failed",
            reason=f"Permanently failed after {STUCK_LIMIT} stuck: {what}",
            pause_campaign_reason=pause,
            state=new_state,
            linkedin_status="failed",
            cancel_pending=True,
        )
    if disconnected:
        return Disposition(
            outcome="park",
            advance=False,
            retry_at=None,
            release_slot=release_slot,
            account_cooldown_until=state.account_cooldown_until,
            enrollment_status="paused_account",
            reason=what,
            pause_campaign_reason=pause,
            state=new_state,
            linkedin_status="paused_account",
        )
    if code in ("invalid", "forbidden"):
        retry_at = now + DEFER_DELAY
        outcome: Outcome = "defer"
    else:
        retry_at = now + BLOCKER_RETRY_BASE * 2 ** (streak - 1)
        outcome = "retry"
    if not_before is not None:
        retry_at = max(retry_at, not_before)
    return Disposition(
        outcome=outcome,
        advance=False,
        retry_at=retry_at,
        release_slot=release_slot,
        account_cooldown_until=state.account_cooldown_until,
        enrollment_status=None,
        reason=what,
        pause_campaign_reason=None,
        state=new_state,
    )


def _endorse_failure(state: ActionState, now: datetime, *, release_slot: bool) -> Disposition:
    failures = state.endorse_failures + 1
    new_state = replace(state, endorse_failures=failures)
    if failures > ENDORSE_RETRIES:
        return Disposition(
            outcome="step_failed",
            advance=True,
            retry_at=None,
            release_slot=release_slot,
            account_cooldown_until=state.account_cooldown_until,
            enrollment_status=None,
            reason=ENDORSE_FAILED_REASON,
            pause_campaign_reason=None,
            state=replace(new_state, endorse_failures=0),
            step_failed=True,
        )
    return Disposition(
        outcome="retry",
        advance=False,
        retry_at=now + ENDORSE_RETRY_DELAY,
        release_slot=release_slot,
        account_cooldown_until=state.account_cooldown_until,
        enrollment_status=None,
        reason=None,
        pause_campaign_reason=None,
        state=new_state,
    )


def disposition(
    error_code: str,
    state: ActionState,
    now: datetime,
    rng: random.Random,
    *,
    not_before: datetime | None = None,
    request_sent: bool = True,
) -> Disposition:
    """What to do after `error_code` on the prospect's current step. `not_before` is the earliest useful retry the
    error itself tells (a 429's Retry-After, a cap's reset, the next window opening, the pace's wait);
    `request_sent` is the provider error's own flag (False: the call never reached the provider)."""
    if error_code not in ERROR_CODES:
        raise ValueError(f"unknown LinkedIn error code {error_code!r}")
    release = error_code != "unavailable" or not request_sent
    if error_code == "unavailable" and request_sent:
        # The answer was lost, not necessarily the action: the next attempt asks the provider before sending again.
        state = replace(state, maybe_sent=True)
    if error_code == "cannot_resend_yet":
        until = cooldown_end(state.account_cooldown_until, now, rng)
        return Disposition(
            outcome="cooldown",
            advance=False,
            retry_at=after_cooldown(until, rng),
            release_slot=True,
            account_cooldown_until=until,
            enrollment_status=None,
            reason=f"Account in cannot_resend_yet cooldown until {until.isoformat()}",
            pause_campaign_reason=None,
            state=replace(state, account_cooldown_until=until),
            job_status="expired",
        )
    if error_code == "account_cooldown":
        until = state.account_cooldown_until or not_before or now
        return _wait(state, after_cooldown(max(until, now), rng))
    if error_code == "pace_limited":
        return _wait(state, max(not_before or now, now), release_slot=False)
    if state.action_type == "endorse_skill" and error_code in _ENDORSE_FAILURES:
        return _endorse_failure(state, now, release_slot=release)
    if error_code == "not_found":
        streak = state.not_found_streak + 1
        new_state = replace(state, not_found_streak=streak)
        if streak >= NOT_FOUND_EXCLUDE_AT:
            return exclude_inaccessible(new_state)
        return replace(
            _wait(new_state, now + NOT_FOUND_RETRY_BASE * 2 ** (streak - 1)),
            outcome="retry",
            reason=f"Profile not found: HTTP 404 ({streak} in a row)",
        )
    if error_code == "unresolved_url":
        tries = state.url_attempts + 1
        new_state = replace(state, url_attempts=tries)
        if tries >= URL_RESOLVE_TRIES:
            return Disposition(
                outcome="fail",
                advance=False,
                retry_at=None,
                release_slot=True,
                account_cooldown_until=state.account_cooldown_until,
                enrollment_status="failed",
                reason=UNRESOLVED_URL_REASON,
                pause_campaign_reason=None,
                state=new_state,
                linkedin_status="failed",
                cancel_pending=True,
            )
        return replace(
            _wait(new_state, now + URL_RETRY_BASE * 2 ** (tries - 1)),
            outcome="retry",
            linkedin_status="unresolved_url",
        )
    limit_hit = error_code == "limit_reached"
    return _blocker(error_code, state, now, not_before, release_slot=release and not limit_hit)


# --- Endorse Skill ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Skill:
    id: str
    name: str
    endorsable: bool = True  # the profile lets this skill be endorsed (it has an endorsement id)
    endorsed: bool = False  # this account already endorsed it


@dataclass(frozen=True)
class SkillChoice:
    skill: Skill | None  # None: skip the step and advance
    reason: str | None  # the log line of a skip


def choose_skill(skills: Sequence[Skill], preferred: str | None) -> SkillChoice:
    """The skill to endorse: the first endorsable one whose name contains `preferred` (case-insensitive), else the
    first endorsable one; skipped when there is none, or when the one chosen is already endorsed."""
    candidates = [skill for skill in skills if skill.endorsable]
    if not candidates:
        return SkillChoice(None, SKIPPED_NO_SKILLS)
    wanted = (preferred or "").strip().casefold()
    matching = [skill for skill in candidates if wanted and wanted in skill.name.casefold()]
    pool = matching or candidates
    fresh = [skill for skill in pool if not skill.endorsed]
    if not fresh:
        return SkillChoice(None, SKIPPED_ALREADY_ENDORSED)
    return SkillChoice(fresh[0], None)
