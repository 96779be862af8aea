"""The native GCRA limiter decides exactly like the pure-Python reference, and obeys the rate bound.

design.md: "A hypothesis test proves each store makes the same decisions as reference.py for any
sequence of (time step, cost) operations." Every store runs the same test: "memory", "shm" (a fresh
table file per example) and "redis" (a redis-server started for this module, flushed per example;
skipped when the binary is missing).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import permutations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis_server import redis_url  # noqa: F401  (fixture)
from sentra_openai._native import NativeLimiter
from sentra_openai.reference import ReferenceLimiter

STORES = ["memory", "shm", pytest.param("redis", marks=pytest.mark.redis)]
U64_MAX = 2**64 - 1
SECOND = 1_000_000_000
NAMES = ["requests", "tokens", "requests_per_day"]
KEYS = ["org-a:gpt-4o", "org-a:gpt-4o-mini", "org-b:gpt-4o"]
# Every ordered choice of 1 to 3 distinct limit names, so that order effects are covered too.
NAME_CHOICES = [names for size in (1, 2, 3) for names in permutations(NAMES, size)]


@dataclass(frozen=True)
class Acquire:
    step_ns: int
    key: str
    limits: tuple[tuple[str, int, int], ...]
    costs: tuple[int, ...]


@dataclass(frozen=True)
class Evict:
    step_ns: int


capacities = st.one_of(st.integers(1, 10), st.integers(1, 100_000), st.sampled_from([1, 3, 7, 500, 30_000]))
periods = st.one_of(
    st.integers(1, 1_000),  # tiny periods make every rounding boundary reachable
    st.integers(1, 120 * SECOND),
    st.sampled_from([SECOND, 60 * SECOND, 86_400 * SECOND]),
)
steps = st.one_of(st.just(0), st.integers(0, 2_000), st.integers(0, 10**9), st.integers(0, 200 * SECOND))
op_counts = st.integers(1, 30)
one_in_ten = st.integers(0, 9)
name_choices = st.sampled_from(NAME_CHOICES)
keys = st.sampled_from(KEYS)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[int, list[Acquire | Evict]]:
    """A start time and a sequence of operations over a fixed pool of limits per name."""
    pool = {name: (name, draw(capacities), draw(periods)) for name in NAMES}
    # Half the starts are huge: Redis's clock (ns since 1970) is past 2**60, where a double cannot
    # hold a nanosecond count exactly, and the shm and native stores must not care either.
    start = draw(st.one_of(st.integers(0, 2**62), st.integers(2**60, 2**62)))
    ops: list[Acquire | Evict] = []
    for _ in range(draw(op_counts)):
        step = draw(steps)
        if draw(one_in_ten) == 0:
            ops.append(Evict(step))
            continue
        limits = tuple(pool[name] for name in draw(name_choices))
        costs = tuple(draw_cost(draw, capacity) for _, capacity, _ in limits)
        ops.append(Acquire(step, draw(keys), limits, costs))
    return start, ops


def draw_cost(draw: st.DrawFn, capacity: int) -> int:
    """Mostly costs that fit (so buckets fill up and refuse on rate), sometimes 0, the full
    capacity, or a cost that can never fit (just above the capacity, or anything up to 2**64-1)."""
    kind = draw(one_in_ten)
    if kind == 0:
        return draw(st.one_of(st.just(capacity + 1), st.integers(capacity + 1, U64_MAX)))
    if kind == 1:
        return 0
    if kind == 2:
        return capacity
    return draw(st.integers(0, capacity))


def observed(decision: object) -> tuple[object, ...]:
    return tuple(
        getattr(decision, field)
        for field in ("allowed", "remaining", "reset_after_ns", "retry_after_ns", "too_large")
    )


@pytest.fixture(scope="module", params=STORES)
def new_limiter(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable]:
    """A factory of empty limiters of one store, with NativeLimiter's acquire/evict_expired signatures."""
    if request.param == "memory":
        yield lambda: NativeLimiter("memory")
    elif request.param == "shm":
        folder, numbers = tmp_path_factory.mktemp("shm-parity"), itertools.count()

        def new_shm() -> NativeLimiter:
            path = folder / f"table-{next(numbers)}.limits"
            limiter = NativeLimiter(f"shm:{path}?slots=1024")
            path.unlink()  # the mapping outlives the file: nothing is left behind
            return limiter

        yield new_shm
    else:
        import redis
        from sentra_openai.redis_limiter import RedisStore

        url = request.getfixturevalue("redis_url")
        client = redis.Redis.from_url(url)

        def new_redis() -> RedisStore:
            client.flushdb()
            return RedisStore(url)

        yield new_redis
        client.close()


