"""The embeddable limiter as a user sees it (design.md "Embeddable limiter API")."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sentra_openai.ratelimit import Decision, Limit, RateLimiter

SECOND = 1_000_000_000


class FakeClock:
    def __init__(self, start_ns: int = 5_000 * SECOND) -> None:
        self.now = start_ns

    def __call__(self) -> int:
        return self.now

    def advance(self, ns: int) -> None:
        self.now += ns


def test_design_md_example_runs_as_written() -> None:
    limiter = RateLimiter()
    decision = limiter.acquire(
        "key:gpt-4o",
        [Limit("requests", 500, per_seconds=60), Limit("tokens", 30_000, per_seconds=60)],
        [1, 1234],
    )
    allowed, remaining, reset_after, retry_after = (
        decision.allowed,
        decision.remaining,
        decision.reset_after,
        decision.retry_after,
    )
    assert allowed is True
    # A fresh bucket loses exactly what was charged.
    assert remaining == (499, 30_000 - 1234)
    # Full again after the charged share of the minute: 1/500 of 60 s and 1234/30000 of 60 s.
    assert reset_after == pytest.approx((0.12, 2.468))
    assert retry_after == (0.0, 0.0)
    assert decision.denied_by is None and decision.retry_after_max == 0.0


def test_burst_then_refusal_then_recovery_with_injected_clock() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    rps = [Limit("requests", 4, per_seconds=1)]
    assert [limiter.acquire("k", rps, [1]).allowed for _ in range(4)] == [True, True, True, True]

    refused = limiter.acquire("k", rps, [1])
    assert not refused.allowed
    assert refused.denied_by == 0
    assert refused.remaining == (0,)
    # One request's share of the second comes back after 250 ms.
    assert refused.retry_after == (0.25,)
    assert refused.reset_after == (1.0,)

    clock.advance(refused.retry_after_ns[0])
    assert limiter.acquire("k", rps, [1]).allowed
    assert not limiter.acquire("k", rps, [1]).allowed

    clock.advance(SECOND)
    assert [limiter.acquire("k", rps, [1]).allowed for _ in range(5)] == [True, True, True, True, False]


def test_uneven_rate_rounds_in_the_limiters_favour() -> None:
    # 3 per second: each request occupies ceil(1e9 / 3) ns, so three separate requests take 2 ns
    # more than the second and the third waits those 2 ns; one request of 3 fits at once.
    limiter = RateLimiter()
    rps = [Limit("requests", 3, per_seconds=1)]
    assert limiter.acquire("a", rps, [3], now_ns=0).allowed
    assert [limiter.acquire("b", rps, [1], now_ns=0).allowed for _ in range(3)] == [True, True, False]
    assert limiter.acquire("b", rps, [1], now_ns=2).allowed


def test_retry_after_is_accurate_to_the_nanosecond() -> None:
    limiter = RateLimiter()
    limits = [Limit("requests", 500, per_seconds=60), Limit("tokens", 30_000, per_seconds=60)]
    t0 = 1_000 * SECOND
    assert limiter.acquire("k", limits, [1, 29_000], now_ns=t0).allowed
    # One second later 1_000 + 500 tokens are free: 1_600 must wait 200 ms.
    refused = limiter.acquire("k", limits, [1, 1_600], now_ns=t0 + SECOND)
    assert not refused.allowed and refused.denied_by == 1
    wait = refused.retry_after_max_ns
    assert wait == 200_000_000
    assert refused.retry_after_max == wait / SECOND
    assert not limiter.acquire("k", limits, [1, 1_600], now_ns=t0 + SECOND + wait - 1).allowed
    assert limiter.acquire("k", limits, [1, 1_600], now_ns=t0 + SECOND + wait).allowed


@settings(max_examples=500, deadline=None)
@given(
    capacities=st.tuples(st.integers(1, 1_000), st.integers(1, 100_000)),
    periods_ms=st.tuples(st.integers(1, 120_000), st.integers(1, 120_000)),
    # (ms since the previous request, requests and tokens as percentages of their capacities)
    traffic=st.lists(
        st.tuples(st.integers(0, 5_000), st.integers(0, 105), st.integers(0, 105)), min_size=1, max_size=30
    ),
)
def test_waiting_retry_after_is_always_enough_and_never_too_much(
    capacities: tuple[int, int], periods_ms: tuple[int, int], traffic: list[tuple[int, int, int]]
) -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limits = [
        Limit("requests", capacities[0], per_seconds=periods_ms[0] / 1000),
        Limit("tokens", capacities[1], per_seconds=periods_ms[1] / 1000),
    ]
    for step_ms, requests_pct, tokens_pct in traffic:
        clock.advance(step_ms * 1_000_000)
        costs = [capacities[0] * requests_pct // 100, capacities[1] * tokens_pct // 100]
        decision = limiter.acquire("k", limits, costs)
        if decision.allowed or any(decision.too_large):
            continue
        wait = decision.retry_after_max_ns
        assert wait is not None and wait > 0
        clock.advance(wait - 1)
        assert not limiter.acquire("k", limits, costs).allowed
        clock.advance(1)
        assert limiter.acquire("k", limits, costs).allowed


def test_reset_after_is_when_the_bucket_is_full_again() -> None:
    limiter = RateLimiter()
    tpm = [Limit("tokens", 1_000, per_seconds=10)]
    used = limiter.acquire("k", tpm, [700], now_ns=0)
    full_at = used.reset_after_ns[0]
    assert full_at == 7 * SECOND
    assert limiter.acquire("k", tpm, [0], now_ns=full_at - 1).remaining == (999,)
    assert limiter.acquire("k", tpm, [0], now_ns=full_at).remaining == (1_000,)


def test_refused_request_charges_no_limit() -> None:
    limiter = RateLimiter()
    limits = [Limit("requests", 10, per_seconds=60), Limit("tokens", 100, per_seconds=60)]
    assert limiter.acquire("k", limits, [1, 95], now_ns=0).allowed
    refused = limiter.acquire("k", limits, [1, 10], now_ns=0)
    assert not refused.allowed and refused.denied_by == 1
    assert refused.retry_after[0] == 0.0  # the requests limit would have admitted...
    assert refused.remaining[0] == 9  # ...but was not charged
    assert limiter.acquire("k", limits, [9, 5], now_ns=0).allowed


def test_request_larger_than_capacity_is_never_admitted() -> None:
    limiter = RateLimiter()
    limits = [Limit("requests", 10, per_seconds=60), Limit("tokens", 100, per_seconds=60)]
    for now in (0, 3_600 * SECOND):
        decision = limiter.acquire("k", limits, [1, 101], now_ns=now)
        assert not decision.allowed
        assert decision.too_large == (False, True)
        assert decision.retry_after == (0.0, math.inf)
        assert decision.retry_after_max == math.inf
        assert decision.retry_after_max_ns is None
        assert decision.remaining == (10, 100)
    assert limiter.acquire("k", limits, [10, 100], now_ns=3_600 * SECOND).allowed


def test_keys_and_limit_names_are_separate_buckets() -> None:
    limiter = RateLimiter()
    one_per_minute = Limit("requests", 1)
    assert limiter.acquire("alice:gpt-4o", [one_per_minute], [1], now_ns=0).allowed
    assert limiter.acquire("bob:gpt-4o", [one_per_minute], [1], now_ns=0).allowed
    assert limiter.acquire("alice:gpt-4o", [Limit("images", 1)], [1], now_ns=0).allowed
    assert not limiter.acquire("alice:gpt-4o", [one_per_minute], [1], now_ns=0).allowed


def test_default_clock_is_monotonic_nanoseconds() -> None:
    limiter = RateLimiter()
    limit = [Limit("requests", 2, per_seconds=3600)]
    assert limiter.acquire("k", limit, [2]).allowed
    assert not limiter.acquire("k", limit, [1]).allowed


def test_limit_converts_seconds_exactly() -> None:
    assert Limit("requests", 500).period_ns == 60 * SECOND
    assert Limit("tokens", 1, per_seconds=0.1).period_ns == SECOND // 10
    assert Limit("requests_per_day", 10_000, per_seconds=86_400).period_ns == 86_400 * SECOND
    assert Limit("r", 5, per_seconds=60) == Limit("r", 5, per_seconds=60.0)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("requests", 0), ValueError),
        (("requests", -1), ValueError),
        (("requests", 2**64), ValueError),
        (("requests", 1.5), TypeError),
        (("requests", 10, 0), ValueError),
        (("requests", 10, -60), ValueError),
        (("requests", 10, math.nan), ValueError),
        (("requests", 10, math.inf), ValueError),
        (("requests", 10, 1e-10), ValueError),  # shorter than a nanosecond
        (("", 10), ValueError),
    ],
)
def test_invalid_limits_are_rejected_at_construction(args: tuple[object, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        Limit(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("limits", "costs"),
    [
        ([Limit("requests", 5)], []),
        ([Limit("requests", 5)], [-1]),
        ([Limit("requests", 5)], [2**64]),
        ([Limit("requests", 5), Limit("requests", 7)], [1, 1]),
    ],
)
def test_invalid_acquire_raises_and_charges_nothing(limits: list[Limit], costs: list[int]) -> None:
    limiter = RateLimiter()
    with pytest.raises(ValueError):
        limiter.acquire("k", limits, costs, now_ns=0)
    assert limiter.acquire("k", [Limit("requests", 5)], [5], now_ns=0).allowed


def test_decision_and_limit_are_frozen() -> None:
    decision = RateLimiter().acquire("k", [Limit("requests", 5)], [1], now_ns=0)
    assert isinstance(decision, Decision)
    assert decision.limits == (Limit("requests", 5),)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.allowed = False  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Limit("requests", 5).capacity = 6  # type: ignore[misc]


def test_unknown_store_says_which_forms_exist() -> None:
    with pytest.raises(ValueError, match='"memory"'):
        RateLimiter(store="memcached://localhost")


def test_expired_buckets_can_be_evicted_without_changing_decisions() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    per_second = [Limit("requests", 1, per_seconds=1)]
    for user in range(50):
        assert limiter.acquire(f"user-{user}", per_second, [1]).allowed
    assert limiter.evict_expired() == 0  # all still charged
    clock.advance(SECOND)
    assert limiter.evict_expired() == 50
    assert limiter.acquire("user-0", per_second, [1]).allowed


def test_importable_without_server_or_config() -> None:
    code = (
        "import sys\n"
        "from sentra_openai.ratelimit import RateLimiter, Limit\n"
        "assert RateLimiter().acquire('k', [Limit('requests', 1)], [1]).allowed\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('robyn', 'yaml', 'tiktoken')\n"
        "               or m.startswith(('sentra_openai.server', 'sentra_openai.config', 'sentra_openai.engine')))\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
