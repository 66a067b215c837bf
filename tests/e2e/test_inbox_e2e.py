"""The inbox sync end to end on the local stack: a campaign really sent through the mail lab (scheduler -> send
queue -> sender -> SMTP), recipients answering over SMTP (an interested reply, a German auto-reply) and a bounce
report (a DSN appended to the sender's INBOX); then the schedule's fan-out -> sync queue -> inbox sync function
(real Dovecot). Enrollment states, suppression, webhooks, conversations and labels are checked over HTTP, a
reply goes out from the unified inbox, and an idle sync costs no FETCH."""

from __future__ import annotations

import json
import smtplib
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import formatdate, make_msgid
from typing import Any

import httpx
import pytest

from devstack.maillab import MailAccount, MailLab
from devstack.runtime import LocalStack
from kindling.inbox.repository import InboxRepository
from kindling.platform.clock import ManualClock, set_clock
from kindling.sending.repository import SendingRepository
from tests.e2e.support import SCHEDULED, connect_account, lab_of, own_workspace
from tests.integration.webhooks.receiver import Receiver, running_receiver

pytestmark = pytest.mark.mail


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    """Handlers read this clock: the test moves time past the scheduler's pacing instead of sleeping."""
    manual = ManualClock(datetime.now(UTC).replace(microsecond=0))
    previous = set_clock(manual)
    yield manual
    set_clock(previous)


def submit(lab: MailLab, account: MailAccount, to: str, raw: bytes) -> None:
    """What the recipient's mail client does: SMTP submission with its own login (STARTTLS)."""
    with smtplib.SMTP(account.smtp_host, account.smtp_port, timeout=30) as smtp:
        smtp.starttls(context=lab.client_ssl_context())
        smtp.login(account.email, account.password)
        smtp.sendmail(account.email, [to], raw)


def answer(account: MailAccount, to: str, original: Message, subject: str, body: str, headers: str = "") -> bytes:
    original_id = str(original["Message-ID"])
    return (
        f"From: {account.email}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {formatdate()}\r\n"
        f"Message-ID: {make_msgid(domain='lab-mail.test')}\r\nIn-Reply-To: {original_id}\r\n"
        f"References: {original_id}\r\n{headers}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"{body}\r\n"
    ).encode()


def dsn(sender: str, recipient: str, original: Message) -> bytes:
    boundary = f"dsn-{uuid.uuid4().hex[:8]}"
    return (
        f"From: MAILER-DAEMON@lab-mail.test (Mail Delivery System)\r\nTo: {sender}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nDate: {formatdate()}\r\n"
        f"Message-ID: {make_msgid(domain='lab-mail.test')}\r\nAuto-Submitted: auto-replied\r\n"
        f'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        f"\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        f"\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.lab-mail.test\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown\r\n"
        f"\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {original['Message-ID']}\r\nFrom: {sender}\r\nTo: {recipient}\r\n"
        f"Subject: {original['Subject']}\r\n\r\n--{boundary}--\r\n"
    ).encode()


def webhook_events(receiver: Receiver, stack: LocalStack, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while len(receiver.received()) < count:
        stack.drain()
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} webhook deliveries, got {len(receiver.received())}")
        time.sleep(0.05)
    return [json.loads(r.body) for r in receiver.received()]


