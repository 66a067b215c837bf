"""The LinkedIn engine's world: moto (table, queues), the API on 127.0.0.1 (the provider's webhooks reach its
ingress over real HTTP), the provider emulator on 127.0.0.1 with its fault controls, the real action queue (SQS on
moto) drained into the worker as Lambda would, and the injected clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from kindling.inbox.linkedin import LinkedInInbox
from kindling.linkedin.provider_events import SECRET_HEADER
from kindling.linkedin.service import default_provider
from kindling.outreach.engine import ActionWorker, LinkedInScheduler, TickReport, handle_batch
from kindling.outreach.repository import OutreachRepository
from kindling.outreach.sweeps import EngineSweeps
from kindling.platform.settings import reset_settings
from kindling.sending.scheduler import Scheduler
from tests.integration.linkedin_accounts.conftest import WEBHOOK_SECRET, LinkedInWorld, li  # noqa: F401
from tests.support.linkedin_steps import INVITE, MESSAGE, WAIT

ALL_DAY = {"scheduleDays": [1, 2, 3, 4, 5, 6, 7], "sendingWindows": [{"start": "00:00", "end": "24:00"}]}


@dataclass
class Engine:
    world: LinkedInWorld
    queue_url: str
    scheduler: LinkedInScheduler
    worker: ActionWorker
    sweeps: EngineSweeps
    repo: OutreachRepository
    accounts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def emulator(self) -> Any:
        return self.world.emulator

    def tick(self) -> TickReport:
        """One minute's ticks: the email scheduler (it hands enrollments at a LinkedIn step over), then the
        LinkedIn scheduler, as both run every minute on the stack."""
        Scheduler().tick()
        return self.scheduler.tick()

    def receive(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs", region_name="us-east-1")
        got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        records = []
        for m in got.get("Messages", []):
            records.append({"messageId": m["MessageId"], "body": m["Body"]})
            sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        return records

    def drain(self) -> list[dict[str, Any]]:
        """Every queued action handed to the worker (as Lambda would); the records handled."""
        handled: list[dict[str, Any]] = []
        for _ in range(50):
            records = self.receive()
            if not records:
                return handled
            result = handle_batch(self.worker, records)
            assert result["batchItemFailures"] == [], result
            handled += records
        raise AssertionError("the action queue did not drain")

    def run(self, minutes: int = 1) -> None:
        """`minutes` minutes of the engine: a tick and the queue drained each minute."""
        for _ in range(minutes):
            self.tick()
            self.drain()
            self.world.advance(60)

    def campaign(self, steps: list[dict[str, Any]], account_ids: list[str], **settings: Any) -> str:
        body = {
            "name": "LinkedIn founders",
            "channel": "linkedin",
            "linkedinAccountIds": account_ids,
            "steps": [{**s, "stepIndex": i} for i, s in enumerate(steps)],
            **ALL_DAY,
            **settings,
        }
        created = self.world.ok("POST", "/api/v1/campaigns", 201, json=body)
        return str(created["id"])

    def start(self, campaign_id: str) -> None:
        self.world.ok("POST", f"/api/v1/campaigns/{campaign_id}/start")

    def prospect(self, slug: str, first: str = "Ada") -> str:
        created = self.world.ok(
            "POST",
            "/api/v1/prospects",
            201,
            json={
                "email": f"{slug}@example.com",
                "firstName": first,
                "linkedinUrl": f"https://www.linkedin.com/in/{slug}/",
            },
        )
        return str(created["id"])

    def enroll(self, campaign_id: str, prospect_ids: list[str]) -> None:
        self.world.ok("POST", f"/api/v1/campaigns/{campaign_id}/enrollments", 200, json={"prospectIds": prospect_ids})

    def enrollment(self, campaign_id: str, prospect_id: str) -> Any:
        item = self.repo.enrollment(self.world.tenant.workspace_id, campaign_id, prospect_id)
        assert item is not None
        return item

    def invitations_to(self, slug: str) -> list[Any]:
        member = self.emulator._profile_for(slug).provider_id
        return [i for i in self.emulator.invitations.values() if i.provider_id == member]

    def mute(self, source: str) -> list[Any]:
        """The provider's webhooks of `source` are lost from now on (the removed registrations)."""
        removed = [w for w in self.emulator.webhooks.values() if w.source == source]
        for hook in removed:
            del self.emulator.webhooks[hook.id]
        return removed

    def invited(
        self, slug: str, *, steps: list[dict[str, Any]] | None = None, **settings: Any
    ) -> tuple[str, str, dict[str, Any]]:
        """A campaign (invite, wait for acceptance, message by default) with one prospect invited: (campaign id,
        prospect id, the account)."""
        account = self.world.connect()
        cid = self.campaign(steps or [INVITE, WAIT, MESSAGE], [account["id"]], **settings)
        self.start(cid)
        pid = self.prospect(slug, slug.split("-")[0].title())
        self.enroll(cid, [pid])
        self.run(minutes=1)
        assert len(self.invitations_to(slug)) == 1
        return cid, pid, account

    def stats(self, campaign_id: str) -> list[dict[str, int]]:
        data = self.world.ok("GET", f"/api/v1/campaigns/{campaign_id}/stats")
        return [s["linkedin"] for s in data["steps"]]

    def provider_account(self, account: dict[str, Any]) -> str:
        from kindling.linkedin.repository import LinkedInAccountRepository

        row = LinkedInAccountRepository().get(self.world.tenant.workspace_id, account["id"])
        return str(row.provider_account_id)


@pytest.fixture
def engine(li: LinkedInWorld) -> Iterator[Engine]:  # noqa: F811
    queue_url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="linkedin-actions")["QueueUrl"]
    os.environ["KINDLING_LINKEDIN_ACTION_QUEUE_URL"] = queue_url
    reset_settings()
    for source in ("users", "messaging"):
        li.emulator.register_webhook(
            source=source,
            request_url=f"{li.base_url}/linkedin/provider/webhook",
            headers={SECRET_HEADER: WEBHOOK_SECRET},
        )
    provider = default_provider()
    repo = OutreachRepository()
    world = Engine(
        li,
        queue_url,
        LinkedInScheduler(repository=repo),
        ActionWorker(provider, repository=repo, outbound=LinkedInInbox()),  # as kindling.inbox.linkedin.engine_worker
        EngineSweeps(provider, repository=repo, inbox=LinkedInInbox()),  # as kindling.inbox.linkedin.engine_sweeps
        repo,
    )
    try:
        yield world
    finally:
        os.environ.pop("KINDLING_LINKEDIN_ACTION_QUEUE_URL", None)
        reset_settings()
