"""Which eligible mailbox sends next (decisions.md: round-robin by default, or weighted by the
campaign-mailbox weight 1-1000).

Both modes are deterministic given their inputs: round-robin from the last mailbox used (the cursor the
caller stores on the campaign), weighted from a `random.Random` the caller seeds from stable ids
(`seeded_rng`), so a retried tick picks the same mailbox.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

RotationMode = Literal["round_robin", "weighted"]
ROTATION_MODES: tuple[RotationMode, ...] = ("round_robin", "weighted")
DEFAULT_MODE: RotationMode = "round_robin"
MIN_WEIGHT = 1
MAX_WEIGHT = 1000
DEFAULT_WEIGHT = 1


@dataclass(frozen=True)
class PoolEntry:
    """One mailbox of the campaign's pool, in the pool's stable order."""

    mailbox_id: str
    weight: int = DEFAULT_WEIGHT

    def __post_init__(self) -> None:
        if not MIN_WEIGHT <= self.weight <= MAX_WEIGHT:
            raise ValueError(f"weight must be {MIN_WEIGHT}-{MAX_WEIGHT}, got {self.weight}")


def seeded_rng(*parts: str) -> random.Random:
    """A generator seeded from stable ids (e.g. campaign, enrollment, step), identical on every run."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def round_robin(pool: Sequence[PoolEntry], eligible: Collection[str], last_used: str | None) -> str | None:
    """The first eligible mailbox after `last_used` in pool order, wrapping around; None when none is eligible.

    Keyed by the last mailbox rather than a counter so that mailboxes leaving or joining the eligible set (caps,
    backoff, pacer) do not skew the turn order of the others. A `last_used` no longer in the pool starts over.
    """
    ids = [entry.mailbox_id for entry in pool]
    start = ids.index(last_used) + 1 if last_used in ids else 0
    for offset in range(len(ids)):
        candidate = ids[(start + offset) % len(ids)]
        if candidate in eligible:
            return candidate
    return None


def weighted(pool: Sequence[PoolEntry], eligible: Collection[str], rng: random.Random) -> str | None:
    """An eligible mailbox drawn with probability proportional to its weight; None when none is eligible."""
    candidates = [entry for entry in pool if entry.mailbox_id in eligible]
    if not candidates:
        return None
    total = sum(entry.weight for entry in candidates)
    point = rng.randrange(total)  # integers: no float drift, exact proportions
    for entry in candidates:
        point -= entry.weight
        if point < 0:
            return entry.mailbox_id
    raise AssertionError("unreachable: point < total")


def choose(
    mode: RotationMode,
    pool: Sequence[PoolEntry],
    eligible: Collection[str],
    *,
    last_used: str | None = None,
    rng: random.Random | None = None,
) -> str | None:
    if mode == "round_robin":
        return round_robin(pool, eligible, last_used)
    if mode == "weighted":
        if rng is None:
            raise ValueError("weighted rotation needs a seeded rng")
        return weighted(pool, eligible, rng)
    raise ValueError(f"unknown rotation mode {mode!r}")
