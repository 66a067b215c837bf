"""Exactly once per (enrollment, step): duplicate queue deliveries, two sender invocations racing on the same
claimed sends, overlapping ticks, a crash after the claim, a crash between messages and a crash after SMTP never
produce a second DATA; the watchdog recovers what a crash left behind (and gives up on the third recovery)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

import kindling.sending.sender as sender_module
from devstack.moto_patches import serialise_dynamodb
from kindling.enrollments.repository import EnrollmentRepository
from kindling.mail.connection import TlsPolicy
from kindling.mail.smtp import SmtpSender
from kindling.sending.scheduler import Scheduler
from kindling.sending.sender import BatchResult, Sender
from kindling.sending.service import stop_enrollment
from tests.integration.sending.world import World

STEPS = [{"subject": "Hello {{firstName}}", "body_html": "<p>One</p>"}, {"subject": "Again", "delay_days": 1}]


class Crash(Exception):
    """A simulated process death at a chosen point."""


def three_leads(world: World) -> tuple[str, list[str]]:
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], STEPS, minutes_between_sends=0)
    emails = ["a@one.test", "b@two.test", "c@three.test"]
    world.enroll(campaign, world.prospects(emails))
    return campaign.campaign_id, emails


def deliveries(world: World) -> dict[str, int]:
    counts: dict[str, int] = {}
    for message in world.server.handler.delivered:
        for rcpt in message.rcpt_tos:
            counts[rcpt] = counts.get(rcpt, 0) + 1
    return counts


def test_a_duplicate_delivery_sends_once(world: World) -> None:
    _, emails = three_leads(world)
    world.tick()
    jobs = world.queue.take()
    first = world.send(jobs)
    again = world.send(jobs)  # the same queue messages delivered a second time, after the first batch finished
    assert (first.sent, again.sent, again.skipped) == (3, 0, 3)
    assert deliveries(world) == dict.fromkeys(emails, 1)


def test_the_same_message_twice_in_one_batch(world: World) -> None:
    _, emails = three_leads(world)
    world.tick()
    jobs = world.queue.take()
    result = world.send([*jobs, jobs[0]])  # a duplicate inside one batch: its gate refuses the second copy
    assert result.sent == 3 and result.skipped == 1
    assert deliveries(world) == dict.fromkeys(emails, 1)


def test_two_senders_racing_on_the_same_claimed_sends_send_each_once(world: World) -> None:
    """Two sender invocations (two threads, each its own Sender, SMTP session and event loop) get the same three
    claimed sends. A barrier per send holds each one right before its gate until the other invocation is there
    too, so both gates' conditional writes race for every message: exactly one DATA per recipient."""
    serialise_dynamodb()  # moto applies each DynamoDB request atomically, as DynamoDB does
    _, emails = three_leads(world)
    world.tick()
    jobs = world.queue.take()
    assert len(jobs) == 3
    barriers = {job.send_id: threading.Barrier(2, timeout=20) for job in jobs}
    arrivals: dict[str, list[str]] = {job.send_id: [] for job in jobs}

    def release_together(point: str, send_id: str) -> None:
        if point == "gate":
            arrivals[send_id].append(threading.current_thread().name)
            barriers[send_id].wait()  # both invocations are at this message's gate; neither has written yet

    sender_module.fault_hook = release_together
    senders = [
        world.sender,
        Sender(smtp=SmtpSender(tls=TlsPolicy(allow_private_addresses=True), timeout=5.0), clock=world.clock),
    ]
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="sender") as pool:
        futures = [pool.submit(sender.process, list(jobs)) for sender in senders]
        results: list[BatchResult] = [future.result(timeout=60) for future in futures]
    sender_module.fault_hook = None

    assert all(len(set(names)) == 2 for names in arrivals.values()), arrivals  # the race really ran, per message
    assert sum(r.sent for r in results) == 3 and sum(r.skipped for r in results) == 3
    assert deliveries(world) == dict.fromkeys(emails, 1)
    assert len(world.server.handler.delivered) == 3  # one DATA per recipient
    statuses = [world.ledger.get(world.workspace_id, job.send_id).status for job in jobs]
    assert statuses == ["sent", "sent", "sent"]


