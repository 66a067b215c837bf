"""The LinkedIn action engine against the provider emulator over real HTTP (issue 18, "The engine"): the sequence
runs each step once, the cap is reserved before the provider call, a duplicate delivery and a crash after the
provider call act once, and the error dispositions hold."""

from __future__ import annotations

from datetime import timedelta

from kindling.linkedin.service import default_provider
from kindling.linkedin.usage import UsageRepository
from kindling.outreach.engine import ActionWorker, handle_batch
from tests.integration.outreach.conftest import Engine
from tests.support.linkedin_steps import INVITE, MESSAGE, VIEW, WAIT


def test_a_four_step_sequence_runs_each_step_once_and_counts_it(engine: Engine) -> None:
    accounts = [engine.world.connect(name="Jordan Lee"), engine.world.connect(name="Sam Park")]
    cid = engine.campaign([VIEW, INVITE, WAIT, MESSAGE], [a["id"] for a in accounts])
    engine.start(cid)
    pid = engine.prospect("ada-lovelace", "Ada")
    engine.enroll(cid, [pid])

    engine.run(minutes=1)  # the view
    item = engine.enrollment(cid, pid)
    assert (item.current_step, item.status) == (1, "active")
    engine.world.advance(60 * 30)
    engine.run(minutes=1)  # the invite
    invitations = engine.invitations_to("ada-lovelace")
    assert [i.message for i in invitations] == ["Hi Ada, glad to connect."]
    item = engine.enrollment(cid, pid)
    assert item.current_step == 2 and item.li_invited_at is not None
    sender = item.li_account_id
    assert sender in {a["id"] for a in accounts}

    engine.run(minutes=3)  # waiting: nothing more happens
    assert len(engine.invitations_to("ada-lovelace")) == 1
    assert engine.enrollment(cid, pid).current_step == 2

    engine.emulator.accept_invitation(invitations[0].id)  # path A: the new-relation webhook through the ingress
    item = engine.enrollment(cid, pid)
    assert item.li_accepted_at is not None and item.current_step == 3
    engine.world.advance(60 * 60 * 25)
    engine.run(minutes=2)  # the message, from the account that invited
    chats = [c for c in engine.emulator.chats.values() if c.attendee_provider_id == invitations[0].provider_id]
    assert len(chats) == 1
    assert [m.text for m in chats[0].messages] == ["Thanks for connecting, Ada!"]
    assert engine.provider_account({"id": sender}) == chats[0].account_id
    item = engine.enrollment(cid, pid)
    assert (item.status, item.current_step) == ("completed", 4)

    engine.run(minutes=3)
    assert engine.world.provider_calls("POST", "/users/invite") == 1
    assert engine.world.provider_calls("POST", "/chats") == 1
    stats = engine.world.ok("GET", f"/api/v1/campaigns/{cid}/stats")
    by_step = [s["linkedin"] for s in stats["steps"]]
    assert by_step[0]["views"] == 1
    assert by_step[1]["invites"] == 1 and by_step[1]["acceptances"] == 1
    assert by_step[3]["messages"] == 1


def _claimed(engine: Engine) -> list[dict[str, str]]:
    engine.tick()
    records = engine.receive()
    assert len(records) == 1
    return records


def test_a_duplicate_delivery_invites_once(engine: Engine) -> None:
    account = engine.world.connect()
    cid = engine.campaign([INVITE], [account["id"]])
    engine.start(cid)
    pid = engine.prospect("grace-hopper", "Grace")
    engine.enroll(cid, [pid])
    records = _claimed(engine)
    assert handle_batch(engine.worker, records + records)["batchItemFailures"] == []
    assert handle_batch(engine.worker, records)["batchItemFailures"] == []
    assert len(engine.invitations_to("grace-hopper")) == 1
    usage = UsageRepository().usage(engine.world.tenant.workspace_id, account["id"], engine.world.clock.now())
    assert usage["invites_week"] == 1
    assert engine.enrollment(cid, pid).status == "completed"


class _Crash(BaseException):
    """The process dies (not an exception the worker handles)."""


class _CrashAfterInvite:
    """The real provider client; the process dies right after the invitation reached the provider."""

    def __init__(self) -> None:
        self._inner = default_provider()

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def send_invitation(self, account_id: str, provider_id: str, message: str | None) -> str:
        sent = self._inner.send_invitation(account_id, provider_id, message)
        raise _Crash(sent)


