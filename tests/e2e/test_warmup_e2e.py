"""The warmup bulk update over HTTP on the local stack, through the real job state machine.

POST /warmup/bulk-update -> 202 + job id -> statemachines/job.asl.json executed by the stack's Step Functions
(moto) with its Lambda tasks calling functions/jobs/app.py in-process -> GET /jobs/{id} completed, with the
per-item errors -> the settings visible in GET /warmup/stats/{id} and the mailbox.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from devstack.runtime import LocalStack
from tests.e2e.support import settled

pytestmark = pytest.mark.mail


def _mailbox_body(account: dict[str, Any], email: str | None = None, password: str | None = None) -> dict[str, Any]:
    return {
        "email_address": email or account["email"],
        "smtp_host": account["smtp_host"],
        "smtp_port": account["smtp_port"],
        "smtp_security": account["smtp_security"],
        "smtp_password": password or account["password"],
        "imap_host": account["imap_host"],
        "imap_port": account["imap_port"],
        "imap_security": account["imap_security"],
        "imap_password": password or account["password"],
    }


def _settled_mailbox(client: httpx.Client, stack: LocalStack, body: dict[str, Any]) -> dict[str, Any]:
    """Create the mailbox (or reuse it: addresses are unique per workspace and the stack is shared), then wait
    for its connection test to finish."""
    created = client.post("/api/v1/mailboxes", json=body)
    if created.status_code == 409:
        listed = client.get("/api/v1/mailboxes", params={"limit": 100}).json()["data"]
        mailbox_id = next(m["id"] for m in listed if m["email_address"] == body["email_address"])
    else:
        assert created.status_code in (200, 201), created.text
        mailbox_id = created.json()["data"]["id"]
    return settled(client, stack, mailbox_id)


def _wait_job(client: httpx.Client, job_id: str, timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()["data"]
        if job["status"] != "processing" or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_bulk_update_runs_through_the_job_state_machine(local_stack: LocalStack) -> None:
    assert len(local_stack.mail_accounts) >= 3, "the local stack runs the mail lab"
    account = local_stack.mail_accounts[2]  # others belong to the mailbox and campaign e2e tests
    domain = account["email"].split("@", 1)[1]
    headers = {"Authorization": f"Bearer {local_stack.api_key}"}
    with httpx.Client(base_url=local_stack.api_url, headers=headers, timeout=30) as client:
        connected = _settled_mailbox(client, local_stack, _mailbox_body(account))
        assert connected["status"] == "connected", connected["last_test_error"]
        broken = _settled_mailbox(
            client, local_stack, _mailbox_body(account, email=f"warmup-e2e@{domain}", password="not-the-password")
        )
        assert broken["status"] == "error"
        missing = str(uuid.uuid4())

        body = {
            "mailbox_ids": [connected["id"], broken["id"], missing],
            "updates": {"warmup_enabled": True, "warmup_type": "conservative", "warmup_target_daily_volume": 30},
        }
        accepted = client.post("/api/v1/warmup/bulk-update", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert accepted.status_code == 202, accepted.text
        data = accepted.json()["data"]
        assert data["status"] == "processing" and data["total_items"] == 3
        job_id = data["job_id"]

        job = _wait_job(client, job_id)
        assert job["status"] == "completed", job
        assert (job["type"], job["total_items"], job["processed_items"], job["failed_items"]) == (
            "bulk_warmup_update",
            3,
            3,
            2,
        )
        assert {(e["item_id"], e["code"]) for e in job["errors"]} == {
            (broken["id"], "mailbox_not_connected"),
            (missing, "not_found"),
        }
        assert job["completed_at"] is not None

        stats = client.get(f"/api/v1/warmup/stats/{connected['id']}").json()["data"]
        assert (stats["warmup_enabled"], stats["warmup_type"], stats["warmup_target_daily_volume"]) == (
            True,
            "conservative",
            30,
        )
        # Warmup starts today on the New Domain ramp: day 1 sends 1 email, whatever the target.
        assert (stats["effective_daily_limit"], stats["effective_limit_reason"], stats["strategy"]) == (
            1,
            "ramp_up",
            "new_domain",
        )
        assert len(stats["daily"]) == 7
        mailbox = client.get(f"/api/v1/mailboxes/{connected['id']}").json()["data"]
        assert mailbox["warmup_enabled"] is True and mailbox["warmup_progress"] == stats["warmup_progress"]
        assert client.get(f"/api/v1/warmup/stats/{broken['id']}").json()["data"]["warmup_enabled"] is False

    # It was the real definition that ran: one execution named after the job, each state a Lambda task on
    # the jobs function (prepare, one batch, complete).
    sfn = local_stack.client("stepfunctions")
    machine = local_stack.state_machine_arn("JobStateMachine")
    execution = next(e for e in sfn.list_executions(stateMachineArn=machine)["executions"] if e["name"] == job_id)
    assert execution["status"] == "SUCCEEDED"
    history = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert entered[0] == "Prepare" and "ProcessBatches" in entered and entered[-1] == "Succeeded"
    actions = [
        event["action"]
        for logical_id, event in list(local_stack.invocations)
        if logical_id == "JobsFunction" and isinstance(event, dict) and event.get("job_id") == job_id
    ]
    assert actions == ["prepare", "process_batch", "complete"]
