"""The warmup engine end to end on the local stack, driven like EventBridge drives the deployed stack.

Four fresh mail-lab mailboxes connected over HTTP in two workspaces: two on lab-mail.test and two on lab-junk.test
(the lab provider that files a share of mail into Junk), plus a fifth connected mailbox whose address is on a
blocklisted domain. Warmup is turned on over HTTP (PATCH /warmup/settings). Then three simulated days on an injected
clock: WarmupTickFunction every 15 minutes (its template schedule), the send queue's poller feeding SenderFunction
(the queue's delays follow the injected clock), InboxSyncFanoutFunction every 3 hours feeding InboxSyncFunction
through the sync queue, WarmupDomainCheckFunction every 2 hours. On the third day campaign sends already fill all
but 3 of one mailbox's 500/day hard cap.

Asserted: each mailbox sends exactly what its strategy's ramp allows each day (the API's effective_daily_limit), the
hard cap and the pacer hold, nobody sends to itself, its own domain or the blocklisted domain; every warmup email is
in its recipient's INBOX opened and flagged (every Junk one rescued), some were answered in their thread; the stats
API's daily series, saved_from_spam and reputation scores match the mail the lab filed.

Other e2e tests share this stack, and a mailbox they turned warmup on for may join the pool: it is part of the
exchange like any opted-in mailbox, so the assertions follow every warmup job the sender function received.
"""

from __future__ import annotations

import email
import itertools
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from devstack.maillab import MailAccount, MailLab
from devstack.runtime import LocalStack
from kindling.platform.clock import ManualClock, set_clock
from kindling.sending.repository import SendingRepository
from kindling.warmup.blocklist import WarmupBlocklistRepository
from kindling.warmup.content import WARMUP_HEADER
from kindling.warmup.delivery import message_id_for
from kindling.warmup.health import score_counts
from kindling.warmup.messages import WarmupSendMessage, is_warmup_body
from kindling.warmup.protection import BlockedDomain
from kindling.warmup.ramp import daily_volume
from kindling.warmup.repository import WarmupRepository
from tests.e2e.support import SCHEDULED, connect_account, lab_of, own_workspace
from tests.integration.warmup.support import assert_plan_met_or_excluded

pytestmark = pytest.mark.mail

DAY0 = datetime(2026, 7, 6, tzinfo=UTC)
DAYS = 3
TICK = timedelta(minutes=15)
SYNC_EVERY = 12  # ticks: the fan-out every 3 hours (its schedule is every 5 minutes; fewer passes, same rules)
CHECK_EVERY = 8  # ticks: the domain check's 2 hours
PASSWORD = "Warm-pass-1234"


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(DAY0)
    previous = set_clock(manual)
    yield manual
    set_clock(previous)


def scheduled(stack: LocalStack, function: str, clock: ManualClock) -> Any:
    return stack.invoke(function, {**SCHEDULED, "time": clock.now().isoformat()})


def collect_jobs(stack: LocalStack, seen: dict[str, WarmupSendMessage]) -> None:
    """Every warmup email job the sender function was handed (a redelivered one counted once, by exchange; replies,
    also warmup jobs, are not the exchanges' emails)."""
    for logical_id, event in list(stack.invocations):
        if logical_id != "SenderFunction" or not isinstance(event, dict):
            continue
        for record in event.get("Records", []):
            if is_warmup_body(record["body"]):
                job = WarmupSendMessage.from_body(record["body"])
                if not job.is_reply:
                    seen.setdefault(job.exchange_id, job)


def warmup_mail(lab: MailLab, address: str, folder: str) -> list[Message]:
    messages = [email.message_from_bytes(raw) for raw in lab.fetch_raw(address, folder)]
    return [m for m in messages if m[WARMUP_HEADER] is not None]


