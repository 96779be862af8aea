"""NativeRandom (over the native MersenneTwister) draws exactly what random.Random draws from the same seed, for
every method the engine uses, interleaved with direct draws from the twister and with states moved between the two
classes; floats are compared bit for bit."""

from __future__ import annotations

import copy
import pickle
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sentra_openai._native import MersenneTwister
from sentra_openai.engine.native_random import NativeRandom

# Any unicode text without lone surrogates (those cannot be UTF-8 encoded, and random.Random refuses them too), and
# ints of any sign and size, with the edges of the seeding's word split.
SEEDS = st.one_of(
    st.text(),
    st.integers(),
    st.integers(min_value=-(2**300), max_value=2**300),
    st.sampled_from(["", "\x00", "\x00\x00\x00\x00a", "é", "😀" * 40, 0, 1, -1, 2**32 - 1, 2**32, 2**64, 2**128 - 1,
                     2**128, -(2**200), True]),
)

FLOAT = st.floats(min_value=-1e6, max_value=1e6)
SIGMA = st.floats(min_value=0.0, max_value=10.0)
OPS = st.one_of(
    st.tuples(st.just("random")),
    st.tuples(st.just("getrandbits"), st.integers(0, 200)),
    st.tuples(st.just("randrange"), st.integers(1, 2**70) | st.sampled_from([1, 2, 4, 2**32, 2**63, 2**64])),
    st.tuples(st.just("randrange3"), st.integers(-(2**40), 2**40), st.integers(1, 2**40), st.integers(1, 9)),
    st.tuples(st.just("randint"), st.integers(-(2**66), 2**66), st.integers(0, 2**66)),
    st.tuples(st.just("choice"), st.integers(1, 70)),
    st.tuples(st.just("shuffle"), st.integers(0, 70)),
    st.tuples(st.just("sample"), st.integers(0, 40), st.integers(0, 40)),
    st.tuples(st.just("uniform"), FLOAT, FLOAT),
    st.tuples(st.just("normalvariate"), FLOAT, SIGMA),
    st.tuples(st.just("lognormvariate"), st.floats(-5, 5), st.floats(0.0, 3.0)),
    st.tuples(st.just("gauss"), FLOAT, SIGMA),
    st.tuples(st.just("randbytes"), st.integers(0, 40)),
    st.tuples(st.just("twister_random")),
    st.tuples(st.just("twister_getrandbits"), st.integers(0, 200)),
    st.tuples(st.just("swap")),
    st.tuples(st.just("reseed"), SEEDS),
)


def exact(value: Any) -> Any:
    """Floats by their bits (so -0.0 != 0.0), everything else as is."""
    if isinstance(value, float):
        return value.hex()
    if isinstance(value, list):
        return [exact(v) for v in value]
    return value


def draw(rng: random.Random, direct: Any, op: tuple) -> Any:
    """One op on `rng`; the "twister_" ops draw from `direct` instead (NativeRandom's twister, or the reference
    random.Random itself)."""
    name, *args = op
    if name == "randrange3":
        start, width, step = args
        return rng.randrange(start, start + width, step)
    if name == "randint":
        low, width = args
        return rng.randint(low, low + width)
    if name == "choice":
        return rng.choice(range(args[0]))
    if name == "shuffle":
        items = list(range(args[0]))
        rng.shuffle(items)
        return items
    if name == "sample":
        population, k = args
        return rng.sample(range(population), min(k, population))
    if name.startswith("twister_"):
        return getattr(direct, name.removeprefix("twister_"))(*args)
    return getattr(rng, name)(*args)


@settings(max_examples=300, deadline=None)
@given(seed=SEEDS, ops=st.lists(OPS, max_size=30))
def test_mixed_draws_match_random_random(seed: Any, ops: list[tuple]) -> None:
    reference, native = random.Random(seed), NativeRandom(seed)
    twister = native.twister
    for op in ops:
        if op[0] == "swap":  # each continues from the other's state: the state formats are the same
            state, native_state = reference.getstate(), native.getstate()
            assert native_state == state
            reference, native = random.Random(), NativeRandom()
            reference.setstate(native_state)
            native.setstate(state)
            twister = native.twister
        elif op[0] == "reseed":
            reference.seed(op[1])
            native.seed(op[1])
            assert native.twister is twister  # re-seeded in place: the composer's handle stays valid
        else:
            expected = draw(reference, reference, op)
            got = draw(native, twister, op)
            assert exact(got) == exact(expected), op
    assert native.getstate() == reference.getstate()


