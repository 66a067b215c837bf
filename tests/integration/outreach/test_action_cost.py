"""What a LinkedIn action costs in DynamoDB requests, and the fast path's safety (issue 18: "DynamoDB requests per
action (target <= 3)"): the tick claims a campaign's due actions from one pool read, one prospect read and one claim
transaction; the worker's fast path is one `sending` transaction (ConditionChecks and the cap reservation in it) and
the success transaction. Whatever went stale between the claim and the work makes the transaction fail with nothing
written, and the slow path (reads) decides as it always did. Requests are counted on the DynamoDB client's own
request events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from kindling.linkedin.service import LinkedInAccountService, default_provider
from kindling.linkedin.usage import UsageRepository
from kindling.outreach.engine import ActionWorker, handle_batch, message_of
from kindling.platform.dynamo import TableModel
from kindling.sending.scheduler import Scheduler
from tests.integration.outreach.conftest import Engine
from tests.support.linkedin_steps import INVITE, VIEW, WAIT


class _Requests:
    def __init__(self) -> None:
        self.operations: list[str] = []

    def __call__(self, model: Any, **_: Any) -> None:
        self.operations.append(str(model.name))


@contextmanager
def _counted() -> Iterator[list[str]]:
    client = TableModel._get_connection().connection.client
    counter = _Requests()
    client.meta.events.register("before-call.dynamodb", counter)
    try:
        yield counter.operations
    finally:
        client.meta.events.unregister("before-call.dynamodb", counter)


def _usage(engine: Engine, account: dict[str, Any]) -> dict[str, int]:
    return dict(UsageRepository().usage(engine.world.tenant.workspace_id, account["id"], engine.world.clock.now()))


def test_the_tick_claims_a_campaigns_due_actions_in_five_requests_and_the_worker_acts_in_two(engine: Engine) -> None:
    accounts = [engine.world.connect(name=f"Account {n}") for n in range(3)]
    cid = engine.campaign([VIEW], [a["id"] for a in accounts])
    engine.start(cid)
    pids = [engine.prospect(f"costed-{n}") for n in range(6)]
    engine.enroll(cid, pids)
    Scheduler().tick()  # the email scheduler hands new enrollments at a LinkedIn step over to the LinkedIn shards
    with _counted() as tick:
        report = engine.scheduler.tick()
    assert report.claimed == 6
    # 8 due shards and the parked-campaign watch (the idle tick's 9), then per campaign: the campaign (GetItem +
    # Query), the pool (accounts, cooldowns, pacers) and the prospects (2 BatchGetItem), the claims (1 transaction)
    assert tick.count("Query") == 10
    assert tick.count("GetItem") == 1
    assert tick.count("BatchGetItem") == 2
    assert tick.count("TransactWriteItems") == 1
    assert len(tick) == 14
    records = engine.receive()
    assert len(records) == 6
    warm = ActionWorker(default_provider(), repository=engine.repo)
    with _counted() as first:
        assert handle_batch(warm, records[:1])["batchItemFailures"] == []
    # a cold worker reads the campaign (GetItem + Query) and the account (GetItem) once
    assert sorted(first) == ["GetItem", "GetItem", "Query", "TransactWriteItems", "TransactWriteItems"]
    with _counted() as rest:
        assert handle_batch(warm, records[1:])["batchItemFailures"] == []
    account_reads = len(
        {message_of(r["body"]).account_id for r in records[1:]} - {message_of(records[0]["body"]).account_id}
    )
    assert rest.count("TransactWriteItems") == 2 * 5  # the `sending` mark and the success, per action
    assert rest.count("GetItem") == account_reads  # accounts not met before; the campaign comes from the cache
    assert len(rest) == 10 + account_reads
    assert all(engine.enrollment(cid, pid).status == "completed" for pid in pids)
    assert engine.stats(cid)[0]["views"] == 6
    assert sum(_usage(engine, a)["profile_views_day"] for a in accounts) == 6


def test_a_campaign_paused_between_the_claim_and_the_work_stops_the_action_and_reserves_nothing(engine: Engine) -> None:
    account = engine.world.connect()
    cid = engine.campaign([INVITE, WAIT], [account["id"]])
    engine.start(cid)
    pid = engine.prospect("paused-between", "Paula")
    engine.enroll(cid, [pid])
    engine.tick()
    records = engine.receive()
    assert len(records) == 1 and message_of(records[0]["body"]).account_id == account["id"]  # a fast message
    engine.world.ok("POST", f"/api/v1/campaigns/{cid}/pause")
    result = engine.worker.handle(message_of(records[0]["body"]))
    assert result.outcome == "not_running"
    assert engine.world.provider_calls("POST", "/users/invite") == 0
    assert engine.world.provider_calls("GET", "/users/paused-between") == 0
    assert _usage(engine, account)["invites_week"] == 0  # the reservation was in the transaction that failed
    ledger = engine.repo.action(engine.world.tenant.workspace_id, message_of(records[0]["body"]).action_id)
    assert ledger is None  # the claim released: the enrollment stays due, the tick parks it
    assert engine.enrollment(cid, pid).current_step == 0
    engine.world.advance(60 * 11)
    engine.run(minutes=2)
    assert engine.invitations_to("paused-between") == []
    engine.start(cid)  # resumed: the parked step goes on, once
    engine.run(minutes=2)
    assert len(engine.invitations_to("paused-between")) == 1
    assert _usage(engine, account)["invites_week"] == 1
    assert engine.enrollment(cid, pid).current_step == 1


def test_an_account_disconnected_between_the_claim_and_the_work_parks_the_prospect(engine: Engine) -> None:
    account = engine.world.connect()
    cid = engine.campaign([INVITE], [account["id"]])
    engine.start(cid)
    pid = engine.prospect("gone-offline", "Gwen")
    engine.enroll(cid, [pid])
    engine.tick()
    records = engine.receive()
    assert message_of(records[0]["body"]).account_id == account["id"]
    # the worker saw the account connected before (its cache), then the account goes down
    warm = ActionWorker(default_provider(), repository=engine.repo)
    assert warm._cached_account(engine.world.tenant.workspace_id, account["id"]) is not None
    LinkedInAccountService(provider=default_provider()).set_status(
        engine.world.tenant.workspace_id, account["id"], "disconnected", reason="test", source="api"
    )
    assert handle_batch(warm, records)["batchItemFailures"] == []
    item = engine.enrollment(cid, pid)
    assert (item.status, item.current_step, item.li_status) == ("pending", 0, "paused_account")
    assert engine.world.provider_calls("POST", "/users/invite") == 0
    assert _usage(engine, account)["invites_week"] == 0
    got = engine.world.ok("GET", f"/api/v1/campaigns/{cid}")
    assert (got["status"], got["pausedReason"]) == ("paused", "linkedin_account_disconnected")


def test_a_redelivery_while_the_action_is_in_flight_waits_and_the_lease_brings_it_back(engine: Engine) -> None:
    account = engine.world.connect()
    cid = engine.campaign([VIEW], [account["id"]])
    engine.start(cid)
    pid = engine.prospect("in-flight", "Ian")
    engine.enroll(cid, [pid])
    engine.tick()
    records = engine.receive()
    message = message_of(records[0]["body"])
    ws = engine.world.tenant.workspace_id
    ledger, item, _ = engine.repo.action_reads(ws, message.action_id, cid, pid)
    assert ledger is not None and item is not None
    assert engine.repo.start_attempt(ledger, account["id"], engine.world.clock.now())  # another delivery took it
    engine.world.advance(90)  # 90 s later that delivery may still be at work (the worker's timeout is 60 s)
    assert engine.worker.handle(message).outcome == "in_flight"
    assert engine.world.provider_calls("GET", "/users/in-flight") == 0
    engine.world.advance(60 * 10)  # it died: the lease brings the enrollment back, the tick queues it again
    engine.run(minutes=1)
    assert engine.world.provider_calls("GET", "/users/in-flight") == 1
    assert engine.enrollment(cid, pid).status == "completed"
    assert engine.stats(cid)[0]["views"] == 1


def test_the_tick_leaves_actions_beyond_the_pools_pace_for_later_minutes(engine: Engine) -> None:
    account = engine.world.connect()
    cid = engine.campaign([VIEW], [account["id"]])
    engine.start(cid)
    pids = [engine.prospect(f"paced-{n}") for n in range(5)]
    engine.enroll(cid, pids)
    now = engine.world.clock.now()
    Scheduler().tick()
    report = engine.scheduler.tick()
    assert (report.claimed, report.deferred) == (2, 3)  # one account: 2 actions a minute
    waiting = sorted(
        engine.enrollment(cid, pid).next_send_at for pid in pids if engine.enrollment(cid, pid).next_send_at
    )
    leases = [w for w in waiting if w == now + timedelta(minutes=10)]
    later = [w - now for w in waiting if w != now + timedelta(minutes=10)]
    assert len(leases) == 2
    assert sorted(later) == [timedelta(minutes=1), timedelta(minutes=1), timedelta(minutes=2)]
    engine.drain()
    assert engine.world.provider_calls("GET", "/users/paced-") == 2


def test_a_cooldown_that_starts_between_the_claim_and_the_work_stops_the_invite(engine: Engine) -> None:
    account = engine.world.connect()
    cid = engine.campaign([INVITE], [account["id"]])
    engine.start(cid)
    pid = engine.prospect("cooled-between", "Cora")
    engine.enroll(cid, [pid])
    engine.tick()
    records = engine.receive()
    assert message_of(records[0]["body"]).account_id == account["id"]  # a fast message
    ws = engine.world.tenant.workspace_id
    until = engine.world.clock.now() + timedelta(hours=5)
    engine.repo.raise_cooldown(ws, account["id"], until)  # another prospect's invite met cannot_resend_yet
    assert handle_batch(engine.worker, records)["batchItemFailures"] == []
    assert engine.world.provider_calls("POST", "/users/invite") == 0
    assert _usage(engine, account)["invites_week"] == 0
    item = engine.enrollment(cid, pid)
    assert (item.status, item.current_step) == ("pending", 0)
    assert item.next_send_at >= until  # waits for the cooldown
