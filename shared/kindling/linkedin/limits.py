"""LinkedIn account limits as pure rules: the vocabulary of account types and strategies, the account-type cap table,
the strategy ramp tables, the effective cap, override validation, the daily and weekly resets and the pace.

Help center section 37 (L2452-2512) gives the five cap dimensions, "effective cap = MIN(account-type cap,
strategy ramp-week cap)" and the full-ramp account-type table; L1555-1559 and L1671-1675 give each strategy's first
and last profile-view and engagement caps, L2472-2476 the InMail ramp's anchors. The per-week ramp tables themselves
are stripped from the text, so the weeks between those anchors are decided here (docs/decisions.md, "LinkedIn
accounts and limits"): round numbers, never decreasing, starting and ending on the help center's values.

- Account types: `free`, `premium`, `sales_navigator`, `recruiter`. The reference's `classic` (the standard
  LinkedIn product, which does not say whether the member pays for Premium) counts as `premium`, as does any type
  nobody told us ("unknown type defaults to Premium, never Free", L5226).
- Strategies: `new_account` (6-week ramp), `established` (4), `veteran` (2), `recovery` (8). The reference's
  `steady` is `established`. After the last ramp week a strategy stays on its last row.
- Effective cap per dimension = MIN(account-type cap, strategy ramp-week cap, override): an override only ever
  lowers a cap; it is bounded by the safe ceilings and needs an explicit risk acknowledgement.
- Daily dimensions reset at 00:00 UTC, the weekly invite cap on Monday 00:00 UTC (L2497). Unused capacity is never
  carried over (no burst catch-up, L1243).
- At most 2 actions per minute per account (L4281), as a sliding window: an action is allowed when the older of the
  account's last two actions is at least 60 seconds old.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, get_args

from kindling.platform.clock import isoformat, utcnow
from kindling.platform.errors import RateLimited, ValidationFailed, field_error

Dimension = Literal["invites_week", "messages_day", "inmails_day", "profile_views_day", "engagements_day"]
AccountType = Literal["free", "premium", "sales_navigator", "recruiter"]
Strategy = Literal["new_account", "established", "veteran", "recovery"]
ActionType = Literal[
    "view_profile",
    "send_invite",
    "send_message",
    "send_inmail",
    "endorse_skill",
    "like_post",
    "comment",
    "wait_accept",
    "wait_reply",
]

DIMENSIONS: tuple[Dimension, ...] = get_args(Dimension)
ACCOUNT_TYPES: tuple[AccountType, ...] = get_args(AccountType)
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)
WEEKLY: frozenset[Dimension] = frozenset({"invites_week"})
DEFAULT_ACCOUNT_TYPE: AccountType = "premium"
DEFAULT_STRATEGY: Strategy = "new_account"

# Full-ramp account-type ceilings (help center L2505-2510):
# invites/week, messages/day, InMails/day, profile views/day, engagements/day.
TYPE_CAPS: dict[AccountType, dict[Dimension, int]] = {
    "free": {
        "invites_week": 150,
        "messages_day": 100,
        "inmails_day": 0,
        "profile_views_day": 30,
        "engagements_day": 30,
    },
    "premium": {
        "invites_week": 200,
        "messages_day": 150,
        "inmails_day": 15,
        "profile_views_day": 50,
        "engagements_day": 40,
    },
    "sales_navigator": {
        "invites_week": 200,
        "messages_day": 150,
        "inmails_day": 50,
        "profile_views_day": 60,
        "engagements_day": 50,
    },
    "recruiter": {
        "invites_week": 200,
        "messages_day": 150,
        "inmails_day": 100,
        "profile_views_day": 60,
        "engagements_day": 50,
    },
}

# The strategy ramps, one value per ramp week (index 0 = week 1); the last value holds after the ramp.
RAMPS: dict[Strategy, dict[Dimension, tuple[int, ...]]] = {
    "new_account": {
        "invites_week": (50, 75, 100, 125, 150, 200),
        "messages_day": (20, 30, 45, 60, 80, 100),
        "inmails_day": (25, 25, 25, 30, 35, 40),
        "profile_views_day": (10, 20, 30, 40, 50, 60),
        "engagements_day": (5, 10, 15, 20, 25, 30),
    },
    "established": {
        "invites_week": (100, 125, 150, 200),
        "messages_day": (40, 60, 90, 120),
        "inmails_day": (25, 30, 35, 40),
        "profile_views_day": (30, 45, 60, 80),
        "engagements_day": (15, 20, 30, 40),
    },
    "veteran": {
        "invites_week": (150, 200),
        "messages_day": (80, 150),
        "inmails_day": (25, 40),
        "profile_views_day": (50, 100),
        "engagements_day": (25, 50),
    },
    "recovery": {
        "invites_week": (25, 35, 50, 60, 70, 80, 90, 100),
        "messages_day": (10, 15, 20, 25, 30, 40, 45, 50),
        "inmails_day": (5, 5, 10, 10, 15, 15, 20, 20),
        "profile_views_day": (5, 8, 12, 15, 19, 22, 26, 30),
        "engagements_day": (2, 3, 5, 7, 9, 11, 13, 15),
    },
}

# No override may go above these, whatever LinkedIn allows (help center L2482-2486: InMails <= 50/day, Unipile's
# published safe band); the others are the highest value any type or strategy row reaches.
SAFE_CEILINGS: dict[Dimension, int] = {
    "invites_week": 200,
    "messages_day": 150,
    "inmails_day": 50,
    "profile_views_day": 100,
    "engagements_day": 50,
}

PACE_ACTIONS = 2  # actions per account ...
PACE_WINDOW_SECONDS = 60  # ... in any window this long

_TYPE_ALIASES: dict[str, AccountType] = {
    "free": "free",
    "basic": "free",
    "premium": "premium",
    "classic": "premium",
    "premium_career": "premium",
    "premium_business": "premium",
    "sales_navigator": "sales_navigator",
    "recruiter": "recruiter",
    "recruiter_lite": "recruiter",
}
_STRATEGY_ALIASES: dict[str, Strategy] = {
    "new_account": "new_account",
    "established": "established",
    "steady": "established",
    "veteran": "veteran",
    "recovery": "recovery",
}
_ACTION_DIMENSIONS: dict[str, Dimension | None] = {
    "view_profile": "profile_views_day",
    "send_invite": "invites_week",
    "send_message": "messages_day",
    "send_inmail": "inmails_day",
    "endorse_skill": "engagements_day",
    "like_post": "engagements_day",
    "comment": "engagements_day",
    "wait_accept": None,
    "wait_reply": None,
}
# Asking for no limits at all: refused with its own code (help center L2486).
_DISABLE_WORDS = frozenset({"unlimited", "none", "off", "disabled", "disable", "infinity", "inf", "no_limit"})


def _token(value: str) -> str:
    return "_".join(value.strip().lower().replace("-", " ").split())


def parse_account_type(value: object) -> AccountType:
    """A client's account type (any accepted spelling, `classic` included) or ValidationFailed."""
    if isinstance(value, str) and _token(value) in _TYPE_ALIASES:
        return _TYPE_ALIASES[_token(value)]
    raise ValidationFailed(
        "linkedin_account_type must be one of free, premium, sales_navigator, recruiter (or classic).",
        details=[field_error("linkedin_account_type", "unknown account type", "invalid_account_type")],
    )


