"""Seeded answers are a contract: a client that pins X-Sentra-Seed (or a content-cache key) gets the same text after
an upgrade. These expectations were recorded before issue 12's speed work (commit ace6c5a) and must not move: a
change that draws from the RNG in another order, or counts tokens differently, shows up here."""

from __future__ import annotations

import hashlib
import random

import pytest

from sentra_openai.engine.content import textgen
from sentra_openai.tokens.offline_encodings import get_encoding


@pytest.mark.parametrize(
    ("encoding", "seed", "max_tokens", "prompt", "verbosity", "start", "tokens", "finish", "digest"),
    [
        ("o200k_base", 7, 16, "Summarize the benefits of unit tests.", "medium",
         "There are a few things to keep in mind about unit tests.", 16, "length", "e6b9093b98138f47"),
        ("o200k_base", 2024, 600, "Explain how garbage collection works in Python, and why cycles matter.", "high",
         "In short, cycles matter comes down to a handful of typical ideas.", 84, "stop", "5c6941486f5f1bd7"),
        ("cl100k_base", 99, 40, "Write a poem about the sea.", "low",
         "Sure, here is what you need to know about the subject.", 39, "stop", "1e89a0e41093f0d0"),
    ],
)
def test_a_seeded_answer_is_the_recorded_one(encoding: str, seed: int, max_tokens: int, prompt: str, verbosity: str,
                                             start: str, tokens: int, finish: str, digest: str) -> None:
    answer = textgen.generate_answer(random.Random(seed), max_tokens, get_encoding(encoding), prompt, verbosity)
    assert answer.text.startswith(start)
    assert (answer.completion_tokens, answer.finish_reason) == (tokens, finish)
    assert hashlib.sha256(answer.text.encode()).hexdigest()[:16] == digest


@pytest.mark.parametrize(
    ("prompt", "phrases"),
    [
        ("Summarize the benefits of unit tests, case 12.", ["unit tests", "benefits"]),
        ("Tell me about Paris and the Eiffel Tower. Paris is lovely!", ["Eiffel Tower", "lovely"]),
        # Letters outside A-Z end a run, as punctuation does.
        ("Le café naïve à Zürich 北京 cooking recipes", ["cooking recipes"]),
        ("NASA rockets: HTTP APIs? well-known state-of-the-art compilers", ["state-of-the-art compilers", "rockets"]),
    ],
)
def test_salient_phrases_are_the_recorded_ones(prompt: str, phrases: list[str]) -> None:
    assert textgen.salient_phrases(prompt) == phrases
