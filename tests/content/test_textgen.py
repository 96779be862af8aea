"""Generated answers: readable, reproducible, and never longer than the request allows."""

from __future__ import annotations

import random
import re
import statistics

import orjson
import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st
from sentra_openai.engine.content.lexicon import lexicon
from sentra_openai.engine.content.textgen import (
    apply_stop,
    generate_answer,
    generate_text,
    natural_length,
    salient_phrases,
    truncate_to_tokens,
)
from sentra_openai.engine.schema.json_object import generate_json_object
from sentra_openai.tokens import get_encoding  # offline: the encodings shipped in the package

ENCODINGS = ["o200k_base", "cl100k_base"]
PROMPT = "How do I grow tomatoes on a small balcony?"


def count(encoding: tiktoken.Encoding, text: str) -> int:
    return len(encoding.encode_ordinary(text))


# ----------------------------------------------------------------------------------------------- generate_text


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=500, deadline=None)
@given(seed=st.integers(0, 2**64 - 1), max_tokens=st.one_of(st.integers(1, 8), st.integers(1, 2000)))
def test_answers_never_exceed_max_tokens(name: str, seed: int, max_tokens: int) -> None:
    encoding = get_encoding(name)
    answer = generate_answer(random.Random(seed), max_tokens, encoding, PROMPT)
    assert 1 <= count(encoding, answer.text) <= max_tokens
    assert answer.completion_tokens == count(encoding, answer.text)
    assert generate_text(random.Random(seed), max_tokens, encoding, PROMPT) == answer.text


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=500, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), small=st.integers(1, 300), extra=st.integers(0, 500))
def test_a_smaller_limit_cuts_the_same_answer(name: str, seed: int, small: int, extra: int) -> None:
    encoding = get_encoding(name)
    short = generate_answer(random.Random(seed), small, encoding, PROMPT)
    longer = generate_answer(random.Random(seed), small + extra, encoding, PROMPT)
    assert longer.text.startswith(short.text)
    if short.finish_reason == "stop":
        assert longer.text == short.text and longer.finish_reason == "stop"
    else:
        assert count(encoding, short.text) == small  # cut prose is exactly max_tokens long


def test_same_seed_same_text_and_seeds_differ() -> None:
    encoding = get_encoding("o200k_base")
    texts = [generate_text(random.Random(seed), 500, encoding, PROMPT) for seed in range(40)]
    assert texts == [generate_text(random.Random(seed), 500, encoding, PROMPT) for seed in range(40)]
    assert len(set(texts)) >= 38


def test_answer_lengths_look_like_chat_answers() -> None:
    encoding = get_encoding("o200k_base")
    answers = [generate_answer(random.Random(seed), 4096, encoding, PROMPT) for seed in range(400)]
    lengths = [a.completion_tokens for a in answers]
    assert 40 <= statistics.median(lengths) <= 90
    assert min(lengths) < 15 and max(lengths) > 200  # short replies and long explanations both occur
    assert all(a.finish_reason == "stop" for a in answers)
    # The natural length is a draw of its own: the text tracks it closely.
    for seed in range(100):
        target = natural_length(random.Random(seed))
        actual = generate_answer(random.Random(seed), 4096, encoding).completion_tokens
        assert actual <= max(target * 1.6, target + 40)


def test_answers_read_as_prose() -> None:
    encoding = get_encoding("o200k_base")
    for seed in range(100):
        text = generate_text(random.Random(seed), 4096, encoding, PROMPT)
        assert text[0].isupper()
        assert text[-1] in ".!?"
        for paragraph in text.split("\n\n"):
            assert paragraph and paragraph == paragraph.strip()
            assert re.fullmatch(r"[A-Z][A-Za-z0-9 ,.!?'-]*[.!?]", paragraph), paragraph
        assert " a a" not in text and not re.search(r"\ba [aeio]", text), text  # articles agree
    long_text = max((generate_text(random.Random(s), 4096, encoding) for s in range(60)), key=len)
    assert "\n\n" in long_text  # long answers come in paragraphs


def test_answers_mention_the_prompt() -> None:
    encoding = get_encoding("o200k_base")
    answers = [generate_text(random.Random(seed), 4096, encoding, PROMPT) for seed in range(60)]
    substantial = [a for a in answers if count(encoding, a) > 30]
    related = [a for a in substantial if "tomatoes" in a or "small balcony" in a]
    assert len(related) >= len(substantial) // 2
    unrelated = [generate_text(random.Random(seed), 4096, encoding, "") for seed in range(60)]
    assert not any("tomatoes" in a for a in unrelated)


