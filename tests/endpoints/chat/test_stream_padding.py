"""The `obfuscation` padding of streamed chat chunks: drawn by a fast path that must make exactly the draws of
base62(rng, rng.randint(0, 15)), so that a seeded stream's bytes stay what they were."""

from __future__ import annotations

import random

from sentra_openai.engine.endpoints.chat.stream import _padding_source
from sentra_openai.engine.ids import BASE62, base62


def test_fast_padding_makes_the_same_draws_as_base62_of_randint():
    for seed in range(200):
        reference, fast = random.Random(seed), random.Random(seed)
        draw = _padding_source(fast)
        expected = [base62(reference, reference.randint(0, 15)) for _ in range(60)]
        assert [draw() for _ in range(60)] == expected
        assert reference.random() == fast.random()  # and leaves the generator in the same state


def test_padding_is_zero_to_fifteen_base62_characters():
    draw = _padding_source(random.Random(7))
    paddings = [draw() for _ in range(2000)]
    assert {len(p) for p in paddings} == set(range(16))
    assert set("".join(paddings)) <= set(BASE62)
