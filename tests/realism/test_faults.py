"""Injected faults: forced with X-Sentra-Error, drawn at a configured rate and status mix per model, more of them
under burst load, mid-stream failures, and the same faults for the same seed and request sequence.

Bodies: shared/reference/openai-wire.md §2.4 (429), §2.5 (500, 503), §2.6 (the mid-stream error event).
"""

from __future__ import annotations

import collections
import re
from dataclasses import replace

import httpx
import openai
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sentra_openai.config import load_settings
from sentra_openai.engine import ManualClock, Request, build_engine
from sentra_openai.engine.realism.faults import LoadWindow

SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me about rivers"}], "max_tokens": 30}


def engine_with(injection: dict, *, clock: ManualClock | None = None, seed: int = 42):
    settings = load_settings(mode="default", environ={})
    settings = replace(settings, seed=seed, rate_limiting=replace(settings.rate_limiting, enable=False),
                       error_injection=replace(settings.error_injection, enable=True, **injection))
    return build_engine(settings, clock=clock or ManualClock())


def chat(engine, body: dict | None = None, **headers: str):
    return engine.handle(Request("POST", "/v1/chat/completions", {"x-sentra-time-scale": "0", **headers},
                                 orjson.dumps(body or CHAT)))


# ---- forced faults, over HTTP ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conftest import start_server

    server = start_server(tmp_path_factory.mktemp("faults"), {"metrics": {"enable": False}}, mode="default")
    yield server
    server.stop()


def forced(server, value: str, body: dict | None = None) -> httpx.Response:
    return httpx.post(f"{server.api_url}/chat/completions", json=body or CHAT, timeout=10,
                      headers={"x-sentra-error": value, "x-sentra-time-scale": "0"})


@pytest.mark.server
def test_forced_500_and_503_carry_openais_bodies(server):
    response = forced(server, "500")
    assert response.status_code == 500
    assert response.json() == {"error": {"message": SERVER_ERROR, "type": "server_error", "param": None, "code": None}}
    assert response.headers["x-request-id"].startswith("req_")

    overloaded = forced(server, "503")
    assert overloaded.status_code == 503
    error = overloaded.json()["error"]
    request_hex = overloaded.headers["x-request-id"].removeprefix("req_")
    assert error == {
        "message": "That model is currently overloaded with other requests. You can retry your request, or contact us "
                   "through our help center at help.openai.com if the error persists. (Please include the request ID "
                   f"{request_hex} in your message.)",
        "type": "server_error", "param": None, "code": None}
    for status in ("502", "504"):
        assert forced(server, status).status_code == int(status)


@pytest.mark.server
def test_forced_429_looks_like_the_limiters_and_the_sdk_raises_its_errors(server):
    response = forced(server, "429")
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["type"] == "requests" and error["code"] == "rate_limit_exceeded"
    assert re.fullmatch(r"Rate limit reached for gpt-4o-mini in organization org-\w{24} on requests per min \(RPM\): "
                        r"Limit \d+, Used \d+, Requested 1\. Please try again in \d+ms\. Visit "
                        r"https://platform\.openai\.com/account/rate-limits to learn more\.", error["message"])
    assert int(response.headers["retry-after-ms"]) > 0 and int(response.headers["retry-after"]) >= 1

    client = server.client(default_headers={"x-sentra-time-scale": "0"})
    expectations = {"429": openai.RateLimitError, "500": openai.InternalServerError, "503": openai.InternalServerError}
    for value, exception in expectations.items():
        with pytest.raises(exception) as info:
            client.chat.completions.create(**CHAT, extra_headers={"x-sentra-error": value})
        assert info.value.status_code == int(value)


@pytest.mark.server
def test_a_malformed_control_header_is_a_400(server):
    response = forced(server, "418")
    assert response.status_code == 400
    assert "X-Sentra-Error" in response.json()["error"]["message"]


def stream_events(server, value: str, *, dropped: bool = False) -> list[bytes]:
    """The stream's events; `dropped`: its connection breaks off after them (tests/reliability/
    test_dropped_connections.py covers what the SDK then raises)."""
    raw = b""
    with httpx.stream("POST", f"{server.api_url}/chat/completions", json={**CHAT, "stream": True}, timeout=10,
                      headers={"x-sentra-error": value, "x-sentra-time-scale": "0"}) as response:
        assert response.status_code == 200
        try:
            for part in response.iter_bytes():
                raw += part
        except httpx.RemoteProtocolError:
            assert dropped
        else:
            assert not dropped
    return [event for event in raw.split(b"\n\n") if event]


@pytest.mark.server
def test_mid_stream_cut_after_chunk_k(server):
    complete = stream_events(server, "500@chunk=1000")  # k beyond the end: the whole stream, then nothing more
    cut = stream_events(server, "500@chunk=3", dropped=True)
    assert complete[-1] == b"data: [DONE]"
    def choices(events: list[bytes]) -> list:
        return [orjson.loads(event.removeprefix(b"data: "))["choices"] for event in events]

    # The connection breaks off after the third chunk: no finish_reason, no [DONE], no end of the body.
    assert len(cut) == 3 and choices(cut) == choices(complete[:3])


@pytest.mark.server
def test_mid_stream_error_event_and_the_sdk_raises_it(server):
    events = stream_events(server, "error-event@chunk=2")
    assert len(events) == 3
    assert orjson.loads(events[2].removeprefix(b"data: ")) == {
        "error": {"message": SERVER_ERROR, "type": "server_error", "param": None, "code": None}}

    client = server.client(default_headers={"x-sentra-time-scale": "0"})
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(**CHAT, stream=True,
                                                    extra_headers={"x-sentra-error": "error-event@chunk=4"}):
            received.append(chunk)
    assert info.value.message == SERVER_ERROR
    assert len(received) == 4


