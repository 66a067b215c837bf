"""The deployed stack registers its own LinkedIn provider webhooks: the LinkedIn sweep state machine runs
{"run": "webhooks"} hourly (retry policy, dead-letter queue), its choice routes that input to the ensure_webhooks
task (a failure ends the execution FAILED, so its alarm tells), and the sweep function knows the ingress URL (the
HTTP API's own URL + /linkedin/provider/webhook) and the webhook secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]


def _template() -> dict[str, Any]:
    loaded: dict[str, Any] = cfn_yaml.load(str(ROOT / "template.yaml"))
    return loaded


def _asl() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "statemachines" / "linkedin_sweep.asl.json").read_text())
    return loaded


def test_the_sweep_state_machine_runs_webhooks_hourly() -> None:
    events = _template()["Resources"]["LinkedInSweepStateMachine"]["Properties"]["Events"]
    runs = {json.loads(e["Properties"]["Input"])["run"]: e["Properties"] for e in events.values()}
    assert sorted(runs) == ["health", "orphans", "webhooks"]
    webhooks = runs["webhooks"]
    assert webhooks["Schedule"] == "rate(1 hour)"
    assert webhooks["RetryPolicy"]["MaximumRetryAttempts"] == 2
    assert webhooks["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}


def test_the_sweep_function_knows_the_ingress_url_and_the_secret() -> None:
    resources = _template()["Resources"]
    env = resources["LinkedInSweepFunction"]["Properties"]["Environment"]["Variables"]
    assert env["KINDLING_LINKEDIN_WEBHOOK_URL"] == {
        "Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/linkedin/provider/webhook"
    }
    assert env["KINDLING_LINKEDIN_WEBHOOK_SECRET"] == {"Fn::Sub": "{{resolve:secretsmanager:${LinkedInWebhookSecret}}}"}
    assert resources["HttpApi"]["Type"] == "AWS::Serverless::HttpApi"
    # no cycle: the sweep function is not one of the HTTP API's integrations
    events = resources["LinkedInSweepFunction"]["Properties"].get("Events", {})
    assert all(e.get("Type") != "HttpApi" for e in events.values())


def test_the_webhooks_input_reaches_the_ensure_task_and_a_failure_fails_the_execution() -> None:
    asl = _asl()
    choices = asl["States"]["Which"]["Choices"]
    [route] = [c for c in choices if c.get("StringEquals") == "webhooks"]
    assert route["Variable"] == "$.run"
    task = asl["States"][route["Next"]]
    assert task["Type"] == "Task"
    assert task["Parameters"]["Payload"] == {"action": "ensure_webhooks"}
    assert task["Parameters"]["FunctionName"] == "${LinkedInSweepFunctionArn}"
    assert task.get("End") is True
    [catch] = task["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"]
    assert asl["States"][catch["Next"]]["Type"] == "Fail"
    # the health run is still the default
    assert asl["States"]["Which"]["Default"] == "ListAccounts"
