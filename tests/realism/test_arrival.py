"""Simulated latency counts from the request's arrival at the server's port (issue 12): the front stamps each request
with `x-sentra-arrived` (CLOCK_MONOTONIC seconds), and a request that waited for a busy worker has that wait counted
in its latency instead of added to it. A client cannot send the stamp itself, and it appears in no log."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest
from conftest import start_server
from processes import listener_pid, stop, worker_port
from sentra_openai.config import load_settings
from sentra_openai.engine import ManualClock, MonotonicClock, Request, build_engine
from sentra_openai.engine.core import ARRIVAL_HEADER, arrival

AUTH = {"authorization": "Bearer sk-arrival"}
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me about rivers"}], "max_tokens": 12}
HOLD_S = 1.0


def _engine(clock):
    return build_engine(load_settings(mode="fast", environ={}), clock=clock)


def _models(engine, **headers: str):
    return engine.handle(Request("GET", "/v1/models", {**AUTH, **headers}))


def test_a_stamped_arrival_counts_in_the_processing_time():
    engine = _engine(MonotonicClock())
    outcome = _models(engine, **{ARRIVAL_HEADER: f"{time.monotonic() - 0.5:.9f}"})
    assert outcome.status == 200
    assert int(outcome.headers["openai-processing-ms"]) >= 500


def test_a_clock_tests_drive_ignores_the_stamp():
    clock = ManualClock(start=1000.0)
    outcome = _models(_engine(clock), **{ARRIVAL_HEADER: "999.5"})
    assert outcome.headers["openai-processing-ms"] == "0"
    assert arrival(Request("GET", "/", {ARRIVAL_HEADER: "999.5"}), clock) == 1000.0


@pytest.mark.parametrize("stamp", ["+5", "-120", "nan", "inf", "-inf", "soon", ""])
def test_a_stamp_in_the_future_too_old_or_unreadable_means_now(stamp):
    clock = MonotonicClock()
    now = time.monotonic()
    value = {"+5": f"{now + 5:.9f}", "-120": f"{now - 120:.9f}"}.get(stamp, stamp)
    started = arrival(Request("GET", "/", {ARRIVAL_HEADER: value}), clock)
    assert now <= started <= time.monotonic()


def test_the_stamp_is_kept_out_of_the_request_log_and_the_answer():
    engine = _engine(MonotonicClock())
    assert engine.handle(Request("GET", "/sentra/v1/requests", {})).status == 200  # arms the log
    headers = {**AUTH, "content-type": "application/json", "x-trace": "kept",
               ARRIVAL_HEADER: f"{time.monotonic() - 0.01:.9f}"}
    outcome = engine.handle(Request("POST", "/v1/chat/completions", headers, orjson.dumps(CHAT)))
    assert outcome.status == 200 and ARRIVAL_HEADER not in outcome.headers
    logged = orjson.loads(engine.handle(Request("GET", "/sentra/v1/requests", {})).body)["data"]
    chat = [entry for entry in logged if entry["path"] == "/v1/chat/completions"]
    assert len(chat) == 1 and chat[0]["headers"]["x-trace"] == "kept"
    assert ARRIVAL_HEADER not in chat[0]["headers"]


def test_a_recorded_exchange_leaves_the_stamp_out(tmp_path):
    from sentra_openai.engine.tooling.recording import Recorder

    settings = load_settings(environ={}, cli={"recording.dir": str(tmp_path), "recording.upstream": "http://127.0.0.1:9"})
    headers = {**AUTH, "x-trace": "kept", ARRIVAL_HEADER: f"{time.monotonic():.9f}"}
    Recorder(settings)._write_exchange(Request("GET", "/v1/models", headers), 200, {}, b"{}")
    recorded = orjson.loads(next((tmp_path / "exchanges").glob("*.json")).read_bytes())["request"]["headers"]
    assert recorded["x-trace"] == "kept" and ARRIVAL_HEADER not in recorded


# -- through a real server: the front stamps, the worker counts from the stamp --------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("arrival"), {"server": {"processes": 1}, "metrics": {"enable": False}},
                           mode="default")
    try:
        post(running, CHAT, time_scale="0")  # warm up (tokenizers)
        yield running
    finally:
        running.stop()


def post(server, body: dict, *, time_scale: str, **headers: str) -> httpx.Response:
    return httpx.post(f"{server.api_url}/chat/completions", json=body, timeout=30,
                      headers={**AUTH, "x-sentra-time-scale": time_scale, **headers})


def _queued_at(port: int) -> int:
    """Connections to `port` on loopback holding bytes their (stopped) owner has not read (/proc/net/tcp)."""
    queued = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, rx_queue = fields[1], int(fields[4].split(":")[1], 16)
        if local.endswith(f":{port:04X}") and rx_queue > 0:
            queued += 1
    return queued


@pytest.mark.server
def test_a_request_that_waited_for_a_held_worker_is_not_slowed_by_the_wait(server):
    worker_port = int(re.search(r"workers listen on 127\.0\.0\.1:(\d+)", server.log()).group(1))
    worker = listener_pid(worker_port)
    answers: dict[str, httpx.Response] = {}

    def send(name: str, body: dict) -> None:
        answers[name] = post(server, body, time_scale="0.1")  # a plan far shorter than the hold

    threads = [threading.Thread(target=send, args=("whole", CHAT)),
               threading.Thread(target=send, args=("stream", {**CHAT, "stream": True}))]
    stop(worker)
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while _queued_at(worker_port) < 2 and time.monotonic() < deadline:  # both forwarded, neither read
            time.sleep(0.01)
        # Forwarded means read and stamped by the front. A request can be read and not yet forwarded: sent on a
        # pooled connection the worker had closed just before it was stopped, it waits for the front's retry.
        assert _queued_at(worker_port) >= 1
        time.sleep(HOLD_S)  # the front stamped both before this began
    finally:
        os.kill(worker, signal.SIGCONT)
    for thread in threads:
        thread.join(30)
    whole, stream = answers["whole"], answers["stream"]
    assert whole.status_code == 200 and stream.status_code == 200
    assert stream.text.rstrip().endswith("data: [DONE]")
    # Both plans were due before the worker could start: each answer went out as soon as it could, and the server
    # reports the time since arrival (without the stamp it would report the ~0.05 s plan from when the worker began).
    for answer in (whole, stream):
        assert int(answer.headers["openai-processing-ms"]) >= HOLD_S * 1000
        assert ARRIVAL_HEADER not in answer.headers


@pytest.mark.server
def test_a_clients_own_arrival_stamp_does_not_move_the_servers_clock(server):
    forged = f"{time.monotonic() - 30:.9f}"  # a sane stamp, had the front not dropped it: 30 s of latency used up
    answer = post(server, CHAT, time_scale="0", **{ARRIVAL_HEADER: forged})
    assert answer.status_code == 200
    assert int(answer.headers["openai-processing-ms"]) < 20_000


@pytest.mark.server
def test_straight_to_a_worker_a_delayed_answer_waits_its_latency_without_holding_the_worker(server):
    """No front, no stamp: the worker waits the simulated latency itself, in the answer's generator (server/adapter.py
    _delayed), so a request sent meanwhile is answered first."""
    worker = f"http://127.0.0.1:{worker_port(server.log())}/v1/chat/completions"
    slow: dict[str, float | httpx.Response] = {}

    def send_slow() -> None:
        started = time.monotonic()
        slow["answer"] = httpx.post(worker, json=CHAT, timeout=30, headers={**AUTH, "x-sentra-time-scale": "1"})
        slow["took"] = time.monotonic() - started

    thread = threading.Thread(target=send_slow)
    thread.start()
    time.sleep(0.05)
    quick = httpx.post(worker, json=CHAT, timeout=30, headers={**AUTH, "x-sentra-time-scale": "0"})
    assert quick.status_code == 200 and "answer" not in slow
    thread.join(30)
    answer = slow["answer"]
    assert isinstance(answer, httpx.Response) and answer.status_code == 200
    assert answer.json()["object"] == "chat.completion"
    planned_s = int(answer.headers["openai-processing-ms"]) / 1000
    assert planned_s >= 0.2 and slow["took"] >= planned_s - 0.01
