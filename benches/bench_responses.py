"""Benchmark: POST /v1/responses through the in-process engine (no HTTP), requests per second of thread CPU time
(best of 3), beside the same prompt on chat completions. Cases: a repeated prompt (content cache hit) and unique prompts, store false and
true (memory store), and a stream planned to its last event.

Usage: python benches/bench_responses.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import itertools
import time

import orjson
from sentra_openai.config import load_settings
from sentra_openai.engine import ManualClock, Request, build_engine
from sentra_openai.engine.realism.pacing import immediate_events
from sentra_openai.state import MemoryStore

HEADERS = {"authorization": "Bearer sk-bench", "content-type": "application/json"}


def _rate(fn, seconds: float) -> float:
    """Calls per second of this thread's CPU time (other work on the machine does not count), best of 3."""
    best = 0.0
    for _ in range(3):
        count, started = 0, time.thread_time()
        while time.thread_time() - started < seconds / 3:
            fn()
            count += 1
        best = max(best, count / (time.thread_time() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    engine = build_engine(load_settings(mode="fast", environ={}), clock=ManualClock(), state=MemoryStore())
    engine.warm_up()  # tokenizers and data files, as the server loads them before its first request
    unique = itertools.count()

    def post(path: str, body: dict) -> None:
        outcome = engine.handle(Request("POST", path, HEADERS, orjson.dumps(body)))
        assert outcome.status == 200, outcome.body
        if outcome.stream is not None:
            for _ in immediate_events(outcome.stream):
                pass

    prompt = "Explain what a rate limiter does in two sentences."
    cases = {
        "chat repeated": lambda: post("/v1/chat/completions", {"model": "gpt-4o-mini",
                                                               "messages": [{"role": "user", "content": prompt}]}),
        "responses repeated, store false": lambda: post("/v1/responses", {"model": "gpt-4o-mini", "input": prompt,
                                                                          "store": False}),
        "responses repeated, store true": lambda: post("/v1/responses", {"model": "gpt-4o-mini", "input": prompt}),
        "responses unique, store false": lambda: post("/v1/responses", {"model": "gpt-4o-mini", "store": False,
                                                                        "input": f"{prompt} #{next(unique)}"}),
        "responses repeated, stream": lambda: post("/v1/responses", {"model": "gpt-4o-mini", "input": prompt,
                                                                     "store": False, "stream": True}),
        "responses reasoning + tool": lambda: post("/v1/responses", {
            "model": "gpt-5-mini", "input": "What is the weather in Paris?", "store": False,
            "include": ["reasoning.encrypted_content"],
            "tools": [{"type": "function", "name": "get_weather", "description": "Weather for a city",
                       "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                      "required": ["city"], "additionalProperties": False}}]}),
    }
    for name, fn in cases.items():
        fn()  # warm: tokenizers, caches
        rate = _rate(fn, args.seconds)
        print(f"{name:36s} {rate:8.0f} req/s (CPU) {1e6 / rate:7.1f} us per request")


if __name__ == "__main__":
    main()
