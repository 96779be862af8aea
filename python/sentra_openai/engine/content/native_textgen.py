"""textgen.generate_answer through the native composer (rust/core/src/textgen/compose.rs) when it can give the same
answer: the RNG is a NativeRandom (its twister is the generator itself, so the draws land on the caller's state) and
the encoding has a native twin. Otherwise, and for text that is not valid Unicode (lone surrogates), textgen's own.

The native composer is a bit-for-bit port (tests/native/test_native_textgen.py): the same text, token count, finish
reason and RNG state afterwards.
"""

from __future__ import annotations

import random
from functools import cache
from typing import Any

import orjson

from sentra_openai import _native

from ..native_random import NativeRandom
from . import textgen
from .lexicon import lexicon

__all__ = ["generate_answer", "native_lexicon", "native_twin"]


@cache
def native_lexicon() -> _native.Lexicon:
    """config/lexicon.yaml as the native composer reads it (built once per process)."""
    return _native.Lexicon(orjson.dumps(lexicon()).decode())


@cache
def native_twin(name: str) -> _native.BpeEncoding | None:
    """The native encoding of the tiktoken encoding `name`, or None when there is none."""
    from ...tokens.native_bpe import native_encoding

    try:
        return native_encoding(name)
    except (KeyError, ValueError, OSError):
        return None


def generate_answer(rng: random.Random, max_tokens: int, encoding: Any, prompt: str = "",
                    verbosity: str = "medium") -> textgen.GeneratedText:
    """textgen.generate_answer(rng, max_tokens, encoding, prompt, verbosity), natively where it can be."""
    twin = native_twin(encoding.name) if isinstance(rng, NativeRandom) and max_tokens >= 1 else None
    if twin is None:
        return textgen.generate_answer(rng, max_tokens, encoding, prompt, verbosity)
    try:
        text, completion_tokens, finish_reason = _native.generate_answer(
            rng.twister, max_tokens, twin, native_lexicon(), prompt, verbosity)
    except UnicodeEncodeError:  # a lone surrogate in the prompt: refused before any draw
        return textgen.generate_answer(rng, max_tokens, encoding, prompt, verbosity)
    return textgen.GeneratedText(text, completion_tokens, finish_reason)
