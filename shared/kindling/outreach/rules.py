"""Pure rules of the LinkedIn action engine: the action id, the profile identifier of a prospect's URL, the account
rotation order, what follows a step, and the disposition streaks' storage form. No I/O."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Literal

from kindling.campaigns.models import (
    DEFAULT_MAX_WAIT_DAYS,
    DEFAULT_ON_REPLY,
    DEFAULT_ON_TIMEOUT,
    DEFAULT_POST_MAX_AGE_DAYS,
    StepRecord,
)
from kindling.linkedin.dispositions import ActionState, Skill
from kindling.linkedin.provider import ProviderPost, ProviderSkill
from kindling.platform.clock import isoformat, parse_iso
from kindling.sending import windows
from kindling.sending.service import current_step

WAIT_ACTIONS = frozenset({"wait_accept", "wait_reply"})
WAIT_ACCEPT_TIMEOUT_REASON = "Invitation not accepted within {days} days"
WAIT_REPLY_TIMEOUT_REASON = "No reply within {days} days"
WAIT_REPLY_REPLIED_REASON = "Replied — sequence stopped at wait for reply"
NO_URL_REASON = "No LinkedIn URL"
SKIP_NOT_CONNECTED = "Skipped — not a 1st-degree connection"
SKIP_INMAIL_FREE = "Skipped — InMail needs a paid LinkedIn account"
SKIP_NO_POST = "Skipped — no recent post"
LEASE = timedelta(minutes=10)  # a claimed action's enrollment is looked at again after this (a lost message)
# A `sending` action younger than this is another delivery's, still acting: twice the worker's 60 s timeout, shorter
# than the lease (which brings a dead worker's action back) and than the queue's 360 s visibility timeout.
IN_FLIGHT = timedelta(minutes=2)

_PROFILE = re.compile(r"linkedin\.com/(?:in|pub)/([^/?#\s]+)", re.IGNORECASE)
_SALES_NAV = re.compile(r"linkedin\.com/sales/(?:lead|people)/", re.IGNORECASE)


def action_id_for(enrollment_id: str, step_id: str) -> str:
    """One action per (enrollment, step): the ledger's key, the queue message's dedup id and the cap reservation id."""
    return hashlib.sha256(f"{enrollment_id}|{step_id}".encode()).hexdigest()[:32]


def profile_identifier(url: str | None) -> tuple[str | None, bool]:
    """(public identifier, is a Sales Navigator URL) of a prospect's LinkedIn URL; (None, False) without one."""
    if not url:
        return None, False
    match = _PROFILE.search(url)
    if match:
        return match.group(1).strip().rstrip("/"), False
    return None, bool(_SALES_NAV.search(url))


def rotation(pool: Sequence[str], prospect_id: str, sticky: str | None) -> list[str]:
    """The accounts to try, in order: the sticky one alone once an invite went out from it; else the pool starting
    at a stable per-prospect position (prospects spread over the pool, each always tried in the same order)."""
    if sticky is not None:
        return [sticky]
    if not pool:
        return []
    start = int(hashlib.sha256(prospect_id.encode()).hexdigest()[:8], 16) % len(pool)
    return [*pool[start:], *pool[:start]]


def wait_days(step: StepRecord) -> int:
    return step.linkedin_max_wait_days or DEFAULT_MAX_WAIT_DAYS


WaitBranch = Literal["continue", "stop"]


def wait_outcome(step: StepRecord, met: bool) -> WaitBranch:
    """Which way a wait step goes: `met` is its condition (wait_accept: the invitation was accepted; wait_reply: the
    prospect replied), else its wait ran out. Accepted: always on to the next step. Replied: `linkedinOnReply`
    (default `continue`). Ran out: `linkedinOnTimeout` (wait_accept's default `stop`, wait_reply's `continue`)."""
    action = str(step.linkedin_action_type)
    if met:
        return (step.linkedin_on_reply or DEFAULT_ON_REPLY) if action == "wait_reply" else "continue"
    return step.linkedin_on_timeout or DEFAULT_ON_TIMEOUT.get(action, "continue")


