"""Paced streams behind the front (issue 12): the worker writes a whole stream at once, each event marked with the
moment it is due, and the front (rust/core/src/front/pacing.rs) sends each event at that moment. What a client sees
must be what the worker's own pacing sent: the same events, none early, the same cut when the connection is lost."""

from __future__ import annotations

import copy
import os
import signal
import threading
import time

import httpx
import orjson
import pytest
import yaml
from conftest import start_server
from processes import stop, worker_pid
from sentra_openai.config import config_dir

pytestmark = pytest.mark.server

MODEL = "test-paced"
TTFT_S = 0.2
TOKENS_PER_S = 50.0
MAX_TOKENS = 10
# Each token's deadline may move by up to this share of one gap (engine/realism/latency.py), either way.
DEADLINE_SHIFT = 0.35


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("front-pacing")
    document = yaml.safe_load((config_dir() / "models.yaml").read_text())
    base = document["models"]["gpt-4o-mini"]
    paced = copy.deepcopy(base)
    paced.update(snapshot=f"{MODEL}-2026-01-01", aliases=[],
                 latency={"ttft_median_s": TTFT_S, "ttft_p95_s": TTFT_S, "tokens_per_s": TOKENS_PER_S,
                          "tokens_per_s_jitter": 0.0})
    catalog = workdir / "catalog.yaml"
    catalog.write_text(yaml.safe_dump({"as_of": document.get("as_of"), "prompt_formats": document["prompt_formats"],
                                       "models": {"gpt-4o-mini": base, MODEL: paced}}, sort_keys=False))
    running = start_server(workdir, {"models": {"catalog": str(catalog)}, "rate_limiting": {"enable": False},
                                     "error_injection": {"enable": False}, "latency": {"time_scale": 1.0},
                                     "server": {"processes": 1}},
                           mode="default")
    yield running
    running.stop()


def stream(server, **headers: str) -> tuple[float, list[tuple[float, bytes]], httpx.Headers]:
    """Streams one chat completion: when it was sent, each read with its time, and the response headers."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Tell me about rivers"}],
            "max_tokens": MAX_TOKENS, "stream": True, "stream_options": {"include_usage": True}}
    reads = []
    with httpx.Client(timeout=30) as client:
        sent = time.monotonic()
        with client.stream("POST", f"{server.api_url}/chat/completions", content=orjson.dumps(body),
                           headers={"content-type": "application/json", "x-sentra-seed": "3", **headers}) as response:
            for chunk in response.iter_raw():
                reads.append((time.monotonic(), chunk))
            return sent, reads, response.headers


def events(reads: list[tuple[float, bytes]]) -> list[tuple[float, dict | str]]:
    """Each SSE event with the time its read came (an event split over reads counts when its end came)."""
    out, pending = [], b""
    for at, chunk in reads:
        pending += chunk
        while b"\n\n" in pending:
            raw, pending = pending.split(b"\n\n", 1)
            data = raw.decode().removeprefix("data: ")
            out.append((at, data if data == "[DONE]" else orjson.loads(data)))
    return out


def content(evs) -> list:
    """What must match between two streams of the same pinned request (ids, times and padding aside)."""
    return [e if e == "[DONE]" else (e["choices"][0]["delta"] if e["choices"] else e["usage"]) for _, e in evs]


def test_a_paced_stream_comes_event_by_event_never_before_its_moment(server):
    stream(server)  # warm up (tokenizers)
    sent, reads, headers = stream(server)
    evs = events(reads)
    assert evs[-1][1] == "[DONE]"
    assert "x-sentra-pace" not in headers and not any(b"\0" in chunk for _, chunk in reads)
    pieces = [(at, e) for at, e in evs if e != "[DONE]" and e["choices"] and e["choices"][0]["delta"].get("content")]
    assert len(pieces) == MAX_TOKENS
    gap = 1 / TOKENS_PER_S
    for k, (at, _) in enumerate(pieces):
        # Planned from the request's arrival (after `sent`): the k-th token is due TTFT + k gaps later, give or take
        # the deadline's shift; the front sends nothing before its moment.
        assert at - sent >= TTFT_S + (k - DEADLINE_SHIFT) * gap, f"token {k} came {at - sent:.3f} s after sending"
    # Held to the end, they would come in one or two reads; a busy test machine may join a few reads, not most.
    assert len({round(at, 3) for at, _ in pieces}) >= 3, "the tokens came spread out, not together"


def test_the_front_paced_stream_has_the_events_of_the_same_stream_unpaced(server):
    _, paced_reads, _ = stream(server)
    _, immediate_reads, _ = stream(server, **{"x-sentra-time-scale": "0"})  # no delays: the worker writes it all
    assert content(events(paced_reads)) == content(events(immediate_reads))


def test_a_paced_stream_that_loses_its_connection_ends_without_its_last_chunk(server):
    with pytest.raises(httpx.RemoteProtocolError):
        stream(server, **{"x-sentra-error": "500@chunk=4"})


def test_a_paced_stream_goes_on_while_its_worker_is_stopped(server):
    """The worker is done with a stream once it has planned it: the front sends the rest on its own."""
    stream(server)  # warm up
    worker = worker_pid(server.log())
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Tell me about lakes"}], "max_tokens": MAX_TOKENS,
            "stream": True}
    received = b""
    with httpx.Client(timeout=10) as client, client.stream(
            "POST", f"{server.api_url}/chat/completions", content=orjson.dumps(body),
            headers={"content-type": "application/json"}) as response:
        chunks = response.iter_raw()
        received += next(chunks)  # the first event: the worker has answered
        stop(worker)
        try:
            for chunk in chunks:
                received += chunk
        finally:
            os.kill(worker, signal.SIGCONT)
    assert received.rstrip().endswith(b"data: [DONE]")


def test_an_answer_with_latency_is_held_by_the_front_not_the_worker(server):
    """A whole answer is sent by the worker at once and held by the front until its simulated latency has passed: it
    comes no earlier than the time the server reports, and it comes even if the worker stops meanwhile."""
    stream(server)  # warm up
    worker = worker_pid(server.log())
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Tell me about ponds"}], "max_tokens": MAX_TOKENS}
    answers = []

    def ask() -> None:
        sent = time.monotonic()
        response = httpx.post(f"{server.api_url}/chat/completions", json=body, timeout=15,
                              headers={"x-sentra-time-scale": "5"})  # about 2 s of latency
        answers.append((time.monotonic() - sent, response))

    thread = threading.Thread(target=ask)
    thread.start()
    time.sleep(0.5)  # the worker answered long since; the front holds the answer
    stop(worker)
    try:
        thread.join(15)
    finally:
        os.kill(worker, signal.SIGCONT)
    took, response = answers[0]
    assert response.status_code == 200 and "x-sentra-due" not in response.headers
    assert response.json()["choices"][0]["message"]["content"]
    assert took * 1000 >= int(response.headers["openai-processing-ms"]) >= 1000
