"""Ramp curve, speeds, strategy volumes and the automatic strategy transitions (inventory 16.6-16.12)."""

from __future__ import annotations

import itertools

import pytest

from kindling.warmup.ramp import (
    SPEEDS,
    RampSpeed,
    RampState,
    Strategy,
    Transition,
    curve_volume,
    daily_volume,
    effective_day,
    initial_strategy,
    maintenance_volume,
    next_day,
    progress,
    speed_allowed,
    strategy_volume,
)
from kindling.warmup.ramp import apply_health as apply_health_rule

# Help center L254-264, "New Domain Ramp Table (day-by-day)" at Normal speed.
HELP_CENTER_TABLE = [
    ((1,), 1, 1),
    ((2, 3), 1, 2),
    ((4, 5), 2, 3),
    ((6, 7), 3, 4),
    ((8, 9), 5, 6),
    ((10, 11), 7, 8),
    ((12, 13), 9, 10),
    ((14,), 11, 12),
    ((21,), 18, 18),
    ((30,), 30, 30),
    ((45, 46, 60, 400), 40, 40),
]


@pytest.mark.parametrize(("days", "low", "high"), HELP_CENTER_TABLE)
def test_normal_speed_follows_the_help_center_table(days: tuple[int, ...], low: int, high: int) -> None:
    volumes = [strategy_volume(RampState("new_domain", "normal", ramp_day=day)) for day in days]
    assert all(low <= volume <= high for volume in volumes)
    if len(days) == 2 and days[1] == days[0] + 1:
        # A two-day range of the table walks from its low end to its high end.
        assert volumes == [low, high]


@pytest.mark.parametrize(
    ("day", "volume"),
    [(1, 1), (2, 1), (3, 2), (7, 4), (8, 5), (14, 11), (15, 12), (20, 17), (21, 18), (22, 19), (30, 30), (31, 31)],
)
def test_normal_curve_day_by_day(day: int, volume: int) -> None:
    assert curve_volume(day) == volume


@pytest.mark.parametrize(
    ("speed", "ramp_day", "normal_day"),
    [
        ("normal", 1, 1),
        ("normal", 21, 21),
        ("conservative", 1, 1),
        ("conservative", 4, 3),  # 0.08 / 0.12: two thirds of Normal's pace
        ("conservative", 31, 21),
        ("conservative", 67, 45),
        ("aggressive", 1, 1),
        ("aggressive", 7, 11),  # 0.20 / 0.12: five thirds of Normal's pace
        ("aggressive", 13, 21),
        ("aggressive", 19, 31),
    ],
)
def test_speeds_scale_the_pace_of_the_same_curve(speed: RampSpeed, ramp_day: int, normal_day: int) -> None:
    assert effective_day(ramp_day, speed) == normal_day
    assert strategy_volume(RampState("new_mailbox", speed, ramp_day=ramp_day)) == curve_volume(normal_day)


@pytest.mark.parametrize("speed", SPEEDS)
def test_every_speed_starts_at_one_climbs_monotonically_and_stops_at_the_cap(speed: RampSpeed) -> None:
    volumes = [strategy_volume(RampState("new_mailbox", speed, ramp_day=day)) for day in range(1, 120)]
    assert volumes[0] == 1
    assert all(later >= earlier for earlier, later in itertools.pairwise(volumes))
    assert max(volumes) == 40 == volumes[-1]  # "Day 45+: 40 emails/day (New Domain cap)"


def test_faster_speeds_are_never_behind_slower_ones() -> None:
    for day in range(1, 120):
        slow, normal, fast = (strategy_volume(RampState("new_mailbox", s, ramp_day=day)) for s in SPEEDS)
        assert slow <= normal <= fast


@pytest.mark.parametrize(
    ("speed", "volumes"),
    [
        ("normal", [15, 16, 18, 21, 23, 26, 29, 30, 30]),
        ("conservative", [15, 16, 17, 18, 20, 22, 23, 25, 27, 29, 30, 30]),
        ("aggressive", [15, 18, 21, 25, 30, 30]),
    ],
)
def test_maintenance_starts_at_15_and_grows_at_the_rate_to_30(speed: RampSpeed, volumes: list[int]) -> None:
    assert [maintenance_volume(day, speed) for day in range(1, len(volumes) + 1)] == volumes
    assert maintenance_volume(500, speed) == 30


