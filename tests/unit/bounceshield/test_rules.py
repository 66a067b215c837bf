"""Bounce Shield's window and threshold, and the failure-rate guard, as pure functions (numbers stated here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kindling.bounceshield import rules
from kindling.bounceshield.rules import Bucket, WindowType

NOW = datetime(2026, 6, 10, 9, 40, tzinfo=UTC)
H = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)  # the current hour


def at(hours_ago: int, sent: int, bounced: int) -> Bucket:
    return Bucket(H - timedelta(hours=hours_ago), sent, bounced)


@pytest.mark.parametrize(
    ("buckets", "window_type", "sends", "hours", "since", "expected"),
    [
        # sends: newest whole hours until at least 100 sends
        ([at(0, 60, 6), at(1, 50, 1), at(2, 500, 50)], "sends", 100, 24, None, (110, 7, 2)),
        ([at(0, 100, 9), at(1, 50, 1)], "sends", 100, 24, None, (100, 9, 1)),
        ([at(0, 30, 3)], "sends", 100, 24, None, (30, 3, 1)),  # not enough sends yet: all there is
        ([at(2, 50, 1), at(0, 60, 6), at(1, 50, 1)], "sends", 100, 24, None, (110, 7, 2)),  # any order in
        # hours: the current hour and the 23 before it
        ([at(0, 10, 1), at(23, 10, 5), at(24, 10, 9)], "hours", 100, 24, None, (20, 6, 2)),
        ([at(0, 10, 1), at(1, 10, 5)], "hours", 100, 1, None, (10, 1, 1)),
        # buckets that began at or before the last activation are left out (its own hour included)
        ([at(0, 30, 0), at(1, 40, 8), at(2, 40, 8)], "sends", 100, 24, H - timedelta(minutes=20), (30, 0, 1)),
        ([at(0, 30, 0), at(1, 40, 8)], "hours", 100, 24, H - timedelta(hours=2), (70, 8, 2)),
        ([at(0, 30, 2)], "hours", 100, 24, H + timedelta(minutes=5), (0, 0, 0)),
    ],
)
def test_window_of(
    buckets: list[Bucket],
    window_type: WindowType,
    sends: int,
    hours: int,
    since: datetime | None,
    expected: tuple[int, int, int],
) -> None:
    window = rules.window_of(buckets, window_type, sends, hours, NOW, since)
    assert (window.sent, window.bounced, len(window.hours)) == expected


@pytest.mark.parametrize(
    ("sent", "bounced", "threshold", "window_type", "window_sends", "trips"),
    [
        (100, 8, 8.0, "sends", 100, False),  # 8% is not above 8%
        (100, 9, 8.0, "sends", 100, True),
        (99, 50, 8.0, "sends", 100, False),  # fewer sends than the window: not judged
        (110, 9, 8.0, "sends", 100, True),  # 8.18%
        (200, 10, 5.0, "sends", 200, False),  # 5%
        (200, 11, 5.0, "sends", 200, True),
        (20, 2, 8.0, "hours", 100, True),  # 10% on the 20 sends an hours window needs
        (19, 10, 8.0, "hours", 100, False),  # under 20 sends: not judged
        (0, 0, 1.0, "hours", 100, False),
    ],
)
def test_tripped(
    sent: int, bounced: int, threshold: float, window_type: WindowType, window_sends: int, trips: bool
) -> None:
    window = rules.Window(sent, bounced, ())
    assert rules.tripped(window, threshold, window_type, window_sends) is trips


@pytest.mark.parametrize(
    ("attempts", "failures", "trips"),
    [
        (20, 5, False),  # 25% is not above 25%
        (20, 6, True),
        (19, 19, False),  # fewer than 20 attempts: not judged
        (100, 26, True),
        (100, 25, False),
        (0, 0, False),
    ],
)
def test_failure_rate(attempts: int, failures: int, trips: bool) -> None:
    assert rules.failure_rate_tripped(attempts, failures) is trips


def test_rate_percent_is_rounded_to_two_places() -> None:
    assert rules.Window(22, 3, ()).rate_percent == 13.64
    assert rules.Window(0, 0, ()).rate_percent == 0.0
