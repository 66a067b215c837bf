"""Tenant isolation over every route the OpenAPI document lists, in one test.

Two workspaces, Alpha and Bravo, get the same kinds of resources (mailboxes, prospects, lists, suppressions,
imports, a job, campaigns with steps, variants, a mailbox pool and enrollments, webhooks with a delivery, an inbox
conversation, warmup settings). Then, for every documented route:
- a route that names a resource in its path is called by Bravo with Alpha's ids (and, below a parent, with
  Bravo's parent and Alpha's child): 404 `not_found`, whatever the method;
- a route without ids (lists, change feeds, checks, creates) is called by each workspace: its whole response
  text holds none of the other workspace's ids, addresses or names, and a create that names the other's ids
  (a mailbox in a campaign, prospects in a list) is refused;
- afterwards everything Alpha can read is exactly what it read before Bravo's calls;
- an event in one workspace is delivered (to a real HTTP receiver) to that workspace's webhook only.

`ROUTES` says how each documented route is exercised; the test fails when the document lists a route the table
does not cover (or the table names a route the document does not list), so a new route cannot skip isolation.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient

from devstack.linkedin_provider import LOCAL_API_KEY, LinkedInProviderEmulator
from kindling.api.app import create_app
from kindling.audit.service import AuditService
from kindling.events.catalog import emit_event
from kindling.events.service import EventService
from kindling.inbox.models import Conversation, InboxMessage
from kindling.inbox.repository import InboxRepository
from kindling.jobs.service import JobService
from kindling.linkedin.service import LinkedInAccountService
from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.repository import MailboxRepository
from kindling.platform import aws as aws_clients
from kindling.platform.clock import ManualClock
from kindling.platform.ids import new_uuid
from kindling.platform.settings import reset_settings
from kindling.webhooks import secrets as webhook_secrets
from tests.conftest import Tenant, make_tenant
from tests.integration.webhooks.conftest import load_function, sqs_event
from tests.integration.webhooks.receiver import Receiver, running_receiver

ENV = {
    "KINDLING_RATE_LIMIT_PER_MINUTE": "1000000",  # the limit itself is tested in test_platform.py
    "KINDLING_MAILBOX_TEST_RATE_LIMIT_PER_MINUTE": "1000000",
    "KINDLING_MX_LOOKUPS": "false",
}
QUEUES = {
    "KINDLING_CHECK_QUEUE_URL": "check",
    "KINDLING_SEND_QUEUE_URL": "send",
    "KINDLING_SYNC_QUEUE_URL": "sync",
    "KINDLING_WEBHOOK_QUEUE_URL": "webhook",
}
ID_PARAMS = (
    "mailbox_id",
    "prospect_id",
    "list_id",
    "entry_id",
    "import_id",
    "job_id",
    "webhook_id",
    "delivery_id",
    "conversation_id",
    "campaign_id",
    "step_id",
    "variant_id",
    "account_id",
)
# Path parameters that sit below a parent: probed once more as the caller's own parent with the other's child.
PARENTS = {"step_id": "campaign_id", "variant_id": "step_id", "delivery_id": "webhook_id", "mailbox_id": "campaign_id"}


@dataclass
class Seeded:
    """One workspace and what it owns: ids by path parameter name, and words that appear only in its data."""

    tenant: Tenant
    tag: str
    ids: dict[str, str] = field(default_factory=dict)
    markers: set[str] = field(default_factory=set)

    @property
    def headers(self) -> dict[str, str]:
        return self.tenant.headers

    def leaked_into(self, text: str) -> set[str]:
        return {marker for marker in self.markers if marker.lower() in text.lower()}


@dataclass
class World:
    client: TestClient
    receiver: Receiver
    webhook_queue: str
    clock: ManualClock
    alpha: Seeded
    bravo: Seeded
    emulator: LinkedInProviderEmulator | None = None

    def call(
        self, who: Seeded, method: str, path: str, *, json_body: Any = None, **kwargs: Any
    ) -> Any:  # a TestClient response
        headers = {**who.headers, **kwargs.pop("headers", {})}
        if json_body is not None:
            kwargs["json"] = json_body
        return self.client.request(method, path, headers=headers, **kwargs)

    def ok(self, who: Seeded, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.call(who, method, path, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        return response.json().get("data")

    def pump_webhooks(self) -> None:
        sqs = boto3.client("sqs", region_name="us-east-1")
        deliverer = load_function("webhook_deliverer")
        for _ in range(20):
            messages = sqs.receive_message(QueueUrl=self.webhook_queue, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return
            result = deliverer.handler(sqs_event(messages), None)
            assert result["batchItemFailures"] == []
            for message in messages:
                sqs.delete_message(QueueUrl=self.webhook_queue, ReceiptHandle=message["ReceiptHandle"])
        raise AssertionError("the webhook queue did not drain")


def connected_mailbox(tenant: Tenant, email: str, now: Any) -> Mailbox:
    """A connected mailbox written straight to the table (connection tests are the mailbox suite's)."""
    mailbox = Mailbox(
        id=new_uuid(),
        workspace_id=tenant.workspace_id,
        email_address=email,
        display_name=email.split("@")[0].title(),
        status="connected",
        smtp_host="smtp.lab.test",
        smtp_port=587,
        smtp_username=email,
        smtp_security="starttls",
        smtp_password_enc="ciphertext",
        imap_host="imap.lab.test",
        imap_port=993,
        imap_username=email,
        imap_security="ssl",
        imap_password_enc="ciphertext",
        created_at=now,
        updated_at=now,
    )
    MailboxRepository().insert(mailbox)
    return mailbox


def conversation(seeded: Seeded, now: Any) -> str:
    """An inbox conversation with one incoming reply, stored as the sync stores it."""
    conversation_id = new_uuid()
    contact = f"contact-{seeded.tag}@{seeded.tag}-people.test"
    base = Conversation(
        id=conversation_id,
        workspace_id=seeded.tenant.workspace_id,
        mailbox_id=seeded.ids["mailbox_id"],
        campaign_id=seeded.ids["campaign_id"],
        prospect_id=seeded.ids["prospect_id"],
        contact_email=contact,
        subject=f"Question from {seeded.tag}",
        unread_count=1,
        message_count=1,
        snippet=f"Hello from {seeded.tag}",
        last_message_at=now,
        created_at=now,
        updated_at=now,
    )
    message = InboxMessage(
        id=new_uuid(),
        conversation_id=conversation_id,
        direction="incoming",
        kind="reply",
        mailbox_id=seeded.ids["mailbox_id"],
        message_id=f"<reply-{seeded.tag}@{seeded.tag}-people.test>",
        subject=f"Question from {seeded.tag}",
        from_email=contact,
        text_body=f"Hello from {seeded.tag}",
        email_date=now,
        recorded_at=now,
        seq=1,
        is_read=False,
    )
    assert InboxRepository().add_message(base, message, expected_version=None)
    seeded.markers.add(contact)
    return conversation_id


def seed(
    world_client: TestClient,
    receiver: Receiver,
    queue: str,
    tenant: Tenant,
    tag: str,
    clock: ManualClock,
    emulator: LinkedInProviderEmulator,
) -> Seeded:
    """The same kinds of resources in one workspace, each carrying the workspace's tag in a name or address."""
    seeded = Seeded(tenant, tag)
    w = World(world_client, receiver, queue, clock, seeded, seeded, emulator)
    ids = seeded.ids
    now = clock.now()
    mailbox = connected_mailbox(tenant, f"sender-{tag}@{tag}-mail.test", now)
    spare = connected_mailbox(tenant, f"spare-{tag}@{tag}-mail.test", now)
    ids["mailbox_id"] = mailbox.id
    seeded.markers |= {mailbox.email_address, spare.email_address}

    prospect = w.ok(
        seeded,
        "POST",
        "/api/v1/prospects",
        201,
        json_body={"email": f"lead-{tag}@{tag}-leads.test", "firstName": f"Lead{tag}", "company": f"{tag} Co"},
    )
    ids["prospect_id"] = prospect["id"]
    seeded.markers |= {prospect["email"], f"Lead{tag}", f"{tag} Co"}
    listed = w.ok(seeded, "POST", "/api/v1/lists", 201, json_body={"name": f"List {tag}"})
    ids["list_id"] = listed["id"]
    seeded.markers.add(f"List {tag}")
    w.ok(seeded, "POST", f"/api/v1/lists/{ids['list_id']}/prospects", json_body={"prospectIds": [ids["prospect_id"]]})
    entry = w.ok(
        seeded,
        "POST",
        "/api/v1/suppressions",
        201,
        json_body={"type": "email", "value": f"blocked-{tag}@{tag}-blocked.test", "reason": f"reason {tag}"},
    )
    ids["entry_id"] = entry["id"]
    seeded.markers |= {f"blocked-{tag}@{tag}-blocked.test", f"reason {tag}"}

    csv = f"email,firstName\nimported-{tag}@{tag}-import.test,Imported{tag}\n".encode()
    upload = w.call(seeded, "POST", "/api/v1/imports", files={"file": (f"{tag}.csv", csv, "text/csv")})
    assert upload.status_code == 201, upload.text
    ids["import_id"] = upload.json()["data"]["id"]
    seeded.markers |= {f"imported-{tag}@{tag}-import.test", f"Imported{tag}", f"{tag}.csv"}

    job = w.ok(
        seeded,
        "POST",
        "/api/v1/warmup/bulk-update",
        202,
        json_body={"mailbox_ids": [spare.id], "updates": {"warmup_enabled": True}},
    )
    ids["job_id"] = job["job_id"]
    run_job(tenant.workspace_id, ids["job_id"])
    w.ok(seeded, "PATCH", f"/api/v1/warmup/settings/{mailbox.id}", json_body={"warmup_enabled": True})

    campaign = w.ok(
        seeded,
        "POST",
        "/api/v1/campaigns",
        201,
        json_body={
            "name": f"Campaign {tag}",
            "mailboxIds": [mailbox.id],
            "steps": [{"stepIndex": 0, "subject": f"Subject {tag}", "bodyHtml": f"<p>Body {tag}</p>"}],
        },
    )
    ids["campaign_id"] = campaign["id"]
    seeded.markers |= {f"Campaign {tag}", f"Subject {tag}", f"Body {tag}"}
    steps = w.ok(seeded, "GET", f"/api/v1/campaigns/{ids['campaign_id']}/steps")
    ids["step_id"] = steps[0]["id"]
    variant = w.ok(
        seeded,
        "POST",
        f"/api/v1/campaigns/{ids['campaign_id']}/steps/{ids['step_id']}/variants",
        201,
        json_body={"subject": f"Variant {tag}", "bodyHtml": f"<p>Variant body {tag}</p>"},
    )
    ids["variant_id"] = variant["id"]
    seeded.markers |= {f"Variant {tag}", f"Variant body {tag}"}
    w.ok(
        seeded,
        "POST",
        f"/api/v1/campaigns/{ids['campaign_id']}/enrollments",
        json_body={"prospectIds": [ids["prospect_id"]]},
    )

    hook = w.ok(seeded, "POST", "/api/v1/webhooks", 201, json_body={"url": receiver.url(f"/{tag}"), "events": ["*"]})
    ids["webhook_id"] = hook["id"]
    seeded.markers |= {f"/{tag}", hook["secret"]}
    w.ok(seeded, "POST", f"/api/v1/webhooks/{ids['webhook_id']}/test")
    w.pump_webhooks()
    deliveries = w.ok(seeded, "GET", f"/api/v1/webhooks/{ids['webhook_id']}/deliveries")
    ids["delivery_id"] = deliveries[0]["id"]

    ids["conversation_id"] = conversation(seeded, now)
    linkedin_account(w, seeded)
    # An MCP tool call in the audit log, naming the workspace's mailbox (its id passes the sanitiser).
    audited = AuditService().record(
        workspace_id=tenant.workspace_id,
        key_id=tenant.key_id,
        tool="get_mailbox",
        outcome="ok",
        duration_ms=1.0,
        arguments={"mailbox_id": ids["mailbox_id"]},
    )
    seeded.markers |= {tenant.workspace_id, *ids.values(), audited.id}
    # Both workspaces react to the same public post: its id is no workspace's secret (not a marker).
    ids["post_id"] = SHARED_POST
    return seeded


SHARED_POST = "urn%3Ali%3Aactivity%3A7300000000000000000"


def linkedin_account(w: World, seeded: Seeded) -> None:
    """A connected LinkedIn account (the provider emulator holds it) and its reaction to the shared post."""
    emulator = w.emulator
    assert emulator is not None
    provider_account = emulator.create_account(name=f"Li {seeded.tag} Person", public_identifier=f"li-{seeded.tag}")
    account = LinkedInAccountService().link_existing(seeded.tenant.workspace_id, provider_account.id)
    seeded.ids["account_id"] = account.id
    seeded.markers |= {f"Li {seeded.tag} Person", f"li-{seeded.tag}", provider_account.id}
    w.ok(
        seeded,
        "POST",
        f"/api/v1/linkedin/posts/{SHARED_POST}/reactions",
        201,
        json_body={"linkedin_account_id": account.id, "reaction_type": "LIKE"},
    )


def run_job(workspace_id: str, job_id: str) -> None:
    """What the job state machine does (moto does not run it): prepare, every batch, complete."""
    service = JobService()
    for batch in service.prepare(workspace_id, job_id):
        service.process_batch(workspace_id, job_id, batch.batch_index)
    service.complete(workspace_id, job_id)


@pytest.fixture
def world(aws: None, clock: ManualClock) -> Iterator[World]:
    os.environ.update(ENV)
    sqs = boto3.client("sqs", region_name="us-east-1")
    urls = {var: sqs.create_queue(QueueName=name)["QueueUrl"] for var, name in QUEUES.items()}
    os.environ.update(urls)
    os.environ["KINDLING_KMS_KEY_ID"] = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"][
        "KeyId"
    ]
    os.environ["KINDLING_JOB_STATE_MACHINE_ARN"] = boto3.client(
        "stepfunctions", region_name="us-east-1"
    ).create_state_machine(
        name="jobs",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/jobs",
    )["stateMachineArn"]
    emulator = LinkedInProviderEmulator(clock=clock).start()
    linkedin_env = {
        "KINDLING_LINKEDIN_PROVIDER_URL": emulator.api_url,
        "KINDLING_LINKEDIN_PROVIDER_API_KEY": LOCAL_API_KEY,
        "KINDLING_LINKEDIN_WEBHOOK_SECRET": "isolation-linkedin-secret",
    }
    os.environ.update(linkedin_env)
    reset_settings()
    aws_clients.reset_clients()
    webhook_secrets.clear_cache()
    try:
        with running_receiver() as receiver, TestClient(create_app(), raise_server_exceptions=False) as client:
            queue = urls["KINDLING_WEBHOOK_QUEUE_URL"]
            alpha = seed(client, receiver, queue, make_tenant(name="Alpha Works"), "alpha", clock, emulator)
            clock.advance(timedelta(seconds=1))
            bravo = seed(client, receiver, queue, make_tenant(name="Bravo Works"), "bravo", clock, emulator)
            receiver.reset()
            yield World(client, receiver, urls["KINDLING_WEBHOOK_QUEUE_URL"], clock, alpha, bravo, emulator)
    finally:
        emulator.stop()
        for var in (*ENV, *QUEUES, *linkedin_env, "KINDLING_KMS_KEY_ID", "KINDLING_JOB_STATE_MACHINE_ARN"):
            os.environ.pop(var, None)
        reset_settings()


