"""Converts between Robyn's request/response objects and the engine's plain Request/Outcome."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from urllib.parse import unquote_plus

from robyn import Headers, Response, StreamingResponse
from robyn import Request as RobynRequest

from ..engine import Engine, Outcome, Request
from ..engine.clock import MonotonicClock
from ..engine.core import ARRIVAL_HEADER, arrival
from ..engine.realism.pacing import dated_events, immediate_events, paced_events_blocking
from .inflight import InFlight
from .threadstate import keep_pool_thread_state, keep_thread_state

IMMEDIATE_BATCH = 32  # events per write for streams without delays
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")  # what Robyn routes; the front tunnels others
TUNNELLED_METHOD = "x-sentra-method"
HIDDEN_CONTENT_TYPE = "x-sentra-content-type"
FORWARDED_PROTO = "x-forwarded-proto"
SCHEMES = ("http", "https")
# A lost connection (StreamPlan.connection_lost): Robyn can only end a body cleanly, so the stream announces a
# per-response random token in this header, writes a NUL byte and the token where the connection is to break, and the
# front (rust/core/src/front/response.rs) removes the header, relays the body up to the marker and closes the client
# connection there, with no terminating chunk. A NUL never occurs in a JSON event stream, and the token is new for
# every response, so no content can trigger a cut.
CUT_HEADER = "x-sentra-cut"
CUT_TOKEN_BYTES = 16
# A paced stream behind the front is written at once, each event after a marker with the CLOCK_MONOTONIC nanosecond
# it is due (NUL, this header's per-response token, "@", the moment, LF), and the front sends each when due
# (rust/core/src/front/pacing.rs): the worker's thread, the GIL and Robyn are not crossed once per event.
PACE_HEADER = "x-sentra-pace"
# A whole answer with a simulated latency behind the front is sent at once with the nanosecond it is due, and the front
# holds it until then: the worker does not hold the request for its latency.
DUE_HEADER = "x-sentra-due"


def to_engine_request(request: RobynRequest) -> Request:
    """The request as the client sent it: the front layer (front.py) forwards methods Robyn cannot route as POST and
    hides multipart/form content types from Robyn's own body parsing; it notes the originals in these headers (and
    drops any a client sends itself)."""
    body = request.body
    if isinstance(body, str):
        body = body.encode()
    headers = request.headers.to_dict()
    method = headers.pop(TUNNELLED_METHOD, None) or request.method
    content_type = headers.pop(HIDDEN_CONTENT_TYPE, None)
    if content_type is not None:
        headers["content-type"] = content_type
    # The engine builds URLs from Host (checked by the front: an RFC 3986 authority) and this scheme.
    proto = headers.get(FORWARDED_PROTO)
    if proto is not None and proto.lower() not in SCHEMES:
        del headers[FORWARDED_PROTO]
    # Robyn hands the query string's names and values over still percent-encoded (measured with Robyn 0.88).
    query = tuple((unquote_plus(name), unquote_plus(value)) for name, value in request.query_params.multi_items())
    return Request(method, request.url.path, headers, body or b"", query)


def preflight(request: RobynRequest) -> Response | None:
    """A CORS preflight gets what api.openai.com sends: 200, any origin, and the method and headers asked for echoed
    back (the brief of issue 9, from observed api.openai.com behaviour), so browser clients on another origin work."""
    if request.method != "OPTIONS":
        return None
    headers = request.headers
    asked_method = headers.get("access-control-request-method")
    if asked_method is None:
        return None
    answer = {"access-control-allow-origin": "*", "access-control-allow-methods": asked_method, "content-length": "0"}
    asked_headers = headers.get("access-control-request-headers")
    if asked_headers:
        answer["access-control-allow-headers"] = asked_headers
    return Response(status_code=200, headers=Headers(answer), description=b"")


def _response(outcome: Outcome) -> Response:
    return Response(status_code=outcome.status, headers=Headers(outcome.headers), description=outcome.body)


def make_handler(engine: Engine, clock: MonotonicClock, inflight: InFlight):
    """The one handler of every route: sync, which Robyn runs without an event-loop hop (measured: 9.6k against 7.1k
    req/s for an async one, shared/reference/robyn-maturin.md). Nothing in it waits: behind the front (its stamp on
    the request) the front holds a delayed answer and paces a stream itself; straight to a worker, the waiting is done
    by a stream's generator, which Robyn pulls on a blocking-pool thread."""

    def handle(request: RobynRequest):
        keep_thread_state()
        if (answer := preflight(request)) is not None:
            return answer
        with inflight.track():
            engine_request = to_engine_request(request)
            arrived = arrival(engine_request, clock)  # the front's stamp: a wait for this worker adds no latency
            outcome = engine.handle(engine_request)
            front_waits = ARRIVAL_HEADER in engine_request.headers
            if outcome.stream is None:
                if outcome.delay <= 0:
                    return _response(outcome)
                if front_waits:  # the simulated latency counts from arrival, like a stream's deadlines
                    outcome.headers[DUE_HEADER] = str(int((arrived + outcome.delay) * 1e9))
                    return _response(outcome)
                return _streaming(outcome, _delayed(outcome, clock, inflight, arrived), None)
        marker = _cut_marker(outcome)
        if not outcome.stream.paced:
            events = _immediate(outcome, inflight, marker)
        elif front_waits and outcome.stream.interrupt is None:  # one that may be interrupted is asked at each write
            return _front_paced(outcome, arrived, marker)
        else:  # straight to a worker (no front), or an interruptible stream
            events = _paced_blocking(outcome, clock, inflight, arrived, marker)
        return _streaming(outcome, events, marker)

    return handle