@settings(max_examples=200, deadline=None)
@given(seed=SEEDS)
def test_seeded_state_is_cpythons(seed: Any) -> None:
    assert NativeRandom(seed).getstate() == random.Random(seed).getstate()
    assert MersenneTwister(seed).getstate() == random.Random(seed).getstate()[1]


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(), k=st.integers(0, 20_000))
def test_getrandbits_of_any_width(seed: int, k: int) -> None:
    assert MersenneTwister(seed).getrandbits(k) == random.Random(seed).getrandbits(k)


@pytest.mark.parametrize(
    ("seed", "version"),
    [(None, 2), (1.5, 2), (-2.75, 2), (b"bytes key", 2), (bytearray(b"\x00\xff"), 2), ("old str", 1),
     (b"old bytes", 1), (12345, 1)],
)
def test_other_seed_types_as_random_random(seed: Any, version: int) -> None:
    native = NativeRandom(0)
    native.seed(seed, version)
    reference = random.Random(0)
    reference.seed(seed, version)
    if seed is None:  # from the OS: only the format can be compared
        assert len(native.getstate()[1]) == 625
    else:
        assert native.getstate() == reference.getstate()
        assert [native.random() for _ in range(3)] == [reference.random() for _ in range(3)]


def test_errors_as_random_random() -> None:
    with pytest.raises(TypeError):
        NativeRandom([1, 2])
    with pytest.raises(TypeError):
        MersenneTwister(1.5)  # type: ignore[arg-type]
    with pytest.raises(UnicodeEncodeError):
        NativeRandom("\ud800")
    twister = MersenneTwister("key")
    with pytest.raises(ValueError, match="non-negative"):
        twister.getrandbits(-1)
    state = twister.getstate()
    with pytest.raises(TypeError, match="tuple"):
        twister.setstate(list(state))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="wrong size"):
        twister.setstate(state[:-1])
    for index in (-1, 625):
        with pytest.raises(ValueError, match="invalid state"):
            twister.setstate((*state[:-1], index))
    assert twister.getstate() == state  # a refused state changes nothing
    native = NativeRandom("key")
    with pytest.raises(ValueError, match="version 9"):
        native.setstate((9, state, None))


def test_setstate_takes_words_modulo_2_32_like_cpython() -> None:
    state = (*((2**32 + i) for i in range(624)), 624)
    native, reference = MersenneTwister(0), random.Random(0)
    native.setstate(state)
    reference.setstate((3, state, None))
    assert native.getstate() == reference.getstate()[1]
    # version 2 states held signed words
    signed = (2, tuple(-1 - i for i in range(624)) + (0,), None)
    nr = NativeRandom(0)
    nr.setstate(signed)
    reference.setstate(signed)
    assert nr.getstate() == reference.getstate()


def test_copy_and_pickle_keep_the_draws() -> None:
    native = NativeRandom("copy me")
    native.gauss(0.0, 1.0)  # leaves a gauss_next behind
    expected = NativeRandom("copy me")
    expected.gauss(0.0, 1.0)
    for clone in (copy.copy(native), copy.deepcopy(native), pickle.loads(pickle.dumps(native))):
        assert isinstance(clone, NativeRandom)
        assert clone.twister is not native.twister
        assert clone.getstate() == native.getstate()
        assert [clone.gauss(), clone.random()] == [expected.gauss(), expected.random()]
        expected = NativeRandom("copy me")
        expected.gauss(0.0, 1.0)


def test_negative_and_bool_int_seeds() -> None:
    assert MersenneTwister(-(2**130 + 5)).getstate() == MersenneTwister(2**130 + 5).getstate()
    assert MersenneTwister(True).getstate() == random.Random(True).getstate()[1]
    assert MersenneTwister(-7).getstate() == random.Random(-7).getstate()[1]
