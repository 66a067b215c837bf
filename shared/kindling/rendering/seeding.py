"""Spintax choices derived from a seed: the same seed always picks the same options, different seeds spread
uniformly. Cheaper than seeding `random.Random` for every message: one blake2b digest (512 bits) is read as a
number and the choices are its digits in the mixed radix of the groups' option counts."""

from __future__ import annotations

from hashlib import blake2b

_REFILL_BELOW = 1 << 64  # keep at least 64 fresh bits under every draw: the bias stays below 2**-60


class SeedChoices:
    __slots__ = ("_block", "_label", "_pool", "_seed")

    def __init__(self, seed: str, label: bytes = b"") -> None:
        self._seed = seed.encode()
        self._label = label[:16]
        self._block = 0
        self._pool = 0

    def _refill(self) -> None:
        digest = blake2b(self._seed, digest_size=64, person=self._label, salt=self._block.to_bytes(16, "big"))
        self._pool = int.from_bytes(digest.digest(), "big")
        self._block += 1

    def randrange(self, start: int) -> int:
        if self._pool < _REFILL_BELOW:
            self._refill()
        self._pool, choice = divmod(self._pool, start)
        return choice

    def draw(self, counts: tuple[int, ...]) -> tuple[int, ...]:
        """One choice per group, for groups that do not nest."""
        picked = []
        for count in counts:
            if self._pool < _REFILL_BELOW:
                self._refill()
            self._pool, choice = divmod(self._pool, count)
            picked.append(choice)
        return tuple(picked)
