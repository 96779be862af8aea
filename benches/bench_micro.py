"""Benchmark 5: the native (Rust, sentra_openai._native) hot paths against their pure-Python counterparts, ops/s.

* limiter: NativeLimiter.acquire vs reference.ReferenceLimiter.acquire (GCRA, requests + tokens limits), and the
  public ratelimit.RateLimiter.acquire the engine calls (native plus its Python wrapper).
* cost:    _native.cost_picodollars + format_usd vs reference_cost_usd + reference_format_usd (exact Decimal).
* sse:     ChunkTemplate.frame_text (one content delta framed as an SSE event) vs the same event built in Python,
           both by orjson-dumping the chunk dict and by concatenating a pre-rendered head/tail around
           orjson.dumps(text). All variants are checked to produce the same bytes before timing.
* random:  seeding engine.native_random.NativeRandom (the native MersenneTwister, over which the native composer
           draws) vs random.Random from a 40-character str key, as the engine seeds one generator per request;
           both are checked to draw the same before timing.

Each case runs in batches until a batch takes >= `min_time` of process CPU time; the best of `repeat` batches is
reported (the least disturbed by other work on the machine, as timeit does).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

PERIOD_NS = 60_000_000_000


def _ops_per_s(fn: Callable[[], object], *, min_time: float, repeat: int) -> float:
    def batch(number: int) -> float:
        # CPU time of this process, not wall time: other work on a shared machine then inflates it far less.
        started = time.process_time()
        for _ in range(number):
            fn()
        return time.process_time() - started

    number = 1
    elapsed = batch(number)
    while elapsed < min_time:
        # Grow towards min_time from the rate seen so far, at least doubling so tiny timings converge fast.
        number = max(number * 2, int(number * min_time * 1.1 / max(elapsed, 1e-9)))
        elapsed = batch(number)
    best = min([elapsed] + [batch(number) for _ in range(repeat - 1)])
    return number / best


def _limiter_cases() -> dict[str, Callable[[], object]]:
    from sentra_openai import _native
    from sentra_openai.ratelimit import Limit, RateLimiter
    from sentra_openai.reference import ReferenceLimiter

    # Capacities high enough that every call admits and charges: the common path under load.
    limits = [("requests", 10**12, PERIOD_NS), ("tokens", 10**15, PERIOD_NS)]
    costs = [1, 250]
    native, reference = _native.NativeLimiter("memory"), ReferenceLimiter()
    public = RateLimiter("memory")
    public_limits = [Limit("requests", 10**12, per_seconds=60), Limit("tokens", 10**15, per_seconds=60)]
    clock = iter(range(10**18, 2 * 10**18, 1000))
    return {
        "native": lambda: native.acquire("key:gpt-4o", limits, costs, next(clock)),
        "python_reference": lambda: reference.acquire("key:gpt-4o", limits, costs, next(clock)),
        "public_RateLimiter": lambda: public.acquire("key:gpt-4o", public_limits, costs, next(clock)),
    }


def _cost_cases() -> dict[str, Callable[[], object]]:
    from sentra_openai import _native
    from sentra_openai.reference import reference_cost_usd, reference_format_usd

    args = (1234, 256, 567)
    prices = ("2.50", "1.25", "10.00")
    micros = (2_500_000, 1_250_000, 10_000_000)
    native = _native.format_usd(_native.cost_picodollars(*args, *micros))
    python = reference_format_usd(reference_cost_usd(*args, *prices))
    if native != python:
        raise AssertionError(f"cost paths disagree: native {native} vs reference {python}")
    return {
        "native": lambda: _native.format_usd(_native.cost_picodollars(*args, *micros)),
        "python_reference": lambda: reference_format_usd(reference_cost_usd(*args, *prices)),
    }


def _sse_cases() -> dict[str, Callable[[], object]]:
    from sentra_openai import _native

    meta = {"id": "chatcmpl-CeFzQbRlH3Wu1nWmdAmL6ya3TNvxk", "object": "chat.completion.chunk", "created": 1795901444,
            "model": "gpt-4o-mini-2024-07-18", "service_tier": "default", "system_fingerprint": "fp_9b08c174a3"}
    text = " lighthouse"

    def chunk(piece: str) -> dict:
        return {**meta, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}], "usage": None}

    marker = "\x00MARK\x00"
    template = _native.ChunkTemplate.from_chunk_json(orjson.dumps(chunk(marker)).decode(), marker)
    head, tail = template.head, template.tail

    def python_dict() -> bytes:
        return b"data: " + orjson.dumps(chunk(text)) + b"\n\n"

    def python_concat() -> bytes:
        return ("data: " + head + orjson.dumps(text).decode() + tail + "}\n\n").encode()

    expected = template.frame_text(text)
    for name, fn in (("python_orjson_dict", python_dict), ("python_concat", python_concat)):
        if fn() != expected:
            raise AssertionError(f"{name} frames differently from ChunkTemplate:\n{fn()!r}\n{expected!r}")
    texts = [f" word{i}" for i in range(50)]
    return {
        "native_frame_text": lambda: template.frame_text(text),
        "python_orjson_dict": python_dict,
        "python_concat": python_concat,
        "native_frame_texts_x50_per_event": lambda: template.frame_texts(texts),
    }


def _random_cases() -> dict[str, Callable[[], object]]:
    import random

    from sentra_openai._native import MersenneTwister
    from sentra_openai.engine.native_random import NativeRandom

    key = "9f2c1e6b7a3d4c58e0b1a2f3c4d5e6f708192a3b"  # 40 characters, like a request's seed key
    native, python = NativeRandom(key), random.Random(key)
    if [native.random(), native.getrandbits(40)] != [python.random(), python.getrandbits(40)]:
        raise AssertionError("NativeRandom and random.Random draw differently from the same key")
    return {
        "native_NativeRandom": lambda: NativeRandom(key),
        "python_random_Random": lambda: random.Random(key),
        "native_MersenneTwister_alone": lambda: MersenneTwister(key),
    }


def run(ctx) -> dict:
    min_time, repeat = (0.05, 3) if ctx.quick else (0.2, 5)
    out: dict = {"what": "ops per CPU-second of native vs pure-Python paths (best of batches)", "results": {}}
    groups = (("limiter", _limiter_cases), ("cost", _cost_cases), ("sse", _sse_cases), ("random", _random_cases))
    for group, build in groups:
        cases = build()
        rates = {}
        for name, fn in cases.items():
            rate = _ops_per_s(fn, min_time=min_time, repeat=repeat)
            if name == "native_frame_texts_x50_per_event":
                rate *= 50  # one call frames 50 events: report events/s
            rates[name] = round(rate)
        baseline = next(v for k, v in rates.items() if k.startswith("python"))
        native = next(v for k, v in rates.items() if k.startswith("native"))
        out["results"][group] = {"ops_per_s": rates, "native_speedup_vs_python": round(native / baseline, 2)}
        ctx.say(f"  micro {group}: " + ", ".join(f"{k} {v:,.0f}/s" for k, v in rates.items()))
    return out