def test_inbox_sync_end_to_end(local_stack: LocalStack, clock: ManualClock) -> None:
    lab = lab_of(local_stack, needs_dovecot=True)
    tag = uuid.uuid4().hex[:8]
    sender = lab.add_account(f"inbox-sender-{tag}@lab-mail.test", "sender-pass-1", "lab-mail")
    keen, away, gone = (
        lab.add_account(f"inbox-{name}-{tag}@lab-mail.test", "prospect-pass-1", "lab-mail")
        for name in ("keen", "away", "gone")
    )
    headers = own_workspace(local_stack, "E2E inbox")
    with (
        running_receiver() as receiver,
        httpx.Client(base_url=local_stack.api_url, headers=headers, timeout=60) as client,
    ):
        workspace_id = client.get("/api/v1/me").json()["workspace"]["id"]
        hook = client.post(
            "/api/v1/webhooks", json={"url": receiver.url("/hook"), "events": ["reply.received", "email.bounced"]}
        )
        assert hook.status_code == 201, hook.text
        mailbox = connect_account(client, local_stack, sender, "Inbox Sender")
        ids = {}
        for account, first in ((keen, "Kim"), (away, "Jo"), (gone, "Gil")):
            created = client.post("/api/v1/prospects", json={"email": account.email, "firstName": first})
            assert created.status_code == 201, created.text
            ids[account.email] = created.json()["data"]["id"]
        campaign = client.post(
            "/api/v1/campaigns",
            json={
                "name": "E2E inbox",
                "mailboxIds": [mailbox["id"]],
                "prospectIds": list(ids.values()),
                "timezone": "UTC",
                "sendingWindowStart": "00:00",
                "sendingWindowEnd": "23:59",
                "scheduleDays": [1, 2, 3, 4, 5, 6, 7],
                "minutesBetweenSends": 0,
                "trackOpens": False,
                "trackClicks": False,
                "steps": [
                    {"stepIndex": 0, "subject": "Quick question, {{firstName}}", "bodyHtml": "<p>Hi {{firstName}}</p>"},
                    {"stepIndex": 1, "subject": "", "bodyHtml": "<p>Bump</p>", "sendAsReply": True, "delayDays": 3},
                ],
            },
        )
        assert campaign.status_code == 201, campaign.text
        campaign_id = campaign.json()["data"]["id"]
        assert client.post(f"/api/v1/campaigns/{campaign_id}/start").status_code == 200
        # Enrollments made before the enrollment module sets their due keys itself get them here (a no-op once it
        # does): what the scheduler reads.
        SendingRepository().schedule_pending(workspace_id, campaign_id, clock.now())

        # The real sending path: scheduler ticks (the clock moves past any pacing) and the sender over SMTP.
        received: dict[str, Message] = {}
        for _ in range(15):
            local_stack.invoke("SchedulerFunction", {**SCHEDULED, "time": clock.now().isoformat()})
            local_stack.drain()
            for account in (keen, away, gone):
                if account.email not in received:
                    got = lab.fetch_messages(account.email)
                    if got:
                        received[account.email] = got[0]
            if len(received) == 3:
                break
            clock.advance(timedelta(minutes=2))
        assert len(received) == 3, "every prospect got the campaign email"

        submit(
            lab,
            keen,
            sender.email,
            answer(
                keen,
                sender.email,
                received[keen.email],
                f"Re: {received[keen.email]['Subject']}",
                "Sounds interesting! Could you send me more details?\r\n\r\nKim",
            ),
        )
        submit(
            lab,
            away,
            sender.email,
            answer(
                away,
                sender.email,
                received[away.email],
                f"Abwesenheitsnotiz: {received[away.email]['Subject']}",
                "Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich 14. Juni nicht im Büro.\r\n"
                "Ab dem 15. Juni bin ich wieder erreichbar.",
                headers="Auto-Submitted: auto-replied\r\n",
            ),
        )
        lab.append(sender.email, "INBOX", dsn(sender.email, gone.email, received[gone.email]))
        lab.wait_for_messages(sender.email, "INBOX", count=3)

        # The schedule's fan-out queues the mailbox; the sync queue's consumer syncs it.
        fanned = local_stack.invoke("InboxSyncFanoutFunction", {**SCHEDULED, "time": clock.now().isoformat()})
        assert fanned["queued"] >= 1
        local_stack.drain()

        enrollments = client.get(f"/api/v1/campaigns/{campaign_id}/enrollments", params={"limit": 100}).json()["data"]
        status = {e["email"]: e["status"] for e in enrollments}
        assert status == {keen.email: "replied", away.email: "active", gone.email: "bounced"}
        suppressed = client.get("/api/v1/suppressions", params={"type": "email"}).json()["data"]
        assert [e["value"] for e in suppressed] == [gone.email]
        assert client.get(f"/api/v1/prospects/{ids[gone.email]}").json()["data"]["globalStatus"] == "bounced"

        events = webhook_events(receiver, local_stack, 2)
        by_type = {e["type"]: e["data"] for e in events}
        assert by_type["reply.received"]["prospectEmail"] == keen.email
        assert by_type["reply.received"]["campaignId"] == campaign_id
        assert (by_type["email.bounced"]["prospectEmail"], by_type["email.bounced"]["bounceType"]) == (
            gone.email,
            "hard",
        )

        listed = client.get("/api/v1/inbox/conversations", params={"campaign_id": campaign_id}).json()["data"]
        labels = {c["contact_email"]: (c["label"], c["is_positive"]) for c in listed}
        assert labels == {keen.email: ("interested", True), away.email: ("out_of_office", False)}
        keen_conversation = next(c for c in listed if c["contact_email"] == keen.email)
        detail = client.get(f"/api/v1/inbox/conversations/{keen_conversation['id']}").json()["data"]
        (incoming,) = detail["messages"]
        assert incoming["text_body"].startswith("Sounds interesting!") and incoming["kind"] == "reply"

        # Answering from the unified inbox: sent through the mailbox, threaded under Kim's reply.
        sent = client.post(
            f"/api/v1/inbox/conversations/{keen_conversation['id']}/reply",
            json={"content": "<p>Of course, Kim: the details are attached.</p>"},
        )
        assert sent.status_code == 201, sent.text
        delivered = lab.wait_for_messages(keen.email, count=2)[-1]
        assert delivered["In-Reply-To"] == incoming["message_id"]
        assert str(received[keen.email]["Message-ID"]) in str(delivered["References"])

        # Nothing new in the mailbox: the next sync costs one STATUS per folder and no FETCH.
        local_stack.invoke("InboxSyncFanoutFunction", {**SCHEDULED, "time": clock.now().isoformat()})
        local_stack.drain()
        summary = InboxRepository().sync_summary(workspace_id, mailbox["id"])
        assert summary is not None and summary["outcome"] == "synced"
        passes = [p for folder in summary["folders"].values() for p in folder["passes"]]
        assert passes and all(p["mode"] == "idle" and p["commands"] == {"STATUS": 1} for p in passes), passes
        client.delete(f"/api/v1/webhooks/{hook.json()['data']['id']}")