# --- how each documented route is exercised -----------------------------------------------------------------------

Probe = Callable[[World, Seeded, Seeded], None]  # (world, caller, other)

# Request bodies that are valid for their route, so that only the foreign id can make it fail.
BODIES: dict[str, Any] = {
    "PATCH /api/v1/mailboxes/{mailbox_id}": {"display_name": "Renamed by the other workspace"},
    "PATCH /api/v1/prospects/{prospect_id}": {"firstName": "Renamed"},
    "PATCH /api/v1/lists/{list_id}": {"name": "Renamed list"},
    "POST /api/v1/lists/{list_id}/prospects": {"prospectIds": ["{caller.prospect_id}"]},
    "POST /api/v1/lists/{list_id}/prospects/remove": {"prospectIds": ["{caller.prospect_id}"]},
    "POST /api/v1/imports/{import_id}/mapping-confirm": {"mapping": {"email": "email"}},
    "PATCH /api/v1/webhooks/{webhook_id}": {"isActive": False},
    "PATCH /api/v1/inbox/conversations/{conversation_id}": {"is_read": True},
    "POST /api/v1/inbox/conversations/{conversation_id}/reply": {"content": "Hijacked reply"},
    "PATCH /api/v1/campaigns/{campaign_id}": {"description": "Changed by the other workspace"},
    "POST /api/v1/campaigns/{campaign_id}/steps": {"stepIndex": 1, "subject": "Extra", "bodyHtml": "<p>x</p>"},
    "PATCH /api/v1/campaigns/{campaign_id}/steps/{step_id}": {"subject": "Changed"},
    "POST /api/v1/campaigns/{campaign_id}/steps/{step_id}/variants": {"subject": "Extra", "bodyHtml": "<p>x</p>"},
    "PATCH /api/v1/campaigns/{campaign_id}/steps/{step_id}/variants/{variant_id}": {"subject": "Changed"},
    "POST /api/v1/campaigns/{campaign_id}/mailboxes": {"mailboxId": "{caller.mailbox_id}"},
    "PATCH /api/v1/campaigns/{campaign_id}/mailboxes/{mailbox_id}": {"active": False},
    "POST /api/v1/campaigns/{campaign_id}/enrollments": {"prospectIds": ["{caller.prospect_id}"]},
    "DELETE /api/v1/campaigns/{campaign_id}/enrollments": {"prospectIds": ["{caller.prospect_id}"]},
    "PATCH /api/v1/warmup/settings/{mailbox_id}": {"warmup_enabled": False},
    "PATCH /api/v1/linkedin/accounts/{account_id}": {"strategy": "veteran"},
}


