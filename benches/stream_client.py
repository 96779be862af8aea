"""A lean SSE load client: N concurrent HTTP/1.1 streams over raw asyncio sockets (uvloop when installed).

An HTTP library would spend more CPU per chunk than the server does on this shared 2-core machine, and skew the very
timing being measured; this client only timestamps reads and looks for the first event and `data: [DONE]`.
Times are measured from just before each stream's connect, as a user of the API would see them.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

EVENT = b"data: "
DONE = b"data: [DONE]"


@dataclass
class StreamResult:
    status: int | None = None
    ttft_s: float | None = None  # first SSE event
    total_s: float | None = None  # `data: [DONE]`
    events: int = 0
    max_gap_s: float = 0.0  # longest silence between reads after the first event
    error: str | None = None


class _StreamProtocol(asyncio.Protocol):
    def __init__(self, request: bytes, started: float, finished: asyncio.Future) -> None:
        self.request = request
        self.started = started
        self.finished = finished
        self.buffer = bytearray()
        self.header_end: int | None = None
        self.reads: list[float] = []
        self.result = StreamResult()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        scan_from = max(0, len(self.buffer) - len(DONE))
        self.buffer += data
        self.reads.append(now)
        result = self.result
        if self.header_end is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self.header_end = end + 4
            try:
                result.status = int(self.buffer[9:12])
            except ValueError:
                result.status = 0
            scan_from = self.header_end
        if result.ttft_s is None and self.buffer.find(EVENT, max(scan_from, self.header_end)) >= 0:
            result.ttft_s = now - self.started
        if result.total_s is None and self.buffer.find(DONE, max(scan_from, self.header_end)) >= 0:
            result.total_s = now - self.started
            assert self.transport is not None
            self.transport.close()

    def connection_lost(self, exc) -> None:
        result = self.result
        result.events = self.buffer.count(EVENT)
        if result.ttft_s is not None:
            first = self.started + result.ttft_s
            after = [t for t in self.reads if t >= first]
            result.max_gap_s = max((b - a for a, b in itertools.pairwise(after)), default=0.0)
        if result.total_s is None and result.error is None:
            result.error = f"closed before [DONE] ({exc or 'eof'}, status {result.status})"
        if not self.finished.done():
            self.finished.set_result(result)


def build_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json",
             f"Content-Length: {len(body)}", "Accept: text/event-stream", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _one(host: str, port: int, request: bytes, timeout: float) -> StreamResult:
    loop = asyncio.get_running_loop()
    finished: asyncio.Future = loop.create_future()
    started = time.perf_counter()
    transport = None
    try:
        transport, _ = await loop.create_connection(lambda: _StreamProtocol(request, started, finished), host, port)
        return await asyncio.wait_for(asyncio.shield(finished), timeout)
    except asyncio.TimeoutError:
        return StreamResult(error=f"no [DONE] within {timeout} s")
    except OSError as exc:
        return StreamResult(error=f"connect: {exc}")
    finally:
        if transport is not None:
            transport.close()


async def _run(host: str, port: int, request: bytes, concurrency: int, timeout: float,
               sample: Callable[[], None] | None, sample_every: float) -> tuple[list[StreamResult], float]:
    sampler = None
    if sample is not None:
        async def sampling() -> None:
            while True:
                sample()
                await asyncio.sleep(sample_every)

        sampler = asyncio.create_task(sampling())
    started = time.perf_counter()
    try:
        results = await asyncio.gather(*(_one(host, port, request, timeout) for _ in range(concurrency)))
    finally:
        if sampler is not None:
            sampler.cancel()
    return list(results), time.perf_counter() - started


def run_streams(host: str, port: int, request: bytes, concurrency: int, *, timeout: float = 60.0,
                sample: Callable[[], None] | None = None, sample_every: float = 0.25) -> tuple[list[StreamResult], float]:
    """Opens `concurrency` streams at once; returns each stream's result and the wall time of the whole batch."""
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_run(host, port, request, concurrency, timeout, sample, sample_every))
    finally:
        loop.close()
