"""Background mode: a create returns at once with status queued; the response then moves queued -> in_progress ->
completed on its simulated timeline (observed by polling, from any worker); cancel stops it; a background stream
can be resumed with GET ?stream=true&starting_after=N. The timeline is checked exactly on an in-process engine
whose wall clock the test drives, and through the SDK against a real server."""

from __future__ import annotations

import openai
import orjson
import pytest
from openapi_schemas import validate
from sentra_openai.config import load_settings
from sentra_openai.engine import Request, build_engine
from sentra_openai.state import MemoryStore

T0 = 1_800_000_000.0


class Driven:
    """An engine whose wall clock (stored timestamps, background timelines) the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0
        settings = load_settings(mode="default", cli={"rate_limiting.enable": False})
        self.engine = build_engine(settings, state=MemoryStore(clock=self.clock), wall_clock=self.clock)

    def clock(self) -> float:
        return self.now

    def call(self, method: str, path: str, body=None, query=(), headers=None):
        outcome = self.engine.handle(Request(method, path, {"content-type": "application/json", **(headers or {})},
                                             orjson.dumps(body) if body is not None else b"", tuple(query)))
        if outcome.stream is not None:
            return outcome.status, outcome.stream
        return outcome.status, orjson.loads(outcome.body)


@pytest.fixture
def driven() -> Driven:
    return Driven()


def _timeline(driven: Driven, response_id: str) -> dict:
    return driven.engine.services.state.get("responses", response_id)["timeline"]


def test_status_follows_the_timeline(driven):
    status, created = driven.call("POST", "/v1/responses", {"model": "gpt-4o-mini", "input": "Write a haiku.",
                                                           "background": True})
    assert status == 200
    assert created["status"] == "queued" and created["background"] is True
    assert created["output"] == [] and created["usage"] is None and created["completed_at"] is None
    timeline = _timeline(driven, created["id"])
    assert T0 <= timeline["starts_at"] < timeline["completes_at"]

    driven.now = (timeline["starts_at"] + timeline["completes_at"]) / 2
    _, running = driven.call("GET", f"/v1/responses/{created['id']}")
    assert running["status"] == "in_progress" and running["usage"] is None

    driven.now = timeline["completes_at"]
    _, done = driven.call("GET", f"/v1/responses/{created['id']}")
    assert done["status"] == "completed" and done["usage"]["output_tokens"] > 0
    assert done["output"][0]["content"][0]["text"]


def test_cancel_freezes_an_unfinished_response(driven):
    _, created = driven.call("POST", "/v1/responses", {"model": "gpt-4o-mini", "input": "Write an essay.",
                                                      "background": True})
    timeline = _timeline(driven, created["id"])
    driven.now = (timeline["starts_at"] + timeline["completes_at"]) / 2
    status, cancelled = driven.call("POST", f"/v1/responses/{created['id']}/cancel")
    assert status == 200 and cancelled["status"] == "cancelled" and cancelled["usage"] is None
    driven.now = timeline["completes_at"] + 60
    _, later = driven.call("GET", f"/v1/responses/{created['id']}")
    assert later["status"] == "cancelled" and later["usage"] is None
    status, again = driven.call("POST", f"/v1/responses/{created['id']}/cancel")  # cancelling twice changes nothing
    assert status == 200 and again == later


def test_cancel_after_completion_is_refused(driven):
    """OpenAI's 400 (a real error body relayed in BerriAI/litellm#39617); the response stays completed."""
    _, created = driven.call("POST", "/v1/responses", {"model": "gpt-4o-mini", "input": "Hi", "background": True})
    driven.now = _timeline(driven, created["id"])["completes_at"] + 1
    status, answer = driven.call("POST", f"/v1/responses/{created['id']}/cancel")
    assert status == 400 and answer["error"] == {"message": "Cannot cancel a completed response.",
                                                 "type": "invalid_request_error", "param": None, "code": None}
    assert driven.call("GET", f"/v1/responses/{created['id']}")[1]["status"] == "completed"