@settings(max_examples=500, deadline=None)
@given(scenario=scenarios())
def test_native_decides_like_reference(new_limiter: Callable, scenario: tuple[int, list[Acquire | Evict]]) -> None:
    now, ops = scenario
    native, reference = new_limiter(), ReferenceLimiter()
    for index, op in enumerate(ops):
        now += op.step_ns
        if isinstance(op, Evict):
            assert native.evict_expired(now) == reference.evict_expired(now), f"op {index}"
            continue
        got = native.acquire(op.key, list(op.limits), list(op.costs), now)
        want = reference.acquire(op.key, list(op.limits), list(op.costs), now)
        assert observed(got) == observed(want), f"op {index}: {op}"


@st.composite
def single_bucket_traffic(draw: st.DrawFn) -> tuple[int, int, list[tuple[int, int]]]:
    capacity, period = draw(capacities), draw(periods)
    arrivals = [(draw(steps), draw_cost(draw, capacity)) for _ in range(draw(st.integers(1, 60)))]
    return capacity, period, arrivals


@settings(max_examples=500, deadline=None)
@given(traffic=single_bucket_traffic())
def test_admitted_units_never_exceed_burst_plus_rate(traffic: tuple[int, int, list[tuple[int, int]]]) -> None:
    """In every window [t_a, t_b] of arrivals, admitted units <= C + C * (t_b - t_a) / P."""
    capacity, period, arrivals = traffic
    limiter = NativeLimiter()
    now = 10**12
    admitted: list[tuple[int, int]] = []  # (time, units)
    for step, cost in arrivals:
        now += step
        decision = limiter.acquire("k", [("tokens", capacity, period)], [cost], now)
        if decision.allowed:
            admitted.append((now, cost))
    for first in range(len(admitted)):
        units = 0
        for last in range(first, len(admitted)):
            units += admitted[last][1]
            elapsed = admitted[last][0] - admitted[first][0]
            # Multiplied out by P to stay in exact integers.
            assert units * period <= capacity * (period + elapsed), (first, last)


@settings(max_examples=500, deadline=None)
@given(scenario=scenarios())
def test_refused_requests_change_nothing(scenario: tuple[int, list[Acquire | Evict]]) -> None:
    """All-or-nothing, observed from outside: a limiter that never saw the refused requests
    makes the same decisions on everything else."""
    now, ops = scenario
    seen_all, skipped_refused = NativeLimiter(), NativeLimiter()
    for index, op in enumerate(ops):
        now += op.step_ns
        if isinstance(op, Evict):
            continue
        full = seen_all.acquire(op.key, list(op.limits), list(op.costs), now)
        if not full.allowed:
            continue
        other = skipped_refused.acquire(op.key, list(op.limits), list(op.costs), now)
        assert observed(other) == observed(full), f"op {index}: {op}"


INVALID_CALLS = [
    pytest.param([("requests", 1, SECOND)], [], 0, id="fewer-costs"),
    pytest.param([("requests", 0, SECOND)], [1], 0, id="zero-capacity"),
    pytest.param([("requests", 5, 0)], [1], 0, id="zero-period"),
    pytest.param([("r", 5, SECOND), ("r", 5, SECOND)], [1, 1], 0, id="duplicate-name"),
    pytest.param([("requests", 5, SECOND)], [-1], 0, id="negative-cost"),
    pytest.param([("requests", -5, SECOND)], [1], 0, id="negative-capacity"),
    pytest.param([("requests", 5, SECOND)], [1], -1, id="negative-now"),
    pytest.param([("requests", 5, SECOND)], [1], U64_MAX, id="tat-overflows-u64"),
]


@pytest.mark.parametrize(("limits", "costs", "now_ns"), INVALID_CALLS)
def test_invalid_input_is_a_value_error_in_both_and_charges_nothing(
    new_limiter: Callable, limits: list[tuple[str, int, int]], costs: list[int], now_ns: int
) -> None:
    native, reference = new_limiter(), ReferenceLimiter()
    for limiter in (native, reference):
        with pytest.raises(ValueError):
            limiter.acquire("k", limits, costs, now_ns)
    assert native.evict_expired(U64_MAX) == 0


def test_unknown_store_lists_accepted_forms() -> None:
    with pytest.raises(ValueError, match="memory") as error:
        NativeLimiter("memcached://localhost")
    assert "redis://" in str(error.value) and "shm:" in str(error.value)
