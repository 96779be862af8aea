"""CPU time of each stage of the fast-mode chat path, in process (no HTTP): where a request's microseconds go on our
side. The server-level split (front process, Robyn, our handler) comes from /proc under wrk: README "Benchmarks".

    python benches/stages.py            # the benchmark's small chat request, repeated (content-cache hits)
    python benches/stages.py --unique   # engine.handle with a new prompt every request (post_chat_unique.lua's body),
                                        # which pays for text generation; and the repeated request beside it

Each stage runs in a loop of thread CPU time (time.thread_time), so other work on the machine does not count.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import loadgen

N = 20_000
UNIQUE_LUA = Path(__file__).with_name("post_chat_unique.lua")


def per_call_us(fn: Callable[[], object], n: int = N) -> float:
    for _ in range(500):
        fn()
    started = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - started) * 1e6 / n


def best_of(runs: int, fn: Callable[[], float]) -> float:
    """The lowest of `runs` measurements: other developers' work on the machine only ever adds time."""
    return min(fn() for _ in range(runs))


def unique_body_template() -> str:
    """post_chat_unique.lua's body, with its %d (the request counter) left to fill: the very body wrk sends."""
    script = UNIQUE_LUA.read_text()
    call = re.search(r"string\.format\((.*?),\s*counter\)", script, re.DOTALL)
    if call is None:
        raise RuntimeError(f"no string.format(..., counter) in {UNIQUE_LUA}")
    return "".join(re.findall(r"'([^']*)'", call.group(1)))


def main() -> int:
    unique = "--unique" in sys.argv[1:]
    sys.argv = sys.argv[:1]  # `import robyn` parses sys.argv
    os.environ.pop("SENTRA_METRICS_DIR", None)
    import orjson
    from robyn import Headers, Response
    from sentra_openai import metrics
    from sentra_openai.config import load_settings
    from sentra_openai.engine import Request, build_engine
    from sentra_openai.engine.core import Record
    from sentra_openai.engine.lazy_random import LazyRandom

    settings = load_settings(mode="fast")
    observer = metrics.Metrics()
    engine = build_engine(settings, observer=observer)
    engine.warm_up()
    body = loadgen._lua_body().encode()
    headers = {"host": "127.0.0.1:8080", "content-type": "application/json", "authorization": "Bearer sk-bench-0001",
               "content-length": str(len(body))}

    def request() -> Request:
        return Request("POST", "/v1/chat/completions", dict(headers), body, ())

    outcome = engine.handle(request())
    assert outcome.status == 200, outcome.body
    if unique:
        return unique_prompts(engine, headers)
    record = Record("req_x", "POST", "/v1/chat/completions", "chat.completions", 200, "gpt-4o-mini", 9, 0, 16,
                    12_345_678, "0.0000123", 0.0004)
    rows = [
        ("engine.handle (whole engine, metrics included)", per_call_us(lambda: engine.handle(request()))),
        ("  of which: metrics observe", per_call_us(lambda: observer.observe(record))),
        ("  of which: JSON parse of the body", per_call_us(lambda: orjson.loads(body))),
        ("  avoided: seeding the request RNG eagerly", per_call_us(lambda: random.Random((1 << 64) | 12345))),
        ("  instead: the lazy RNG", per_call_us(lambda: LazyRandom((1 << 64) | 12345))),
        ("adapter: Headers + Response for Robyn", per_call_us(
            lambda: Response(status_code=outcome.status, headers=Headers(outcome.headers), description=outcome.body))),
    ]
    for name, us in rows:
        print(f"{name:50s} {us:7.2f} us")
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


def unique_prompts(engine, headers: dict[str, str]) -> int:
    """engine.handle per request when no answer can come from the content cache, beside the repeated request."""
    from sentra_openai.engine import Request

    template = unique_body_template()
    counter = itertools.count(10**9)  # never a prompt of the warm-up or of an earlier round

    def unique_request() -> Request:
        return Request("POST", "/v1/chat/completions", dict(headers), (template % next(counter)).encode(), ())

    repeated = (template % 7).encode()

    def repeated_request() -> Request:
        return Request("POST", "/v1/chat/completions", dict(headers), repeated, ())

    outcome = engine.handle(unique_request())
    assert outcome.status == 200, outcome.body
    rows = [
        ("engine.handle, a new prompt every request", best_of(3, lambda: per_call_us(
            lambda: engine.handle(unique_request()), 5000))),
        ("engine.handle, the same prompt (content cache)", best_of(3, lambda: per_call_us(
            lambda: engine.handle(repeated_request()), 5000))),
    ]
    for name, us in rows:
        print(f"{name:50s} {us:7.2f} us  (thread CPU, best of 3)")
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
