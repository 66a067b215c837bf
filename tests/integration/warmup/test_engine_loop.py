"""The warmup engine end to end in-process: moto + the mail lab (real SMTP and Dovecot), an injected clock.

Four lab mailboxes in two workspaces on two providers (lab-junk.test files a share of mail into Junk) and a fifth
pool mailbox on a blocklisted domain. Three simulated days in 15-minute ticks: the tick plans and queues, the
warmup delivery (the sender function's warmup path) sends over SMTP, inbox sync (with the warmup receiving hook)
runs every 3 hours. Then: volumes follow each mailbox's strategy, the pacer and the hard cap hold, every warmup
email is opened, flagged and out of Junk, some were answered, and the counters, stats and health scores match
the mail the lab actually filed; the blocklisted domain received nothing. The mailbox ids are fixed, so the lab
files the same emails into Junk every run: on the first day both lab-mail.test mailboxes fall to a Critical score,
so one lab-junk.test send finds no eligible peer by the day's end (the only shortfall, and asserted as such).
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pytest

from devstack.maillab import MailAccount, MailLab
from devstack.moto_patches import apply_moto_patches
from kindling.inbox.service import InboxService
from kindling.inbox.sync import InboxSync, default_connect
from kindling.mail.connection import Endpoint, TlsPolicy
from kindling.mail.imapproto import parse_fetch
from kindling.mailboxes.models import Mailbox
from kindling.platform import aws as platform_aws
from kindling.platform.clock import ManualClock
from kindling.platform.settings import reset_settings
from kindling.sending.repository import SendingRepository
from kindling.warmup.blocklist import WarmupBlocklistRepository
from kindling.warmup.content import WARMUP_HEADER
from kindling.warmup.counters import DailyCounters
from kindling.warmup.delivery import WarmupDelivery, message_id_for
from kindling.warmup.engine import WarmupEngine
from kindling.warmup.health import score_counts
from kindling.warmup.models import WarmupState
from kindling.warmup.protection import BlockedDomain
from kindling.warmup.ramp import daily_volume
from kindling.warmup.receiving import WarmupReceiver
from kindling.warmup.repository import WarmupRepository
from kindling.warmup.service import WarmupService
from tests.conftest import make_tenant
from tests.integration.warmup.support import ListQueue, assert_plan_met_or_excluded, insert_mailbox

pytestmark = pytest.mark.mail

DAY0 = datetime(2026, 6, 10, tzinfo=UTC)
DAYS = 3
TICK = timedelta(minutes=15)
SYNC_EVERY = 12  # ticks: every 3 hours


@pytest.fixture
def env(aws: None, mail_lab: MailLab) -> Iterator[None]:
    if mail_lab.imap_backend != "dovecot":
        pytest.skip("the warmup engine loop needs Dovecot")
    apply_moto_patches()
    key_id = boto3.client("kms", region_name="us-east-1").create_key(Description="mailbox secrets")["KeyMetadata"][
        "KeyId"
    ]
    sqs = boto3.client("sqs", region_name="us-east-1")
    values = {
        "KINDLING_KMS_KEY_ID": key_id,
        "KINDLING_WEBHOOK_QUEUE_URL": sqs.create_queue(QueueName="webhooks")["QueueUrl"],
        "KINDLING_SYNC_QUEUE_URL": sqs.create_queue(QueueName="sync")["QueueUrl"],
        "KINDLING_MAIL_CA_FILE": str(mail_lab.ca_path),
    }
    os.environ.update(values)
    reset_settings()
    platform_aws.reset_clients()
    yield
    for name in values:
        os.environ.pop(name, None)
    reset_settings()


def make_mailbox(workspace_id: str, email: str, password: str, account: MailAccount | None, **fields: Any) -> Mailbox:
    return insert_mailbox(workspace_id, email, password, account, at=DAY0, **fields)


def warmup_messages(lab: MailLab, account: MailAccount, folder: str) -> dict[str, set[str]]:
    """Message-ID -> flags of the warmup emails (the exchange header) in `folder`."""
    endpoint = Endpoint(account.imap_host, account.imap_port, account.email, account.password, account.imap_security)
    session = default_connect(endpoint, TlsPolicy(str(lab.ca_path), allow_private_addresses=True))
    try:
        session.select(folder, readonly=True)
        typ, found_uids = session.imap.uid("SEARCH", "ALL")
        if typ == "OK" and not (found_uids and found_uids[0]):
            return {}
        typ, data = session.imap.uid(
            "FETCH", "1:*", f"(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID {WARMUP_HEADER})])"
        )
        assert typ == "OK"
        found: dict[str, set[str]] = {}
        for entry in parse_fetch([d for d in data if d is not None]):
            header = next(v for k, v in entry.items() if str(k).startswith("BODY[HEADER.FIELDS")).decode()
            if WARMUP_HEADER.lower() not in header.lower():
                continue
            mid = next(
                line.split(":", 1)[1].strip() for line in header.splitlines() if line.lower().startswith("message-id")
            )
            found[mid] = {str(f) for f in entry["FLAGS"]} - {"\\Recent"}
        return found
    finally:
        session.leave()
        session.close()


class Replies:
    """The send queue's warmup replies: sent by the delivery path when due; counts each sent reply on the UTC day
    its hard-cap place was reserved (when it first fell due)."""

    def __init__(self, clock: ManualClock, queue: ListQueue, delivery: WarmupDelivery) -> None:
        self.clock, self.queue, self.delivery = clock, queue, delivery
        self.reserved: Counter[tuple[str, date]] = Counter()  # (mailbox id, day)

    def send_due(self) -> None:
        now = self.clock.now()
        pending = self.queue.take()
        due = [job for job in pending if job.send_at <= now]
        self.queue.jobs.extend(job for job in pending if job.send_at > now)
        if not due:
            return
        result = self.delivery.process(due)
        for job in due:
            if result.outcomes.get(job.key) == "sent":
                self.reserved[(job.mailbox_id, job.queued_at.date() if job.reserved else now.date())] += 1


def test_three_days_of_warmup_across_two_providers(env: None, clock: ManualClock, mail_lab: MailLab) -> None:
    clock.set(DAY0)
    tenants = [make_tenant(name="Alpha"), make_tenant(name="Beta")]
    tag = uuid.uuid4().hex[:8]
    accounts = {
        "a1": mail_lab.add_account(f"wa1-{tag}@lab-mail.test", "warm-pass-1", "lab-mail"),
        "a2": mail_lab.add_account(f"wa2-{tag}@lab-mail.test", "warm-pass-1", "lab-mail"),
        "j1": mail_lab.add_account(f"wj1-{tag}@lab-junk.test", "warm-pass-1", "lab-junk"),
        "j2": mail_lab.add_account(f"wj2-{tag}@lab-junk.test", "warm-pass-1", "lab-junk"),
    }
    workspace_of = {"a1": 0, "j1": 0, "a2": 1, "j2": 1}
    provider_of = {"a1": "google", "a2": "google", "j1": "microsoft", "j2": "microsoft"}
    mailboxes = {
        name: make_mailbox(
            tenants[workspace_of[name]].workspace_id,
            account.email,
            account.password,
            account,
            provider=provider_of[name],
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"kindling-test/warmup-loop/{name}")),  # the same plans every run
        )
        for name, account in accounts.items()
    }
    # Two ramp as New Domain, two are pinned to Maintenance with a small target; all answer half the time.
    warmup = WarmupRepository()
    plans = {"a1": ("new_domain", 10), "j2": ("new_domain", 10), "a2": ("maintenance", 5), "j1": ("maintenance", 5)}
    for name, (strategy, target) in plans.items():
        mailbox = mailboxes[name]
        warmup.save(
            WarmupState(
                workspace_id=mailbox.workspace_id,
                mailbox_id=mailbox.id,
                target_daily_volume=target,
                strategy=strategy,  # type: ignore[arg-type]
                strategy_override=strategy,  # type: ignore[arg-type]
                reply_rate=50,
                started_at=DAY0,
            ),
            0,
        )
    # A pool member on a blocklisted domain (paused sending: it would only receive).
    sink = make_mailbox(
        tenants[1].workspace_id, f"sink-{tag}@blocked-{tag}.test", "x-pass-1", None, sending_enabled=False
    )
    WarmupBlocklistRepository().add(BlockedDomain(f"blocked-{tag}.test", "curated", "test", DAY0))

    queue = ListQueue()
    engine = WarmupEngine(queue=queue, clock=clock)
    for mailbox in [*mailboxes.values(), sink]:
        assert engine.sync_member(mailbox)
    delivery = WarmupDelivery(clock=clock)
    # Replies go on their own list (the send queue's share of them), sent by the same delivery path when due.
    reply_queue = ListQueue()
    reply_delivery = WarmupDelivery(clock=clock, queue=reply_queue)
    receiver = WarmupReceiver(clock=clock, queue=reply_queue)
    syncer = InboxSync(
        InboxService(clock=clock, on_warmup=receiver),
        tls=TlsPolicy(str(mail_lab.ca_path), allow_private_addresses=True),
        clock=clock,
    )
    sending = SendingRepository()

    reply_sender = Replies(clock, reply_queue, reply_delivery)

    def sync_all() -> None:
        for mailbox in mailboxes.values():
            report = syncer.sync(mailbox.workspace_id, mailbox.id)
            assert report.outcome == "synced", report

    expected: dict[tuple[str, date], int] = {}
    dropped: dict[tuple[str, date], int] = {}  # due sends still without an eligible peer at the day's last tick
    excluded_at_day_end: dict[date, dict[str, str]] = {}
    delivered = 0
    cap_day = DAY0.date() + timedelta(days=2)
    for step in range(DAYS * 96):
        now = clock.now()
        if now == datetime.combine(cap_day, datetime.min.time(), tzinfo=UTC):
            # Campaign sends leave only 3 of the 500/day hard cap to a2's warmup on the third day.
            before = sending.mailbox_state(mailboxes["a2"].workspace_id, mailboxes["a2"].id)
            assert sending.reserve_mailbox(
                mailboxes["a2"].workspace_id, before, cap_day.isoformat(), sends=497, domains={}, next_allowed_at=None
            )
        report = engine.tick()
        assert report.errors == []
        if now.hour == 23 and now.minute == 45:
            for name, mailbox in mailboxes.items():
                dropped[(name, now.date())] = report.unmatched_by_mailbox.get(mailbox.id, 0)
            excluded_at_day_end[now.date()] = report.excluded
        if now.hour == 0 and now.minute == 0:  # the day's first tick planned the day: what the strategy allows
            for name, mailbox in mailboxes.items():
                state = warmup.get(mailbox.workspace_id, mailbox.id)
                volume = daily_volume(state.ramp_state("normal"), state.target_daily_volume)
                expected[(name, now.date())] = volume
        clock.advance(TICK)
        fresh = queue.jobs[delivered:]
        delivered = len(queue.jobs)
        if fresh:
            result = delivery.process(fresh)
            assert result.sent == len(fresh), result
        reply_sender.send_due()
        if step % SYNC_EVERY == SYNC_EVERY - 1:
            sync_all()
    sync_all()
    loop_end = clock.now()
    for _ in range(14):  # the last replies' natural delay (at most 3 hours), then their pacer slots
        clock.advance(TICK)
        reply_sender.send_due()
    assert reply_queue.jobs == []
    sync_all()  # replies sent since the last sync arrive, and are opened / rescued too

    jobs = queue.jobs
    names = {mailbox.id: name for name, mailbox in mailboxes.items()}
    # On the third day the hard cap leaves a2 3 sends, warmup emails and warmup replies together (replies to
    # emails it received reserve their place when due, as the tick's sends do).
    a2_replies_on_cap_day = reply_sender.reserved[(mailboxes["a2"].id, cap_day)]
    assert a2_replies_on_cap_day <= 3
    expected[("a2", cap_day)] = min(expected[("a2", cap_day)], 3 - a2_replies_on_cap_day)
    # Volumes follow each mailbox's strategy and ramp (although one domain sends more than the other): a send is
    # missing only when, at the day's last tick, every peer its sender can reach (the other domain) had been
    # excluded from receiving (a Critical health score). The New Domain ramp starts at 1/day.
    sent_per_day = Counter((names[j.mailbox_id], j.day) for j in jobs)
    assert_plan_met_or_excluded(
        expected,
        sent_per_day,
        dropped,
        excluded_at_day_end,
        {name: account.email for name, account in accounts.items()},
        {name: mailbox.id for name, mailbox in mailboxes.items()},
    )
    assert expected[("a1", DAY0.date())] == 1 and expected[("a2", DAY0.date())] == 5
    assert expected[("a2", cap_day)] + a2_replies_on_cap_day == 3  # the hard cap held
    # The pacer: a mailbox's warmup sends are at least the warmup interval apart.
    by_sender: dict[str, list[datetime]] = defaultdict(list)
    for job in jobs:
        by_sender[job.mailbox_id].append(job.send_at)
    for times in by_sender.values():
        times.sort()
        # 10 minutes apart on the mailbox pacer (docs/decisions.md, Warmup rules).
        assert all(b - a >= timedelta(minutes=10) for a, b in itertools.pairwise(times))
    # Nobody sends to itself, to its own domain, or to the blocklisted domain; both workspaces exchange mail.
    assert all(j.recipient != sink.email_address for j in jobs)
    assert all(j.recipient.split("@")[1] != j.from_address.split("@")[1] for j in jobs)
    # Where the lab filed each email, from its own verdict.
    spam_of: Counter[str] = Counter()
    for job in jobs:
        if mail_lab.expected_folder(job.recipient, message_id_for(job.exchange_id, job.from_address)) == "Junk":
            spam_of[job.mailbox_id] += 1
    assert sum(spam_of.values()) > 0  # the junk provider did file some
    # Every warmup email (and reply) is opened, flagged and out of Junk.
    replies = 0
    for name, account in accounts.items():
        assert warmup_messages(mail_lab, account, "Junk") == {}
        inbox = warmup_messages(mail_lab, account, "INBOX")
        assert inbox and all({"\\Seen", "\\Flagged"} <= flags for flags in inbox.values()), (name, inbox)
        replies += sum(1 for mid in inbox if ".re@" in mid)
    received = Counter(j.recipient for j in jobs)
    for account in accounts.values():
        inbox = warmup_messages(mail_lab, account, "INBOX")
        assert sum(1 for mid in inbox if ".re@" not in mid) == received[account.email]
    assert replies > 0
    # Counters, stats and health match the counted mail.
    service = WarmupService(clock=clock)
    total_replied = 0
    for mailbox in mailboxes.values():
        _, rows = warmup.load(mailbox.workspace_id, mailbox.id)
        totals = DailyCounters(DAY0.date())
        for row in rows:
            totals = totals + DailyCounters(DAY0.date(), **{k: v for k, v in vars(row.counters).items() if k != "day"})
        mine = [j for j in jobs if j.mailbox_id == mailbox.id]
        assert totals.sent == len(mine)
        assert totals.spam == spam_of[mailbox.id] and totals.rescued == totals.spam
        assert totals.inbox == len(mine) - spam_of[mailbox.id]
        assert totals.opened == len(mine) and totals.bounced == 0
        assert totals.received == received[mailbox.email_address]
        total_replied += totals.replied
        stats = service.report(mailbox.workspace_id, mailbox.id).stats
        assert stats.sent_7d == len(mine) and stats.saved_from_spam == totals.rescued
        health = score_counts(len(mine), totals.inbox, totals.spam, totals.rescued, 0)
        assert stats.reputation_score == health.score
        stored = warmup.get(mailbox.workspace_id, mailbox.id)
        assert stored.health_score is not None and stored.health_computed_at is not None
        assert loop_end - stored.health_computed_at <= timedelta(hours=6)
    assert total_replied == replies
    # The sending engine's mailbox state counted the warmup sends of the current day against the hard cap.
    a2 = sending.mailbox_state(mailboxes["a2"].workspace_id, mailboxes["a2"].id)
    assert a2.today(cap_day.isoformat())[:2] == (497, 3)