def test_replay_of_a_running_background_stream_waits_for_each_event(driven):
    _, created = driven.call("POST", "/v1/responses", {"model": "gpt-4o-mini", "input": "Count to twenty.",
                                                      "background": True})
    timeline = _timeline(driven, created["id"])
    driven.now = (timeline["starts_at"] + timeline["completes_at"]) / 2
    status, plan = driven.call("GET", f"/v1/responses/{created['id']}", query=[("stream", "true")])
    assert status == 200
    dues = [piece.due for piece in plan.pieces]
    assert dues[0] == 0 and dues[-1] == pytest.approx(timeline["completes_at"] - driven.now)
    assert dues == sorted(dues)  # events already due come at once, the rest when they fall due
    events = [orjson.loads(piece.raw.split(b"data: ", 1)[1]) for piece in plan.pieces]
    assert [e["type"] for e in events[:3]] == ["response.created", "response.queued", "response.in_progress"]
    assert events[0]["response"]["status"] == "queued"
    assert all("obfuscation" not in e for e in events)  # absent from background streams (reference §1.3)


# ---- through the SDK against a real server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conftest import start_server

    tmp = tmp_path_factory.mktemp("background")
    running = start_server(tmp, {"metrics": {"enable": False}, "rate_limiting": {"enable": False},
                                 "error_injection": {"enable": False}, "state": {"path": str(tmp / "state.sqlite3")}},
                           mode="default", args=["--processes", "2"])
    yield running
    running.stop()


ORDER = ["queued", "in_progress", "completed", "incomplete"]  # incomplete: max_output_tokens reached


@pytest.mark.server
def test_polling_sees_the_statuses_in_order(server):
    client = server.client(default_headers={"x-sentra-time-scale": "3"})
    created = client.responses.create(model="gpt-4o-mini", input="Describe a forest.", background=True,
                                      max_output_tokens=40)
    assert created.status == "queued" and created.usage is None
    seen = [created.status]
    for _ in range(2000):
        polled = server.client().responses.retrieve(created.id)  # a new connection each time: any worker answers
        if polled.status != seen[-1]:
            seen.append(polled.status)
        if polled.status in ("completed", "incomplete"):
            break
    assert seen == sorted(seen, key=ORDER.index) and seen[-1] in ("completed", "incomplete")
    assert polled.usage is not None and polled.output_text


@pytest.mark.server
def test_cancel_through_the_sdk(server):
    client = server.client(default_headers={"x-sentra-time-scale": "50"})  # a long run: cancelled well before its end
    created = client.responses.create(model="gpt-4o-mini", input="Write a long story.", background=True)
    cancelled = server.client().responses.cancel(created.id)
    assert cancelled.status == "cancelled" and cancelled.usage is None
    assert server.client().responses.retrieve(created.id).status == "cancelled"


@pytest.mark.server
def test_a_dropped_background_stream_resumes_where_it_stopped(server):
    client = server.client()
    first_part = []
    with client.responses.create(model="gpt-4o-mini", input="Tell me about rivers.", background=True,
                                 stream=True, max_output_tokens=40) as stream:
        for event in stream:
            first_part.append(event)
            if len(first_part) == 6:
                break  # the connection drops here
    assert [e.type for e in first_part[:3]] == ["response.created", "response.queued", "response.in_progress"]
    response_id = first_part[0].response.id
    with server.client().responses.retrieve(response_id, stream=True, starting_after=5) as resumed:
        rest = list(resumed)
    events = first_part + rest
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type in ("response.completed", "response.incomplete")
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == server.client().responses.retrieve(response_id).output_text


@pytest.mark.server
def test_background_needs_store(server):
    with pytest.raises(openai.BadRequestError):
        server.client().responses.create(model="gpt-4o-mini", input="x", background=True, store=False)