# ---- drawn faults, in-process ---------------------------------------------------------------------------------------


def statuses(engine, n: int, body: dict | None = None, step: float = 0.05) -> list[int]:
    """Sends n requests `step` seconds apart (20 a second by default: no burst)."""
    out = []
    for _ in range(n):
        out.append(chat(engine, body).status)
        engine.services.clock.advance(step)
    return out


def test_probabilistic_faults_follow_the_configured_rate_and_weights():
    engine = engine_with({"base_error_rate": 0.2, "weights": {"429": 1, "500": 2, "503": 1}})
    counts = collections.Counter(statuses(engine, 1000))
    failures = 1000 - counts[200]
    assert 160 <= failures <= 240  # 200 +- about 3 standard deviations of a binomial(1000, 0.2)
    assert set(counts) == {200, 429, 500, 503}
    assert counts[500] > counts[429] and counts[500] > counts[503]  # twice the weight of each
    assert 0.35 <= counts[500] / failures <= 0.65


def test_per_model_rate_and_weights():
    engine = engine_with({"base_error_rate": 0.0, "per_model": {"gpt-4o": {"rate": 0.5, "weights": {"503": 1}}}})
    mini = collections.Counter(statuses(engine, 200))
    big = collections.Counter(statuses(engine, 200, {**CHAT, "model": "gpt-4o"}))
    assert mini == {200: 200}
    assert set(big) == {200, 503} and 70 <= big[503] <= 130


def test_burst_load_raises_the_error_rate():
    clock = ManualClock()
    engine = engine_with({"base_error_rate": 0.05, "weights": {"500": 1}, "burst_window_seconds": 1.0,
                          "burst_threshold_rps": 200, "burst_multiplier": 6.0}, clock=clock)
    calm = statuses(engine, 600, step=1 / 100)  # 100 requests a second: below the threshold
    clock.advance(5.0)
    burst = statuses(engine, 1500, step=1 / 1000)[400:]  # 1000 a second, once the window has filled
    calm_rate = calm.count(500) / len(calm)
    burst_rate = burst.count(500) / len(burst)
    assert 0.02 <= calm_rate <= 0.09
    assert 0.22 <= burst_rate <= 0.38  # 0.05 x 6 at twice the threshold and beyond


def test_the_load_window_sees_thousands_of_requests_a_second():
    window = LoadWindow(1.0)
    now = 0.0
    for _ in range(5000):
        rate = window.add(now)
        now += 1 / 5000
    assert 4700 <= rate <= 5000
    assert window.add(now + 3.0) == 1.0  # the burst has left the window
    assert len(window.slots) == 1


@settings(max_examples=500, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=0.3), min_size=1, max_size=300))
def test_the_load_window_counts_the_requests_of_the_last_window(gaps):
    """The slot-based count lies between the exact counts of the last window and of the last window minus a slot."""
    window = LoadWindow(1.0, slots=20)
    times: list[float] = []
    now = 0.0
    for gap in gaps:
        now += gap
        times.append(now)
        counted = window.add(now) * 1.0
        at_least = sum(1 for t in times if t > now - 1.0 + window.slot_seconds)
        at_most = sum(1 for t in times if t >= now - 1.0 - 1e-9)
        assert at_least <= counted <= at_most


def test_midstream_faults_are_drawn_too():
    engine = engine_with({"base_error_rate": 0.0, "midstream_rate": 1.0})
    kinds = collections.Counter()
    for _ in range(40):
        outcome = chat(engine, {**CHAT, "stream": True, "max_tokens": 60})
        assert outcome.status == 200 and outcome.stream.cut_after is not None
        events = [piece.raw or b"" for piece in outcome.stream.pieces[:outcome.stream.cut_after]]
        kinds["event" if events and events[-1].startswith(b'data: {"error"') else "cut"] += 1
        assert outcome.stream.cut_after < len(outcome.stream.pieces)
    assert kinds["event"] > 5 and kinds["cut"] > 5


def test_same_seed_and_request_sequence_give_the_same_faults():
    config = {"base_error_rate": 0.3, "weights": {"429": 1, "500": 1, "503": 1}}
    first = statuses(engine_with(config), 300)
    again = engine_with(config)
    # Requests that cannot fail (health checks, listings) do not shift the draws.
    again.handle(Request("GET", "/health", {}))
    again.handle(Request("GET", "/v1/models", {}))
    assert statuses(again, 300) == first
    assert statuses(engine_with(config, seed=7), 300) != first


@pytest.mark.server
def test_two_servers_with_the_same_seed_fail_the_same_requests(server_factory):
    config = {"metrics": {"enable": False}, "seed": 1234,
              "error_injection": {"enable": True, "base_error_rate": 0.3, "midstream_rate": 0.0}}
    runs = []
    for _ in range(2):
        server = server_factory(config, mode="default")
        with httpx.Client(timeout=10) as client:
            runs.append([client.post(f"{server.api_url}/chat/completions", json=CHAT,
                                      headers={"x-sentra-time-scale": "0"}).status_code for _ in range(40)])
        server.stop()
    assert runs[0] == runs[1]
    assert 4 <= sum(status != 200 for status in runs[0]) <= 24
