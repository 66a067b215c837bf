"""The sending engine end to end on the local stack: campaigns created and started over HTTP, the scheduler
function ticking on an injected clock, the send queue's poller feeding the sender function, real SMTP into the
mail lab and IMAP reads of each recipient's INBOX.

- a three-step campaign (window and days in Europe/Paris, a reply step, a daily cap, a pacer): every message
  arrives once, rendered, threaded, inside the window, within the cap and the pacer's spacing;
- the sender killed mid-batch: what it had sent is never resent, what it had not is sent once;
- the same queue message delivered twice: sent once;
- two pollers draining a queue that holds the same message twice, both invocations released together at the gate:
  sent once.
"""

from __future__ import annotations

import email
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import parsedate_to_datetime
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import httpx
import pytest

import kindling.sending.sender as sender_module
from devstack.maillab import MailAccount, MailLab
from devstack.runtime import LocalStack
from devstack.sqs import SqsPoller
from kindling.enrollments.repository import EnrollmentRepository
from kindling.platform.clock import ManualClock, set_clock
from kindling.platform.settings import get_settings
from kindling.sending.ledger import SendLedgerRepository
from kindling.sending.repository import SendingRepository
from tests.e2e.support import SCHEDULED, connect_account, lab_of, own_workspace

pytestmark = pytest.mark.mail

MONDAY_EARLY = datetime(2026, 6, 15, 6, 0, tzinfo=UTC)  # 08:00 in Paris, before the 09:00 window opens
PARIS = ZoneInfo("Europe/Paris")


class Killed(Exception):
    """The sender process dying at a chosen point."""


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(MONDAY_EARLY)
    previous = set_clock(manual)
    yield manual
    set_clock(previous)
    sender_module.fault_hook = None


def fresh(lab: MailLab, name: str) -> MailAccount:
    return lab.add_account(f"send-{name}-{uuid.uuid4().hex[:8]}@lab-mail.test", "Lab-pass-1234", "lab-mail")


def prospect(client: httpx.Client, account: MailAccount, first: str) -> str:
    created = client.post("/api/v1/prospects", json={"email": account.email, "firstName": first, "company": "Lab Co"})
    assert created.status_code == 201, created.text
    return str(created.json()["data"]["id"])


def start_campaign(client: httpx.Client, clock: ManualClock, body: dict[str, Any]) -> tuple[str, str]:
    created = client.post("/api/v1/campaigns", json=body)
    assert created.status_code == 201, created.text
    campaign_id = str(created.json()["data"]["id"])
    started = client.post(f"/api/v1/campaigns/{campaign_id}/start")
    assert started.status_code == 200, started.text
    workspace_id = str(client.get("/api/v1/me").json()["workspace"]["id"])
    # Enrollments made before the enrollment module sets their due keys itself get them here (a no-op once it
    # does): what the scheduler reads.
    SendingRepository().schedule_pending(workspace_id, campaign_id, clock.now())
    return workspace_id, campaign_id


def tick(stack: LocalStack, clock: ManualClock) -> dict[str, Any]:
    report: dict[str, Any] = stack.invoke("SchedulerFunction", {**SCHEDULED, "time": clock.now().isoformat()})
    stack.drain(timeout=90)
    return report


def inbox(lab: MailLab, account: MailAccount) -> list[Message]:
    return [email.message_from_bytes(raw) for raw in lab.fetch_raw(account.email)]


def next_due(workspace_id: str, campaign_id: str) -> datetime | None:
    enrollments, _ = EnrollmentRepository().page(workspace_id, campaign_id, None, 100, None)
    pending = [e.next_send_at for e in enrollments if e.status in ("pending", "active") and e.next_send_at]
    return min(pending, default=None)


def run_until_done(
    stack: LocalStack, clock: ManualClock, workspace_id: str, campaign_id: str, max_ticks: int = 800
) -> None:
    """Tick minute by minute while sends happen, jump (in whole minutes, so pacer slots stay on tick times) to
    the next due send otherwise, until every enrollment has left the sequence."""
    for _ in range(max_ticks):
        tick(stack, clock)
        upcoming = next_due(workspace_id, campaign_id)
        if upcoming is None:
            return
        gap = (upcoming - clock.now()).total_seconds()
        clock.advance(timedelta(minutes=max(1, math.ceil(gap / 60))))
    raise AssertionError("the campaign did not finish")


def sent_at(message: Message) -> datetime:
    return parsedate_to_datetime(str(message["Date"])).astimezone(UTC)