# Routes whose body names resources: called once more with the caller's own path ids and the other workspace's ids
# in the body. Whatever the answer, nothing of the other's may come back or be attached to the caller's data.
FOREIGN_BODIES: dict[str, Any] = {
    "POST /api/v1/lists/{list_id}/prospects": {"prospectIds": ["{other.prospect_id}"]},
    "POST /api/v1/lists/{list_id}/prospects/remove": {"prospectIds": ["{other.prospect_id}"]},
    "POST /api/v1/campaigns/{campaign_id}/mailboxes": {"mailboxId": "{other.mailbox_id}"},
    "POST /api/v1/campaigns/{campaign_id}/enrollments": {
        "prospectIds": ["{other.prospect_id}"],
        "listIds": ["{other.list_id}"],
    },
    "DELETE /api/v1/campaigns/{campaign_id}/enrollments": {"prospectIds": ["{other.prospect_id}"]},
}

# Query parameters a route requires.
QUERIES: dict[str, dict[str, str]] = {
    "GET /api/v1/campaigns/{campaign_id}/contacts/changes": {"updatedSince": "2020-01-01T00:00:00.000Z"},
    "GET /api/v1/campaigns/{campaign_id}/enrollments/changes": {"updatedSince": "2020-01-01T00:00:00.000Z"},
}


