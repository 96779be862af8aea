"""The Redis limiter store: one limit for several hosts, on Redis's clock, surviving Redis outages.

Parity of its decisions with reference.py is in test_limiter_parity.py. These tests need a
redis-server binary (each starts its own on a free port) and are skipped without one.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest
from processes import run_together
from redis_server import RedisServer, needs_redis, redis_url  # noqa: F401  (fixture)
from sentra_openai.ratelimit import Limit, LimiterUnavailable, RateLimiter
from sentra_openai.redis_limiter import RedisStore

pytestmark = [pytest.mark.redis, needs_redis]

SECOND = 1_000_000_000
MS = 1_000_000
RPM3 = [Limit("requests", 3, per_seconds=60)]


@pytest.fixture
def redis_client(redis_url: str):  # noqa: F811
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


def test_two_limiters_share_buckets_like_two_hosts(redis_url: str, redis_client) -> None:  # noqa: F811
    host_a, host_b = RateLimiter(store=redis_url), RateLimiter(store=redis_url)
    assert host_a.acquire("sk-1", RPM3, [1]).allowed
    assert host_b.acquire("sk-1", RPM3, [1]).allowed
    assert host_a.acquire("sk-1", RPM3, [1]).allowed
    refused = host_b.acquire("sk-1", RPM3, [1])
    assert not refused.allowed and refused.remaining == (0,)
    # Another key is another bucket.
    assert host_b.acquire("sk-2", RPM3, [1]).allowed


def test_time_comes_from_redis_and_keys_expire_with_their_bucket(redis_url: str, redis_client) -> None:  # noqa: F811
    store = RedisStore(redis_url, grace_ms=0)
    first = store.acquire("k", [("requests", 2, 400 * MS)], [1])
    # Redis's TIME in microseconds is ~1.7e15, ns since 1970: nothing like this process's monotonic clock.
    assert first.allowed and first.reset_after_ns == [200 * MS]
    key = store.bucket_key("k", "requests")
    assert 0 < redis_client.pttl(key) <= 200
    second = store.acquire("k", [("requests", 2, 400 * MS)], [1])
    assert second.remaining == [0] and 200 * MS < second.reset_after_ns[0] <= 400 * MS
    # Once the TAT is past, the key is gone and the bucket is full again.
    deadline = time.monotonic() + 5
    while redis_client.exists(key) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not redis_client.exists(key)
    assert store.acquire("k", [("requests", 2, 400 * MS)], [2]).allowed


def test_an_explicit_clock_is_honoured(redis_url: str, redis_client) -> None:  # noqa: F811
    now = [5_000 * SECOND]
    limiter = RateLimiter(store=redis_url, clock=lambda: now[0])
    assert [limiter.acquire("k", RPM3, [1]).allowed for _ in range(4)] == [True, True, True, False]
    refused = limiter.acquire("k", RPM3, [1])
    assert refused.retry_after_ns == (20 * SECOND,)
    now[0] += 20 * SECOND
    assert limiter.acquire("k", RPM3, [1]).allowed
    # The stored TAT is a plain nanosecond integer, readable with redis-cli.
    stored = redis_client.get(limiter._native.bucket_key("k", "requests"))
    assert int(stored) == 5_000 * SECOND + 80 * SECOND


def test_the_script_is_reloaded_after_a_script_flush(redis_url: str, redis_client) -> None:  # noqa: F811
    limiter = RateLimiter(store=redis_url)
    assert limiter.acquire("k", RPM3, [1]).allowed
    redis_client.script_flush()
    assert limiter.acquire("k", RPM3, [1]).remaining == (1,)


def test_evict_expired_removes_only_past_buckets(redis_url: str, redis_client) -> None:  # noqa: F811
    store = RedisStore(redis_url)
    t0 = 10**18
    store.acquire("old", [("requests", 1, 10 * SECOND)], [1], t0)
    store.acquire("new", [("requests", 1, 10 * SECOND)], [1], t0 + 5 * SECOND)
    assert store.evict_expired(t0 + 10 * SECOND) == 1
    assert store.acquire("new", [("requests", 1, 10 * SECOND)], [0], t0 + 10 * SECOND).remaining == [0]
    # Keys of other applications in the same database are never touched.
    redis_client.set("someone-else:k", "1")
    assert store.evict_expired(2**63) == 1
    assert redis_client.get("someone-else:k") == b"1"


def test_close_releases_the_connection(redis_url: str, redis_client) -> None:  # noqa: F811
    def clients() -> int:
        return redis_client.info("clients")["connected_clients"]

    before = clients()
    limiter = RateLimiter(store=redis_url)
    limiter.acquire("k", RPM3, [1])
    assert clients() == before + 1
    limiter.close()
    deadline = time.monotonic() + 5
    while clients() > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert clients() == before


def test_bucket_keys_cannot_collide() -> None:
    store = RedisStore("redis://127.0.0.1:1/0", client=object())
    assert store.bucket_key("a}:b", "c") != store.bucket_key("a", "b}:c")
    assert store.bucket_key("ab", "c") != store.bucket_key("a", "bc")


def _hammer(start, results, url: str) -> None:
    limiter = RateLimiter(store=url)
    start.wait()
    limits = [Limit("requests", 50, per_seconds=60), Limit("tokens", 150, per_seconds=60)]
    results.put(sum(limiter.acquire("shared", limits, [1, 2]).allowed for _ in range(60)))


def test_concurrent_processes_admit_exactly_the_limit(redis_url: str, redis_client) -> None:  # noqa: F811
    counts = run_together(multiprocessing.get_context("fork"), _hammer, [(redis_url,)] * 3)
    # Each alone would get 50 of its 60 attempts (tokens would allow 75).
    assert sum(counts) == 50, counts


def test_unreachable_redis_raises_limiter_unavailable_and_hides_the_password() -> None:
    limiter = RateLimiter(store="redis://user:hunter2@127.0.0.1:1/0")
    started = time.monotonic()
    with pytest.raises(LimiterUnavailable) as error:
        limiter.acquire("k", RPM3, [1])
    assert time.monotonic() - started < 3
    assert "hunter2" not in str(error.value) and "127.0.0.1:1" in str(error.value)


def test_a_redis_that_comes_back_is_used_again_without_a_new_limiter(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    try:
        limiter = RateLimiter(store=server.url)
        assert limiter.acquire("k", RPM3, [1]).allowed
        server.stop()
        with pytest.raises(LimiterUnavailable):
            limiter.acquire("k", RPM3, [1])
        server.start()  # same port, empty (no persistence)
        assert limiter.acquire("k", RPM3, [1]).remaining == (2,)
    finally:
        server.stop()


def test_missing_redis_package_is_a_clear_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ImportError, match=r"pip install 'sentra-openai\[redis\]'"):
        RateLimiter(store="redis://127.0.0.1:6379/0")


# --- servers sharing one Redis ---

def server_config(url: str, policy: str = "open", rpm: int = 10) -> dict:
    return {
        "rate_limiting": {"enable": True, "store": "redis", "redis_url": url, "redis_failure_policy": policy,
                          "overrides": {"gpt-4o-mini": {"rpm": rpm, "tpm": 10_000_000}}},
        "latency": {"enable": False},
        "error_injection": {"enable": False},
        "metrics": {"enable": False},
    }


def chat(server, api_key: str = "sk-test-key-0001") -> httpx.Response:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    return httpx.post(f"{server.api_url}/chat/completions", content=orjson.dumps(body), timeout=30,
                      headers={"authorization": f"Bearer {api_key}", "content-type": "application/json"})


@pytest.mark.server
def test_two_servers_on_one_redis_share_one_limit(server_factory, redis_url: str, redis_client) -> None:  # noqa: F811
    first = server_factory(server_config(redis_url), mode="default")
    second = server_factory(server_config(redis_url), mode="default")
    assert [chat(first).status_code for _ in range(6)] == [200] * 6
    answers = [chat(second) for _ in range(6)]
    assert [r.status_code for r in answers] == [200] * 4 + [429] * 2
    # The second server continues the first one's count.
    assert answers[0].headers["x-ratelimit-remaining-requests"] == "3"
    assert answers[-1].headers["x-ratelimit-remaining-requests"] == "0"


@pytest.mark.server
def test_redis_outage_follows_the_failure_policy_and_recovers(server_factory, tmp_path: Path) -> None:
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        open_server = server_factory(server_config(redis.url, "open", rpm=2), mode="default")
        closed_server = server_factory(server_config(redis.url, "closed", rpm=2), mode="default")
        # Each server its own API key, so each its own bucket in the shared Redis.
        servers = [(open_server, "sk-open"), (closed_server, "sk-closed")]
        for server, key in servers:
            assert "x-ratelimit-remaining-requests" in chat(server, key).headers

        redis.stop()
        fail_open = [chat(open_server, "sk-open") for _ in range(3)]
        assert [r.status_code for r in fail_open] == [200] * 3  # more than the limit of 2: no limit applies
        assert all("x-ratelimit-limit-requests" not in r.headers for r in fail_open)
        fail_closed = chat(closed_server, "sk-closed")
        assert fail_closed.status_code == 503
        assert fail_closed.json() == {"error": {
            "message": "The server is temporarily unable to apply rate limits. Please retry your request.",
            "type": "server_error", "param": None, "code": None}}
        # One warning for the burst of failures, not one per request.
        warnings = [line for line in open_server.log().splitlines() if "rate limits not applied" in line]
        assert len(warnings) == 1, warnings

        redis.start()  # same port, no state: the buckets start full
        for server, key in servers:
            statuses = [chat(server, key).status_code for _ in range(3)]
            assert statuses == [200, 200, 429]
    finally:
        redis.stop()
