"""Where the delay of many concurrent paced streams goes: the same stream alone, then 1000 at once, through the front
layer and straight to the worker (bypassing the front), and minimal Robyn streamers with the same timeline: one write
per event, and due events batched as ours are, from an async and from a plain generator (MINIMAL_MODES). What those
cannot beat is Robyn's own bound.

    python benches/stream_breakdown.py [--streams 1000]

For each batch it prints, per stream (p50, p99): connect time, first response byte, first event, `data: [DONE]`, the
worst gap between reads, and when the server's handler ran (from the request log's timestamps, relative to the
batch's start), plus the CPU seconds each server process used. Uses bench_stream's `bench-paced` model (TTFT 0.1 s,
50 tokens at 50 tokens/s, ideal total 1.080 s). Prints JSON lines; writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

import bench_stream
import harness
import stream_client

ALONE_REPEATS = 7
# The minimal streamers: an async handler and the bench-paced timeline (first event at 0.1 s after the handler ran,
# then 49 more every 20 ms, `data: [DONE]` with the last), deadlines from arrival. Three ways of delivering it:
#   per-event     one chunk per event through Robyn's async-generator wrapper (each chunk a blocking-pool thread,
#                 the GIL and an event-loop hop);
#   batched-async the same generator, but events already due when one is sent go out in the same write (what our
#                 server does: engine/realism/pacing.py);
#   batched-sync  the same batching in a plain generator that sleeps in Robyn's blocking-pool thread (no event-loop
#                 hop per chunk; what our server does since issue 12).
MINIMAL_STREAMER = '''
import asyncio, sys, time
port = int(sys.argv[1]); mode = sys.argv[2]; sys.argv = sys.argv[:1]
from robyn import Headers, Robyn, StreamingResponse
from robyn.argument_parser import Config
config = Config(); config.processes = 1; config.workers = 1; config.log_level = "WARN"; config.disable_openapi = True
app = Robyn(__file__, config=config)
CHUNK = b'data: {"id":"chatcmpl-x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" w"}}]}\\n\\n'
DUE = [0.1 + i * 0.02 for i in range(50)] + [0.1 + 49 * 0.02]
EVENTS = [CHUNK] * 50 + [b"data: [DONE]\\n\\n"]
def due_until(i, elapsed):
    j = i + 1
    while j < len(DUE) and DUE[j] <= elapsed:
        j += 1
    return j
async def per_event(arrived):
    loop = asyncio.get_running_loop()
    for due, event in zip(DUE, EVENTS):
        delay = arrived + due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield event
async def batched_async(arrived):
    loop = asyncio.get_running_loop()
    i = 0
    while i < len(DUE):
        delay = arrived + DUE[i] - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        j = due_until(i, loop.time() - arrived)
        yield b"".join(EVENTS[i:j])
        i = j
def batched_sync(arrived):
    i = 0
    while i < len(DUE):
        delay = arrived + DUE[i] - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        j = due_until(i, time.monotonic() - arrived)
        yield b"".join(EVENTS[i:j])
        i = j
async def chat(request):
    if mode == "batched-sync":
        events = batched_sync(time.monotonic())
    else:
        arrived = asyncio.get_running_loop().time()
        events = per_event(arrived) if mode == "per-event" else batched_async(arrived)
    return StreamingResponse(events, status_code=200, headers=Headers({"content-type": "text/event-stream"}),
                             media_type="text/event-stream")
app.add_route("POST", "/v1/chat/completions", chat)
app.add_route("GET", "/health", lambda request: "ok")
app.start(host="127.0.0.1", port=port, _check_port=False)
'''
MINIMAL_MODES = ("per-event", "batched-async", "batched-sync")


class _Timed(stream_client._StreamProtocol):
    connected = first_byte = 0.0

    def connection_made(self, transport) -> None:
        self.connected = time.perf_counter()
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self.reads:
            self.first_byte = time.perf_counter()
        super().data_received(data)


async def _one(port: int, request: bytes) -> dict:
    loop = asyncio.get_running_loop()
    finished = loop.create_future()
    started = time.perf_counter()
    protocol = _Timed(request, started, finished)
    transport, _ = await loop.create_connection(lambda: protocol, harness.HOST, port)
    try:
        result = await asyncio.wait_for(finished, 60)
    finally:
        transport.close()
    return {"start": started, "connect": protocol.connected - started, "first_byte": protocol.first_byte - started,
            "ttft": result.ttft_s, "total": result.total_s, "gap": result.max_gap_s, "ok": result.error is None}


def _batch(port: int, count: int, body: bytes) -> tuple[list[dict], float]:
    """`count` streams at once; also the offset from perf_counter to wall-clock time."""
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    request = stream_client.build_request(harness.HOST, port, "/v1/chat/completions", body)
    offset = time.time() - time.perf_counter()

    async def main() -> list[dict]:
        return await asyncio.gather(*(_one(port, request) for _ in range(count)))

    try:
        return loop.run_until_complete(main()), offset
    finally:
        loop.close()


def _p(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(statistics.median(values) if q == 50 else sorted(values)[max(0, int(len(values) * q / 100) - 1)], 4)


def _report(label: str, results: list[dict], handler_ts: list[float] | None = None, offset: float = 0.0,
            cpu: dict | None = None) -> None:
    ok = [r for r in results if r["ok"]]
    line: dict = {"batch": label, "streams": len(results), "completed": len(ok)}
    for key in ("connect", "first_byte", "ttft", "total", "gap"):
        values = [r[key] for r in ok]
        line[key + "_s"] = [_p(values, 50), _p(values, 99)]
    if handler_ts:
        began = min(r["start"] for r in results) + offset
        after = [ts - began for ts in handler_ts]
        line["handler_ran_after_start_s"] = [_p(after, 50), _p(after, 99)]
    if cpu is not None:
        line["cpu_s_by_process"] = cpu
    line["loadavg"] = round(os.getloadavg()[0], 2)
    print(json.dumps(line), flush=True)


def _chat_log_ts(server: harness.Server, skip: int) -> tuple[list[float], int]:
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines()
             if line.startswith("{") and '"request_id"' in line]
    return [line["ts"] for line in lines[skip:] if line.get("endpoint") == "chat.completions"], len(lines)


def _measure(server: harness.Server, label: str, port: int, count: int, body: bytes) -> None:
    if count == 1:
        results: list[dict] = []
        for _ in range(ALONE_REPEATS):
            results += _batch(port, 1, body)[0]
        _report(label, results)
        return
    _, seen = _chat_log_ts(server, 0)
    before = server.cpu_by_pid()
    results, offset = _batch(port, count, body)
    after = server.cpu_by_pid()
    time.sleep(0.3)  # the last log lines
    handler_ts, _ = _chat_log_ts(server, seen)
    _report(label, results, handler_ts, offset, {str(pid): round(after[pid] - before.get(pid, 0.0), 2) for pid in after})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    args = parser.parse_args()
    import tempfile

    workdir = Path(tempfile.mkdtemp(prefix="sentra-stream-breakdown-"))
    config = bench_stream._server_config(bench_stream._catalog(workdir))
    config["logging"] = {"request_log": True}  # its timestamps say when each handler ran
    body = bench_stream._body(False)
    server = harness.start_sentra(workdir, mode="default", processes=1, config=config, name="stream-breakdown")
    try:
        bench_stream._calibrate(server.port)
        worker = int(re.search(r"workers listen on 127\.0\.0\.1:(\d+)", server.log_path.read_text()).group(1))
        for label, port, count in (("alone, through the front", server.port, 1),
                                   (f"{args.streams} through the front", server.port, args.streams),
                                   ("alone, straight to the worker", worker, 1),
                                   (f"{args.streams} straight to the worker", worker, args.streams)):
            _measure(server, label, port, count, body)
            time.sleep(1)
    finally:
        server.stop()
    script = workdir / "minimal_streamer.py"
    script.write_text(MINIMAL_STREAMER)
    for mode in MINIMAL_MODES:
        port = harness.free_port()
        minimal = harness.start(f"minimal-robyn-streamer-{mode}", [sys.executable, str(script), str(port), mode], port,
                                workdir)
        try:
            results = []
            for _ in range(ALONE_REPEATS):
                results += _batch(port, 1, body)[0]
            _report(f"minimal Robyn streamer ({mode}) alone", results)
            before = minimal.cpu_by_pid()
            results, _ = _batch(port, args.streams, body)
            after = minimal.cpu_by_pid()
            _report(f"minimal Robyn streamer ({mode}) x{args.streams}", results,
                    cpu={str(pid): round(after[pid] - before.get(pid, 0.0), 2) for pid in after})
        finally:
            minimal.stop()
        time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
