"""A random.Random whose generator is the native MersenneTwister (rust/core/src/textgen/pyrandom.rs).

The native composer draws straight from `.twister` while the engine keeps drawing through this object's Python
methods (choice, randint, lognormvariate, shuffle, uniform, ...), so both must read the one generator state: every
draw of random.Random's Python code goes through random() and getrandbits(), and both are the twister's. The
twister reproduces CPython's generator bit for bit, so NativeRandom(seed) draws exactly what random.Random(seed)
draws, and states move between the two (getstate/setstate in CPython's format).

Why: seeding random.Random from a str key hashes it and runs MT19937's init_by_array through Python's int
conversion; the twister does the same in about 60% of the time (benches/bench_micro.py, "random": the
three seeding loops are a chain of dependent steps, so that is near the floor).
"""

from __future__ import annotations

import random
from typing import Any

from sentra_openai._native import MersenneTwister


class NativeRandom(random.Random):
    # Defining getrandbits here makes random.Random.__init_subclass__ pick _randbelow_with_getrandbits, the same
    # integer draws as random.Random's.

    def __init__(self, x: Any = None) -> None:
        if isinstance(x, (int, str)):  # seed()'s native case without its steps: seeding is per request
            self._bind(MersenneTwister(x))
        else:
            self._twister: MersenneTwister | None = None
            self.seed(x)
        self.gauss_next = None

    @property
    def twister(self) -> MersenneTwister:
        """The generator itself: draws from it and from this object interleave on one state."""
        assert self._twister is not None
        return self._twister

    def _bind(self, twister: MersenneTwister) -> None:
        self._twister = twister
        # Instance attributes shadow the methods below: draws skip one Python call (as LazyRandom does).
        self.random = twister.random  # type: ignore[method-assign]
        self.getrandbits = twister.getrandbits  # type: ignore[method-assign,assignment]

    def seed(self, a: Any = None, version: int = 2) -> None:
        # An int (any version) or a str (version 2) is seeded natively; any other seed random.Random turns into a
        # state first (None, float, bytes, version 1), which is then copied: the same state, the same errors.
        if isinstance(a, int) or (version == 2 and isinstance(a, str)):
            if self._twister is None:
                self._bind(MersenneTwister(a))
            else:
                self._twister.seed(a)  # in place: a twister handed out earlier stays this object's
        else:
            reference = random.Random()
            reference.seed(a, version)
            state = reference.getstate()[1]
            if self._twister is None:
                self._bind(MersenneTwister(0))
            self.twister.setstate(state)
        self.gauss_next = None

    def random(self) -> float:
        return self.twister.random()

    def getrandbits(self, k: int) -> int:
        return self.twister.getrandbits(k)

    def getstate(self) -> tuple[Any, ...]:
        return self.VERSION, self.twister.getstate(), self.gauss_next

    def setstate(self, state: tuple[Any, ...]) -> None:
        # random.Random.setstate's versions: 3 as is, 2 (signed words) taken modulo 2**32.
        version = state[0]
        if version == 3:
            version, internalstate, self.gauss_next = state
        elif version == 2:
            version, internalstate, self.gauss_next = state
            try:
                internalstate = tuple(x % (2**32) for x in internalstate)
            except ValueError as e:
                raise TypeError from e
        else:
            raise ValueError(f"state with version {version} passed to Random.setstate() of version {self.VERSION}")
        self.twister.setstate(internalstate)
