"""The warmup engine over moto (no mail): pool upkeep, the claim that makes concurrent ticks safe, the send gate,
the bounce rule, and the pool domains' check with exclusion and automatic restore."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, NoReturn

import pytest

from bench.support import count_aws_requests, total
from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.repository import MailboxRepository
from kindling.platform.clock import ManualClock
from kindling.platform.ids import new_uuid
from kindling.sending.repository import SendingRepository
from kindling.warmup.blocklist import WarmupBlocklistRepository, record_bounce
from kindling.warmup.engine import WarmupEngine
from kindling.warmup.messages import WarmupSendMessage
from kindling.warmup.models import WarmupState
from kindling.warmup.pool_index import Exchange, TickMark, WarmupPoolRepository
from kindling.warmup.protection import DomainNotFound, MxRecord, ProbeResult
from kindling.warmup.repository import WarmupRepository
from tests.conftest import START, Tenant


class ListQueue:
    def __init__(self) -> None:
        self.jobs: list[WarmupSendMessage] = []

    def send(self, jobs: Sequence[WarmupSendMessage], now: datetime) -> None:
        self.jobs.extend(jobs)


def mailbox(tenant: Tenant, email: str, **fields: Any) -> Mailbox:
    created = Mailbox(
        id=new_uuid(),
        workspace_id=tenant.workspace_id,
        email_address=email,
        status=fields.pop("status", "connected"),
        warmup_enabled=fields.pop("warmup_enabled", True),
        smtp_host="smtp.example.com",
        smtp_port=587,
        smtp_username="user",
        smtp_security="starttls",
        smtp_password_enc="ciphertext",
        imap_host="imap.example.com",
        imap_port=993,
        imap_username="user",
        imap_security="ssl",
        imap_password_enc="ciphertext",
        created_at=START,
        updated_at=START,
        **fields,
    )
    MailboxRepository().insert(created)
    return created


def test_pool_holds_only_peer_selection_fields_and_drops_mailboxes_that_stop(
    tenant: Tenant, clock: ManualClock
) -> None:
    queue = ListQueue()
    engine = WarmupEngine(queue=queue, clock=clock)
    first = mailbox(tenant, "one@alpha.example.com", provider="google", display_name="Secret Name")
    second = mailbox(tenant, "two@beta.example.com", provider="microsoft")
    assert engine.sync_member(first) and engine.sync_member(second)
    assert not engine.sync_member(mailbox(tenant, "three@gamma.example.com", warmup_enabled=False))
    members = {m.mailbox_id: m for m in WarmupPoolRepository().members()}
    assert set(members) == {first.id, second.id}
    assert (members[first.id].domain, members[first.id].provider) == ("alpha.example.com", "google")
    assert WarmupRepository().get(tenant.workspace_id, first.id).started_at == START
    # Warmup turned off: the next tick takes the mailbox out of the pool.
    current = MailboxRepository().get(tenant.workspace_id, second.id)
    MailboxRepository().replace(current.model_copy(update={"warmup_enabled": False}), current.version)
    report = engine.tick()
    assert report.removed == 1 and {m.mailbox_id for m in WarmupPoolRepository().members()} == {first.id}


def test_the_tick_mark_lets_one_tick_claim_a_send(tenant: Tenant, clock: ManualClock) -> None:
    pool = WarmupPoolRepository()
    day = date(2026, 6, 10)
    assert pool.claim(tenant.workspace_id, "mb1", TickMark(), day, 0)
    assert not pool.claim(tenant.workspace_id, "mb1", TickMark(), day, 0)  # a concurrent first tick lost
    assert pool.claim(tenant.workspace_id, "mb1", TickMark(day, 0), day, 2)
    assert not pool.claim(tenant.workspace_id, "mb1", TickMark(day, 0), day, 1)
    assert pool.tick_mark(tenant.workspace_id, "mb1") == TickMark(day, 2)


def test_the_exchange_gate_and_first_sighting_pass_once(tenant: Tenant, clock: ManualClock) -> None:
    pool = WarmupPoolRepository()
    exchange = Exchange("wx_test1", tenant.workspace_id, "mb1", "mb2", date(2026, 6, 10), "queued")
    assert pool.create_exchange(exchange, clock.now()) and not pool.create_exchange(exchange, clock.now())
    assert pool.move_exchange("wx_test1", "queued", "sending")
    assert not pool.move_exchange("wx_test1", "queued", "sending")  # a duplicate delivery never sends again
    assert pool.place_exchange("wx_test1", "spam") and not pool.place_exchange("wx_test1", "inbox")
    assert pool.mark_replied("wx_test1") and not pool.mark_replied("wx_test1")
    assert not pool.place_exchange("wx_unknown", "inbox")
    stored = pool.exchange("wx_test1")
    assert stored is not None and (stored.status, stored.placed, stored.replied) == ("sending", "spam", True)


def test_three_bounces_within_seven_days_blocklist_the_domain(tenant: Tenant, clock: ManualClock) -> None:
    now = clock.now()
    assert not record_bounce("bouncy.example.com", now - timedelta(days=8), "a")  # outside the window later
    assert not record_bounce("bouncy.example.com", now - timedelta(days=3), "b")
    assert not record_bounce("bouncy.example.com", now - timedelta(days=1), "c")
    assert not WarmupBlocklistRepository().blocklist().blocks("bouncy.example.com")
    assert record_bounce("bouncy.example.com", now, "d")
    entry = WarmupBlocklistRepository().blocklist().entry_for("mx.bouncy.example.com")
    assert entry is not None and entry.source == "bounces"


class FakeDns:
    def __init__(self, missing: set[str]) -> None:
        self.missing = missing

    def mx(self, domain: str) -> list[MxRecord]:
        if domain in self.missing:
            raise DomainNotFound(domain)
        return [MxRecord(10, f"mx.{domain}")]

    def addresses(self, host: str) -> list[str]:
        return ["192.0.2.1"]


def ok_probe(address: str, port: int, timeout: float) -> ProbeResult:
    return ProbeResult(True)


def test_domain_check_excludes_failing_domains_and_restores_them(tenant: Tenant, clock: ManualClock) -> None:
    engine = WarmupEngine(queue=ListQueue(), clock=clock)
    for name in ("good.example.com", "gone.example.com", "lab.test"):
        engine.sync_member(mailbox(tenant, f"peer@{name}"))
    first = engine.check_pool_domains(FakeDns({"gone.example.com"}), ok_probe)
    assert first["excluded"] == ["gone.example.com"] and first["skipped"] == 1 and first["checked"] == 2
    health = WarmupPoolRepository().domain_health()
    assert health["gone.example.com"].excluded and health["gone.example.com"].failure == "nxdomain"
    # Not due again within 2 hours; after that the domain passes and is restored.
    assert engine.check_pool_domains(FakeDns(set()), ok_probe)["checked"] == 0
    clock.advance(timedelta(hours=2))
    second = engine.check_pool_domains(FakeDns(set()), ok_probe)
    assert second["restored"] == ["gone.example.com"]
    assert not WarmupPoolRepository().domain_health()["gone.example.com"].excluded


def test_the_tick_never_pairs_with_an_excluded_domain(tenant: Tenant, clock: ManualClock) -> None:
    queue = ListQueue()
    engine = WarmupEngine(queue=queue, clock=clock)
    sender = mailbox(tenant, "me@sender.example.com")
    good = mailbox(tenant, "peer@good.example.com")
    bad = mailbox(tenant, "peer@gone.example.com")
    for member in (sender, good, bad):
        engine.sync_member(member)
    engine.check_pool_domains(FakeDns({"gone.example.com"}), ok_probe)
    clock.set(clock.now().replace(hour=23, minute=50))  # the whole day's plan is due
    report = engine.tick()
    assert report.enqueued > 0 and report.errors == []
    assert {job.recipient for job in queue.jobs} <= {good.email_address, sender.email_address}
    assert all(job.recipient != bad.email_address for job in queue.jobs)


def test_the_hourly_refresh_adds_mailboxes_whose_warmup_was_turned_on(tenant: Tenant, clock: ManualClock) -> None:
    engine = WarmupEngine(queue=ListQueue(), clock=clock)
    joining = mailbox(tenant, "new@joining.example.com")  # warmup on, never passed through the engine
    mailbox(tenant, "off@other.example.com", warmup_enabled=False)
    mailbox(tenant, "paused@other.example.com", status="disconnected")
    clock.set(clock.now().replace(minute=20))
    assert engine.tick().joined == 0 and WarmupPoolRepository().members() == []
    clock.set(clock.now().replace(minute=5) + timedelta(hours=1))
    assert engine.tick().joined == 1
    assert [m.mailbox_id for m in WarmupPoolRepository().members()] == [joining.id]


def _quiet_pool(tenant: Tenant, engine: WarmupEngine, size: int) -> list[Mailbox]:
    """`size` members whose window (20:00-24:00) is closed at 09:xx: once joined, their ticks have nothing due."""
    members = []
    for n in range(size):
        created = mailbox(tenant, f"quiet{n}@d{n % 5}.example.com")
        WarmupRepository().save(
            WarmupState(
                workspace_id=tenant.workspace_id,
                mailbox_id=created.id,
                window_start_hour=20,
                window_end_hour=24,
                started_at=START,
            ),
            0,
        )
        assert engine.sync_member(created)
        members.append(created)
    return members


def test_an_idle_tick_reads_its_members_in_batches(tenant: Tenant, clock: ManualClock) -> None:
    engine = WarmupEngine(queue=ListQueue(), clock=clock)
    _quiet_pool(tenant, engine, 30)
    clock.set(START.replace(minute=20))  # past the hour's pool refresh
    assert engine.tick().errors == []  # the members' first tick: tick marks and health scores
    clock.advance(timedelta(minutes=15))
    with count_aws_requests() as counts:
        report = engine.tick()
    assert (report.members, report.due, report.health_recomputed, report.errors) == (30, 0, 0, [])
    # The pool Query and one BatchGetItem (mailbox, tick mark and warmup state of each member); reading them
    # one by one was three requests per member (90).
    assert total(counts, "dynamodb") <= 4, counts


def test_a_failing_batch_read_falls_back_to_reading_each_member(
    tenant: Tenant, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = ListQueue()
    engine = WarmupEngine(queue=queue, clock=clock)
    members = _quiet_pool(tenant, engine, 3)
    current = MailboxRepository().get(tenant.workspace_id, members[0].id)
    MailboxRepository().replace(current.model_copy(update={"warmup_enabled": False}), current.version)

    def broken(keys: object) -> NoReturn:
        raise RuntimeError("BatchGetItem throttled")

    monkeypatch.setattr(SendingRepository, "get_raw", broken)
    clock.set(START.replace(hour=23, minute=50))  # the whole day's plan is due
    report = engine.tick()
    assert (report.members, report.removed, report.errors) == (3, 1, [])
    assert report.health_recomputed == 2 and report.enqueued > 0
    assert {job.mailbox_id for job in queue.jobs} <= {members[1].id, members[2].id}