def test_every_listed_stopword_is_one_even_yes() -> None:
    # config/lexicon.yaml lists "yes"; read bare, YAML made it the boolean True and prompts echoed "reply yes".
    assert salient_phrases("Reply yes to the invitation") == ["invitation", "reply"]
    assert all(isinstance(word, str) for word in lexicon()["stopwords"] + lexicon()["tool_relevance_ignored"])


def test_length_cut_reports_length() -> None:
    encoding = get_encoding("cl100k_base")
    for seed in range(50):
        answer = generate_answer(random.Random(seed), 3, encoding)
        natural = generate_answer(random.Random(seed), 4096, encoding)
        assert answer.finish_reason == ("length" if natural.completion_tokens > 3 else "stop")
    with pytest.raises(ValueError):
        generate_answer(random.Random(0), 0, encoding)


# ------------------------------------------------------------------------------------------ truncate_to_tokens


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=500, deadline=None)
@given(text=st.text(), n=st.integers(0, 40))
def test_truncation_is_a_token_prefix_within_the_limit(name: str, text: str, n: int) -> None:
    """What is guaranteed for any text: a prefix made of whole tokens of `text`, re-encoding to <= n tokens,
    and nothing lost when the text already fits. (A cut can re-encode to fewer than n tokens when the n-th
    token ends inside a character.)"""
    encoding = get_encoding(name)
    result = truncate_to_tokens(encoding, text, n)
    assert text.startswith(result)
    assert count(encoding, result) <= n
    tokens = encoding.encode_ordinary(text)
    if len(tokens) <= n:
        assert result == text
    else:
        prefixes = {encoding.decode(tokens[:k]) for k in range(n + 1)}
        assert result in prefixes


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=500, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300))
def test_truncated_prose_has_exactly_n_tokens(name: str, seed: int, n: int) -> None:
    encoding = get_encoding(name)
    text = generate_text(random.Random(seed), 4096, encoding, PROMPT)
    tokens = encoding.encode_ordinary(text)
    result = truncate_to_tokens(encoding, text, n)
    if len(tokens) > n:
        assert count(encoding, result) == n
        assert result == encoding.decode(tokens[:n])
    else:
        assert result == text


def test_truncation_never_splits_a_character() -> None:
    encoding = get_encoding("o200k_base")
    text = "Bravo 🦄🦄 done"
    for n in range(count(encoding, text) + 1):
        result = truncate_to_tokens(encoding, text, n)
        assert "\ufffd" not in result and text.startswith(result)


# --------------------------------------------------------------------------------------------------- apply_stop


def test_apply_stop_examples() -> None:
    assert apply_stop("Hello world. Bye.", ["."]) == ("Hello world", True)
    assert apply_stop("one two three", ["three", "two"]) == ("one ", True)  # earliest occurrence wins
    assert apply_stop("one two three", ["four"]) == ("one two three", False)
    assert apply_stop("stop here", ["stop"]) == ("", True)
    assert apply_stop("text", []) == ("text", False)
    assert apply_stop("text", None) == ("text", False)
    assert apply_stop("text", [""]) == ("text", False)
    assert apply_stop("line one\nline two", ["\n"]) == ("line one", True)


@settings(max_examples=500, deadline=None)
@given(text=st.text(), stops=st.lists(st.text(min_size=1, max_size=3), max_size=4))
def test_apply_stop_cuts_before_the_first_stop(text: str, stops: list[str]) -> None:
    result, cut = apply_stop(text, stops)
    assert text.startswith(result)
    assert cut == any(stop in text for stop in stops)
    assert not any(stop in result for stop in stops)
    if cut:
        assert any(text[len(result):].startswith(stop) for stop in stops)


# ---------------------------------------------------------------------------------------- generate_json_object


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=500, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), max_tokens=st.integers(1, 300))
def test_json_object_parses_and_fits(name: str, seed: int, max_tokens: int) -> None:
    encoding = get_encoding(name)
    document = generate_json_object(random.Random(seed), encoding, max_tokens)
    assert isinstance(orjson.loads(document), dict)
    assert count(encoding, document) <= max_tokens
    assert generate_json_object(random.Random(seed), encoding, max_tokens) == document


def test_json_objects_vary_in_content_and_layout() -> None:
    encoding = get_encoding("o200k_base")
    documents = [generate_json_object(random.Random(seed), encoding, 500) for seed in range(40)]
    assert len({tuple(orjson.loads(d)) for d in documents}) >= 4  # several shapes of object
    assert any("\n" in d for d in documents) and any("\n" not in d for d in documents)
    assert all(orjson.loads(d) for d in documents)  # with room, objects are never empty