def test_a_crash_after_the_provider_call_never_invites_twice(engine: Engine) -> None:
    account = engine.world.connect()
    cid = engine.campaign([INVITE, WAIT], [account["id"]])
    engine.start(cid)
    pid = engine.prospect("alan-turing", "Alan")
    engine.enroll(cid, [pid])
    records = _claimed(engine)
    crashing = ActionWorker(_CrashAfterInvite(), repository=engine.repo)  # type: ignore[arg-type]
    try:
        handle_batch(crashing, records)
    except _Crash:
        pass
    else:
        raise AssertionError("the worker was meant to die")
    assert len(engine.invitations_to("alan-turing")) == 1
    assert engine.enrollment(cid, pid).current_step == 0  # the final write never happened
    # SQS delivers the message again; the lease also brings the enrollment back to a later tick
    assert handle_batch(engine.worker, records)["batchItemFailures"] == []
    engine.world.advance(60 * 11)
    engine.run(minutes=2)
    assert len(engine.invitations_to("alan-turing")) == 1
    item = engine.enrollment(cid, pid)
    assert item.current_step == 1 and item.li_invited_at is not None
    stats = engine.world.ok("GET", f"/api/v1/campaigns/{cid}/stats")
    assert stats["steps"][0]["linkedin"]["invites"] == 1


def test_cannot_resend_yet_cools_the_account_down_and_keeps_the_prospect_on_its_step(engine: Engine) -> None:
    account = engine.world.connect()
    cid = engine.campaign([INVITE], [account["id"]])
    engine.start(cid)
    pid = engine.prospect("katherine-johnson", "Katherine")
    engine.enroll(cid, [pid])
    engine.emulator.fail_next_invite("errors/cannot_resend_yet")
    now = engine.world.clock.now()
    engine.run(minutes=1)
    item = engine.enrollment(cid, pid)
    assert (item.status, item.current_step) == ("pending", 0)
    state = engine.repo.engine_state(engine.world.tenant.workspace_id, account["id"])
    assert state.cooldown_until is not None
    assert timedelta(hours=4) <= state.cooldown_until - now <= timedelta(hours=8)
    assert item.next_send_at >= state.cooldown_until  # rescheduled after the cooldown (with jitter)
    usage = UsageRepository().usage(engine.world.tenant.workspace_id, account["id"], engine.world.clock.now())
    assert usage["invites_week"] == 0  # the refused invite's slot was freed
    assert engine.invitations_to("katherine-johnson") == []
    engine.run(minutes=5)
    assert engine.invitations_to("katherine-johnson") == []  # nothing during the cooldown
    engine.world.clock.set(state.cooldown_until + timedelta(minutes=16))
    engine.run(minutes=1)
    assert len(engine.invitations_to("katherine-johnson")) == 1
    assert engine.enrollment(cid, pid).status == "completed"


def test_three_404s_exclude_the_prospect(engine: Engine) -> None:
    account = engine.world.connect()
    cid = engine.campaign([INVITE], [account["id"]])
    engine.start(cid)
    pid = engine.prospect("ghost-member", "Ghost")
    engine.enroll(cid, [pid])
    engine.emulator.hide_profile("ghost-member")
    for _ in range(3):
        engine.run(minutes=1)
        engine.world.advance(60 * 60 * 5)
    item = engine.enrollment(cid, pid)
    assert item.status == "stopped"
    assert item.stopped_reason == "Excluded: profile inaccessible (HTTP 404)"
    assert engine.invitations_to("ghost-member") == []
    usage = UsageRepository().usage(engine.world.tenant.workspace_id, account["id"], engine.world.clock.now())
    assert usage["invites_week"] == 0


def test_two_workers_racing_on_one_delivery_invite_once(engine: Engine) -> None:
    """The same message handled by two workers at the same instant (SQS at-least-once): one invitation, one count."""
    import threading

    account = engine.world.connect()
    cid = engine.campaign([INVITE, WAIT], [account["id"]])
    engine.start(cid)
    pid = engine.prospect("ada-yonath", "Ada")
    engine.enroll(cid, [pid])
    records = _claimed(engine)
    workers = [ActionWorker(default_provider(), repository=engine.repo) for _ in range(2)]
    barrier = threading.Barrier(2)
    results: list[dict[str, object]] = []

    def run(worker: ActionWorker) -> None:
        barrier.wait()
        results.append(handle_batch(worker, records))

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [r["batchItemFailures"] for r in results] == [[], []]
    assert len(engine.invitations_to("ada-yonath")) == 1
    assert engine.world.provider_calls("POST", "/users/invite") == 1
    usage = UsageRepository().usage(engine.world.tenant.workspace_id, account["id"], engine.world.clock.now())
    assert usage["invites_week"] == 1
    assert engine.stats(cid)[0]["invites"] == 1
    assert engine.enrollment(cid, pid).current_step == 1