def flags_by_message_id(lab: MailLab, address: str) -> dict[str, set[str]]:
    """Message-ID -> flags of every message in the INBOX (read-only: nothing is marked seen by looking)."""
    with lab.imap(address) as conn:
        typ, data = conn.select("INBOX", readonly=True)
        assert typ == "OK"
        if int(data[0] or 0) == 0:
            return {}
        typ, data = conn.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        assert typ == "OK"
    found: dict[str, set[str]] = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        meta, header = item[0].decode(), item[1].decode()
        flags = meta[meta.index("FLAGS (") + 7 : meta.index(")", meta.index("FLAGS ("))].split()
        message_id = header.split(":", 1)[1].strip() if ":" in header else ""
        found[message_id] = set(flags) - {"\\Recent"}
    return found


def test_three_days_of_warmup_through_the_scheduled_functions(local_stack: LocalStack, clock: ManualClock) -> None:
    lab = lab_of(local_stack, needs_dovecot=True)
    tag = uuid.uuid4().hex[:8]
    accounts: dict[str, MailAccount] = {
        "a1": lab.add_account(f"wa1-{tag}@lab-mail.test", PASSWORD, "lab-mail"),
        "a2": lab.add_account(f"wa2-{tag}@lab-mail.test", PASSWORD, "lab-mail"),
        "j1": lab.add_account(f"wj1-{tag}@lab-junk.test", PASSWORD, "lab-junk"),
        "j2": lab.add_account(f"wj2-{tag}@lab-junk.test", PASSWORD, "lab-junk"),
    }
    sink_login = lab.add_account(f"ws-{tag}@lab-mail.test", PASSWORD, "lab-mail")
    blocked_domain = f"blocked-{tag}.test"
    workspaces = [own_workspace(local_stack, "E2E warmup A"), own_workspace(local_stack, "E2E warmup B")]
    workspace_of = {"a1": 0, "j1": 0, "a2": 1, "j2": 1}
    # Two ramp on New Domain, two are pinned to Maintenance with a small target; all but a2 answer half of what they
    # get. a2 answers nothing: its replies would take places of the 3 its hard cap leaves it on the third day.
    settings = {
        "a1": {"warmup_strategy": "new_domain", "warmup_target_daily_volume": 10},
        "j2": {"warmup_strategy": "new_domain", "warmup_target_daily_volume": 10},
        "a2": {"warmup_strategy": "maintenance", "warmup_target_daily_volume": 5},
        "j1": {"warmup_strategy": "maintenance", "warmup_target_daily_volume": 5},
    }
    clients = [httpx.Client(base_url=local_stack.api_url, headers=headers, timeout=60) for headers in workspaces]
    try:
        mailbox_ids: dict[str, str] = {}
        for name, account in accounts.items():
            client = clients[workspace_of[name]]
            mailbox_ids[name] = connect_account(client, local_stack, account, f"Warm {name.upper()}")["id"]
            patched = client.patch(
                f"/api/v1/warmup/settings/{mailbox_ids[name]}",
                json={"warmup_enabled": True, "warmup_reply_rate": 0 if name == "a2" else 50, **settings[name]},
            )
            assert patched.status_code == 200, patched.text
        # A pool member whose address is on a blocklisted domain (it logs in as a lab account; sending paused, so it
        # would only ever receive).
        sink = connect_account(
            clients[1],
            local_stack,
            sink_login,
            "Sink",
            email_address=f"sink@{blocked_domain}",
            smtp_username=sink_login.email,
            imap_username=sink_login.email,
            sending_enabled=False,
        )
        assert clients[1].patch(f"/api/v1/warmup/settings/{sink['id']}", json={"warmup_enabled": True}).is_success
        WarmupBlocklistRepository().add(BlockedDomain(blocked_domain, "curated", "operator", DAY0))

        names = {mid: name for name, mid in mailbox_ids.items()}
        workspace_ids = [str(client.get("/api/v1/me").json()["workspace"]["id"]) for client in clients]
        sending = SendingRepository()
        cap_day = DAY0.date() + timedelta(days=2)
        expected: dict[tuple[str, date], int] = {}
        dropped: dict[tuple[str, date], int] = {}  # due sends still without an eligible peer at the day's last tick
        excluded_at_day_end: dict[date, dict[str, str]] = {}
        ramp: dict[tuple[str, date], int] = {}  # what the strategy's ramp (New Domain table, Maintenance) allows
        jobs: dict[str, WarmupSendMessage] = {}
        checked_domains = skipped_domains = 0
        for step in range(DAYS * 96):
            now = clock.now()
            if now == datetime.combine(cap_day, datetime.min.time(), tzinfo=UTC):
                # Campaign sends leave only 3 of a2's 500/day hard cap to warmup on the third day.
                before = sending.mailbox_state(workspace_ids[1], mailbox_ids["a2"])
                assert sending.reserve_mailbox(
                    workspace_ids[1], before, cap_day.isoformat(), sends=497, domains={}, next_allowed_at=None
                )
            report = scheduled(local_stack, "WarmupTickFunction", clock)
            assert report["errors"] == [], report
            if now.hour == 23 and now.minute == 45:
                for name, mailbox_id in mailbox_ids.items():
                    dropped[(name, now.date())] = report["unmatched_by_mailbox"].get(mailbox_id, 0)
                excluded_at_day_end[now.date()] = report["excluded"]
            if now.hour == 0 and now.minute == 0:
                # The day's first tick moved the ramp: what the API says the mailbox may send today is the plan.
                for name, mailbox_id in mailbox_ids.items():
                    stats = clients[workspace_of[name]].get(f"/api/v1/warmup/stats/{mailbox_id}").json()["data"]
                    expected[(name, now.date())] = stats["effective_daily_limit"]
                    state = WarmupRepository().get(workspace_ids[workspace_of[name]], mailbox_id)
                    ramp[(name, now.date())] = daily_volume(state.ramp_state("normal"), state.target_daily_volume)
                    if (name, now.date()) == ("a2", cap_day):
                        assert stats["effective_limit_reason"] == "daily_hard_cap"
            if step % CHECK_EVERY == 0:
                checked = scheduled(local_stack, "WarmupDomainCheckFunction", clock)
                checked_domains += checked["checked"]
                skipped_domains += checked["skipped"]
            clock.advance(TICK)
            # The queued sends fall due on the injected clock: the sender runs (a reply waiting for its delay stays).
            local_stack.drain(timeout=120, delayed=False)
            collect_jobs(local_stack, jobs)
            if step % SYNC_EVERY == SYNC_EVERY - 1:
                scheduled(local_stack, "InboxSyncFanoutFunction", clock)
                local_stack.drain(timeout=120, delayed=False)
        for _ in range(14):  # the last replies' natural delay (at most 3 hours), then their pacer slots
            clock.advance(TICK)
            local_stack.drain(timeout=120, delayed=False)
        local_stack.drain(timeout=120)  # every reply went out: nothing is left on the queues, delayed or not
        for _ in range(2):  # the replies sent since the last sync arrive, and are opened / rescued too
            clock.advance(TICK)
            scheduled(local_stack, "InboxSyncFanoutFunction", clock)
            local_stack.drain(timeout=120, delayed=False)

        ours = [job for job in jobs.values() if job.mailbox_id in names]
        # Volumes follow each mailbox's strategy and ramp; the New Domain ramp starts at 1 a day and the hard cap left
        # a2 three sends on the third day. A send is missing only when no peer its sender can reach was eligible by
        # the day's last tick (the lab's Junk filing can leave a whole domain Critical, excluded from receiving).
        sent_per_day = Counter((names[job.mailbox_id], job.day) for job in ours)
        assert_plan_met_or_excluded(
            expected,
            sent_per_day,
            dropped,
            excluded_at_day_end,
            {name: account.email for name, account in accounts.items()},
            mailbox_ids,
        )
        assert expected[("a1", DAY0.date())] == 1 and expected[("j2", DAY0.date())] == 1
        assert expected[("a2", DAY0.date())] == 5 and expected[("a2", cap_day)] == 3
        assert {key: n for key, n in expected.items() if key != ("a2", cap_day)} == {
            key: n for key, n in ramp.items() if key != ("a2", cap_day)
        }
        a2_state = sending.mailbox_state(workspace_ids[1], mailbox_ids["a2"])
        assert a2_state.today(cap_day.isoformat())[:2] == (497, 3 - dropped[("a2", cap_day)])
        # The pacer: a mailbox's warmup sends are at least its interval apart.
        by_sender: dict[str, list[datetime]] = defaultdict(list)
        for job in ours:
            by_sender[job.mailbox_id].append(job.send_at)
        for times in by_sender.values():
            times.sort()
            # 10 minutes apart on the mailbox pacer (docs/decisions.md, Warmup rules).
            assert all(b - a >= timedelta(minutes=10) for a, b in itertools.pairwise(times))
        # Nobody sends to itself or its own domain; nothing goes to the blocklisted domain (whoever sends).
        assert all(job.recipient.split("@")[1] != job.from_address.split("@")[1] for job in jobs.values())
        assert not any(job.recipient.endswith("@" + blocked_domain) for job in jobs.values())
        assert warmup_mail(lab, sink_login.email, "INBOX") == []
        assert skipped_domains > 0 and checked_domains == 0  # lab domains are reserved .test names: never probed

        # Where the lab filed each of our emails, from its own verdict; then every one is in the INBOX, opened and
        # flagged, none left in Junk, and some were answered in their thread.
        spam_of: Counter[str] = Counter()
        for job in ours:
            if lab.expected_folder(job.recipient, message_id_for(job.exchange_id, job.from_address)) == "Junk":
                spam_of[job.mailbox_id] += 1
        assert sum(spam_of.values()) > 0  # the junk provider did file some
        received = Counter(job.recipient for job in jobs.values())
        replies: list[Message] = []
        for name, account in accounts.items():
            assert warmup_mail(lab, account.email, "Junk") == [], name
            inbox = warmup_mail(lab, account.email, "INBOX")
            flags = flags_by_message_id(lab, account.email)
            assert all({"\\Seen", "\\Flagged"} <= flags[str(m["Message-ID"])] for m in inbox), name
            originals = [m for m in inbox if ".re@" not in str(m["Message-ID"])]
            assert len(originals) == received[account.email], name
            replies += [m for m in inbox if ".re@" in str(m["Message-ID"])]
        assert replies
        for reply in replies:  # threaded on the email it answers: <exchange.re@...> in reply to <exchange@...>
            exchange = str(reply["In-Reply-To"]).strip("<>").split("@")[0]
            assert str(reply["Message-ID"]).startswith(f"<{exchange}.re@")
            assert str(reply["References"]).strip() == str(reply["In-Reply-To"]).strip()
            assert str(reply["Subject"]).startswith("Re: ")
        for job in ours:  # sent no earlier than its pacer slot
            delivered = next(
                m
                for m in warmup_mail(lab, job.recipient, "INBOX")
                if str(m["Message-ID"]) == message_id_for(job.exchange_id, job.from_address)
            )
            assert parsedate_to_datetime(str(delivered["Date"])) >= job.send_at.replace(microsecond=0)

        # The stats API tells what the lab counted.
        for name, mailbox_id in mailbox_ids.items():
            mine = [job for job in ours if job.mailbox_id == mailbox_id]
            stats = clients[workspace_of[name]].get(f"/api/v1/warmup/stats/{mailbox_id}").json()["data"]
            daily = {point["date"]: point for point in stats["daily"]}
            for offset in range(DAYS):
                day = DAY0.date() + timedelta(days=offset)
                point = daily[day.isoformat()]
                assert point["sent"] == sent_per_day[(name, day)], (name, day, point)
            totals = {key: sum(point[key] for point in stats["daily"]) for key in ("sent", "spam_count", "inbox_count")}
            assert totals["sent"] == len(mine)
            assert totals["spam_count"] == spam_of[mailbox_id] == stats["saved_from_spam"], (name, stats)
            assert totals["inbox_count"] == len(mine) - spam_of[mailbox_id]
            assert sum(point["received"] for point in stats["daily"]) == received[accounts[name].email]
            health = score_counts(len(mine), totals["inbox_count"], totals["spam_count"], stats["saved_from_spam"], 0)
            assert stats["reputation_score"] == health.score, (name, stats)
            assert stats["strategy"] == settings[name]["warmup_strategy"]
    finally:
        for client in clients:
            client.close()
