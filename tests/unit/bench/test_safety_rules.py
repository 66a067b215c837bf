"""The simulated month's checker (bench/safety_rules.py) can fail: a hand-made record set with one violation of
each kind, each counted once; the same set without them counts nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench.safety_rules import Campaign, Delivery, check_all, in_window

A, B = "a@lab-mail.test", "b@lab-junk.test"
MONDAY = datetime(2026, 6, 1, tzinfo=UTC)
BERLIN = Campaign("c-berlin", "Europe/Berlin", "09:00", "17:00", (1, 2, 3, 4, 5), 15, 3, (A,))
TOKYO = Campaign("c-tokyo", "Asia/Tokyo", "09:00", "18:00", (1, 2, 3, 4, 5, 6), 5, 10, (A, B))
CAMPAIGNS = {c.campaign_id: c for c in (BERLIN, TOKYO)}
LIMITS = {A: 5, B: 2}


def send(at: datetime, sender: str, to: str, campaign: Campaign, key: str) -> Delivery:
    return Delivery(at, sender, to, f"<{key}@lab.test>", campaign_id=campaign.campaign_id, send_key=key)


def clean() -> list[Delivery]:
    """Within every rule: Berlin 09:00-17:00 CEST is 07:00-15:00 UTC; A's pacer is 15 minutes (the longest of
    its campaigns), B's 5 (warmup sends: 10); A may send 5 a day, B 2; Berlin's campaign 3 a day."""
    at = MONDAY + timedelta(hours=8)
    return [
        send(at, A, "p1@x.test", BERLIN, "e1/s0"),
        send(at + timedelta(minutes=15), A, "p2@x.test", TOKYO, "e2/s0"),  # 17:15 in Tokyo
        Delivery(at + timedelta(minutes=30), A, B, "<w1@lab.test>", warmup=True),
        send(at + timedelta(minutes=45), A, "p3@x.test", BERLIN, "e3/s0"),
        send(MONDAY + timedelta(hours=1), B, "p4@y.test", TOKYO, "e4/s0"),  # 10:00 in Tokyo
        send(MONDAY + timedelta(hours=1, minutes=5), B, "p5@y.test", TOKYO, "e5/s0"),
    ]


def test_a_clean_record_counts_nothing() -> None:
    found = check_all(clean(), CAMPAIGNS, LIMITS, {"p9@x.test": MONDAY})
    counted = (found.daily_cap, found.hard_cap, found.pacer, found.window, found.suppression, found.duplicates)
    assert counted == (0, 0, 0, 0, 0, 0) and found.pacer_replies == 0, found.examples


def test_one_violation_of_each_kind_is_counted_once() -> None:
    records = clean()
    # daily cap: B's third campaign send of Monday (limit 2), at 11:00 Tokyo, 10 minutes after its previous send.
    records.append(send(MONDAY + timedelta(hours=2), B, "p6@y.test", TOKYO, "e6/s0"))
    # pacer: A at 11:14 in Berlin (09:14 UTC), 14 minutes after its previous send, a warmup one at 09:00 (15 minutes
    # after its previous send); A's interval is 15 minutes.
    records.append(Delivery(MONDAY + timedelta(hours=9), A, B, "<w2@lab.test>", warmup=True))
    records.append(send(MONDAY + timedelta(hours=9, minutes=14), A, "p7@z.test", BERLIN, "e7/s0"))
    # window: Tokyo's campaign at 19:30 local (10:30 UTC), 76 minutes after A's previous send, its fifth of 5.
    records.append(send(MONDAY + timedelta(hours=10, minutes=30), A, "p8@z.test", TOKYO, "e8/s0"))
    # suppression: an address suppressed at 11:00 UTC on Monday, sent to on Tuesday at 10:00 Tokyo.
    tuesday = MONDAY + timedelta(days=1)
    records.append(send(tuesday + timedelta(hours=1), B, "gone@y.test", TOKYO, "e9/s0"))
    # duplicate: the same (enrollment, step) accepted again on Tuesday, 5 minutes later.
    records.append(send(tuesday + timedelta(hours=1, minutes=5), B, "p5@y.test", TOKYO, "e5/s0"))
    # hard cap: 501 sends of B on Wednesday (UTC), warmup replies (no campaign cap, no warmup pacer applies).
    wednesday = MONDAY + timedelta(days=2)
    records += [
        Delivery(wednesday + timedelta(seconds=n * 10), B, A, f"<r{n}.re@lab.test>", warmup=True, reply=True)
        for n in range(501)
    ]
    found = check_all(records, CAMPAIGNS, LIMITS, {"gone@y.test": MONDAY + timedelta(hours=11)})
    assert found.daily_cap == 1, found.examples
    assert found.pacer == 1, found.examples
    assert found.window == 1, found.examples
    assert found.suppression == 1, found.examples
    assert found.duplicates == 1, found.examples
    assert found.hard_cap == 1, found.examples


def test_the_campaign_daily_limit_counts_in_the_campaign_timezone() -> None:
    # Berlin's limit is 3 a day: four sends on one Berlin day (Monday 07:00-14:00 UTC) is one violation, while
    # the mailbox stays within its own (A: 5).
    at = MONDAY + timedelta(hours=7)
    records = [send(at + timedelta(minutes=20 * n), A, f"q{n}@x.test", BERLIN, f"q{n}/s0") for n in range(4)]
    found = check_all(records, CAMPAIGNS, LIMITS, {})
    assert (found.daily_cap, found.pacer, found.window) == (1, 0, 0), found.examples


def test_warmup_sends_closer_than_ten_minutes_break_the_warmup_pacer() -> None:
    at = MONDAY + timedelta(hours=3)
    records = [
        Delivery(at, B, A, "<w1@lab.test>", warmup=True),
        Delivery(at + timedelta(minutes=9), B, A, "<w2@lab.test>", warmup=True),
        Delivery(at + timedelta(minutes=19), B, A, "<w3@lab.test>", warmup=True),
    ]
    assert check_all(records, CAMPAIGNS, LIMITS, {}).pacer == 1


def test_window_edges() -> None:
    # 09:00-17:00 in Berlin (CEST, UTC+2): 07:00 UTC is in, 15:00 UTC is out (the end is exclusive, with the one
    # second SQS rounding allowed), Saturday is out.
    assert in_window(MONDAY + timedelta(hours=7), BERLIN)
    assert not in_window(MONDAY + timedelta(hours=6, minutes=59), BERLIN)
    assert in_window(MONDAY + timedelta(hours=15, milliseconds=500), BERLIN)
    assert not in_window(MONDAY + timedelta(hours=15, seconds=2), BERLIN)
    assert not in_window(MONDAY + timedelta(days=5, hours=8), BERLIN)
    overnight = Campaign("c-night", "UTC", "22:00", "02:00", (1,), 0, 10, (A,))
    assert in_window(MONDAY + timedelta(hours=23), overnight)
    assert in_window(MONDAY + timedelta(days=1, hours=1), overnight)  # Tuesday 01:00 belongs to Monday
    assert not in_window(MONDAY + timedelta(hours=1), overnight)  # Monday 01:00 belongs to Sunday


def test_a_warmup_reply_inside_the_interval_is_counted_apart() -> None:
    # A's interval is 15 minutes: a reply 5 minutes after a campaign send, then a campaign send 12 minutes after the
    # reply (17 after the previous planned send): two reply gaps, no planned-send violation.
    at = MONDAY + timedelta(hours=7)
    records = [
        send(at, A, "r1@x.test", BERLIN, "r1/s0"),
        Delivery(at + timedelta(minutes=5), A, B, "<x1.re@lab.test>", warmup=True, reply=True),
        send(at + timedelta(minutes=17), A, "r2@x.test", BERLIN, "r2/s0"),
    ]
    found = check_all(records, CAMPAIGNS, LIMITS, {})
    assert (found.pacer, found.pacer_replies) == (0, 2), found.examples
