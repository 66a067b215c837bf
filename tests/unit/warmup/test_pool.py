"""Peer selection: exclusions, preferences (other workspace, new pair, other provider, load), fair shares."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from kindling.warmup.pool import PoolMember, PoolPolicy, Selection, select_peers


def member(
    mailbox_id: str,
    workspace_id: str = "ws_a",
    provider: str = "google",
    domain: str | None = None,
    score: int | None = 90,
    received_today: int = 0,
) -> PoolMember:
    return PoolMember(workspace_id, mailbox_id, domain or f"{mailbox_id}.example.com", provider, score, received_today)


def recipients(selection: Selection) -> list[str]:
    return [pair.recipient_id for pair in selection.pairs]


SENDER = member("s", "ws_a", "google")


@pytest.mark.parametrize(
    ("pool", "expected"),
    [
        # Cross-provider first (help center L237).
        ([member("g", "ws_b", "google"), member("m", "ws_b", "microsoft")], ["m"]),
        # Another workspace before another provider ("other users' mailboxes", L231).
        ([member("m", "ws_a", "microsoft"), member("g", "ws_b", "google")], ["g"]),
        # The least loaded among equals.
        (
            [member("m1", "ws_b", "microsoft", received_today=3), member("m2", "ws_c", "microsoft", received_today=1)],
            ["m2"],
        ),
        # Never itself, never its own domain; the same workspace only as a fallback.
        ([SENDER, member("d", "ws_b", "microsoft", domain="s.example.com"), member("w", "ws_a", "yahoo")], ["w"]),
    ],
)
def test_preferences(pool: list[PoolMember], expected: list[str]) -> None:
    assert recipients(select_peers([(SENDER, 1)], pool, random.Random(1))) == expected


def test_same_workspace_can_be_ruled_out() -> None:
    pool = [member("w", "ws_a", "microsoft")]
    selection = select_peers([(SENDER, 2)], pool, random.Random(1), policy=PoolPolicy(allow_same_workspace=False))
    assert selection.pairs == ()
    assert selection.unmatched == {"s": 2}


def test_a_sender_spreads_its_sends_over_different_peers_before_repeating() -> None:
    pool = [member(f"r{i}", f"ws_{i}", "google" if i % 2 else "microsoft") for i in range(6)]
    chosen = recipients(select_peers([(SENDER, 6)], pool, random.Random(5)))
    assert sorted(chosen) == [f"r{i}" for i in range(6)]
    # Cross-provider peers come first.
    assert set(chosen[:3]) == {"r0", "r2", "r4"}


@pytest.mark.parametrize(
    ("score", "domain_reason", "reason"),
    [
        (39, None, "low_health_score"),
        (0, None, "low_health_score"),
        (40, None, None),
        (None, None, None),  # no traffic yet: no score, still a peer
        (90, "blocklisted", "blocklisted"),
        (90, "mx_check_failed", "mx_check_failed"),
    ],
)
def test_exclusions(score: int | None, domain_reason: str | None, reason: str | None) -> None:
    peer = member("p", "ws_b", "microsoft", domain="peer.example.net", score=score)
    selection = select_peers(
        [(SENDER, 1)],
        [peer],
        random.Random(1),
        domain_excluded=lambda domain: domain_reason if domain == "peer.example.net" else None,
    )
    if reason is None:
        assert recipients(selection) == ["p"]
        assert selection.excluded == {}
    else:
        assert selection.pairs == ()
        assert selection.excluded == {"p": reason}
        assert selection.unmatched == {"s": 1}


def test_the_health_threshold_is_configurable() -> None:
    peer = member("p", "ws_b", score=65)
    selection = select_peers([(SENDER, 1)], [peer], random.Random(1), policy=PoolPolicy(min_health_score=70))
    assert selection.excluded == {"p": "low_health_score"}


def test_domains_are_compared_without_case() -> None:
    sender = member("s", "ws_a", domain="Acme.COM")
    peer = member("p", "ws_b", domain="acme.com")
    blocked = select_peers(
        [(sender, 1)], [peer], random.Random(1), domain_excluded=lambda d: "x" if d == "acme.com" else None
    )
    assert blocked.excluded == {"p": "x"}
    same_domain = select_peers([(sender, 1)], [peer], random.Random(1))
    assert same_domain.unmatched == {"s": 1}


@pytest.mark.parametrize(
    ("demand", "pool_size", "received", "share"),
    [
        (10, 3, 0, 4),  # ceil(10 / 3)
        (9, 3, 0, 3),
        (4, 4, 4, 2),  # ceil((4 already received + 4) / 4)
        (1, 5, 0, 1),
    ],
)
def test_no_peer_receives_more_than_its_share(demand: int, pool_size: int, received: int, share: int) -> None:
    pool = [member(f"r{i}", f"ws_{i}", received_today=received // pool_size) for i in range(pool_size)]
    selection = select_peers([(SENDER, demand)], pool, random.Random(2))
    assert selection.share == share
    load = Counter(recipients(selection))
    assert all(load[r.mailbox_id] + r.received_today <= share for r in pool)
    assert len(selection.pairs) == demand
    assert selection.unmatched == {}


def test_the_only_peer_a_domain_can_reach_takes_its_sends() -> None:
    # Two senders of one domain can only use c: c is the whole of what they can reach, so its share is all of it
    # (the ramp's planned sends are not dropped because peers they cannot use are emptier).
    a = member("a", "ws_a", domain="one.example.com")
    b = member("b", "ws_b", domain="one.example.com")
    c = member("c", "ws_c", received_today=50)
    selection = select_peers([(a, 3), (b, 3)], [a, b, c], random.Random(1))
    assert recipients(selection) == ["c"] * 6
    assert selection.unmatched == {}


def test_a_sender_that_reaches_nobody_is_reported_unmatched() -> None:
    a = member("a", "ws_a", domain="one.example.com")
    b = member("b", "ws_b", domain="one.example.com")
    selection = select_peers([(a, 3), (b, 2)], [a, b], random.Random(1))
    assert selection.pairs == ()
    assert selection.unmatched == {"a": 3, "b": 2}


@pytest.mark.parametrize(
    ("heavy", "light", "received"),
    [
        ((10, 5), (1, 5), (0, 0, 0, 0)),  # the integration scenario's first day: 15 sends one way, 6 the other
        ((25, 25), (2, 2), (0, 0, 0, 0)),
        ((7, 3), (0, 0), (9, 9, 0, 0)),  # the heavy side's peers already received more today
        ((1, 1), (30, 0), (0, 0, 4, 1)),
    ],
)
def test_two_domains_with_uneven_volumes_deliver_every_send_evenly(
    heavy: tuple[int, int], light: tuple[int, int], received: tuple[int, ...]
) -> None:
    """Four mailboxes on two domains: each side reaches only the other. Every planned send finds a peer, and no
    peer holds more than the larger of the pool's share and its side's even share (the pool-wide share alone
    would leave the busier side's sends unmatched)."""
    h1 = member("h1", "ws_a", "google", "heavy.test", received_today=received[0])
    h2 = member("h2", "ws_b", "google", "heavy.test", received_today=received[1])
    l1 = member("l1", "ws_a", "microsoft", "light.test", received_today=received[2])
    l2 = member("l2", "ws_b", "microsoft", "light.test", received_today=received[3])
    pool = [h1, h2, l1, l2]
    demands = [(h1, heavy[0]), (h2, heavy[1]), (l1, light[0]), (l2, light[1])]
    selection = select_peers(demands, pool, random.Random(3))
    assert selection.unmatched == {}
    assert len(selection.pairs) == sum(heavy) + sum(light)
    by_id = {p.mailbox_id: p for p in pool}
    assert all(by_id[p.sender_id].domain != by_id[p.recipient_id].domain for p in selection.pairs)
    totals = Counter(recipients(selection))
    for side in ((l1, l2), (h1, h2)):
        held = sum(totals[m.mailbox_id] + m.received_today for m in side)
        for peer in side:
            assert totals[peer.mailbox_id] + peer.received_today <= max(selection.share, math.ceil(held / 2))


def test_nothing_to_place_or_nobody_to_receive() -> None:
    assert select_peers([(SENDER, 0)], [member("p", "ws_b")], random.Random(1)) == Selection(())
    empty = select_peers([(SENDER, 3)], [], random.Random(1))
    assert (empty.pairs, empty.unmatched) == ((), {"s": 3})


def test_the_selection_is_reproducible_from_the_seed() -> None:
    pool = [member(f"r{i}", f"ws_{i % 3}", ("google", "microsoft", "other")[i % 3]) for i in range(12)]
    demands = [(p, 4) for p in pool]
    assert select_peers(demands, pool, random.Random(9)) == select_peers(demands, pool, random.Random(9))
    assert select_peers(demands, pool, random.Random(9)).pairs != select_peers(demands, pool, random.Random(10)).pairs


def test_fair_over_a_month_of_days() -> None:
    """24 mailboxes in 6 workspaces on 3 providers, each sending 5-25 a day for 30 days."""
    providers = ("google", "microsoft", "other")
    pool = [member(f"m{i:02d}", f"ws_{i % 6}", providers[i % 3], domain=f"d{i // 2}.example.org") for i in range(24)]
    monthly: Counter[str] = Counter()
    cross_provider = same_workspace = total = 0
    for day in range(30):
        rng = random.Random(f"day-{day}")
        demands = [(p, rng.randint(5, 25)) for p in pool]
        selection = select_peers(demands, pool, rng)
        wanted = sum(count for _, count in demands)
        daily = Counter(recipients(selection))
        assert selection.unmatched == {}
        assert len(selection.pairs) == wanted
        assert max(daily.values()) <= selection.share == -(-wanted // len(pool))
        by_id = {p.mailbox_id: p for p in pool}
        for pair in selection.pairs:
            sender, recipient = by_id[pair.sender_id], by_id[pair.recipient_id]
            assert sender.mailbox_id != recipient.mailbox_id
            assert sender.domain != recipient.domain
            cross_provider += sender.provider != recipient.provider
            same_workspace += sender.workspace_id == recipient.workspace_id
            total += 1
        monthly.update(daily)
    mean = total / len(pool)
    assert max(monthly.values()) - min(monthly.values()) <= 0.1 * mean
    assert same_workspace == 0  # other workspaces always had room
    # A random choice would give two thirds; new pairs come before provider, so senders with more sends than
    # cross-provider peers also use same-provider ones.
    assert cross_provider / total > 0.85