def fill(value: Any, caller: Seeded, other: Seeded) -> Any:
    if isinstance(value, str):

        def value_of(m: re.Match[str]) -> str:
            who = caller if m[1] == "caller" else other
            return who.tag if m[2] == "tag" else who.ids[m[2]]

        return re.sub(r"\{(caller|other)\.(\w+)\}", value_of, value)
    if isinstance(value, list):
        return [fill(v, caller, other) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, caller, other) for k, v in value.items()}
    return value


def foreign_ids(route: str) -> Probe:
    """Every id in the path is the other workspace's; below a parent, also the caller's parent with the other's
    child. Both must be 404 `not_found`."""
    method, path = route.split(" ", 1)
    names = re.findall(r"\{(\w+)\}", path)

    def probe(world: World, caller: Seeded, other: Seeded) -> None:
        variants = [dict.fromkeys(names, "other")]
        for child, parent in PARENTS.items():
            if child in names and parent in names:
                variants.append({**dict.fromkeys(names, "caller"), child: "other"})
        for owners in variants:
            concrete = path
            for name in names:
                concrete = concrete.replace("{" + name + "}", (other if owners[name] == "other" else caller).ids[name])
            body = fill(BODIES.get(route), caller, other)
            response = world.call(caller, method, concrete, json_body=body, params=QUERIES.get(route))
            assert response.status_code == 404, (
                f"{method} {concrete} ({owners}): {response.status_code} {response.text}"
            )
            assert response.json()["error"]["code"] == "not_found", response.text
            assert not other.leaked_into(without_ids(response.text, other)), response.text
        if route in FOREIGN_BODIES:
            concrete = re.sub(r"\{(\w+)\}", lambda m: caller.ids[m[1]], path)
            body = fill(FOREIGN_BODIES[route], caller, other)
            response = world.call(caller, method, concrete, json_body=body)
            assert response.status_code in (200, 201, 400, 404), f"{route} {body}: {response.text}"
            assert not other.leaked_into(without_ids(response.text, other)), response.text

    return probe


def without_ids(text: str, other: Seeded) -> str:
    """The response with the other workspace's ids the caller itself sent taken out (an error may echo them)."""
    for value in other.ids.values():
        text = text.replace(value, "")
    return text


