"""Warmup ramp and health score at their edges: graduating into Maintenance at its day 1, progress of a Recovery
with nowhere recorded to resume, progress capped at 100 and rounded half up, rates capped at 100 %, a window
other than 7 days, and clear errors. Numbers are the spec's (decisions.md, help center), written out."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from kindling.warmup.counters import DailyCounters
from kindling.warmup.health import Health, band_for, health_score, score_counts
from kindling.warmup.ramp import RampState, daily_volume, next_day, progress

TODAY = date(2026, 6, 10)


def test_graduating_to_maintenance_starts_at_its_day_1() -> None:
    state = RampState("new_mailbox", ramp_day=44, maintenance_day=7)
    step = next_day(state, 90)
    assert step.state.strategy == "maintenance"
    assert step.state.maintenance_day == 1


@pytest.mark.parametrize(
    ("state", "target", "expected"),
    [
        (RampState("recovery", ramp_day=1, resume_strategy=None), 40, 100),  # resumes Maintenance: fully warmed
        (RampState("new_mailbox", ramp_day=45), 20, 100),  # 40 a day against a target of 20: capped at 100
        (RampState("new_mailbox", ramp_day=1), 3, 33),  # 1 of 3 = 33.3 %
        (RampState("new_mailbox", ramp_day=1), 8, 13),  # 1 of 8 = 12.5 %, rounded half up
        (RampState("new_mailbox", ramp_day=1), 40, 3),  # 1 of 40 = 2.5 %
    ],
)
def test_progress(state: RampState, target: int, expected: int) -> None:
    assert progress(state, target) == expected


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: daily_volume(RampState("maintenance"), -1), "the target cannot be negative"),
        (lambda: RampState("new_mailbox", ramp_day=0), "ramp days start at 1"),
        (lambda: RampState("maintenance", maintenance_day=0), "ramp days start at 1"),
        (lambda: RampState("recovery", resume_strategy="recovery"), "recovery cannot resume into recovery"),
        (lambda: band_for(101), "a health score is 0-100"),
        (lambda: band_for(-1), "a health score is 0-100"),
    ],
)
def test_bad_ramp_and_health_inputs_get_a_clear_message(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    "counts",
    [(-1, 0, 0, 0, 0), (1, -1, 0, 0, 0), (1, 0, -1, 0, 0), (1, 0, 0, -1, 0), (1, 0, 0, 0, -1)],
)
def test_every_negative_count_is_refused(counts: tuple[int, int, int, int, int]) -> None:
    with pytest.raises(ValueError, match=r"^counts cannot be negative$"):
        score_counts(*counts)


def test_no_traffic_is_no_score_and_zero_sent() -> None:
    assert score_counts(0, 0, 0, 0, 0) == Health(None, None, None, None, 0)


def test_rates_are_capped_at_100_percent() -> None:
    # Counters that disagree (more placements seen than sends) never make a rate above 100 %.
    health = score_counts(10, 20, 15, 0, 12)
    assert (health.inbox_rate, health.spam_rate, health.bounce_rate) == (100.0, 100.0, 100.0)
    assert health.score == 0


def test_the_window_can_be_other_than_seven_days() -> None:
    rows = [
        DailyCounters(TODAY, sent=10, inbox=10),
        DailyCounters(TODAY - timedelta(days=1), sent=10, inbox=8, spam=2),
    ]
    assert health_score(rows, TODAY, days=1).score == 100
    # Two days: 20 sent, 18 in the inbox, 2 in spam: 100 - (10 % x 1.5 + 10 % x 0.5) = 80.
    assert health_score(rows, TODAY, days=2).score == 80
