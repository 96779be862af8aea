"""A server with several worker processes enforces one rate limit, not one per worker.

With `--processes 2` and the default "memory" store, the server switches to a shm table that its
parent creates before forking the workers (engine.limiter_store_spec). A burst from many concurrent
connections, which the kernel spreads over both workers, must be admitted exactly up to the limit.
"""

from __future__ import annotations

import glob
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson
import pytest

pytestmark = pytest.mark.server

RPM = 30
CONFIG = {
    "rate_limiting": {"enable": True, "overrides": {"gpt-4o-mini": {"rpm": RPM, "tpm": 10_000_000}}},
    "latency": {"enable": False},
    "error_injection": {"enable": False},
    "metrics": {"enable": False},
    "logging": {"request_log": True},
}
BODY = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5})


def post_on_a_new_connection(url: str) -> int:
    # One connection per request, so that the kernel may hand each one to either worker.
    with httpx.Client(timeout=30) as client:
        response = client.post(url, content=BODY, headers={
            "authorization": "Bearer sk-test-key-0001", "content-type": "application/json"})
        return response.status_code


def served_by(log: str) -> dict[int, list[int]]:
    """Statuses of chat requests per worker pid, from the request log's JSON lines."""
    by_pid: dict[int, list[int]] = {}
    for line in log.splitlines():
        if line.startswith("{") and '"/v1/chat/completions"' in line:
            entry = orjson.loads(line)
            by_pid.setdefault(entry["pid"], []).append(entry["status"])
    return by_pid


def test_two_worker_processes_admit_exactly_the_limit(server_factory) -> None:
    server = server_factory(CONFIG, mode="default", args=["--processes", "2"])
    url = f"{server.api_url}/chat/completions"
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=24) as pool:
        statuses = list(pool.map(post_on_a_new_connection, [url] * (3 * RPM)))
    elapsed = time.monotonic() - started

    assert set(statuses) <= {200, 429}, statuses
    # One request's share of the minute (2 s) comes back during the burst only if it lasts that long.
    refilled = int(elapsed // (60 / RPM))
    assert RPM <= statuses.count(200) <= RPM + refilled, (statuses.count(200), elapsed)

    deadline = time.monotonic() + 5
    while sum(map(len, served_by(server.log()).values())) < len(statuses) and time.monotonic() < deadline:
        time.sleep(0.05)
    by_pid = served_by(server.log())
    assert len(by_pid) == 2, f"both workers should have served part of the burst: {by_pid.keys()}"
    assert sum(s.count(200) for s in by_pid.values()) == statuses.count(200)


def test_the_private_table_leaves_no_file_behind(server_factory) -> None:
    server = server_factory(CONFIG, mode="default", args=["--processes", "2"])
    pattern = f"/dev/shm/sentra-openai-{server.port}-*.limits"
    assert post_on_a_new_connection(f"{server.api_url}/chat/completions") == 200
    assert glob.glob(pattern) == [], "the table is unlinked as soon as the parent has mapped it"
    server.stop()
    assert glob.glob(pattern) == []