def own_view(route: str, *filters: dict[str, Any], statuses: tuple[int, ...] = (200,)) -> Probe:
    """A route without ids: what the caller gets holds nothing of the other workspace's (its whole text), also
    when a filter names the other's ids (then: nothing, or 404)."""
    method, path = route.split(" ", 1)

    def probe(world: World, caller: Seeded, other: Seeded) -> None:
        response = world.call(caller, method, path)
        assert response.status_code == 200, f"{route}: {response.status_code} {response.text}"
        assert not other.leaked_into(response.text), f"{route} leaks {other.leaked_into(response.text)}"
        for params in filters:
            response = world.call(caller, method, path, params=fill(params, caller, other))
            assert response.status_code in statuses, f"{route} {params}: {response.status_code} {response.text}"
            text = without_ids(response.text, other)
            assert not other.leaked_into(text), f"{route} {params} leaks {other.leaked_into(text)}"
            if response.status_code == 200:
                assert response.json()["data"] == [], f"{route} {params}: {response.text}"

    return probe


def refused(route: str, body: Any, statuses: tuple[int, ...] = (400, 404)) -> Probe:
    """A create naming the other workspace's ids is refused, and the refusal names nothing of the other's but the
    ids the caller sent."""
    method, path = route.split(" ", 1)

    def probe(world: World, caller: Seeded, other: Seeded) -> None:
        sent = fill(body, caller, other)
        response = world.call(caller, method, path, json_body=sent)
        assert response.status_code in statuses, f"{route}: {response.status_code} {response.text}"
        assert not other.leaked_into(without_ids(response.text, other)), response.text

    return probe


def same_names_allowed(route: str, body: Any) -> Probe:
    """What is unique is unique per workspace: the caller may create what the other workspace already has."""
    method, path = route.split(" ", 1)

    def probe(world: World, caller: Seeded, other: Seeded) -> None:
        response = world.call(caller, method, path, json_body=fill(body, caller, other))
        assert response.status_code in (200, 201), f"{route}: {response.status_code} {response.text}"

    return probe


def suppression_check(world: World, caller: Seeded, other: Seeded) -> None:
    blocked = f"blocked-{other.tag}@{other.tag}-blocked.test"
    response = world.call(caller, "GET", "/api/v1/suppressions/check", params={"email": blocked})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["blocked"] is False, response.text  # the other's suppression is not the caller's
    assert not other.leaked_into(response.text.replace(blocked, "")), response.text
    own = world.ok(
        caller, "GET", "/api/v1/suppressions/check", params={"email": f"blocked-{caller.tag}@{caller.tag}-blocked.test"}
    )
    assert own["blocked"] is True, own


def bulk_update_of_foreign_mailbox(world: World, caller: Seeded, other: Seeded) -> None:
    body = {"mailbox_ids": [other.ids["mailbox_id"]], "updates": {"warmup_enabled": False}}
    job = world.ok(caller, "POST", "/api/v1/warmup/bulk-update", 202, json_body=body)
    run_job(caller.tenant.workspace_id, job["job_id"])
    done = world.ok(caller, "GET", f"/api/v1/jobs/{job['job_id']}")
    assert done["failed_items"] == 1 and [e["code"] for e in done["errors"]] == ["not_found"], done


def preview_with_foreign_ids(world: World, caller: Seeded, other: Seeded) -> None:
    step = {"subject": "Hi {{firstName}}", "bodyHtml": "<p>Hi {{firstName}} from {{company}}</p>"}
    for foreign in (
        {"campaignId": other.ids["campaign_id"], "stepId": other.ids["step_id"]},
        {"step": step, "prospectId": other.ids["prospect_id"]},
        {"step": step, "mailboxId": other.ids["mailbox_id"]},
    ):
        response = world.call(caller, "POST", "/api/v1/campaigns/steps/preview", json_body=foreign)
        assert response.status_code == 404, f"preview {foreign}: {response.status_code} {response.text}"
        assert not other.leaked_into(without_ids(response.text, other)), response.text


CREATE_MAILBOX = {
    "email_address": "sender-{other_tag}@{other_tag}-mail.test",
    "smtp_host": "127.0.0.1",
    "smtp_port": 1,
    "smtp_security": "none",
    "smtp_username": "u",
    "smtp_password": "Sup3r-Secret-Pa55word!",
    "imap_host": "127.0.0.1",
    "imap_port": 1,
    "imap_security": "none",
    "imap_username": "u",
    "imap_password": "Sup3r-Secret-Pa55word!",
}


def create_mailbox_with_the_others_address(world: World, caller: Seeded, other: Seeded) -> None:
    body = {k: v.replace("{other_tag}", other.tag) if isinstance(v, str) else v for k, v in CREATE_MAILBOX.items()}
    response = world.call(caller, "POST", "/api/v1/mailboxes", json_body=body)
    assert response.status_code in (201, 202), f"{response.status_code} {response.text}"  # not 409: per workspace
    mine = response.json()["data"]
    assert mine["id"] != other.ids["mailbox_id"]
    world.ok(caller, "DELETE", f"/api/v1/mailboxes/{mine['id']}")  # keeps the caller's own lists as they were


def connection_test_names_no_ids(world: World, caller: Seeded, other: Seeded) -> None:
    # The synchronous connection test takes credentials, not ids: nothing of another workspace can be named. It
    # answers with the caller's own attempt only.
    body = {k: v.replace("{other_tag}", caller.tag) if isinstance(v, str) else v for k, v in CREATE_MAILBOX.items()}
    response = world.call(caller, "POST", "/api/v1/mailboxes/test", json_body=body)
    assert response.status_code == 200, response.text
    assert not other.leaked_into(response.text), response.text


