"""The shared-memory limiter store: processes on one host share exact limits through one table file.

Parity of its decisions with reference.py is in test_limiter_parity.py; these tests cover what only a
shared table has: several processes, files, and the server's automatic private table.
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest
from processes import run_together
from sentra_openai.config import load_settings
from sentra_openai.engine import ManualClock, build_engine, limiter_store_spec
from sentra_openai.ratelimit import Limit, RateLimiter

SECOND = 1_000_000_000
T0 = 10**15
# 2 of 3 limits of a request; a request costs 1 request and 2 tokens, so tokens would allow 1.5x more.
LIMITS = [Limit("requests", 400, per_seconds=60), Limit("tokens", 1200, per_seconds=60)]
COSTS = [1, 2]


def hammer(start, results, spec: str | None, limiter: RateLimiter | None, attempts: int) -> None:
    """In a child process: open `spec` (or use the inherited `limiter`), wait for the start, count admissions."""
    own = limiter if limiter is not None else RateLimiter(store=spec)
    start.wait()
    results.put(sum(own.acquire("sk-1\x1fgpt-4o", LIMITS, COSTS, now_ns=T0).allowed for _ in range(attempts)))


def run_children(ctx, count: int, spec: str | None, limiter: RateLimiter | None, attempts: int) -> list[int]:
    return run_together(ctx, hammer, [(spec, limiter, attempts)] * count)


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_processes_opening_one_path_admit_the_limit_once(tmp_path: Path, start_method: str) -> None:
    spec = f"shm:{tmp_path / 'limits'}"
    counts = run_children(multiprocessing.get_context(start_method), 3, spec, None, attempts=300)
    # Alone, each process would admit 300 of its 300 attempts: together they get the requests limit.
    assert sum(counts) == 400, counts
    # Everything was charged to one table that a newcomer sees.
    after = RateLimiter(store=spec).acquire("sk-1\x1fgpt-4o", LIMITS, [0, 0], now_ns=T0)
    assert after.remaining == (0, 400)


def test_forked_workers_share_the_table_their_parent_opened(tmp_path: Path) -> None:
    """The server's model: the parent opens the table, the workers inherit it through fork."""
    path = tmp_path / "limits"
    parent = RateLimiter(store=f"shm:{path}")
    assert parent.acquire("sk-1\x1fgpt-4o", LIMITS, COSTS, now_ns=T0).allowed
    path.unlink()  # as the server does: the inherited mapping needs no file
    counts = run_children(multiprocessing.get_context("fork"), 2, None, parent, attempts=400)
    assert sum(counts) == 399, counts
    assert not parent.acquire("sk-1\x1fgpt-4o", LIMITS, COSTS, now_ns=T0).allowed


def test_limiters_on_one_path_share_buckets_and_refill_together(tmp_path: Path) -> None:
    spec = f"shm:{tmp_path / 'limits'}"
    a, b = RateLimiter(store=spec), RateLimiter(store=spec)
    rps = [Limit("requests", 2, per_seconds=1)]
    assert a.acquire("k", rps, [1], now_ns=T0).allowed
    assert b.acquire("k", rps, [1], now_ns=T0).allowed
    refused = a.acquire("k", rps, [1], now_ns=T0)
    assert not refused.allowed and refused.retry_after_ns == (SECOND // 2,)
    assert b.acquire("k", rps, [1], now_ns=T0 + SECOND // 2).allowed
    assert a.store == spec


def test_a_full_table_keeps_admitting_new_keys(tmp_path: Path) -> None:
    limiter = RateLimiter(store=f"shm:{tmp_path / 'tiny'}?slots=4")
    for i in range(200):
        assert limiter.acquire(f"user-{i}", LIMITS, COSTS, now_ns=T0 + i).allowed
    # The newest key still holds its charge after the table overflowed many times.
    assert limiter.acquire("user-199", LIMITS, COSTS, now_ns=T0 + 200).remaining == (398, 1196)
    assert limiter.evict_expired(now_ns=T0 + 3600 * SECOND) == 4


def test_store_errors_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="No such file or directory"):
        RateLimiter(store=f"shm:{tmp_path / 'missing-dir' / 'limits'}")
    foreign = tmp_path / "notes.txt"
    foreign.write_text("my notes, which must survive a wrong store path " * 4)
    with pytest.raises(OSError, match="not a sentra limiter table"):
        RateLimiter(store=f"shm:{foreign}")
    assert foreign.read_text().startswith("my notes")
    with pytest.raises(OSError, match="slots=N"):
        RateLimiter(store=f"shm:{tmp_path / 'x'}?slot=3")
    with pytest.raises(ValueError, match="shm:/path"):
        RateLimiter(store="shared-memory")


def test_a_multi_process_server_gets_a_private_table_that_leaves_no_file() -> None:
    settings = load_settings(mode="default", environ={}, cli={"server.processes": 2, "server.port": 18731})
    spec = limiter_store_spec(settings)
    assert spec == f"shm:/dev/shm/sentra-openai-18731-{os.getpid()}.limits"
    engine = build_engine(settings, clock=ManualClock(start=1000.0))
    limiter = engine.services.rate_limits.limiter
    assert limiter.store == spec
    assert not os.path.exists(spec.removeprefix("shm:")), "unlinked once mapped"
    # The forked workers of this process share it.
    counts = run_children(multiprocessing.get_context("fork"), 2, None, limiter, attempts=300)
    assert sum(counts) == 400, counts


def test_one_process_servers_and_explicit_stores_are_left_alone() -> None:
    one = load_settings(mode="default", environ={}, cli={"server.processes": 1})
    assert limiter_store_spec(one) == "memory"
    explicit = load_settings(mode="default", environ={}, cli={
        "server.processes": 4, "rate_limiting.store": "shm", "rate_limiting.shm_path": "/dev/shm/mine.limits"})
    assert limiter_store_spec(explicit) == "shm:/dev/shm/mine.limits"
