"""The `obfuscation` padding of streamed events (chat: 0-15 base62 characters, Responses: 1-15): drawn by a fast path
that must make exactly the draws of base62(rng, rng.randint(a, b)), so that a seeded stream's bytes stay what they
were."""

from __future__ import annotations

import random

import pytest
from sentra_openai.engine.ids import BASE62, base62, padding_drawer


@pytest.mark.parametrize(("shortest", "longest"), [(0, 15), (1, 15)])
def test_fast_padding_makes_the_same_draws_as_base62_of_randint(shortest, longest):
    for seed in range(200):
        reference, fast = random.Random(seed), random.Random(seed)
        draw = padding_drawer(fast, shortest, longest)
        expected = [base62(reference, reference.randint(shortest, longest)) for _ in range(60)]
        assert [draw() for _ in range(60)] == expected
        assert reference.random() == fast.random()  # and leaves the generator in the same state


@pytest.mark.parametrize(("shortest", "longest"), [(0, 15), (1, 15)])
def test_padding_lengths_cover_the_range_in_base62(shortest, longest):
    draw = padding_drawer(random.Random(7), shortest, longest)
    paddings = [draw() for _ in range(2000)]
    assert {len(p) for p in paddings} == set(range(shortest, longest + 1))
    assert set("".join(paddings)) <= set(BASE62)
