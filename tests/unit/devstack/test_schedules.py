"""Schedule expressions: rate() and cron() next-fire times, and refusal of what is not emulated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devstack.provision import ScheduleSource
from devstack.schedules import Cron, ScheduleClock, ScheduleError, parse_expression, scheduled_event

T0 = datetime(2026, 6, 10, 9, 0, 0, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("expression", "interval"),
    [
        ("rate(1 minute)", timedelta(minutes=1)),
        ("rate(5 minutes)", timedelta(minutes=5)),
        ("rate(1 hour)", timedelta(hours=1)),
        ("rate(2 hours)", timedelta(hours=2)),
        ("rate(1 day)", timedelta(days=1)),
        ("rate(3 days)", timedelta(days=3)),
    ],
)
def test_rates(expression: str, interval: timedelta) -> None:
    assert parse_expression(expression) == interval


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(0/15 * * * ? *)", T0, datetime(2026, 6, 10, 9, 15, tzinfo=UTC)),
        ("cron(0 10 * * ? *)", T0, datetime(2026, 6, 10, 10, 0, tzinfo=UTC)),
        ("cron(0 8 * * ? *)", T0, datetime(2026, 6, 11, 8, 0, tzinfo=UTC)),
        (
            "cron(30 9 ? * MON-FRI *)",
            datetime(2026, 6, 12, 10, 0, tzinfo=UTC),
            datetime(2026, 6, 15, 9, 30, tzinfo=UTC),
        ),
        ("cron(0 0 1 JAN ? *)", T0, datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
        ("cron(0 12 ? * 1 *)", T0, datetime(2026, 6, 14, 12, 0, tzinfo=UTC)),  # 1 = Sunday
        ("cron(5,10 * * * ? 2026)", T0, datetime(2026, 6, 10, 9, 5, tzinfo=UTC)),
    ],
)
def test_cron_next_fire(expression: str, after: datetime, expected: datetime) -> None:
    rule = parse_expression(expression)
    assert isinstance(rule, Cron)
    assert rule.next_after(after) == expected


def test_cron_in_a_timezone() -> None:
    rule = parse_expression("cron(0 9 * * ? *)", "Europe/Paris")
    assert isinstance(rule, Cron)
    assert rule.next_after(T0) == datetime(2026, 6, 11, 7, 0, tzinfo=UTC)  # 09:00 CEST


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 0 L * ? *)",
        "cron(0 0 ? * 6#3 *)",
        "cron(0 0 15W * ? *)",
        "cron(0 0 * * * *)",
        "cron(0 0 * *)",
        "rate(0 minutes)",
        "rate(1 minutes)",
        "rate(2 minute)",
        "at(2026-06-10T09:00:00)",
    ],
)
def test_unsupported_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ScheduleError):
        parse_expression(expression)


def _source(expression: str, **kwargs: object) -> ScheduleSource:
    defaults: dict[str, object] = {
        "name": "Fn.Tick",
        "function_id": "Fn",
        "expression": expression,
        "input": None,
        "enabled": True,
        "rule_name": "s-Fn-Tick",
    }
    defaults.update(kwargs)
    return ScheduleSource(**defaults)  # type: ignore[arg-type]


def test_clock_counts_every_occurrence() -> None:
    clock = ScheduleClock(_source("rate(10 minutes)"), T0)
    assert clock.due(T0 + timedelta(minutes=9, seconds=59)) == []
    assert clock.due(T0 + timedelta(minutes=35)) == [T0 + timedelta(minutes=m) for m in (10, 20, 30)]
    assert clock.due(T0 + timedelta(minutes=39)) == []
    assert clock.due(T0 + timedelta(minutes=40)) == [T0 + timedelta(minutes=40)]


def test_scheduled_event_shape() -> None:
    event = scheduled_event(_source("rate(1 minute)"), T0, region="us-east-1", account_id="123456789012")
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["time"] == "2026-06-10T09:00:00Z"
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/s-Fn-Tick"]
    assert event["detail"] == {}
    assert event == scheduled_event(_source("rate(1 minute)"), T0, region="us-east-1", account_id="123456789012")
    assert scheduled_event(_source("rate(1 minute)", input={"a": 1}), T0, region="r", account_id="a") == {"a": 1}