def reply_event(world: World, owner: Seeded) -> str:
    """A `reply.received` event in the owner's workspace, for its campaign, fanned out and delivered."""
    data = {
        "prospectId": owner.ids["prospect_id"],
        "prospectEmail": f"lead-{owner.tag}@{owner.tag}-leads.test",
        "campaignId": owner.ids["campaign_id"],
        "mailboxId": owner.ids["mailbox_id"],
        "subject": f"Re: Subject {owner.tag}",
        "messageId": f"<fan-out-{owner.tag}-{new_uuid()}@test>",
        "receivedAt": "2026-06-10T09:00:00.000Z",
    }
    event = emit_event(EventService(), owner.tenant.workspace_id, "reply.received", data)
    assert event is not None
    world.pump_webhooks()
    return event.id


def webhook_filtered_on_the_others_campaign(world: World, caller: Seeded, other: Seeded) -> None:
    """A filter naming another workspace's campaign matches nothing: that campaign's events stay the other's."""
    url = world.receiver.url(f"/intruder-{caller.tag}")
    body = {"url": url, "events": ["*"], "campaignIds": [other.ids["campaign_id"]]}
    created = world.ok(caller, "POST", "/api/v1/webhooks", 201, json_body=body)
    try:
        assert not other.leaked_into(without_ids(json.dumps(created), other)), created
        reply_event(world, other)
        assert world.receiver.received(f"/intruder-{caller.tag}") == []
        assert len(world.receiver.received(f"/{other.tag}")) >= 1
    finally:
        deleted = world.call(caller, "DELETE", f"/api/v1/webhooks/{created['id']}")
        assert deleted.status_code == 204, deleted.text


def import_into_foreign_list(world: World, caller: Seeded, other: Seeded) -> None:
    csv = b"email\nnew-person@import.test\n"
    response = world.call(
        caller,
        "POST",
        "/api/v1/imports",
        files={"file": ("x.csv", csv, "text/csv")},
        data={"listId": other.ids["list_id"]},
    )
    assert response.status_code in (400, 404), f"{response.status_code} {response.text}"
    assert not other.leaked_into(without_ids(response.text, other)), response.text


def new_conversation_from_foreign_mailbox(world: World, caller: Seeded, other: Seeded) -> None:
    body = {
        "mailbox_id": other.ids["mailbox_id"],
        "to": [{"email": "someone@else.test"}],
        "subject": "Hi",
        "content": "Hi",
    }
    response = world.call(caller, "POST", "/api/v1/inbox/conversations", json_body=body)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", response.text


def reactions_seen_by_their_own_workspace(world: World, caller: Seeded, other: Seeded) -> None:
    """Both workspaces reacted to the same post: each lists its own reaction and nothing of the other's."""
    listed = world.ok(caller, "GET", f"/api/v1/linkedin/posts/{SHARED_POST}/reactions")
    assert [r["linkedin_account_id"] for r in listed] == [caller.ids["account_id"]], listed
    assert not other.leaked_into(json.dumps(listed)), listed


def react_with_the_others_account(world: World, caller: Seeded, other: Seeded) -> None:
    """A reaction from the other workspace's account is refused (404) and reaches no provider."""
    body = {"linkedin_account_id": other.ids["account_id"], "reaction_type": "LIKE"}
    sent = len(world.emulator.requests) if world.emulator else 0
    response = world.call(caller, "POST", f"/api/v1/linkedin/posts/{SHARED_POST}/reactions", json_body=body)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"
    assert not other.leaked_into(without_ids(response.text, other)), response.text
    assert (len(world.emulator.requests) if world.emulator else 0) == sent


def bounce_shield_is_per_workspace(world: World, caller: Seeded, other: Seeded) -> None:
    """The caller's PATCH answers with its own settings and leaves the other's as they were. (It re-sends a value
    the caller already has: an unchanged PATCH writes nothing, so the before/after comparison below holds.)"""
    before = world.ok(other, "GET", "/api/v1/bounce-shield")
    own = world.ok(caller, "PATCH", "/api/v1/bounce-shield", json_body={"thresholdPercent": 8})
    assert not other.leaked_into(json.dumps(own)), own
    assert world.ok(other, "GET", "/api/v1/bounce-shield") == before


def notification_settings_are_per_workspace(world: World, caller: Seeded, other: Seeded) -> None:
    """The caller's notification address is its own: the other workspace's settings stay as they were. (It re-sends
    the value the caller has, none, so its own readable state is unchanged too.)"""
    before = world.ok(other, "GET", "/api/v1/notification-settings")
    own = world.ok(caller, "PATCH", "/api/v1/notification-settings", json_body={"notificationEmail": None})
    assert own["notificationEmail"] is None and not other.leaked_into(json.dumps(own)), own
    assert world.ok(other, "GET", "/api/v1/notification-settings") == before


