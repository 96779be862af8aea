"""The per-request RNG is seeded on first use, and draws exactly what random.Random(seed) draws."""

from __future__ import annotations

import random

import pytest
from sentra_openai.engine.lazy_random import LazyRandom


def draws(rng: random.Random) -> list:
    items = list(range(20))
    rng.shuffle(items)
    return [rng.random(), rng.getrandbits(77), rng.randint(200, 2000), rng.randrange(10**30), rng.gauss(0.0, 0.3),
            rng.gauss(1.0, 2.0), rng.choice("abcdef"), rng.choices([1, 2, 3], weights=[0.2, 0.5, 0.3], k=5), items,
            rng.sample(range(100), 7), rng.uniform(-1, 1), rng.randbytes(9), rng.lognormvariate(0, 0.5),
            rng.expovariate(2.0), rng.betavariate(2, 3)]


@pytest.mark.parametrize("seed", [0, 1, 42, (12345 << 64) | 7, 2**130 + 3])
def test_lazy_draws_equal_eager_draws(seed: int) -> None:
    assert draws(LazyRandom(seed)) == draws(random.Random(seed))


def test_state_of_an_unused_rng_is_its_seeded_state() -> None:
    lazy, eager = LazyRandom(99), random.Random(99)
    assert lazy.getstate() == eager.getstate()
    restored = LazyRandom(5)
    restored.setstate(eager.getstate())
    assert restored.random() == eager.random()
    reseeded = LazyRandom(5)
    reseeded.seed(77)
    assert reseeded.random() == random.Random(77).random()


def test_a_derived_rng_matches() -> None:
    # chat/stream.py derives the obfuscation RNG from one draw of the request's RNG.
    assert random.Random(LazyRandom(3).random()).random() == random.Random(random.Random(3).random()).random()


def test_copies_and_pickles_draw_on_from_the_same_state() -> None:
    import copy
    import pickle

    lazy, eager = LazyRandom(11), random.Random(11)
    lazy.random(), eager.random()
    for clone in (copy.copy(lazy), copy.deepcopy(lazy), pickle.loads(pickle.dumps(lazy))):
        assert draws(clone) == draws(copy.copy(eager))
    assert draws(lazy) == draws(eager)