def wait_stop(step: StepRecord, met: bool) -> tuple[str, str]:
    """(the enrollment's status, its stopped reason) when a wait step's branch is `stop`: a reply ends the sequence
    as `replied`; a wait that ran out as `stopped`, saying what did not happen in how many days."""
    if met:
        return "replied", WAIT_REPLY_REPLIED_REASON
    template = WAIT_ACCEPT_TIMEOUT_REASON if step.linkedin_action_type == "wait_accept" else WAIT_REPLY_TIMEOUT_REASON
    return "stopped", template.format(days=wait_days(step))


def post_max_age_days(step: StepRecord) -> int:
    config = step.linkedin_engagement_config
    return (config.post_max_age_days if config else None) or DEFAULT_POST_MAX_AGE_DAYS


def recent_post(posts: Sequence[ProviderPost], now: datetime, max_age_days: int) -> ProviderPost | None:
    """The most recent post published within `max_age_days` of `now` (`postMaxAgeDays`, default 30); None when
    there is none. A post the provider gives no date for cannot be shown to be recent: it is not chosen."""
    oldest = now - timedelta(days=max_age_days)
    dated = [p for p in posts if p.created_at is not None and oldest <= p.created_at <= now + timedelta(minutes=5)]
    if not dated:
        return None
    return max(dated, key=lambda p: p.created_at or now)


def skills_of(skills: Sequence[ProviderSkill]) -> list[Skill]:
    """The profile's skills as `choose_skill` takes them: endorsable when the provider gave an endorsement id."""
    return [
        Skill(id=s.endorsement_id or "", name=s.name, endorsable=s.endorsement_id is not None, endorsed=s.endorsed)
        for s in skills
    ]


def next_due(
    steps: list[StepRecord],
    index: int,
    now: datetime,
    schedule: windows.Schedule,
    rng: random.Random,
    replied: bool = False,
) -> tuple[StepRecord | None, int, datetime | None, datetime | None]:
    """After the step at `index` is done: (the next active step, its index, when it is due, the wait deadline).
    A wait step is due at its deadline (acceptance or a reply moves it earlier), a wait_reply at once when the
    prospect already `replied` (its replied branch is taken without waiting); an action step after its delay,
    inside the campaign's window in its timezone (no catch-up: the delay counts from now)."""
    step = current_step(steps, index + 1)
    if step is None:
        return None, index + 1, None, None
    position = steps.index(step)
    if step.is_linkedin and step.linkedin_action_type in WAIT_ACTIONS:
        deadline = now + timedelta(days=wait_days(step))
        if replied and step.linkedin_action_type == "wait_reply":
            return step, position, now, deadline
        return step, position, deadline, deadline
    when = windows.next_send_time(now, step.delay_days, step.delay_hours, schedule, rng)
    return step, position, when, None


def state_of(raw: str | None, action_type: str) -> ActionState:
    if not raw:
        return ActionState(action_type=action_type)
    data = json.loads(raw)
    until = parse_iso(data.get("account_cooldown_until")) if data.get("account_cooldown_until") else None
    return ActionState(
        action_type=action_type,
        not_found_streak=int(data.get("not_found_streak", 0)),
        url_attempts=int(data.get("url_attempts", 0)),
        blocker_streak=int(data.get("blocker_streak", 0)),
        endorse_failures=int(data.get("endorse_failures", 0)),
        account_cooldown_until=until,
        maybe_sent=bool(data.get("maybe_sent", False)),
    )


def state_json(state: ActionState) -> str:
    data = asdict(state)
    data.pop("action_type")
    data["account_cooldown_until"] = isoformat(state.account_cooldown_until)
    return json.dumps(data, separators=(",", ":"), sort_keys=True)