def test_overlapping_ticks_claim_once(world: World) -> None:
    three_leads(world)
    other = Scheduler(queue=world.queue, clock=world.clock)
    assert world.tick().claimed == 3
    again = other.tick()  # a second tick before the sender ran: the sends are in flight, nothing is claimed
    assert again.claimed == 0 and again.waiting == 3
    assert len(world.queue.jobs) == 3


def test_crash_between_messages_resends_only_the_untouched(world: World) -> None:
    _, emails = three_leads(world)
    world.tick()
    jobs = world.queue.take()
    seen: list[str] = []

    def crash_before_third(point: str, send_id: str) -> None:
        if point == "gate":
            seen.append(send_id)
            if len(seen) == 3:
                raise Crash("killed before the third message")

    sender_module.fault_hook = crash_before_third
    with pytest.raises(Crash):
        world.send(jobs)
    sender_module.fault_hook = None
    assert sum(deliveries(world).values()) == 2
    # The queue redelivers the batch: the two sent are `sending` (gate refuses), the third goes.
    result = world.send(jobs)
    assert result.sent == 1 and result.skipped == 2
    assert deliveries(world) == dict.fromkeys(emails, 1)
    # The two whose final write never happened are settled by the watchdog as `unknown`, never resent.
    report = world.tick(timedelta(minutes=11))
    assert report.resolved_unknown == 2 and report.claimed == 0
    statuses = sorted(world.ledger.get(world.workspace_id, j.send_id).status for j in jobs)
    assert statuses == ["sent", "unknown", "unknown"]
    assert all(world.enrollment_of(j).current_step == 1 for j in jobs)
    assert deliveries(world) == dict.fromkeys(emails, 1)


def test_crash_after_smtp_never_resends(world: World) -> None:
    _, emails = three_leads(world)
    world.tick()
    jobs = world.queue.take()

    def crash_at_finish(point: str, send_id: str) -> None:
        if point == "finish":
            raise Crash("killed after SMTP")

    sender_module.fault_hook = crash_at_finish
    with pytest.raises(Crash):
        world.send(jobs)
    sender_module.fault_hook = None
    assert world.send(jobs).sent == 0  # redelivered: every gate refuses
    assert world.tick(timedelta(minutes=5)).claimed == 0  # still within 10 minutes: waiting, not reclaimed
    report = world.tick(timedelta(minutes=6))
    assert report.resolved_unknown == 3
    world.tick(timedelta(days=1, minutes=10))
    assert world.send().sent == 3  # the next step goes out normally
    assert deliveries(world) == dict.fromkeys(emails, 2)


def test_lost_queue_message_is_requeued_and_the_third_recovery_fails(world: World) -> None:
    campaign_id, _ = three_leads(world)
    world.tick()
    lost = world.queue.take()  # a crash between the claim and the enqueue: the jobs never reach the queue
    assert world.tick(timedelta(minutes=9)).recovered == 0
    report = world.tick(timedelta(minutes=2))
    assert report.recovered == 3
    requeued = world.queue.take()
    assert {j.send_id for j in requeued} == {j.send_id for j in lost}
    assert {j.token for j in requeued} == {j.token for j in lost}  # the same claim
    # The requeued messages are lost again, twice: the third recovery fails the enrollments.
    assert world.tick(timedelta(minutes=11)).recovered == 3
    world.queue.take()
    report = world.tick(timedelta(minutes=11))
    assert report.failed_stuck == 3 and report.recovered == 0
    summary = EnrollmentRepository().summary(world.workspace_id, campaign_id)
    assert summary.count("failed") == 3
    assert world.send(lost).sent == 0  # a straggler of the lost messages cannot send any more
    assert deliveries(world) == {}


def test_a_stop_cancels_the_queued_send(world: World) -> None:
    _, emails = three_leads(world)
    world.tick()
    jobs = world.queue.take()
    target = next(j for j in jobs if j.recipient == emails[0])
    assert stop_enrollment(world.workspace_id, target.campaign_id, target.prospect_id, "replied", world.clock.now())
    result = world.send(jobs)
    assert result.sent == 2 and result.skipped == 1
    assert world.ledger.get(world.workspace_id, target.send_id).status == "canceled"
    assert emails[0] not in deliveries(world)
    assert not stop_enrollment(world.workspace_id, target.campaign_id, target.prospect_id, "replied", world.clock.now())
