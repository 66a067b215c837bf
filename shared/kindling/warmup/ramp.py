"""Warmup strategies, ramp speeds, daily volume and the automatic strategy transitions.

The help center gives the New Domain ramp at Normal speed day by day (help center L251-264, inventory
16.7), the three growth rates (L4434-4437) and Maintenance's 15 -> 30/day (L266). The formula that turns
a growth rate into volume, the Strategy Modes list and the A.H.D.E. transition table are stripped from it
(inventory 16.6, 16.11, section 44), so the rest is designed here:

Volume curve. `NORMAL_CURVE` is the table read one value per day: a range "Day 2-3: 1-2" gives day 2 the
low end and day 3 the high end; day 14 is 11 ("~11-12"); days 15-21 climb one a day to 18 ("~18"); after
that the curve is linear between the table's anchors, day 30 = 30 and day 45 = 40 (the New Domain cap),
and stays at 40. Fractional days interpolate linearly and round half up.

Speeds scale time, not volume: on ramp day `d` the mailbox sends what Normal sends on day
`1 + (d - 1) * rate / 0.12`. Conservative (0.08) walks the same curve 1.5x slower, Aggressive (0.20) 0.6x
the time; every speed starts at 1/day (new mailboxes start at 1-3/day, L4267, L4432) and reaches the same
cap. Scaling volume instead would leave Conservative forever below the cap.

Strategies and transitions (each recorded with a reason code):
- `new_domain`: the curve. Graduates to `new_mailbox` on ramp day 21 (decisions.md; the table says
  "Day 21: ~18 (auto-graduates to New Mailbox mode)"), reason `graduated`. Volume does not jump: New
  Mailbox continues the same curve from the same day, which is how the table goes on to day 30 and 45+.
- `new_mailbox`: the curve, for a new mailbox on an established domain from day 1 (new mailboxes still
  start at 1-3/day) or for a graduate. When the curve reaches its cap it moves to `maintenance`, reason
  `ramp_complete` ("Maintenance mode (after graduation)", L266).
- `maintenance`: 15/day on its first day, then compounding at the growth rate per healthy day
  (15 x (1 + rate)^n, floored) up to 30/day (L266, L385, L460: 15-30/day leaves room for campaigns).
- `recovery`: any other strategy whose health score drops below 40 (Critical) moves here, reason
  `health_critical`; it sends half of what its previous strategy would (at least 1) and keeps that
  strategy's ramp position. At a score of 60 it returns to the previous strategy, reason
  `health_recovered` (decisions.md). Between 40 and 59 it stays (hysteresis, so a mailbox does not flap).
  A mailbox put in Recovery with no previous strategy recorded (set by hand) counts as Maintenance.
- Established mailboxes start in `maintenance` ("the system detects established mailboxes", L466).

Only healthy days move a ramp forward: the table assumes "healthy bounce and complaint metrics
throughout" (L252) and Maintenance growth "depends on bounce and complaint metrics" (L268). A day counts
when the health score is unknown yet (no traffic) or 60+ (Good or Excellent); in Fair (40-59) the ramp
holds its position; Critical goes to Recovery. Under healthy metrics the ramp day is the calendar day.

The target (`warmup_target_daily_volume`) caps every strategy: "ramps toward this target but won't
exceed it" (L4440).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Literal

from kindling.warmup.health import RECOVERED_AT, RECOVERY_BELOW, round_half_up

Strategy = Literal["new_domain", "new_mailbox", "maintenance", "recovery"]
RampSpeed = Literal["conservative", "normal", "aggressive"]
TransitionReason = Literal["graduated", "ramp_complete", "health_critical", "health_recovered"]

STRATEGIES: tuple[Strategy, ...] = ("new_domain", "new_mailbox", "maintenance", "recovery")
SPEEDS: tuple[RampSpeed, ...] = ("conservative", "normal", "aggressive")
GROWTH_RATES: dict[RampSpeed, Fraction] = {
    "conservative": Fraction(8, 100),
    "normal": Fraction(12, 100),
    "aggressive": Fraction(20, 100),
}

# The New Domain table at Normal speed, days 1-21 (index 0 = day 1).
NORMAL_CURVE: tuple[int, ...] = (1, 1, 2, 2, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)
CURVE_ANCHORS: tuple[tuple[int, int], ...] = (
    *((day, volume) for day, volume in enumerate(NORMAL_CURVE, start=1)),
    (30, 30),
    (45, 40),
)
CURVE_CAP = 40  # "Day 45+: 40 emails/day (New Domain cap)"
CURVE_CAP_DAY = 45
GRADUATION_DAY = 21
MAINTENANCE_START = 15
MAINTENANCE_MAX = 30
HEALTHY_DAY_SCORE = RECOVERED_AT  # a day advances the ramp with this score or better (or no score yet)


@dataclass(frozen=True)
class RampState:
    """Where a mailbox stands. `ramp_day` is the New Domain / New Mailbox day (1 = the first day) and
    `maintenance_day` Maintenance's; both are kept through Recovery so the mailbox resumes where it was.
    """

    strategy: Strategy
    speed: RampSpeed = "normal"
    ramp_day: int = 1
    maintenance_day: int = 1
    resume_strategy: Strategy | None = None  # where Recovery returns to

    def __post_init__(self) -> None:
        if self.ramp_day < 1 or self.maintenance_day < 1:
            raise ValueError("ramp days start at 1")
        if self.resume_strategy == "recovery":
            raise ValueError("recovery cannot resume into recovery")


@dataclass(frozen=True)
class Transition:
    from_strategy: Strategy
    to_strategy: Strategy
    reason: TransitionReason
    score: int | None = None


@dataclass(frozen=True)
class Step:
    state: RampState
    transitions: tuple[Transition, ...] = ()


def initial_strategy(*, established_domain: bool, established_mailbox: bool) -> Strategy:
    if established_mailbox:
        return "maintenance"
    return "new_mailbox" if established_domain else "new_domain"


def speed_allowed(strategy: Strategy, speed: RampSpeed) -> bool:
    """Aggressive is "only for established domains" (L4437): never for a New Domain ramp."""
    return not (strategy == "new_domain" and speed == "aggressive")


def effective_day(ramp_day: int, speed: RampSpeed) -> Fraction:
    """The Normal-speed day whose volume `speed` sends on `ramp_day`."""
    return 1 + (ramp_day - 1) * GROWTH_RATES[speed] / GROWTH_RATES["normal"]


def curve_volume(day: Fraction | int) -> int:
    """The Normal-speed curve at a (possibly fractional) day."""
    day = Fraction(day)
    if day <= 1:
        return CURVE_ANCHORS[0][1]
    for (d0, v0), (d1, v1) in itertools.pairwise(CURVE_ANCHORS):
        if day <= d1:
            return round_half_up(v0 + (v1 - v0) * (day - d0) / (d1 - d0))
    return CURVE_CAP


def maintenance_volume(maintenance_day: int, speed: RampSpeed) -> int:
    grown = MAINTENANCE_START * (1 + GROWTH_RATES[speed]) ** (maintenance_day - 1)
    return min(MAINTENANCE_MAX, int(grown))


def strategy_volume(state: RampState) -> int:
    """Today's volume for the state, before the target and the daily caps."""
    if state.strategy == "recovery":
        base = replace(state, strategy=state.resume_strategy or "maintenance", resume_strategy=None)
        return max(1, strategy_volume(base) // 2)
    if state.strategy == "maintenance":
        return maintenance_volume(state.maintenance_day, state.speed)
    return curve_volume(effective_day(state.ramp_day, state.speed))


def daily_volume(state: RampState, target: int) -> int:
    """Today's warmup volume: the strategy's, never above the target."""
    if target < 0:
        raise ValueError("the target cannot be negative")
    return min(target, strategy_volume(state))


def progress(state: RampState, target: int) -> int:
    """`warmup_progress` (0-100): how far the ramp has come towards what it aims for, min(target, cap).

    Maintenance is fully warmed (100). Recovery reports the progress of the strategy it will resume, since
    the ramp position is kept.
    """
    if state.strategy == "recovery":
        return progress(replace(state, strategy=state.resume_strategy or "maintenance", resume_strategy=None), target)
    if state.strategy == "maintenance" or target <= 0:
        return 100
    aim = min(target, CURVE_CAP)
    return min(100, round_half_up(Fraction(100 * strategy_volume(state), aim)))


def _healthy_day(score: int | None) -> bool:
    return score is None or score >= HEALTHY_DAY_SCORE


def apply_health(state: RampState, score: int | None) -> Step:
    """Recovery in and out, on every health recomputation (at least every 6 hours) and at day start."""
    if score is None:
        return Step(state)
    if state.strategy != "recovery" and score < RECOVERY_BELOW:
        moved = replace(state, strategy="recovery", resume_strategy=state.strategy)
        return Step(moved, (Transition(state.strategy, "recovery", "health_critical", score),))
    if state.strategy == "recovery" and score >= RECOVERED_AT:
        back = state.resume_strategy or "maintenance"
        moved = replace(state, strategy=back, resume_strategy=None)
        return Step(moved, (Transition("recovery", back, "health_recovered", score),))
    return Step(state)


def _graduate(state: RampState) -> Step:
    if state.strategy == "new_domain" and state.ramp_day >= GRADUATION_DAY:
        moved = replace(state, strategy="new_mailbox")
        return Step(moved, (Transition("new_domain", "new_mailbox", "graduated"),))
    if state.strategy == "new_mailbox" and effective_day(state.ramp_day, state.speed) >= CURVE_CAP_DAY:
        moved = replace(state, strategy="maintenance", maintenance_day=1)
        return Step(moved, (Transition("new_mailbox", "maintenance", "ramp_complete"),))
    return Step(state)


def next_day(state: RampState, score: int | None) -> Step:
    """Move the state to a new day, given the latest health score. Call once per local day.

    Health first (a Critical mailbox does not advance), then one day of ramp if the day is healthy, then
    graduations (a new_domain mailbox reaching day 21 and a new_mailbox reaching the cap the same way).
    """
    step = apply_health(state, score)
    current = step.state
    transitions = list(step.transitions)
    if current.strategy != "recovery" and _healthy_day(score):
        if current.strategy == "maintenance":
            current = replace(current, maintenance_day=current.maintenance_day + 1)
        else:
            current = replace(current, ramp_day=current.ramp_day + 1)
    while True:
        graduated = _graduate(current)
        if not graduated.transitions:
            break
        current = graduated.state
        transitions.extend(graduated.transitions)
    return Step(current, tuple(transitions))