ROUTES: dict[str, Probe] = {
    "GET /api/v1/me": own_view("GET /api/v1/me"),
    "GET /api/v1/mcp/audit": own_view("GET /api/v1/mcp/audit"),
    "GET /api/v1/notification-settings": own_view("GET /api/v1/notification-settings"),
    "PATCH /api/v1/notification-settings": notification_settings_are_per_workspace,
    "GET /api/v1/bounce-shield": own_view("GET /api/v1/bounce-shield"),
    "PATCH /api/v1/bounce-shield": bounce_shield_is_per_workspace,
    "GET /api/v1/jobs/{job_id}": foreign_ids("GET /api/v1/jobs/{job_id}"),
    "GET /api/v1/mailboxes": own_view("GET /api/v1/mailboxes"),
    "POST /api/v1/mailboxes": create_mailbox_with_the_others_address,
    "POST /api/v1/mailboxes/test": connection_test_names_no_ids,
    # The other's prospect email is free in the caller's workspace (and stays the other's prospect).
    "POST /api/v1/prospects": same_names_allowed(
        "POST /api/v1/prospects", {"email": "lead-{other.tag}@{other.tag}-leads.test"}
    ),
    "GET /api/v1/prospects": own_view(
        "GET /api/v1/prospects",
        {"listId": "{other.list_id}"},
        {"email": "lead-{other.tag}@{other.tag}-leads.test"},
        statuses=(200, 404),
    ),
    "GET /api/v1/lists": own_view("GET /api/v1/lists"),
    "POST /api/v1/lists": same_names_allowed("POST /api/v1/lists", {"name": "Shared name"}),
    # Suppressing the other's prospect address suppresses it in the caller's workspace only.
    "POST /api/v1/prospects/suppress": same_names_allowed(
        "POST /api/v1/prospects/suppress", {"emails": ["lead-{other.tag}@{other.tag}-leads.test"]}
    ),
    "GET /api/v1/suppressions": own_view("GET /api/v1/suppressions"),
    "POST /api/v1/suppressions": same_names_allowed(
        "POST /api/v1/suppressions", {"type": "domain", "value": "shared-domain.test"}
    ),
    "GET /api/v1/suppressions/check": suppression_check,
    "POST /api/v1/imports": import_into_foreign_list,
    "GET /api/v1/webhooks": own_view("GET /api/v1/webhooks"),
    "POST /api/v1/webhooks": webhook_filtered_on_the_others_campaign,
    "GET /api/v1/inbox/conversations": own_view(
        "GET /api/v1/inbox/conversations",
        {"campaign_id": "{other.campaign_id}"},
        {"mailbox_id": "{other.mailbox_id}"},
        {"search": "{other.tag}"},
        statuses=(200, 404),
    ),
    "POST /api/v1/inbox/conversations": new_conversation_from_foreign_mailbox,
    "GET /api/v1/campaigns": own_view("GET /api/v1/campaigns"),
    "POST /api/v1/campaigns": refused(
        "POST /api/v1/campaigns",
        {
            "name": "Borrowed",
            "mailboxIds": ["{other.mailbox_id}"],
            "steps": [{"stepIndex": 0, "subject": "s", "bodyHtml": "<p>b</p>"}],
        },
    ),
    "POST /api/v1/campaigns/steps/preview": preview_with_foreign_ids,
    "GET /api/v1/warmup/stats": own_view("GET /api/v1/warmup/stats"),
    "POST /api/v1/warmup/bulk-update": bulk_update_of_foreign_mailbox,
    "GET /api/v1/linkedin/accounts": own_view("GET /api/v1/linkedin/accounts"),
    "POST /api/v1/linkedin/accounts/connect": same_names_allowed("POST /api/v1/linkedin/accounts/connect", None),
    "GET /api/v1/linkedin/posts/{post_id}/reactions": reactions_seen_by_their_own_workspace,
    "POST /api/v1/linkedin/posts/{post_id}/reactions": react_with_the_others_account,
}
ID_ROUTES = [
    "GET /api/v1/mailboxes/{mailbox_id}",
    "PATCH /api/v1/mailboxes/{mailbox_id}",
    "DELETE /api/v1/mailboxes/{mailbox_id}",
    "POST /api/v1/mailboxes/{mailbox_id}/restore",
    "POST /api/v1/mailboxes/{mailbox_id}/test",
    "GET /api/v1/prospects/{prospect_id}",
    "PATCH /api/v1/prospects/{prospect_id}",
    "GET /api/v1/lists/{list_id}",
    "PATCH /api/v1/lists/{list_id}",
    "DELETE /api/v1/lists/{list_id}",
    "POST /api/v1/lists/{list_id}/prospects",
    "POST /api/v1/lists/{list_id}/prospects/remove",
    "DELETE /api/v1/suppressions/{entry_id}",
    "GET /api/v1/imports/{import_id}",
    "GET /api/v1/imports/{import_id}/mapping-preview",
    "POST /api/v1/imports/{import_id}/mapping-confirm",
    "GET /api/v1/webhooks/{webhook_id}",
    "PATCH /api/v1/webhooks/{webhook_id}",
    "DELETE /api/v1/webhooks/{webhook_id}",
    "POST /api/v1/webhooks/{webhook_id}/test",
    "POST /api/v1/webhooks/{webhook_id}/pause",
    "POST /api/v1/webhooks/{webhook_id}/resume",
    "POST /api/v1/webhooks/{webhook_id}/rotate-secret",
    "GET /api/v1/webhooks/{webhook_id}/deliveries",
    "POST /api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay",
    "GET /api/v1/inbox/conversations/{conversation_id}",
    "PATCH /api/v1/inbox/conversations/{conversation_id}",
    "POST /api/v1/inbox/conversations/{conversation_id}/reply",
    "GET /api/v1/campaigns/{campaign_id}",
    "PATCH /api/v1/campaigns/{campaign_id}",
    "POST /api/v1/campaigns/{campaign_id}/start",
    "POST /api/v1/campaigns/{campaign_id}/pause",
    "GET /api/v1/campaigns/{campaign_id}/preflight",
    "GET /api/v1/campaigns/{campaign_id}/stats",
    "GET /api/v1/campaigns/{campaign_id}/steps",
    "POST /api/v1/campaigns/{campaign_id}/steps",
    "GET /api/v1/campaigns/{campaign_id}/steps/{step_id}",
    "PATCH /api/v1/campaigns/{campaign_id}/steps/{step_id}",
    "DELETE /api/v1/campaigns/{campaign_id}/steps/{step_id}",
    "GET /api/v1/campaigns/{campaign_id}/steps/{step_id}/variants",
    "POST /api/v1/campaigns/{campaign_id}/steps/{step_id}/variants",
    "PATCH /api/v1/campaigns/{campaign_id}/steps/{step_id}/variants/{variant_id}",
    "DELETE /api/v1/campaigns/{campaign_id}/steps/{step_id}/variants/{variant_id}",
    "GET /api/v1/campaigns/{campaign_id}/mailboxes",
    "POST /api/v1/campaigns/{campaign_id}/mailboxes",
    "PATCH /api/v1/campaigns/{campaign_id}/mailboxes/{mailbox_id}",
    "DELETE /api/v1/campaigns/{campaign_id}/mailboxes/{mailbox_id}",
    "POST /api/v1/campaigns/{campaign_id}/enrollments",
    "DELETE /api/v1/campaigns/{campaign_id}/enrollments",
    "GET /api/v1/campaigns/{campaign_id}/enrollments",
    "GET /api/v1/campaigns/{campaign_id}/contacts",
    "GET /api/v1/campaigns/{campaign_id}/contacts/changes",
    "GET /api/v1/campaigns/{campaign_id}/enrollments/changes",
    "GET /api/v1/warmup/stats/{mailbox_id}",
    "PATCH /api/v1/warmup/settings/{mailbox_id}",
    "GET /api/v1/linkedin/accounts/{account_id}",
    "PATCH /api/v1/linkedin/accounts/{account_id}",
    "DELETE /api/v1/linkedin/accounts/{account_id}",
    "POST /api/v1/linkedin/accounts/{account_id}/reconnect",
]
ROUTES.update({route: foreign_ids(route) for route in ID_ROUTES})


