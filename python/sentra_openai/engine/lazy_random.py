"""A random.Random that is seeded on its first draw.

Every request gets an RNG seeded from the config seed and its position in the run (core.Call), but most fast-mode
requests never draw from it (no latency, no faults), and seeding a Mersenne Twister with a 128-bit integer costs
several microseconds: about a tenth of a cached chat completion's engine time (benches/, README "Benchmarks").
Every draw goes through random() or getrandbits(), so the draws are exactly those of random.Random(seed).
"""

from __future__ import annotations

import random
from typing import Any


class LazyRandom(random.Random):
    def __init__(self, seed: int | None = None) -> None:  # random.Random.__init__ would seed now
        self._pending = True
        self._seed_value = seed
        self.gauss_next = None

    def _seed_now(self) -> None:
        self._pending = False
        super().seed(self._seed_value)
        # From now on draws go straight to the C generator (a paced stream's timing draws once per token).
        self.random = super().random  # type: ignore[method-assign]
        self.getrandbits = super().getrandbits  # type: ignore[method-assign,assignment]

    def seed(self, a: Any = None, version: int = 2) -> None:
        if self._pending:
            self._seed_now()
        super().seed(a, version)

    def random(self) -> float:
        if self._pending:
            self._seed_now()
        return super().random()

    def getrandbits(self, k: int) -> int:
        if self._pending:
            self._seed_now()
        return super().getrandbits(k)

    def getstate(self) -> tuple:
        if self._pending:
            self._seed_now()
        return super().getstate()

    def setstate(self, state: tuple) -> None:
        if self._pending:
            self._seed_now()
        super().setstate(state)
