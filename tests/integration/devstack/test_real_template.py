"""Provisioning the real template.yaml creates every table, queue, key, topic and state machine it declares."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from devstack.runtime import LocalStack, free_port
from devstack.template import SKIPPED_TYPES

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def real_stack() -> Iterator[LocalStack]:
    with LocalStack(api=False, mail_lab=False, seed=False, pollers=True, schedules=False) as stack:
        yield stack


def _declared() -> Counter[str]:
    """Resource counts read independently of devstack (cfn-lint's loader), unconditional resources only."""
    template = cfn_yaml.load(str(REPO / "template.yaml"))
    counts: Counter[str] = Counter()
    for resource in template["Resources"].values():
        if "Condition" in resource:
            # Conditional resources must be ones the local stack skips anyway, or this count is wrong.
            assert resource["Type"] in SKIPPED_TYPES, resource["Type"]
            continue
        counts[str(resource["Type"])] += 1
    return counts


def _all(pages: Iterator[dict[str, Any]], key: str) -> list[Any]:
    return [item for page in pages for item in page.get(key, [])]


def test_every_declared_resource_exists_on_moto(real_stack: LocalStack) -> None:
    declared = _declared()
    ddb, sqs, kms = real_stack.client("dynamodb"), real_stack.client("sqs"), real_stack.client("kms")
    sns, sfn, lam = real_stack.client("sns"), real_stack.client("stepfunctions"), real_stack.client("lambda")

    assert len(ddb.list_tables()["TableNames"]) == declared["AWS::DynamoDB::Table"] >= 1
    assert len(sqs.list_queues().get("QueueUrls", [])) == declared["AWS::SQS::Queue"] >= 1
    # moto adds AWS-managed keys (alias/aws/dynamodb for table SSE...); count the template's own.
    all_aliases = kms.list_aliases()["Aliases"]
    managed = {a.get("TargetKeyId") for a in all_aliases if a["AliasName"].startswith("alias/aws/")}
    assert len([k for k in kms.list_keys()["Keys"] if k["KeyId"] not in managed]) == declared["AWS::KMS::Key"]
    aliases = [a for a in all_aliases if not a["AliasName"].startswith("alias/aws/")]
    assert len(aliases) == declared["AWS::KMS::Alias"]
    assert len(sns.list_topics()["Topics"]) == declared["AWS::SNS::Topic"]
    assert len(sfn.list_state_machines()["stateMachines"]) == declared["AWS::Serverless::StateMachine"] >= 1
    assert len(lam.list_functions()["Functions"]) == declared["AWS::Serverless::Function"] >= 1
    provisioned = Counter(r.type for r in real_stack.stack.resources.values()) if real_stack.stack else Counter()
    for rtype, count in provisioned.items():
        assert declared[rtype] == count, rtype


def test_table_queues_and_functions_match_the_template(real_stack: LocalStack) -> None:
    stack = real_stack.stack
    assert stack is not None
    raw = cfn_yaml.load(str(REPO / "template.yaml"))
    ddb, sqs = real_stack.client("dynamodb"), real_stack.client("sqs")
    for logical_id, res in stack.of_type("AWS::DynamoDB::Table").items():
        props = raw["Resources"][logical_id]["Properties"]
        table = ddb.describe_table(TableName=res.ref)["Table"]
        assert table["KeySchema"] == [dict(k) for k in props["KeySchema"]]
        declared_indexes = {ix["IndexName"] for ix in props.get("GlobalSecondaryIndexes", [])}
        assert {ix["IndexName"] for ix in table.get("GlobalSecondaryIndexes", [])} == declared_indexes
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            described = ddb.describe_time_to_live(TableName=res.ref)["TimeToLiveDescription"]
            assert described == {"TimeToLiveStatus": "ENABLED", "AttributeName": ttl["AttributeName"]}
    for logical_id, res in stack.of_type("AWS::SQS::Queue").items():
        props = raw["Resources"][logical_id].get("Properties", {})
        attrs = sqs.get_queue_attributes(QueueUrl=res.ref, AttributeNames=["All"])["Attributes"]
        if "VisibilityTimeout" in props:
            assert attrs["VisibilityTimeout"] == str(props["VisibilityTimeout"])
        if "RedrivePolicy" in props:
            policy = json.loads(attrs["RedrivePolicy"])
            dlq_id = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            assert policy["deadLetterTargetArn"] == stack.attr(dlq_id, "Arn")
            assert int(policy["maxReceiveCount"]) == int(props["RedrivePolicy"]["maxReceiveCount"])
    # Every function's environment points at the local resources.
    env = real_stack.environment()
    tables = list(stack.of_type("AWS::DynamoDB::Table").values())
    assert env["KINDLING_TABLE_NAME"] == tables[0].ref
    assert env["AWS_ENDPOINT_URL"] == real_stack.endpoint_url
    assert env["KINDLING_STAGE"] == "local"
    for variable in ("KINDLING_SEND_QUEUE_URL", "KINDLING_CHECK_QUEUE_URL", "KINDLING_KMS_KEY_ID"):
        assert env[variable] in {str(r.ref) for r in stack.resources.values()}


def test_the_real_job_state_machine_calls_the_real_jobs_handler(real_stack: LocalStack) -> None:
    """Whatever the job handler decides for an unknown job, its Lambda tasks ran in-process."""
    stack = real_stack.stack
    assert stack is not None
    machine = "JobStateMachine"
    assert machine in stack.of_type("AWS::Serverless::StateMachine")
    real_stack.invocations.clear()
    arn = real_stack.start_execution(machine, {"workspace_id": "ws_demo000001", "job_id": "job_missing0001"})
    result = real_stack.wait_execution(arn, timeout=60)
    assert result["status"] in ("SUCCEEDED", "FAILED")
    first_id, first_event = real_stack.invocations[0]
    assert stack.functions[first_id].code_uri.name == "jobs"
    assert first_event == {"action": "prepare", "workspace_id": "ws_demo000001", "job_id": "job_missing0001"}


class _StartOnLocalStack:
    """Starts the real job state machine on the local stack (what StepFunctionsLauncher does when deployed)."""

    def __init__(self, stack: LocalStack, machine: str) -> None:
        self.stack, self.machine, self.started = stack, machine, []

    def start(self, workspace_id: str, job_id: str) -> str:
        arn = self.stack.start_execution(self.machine, {"workspace_id": workspace_id, "job_id": job_id}, name=job_id)
        self.started.append(arn)
        return arn


def test_a_batch_that_raises_ends_the_job_failed_with_its_error(real_stack: LocalStack) -> None:
    """The real ASL on the local stack's Step Functions: a process_batch task that raises is caught by the Map's
    Catch, MarkFailed runs the real jobs handler's `fail`, and the job record says failed with the error."""
    from kindling.jobs import registry
    from kindling.jobs.models import ItemFailure
    from kindling.jobs.service import JobService

    def explode(context: registry.BatchContext) -> list[ItemFailure]:
        raise RuntimeError(f"batch of {len(context.item_ids)} exploded")

    stack = real_stack.stack
    assert stack is not None
    machine = "JobStateMachine"
    assert machine in stack.of_type("AWS::Serverless::StateMachine")
    registry.register(registry.JobType(name="test.explodes", processor=explode, batch_size=2))
    launcher = _StartOnLocalStack(real_stack, machine)
    try:
        job = JobService(launcher=launcher).create("ws_jobfail0001", "test.explodes", ["a", "b", "c"], {})
        assert job.status == "processing"
        result = real_stack.wait_execution(launcher.started[0], timeout=60)
    finally:
        registry.unregister("test.explodes")

    assert result["status"] == "FAILED"
    assert result["error"] == "JobFailed"
    stored = JobService(launcher=launcher).get("ws_jobfail0001", job.id)
    assert stored.status == "failed"
    assert stored.completed_at is not None
    assert stored.failure_reason is not None
    assert "RuntimeError" in stored.failure_reason
    assert "batch of 2 exploded" in stored.failure_reason or "batch of 1 exploded" in stored.failure_reason


def test_the_real_linkedin_sweep_checks_accounts_links_orphans_and_survives_a_failure(real_stack: LocalStack) -> None:
    """statemachines/linkedin_sweep.asl.json on the local stack's Step Functions, its tasks the real
    functions/linkedin_sweep handler in-process, against the provider emulator: the health run flips an account the
    provider lost (no webhook told us) through the status helper, a failing account's check is caught and the sweep
    still succeeds and reaches the notification step; the orphans run links a row left connecting."""
    from datetime import timedelta

    from kindling.linkedin.repository import LinkedInAccountRepository
    from kindling.linkedin.service import LinkedInAccountService
    from kindling.platform.clock import get_clock

    stack = real_stack.stack
    emulator = real_stack.linkedin_provider
    assert stack is not None and emulator is not None
    machine = "LinkedInSweepStateMachine"
    assert machine in stack.of_type("AWS::Serverless::StateMachine")
    service = LinkedInAccountService()
    lost = emulator.create_account(name="Lost Session")
    row = service.link_existing("ws_sweep000001", lost.id)
    assert row.status == "connected"
    ghost = service.link_existing("ws_sweep000001", emulator.create_account(name="Ghost").id)
    emulator.accounts.pop(ghost.provider_account_id)  # gone at the provider: its check answers 404
    emulator.set_account_status(lost.id, "CREDENTIALS")
    emulator.rate_limit(3)  # the first account the sweep checks is refused on every attempt

    real_stack.invocations.clear()
    arn = real_stack.start_execution(machine, {"run": "health"})
    result = real_stack.wait_execution(arn, timeout=120)
    assert result["status"] == "SUCCEEDED", result
    outcomes = sorted(check["outcome"] for check in result["output_json"]["checks"])
    assert outcomes[0] in ("changed", "provider_error"), outcomes
    actions = [event["action"] for fid, event in real_stack.invocations if fid == "LinkedInSweepFunction"]
    assert actions[0] == "list_accounts" and actions[-1] == "notify_outages"
    assert actions.count("health_check") == len(outcomes) >= 2
    # One more run with no fault left: both accounts end disconnected, each flip with its audit row.
    arn = real_stack.start_execution(machine, {"run": "health"})
    assert real_stack.wait_execution(arn, timeout=120)["status"] == "SUCCEEDED"
    for account in (row, ghost):
        stored = LinkedInAccountRepository().get("ws_sweep000001", account.id)
        assert stored.status == "disconnected"
        audit = LinkedInAccountRepository().audit("ws_sweep000001", account.id)
        assert [(e.old_status, e.new_status, e.source) for e in audit][-1] == (
            "connected",
            "disconnected",
            "health_check",
        )

    pending = service.connect("ws_sweep000001", "http://127.0.0.1:9/never")
    emulator.complete_hosted_link(pending.url.rsplit("/", 1)[-1], account_name="Orphan Olivia")
    clock = get_clock()
    advance = getattr(clock, "advance", None)
    if advance is not None:
        advance(timedelta(minutes=6))
    else:  # a system clock: the row must look older than 5 minutes
        LinkedInAccountRepository().replace(
            pending.account.model_copy(update={"created_at": clock.now() - timedelta(minutes=6)}),
            pending.account.version,
        )
    arn = real_stack.start_execution(machine, {"run": "orphans"})
    orphans = real_stack.wait_execution(arn, timeout=120)
    assert orphans["status"] == "SUCCEEDED", orphans
    assert orphans["output_json"]["changed"] == 1
    linked = LinkedInAccountRepository().get("ws_sweep000001", pending.account.id)
    assert (linked.status, linked.name) == ("connected", "Orphan Olivia")


def _outage_mailbox(workspace_id: str, password_enc: str, port: int, due: Any) -> Any:
    from kindling.mailboxes.models import Mailbox
    from kindling.mailboxes.repository import MailboxRepository
    from kindling.platform.ids import new_uuid

    mailbox_id = new_uuid()
    since = due - timedelta(minutes=15)
    mailbox = Mailbox(
        id=mailbox_id,
        workspace_id=workspace_id,
        email_address=f"{mailbox_id[:8]}@down.test",
        status="disconnected",
        generation=1,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_username="u",
        smtp_security="none",
        smtp_password_enc=password_enc,
        imap_host="127.0.0.1",
        imap_port=port,
        imap_username="u",
        imap_security="none",
        imap_password_enc=password_enc,
        last_connected_at=since,
        disconnected_since=since,
        next_retest_at=due,
        created_at=since,
        updated_at=since,
    )
    MailboxRepository().insert(mailbox)
    return mailbox


def test_the_real_reconnect_sweep_retests_due_mailboxes_and_one_failure_never_fails_it(real_stack: LocalStack) -> None:
    """statemachines/reconnect_sweep.asl.json on the local stack's Step Functions with the real reconnect handler:
    ListDue reads only the due mailboxes, the Map re-tests each (a server that refuses: the backoff advances to the
    1 h step), a mailbox whose re-test raises (an undecryptable password) is caught into its own `failed` result,
    and the execution SUCCEEDS with the summary."""
    from kindling.mailboxes.repository import MailboxRepository
    from kindling.mailboxes.secrets import KmsSecretBox
    from kindling.platform.clock import ManualClock, set_clock

    clock = ManualClock(datetime(2026, 6, 10, 9, 30, tzinfo=UTC))
    previous = set_clock(clock)
    try:
        now = clock.now()
        workspace_id = "ws_sweep000001"
        port = free_port()  # nothing listens: connection refused
        box = KmsSecretBox()
        refused = _outage_mailbox(workspace_id, "", port, now - timedelta(minutes=1))
        repo = MailboxRepository()
        current = repo.get(workspace_id, refused.id)
        repo.replace(
            current.model_copy(
                update={
                    "smtp_password_enc": box.encrypt(workspace_id, refused.id, "pw"),
                    "imap_password_enc": box.encrypt(workspace_id, refused.id, "pw"),
                }
            ),
            current.version,
        )
        broken = _outage_mailbox(workspace_id, "bm90LWEtY2lwaGVydGV4dA==", port, now - timedelta(minutes=2))
        later = _outage_mailbox(workspace_id, "", port, now + timedelta(minutes=5))  # not due yet

        real_stack.invocations.clear()
        arn = real_stack.start_execution("ReconnectSweepStateMachine", {})
        result = real_stack.wait_execution(arn, timeout=90)
    finally:
        set_clock(previous)

    assert result["status"] == "SUCCEEDED", result
    assert result["output_json"] == {"listed": 2, "outcomes": {"failed": 1, "still_down": 1}}
    # Only the sweep's own function: the stack's scheduled functions may run meanwhile.
    actions = [event.get("action") for fid, event in real_stack.invocations if fid == "ReconnectFunction"]
    assert actions[0] == "list" and actions[-1] == "summarize" and sorted(actions[1:-1]) == ["retest", "retest"]
    retested = {event["mailbox_id"] for _, event in real_stack.invocations if event.get("action") == "retest"}
    assert retested == {refused.id, broken.id}  # the one not due yet was never listed
    stored = repo.get(workspace_id, refused.id)
    assert (stored.status, stored.last_test_code, stored.retest_attempts) == ("disconnected", "connection_refused", 1)
    assert stored.next_retest_at == datetime(2026, 6, 10, 10, 30, tzinfo=UTC)  # the second step: 1 h
    assert repo.get(workspace_id, broken.id).next_retest_at == broken.next_retest_at  # untouched, due again
    assert repo.get(workspace_id, later.id).next_retest_at == later.next_retest_at