def test_three_step_campaign_over_smtp_and_imap(local_stack: LocalStack, clock: ManualClock) -> None:
    lab = lab_of(local_stack)
    sender = fresh(lab, "pat")
    people = {name: fresh(lab, name.lower()) for name in ("Ann", "Ben", "Cat", "Dan")}
    headers = own_workspace(local_stack, "E2E sending")
    with httpx.Client(base_url=local_stack.api_url, headers=headers, timeout=60) as client:
        mailbox_id = connect_account(client, local_stack, sender, "Pat from Kindling")["id"]
        ids = [prospect(client, account, name) for name, account in people.items()]
        workspace_id, campaign_id = start_campaign(
            client,
            clock,
            {
                "name": "E2E sending",
                "mailboxIds": [mailbox_id],
                "prospectIds": ids,
                "timezone": "Europe/Paris",
                "sendingWindowStart": "09:00",
                "sendingWindowEnd": "17:00",
                "scheduleDays": [1, 2, 3, 4, 5],
                "dailySendLimit": 3,
                "minutesBetweenSends": 2,
                "steps": [
                    {
                        "stepIndex": 0,
                        "subject": "Hello {{firstName}}",
                        "bodyHtml": '<p>Hi {{firstName}} at {{company}}, see <a href="https://kindling.test/demo">'
                        "our demo</a>.</p>",
                    },
                    {
                        "stepIndex": 1,
                        "subject": "",
                        "bodyHtml": "<p>Bumping this, {{firstName}}.</p>",
                        "sendAsReply": True,
                        "delayDays": 1,
                    },
                    {
                        "stepIndex": 2,
                        "subject": "Last note for {{firstName}}",
                        "bodyHtml": "<p>Bye.</p>",
                        "delayDays": 2,
                    },
                ],
            },
        )
        first = tick(local_stack, clock)
        assert first["claimed"] == 0 and first["rescheduled"] == 4  # 08:00 in Paris: before the window
        run_until_done(local_stack, clock, workspace_id, campaign_id)

        campaign = client.get(f"/api/v1/campaigns/{campaign_id}").json()["data"]
        assert campaign["status"] == "completed"

    ledger = SendLedgerRepository()
    everything: list[Message] = []
    for name, account in people.items():
        messages = sorted(inbox(lab, account), key=sent_at)
        assert len(messages) == 3, f"{name} got {len(messages)} messages"  # exactly once each
        one, two, three = messages
        assert [str(m["Subject"]) for m in messages] == [f"Hello {name}", f"Re: Hello {name}", f"Last note for {name}"]
        assert all(str(m["From"]) == f"Pat from Kindling <{sender.email}>" for m in messages)
        assert len({m["Message-ID"] for m in messages}) == 3
        assert two["In-Reply-To"] == one["Message-ID"] and two["References"] == one["Message-ID"]
        assert three["In-Reply-To"] is None
        html = next(p for p in one.walk() if p.get_content_type() == "text/html").get_payload(decode=True).decode()
        assert f"Hi {name} at Lab Co" in html
        assert f"{local_stack.api_url}/t/c/" in html and f"{local_stack.api_url}/t/o/" in html
        assert "https://kindling.test/demo" not in html  # the link is rewritten for click tracking
        assert one["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert f"<{local_stack.api_url}/u/" in str(one["List-Unsubscribe"]).replace("\r\n", "").replace(" ", "")
        found = ledger.find_by_message_ids(workspace_id, [str(one["Message-ID"])])
        assert found is not None and found.status == "sent" and found.recipient == account.email
        assert sent_at(two) - sent_at(one) >= timedelta(days=1)
        assert sent_at(three) - sent_at(two) >= timedelta(days=2)
        everything += messages

    per_day: dict[str, int] = {}
    for message in everything:
        local = sent_at(message).astimezone(PARIS)
        assert local.isoweekday() <= 5 and 9 <= local.hour < 17, f"sent outside the window: {local}"
        per_day[local.date().isoformat()] = per_day.get(local.date().isoformat(), 0) + 1
    assert max(per_day.values()) <= 3, per_day  # dailySendLimit
    times = sorted(sent_at(m) for m in everything)
    assert all(b - a >= timedelta(minutes=2) for a, b in pairwise(times))  # the pacer


def test_sender_killed_mid_batch(local_stack: LocalStack, clock: ManualClock) -> None:
    lab = lab_of(local_stack)
    sender = fresh(lab, "kim")
    people = [fresh(lab, f"k{n}") for n in range(4)]
    headers = own_workspace(local_stack, "E2E sending crash")
    clock.set(datetime(2026, 6, 16, 10, 0, tzinfo=UTC))
    with httpx.Client(base_url=local_stack.api_url, headers=headers, timeout=60) as client:
        mailbox_id = connect_account(client, local_stack, sender, "Kim")["id"]
        ids = [prospect(client, account, f"K{n}") for n, account in enumerate(people)]
        workspace_id, campaign_id = start_campaign(
            client,
            clock,
            {
                "name": "E2E crash",
                "mailboxIds": [mailbox_id],
                "prospectIds": ids,
                "minutesBetweenSends": 0,
                "scheduleDays": [1, 2, 3, 4, 5, 6, 7],
                "steps": [{"stepIndex": 0, "subject": "Once only", "bodyHtml": "<p>Hello {{firstName}}</p>"}],
            },
        )
        gates: list[str] = []

        def die_at_the_third_message(point: str, send_id: str) -> None:
            if point == "gate":
                gates.append(send_id)
                if len(gates) == 3:
                    raise Killed("the sender process died before its third message")

        before = len(local_stack.invocations)
        sender_module.fault_hook = die_at_the_third_message
        report = local_stack.invoke("SchedulerFunction", {**SCHEDULED, "time": clock.now().isoformat()})
        assert report["claimed"] == 4
        crashed = wait_for_sender_batch(local_stack, before, workspace_id)  # the poller's invocation dies mid-batch
        sender_module.fault_hook = None
        assert sorted(len(inbox(lab, a)) for a in people) == [0, 0, 1, 1]

        # Ten minutes later the watchdog settles the two that went out (`unknown`, never resent) and re-queues the
        # two that never reached SMTP (the crashed batch's messages are still invisible: the queue's timeout).
        clock.advance(timedelta(minutes=11))
        report = local_stack.invoke("SchedulerFunction", {**SCHEDULED, "time": clock.now().isoformat()})
        assert report["resolved_unknown"] == 2 and report["recovered"] == 2
        wait_until(lambda: all(len(inbox(lab, a)) == 1 for a in people))
        # Then the queue hands the crashed batch out again (as SQS does once its visibility timeout ends): every
        # gate refuses, nothing goes out twice.
        sqs = boto3.client("sqs", endpoint_url=local_stack.endpoint_url, region_name=local_stack.region)
        for record in crashed["Records"]:
            sqs.change_message_visibility(
                QueueUrl=get_settings().send_queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
            )
        local_stack.drain(timeout=90)
        assert {a.email: len(inbox(lab, a)) for a in people} == {a.email: 1 for a in people}
        statuses = sorted(s["status"] for s in _ledger_statuses(workspace_id, campaign_id))
        assert statuses == ["sent", "sent", "unknown", "unknown"]
        assert client.get(f"/api/v1/campaigns/{campaign_id}").json()["data"]["status"] == "completed"


def wait_for_sender_batch(stack: LocalStack, since: int, workspace_id: str, timeout: float = 60) -> dict[str, Any]:
    """The sender invocation the poller made for this workspace's jobs, once the poller is idle again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for logical_id, event in list(stack.invocations)[since:]:
            records = event.get("Records", []) if isinstance(event, dict) else []
            if logical_id == "SenderFunction" and any(workspace_id in r["body"] for r in records):
                wait_until(lambda: not any(p.busy for p in stack.pollers))
                return dict(event)
        time.sleep(0.05)
    raise AssertionError("the sender was never invoked")


def wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


def test_the_same_queue_message_delivered_twice(local_stack: LocalStack, clock: ManualClock) -> None:
    lab = lab_of(local_stack)
    sender = fresh(lab, "dup")
    people = [fresh(lab, f"d{n}") for n in range(2)]
    headers = own_workspace(local_stack, "E2E sending duplicate")
    clock.set(datetime(2026, 6, 17, 10, 0, tzinfo=UTC))
    with httpx.Client(base_url=local_stack.api_url, headers=headers, timeout=60) as client:
        mailbox_id = connect_account(client, local_stack, sender, "Dee")["id"]
        ids = [prospect(client, account, f"D{n}") for n, account in enumerate(people)]
        workspace_id, campaign_id = start_campaign(
            client,
            clock,
            {
                "name": "E2E duplicate",
                "mailboxIds": [mailbox_id],
                "prospectIds": ids,
                "minutesBetweenSends": 0,
                "scheduleDays": [1, 2, 3, 4, 5, 6, 7],
                "steps": [{"stepIndex": 0, "subject": "Just once", "bodyHtml": "<p>Hello {{firstName}}</p>"}],
            },
        )
        before = len(local_stack.invocations)
        assert tick(local_stack, clock)["claimed"] == 2
        batches = [
            event
            for logical_id, event in list(local_stack.invocations)[before:]
            if logical_id == "SenderFunction"
            and any(workspace_id in record["body"] for record in event.get("Records", []))
        ]
        bodies = [r["body"] for event in batches for r in event["Records"]]
        assert len(bodies) == 2
        # Delivered again by the queue (a second copy of each message), and the same batch retried by Lambda.
        sqs = boto3.client("sqs", endpoint_url=local_stack.endpoint_url, region_name=local_stack.region)
        for body in bodies:
            sqs.send_message(QueueUrl=get_settings().send_queue_url, MessageBody=body)
        local_stack.drain(timeout=90)
        for event in batches:
            assert local_stack.invoke("SenderFunction", event) == {"batchItemFailures": []}
        assert [len(inbox(lab, a)) for a in people] == [1, 1]
        assert sorted(s["status"] for s in _ledger_statuses(workspace_id, campaign_id)) == ["sent", "sent"]


def _ledger_statuses(workspace_id: str, campaign_id: str) -> list[dict[str, Any]]:
    from kindling.campaigns.repository import CampaignRepository
    from kindling.sending.ledger import send_id_for

    steps = CampaignRepository().get(workspace_id, campaign_id).steps
    enrollments, _ = EnrollmentRepository().page(workspace_id, campaign_id, None, 100, None)
    ledger = SendLedgerRepository()
    found = ledger.get_many(workspace_id, [send_id_for(e.id, steps[0].id) for e in enrollments])
    return [{"status": r.status, "recipient": r.recipient} for r in found.values()]


def test_two_pollers_race_on_the_same_message_twice(local_stack: LocalStack, clock: ManualClock) -> None:
    """A second poller on the send queue (Lambda runs concurrent pollers too), the queue holding the same message
    twice: each poller's sender invocation gets one copy, and both are held right before the gate until the other
    is there, so their conditional writes race. One DATA, one `sent`."""
    lab = lab_of(local_stack)
    sender = fresh(lab, "race")
    person = fresh(lab, "r0")
    headers = own_workspace(local_stack, "E2E sending race")
    clock.set(datetime(2026, 6, 18, 10, 0, tzinfo=UTC))
    send_source = next(p.source for p in local_stack.pollers if p.source.function_id == "SenderFunction")
    assert local_stack.runtime is not None
    second = SqsPoller(
        send_source, local_stack.client("sqs"), local_stack.runtime.invoke, region=local_stack.region, wait_seconds=1
    )
    barrier = threading.Barrier(2, timeout=60)
    arrivals: list[int] = []

    def release_together(point: str, send_id: str) -> None:
        if point == "gate":
            arrivals.append(threading.get_ident())
            barrier.wait()

    with httpx.Client(base_url=local_stack.api_url, headers=headers, timeout=60) as client:
        mailbox_id = connect_account(client, local_stack, sender, "Rae")["id"]
        ids = [prospect(client, person, "R0")]
        workspace_id, campaign_id = start_campaign(
            client,
            clock,
            {
                "name": "E2E race",
                "mailboxIds": [mailbox_id],
                "prospectIds": ids,
                "minutesBetweenSends": 0,
                "scheduleDays": [1, 2, 3, 4, 5, 6, 7],
                "steps": [{"stepIndex": 0, "subject": "Only once", "bodyHtml": "<p>Hello {{firstName}}</p>"}],
            },
        )
        second.start()
        try:
            sender_module.fault_hook = release_together
            before = len(local_stack.invocations)
            report = local_stack.invoke("SchedulerFunction", {**SCHEDULED, "time": clock.now().isoformat()})
            assert report["claimed"] == 1
            # One poller's sender invocation holds the message and waits at the gate; the queue gets the same
            # message again, which only the other (idle) poller can take.
            body = wait_for_sender_body(local_stack, before, workspace_id)
            sqs = boto3.client("sqs", endpoint_url=local_stack.endpoint_url, region_name=local_stack.region)
            sqs.send_message(QueueUrl=get_settings().send_queue_url, MessageBody=body)
            wait_until(lambda: len(arrivals) == 2 and not second.busy and not any(p.busy for p in local_stack.pollers))
            assert len(inbox(lab, person)) == 1  # both invocations are done: one DATA
            local_stack.drain(timeout=90)
        finally:
            sender_module.fault_hook = None
            second.stop()
        assert len(set(arrivals)) == 2, arrivals  # two invocations on two poller threads met at the gate
        assert [logical_id for logical_id, _ in list(local_stack.invocations)[before:]].count("SenderFunction") >= 2
        assert second.batches >= 1
        assert len(inbox(lab, person)) == 1
        assert [s["status"] for s in _ledger_statuses(workspace_id, campaign_id)] == ["sent"]


def wait_for_sender_body(stack: LocalStack, since: int, workspace_id: str, timeout: float = 60) -> str:
    """The body of the send-queue message a sender invocation for this workspace received."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for logical_id, event in list(stack.invocations)[since:]:
            records = event.get("Records", []) if isinstance(event, dict) else []
            for record in records:
                if logical_id == "SenderFunction" and workspace_id in record["body"]:
                    return str(record["body"])
        time.sleep(0.05)
    raise AssertionError("the sender was never invoked")
