"""The sliding 60-second window: all of the current fixed window plus the overlapping share of the previous one."""

from __future__ import annotations

import pytest

from kindling.ratelimit.service import sliding_decide, sliding_estimate, sliding_retry_after


@pytest.mark.parametrize(
    ("previous", "current", "elapsed", "expected"),
    [
        (0, 5, 0.0, 5.0),
        (10, 0, 0.0, 10.0),  # the window just turned: all of the previous minute still counts
        (10, 0, 30.0, 5.0),  # half-way: half of it
        (10, 2, 45.0, 4.5),
        (10, 2, 60.0, 2.0),
    ],
)
def test_estimate(previous: int, current: int, elapsed: float, expected: float) -> None:
    assert sliding_estimate(previous, current, elapsed) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("previous", "current_with_this", "limit", "elapsed", "allowed", "retry_after"),
    [
        (0, 10, 10, 0.0, True, 0),  # the 10th call of 10
        (0, 11, 10, 0.0, False, 66),  # the 11th, at the window's start: 60 s to the next window, then 6 s more
        (0, 11, 10, 30.0, False, 36),
        # Two refused calls racing: this one counts the other's hit, not yet taken back; the wait is still 66 s.
        (0, 12, 10, 0.0, False, 66),  # the same half-way through the window
        (10, 1, 10, 0.0, False, 6),  # a full previous minute: 6 s until its share drops to 9
        (10, 1, 10, 30.0, True, 0),  # half of it (5) plus this call: 6
        (20, 3, 10, 30.0, False, 9),  # 20 * (60 - 30 - t) / 60 + 3 <= 10 -> t >= 9
    ],
)
def test_decide(
    previous: int, current_with_this: int, limit: int, elapsed: float, allowed: bool, retry_after: int
) -> None:
    decision = sliding_decide(previous, current_with_this, limit, elapsed)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.retry_after == retry_after


def test_a_retry_after_the_advertised_wait_fits() -> None:
    """Whatever the counts, waiting `retry_after` seconds (and no less) makes room for one more call."""
    for previous in range(0, 25):
        for current in range(0, 15):
            for elapsed in (0.0, 7.5, 30.0, 59.0):
                if sliding_estimate(previous, current + 1, elapsed) <= 10:
                    continue
                wait = sliding_retry_after(previous, current, 10, elapsed)
                later = elapsed + wait
                if later < 60:
                    assert sliding_estimate(previous, current + 1, later) <= 10 + 1e-9
                    if wait > 1:
                        assert sliding_estimate(previous, current + 1, later - 1) > 10
                else:  # in the next window this one is the previous one, nothing counted yet
                    assert sliding_estimate(current, 1, later - 60) <= 10 + 1e-9
