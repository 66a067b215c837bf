"""Rotation (decisions.md): round-robin by default, weighted by the campaign-mailbox weight 1-1000."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from kindling.sending.rotation import PoolEntry, choose, round_robin, seeded_rng, weighted

POOL = [PoolEntry("a"), PoolEntry("b"), PoolEntry("c"), PoolEntry("d")]
ALL = {"a", "b", "c", "d"}


@pytest.mark.parametrize(
    ("eligible", "last_used", "expected"),
    [
        (ALL, None, "a"),
        (ALL, "a", "b"),
        (ALL, "c", "d"),
        (ALL, "d", "a"),  # wraps
        ({"a", "c"}, "a", "c"),  # skips the ineligible
        ({"a", "c"}, "c", "a"),
        ({"b"}, "b", "b"),  # the only one left goes again
        ({"d"}, None, "d"),
        (ALL, "removed-mailbox", "a"),  # a cursor no longer in the pool starts over
        (set(), "a", None),
        ({"z"}, "a", None),  # eligible but not in the pool: never chosen
    ],
)
def test_round_robin(eligible: set[str], last_used: str | None, expected: str | None) -> None:
    assert round_robin(POOL, eligible, last_used) == expected


def test_round_robin_turns_stay_fair_when_one_mailbox_drops_out() -> None:
    picks: list[str] = []
    last: str | None = None
    for n in range(12):
        eligible = ALL - {"b"} if 4 <= n < 8 else ALL  # b hits a cap for a while
        last = round_robin(POOL, eligible, last)
        assert last is not None
        picks.append(last)
    assert picks == ["a", "b", "c", "d", "a", "c", "d", "a", "b", "c", "d", "a"]


def test_round_robin_on_an_empty_pool() -> None:
    assert round_robin([], ALL, None) is None


@pytest.mark.parametrize("weight", [0, -1, 1001])
def test_weights_outside_1_to_1000_are_refused(weight: int) -> None:
    with pytest.raises(ValueError, match="1-1000"):
        PoolEntry("a", weight)


@pytest.mark.parametrize(
    "weights",
    [
        {"a": 1, "b": 1},
        {"a": 3, "b": 1},
        {"a": 1, "b": 2, "c": 7},
        {"a": 1000, "b": 1},
        {"a": 500, "b": 300, "c": 200},
    ],
)
def test_weighted_picks_are_proportional(weights: dict[str, int]) -> None:
    pool = [PoolEntry(m, w) for m, w in weights.items()]
    rng = random.Random(20260610)
    picks = 40_000
    counts = Counter(weighted(pool, set(weights), rng) for _ in range(picks))
    total = sum(weights.values())
    for mailbox, weight in weights.items():
        expected = picks * weight / total
        # 4 standard deviations of a binomial count: fails only if the draw is really biased.
        sigma = (picks * (weight / total) * (1 - weight / total)) ** 0.5
        assert abs(counts[mailbox] - expected) <= max(4 * sigma, 5), (mailbox, counts)


def test_weighted_only_draws_among_the_eligible() -> None:
    pool = [PoolEntry("a", 1000), PoolEntry("b", 1), PoolEntry("c", 5)]
    rng = random.Random(7)
    counts = Counter(weighted(pool, {"b", "c"}, rng) for _ in range(6000))
    assert set(counts) == {"b", "c"}
    assert 4 * counts["b"] < counts["c"]  # 1 : 5
    assert weighted(pool, set(), rng) is None


def test_seeded_rng_makes_weighted_rotation_repeatable() -> None:
    pool = [PoolEntry("a", 3), PoolEntry("b", 2), PoolEntry("c", 1)]
    first = [weighted(pool, {"a", "b", "c"}, seeded_rng("cmp_1", f"enr_{n}", "0")) for n in range(50)]
    again = [weighted(pool, {"a", "b", "c"}, seeded_rng("cmp_1", f"enr_{n}", "0")) for n in range(50)]
    assert first == again
    assert len(set(first)) == 3
    assert seeded_rng("a", "bc").random() != seeded_rng("ab", "c").random()  # parts are separated


def test_choose_dispatches_on_the_mode() -> None:
    assert choose("round_robin", POOL, ALL, last_used="a") == "b"
    assert choose("weighted", [PoolEntry("x", 5)], {"x"}, rng=random.Random(1)) == "x"
    with pytest.raises(ValueError, match="rng"):
        choose("weighted", POOL, ALL)
    with pytest.raises(ValueError, match="unknown rotation mode"):
        choose("random", POOL, ALL)  # type: ignore[arg-type]
