"""The worker's CPU per streamed chat request, in process (issue 12): building the stream (`engine.handle` of
bench_stream's request, default-mode pacing) and iterating its plan as the blocking driver does, with a clock that
never waits (on time, or every wake-up 30 ms late so due events merge and batch), the unpaced path, and writing it
whole for the front to pace (server/adapter.py `_front_paced`, what a worker behind the front does).

    python benches/stream_cpu.py [--requests 3000] [--repeats 5] [--usage] [--live 1000]

Thread CPU per request, the best of the repeats (the machine is shared). `--live N` also times N requests whose
plans stay alive, as N concurrent streams keep theirs: the collector then walks them (its time is printed).
Prints one JSON line; writes nothing.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import time
from pathlib import Path

import bench_stream
import yaml

from sentra_openai.config import load_settings
from sentra_openai.engine import Request, build_engine
from sentra_openai.engine.clock import ManualClock
from sentra_openai.engine.realism.pacing import immediate_events, paced_events_blocking
from sentra_openai.server.adapter import _front_paced

HEADERS = {"host": "127.0.0.1", "content-type": "application/json", "authorization": "Bearer sk-bench-0001"}


def _engine():
    workdir = Path(tempfile.mkdtemp(prefix="sentra-stream-cpu-"))
    config = workdir / "config.yaml"
    config.write_text(yaml.safe_dump(bench_stream._server_config(bench_stream._catalog(workdir))))
    engine = build_engine(load_settings(config_path=str(config)), clock=ManualClock(1000.0))
    engine.warm_up()
    gc.collect()
    gc.freeze()  # as the server does after warm-up (server/app.py)
    return engine


def _thread_cpu(fn) -> float:
    started = time.thread_time()
    fn()
    return time.thread_time() - started


def _iterate(plans, late: float) -> None:
    for plan in plans:
        now = [0.0]

        def sleep(seconds: float) -> None:
            now[0] += seconds + late

        for _ in paced_events_blocking(plan, lambda: now[0], sleep, 0.0, batch=True):
            pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--usage", action="store_true", help="stream_options.include_usage")
    parser.add_argument("--live", type=int, default=1000)
    args = parser.parse_args()
    engine = _engine()
    body = bench_stream._body(args.usage)
    n = args.requests

    def handle():
        return engine.handle(Request("POST", "/v1/chat/completions", HEADERS, body, ()))

    def handle_each():
        for _ in range(n):
            handle()

    def plans():
        return [handle().stream for _ in range(n)]

    def outcomes():
        return [handle() for _ in range(n)]

    pieces = len(handle().stream.pieces)
    best: dict[str, float] = {}
    collections = {"runs": 0, "s": 0.0}
    began = [0.0]

    def on_gc(phase, _info):
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            collections["runs"] += 1
            collections["s"] += time.perf_counter() - began[0]

    for _ in range(args.repeats):
        timings = {
            "handle_us": _thread_cpu(handle_each),
            "paced_on_time_us": _thread_cpu(lambda p=plans(): _iterate(p, 0.0)),
            "paced_late_30ms_us": _thread_cpu(lambda p=plans(): _iterate(p, 0.03)),
            "immediate_us": _thread_cpu(lambda p=plans(): [list(immediate_events(plan)) for plan in p]),
            "front_paced_us": _thread_cpu(lambda o=outcomes(): [_front_paced(outcome, 0.0, None) for outcome in o]),
        }
        for key, seconds in timings.items():
            best[key] = min(best.get(key, float("inf")), seconds / n * 1e6)
        if args.live:
            gc.callbacks.append(on_gc)
            collections.update(runs=0, s=0.0)
            kept: list = []
            seconds = _thread_cpu(lambda: kept.extend(handle() for _ in range(args.live)))
            gc.callbacks.remove(on_gc)
            del kept
            if seconds / args.live * 1e6 < best.get("handle_live_us", float("inf")):
                best["handle_live_us"] = seconds / args.live * 1e6
                best["gc_ms_per_live_batch"] = collections["s"] * 1e3
                best["gc_runs_per_live_batch"] = collections["runs"]
    print(json.dumps({"pieces_per_stream": pieces, "requests": n, "live": args.live,
                      **{k: round(v, 1) for k, v in best.items()}, "loadavg": round(os.getloadavg()[0], 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