@pytest.mark.parametrize(
    ("state", "volume"),
    [
        (RampState("recovery", ramp_day=21, resume_strategy="new_mailbox"), 9),  # half of 18
        (RampState("recovery", ramp_day=3, resume_strategy="new_domain"), 1),  # half of 2
        (RampState("recovery", ramp_day=1, resume_strategy="new_domain"), 1),  # never below 1
        (RampState("recovery", maintenance_day=8, resume_strategy="maintenance"), 15),  # half of 30
        (RampState("recovery", maintenance_day=1), 7),  # no previous strategy recorded: Maintenance's
    ],
)
def test_recovery_sends_half_of_what_the_previous_strategy_would(state: RampState, volume: int) -> None:
    assert strategy_volume(state) == volume


@pytest.mark.parametrize(
    ("state", "target", "volume"),
    [
        (RampState("new_domain", ramp_day=21), 50, 18),
        (RampState("new_domain", ramp_day=21), 10, 10),
        (RampState("new_mailbox", ramp_day=200), 100, 40),
        (RampState("maintenance", maintenance_day=1), 5, 5),
        (RampState("maintenance", maintenance_day=1), 50, 15),
        (RampState("new_domain"), 0, 0),
    ],
)
def test_daily_volume_never_exceeds_the_target(state: RampState, target: int, volume: int) -> None:
    assert daily_volume(state, target) == volume


def test_daily_volume_rejects_a_negative_target() -> None:
    with pytest.raises(ValueError, match="negative"):
        daily_volume(RampState("new_domain"), -1)


@pytest.mark.parametrize(
    ("domain", "mailbox", "strategy"),
    [
        (False, False, "new_domain"),
        (True, False, "new_mailbox"),
        (True, True, "maintenance"),
        (False, True, "maintenance"),
    ],
)
def test_initial_strategy(domain: bool, mailbox: bool, strategy: Strategy) -> None:
    assert initial_strategy(established_domain=domain, established_mailbox=mailbox) == strategy


@pytest.mark.parametrize(
    ("strategy", "speed", "allowed"),
    [
        ("new_domain", "aggressive", False),
        ("new_domain", "normal", True),
        ("new_domain", "conservative", True),
        ("new_mailbox", "aggressive", True),
        ("maintenance", "aggressive", True),
    ],
)
def test_aggressive_is_only_for_established_domains(strategy: Strategy, speed: RampSpeed, allowed: bool) -> None:
    assert speed_allowed(strategy, speed) is allowed


@pytest.mark.parametrize(
    ("state", "target", "expected"),
    [
        (RampState("new_domain", ramp_day=1), 40, 3),  # 1 of 40
        (RampState("new_domain", ramp_day=21), 40, 45),  # 18 of 40
        (RampState("new_domain", ramp_day=21), 18, 100),
        (RampState("new_domain", ramp_day=21), 100, 45),  # aims for the cap, not an unreachable target
        (RampState("new_mailbox", ramp_day=45), 40, 100),
        (RampState("maintenance"), 40, 100),
        (RampState("recovery", ramp_day=21, resume_strategy="new_mailbox"), 40, 45),
        (RampState("new_domain"), 0, 100),
    ],
)
def test_progress(state: RampState, target: int, expected: int) -> None:
    assert progress(state, target) == expected


