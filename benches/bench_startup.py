"""Benchmark 4: startup time and resident memory, for 1 and 2 processes (fast mode).

Startup = process launch to the first 200 on GET /health (polled every 5 ms), over several launches. Then the last
server also answers one chat completion (the first one loads the tokenizer, so it is timed on its own), its memory
is read idle, and again at its peak during 50-connection wrk load. RSS counts pages that forked workers share with
their parent in every process; PSS shares them out, so the PSS sum is the group's real footprint.
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time

import harness
import loadgen


def _first_chat_ms(port: int) -> float:
    body = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello there, how are you?"}],"max_tokens":16}'
    connection = http.client.HTTPConnection(harness.HOST, port, timeout=30)
    try:
        started = time.perf_counter()
        connection.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"first chat completion answered {response.status}")
        return (time.perf_counter() - started) * 1000
    finally:
        connection.close()


def _sample_until(peak: harness.PeakMemory, stop: threading.Event) -> None:
    while not stop.is_set():
        peak.sample()
        stop.wait(0.2)


def _memory_summary(rows: list[dict]) -> dict:
    return {
        "per_process": [{k: (round(v, 1) if isinstance(v, float) else v) for k, v in row.items()} for row in rows],
        "max_rss_mb": round(max((r["rss_mb"] for r in rows), default=0.0), 1),
        "sum_pss_mb": round(sum(r["pss_mb"] for r in rows), 1),
    }


def run(ctx, *, processes: tuple[int, ...] = (1, 2)) -> dict:
    launches = 1 if ctx.quick else 3
    load_s = 2 if ctx.quick else 4
    tool = loadgen.ensure_tool()
    out: dict = {"what": "launch -> first 200 on /health; RSS/PSS per process idle and under wrk -c50 load",
                 "launches": launches, "results": {}}
    for n in processes:
        times = []
        server = None
        try:
            for i in range(launches):
                server = harness.start_sentra(ctx.workdir, mode="fast", processes=n, name=f"sentra-startup-p{n}-{i}")
                times.append(server.startup_s)
                if i < launches - 1:
                    server.stop()
                    server = None
            assert server is not None
            # With several processes /health may come from a worker that is ready while another still imports.
            time.sleep(1.0)
            idle = server.memory()
            first_chat = _first_chat_ms(server.port)
            after_first = server.memory()
            peak = harness.PeakMemory(server)
            stop = threading.Event()
            sampler = threading.Thread(target=_sample_until, args=(peak, stop), daemon=True)
            sampler.start()
            try:
                loaded = loadgen.run(tool, server.url("/v1/chat/completions"), connections=50, seconds=load_s)
            finally:
                stop.set()
                sampler.join()
        finally:
            if server is not None:
                server.stop()
        entry = {
            "startup_ms": [round(t * 1000, 1) for t in times],
            "startup_ms_median": round(statistics.median(times) * 1000, 1),
            "first_chat_completion_ms": round(first_chat, 1),
            "memory_idle": _memory_summary(idle),
            "memory_after_first_chat": _memory_summary(after_first),
            "memory_under_load": _memory_summary(list(peak.rows.values())),
            "load_rps": loaded["rps"],
        }
        out["results"][f"processes_{n}"] = entry
        ctx.say(f"  startup N={n}: {entry['startup_ms_median']} ms, first chat {entry['first_chat_completion_ms']} ms, "
                f"RSS idle max {entry['memory_idle']['max_rss_mb']} MB, under load max "
                f"{entry['memory_under_load']['max_rss_mb']} MB")
    return out
