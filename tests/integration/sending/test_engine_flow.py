"""The scheduler and the sender together over moto and a real SMTP server: a three-step campaign with a reply
step, threading, rendering, counters, completion; the send ledger's lookups."""

from __future__ import annotations

import email
from datetime import timedelta
from email import policy

from kindling.campaigns.repository import CampaignRepository
from kindling.enrollments.repository import EnrollmentRepository
from kindling.sending.ledger import send_id_of_message_id
from kindling.sending.scheduler import Scheduler
from tests.integration.sending.world import World

THREE_STEPS = [
    {
        "subject": "Quick question, {{firstName}}",
        "body_html": '<p>Hi {{firstName}} at {{company}}, see <a href="https://acme.test/x">this</a></p>',
    },
    {"send_as_reply": True, "subject": "", "body_html": "<p>Following up, {{firstName}}</p>", "delay_days": 2},
    {"subject": "Last note", "body_html": "<p>Bye {{firstName}}</p>", "delay_days": 3},
]


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def test_three_steps_thread_render_count_and_complete(world: World) -> None:
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], THREE_STEPS, minutes_between_sends=0)
    ann, bob = world.prospects(["ann@client.test", "bob@other.test"])
    world.enroll(campaign, [ann, bob])

    report, result = world.run()
    assert (report.claimed, result.sent) == (2, 2)
    first = parse(world.delivered_to("ann@client.test")[0].content)
    assert first["Subject"] == "Quick question, Ann"
    assert str(first["From"]) == "Sam Sender <sender@lab.test>"
    assert "List-Unsubscribe-Post" in first and first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = first.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Hi Ann at Acme" in html and "https://track.example.test/t/c/" in html and "/t/o/" in html
    first_id = first["Message-ID"].strip("<>")
    record = world.send_record(campaign, ann, 0)
    assert record.status == "sent" and record.message_id == first_id and record.sent_at == world.clock.now()

    # Nothing more is due until the step delay (2 days + 1-5 min jitter) has passed.
    assert world.run(timedelta(days=1))[0].claimed == 0
    enrollment = world.enrollment(campaign, ann)
    assert enrollment.status == "active" and enrollment.current_step == 1
    assert enrollment.thread_message_ids == [first_id]
    assert timedelta(days=2, minutes=1) <= enrollment.next_send_at - record.sent_at <= timedelta(days=2, minutes=10)

    report, result = world.run(timedelta(days=1, minutes=15))
    assert result.sent == 2
    reply = parse(world.delivered_to("ann@client.test")[1].content)
    assert reply["Subject"] == "Re: Quick question, Ann"
    assert reply["In-Reply-To"] == f"<{first_id}>" and reply["References"] == f"<{first_id}>"

    world.run(timedelta(days=3, minutes=15))
    assert len(world.delivered_to("ann@client.test")) == 3
    assert world.enrollment(campaign, ann).status == "completed"
    stored = CampaignRepository().get(world.workspace_id, campaign.campaign_id)
    assert stored.stats.sent == 6 and stored.status == "completed"
    assert all(stored.step_stats[s.id].sent == 2 for s in stored.steps)
    summary = EnrollmentRepository().summary(world.workspace_id, campaign.campaign_id)
    assert summary.count("completed") == 2 and summary.count("active") == 0


def test_ledger_lookups_and_hits(world: World) -> None:
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], THREE_STEPS[:1], minutes_between_sends=0)
    (ann,) = world.prospects(["ann@client.test"])
    world.enroll(campaign, [ann])
    world.run()
    record = world.send_record(campaign, ann, 0)
    assert send_id_of_message_id(f"<{record.message_id}>") == record.send_id
    assert world.ledger.find_by_message_ids(world.workspace_id, ["<other@x.test>", f"<{record.message_id}>"]) == record
    assert world.ledger.find_by_message_ids(world.workspace_id, ["<nothing@x.test>"]) is None
    since = world.clock.now() - timedelta(hours=1)
    assert world.ledger.latest_to_recipient(world.workspace_id, mailbox.id, "ann@client.test", since) == record
    assert world.ledger.latest_to_recipient(world.workspace_id, mailbox.id, "bob@client.test", since) is None
    at = world.clock.now()
    assert world.ledger.record_hit(world.workspace_id, record.send_id, "open", at) is True
    assert world.ledger.record_hit(world.workspace_id, record.send_id, "open", at) is False
    assert world.ledger.record_hit(world.workspace_id, record.send_id, "click", at) is True
    stats = CampaignRepository().get(world.workspace_id, campaign.campaign_id)
    assert (stats.stats.opened, stats.stats.clicked) == (1, 1)
    assert stats.variant_stats[f"{stats.steps[0].id}#A"].opened == 1
    assert world.ledger.get(world.workspace_id, record.send_id).opened_at == at


def test_variants_of_one_step_in_one_batch_count_apart(world: World) -> None:
    mailbox = world.mailbox()
    variants = [
        {"subject": "A {{firstName}}", "body_html": "<p>A</p>"},
        {"subject": "B {{firstName}}", "body_html": "<p>B</p>"},
    ]
    campaign = world.campaign([mailbox], [{"variants": variants}], minutes_between_sends=0)
    world.enroll(campaign, world.prospects([f"v{n}@v{n}.test" for n in range(8)]))
    _, result = world.run()
    assert result.sent == 8
    stored = CampaignRepository().get(world.workspace_id, campaign.campaign_id)
    step = stored.steps[0]
    by_letter = {letter: stored.variant_stats[f"{step.id}#{letter}"].sent for letter in "AB"}
    assert sum(by_letter.values()) == 8 and all(by_letter.values())
    assert stored.step_stats[step.id].sent == stored.stats.sent == 8
    subjects = sorted(str(parse(d.content)["Subject"])[0] for d in world.server.handler.delivered)
    assert subjects.count("A") == by_letter["A"]


def test_campaigns_past_the_tick_budget_wait_for_the_next_tick(world: World) -> None:
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], THREE_STEPS[:1], minutes_between_sends=0)
    world.enroll(campaign, world.prospects(["late@l.test"]))
    hurried = Scheduler(queue=world.queue, clock=world.clock, budget_seconds=-1)
    report = hurried.tick()
    assert (report.due, report.deferred_campaigns, report.claimed) == (1, 1, 0)
    assert world.tick().claimed == 1