@pytest.mark.parametrize(
    ("state", "score", "expected", "transitions"),
    [
        # Graduation at day 21 (decisions.md), whatever the health as long as the day is healthy.
        (
            RampState("new_domain", ramp_day=20),
            None,
            RampState("new_mailbox", ramp_day=21),
            (Transition("new_domain", "new_mailbox", "graduated"),),
        ),
        (
            RampState("new_domain", "conservative", ramp_day=20),
            85,
            RampState("new_mailbox", "conservative", ramp_day=21),
            (Transition("new_domain", "new_mailbox", "graduated"),),
        ),
        (RampState("new_domain", ramp_day=19), 60, RampState("new_domain", ramp_day=20), ()),
        # Fair (40-59) holds the ramp where it is.
        (RampState("new_domain", ramp_day=20), 59, RampState("new_domain", ramp_day=20), ()),
        (RampState("new_domain", ramp_day=20), 40, RampState("new_domain", ramp_day=20), ()),
        # Critical (<40) goes to Recovery and keeps the ramp position.
        (
            RampState("new_domain", ramp_day=20),
            39,
            RampState("recovery", ramp_day=20, resume_strategy="new_domain"),
            (Transition("new_domain", "recovery", "health_critical", 39),),
        ),
        (
            RampState("maintenance", maintenance_day=4),
            0,
            RampState("recovery", maintenance_day=4, resume_strategy="maintenance"),
            (Transition("maintenance", "recovery", "health_critical", 0),),
        ),
        # Recovery holds until 60, then resumes the previous strategy and moves on with the day.
        (
            RampState("recovery", ramp_day=20, resume_strategy="new_domain"),
            59,
            RampState("recovery", ramp_day=20, resume_strategy="new_domain"),
            (),
        ),
        (
            RampState("recovery", ramp_day=20, resume_strategy="new_domain"),
            None,
            RampState("recovery", ramp_day=20, resume_strategy="new_domain"),
            (),
        ),
        (
            RampState("recovery", ramp_day=20, resume_strategy="new_domain"),
            60,
            RampState("new_mailbox", ramp_day=21),
            (
                Transition("recovery", "new_domain", "health_recovered", 60),
                Transition("new_domain", "new_mailbox", "graduated"),
            ),
        ),
        (
            RampState("recovery", maintenance_day=2),
            75,
            RampState("maintenance", maintenance_day=3),
            (Transition("recovery", "maintenance", "health_recovered", 75),),
        ),
        # New Mailbox reaching the cap moves to Maintenance, which starts over at 15/day.
        (
            RampState("new_mailbox", ramp_day=44),
            80,
            RampState("maintenance", ramp_day=45, maintenance_day=1),
            (Transition("new_mailbox", "maintenance", "ramp_complete"),),
        ),
        (
            RampState("new_mailbox", "aggressive", ramp_day=26),
            80,
            RampState("new_mailbox", "aggressive", ramp_day=27),
            (),
        ),
        (
            RampState("new_mailbox", "aggressive", ramp_day=27),
            80,
            RampState("maintenance", "aggressive", ramp_day=28, maintenance_day=1),
            (Transition("new_mailbox", "maintenance", "ramp_complete"),),
        ),
        # Both graduations on one day when a (disallowed but stored) fast New Domain ramp is past the cap.
        (
            RampState("new_domain", "aggressive", ramp_day=30),
            None,
            RampState("maintenance", "aggressive", ramp_day=31, maintenance_day=1),
            (
                Transition("new_domain", "new_mailbox", "graduated"),
                Transition("new_mailbox", "maintenance", "ramp_complete"),
            ),
        ),
        (RampState("maintenance", maintenance_day=3), 70, RampState("maintenance", maintenance_day=4), ()),
        (RampState("maintenance", maintenance_day=3), 45, RampState("maintenance", maintenance_day=3), ()),
    ],
)
def test_next_day(
    state: RampState, score: int | None, expected: RampState, transitions: tuple[Transition, ...]
) -> None:
    step = next_day(state, score)
    assert step.state == expected
    assert step.transitions == transitions


@pytest.mark.parametrize(
    ("strategy", "score", "to"),
    [
        ("new_domain", None, None),
        ("new_domain", 39, "recovery"),
        ("new_mailbox", 39, "recovery"),
        ("maintenance", 39, "recovery"),
        ("maintenance", 40, None),
        ("recovery", 39, None),
        ("recovery", 59, None),
        ("recovery", 60, "maintenance"),
    ],
)
def test_apply_health_between_days(strategy: Strategy, score: int | None, to: Strategy | None) -> None:
    state = RampState(strategy, ramp_day=5, resume_strategy="maintenance" if strategy == "recovery" else None)
    step = apply_health_rule(state, score)
    if to is None:
        assert step.state == state
        assert step.transitions == ()
    else:
        assert step.state.strategy == to
        assert step.state.ramp_day == 5  # health never moves the ramp
        assert step.transitions[0].reason == ("health_critical" if to == "recovery" else "health_recovered")


def test_a_healthy_new_domain_walks_the_table_graduates_on_day_21_and_reaches_maintenance() -> None:
    state = RampState("new_domain")
    history: list[tuple[int, Strategy, int]] = []
    transitions: list[tuple[int, Transition]] = []
    for calendar_day in range(1, 61):
        history.append((calendar_day, state.strategy, daily_volume(state, 50)))
        step = next_day(state, 90)
        transitions.extend((calendar_day + 1, t) for t in step.transitions)
        state = step.state
    volumes = {day: volume for day, _, volume in history}
    strategies = {day: strategy for day, strategy, _ in history}
    assert [volumes[d] for d in (1, 2, 3, 4, 5, 14, 21, 30, 44)] == [1, 1, 2, 2, 3, 11, 18, 30, 39]
    assert strategies[20] == "new_domain"
    assert strategies[21] == "new_mailbox"
    assert strategies[45] == "maintenance"
    assert volumes[45] == 15
    assert transitions == [
        (21, Transition("new_domain", "new_mailbox", "graduated")),
        (45, Transition("new_mailbox", "maintenance", "ramp_complete")),
    ]
    assert volumes[60] == 30


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "new_domain", "ramp_day": 0}, "start at 1"),
        ({"strategy": "maintenance", "maintenance_day": 0}, "start at 1"),
        ({"strategy": "recovery", "resume_strategy": "recovery"}, "cannot resume"),
    ],
)
def test_invalid_states(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RampState(**kwargs)  # type: ignore[arg-type]