def _streaming(outcome: Outcome, events, marker: bytes | None) -> StreamingResponse:
    content_type = outcome.headers.get("content-type", "text/event-stream")
    headers = outcome.headers
    if marker is not None:
        headers = {**headers, CUT_HEADER: marker[1:].decode()}
    return StreamingResponse(events, status_code=outcome.status, headers=Headers(headers), media_type=content_type)


def _cut_marker(outcome: Outcome) -> bytes | None:
    """The marker at which the front drops the connection, if this stream loses it. Not a simulated draw (the client
    never sees it), so it comes from the OS, not the request's seeded RNG."""
    if outcome.stream is None or not outcome.stream.connection_lost:
        return None
    return b"\0" + os.urandom(CUT_TOKEN_BYTES).hex().encode()


def _paced_blocking(outcome: Outcome, clock: MonotonicClock, inflight: InFlight, arrived: float,
                    marker: bytes | None) -> Iterator[bytes]:
    """The paced stream as a plain generator: Robyn pulls every chunk of a stream on a blocking-pool thread, which
    waits for it either way (Robyn's async-generator wrapper blocks that thread on a future until the event loop has
    run the next step). Sleeping in that thread instead skips, per write, the hop to the event loop and back (a Task,
    a future, two thread wake-ups) and keeps the loop free for handlers. Same bytes at the same deadlines as
    pacing.paced_events (pacing._schedule). Each pull may run on another pool thread: each keeps its Python thread
    state (threadstate.py)."""
    assert outcome.stream is not None
    with inflight.track():
        keep_pool_thread_state()
        for event in paced_events_blocking(outcome.stream, clock.now, time.sleep, arrived, batch=True):
            yield event
            keep_pool_thread_state()  # the next pull's thread
        if marker is not None:
            yield marker  # its own write: the front relays everything before it, then drops the connection


def _delayed(outcome: Outcome, clock: MonotonicClock, inflight: InFlight, arrived: float) -> Iterator[bytes]:
    """A whole answer sent when its simulated latency (from arrival) has passed, by a generator: Robyn pulls it on a
    blocking-pool thread, so the wait holds no handler. Only straight to a worker: behind it, the front holds the
    answer instead."""
    with inflight.track():
        keep_pool_thread_state()
        time.sleep(max(outcome.delay - (clock.now() - arrived), 0.0))
        yield outcome.body


def _front_paced(outcome: Outcome, arrived: float, marker: bytes | None) -> Response:
    """The whole stream as one plain answer (a streamed one costs Robyn a blocking-pool pull per write), each event
    behind its due marker (PACE_HEADER), then any cut marker; the front sends it chunked, each event when due."""
    assert outcome.stream is not None
    pace = os.urandom(CUT_TOKEN_BYTES).hex().encode()
    lead = b"\0" + pace + b"@"
    origin_ns = arrived * 1e9
    parts = [b"%s%d\n%s" % (lead, origin_ns + due * 1e9, event) for due, event in dated_events(outcome.stream)]
    headers = {**outcome.headers, PACE_HEADER: pace.decode()}
    if marker is not None:
        parts.append(marker)
        headers[CUT_HEADER] = marker[1:].decode()
    return Response(status_code=outcome.status, headers=Headers(headers), description=b"".join(parts))


def _immediate(outcome: Outcome, inflight: InFlight, marker: bytes | None) -> Iterator[bytes]:
    assert outcome.stream is not None
    with inflight.track():
        # Every token is still its own SSE event; they are only written a few dozen at a time.
        yield from immediate_events(outcome.stream, batch=IMMEDIATE_BATCH)
        if marker is not None:
            yield marker


__all__ = ["METHODS", "make_handler", "preflight", "to_engine_request"]
