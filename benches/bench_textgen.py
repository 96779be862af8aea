"""One generated answer (textgen.generate_answer) in Python against the native composer, calls per second.

Each call seeds a fresh generator from a new str key (as the engine does per request) and composes an answer to one
prompt under a 1000-token limit; both sides get the same seeds and are checked to give the same answers first.
Run: python benches/bench_textgen.py [calls] [encoding]
"""

from __future__ import annotations

import random
import sys
import time

from sentra_openai import _native
from sentra_openai.engine.content import native_textgen, textgen
from sentra_openai.tokens import get_encoding

PROMPT = "How do I grow tomatoes on a small balcony in a windy city?"


def main(calls: int = 10_000, name: str = "o200k_base") -> None:
    encoding, twin, lexicon = get_encoding(name), native_textgen.native_twin(name), native_textgen.native_lexicon()
    seeds = [f"bench-{index}" for index in range(calls)]
    for seed in seeds[:200]:
        expected = textgen.generate_answer(random.Random(seed), 1000, encoding, PROMPT)
        native = _native.generate_answer(_native.MersenneTwister(seed), 1000, twin, lexicon, PROMPT, "medium")
        assert native == (expected.text, expected.completion_tokens, expected.finish_reason), seed

    started = time.process_time()
    for seed in seeds:
        textgen.generate_answer(random.Random(seed), 1000, encoding, PROMPT)
    python_s = time.process_time() - started
    started = time.process_time()
    for seed in seeds:
        _native.generate_answer(_native.MersenneTwister(seed), 1000, twin, lexicon, PROMPT, "medium")
    native_s = time.process_time() - started
    print(f"{calls} answers ({name}): Python {python_s * 1e6 / calls:.1f} us/call, "
          f"native {native_s * 1e6 / calls:.1f} us/call, {python_s / native_s:.1f}x")


if __name__ == "__main__":
    main(*(int(arg) if index == 0 else arg for index, arg in enumerate(sys.argv[1:])))