def documented_routes() -> set[str]:
    app = create_app()
    app.load_all_routers()
    return {f"{method.upper()} {path}" for path, ops in app.openapi()["paths"].items() for method in ops}


def readable(world: World, who: Seeded) -> dict[str, Any]:
    """Everything the workspace can read through the API's GET routes, by route (ids filled with its own)."""
    seen: dict[str, Any] = {}
    for route in sorted(ROUTES):
        method, path = route.split(" ", 1)
        if method != "GET" or path == "/api/v1/suppressions/check":
            continue
        concrete = re.sub(r"\{(\w+)\}", lambda m: who.ids[m[1]], path)
        response = world.call(who, "GET", concrete, params=QUERIES.get(route))
        assert response.status_code == 200, f"{route}: {response.text}"
        body = response.json()
        seen[route] = body.get("data", body)  # /me answers without the data envelope
    return seen


def test_the_table_covers_exactly_the_documented_routes() -> None:
    documented = documented_routes()
    assert len(documented) >= 78
    assert set(ROUTES) == documented, {
        "documented but not exercised": sorted(documented - set(ROUTES)),
        "exercised but not documented": sorted(set(ROUTES) - documented),
    }


def test_two_workspaces_see_and_touch_nothing_of_each_other(world: World) -> None:
    assert set(ROUTES) == documented_routes()
    alpha, bravo = world.alpha, world.bravo
    # The seeds really hold the same kinds of data, each visible to its owner.
    before = {who.tag: readable(world, who) for who in (alpha, bravo)}
    for who in (alpha, bravo):
        shown = json.dumps(before[who.tag])
        kinds = ("mailbox_id", "prospect_id", "list_id", "entry_id", "campaign_id", "webhook_id", "conversation_id")
        assert all(who.ids[kind] in shown for kind in kinds), who.tag

    for route, probe in sorted(ROUTES.items()):
        for caller, other in ((bravo, alpha), (alpha, bravo)):
            try:
                probe(world, caller, other)
            except AssertionError as failure:
                raise AssertionError(f"{route} as {caller.tag} against {other.tag}: {failure}") from failure

    # Nothing either workspace did to the other's ids changed what the other reads, and nothing of the other's got
    # attached to its own data (a list member, an enrollment, a campaign mailbox).
    after = {who.tag: readable(world, who) for who in (alpha, bravo)}
    for who, other in ((alpha, bravo), (bravo, alpha)):
        for route, was in before[who.tag].items():
            assert_kept(route, was, after[who.tag][route])
        # Its own prospect and suppression with the other's address (same_names_allowed) are its own, not a leak.
        shared = {f"lead-{other.tag}@{other.tag}-leads.test"}
        for route, data in after[who.tag].items():
            leaked = other.leaked_into(json.dumps(data)) - shared
            assert not leaked, f"{who.tag} reads {leaked} of {other.tag} in {route}"


def assert_kept(route: str, was: Any, now: Any) -> None:
    """What a workspace read before is still there, unchanged. A list may have grown by the workspace's own
    creates (its probes add a prospect, a list, a suppression of their own), but every item it showed before is
    still shown, exactly as it was."""
    if isinstance(was, list) and all(isinstance(item, dict) and "id" in item for item in was):
        by_id = {item["id"]: item for item in now}
        for item in was:
            assert by_id.get(item["id"]) == item, f"{route}: {item['id']} changed or went away"
    else:
        assert now == was, route


def test_an_event_is_delivered_to_its_own_workspace_only(world: World) -> None:
    for owner, other in ((world.bravo, world.alpha), (world.alpha, world.bravo)):
        world.receiver.reset()
        event_id = reply_event(world, owner)
        assert len(world.receiver.received(f"/{owner.tag}")) == 1
        assert world.receiver.received(f"/{other.tag}") == []
        assert [r.path for r in world.receiver.received()] == [f"/{owner.tag}"]
        # The other workspace's delivery log holds nothing of this event either.
        deliveries = world.ok(other, "GET", f"/api/v1/webhooks/{other.ids['webhook_id']}/deliveries")
        assert event_id not in json.dumps(deliveries)
