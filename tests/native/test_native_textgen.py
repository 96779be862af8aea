"""The native composer (rust/core/src/textgen/compose.rs) is engine/content/textgen.py bit for bit: for any seed,
limit, encoding, prompt and verbosity the same text, token count and finish reason, and the RNG left in the same state;
the same salient phrases of any prompt; the same cut of any text at any token count."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sentra_openai import _native
from sentra_openai.engine.content import native_textgen, textgen
from sentra_openai.engine.native_random import NativeRandom
from sentra_openai.tokens import get_encoding  # offline: the encodings shipped in the package

ENCODINGS = ["o200k_base", "cl100k_base"]

# Words that make salient phrases (and vowel-initial topics, so the articles before them are exercised), stopwords,
# names, all-caps words, punctuation that ends runs and sentences, and text outside A-Z.
_WORDS = [
    "How", "do", "I", "grow", "tomatoes", "on", "a", "small", "balcony", "Paris", "NASA", "apple", "orchards",
    "umbrella", "insurance", "hour", "honest", "European", "unique", "the", "about", "with", "please", "explain",
    "don't-stop", "state-of-the-art", "Kyoto", "temples", "énergie", "北京", "東京", "emoji", "🙂", "42", "3.5",
    ".", ",", "!", "?", ";", ":", "-", "'", '"', "(", ")", "\n", "\t", "\u3000", "\x1f", "é", "x", "A", "an",
]
_words = st.lists(st.sampled_from(_WORDS), max_size=60).map(" ".join)
_long = st.lists(st.sampled_from(_WORDS), min_size=300, max_size=700).map(" ".join)  # past the 2000-character tail
PROMPTS = st.one_of(st.just(""), st.text(), _words, _long, st.text(alphabet=st.sampled_from("aeiouAEIOU -.!?'x"),
                                                                     max_size=80))
VERBOSITY = st.sampled_from(["low", "medium", "high", "other"])
SEEDS = st.text(max_size=20)
MAX_TOKENS = st.one_of(st.integers(1, 12), st.integers(1, 2000))


def twin(name: str) -> _native.BpeEncoding:
    encoding = native_textgen.native_twin(name)
    assert encoding is not None, f"no native {name}"
    return encoding


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=400, deadline=None)
@given(seed=SEEDS, max_tokens=MAX_TOKENS, prompt=PROMPTS, verbosity=VERBOSITY)
def test_native_answer_is_pythons(name: str, seed: str, max_tokens: int, prompt: str, verbosity: str) -> None:
    reference, native = random.Random(seed), _native.MersenneTwister(seed)
    expected = textgen.generate_answer(reference, max_tokens, get_encoding(name), prompt, verbosity)
    got = _native.generate_answer(native, max_tokens, twin(name), native_textgen.native_lexicon(), prompt, verbosity)
    assert got == (expected.text, expected.completion_tokens, expected.finish_reason)
    assert native.getstate() == reference.getstate()[1]
    assert [native.random() for _ in range(3)] == [reference.random() for _ in range(3)]


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=100, deadline=None)
@given(seed=SEEDS, max_tokens=MAX_TOKENS, prompt=PROMPTS, verbosity=VERBOSITY)
def test_the_wrapper_draws_on_the_callers_rng(name: str, seed: str, max_tokens: int, prompt: str,
                                              verbosity: str) -> None:
    reference, rng = random.Random(seed), NativeRandom(seed)
    encoding = get_encoding(name)
    expected = textgen.generate_answer(reference, max_tokens, encoding, prompt, verbosity)
    assert native_textgen.generate_answer(rng, max_tokens, encoding, prompt, verbosity) == expected
    assert rng.getstate() == reference.getstate()
    assert rng.choice(range(1000)) == reference.choice(range(1000))


@pytest.mark.parametrize("rng_type", [random.Random, NativeRandom])
def test_the_wrapper_falls_back_to_python(rng_type: type[random.Random]) -> None:
    # A plain random.Random, and a prompt that is not valid Unicode (a lone surrogate), take textgen's own path.
    encoding = get_encoding("o200k_base")
    for prompt in ["Tell me about apple orchards", "apple orchards \ud800 umbrella insurance"]:
        reference, rng = random.Random("k"), rng_type("k")
        expected = textgen.generate_answer(reference, 300, encoding, prompt)
        assert native_textgen.generate_answer(rng, 300, encoding, prompt) == expected
        assert rng.getstate() == reference.getstate()


def test_max_tokens_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        _native.generate_answer(_native.MersenneTwister("k"), 0, twin("o200k_base"), native_textgen.native_lexicon(),
                                "", "medium")


@settings(max_examples=1000, deadline=None)
@given(prompt=PROMPTS)
def test_native_salient_phrases_are_pythons(prompt: str) -> None:
    assert _native.salient_phrases(native_textgen.native_lexicon(), prompt) == textgen.salient_phrases(prompt)


_CUT_TEXT = st.one_of(st.text(), _words, st.text(alphabet=st.sampled_from("ab 🙂北é\u0301\n.")), st.builds(
    lambda seed: textgen.generate_text(random.Random(seed), 400, get_encoding("o200k_base")), st.integers(0, 2**32)))


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=500, deadline=None)
@given(text=_CUT_TEXT, n=st.integers(-2, 60), relative=st.booleans())
def test_native_truncation_is_pythons(name: str, text: str, n: int, relative: bool) -> None:
    encoding = get_encoding(name)
    if relative:  # around the text's own length, where the cut is decided
        n += len(encoding.encode_ordinary(text)) - 30
    assert _native.truncate_to_tokens(twin(name), text, n) == textgen.truncate_to_tokens(encoding, text, n)
