"""Stable seeds: the same ids always give the same random choices, so a re-run tick plans the same day."""

from __future__ import annotations

import hashlib
import random


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from the parts' text (never Python's `hash`, which is salted per process)."""
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def seeded_rng(*parts: object) -> random.Random:
    return random.Random(stable_seed(*parts))


def unit_fraction(*parts: object) -> float:
    """A number in [0, 1) fixed by the parts: a seeded coin that needs no stored state."""
    return stable_seed(*parts) / 2**64