# ---- the queue, and cancelling a stream in progress -----------------------------------------------------------------


def _queued_seconds(driven: Driven) -> float:
    from sentra_openai.engine.endpoints.responses import counting

    return counting.settings()["background"]["queued_seconds"] * driven.engine.settings.effective_time_scale


def test_a_background_response_waits_in_the_queue_first(driven):
    wait = _queued_seconds(driven)
    assert wait > 0
    _, created = driven.call("POST", "/v1/responses", {"model": "gpt-4o-mini", "input": "Write a haiku.",
                                                      "background": True})
    timeline = _timeline(driven, created["id"])
    assert timeline["starts_at"] == pytest.approx(T0 + wait)
    driven.now = T0 + wait / 2
    _, polled = driven.call("GET", f"/v1/responses/{created['id']}")
    assert polled["status"] == "queued" and polled["output"] == [] and polled["usage"] is None
    driven.now = timeline["starts_at"]
    assert driven.call("GET", f"/v1/responses/{created['id']}")[1]["status"] == "in_progress"
    driven.now = timeline["completes_at"]
    _, done = driven.call("GET", f"/v1/responses/{created['id']}")
    assert done["status"] == "completed" and done["completed_at"] >= int(timeline["starts_at"])


def test_a_background_stream_starts_queued_and_goes_in_progress_after_the_wait(driven):
    wait = _queued_seconds(driven)
    status, plan = driven.call("POST", "/v1/responses", {"model": "gpt-4o-mini", "input": "Hi", "background": True,
                                                        "stream": True})
    assert status == 200 and plan.interrupt is not None
    events = [orjson.loads(piece.raw.split(b"data: ", 1)[1]) for piece in plan.pieces]
    assert [e["type"] for e in events[:3]] == ["response.created", "response.queued", "response.in_progress"]
    assert [e["response"]["status"] for e in events[:3]] == ["queued", "queued", "in_progress"]
    assert [piece.due for piece in plan.pieces[:3]] == [0.0, 0.0, pytest.approx(wait)]
    assert all(piece.due >= wait for piece in plan.pieces[2:])
    for event in events:
        validate("ResponseStreamEvent", event)


def test_a_background_stream_notices_a_cancel(driven):
    status, plan = driven.call("POST", "/v1/responses", {"model": "gpt-4o-mini", "input": "Write an essay.",
                                                        "background": True, "stream": True})
    response_id = orjson.loads(plan.pieces[0].raw.split(b"data: ", 1)[1])["response"]["id"]
    assert plan.interrupt() is False
    driven.now += 1  # past the read interval: the next question reads the store again
    driven.call("POST", f"/v1/responses/{response_id}/cancel")
    assert plan.interrupt() is True
    driven.now += 1
    assert plan.interrupt() is True  # and stays so


@pytest.mark.server
def test_a_cancel_from_another_client_ends_a_background_stream(server):
    """One client streams a background response; another (a new connection, so possibly the other worker of the two)
    cancels it: the stream ends there, without the terminal event, and the stored response is cancelled."""
    streaming = server.client(default_headers={"x-sentra-time-scale": "10"})  # slow enough to cancel in the middle
    received = []
    with streaming.responses.create(model="gpt-4o-mini", input="Write a long story about the sea.", background=True,
                                    stream=True) as stream:
        for event in stream:
            received.append(event)
            if sum(e.type == "response.output_text.delta" for e in received) == 2:
                cancelled = server.client().responses.cancel(received[0].response.id)
                assert cancelled.status == "cancelled"
        # The loop ends by itself: the server ended the stream after the cancel.
    types = [e.type for e in received]
    assert types[:3] == ["response.created", "response.queued", "response.in_progress"]
    assert not {"response.completed", "response.incomplete", "response.output_text.done"} & set(types)
    stored = server.client().responses.retrieve(received[0].response.id)
    assert stored.status == "cancelled" and stored.usage is None
