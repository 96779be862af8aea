"""A string for a ``string`` schema: its pattern, format and length bounds met, realistic for its name."""

from __future__ import annotations

import random
from typing import Any

from .check import compile_pattern, length_ok
from .errors import SchemaGenerationError
from .prompt_values import PromptValues
from .regex_sample import pattern_string
from .value_hints import FORMATS, HINTED, pick, plain_words, string_hint

_MAX_STRING = 1_000_000  # characters; far beyond any max_tokens


def string_value(schema: dict[str, Any], path: str, name: str | None, rng: random.Random,
                 prompt: PromptValues | None = None) -> str:
    """A value of ``schema`` (its type already chosen: string) for a property called ``name``; what the ``prompt``
    names for that kind of value comes first, when it meets the schema."""
    min_length = schema.get("minLength", 0)
    max_length = schema.get("maxLength")
    if max_length is not None and min_length > max_length:
        raise SchemaGenerationError(f"{path}: minLength {min_length} is greater than maxLength {max_length}")
    if min_length > _MAX_STRING:
        raise SchemaGenerationError(f"{path}: minLength {min_length} is longer than any model output")
    pattern = schema.get("pattern")
    fmt = schema.get("format") if isinstance(schema.get("format"), str) else None
    kind = string_hint(name) if name else None
    mentioned = prompt.value_for(kind) if prompt is not None and kind else None
    if mentioned is not None and length_ok(mentioned, min_length, max_length) and (
            pattern is None or compile_pattern(pattern, path).search(mentioned)):
        return mentioned
    if pattern is not None:
        # A realistic value that happens to match (an email for an email pattern) beats a sampled one.
        compiled = compile_pattern(pattern, path)
        for make in (FORMATS.get(fmt), HINTED.get(kind) if kind else None):
            if make is not None:
                value = make(rng)
                if length_ok(value, min_length, max_length) and compiled.search(value):
                    return value
        return pattern_string(pattern, min_length, max_length, rng, path)
    if fmt in FORMATS:
        value = FORMATS[fmt](rng)
        if length_ok(value, min_length, max_length):
            return value
    value = HINTED[kind](rng) if kind else plain_words(rng)
    return _fit_length(value, min_length, max_length, rng)


def _fit_length(value: str, min_length: int, max_length: int | None, rng: random.Random) -> str:
    """``value`` padded with lexicon words up to ``min_length``, then cut to ``max_length``."""
    if len(value) < min_length:
        parts = [value] if value else []
        total = len(value)
        while total < min_length:
            word = pick(rng, "words")
            total += len(word) + (1 if parts else 0)
            parts.append(word)
        value = " ".join(parts)
    if max_length is not None and len(value) > max_length:
        cut = value[:max_length]
        value = cut.rstrip() if len(cut.rstrip()) >= min_length else cut
    return value