def test_a_prospect_item_gone_after_the_claim_stops_its_enrollment(engine: Engine) -> None:
    """The API has no prospect delete; the item is removed from the table directly (lost data, a manual fix)."""
    import boto3

    from kindling.platform.settings import get_settings

    account = engine.world.connect()
    cid = engine.campaign([VIEW], [account["id"]])
    engine.start(cid)
    pid = engine.prospect("gone-soon", "Gone")
    engine.enroll(cid, [pid])
    records = _claimed(engine)
    boto3.client("dynamodb", region_name="us-east-1").delete_item(
        TableName=get_settings().table_name,
        Key={"pk": {"S": f"{engine.world.tenant.workspace_id}#PROSPECT#{pid}"}, "sk": {"S": "#"}},
    )
    assert handle_batch(engine.worker, records)["batchItemFailures"] == []
    item = engine.enrollment(cid, pid)
    assert (item.status, item.stopped_reason) == ("stopped", "prospect_deleted")
    assert item.due_pk is None
    assert engine.world.provider_calls("GET", "/users/gone-soon") == 0


def test_an_unresolved_sales_navigator_url_backs_off_five_times_then_fails(engine: Engine) -> None:
    account = engine.world.connect()
    cid = engine.campaign([INVITE], [account["id"]])
    engine.start(cid)
    created = engine.world.ok(
        "POST",
        "/api/v1/prospects",
        201,
        json={"email": "navi@example.com", "linkedinUrl": "https://www.linkedin.com/sales/lead/ACwAAA1,NAME_SEARCH"},
    )
    pid = str(created["id"])
    engine.enroll(cid, [pid])
    statuses = []
    for _ in range(5):
        engine.run(minutes=1)
        item = engine.enrollment(cid, pid)
        statuses.append((item.status, item.li_status))
        engine.world.advance(5 * 3600)
    assert statuses[:4] == [("pending", "unresolved_url")] * 4
    item = engine.enrollment(cid, pid)
    assert (item.status, item.stopped_reason) == ("failed", "Sales Navigator URL could not be resolved after 5 tries")
    assert engine.world.provider_calls("POST", "/users/invite") == 0


def test_a_rate_limited_provider_defers_the_step_after_its_retry_after_and_frees_the_slot(engine: Engine) -> None:
    account = engine.world.connect()
    cid = engine.campaign([VIEW], [account["id"]])
    engine.start(cid)
    pid = engine.prospect("rate-limited", "Rita")
    engine.enroll(cid, [pid])
    engine.emulator.rate_limit(1, retry_after=1800)  # the profile read answers 429 (a long Retry-After: no retry)
    engine.run(minutes=1)
    item = engine.enrollment(cid, pid)
    assert (item.status, item.current_step) == ("pending", 0)
    assert item.next_send_at >= engine.world.clock.now() + timedelta(minutes=28)  # not before Retry-After
    usage = UsageRepository().usage(engine.world.tenant.workspace_id, account["id"], engine.world.clock.now())
    assert usage["profile_views_day"] == 0
    engine.world.clock.set(item.next_send_at)
    engine.run(minutes=1)
    assert engine.enrollment(cid, pid).status == "completed"


def test_five_consecutive_transient_failures_fail_the_prospect_permanently(engine: Engine) -> None:
    account = engine.world.connect()
    cid = engine.campaign([VIEW], [account["id"]])
    engine.start(cid)
    pid = engine.prospect("always-down", "Dana")
    engine.enroll(cid, [pid])
    for _ in range(5):
        engine.emulator.server_error(3)  # the profile read and both its retries
        engine.run(minutes=1)
        engine.world.advance(2 * 3600)
    item = engine.enrollment(cid, pid)
    assert item.status == "failed"
    assert item.stopped_reason is not None and item.stopped_reason.startswith("Permanently failed after 5 stuck")


def test_another_422_defers_the_invite_without_burning_the_prospect_or_the_slot(engine: Engine) -> None:
    account = engine.world.connect()
    cid = engine.campaign([INVITE], [account["id"]])
    engine.start(cid)
    pid = engine.prospect("deferred-one", "Dee")
    engine.enroll(cid, [pid])
    engine.emulator.fail_next_invite("errors/unprocessable_entity")
    now = engine.world.clock.now()
    engine.run(minutes=1)
    item = engine.enrollment(cid, pid)
    assert (item.status, item.current_step) == ("pending", 0)
    assert item.next_send_at >= now + timedelta(minutes=30)  # deferred 30 minutes, never failed inline
    usage = UsageRepository().usage(engine.world.tenant.workspace_id, account["id"], engine.world.clock.now())
    assert usage["invites_week"] == 0
    engine.world.clock.set(item.next_send_at)
    engine.run(minutes=1)
    assert len(engine.invitations_to("deferred-one")) == 1
    assert engine.enrollment(cid, pid).status == "completed"
