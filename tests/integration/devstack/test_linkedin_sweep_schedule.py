"""The LinkedIn sweep's schedules target its state machine: the local stack starts executions of the real ASL for
them, as EventBridge does (every 5 minutes the health run, hourly the orphan run and the webhook registration)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from devstack.runtime import LocalStack
from kindling.platform.clock import ManualClock


def test_state_machine_schedules_start_executions_with_their_input() -> None:
    clock = ManualClock(datetime(2026, 6, 10, 9, 0, tzinfo=UTC))
    with LocalStack(api=False, mail_lab=False, seed=False, pollers=False, schedules=True, clock=clock) as stack:
        sfn = stack.client("stepfunctions")
        arn = stack.state_machine_arn("LinkedInSweepStateMachine")
        assert sfn.list_executions(stateMachineArn=arn)["executions"] == []
        stack.advance(timedelta(minutes=4, seconds=59))
        assert sfn.list_executions(stateMachineArn=arn)["executions"] == []
        stack.advance(timedelta(seconds=1))  # rate(5 minutes): one health run
        stack.advance(timedelta(minutes=55))  # 11 more health runs, the hourly orphan and webhooks runs
        executions = sfn.list_executions(stateMachineArn=arn)["executions"]
        assert len(executions) == 14
        inputs = sorted(sfn.describe_execution(executionArn=e["executionArn"])["input"] for e in executions)
        assert inputs == ['{"run": "health"}'] * 12 + ['{"run": "orphans"}', '{"run": "webhooks"}']
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            statuses = {e["status"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]}
            if statuses <= {"SUCCEEDED", "FAILED"}:
                break
            time.sleep(0.1)
        assert statuses == {"SUCCEEDED"}
        actions = [event.get("action") for _, event in stack.invocations if isinstance(event, dict)]
        assert actions.count("list_accounts") == 12 and actions.count("watch_orphans") == 1
        assert actions.count("ensure_webhooks") == 1
