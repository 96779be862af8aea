"""Metrics are kept in each worker's memory and published in batches, yet a scrape is exact: it counts every request
answered before it, across processes, right after a burst; a worker that dies still counts with what it published."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from decimal import Decimal

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.server

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me about rivers"}], "max_tokens": 20}
KEY = "sk-metrics-batched-key-0001"
HEADERS = {"authorization": f"Bearer {KEY}", "x-sentra-time-scale": "0"}


def scrape(server) -> dict[tuple[str, tuple], float]:
    text = httpx.get(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=5).text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def log_lines(server) -> list[dict]:
    return [orjson.loads(line) for line in server.log().splitlines() if line.startswith("{")]


async def burst(server, bodies: list[dict]) -> list[httpx.Response]:
    """All at once over 16 connections (the front spreads new connections over the workers)."""
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=server.api_url, headers=HEADERS, limits=limits, timeout=30) as client:
        return await asyncio.gather(*(client.post("/chat/completions", json=body) for body in bodies))


def bodies(count: int) -> list[dict]:
    """Different prompts and lengths, one in seven refused with a 400."""
    out = []
    for i in range(count):
        body = {**CHAT, "messages": [{"role": "user", "content": "rivers " * (1 + i % 5)}], "max_tokens": 5 + i % 9}
        if i % 7 == 3:
            body["temperature"] = 7
        out.append(body)
    return out


def test_a_scrape_right_after_a_burst_counts_every_request_of_both_processes(server_factory):
    server = server_factory({"rate_limiting": {"enable": False}, "error_injection": {"enable": False}},
                            mode="default", args=["--processes", "2"])
    for round_number in (1, 2):  # the second round adds exactly its own requests
        sent = bodies(140 * round_number)
        responses = asyncio.run(burst(server, sent))
        m = scrape(server)  # at once: no publishing interval waited for

        ok = [r for r in responses if r.status_code == 200]
        bad = [r for r in responses if r.status_code == 400]
        assert len(ok) + len(bad) == len(sent) and len(bad) == sum(1 for b in sent if "temperature" in b)
        expected_ok = sum(1 for b in bodies(140) if "temperature" not in b) * (1 if round_number == 1 else 3)
        expected_bad = sum(1 for b in bodies(140) if "temperature" in b) * (1 if round_number == 1 else 3)
        labels = {"model": "gpt-4o-mini", "endpoint": "chat.completions"}
        assert value(m, "openai_mock_requests_total", status="200", **labels) == expected_ok
        assert value(m, "openai_mock_requests_total", status="400", **labels) == expected_bad
        assert value(m, "openai_mock_latency_seconds_count", **labels) == expected_ok + expected_bad
        assert value(m, "openai_mock_latency_seconds_bucket", le="+Inf", **labels) == expected_ok + expected_bad
        assert sum(v for (name, labels_), v in m.items() if name == "openai_mock_errors_total"
                   and ("model", "gpt-4o-mini") in labels_) == expected_bad
        if round_number == 1:
            first = (sum(r.json()["usage"]["prompt_tokens"] for r in ok),
                     sum(r.json()["usage"]["completion_tokens"] for r in ok),
                     sum(Decimal(r.headers["x-sentra-cost-usd"]) for r in ok))
            input_tokens, output_tokens, cost = first
        else:
            input_tokens = first[0] + sum(r.json()["usage"]["prompt_tokens"] for r in ok)
            output_tokens = first[1] + sum(r.json()["usage"]["completion_tokens"] for r in ok)
            cost = first[2] + sum(Decimal(r.headers["x-sentra-cost-usd"]) for r in ok)
        assert value(m, "openai_mock_tokens_total", model="gpt-4o-mini", type="input") == input_tokens
        assert value(m, "openai_mock_tokens_total", model="gpt-4o-mini", type="output") == output_tokens
        assert value(m, "openai_mock_cost_usd_total", model="gpt-4o-mini") == pytest.approx(float(cost), rel=1e-9)
    served_by = {line["pid"] for line in log_lines(server) if line.get("endpoint") == "chat.completions"}
    assert len(served_by) == 2, "both processes should have served part of the burst"


def test_a_killed_worker_still_counts_with_what_it_published(server_factory, tmp_path):
    directory = tmp_path / "metrics"
    server = server_factory({"rate_limiting": {"enable": False}, "error_injection": {"enable": False}},
                            mode="default", args=["--processes", "2"], env={"SENTRA_METRICS_DIR": str(directory)})
    labels = {"model": "gpt-4o-mini", "endpoint": "chat.completions", "status": "200"}
    ok = [body for body in bodies(60) if "temperature" not in body]
    assert all(r.status_code == 200 for r in asyncio.run(burst(server, ok)))
    served = {}
    for line in log_lines(server):
        if line.get("endpoint") == "chat.completions":
            served[line["pid"]] = served.get(line["pid"], 0) + 1
    assert len(served) == 2
    victim = min(served)

    def published() -> float:  # what the victim last wrote (it publishes twice a second)
        try:
            totals = orjson.loads((directory / f"worker-{victim}.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return 0
        return sum(row[3] for row in totals["requests"] if row[1] == "chat.completions")

    deadline = time.monotonic() + 10
    while published() < served[victim] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert published() == served[victim]
    os.kill(victim, signal.SIGKILL)
    assert value(scrape(server), "openai_mock_requests_total", **labels) == len(ok)

    # The supervisor starts a new worker; its requests add to the dead one's.
    deadline = time.monotonic() + 10
    more = []
    while len(more) < 40 and time.monotonic() < deadline:
        more += [r for r in asyncio.run(burst(server, ok[:20])) if r.status_code == 200]
    assert len(more) >= 40
    assert value(scrape(server), "openai_mock_requests_total", **labels) == len(ok) + len(more)
