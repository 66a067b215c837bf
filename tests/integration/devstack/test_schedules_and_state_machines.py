"""Schedule clocks fire exactly as often as declared; state machines run our handlers in-process."""

from __future__ import annotations

from datetime import timedelta

import pytest

from devstack.functions import FunctionError
from devstack.runtime import LocalStack
from tests.fixtures.devstack import recorder
from tests.integration.devstack.conftest import START


def _ticks() -> list[dict[str, object]]:
    return [c.event for c in recorder.calls("tick")]


def test_schedule_clocks_fire_the_exact_number_of_times(fixture_stack: LocalStack, calls: None) -> None:
    # The clock is manual: nothing fires until it is advanced.
    assert _ticks() == []
    fired = fixture_stack.advance(timedelta(minutes=30))
    events = _ticks()
    scheduled = [e for e in events if e.get("detail-type") == "Scheduled Event"]
    every_minute = [e for e in scheduled if "EveryMinute" in str(e["resources"])]
    quarter_hour = [e for e in scheduled if "QuarterHour" in str(e["resources"])]
    with_input = [e for e in events if e == {"kind": "five"}]
    assert len(every_minute) == 30  # rate(1 minute)
    assert [e["time"] for e in quarter_hour] == ["2026-06-10T09:15:00Z", "2026-06-10T09:30:00Z"]  # cron(0/15 ...)
    assert len(with_input) == 6  # ScheduleV2 rate(5 minutes) delivers its constant Input
    assert fired == len(events) == 38  # and the disabled schedule never fires
    assert every_minute[0]["time"] == "2026-06-10T09:01:00Z"
    assert every_minute[-1]["time"] == "2026-06-10T09:30:00Z"
    assert every_minute[0]["source"] == "aws.events"

    # 59 more seconds: nothing due; one more second: exactly one rate(1 minute) occurrence.
    assert fixture_stack.advance(timedelta(seconds=59)) == 0
    assert fixture_stack.advance(timedelta(seconds=1)) == 1
    assert fixture_stack.clock.now() == START + timedelta(minutes=31)


def test_map_state_machine_runs_our_handler_per_item(fixture_stack: LocalStack, calls: None) -> None:
    arn = fixture_stack.start_execution("MapStateMachine", {"items": [1, 2, 3, 4]})
    result = fixture_stack.wait_execution(arn, timeout=30)
    assert result["status"] == "SUCCEEDED", result
    assert result["output_json"] == {
        "items": [1, 2, 3, 4],
        "doubled": [{"doubled": 2}, {"doubled": 4}, {"doubled": 6}, {"doubled": 8}],
        "sum": {"total": 20},
    }
    events = [c.event for c in recorder.calls("mapper")]
    assert sorted(e["value"] for e in events if e["action"] == "double") == [1, 2, 3, 4]
    assert [e for e in events if e["action"] == "sum"] == [
        {"action": "sum", "items": [{"doubled": 2}, {"doubled": 4}, {"doubled": 6}, {"doubled": 8}]}
    ]
    # The Lambda context is the function's own.
    assert {c.context["function_name"] for c in recorder.calls("mapper")} == {"devstack-fixture-MapperFunction"}


def test_a_handler_error_fails_the_execution_with_its_error_type(fixture_stack: LocalStack, calls: None) -> None:
    arn = fixture_stack.start_execution("MapStateMachine", {"items": [1, "boom"]})
    result = fixture_stack.wait_execution(arn, timeout=30)
    assert result["status"] == "FAILED"
    assert result["error"] == "ValueError"
    assert "cannot double boom" in result["cause"]


def test_invoke_gives_a_lambda_context_and_the_functions_environment(fixture_stack: LocalStack, calls: None) -> None:
    assert fixture_stack.stack is not None
    described = fixture_stack.invoke("mapper", {"action": "describe"})  # by folder name
    assert described["function_name"] == "devstack-fixture-MapperFunction"
    assert described["invoked_function_arn"] == fixture_stack.stack.attr("MapperFunction", "Arn")
    assert described["memory_limit_in_mb"] == 384  # Fn::If on a condition, over the Globals' 256
    assert 0 < described["remaining_ms"] <= 20_000  # the function's own Timeout, not the Globals'
    # Refs resolved to physical ids; the Globals' shared values are in the process environment.
    assert described["table"] == fixture_stack.stack.ref("Table")
    assert described["queue_url"] == fixture_stack.stack.ref("WorkQueue")
    assert described["label"] == "development"
    # A variable that differs per function is overlaid only while that function's module loads.
    assert described["role_at_cold_start"] == "mapper"
    assert described["role_now"] is None
    assert fixture_stack.invoke("MapperFunction", {"action": "double", "value": 21}) == {"doubled": 42}
    with pytest.raises(FunctionError) as raised:
        fixture_stack.invoke("devstack-fixture-MapperFunction", {"action": "nope"})
    assert raised.value.payload["errorType"] == "ValueError"
