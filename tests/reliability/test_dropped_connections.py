"""An injected mid-stream cut (`X-Sentra-Error: 500@chunk=N`, `error_injection.midstream_rate`) reaches the client as a
real dropped connection: the body stops with no terminating chunk, so the official SDK raises instead of ending the
stream quietly, and a client's retry and reconnect code runs. The error-event variant still ends its body cleanly.

What the SDK raises (measured with openai 3.57, whose HTTP client is httpx2): `openai.APIConnectionError`
("Connection error.") whose `__cause__` is the HTTP client's `RemoteProtocolError` ("peer closed connection without
sending complete message body (incomplete chunked read)"), for sync and async clients alike. Plain httpx raises
`httpx.RemoteProtocolError` itself.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import httpx
import openai
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import start_server

pytestmark = pytest.mark.server

PROMPT = "Tell me about rivers and the sea"
SEED = "7"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    running = start_server(tmp_path_factory.mktemp("dropped"), mode="default")
    yield running
    running.stop()


def create(client, kind: str, **kwargs: Any):
    """Starts a stream of `kind` (chat, completions, responses): the SDK call and the events it yields."""
    if kind == "chat":
        return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}],
                                              max_tokens=30, stream=True, **kwargs)
    if kind == "completions":
        return client.completions.create(model="gpt-3.5-turbo-instruct", prompt=PROMPT, max_tokens=30, stream=True,
                                         **kwargs)
    return client.responses.create(model="gpt-4o-mini", input=PROMPT, max_output_tokens=30, stream=True, **kwargs)


def summary(event: Any) -> Any:
    """What must match between the cut stream and the same stream uncut (ids and timestamps aside)."""
    if hasattr(event, "choices"):
        return [c.delta.content if hasattr(c, "delta") else c.text for c in event.choices]
    return event.type, getattr(event, "delta", None)


def text(events: list) -> str:
    return "".join(part or "" for e in events for part in (summary(e) if hasattr(e, "choices") else [summary(e)[1]]))


def assert_beginning(received: list, complete: list, paced: bool) -> None:
    """The cut stream delivered its first three events. Paced, late text pieces may have been merged into one event
    (as a server catching up sends them), so then only its text must begin the complete one."""
    assert len(received) == 3
    if paced:
        assert text(complete).startswith(text(received))
    else:
        assert [summary(e) for e in received] == [summary(e) for e in complete[:3]]


def headers(fault: str | None, time_scale: str) -> dict[str, str]:
    out = {"x-sentra-seed": SEED, "x-sentra-time-scale": time_scale}
    if fault is not None:
        out["x-sentra-error"] = fault
    return out


def read_sync(client, kind: str, fault: str | None, time_scale: str) -> tuple[list, BaseException | None]:
    received = []
    try:
        for event in create(client, kind, extra_headers=headers(fault, time_scale)):
            received.append(event)
    except Exception as exc:  # noqa: BLE001 - the test inspects exactly what was raised
        return received, exc
    return received, None


async def read_async(client, kind: str, fault: str | None, time_scale: str) -> tuple[list, BaseException | None]:
    received = []
    try:
        async for event in await create(client, kind, extra_headers=headers(fault, time_scale)):
            received.append(event)
    except Exception as exc:  # noqa: BLE001
        return received, exc
    return received, None


def log_entries(server) -> list[dict]:
    return [orjson.loads(line) for line in server.log().splitlines() if line.startswith("{")]


def cut_count(server) -> float:
    text = httpx.get(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=5).text
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == "openai_mock_errors_total" and sample.labels.get("error_type") == "midstream_cut")


def sdk_http_errors():
    """The module of the HTTP client the installed SDK uses (httpx2 for openai 3.x, httpx before)."""
    http_client = type(openai.OpenAI(api_key="sk-x", base_url="http://127.0.0.1:9/v1")._client)
    base = next(c for c in http_client.__mro__ if c.__name__ == "Client" and c.__module__.startswith("httpx"))
    return importlib.import_module(base.__module__.split(".")[0])


def assert_dropped(error: BaseException | None) -> None:
    assert type(error) is openai.APIConnectionError, repr(error)
    assert type(error.__cause__) is sdk_http_errors().RemoteProtocolError, repr(error.__cause__)
    assert "incomplete chunked read" in str(error.__cause__)


KINDS = ("chat", "completions", "responses")


@pytest.mark.parametrize("time_scale", ["0", "0.01"], ids=["immediate", "paced"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_cut_stream_raises_in_the_sync_sdk_after_the_events_before_it(server, kind, time_scale):
    # The SDK's own retries stay on: they must not hide the cut (a stream is never retried mid-way).
    client = server.client(max_retries=2)
    complete, error = read_sync(client, kind, None, time_scale)
    assert error is None and len(complete) > 3
    cuts_before, logged_before = cut_count(server), len(log_entries(server))

    received, error = read_sync(client, kind, "500@chunk=3", time_scale)
    assert_dropped(error)
    assert_beginning(received, complete, paced=time_scale != "0")

    # The same client goes on: its pool dropped the broken connection, the next request opens a fresh one.
    again, error = read_sync(client, kind, None, time_scale)
    assert error is None and text(again) == text(complete)

    entries = log_entries(server)[logged_before:]
    assert [e.get("error") for e in entries] == ["midstream_cut", None]  # one request each: nothing was retried
    assert cut_count(server) == cuts_before + 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_cut_stream_raises_in_the_async_sdk(server, kind):
    async def run() -> None:
        client = server.async_client(max_retries=2)
        complete, error = await read_async(client, kind, None, "0")
        assert error is None
        logged_before = len(log_entries(server))
        received, error = await read_async(client, kind, "500@chunk=3", "0.01")
        assert_dropped(error)
        assert_beginning(received, complete, paced=True)
        after, error = await read_async(client, kind, None, "0")
        assert error is None and len(after) == len(complete)
        assert [e.get("error") for e in log_entries(server)[logged_before:]] == ["midstream_cut", None]
        await client.close()

    asyncio.run(run())


def test_the_client_sees_neither_the_announcement_nor_the_marker(server):
    with httpx.Client(timeout=10) as client:
        with client.stream("POST", f"{server.api_url}/chat/completions", headers=headers("500@chunk=2", "0"),
                           json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}],
                                 "stream": True}) as response:
            assert response.status_code == 200
            assert "x-sentra-cut" not in response.headers
            raw = b""
            with pytest.raises(httpx.RemoteProtocolError):
                for part in response.iter_raw():
                    raw += part
    events = [e for e in raw.split(b"\n\n") if e]
    assert len(events) == 2 and raw.endswith(b"\n\n") and b"\0" not in raw and b"[DONE]" not in raw


def test_a_cut_beyond_the_last_event_loses_nothing(server):
    received, error = read_sync(server.client(), "chat", "500@chunk=1000", "0")
    assert error is None and received[-1].choices[0].finish_reason is not None


@pytest.mark.parametrize("kind", KINDS)
def test_the_error_event_still_ends_the_body_cleanly(server, kind):
    received, error = read_sync(server.client(), kind, "error-event@chunk=3", "0")
    assert type(error) is openai.APIError and error.__cause__ is None, repr(error)
    assert len(received) == 3
    # Read raw, the body is complete: its terminating chunk came, nothing was cut.
    path = {"chat": "/chat/completions", "completions": "/completions", "responses": "/responses"}[kind]
    body = {"chat": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]},
            "completions": {"model": "gpt-3.5-turbo-instruct", "prompt": PROMPT},
            "responses": {"model": "gpt-4o-mini", "input": PROMPT}}[kind]
    with httpx.stream("POST", server.api_url + path, json={**body, "stream": True}, timeout=10,
                      headers=headers("error-event@chunk=3", "0")) as response:
        raw = b"".join(response.iter_raw())
    assert b'"error"' in raw


def test_drawn_midstream_faults_cut_as_the_header_does(server):
    """With midstream_rate 1 every stream fails mid-way: by a cut (the SDK raises a connection error) or by the
    error event (APIError), about half each; which one is drawn from the request's seed."""
    base = server.base_url
    httpx.patch(f"{base}/sentra/v1/config", timeout=5,
                json={"error_injection": {"enable": True, "base_error_rate": 0.0, "midstream_rate": 1.0}}).raise_for_status()
    try:
        client = server.client(max_retries=0)
        outcomes = []
        for seed in range(12):
            received = []
            try:
                for event in create(client, "chat", extra_headers={"x-sentra-seed": str(seed),
                                                                   "x-sentra-time-scale": "0"}):
                    received.append(event)
                outcomes.append("complete")
            except openai.APIConnectionError as exc:
                assert type(exc.__cause__) is sdk_http_errors().RemoteProtocolError
                outcomes.append("cut")
            except openai.APIError:
                outcomes.append("event")
    finally:
        httpx.delete(f"{base}/sentra/v1/config", timeout=5).raise_for_status()
    assert "complete" not in outcomes
    assert outcomes.count("cut") >= 2 and outcomes.count("event") >= 2, outcomes