def account_type_for_caps(value: str | None) -> AccountType:
    """The type whose caps apply: a known spelling maps to its type, anything else (None included) to Premium."""
    if value is None:
        return DEFAULT_ACCOUNT_TYPE
    return _TYPE_ALIASES.get(_token(value), DEFAULT_ACCOUNT_TYPE)


def parse_strategy(value: object) -> Strategy:
    """A client's strategy (any accepted spelling, `steady` included) or ValidationFailed."""
    if isinstance(value, str) and _token(value) in _STRATEGY_ALIASES:
        return _STRATEGY_ALIASES[_token(value)]
    raise ValidationFailed(
        "strategy must be one of new_account, established, veteran, recovery (or steady).",
        details=[field_error("strategy", "unknown strategy", "invalid_strategy")],
    )


def ramp_length(strategy: str) -> int:
    """How many ramp weeks the strategy has ("Week 3 of 6")."""
    return len(RAMPS[parse_strategy(strategy)]["invites_week"])


def ramp_week(started_on: date, today: date) -> int:
    """The ramp week `today` falls in for a ramp started on `started_on`: days 0-6 are week 1, 7-13 week 2, ...;
    never below 1 (a start date in the future is week 1)."""
    return max(1, (today - started_on).days // 7 + 1)


def ramp_cap(strategy: str, dimension: Dimension, week: int) -> int:
    """The strategy's cap in that ramp week; weeks before 1 count as week 1, weeks after the ramp as its last."""
    row = RAMPS[parse_strategy(strategy)][dimension]
    return row[min(max(week, 1), len(row)) - 1]


def effective_caps(
    account_type: str | None, strategy: str, ramp_week: int, overrides: Mapping[Dimension, int]
) -> dict[Dimension, int]:
    """Per dimension: MIN(account-type cap, strategy ramp-week cap, override)."""
    type_caps = TYPE_CAPS[account_type_for_caps(account_type)]
    caps: dict[Dimension, int] = {}
    for dimension in DIMENSIONS:
        cap = min(type_caps[dimension], ramp_cap(strategy, dimension, ramp_week))
        override = overrides.get(dimension)
        if override is not None:
            cap = min(cap, override)
        caps[dimension] = max(cap, 0)
    return caps


def remaining(cap: int, used: int) -> int:
    return max(cap - used, 0)


def dimension_for_action(action_type: str) -> Dimension | None:
    """The cap an action type consumes (endorsements, likes and comments share the engagement cap; waits none)."""
    if action_type not in _ACTION_DIMENSIONS:
        raise ValueError(f"unknown LinkedIn action type {action_type!r}")
    return _ACTION_DIMENSIONS[action_type]


# --- a restriction -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RampStart:
    strategy: Strategy
    ramp_week: int
    ramp_started_on: date


def after_restriction(today: date) -> RampStart:
    """A restricted account re-warms from scratch: `recovery`, ramp week 1, a fresh start date (help center L5230)."""
    return RampStart(strategy="recovery", ramp_week=1, ramp_started_on=today)


# --- overrides -----------------------------------------------------------------------------------------------------
def _is_disable_request(value: object) -> bool:
    if isinstance(value, str):
        return _token(value) in _DISABLE_WORDS
    if isinstance(value, float):
        return math.isinf(value) or value < 0
    return isinstance(value, int) and not isinstance(value, bool) and value < 0


def validate_overrides(raw: object, *, risk_acknowledged: object) -> dict[Dimension, int | None]:
    """Check a per-account override request: a JSON object from dimension to a whole number (or null to clear it),
    each at most its safe ceiling, with `risk_acknowledged` true whenever one is set. Returns the cleaned overrides;
    raises ValidationFailed whose details carry the stable codes `invalid_overrides`, `unknown_limit`,
    `limits_cannot_be_disabled`, `invalid_override`, `override_above_safe_ceiling` and
    `risk_acknowledgement_required`."""
    if not isinstance(raw, Mapping):
        raise ValidationFailed(
            "overrides must be an object of limit name to a number.",
            details=[field_error("overrides", "must be an object", "invalid_overrides")],
        )
    cleaned: dict[Dimension, int | None] = {}
    problems: list[dict[str, Any]] = []
    for key, value in raw.items():
        where = f"overrides.{key}"
        if key not in DIMENSIONS:
            code = "limits_cannot_be_disabled" if _is_disable_request(key) or "disable" in str(key) else "unknown_limit"
            problems.append(field_error(where, f"must be one of {', '.join(DIMENSIONS)}", code))
        elif value is None:
            cleaned[key] = None
        elif _is_disable_request(value):
            problems.append(field_error(where, "safety limits cannot be turned off", "limits_cannot_be_disabled"))
        elif not isinstance(value, int) or isinstance(value, bool):
            problems.append(field_error(where, "must be a whole number", "invalid_override"))
        elif value > SAFE_CEILINGS[key]:
            problems.append(
                field_error(
                    where, f"must be at most {SAFE_CEILINGS[key]} (the safe ceiling)", "override_above_safe_ceiling"
                )
            )
        else:
            cleaned[key] = value
    if problems:
        raise ValidationFailed("The limit overrides are not allowed.", details=problems)
    if any(value is not None for value in cleaned.values()) and risk_acknowledged is not True:
        raise ValidationFailed(
            "Setting a limit override requires acknowledging the risk.",
            details=[
                field_error("risk_acknowledged", "must be true to set an override", "risk_acknowledgement_required")
            ],
        )
    return cleaned


# --- periods and resets --------------------------------------------------------------------------------------------
def period_start(dimension: Dimension, now: datetime) -> datetime:
    """The start of the counting period holding `now`: 00:00 UTC of its day, or of its week's Monday (weekly)."""
    day = now.astimezone(UTC).date()
    if dimension in WEEKLY:
        day -= timedelta(days=day.weekday())
    return datetime.combine(day, time(0), tzinfo=UTC)


def next_reset(dimension: Dimension, now: datetime) -> datetime:
    """When the period holding `now` ends: the next 00:00 UTC, or the next Monday 00:00 UTC for a weekly cap."""
    return period_start(dimension, now) + timedelta(days=7 if dimension in WEEKLY else 1)


def period_key(dimension: Dimension, now: datetime) -> str:
    """The period's name in storage: the date its period starts on (a Monday for a weekly cap)."""
    return period_start(dimension, now).date().isoformat()


# Activity tallies (what the account did, not what it reserved): per UTC day and per week from Monday 00:00 UTC, the
# same periods as the caps (help center L2493: "today's running counts"; L5143: "invites_sent_today,
# messages_sent_today and connections_today", incremented in the success's own transaction).
ActivityKind = Literal["views", "invites", "messages", "inmails", "engagements", "connections"]
ACTIVITY_KINDS: tuple[ActivityKind, ...] = get_args(ActivityKind)
ACTIVITY_PERIODS = ("day", "week")


def activity_period(period: str, at: datetime) -> tuple[str, datetime]:
    """(the period's name in storage: the date it starts on, when it ends) of the `day` or `week` holding `at`."""
    day = at.astimezone(UTC).date()
    if period == "week":
        day -= timedelta(days=day.weekday())
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return day.isoformat(), start + timedelta(days=7 if period == "week" else 1)


# --- pace ----------------------------------------------------------------------------------------------------------
def pace_retry_after(older_action: datetime | None, now: datetime) -> int:
    """Seconds until the account may act again, given the older of its last two actions (0: it may act now)."""
    if older_action is None:
        return 0
    wait = (older_action + timedelta(seconds=PACE_WINDOW_SECONDS) - now).total_seconds()
    return max(math.ceil(wait), 0)


# --- the refusals ----------------------------------------------------------------------------------------------------
class LimitReached(RateLimited):
    """The account used its cap for the dimension this period (HTTP 429 with the cap, used, 0 remaining and the
    reset instant in `details`)."""

    code = "linkedin_limit_reached"

    def __init__(
        self, dimension: Dimension, cap: int, used: int, resets_at: datetime, *, now: datetime | None = None
    ) -> None:
        moment = now if now is not None else utcnow()
        retry_after = max(math.ceil((resets_at - moment).total_seconds()), 1)
        super().__init__(
            f"The LinkedIn account reached its {dimension} limit of {cap}; it resets at {isoformat(resets_at)}.",
            retry_after=retry_after,
            limit=cap,
            reset_at=int(resets_at.timestamp()),
        )
        self.dimension = dimension
        self.cap = cap
        self.used = used
        self.resets_at = resets_at
        self.details = [
            {
                "field": dimension,
                "message": "limit reached",
                "code": "limit_reached",
                "limit": cap,
                "used": used,
                "remaining": 0,
                "resets_at": isoformat(resets_at),
            }
        ]


class PaceLimited(RateLimited):
    """The account already took 2 actions in the last 60 seconds."""

    code = "linkedin_pace_limited"

    def __init__(self, retry_after_seconds: int, *, now: datetime | None = None) -> None:
        seconds = max(int(retry_after_seconds), 1)
        moment = now if now is not None else utcnow()
        super().__init__(
            f"LinkedIn actions are limited to {PACE_ACTIONS} per minute per account; retry in {seconds} s.",
            retry_after=seconds,
            limit=PACE_ACTIONS,
            reset_at=int(moment.timestamp()) + seconds,
        )
        self.retry_after_seconds = seconds
        self.details = [
            {
                "field": "pace",
                "message": "too many actions this minute",
                "code": "pace_limited",
                "limit": PACE_ACTIONS,
                "retry_after_seconds": seconds,
            }
        ]
