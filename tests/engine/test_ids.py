"""Response ids never repeat: not between the workers forked from one parent, not across restarts or hosts (every
process draws from its own OS-seeded stream), while X-Sentra-Seed still pins them."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys

import httpx
import orjson
import pytest
from sentra_openai.config import load_settings
from sentra_openai.engine import ManualClock, Request, build_engine

CHAT = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say this is a test"}]})


def ids_of(engine, count: int, headers: dict[str, str] | None = None) -> list[str]:
    found = []
    for _ in range(count):
        outcome = engine.handle(Request("POST", "/v1/chat/completions", {"content-type": "application/json",
                                                                         **(headers or {})}, CHAT))
        assert outcome.status == 200
        found += [outcome.headers["x-request-id"], orjson.loads(outcome.body)["id"]]
    return found


def _worker(engine, queue) -> None:
    queue.put(ids_of(engine, 50))


def test_workers_forked_from_one_engine_never_share_an_id() -> None:
    # The server builds its engine in the parent, then forks the workers: they must not inherit one id stream.
    engine = build_engine(load_settings(mode="fast", environ={}), clock=ManualClock())
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_worker, args=(engine, queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    found = [queue.get(timeout=60) for _ in workers] + [ids_of(engine, 50)]
    for worker in workers:
        worker.join(60)
    every = [one for batch in found for one in batch]
    assert len(every) == 300
    assert len(set(every)) == len(every)


SCRIPT = """
import orjson, sys
from sentra_openai.config import load_settings
from sentra_openai.engine import ManualClock, Request, build_engine
engine = build_engine(load_settings(mode="fast", environ={}, cli={"seed": 7}), clock=ManualClock())
headers = {"content-type": "application/json", **orjson.loads(sys.argv[1])}
out = []
for _ in range(20):
    o = engine.handle(Request("POST", "/v1/chat/completions", headers, sys.argv[2].encode()))
    out += [o.headers["x-request-id"], orjson.loads(o.body)["id"]]
print(orjson.dumps(out).decode())
"""


def run_fresh_process(headers: dict[str, str]) -> list[str]:
    done = subprocess.run([sys.executable, "-c", SCRIPT, orjson.dumps(headers).decode(), CHAT.decode()],
                          capture_output=True, text=True, timeout=120, check=True)
    return orjson.loads(done.stdout)


def test_a_restarted_process_with_the_same_seed_does_not_repeat_ids() -> None:
    first, second = run_fresh_process({}), run_fresh_process({})
    assert not set(first) & set(second)


def test_x_sentra_seed_pins_ids_across_processes() -> None:
    pinned = {"x-sentra-seed": "42"}
    assert run_fresh_process(pinned) == run_fresh_process(pinned)


@pytest.mark.server
def test_a_two_process_server_gives_every_response_its_own_id(server_factory) -> None:
    server = server_factory(args=["--processes", "2"])
    seen = []
    for _ in range(100):
        with httpx.Client(base_url=server.base_url) as fresh:  # a new connection each time: both workers answer
            answer = fresh.post("/v1/chat/completions", content=CHAT, headers={"content-type": "application/json"})
        assert answer.status_code == 200
        seen += [answer.headers["x-request-id"], answer.json()["id"]]
    assert len(set(seen)) == len(seen) == 200


def test_health_checks_do_not_change_the_draws_of_api_requests() -> None:
    def jittered_runs(probes: int) -> list[str]:
        engine = build_engine(load_settings(mode="default", environ={}, cli={"latency.time_scale": 1.0}),
                              clock=ManualClock())
        found = []
        for _ in range(3):
            for _ in range(probes):
                engine.handle(Request("GET", "/health", {}, b""))
            outcome = engine.handle(Request("POST", "/v1/chat/completions", {"content-type": "application/json"},
                                            CHAT))
            found.append(outcome.headers["openai-processing-ms"])
        return found

    assert jittered_runs(0) == jittered_runs(5)
