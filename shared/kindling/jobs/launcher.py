"""Starts the jobs state machine (Step Functions). The only jobs code that talks to AWS besides the repository."""

from __future__ import annotations

import json
from typing import Protocol

from kindling.platform import aws
from kindling.platform.settings import get_settings


class JobLauncher(Protocol):
    def start(self, workspace_id: str, job_id: str) -> str: ...


class StepFunctionsLauncher:
    def start(self, workspace_id: str, job_id: str) -> str:
        arn = get_settings().job_state_machine_arn
        if not arn:
            raise RuntimeError("KINDLING_JOB_STATE_MACHINE_ARN is not configured")
        # The job id is the execution name, so a repeated start of the same job is refused by Step Functions.
        response = aws.client("stepfunctions").start_execution(
            stateMachineArn=arn,
            name=job_id,
            input=json.dumps({"workspace_id": workspace_id, "job_id": job_id}),
        )
        return str(response["executionArn"])
