"""Native BPE (rust/core/src/textgen/bpe.rs): the same tokens as tiktoken's encode_ordinary, for any text, with
both packaged encodings; the same token bytes; decoding gives the text back."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sentra_openai._native import BpeEncoding
from sentra_openai.tokens.native_bpe import encoding_source, native_encoding
from sentra_openai.tokens.offline_encodings import get_encoding

ENCODINGS = ["o200k_base", "cl100k_base"]
LEXICON = Path(__file__).resolve().parents[2] / "config" / "lexicon.yaml"

# Pieces that reach each alternative of the two split patterns and the merge's corner cases: contractions in any
# case, whitespace runs before words, digits (split in threes), punctuation runs with newlines and slashes,
# letters of every case class, marks, CJK, emoji sequences, and text that looks like a special token.
FRAGMENTS = st.sampled_from([
    "'s", "'S", "'LL", "'ll", "'Re", "'ve", "'d", "'m", "'t", "'x", "don't", "I'M",
    " ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n ", "\u3000", "\u00a0", "\u2028", "\x0b", "\x85",
    "1", "12", "123", "1234567", "٣٤٥", "½", "3.14",
    "!", "...", "!!!", "//", "/\n", "?!\r\n", "--", "()", "{x}",
    "hello", "Hello", "HELLO", "CamelCase", "ǅungla", "ʰa", "naïve", "e\u0301", "\u0301\u0301", "\u0301",
    "日本語", "のテキスト", "한국어", "مرحبا", "Привет", "ภาษาไทย", "Ωμέγα",
    "🙂", "👨‍👩‍👧", "🇫🇷", "✔️",
    "<|endoftext|>", "<|endof", "<|fim_prefix|>", "<|im_start|>", "<|", "|>",
])
CHARS = st.characters(codec="utf-8")  # every code point but the surrogates
TEXT = st.lists(st.one_of(st.text(CHARS, max_size=12), FRAGMENTS), max_size=16).map("".join)


@pytest.fixture(scope="module", params=ENCODINGS)
def pair(request: pytest.FixtureRequest) -> tuple[BpeEncoding, object]:
    return native_encoding(request.param), get_encoding(request.param)


def check_same(native: BpeEncoding, reference, text: str) -> None:
    tokens = reference.encode_ordinary(text)
    assert native.encode_ordinary(text) == tokens, repr(text)
    assert native.count_ordinary(text) == len(tokens), repr(text)
    assert native.decode_bytes(tokens) == text.encode("utf-8")


@settings(max_examples=400, deadline=None)
@given(text=TEXT)
def test_any_text_has_tiktokens_tokens(pair, text: str) -> None:
    check_same(*pair, text)


@settings(max_examples=200, deadline=None)
@given(text=st.text(CHARS, max_size=60))
def test_any_code_points_have_tiktokens_tokens(pair, text: str) -> None:
    check_same(*pair, text)


# One split piece longer than the heap merge's threshold (bpe.rs LONG_PIECE, 256 bytes): a run of letters or marks, of
# punctuation, of one repeated letter, or of CJK.
LONG_PIECES = st.one_of(
    st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzé\u0301"), min_size=200, max_size=3000),
    st.text(st.sampled_from("!@#$%^&*()-=+[]{};:,.<>?"), min_size=260, max_size=3000),
    st.integers(257, 5000).map(lambda n: "a" * n),
    st.text(st.sampled_from("日本語のテキスト漢字"), min_size=90, max_size=1000),
)


@settings(max_examples=60, deadline=None)
@given(text=LONG_PIECES)
def test_long_pieces_have_tiktokens_tokens(pair, text: str) -> None:
    check_same(*pair, text)


def test_a_64_kib_piece_has_tiktokens_tokens(pair) -> None:
    """64 KiB of letters is one piece (the heap merge; the scan took 1.5 s, which the front cannot spend)."""
    native, reference = pair
    text = "".join("abcdefghij"[(i * 7919) % 10] for i in range(65536))
    check_same(native, reference, text)


@pytest.mark.parametrize("text", [
    "", " ", "a" + " " * 300 + "b", "x" * 2000, "1" * 1001, "!" * 700, "\n" * 50 + "  ", " \u3000" * 40 + "z",
    "word " * 2000, "Supercalifragilisticexpialidocious" * 20,
])
def test_long_runs_have_tiktokens_tokens(pair, text: str) -> None:
    check_same(*pair, text)


def test_lone_surrogates_are_replaced_as_tiktoken_replaces_them(pair) -> None:
    native, reference = pair
    for text in ["a\ud800b", "\udfff", "x \udc00\udc00 y"]:
        assert native.encode_ordinary(text) == reference.encode_ordinary(text)
        assert native.count_ordinary(text) == len(reference.encode_ordinary(text))


def lexicon_sentences() -> list[str]:
    lexicon = yaml.safe_load(LEXICON.read_text())
    words = [w for key in ("nouns", "adjectives", "verbs", "topics") for w in lexicon.get(key, []) if isinstance(w, str)]
    templates = [t for key in ("short_replies", "openers", "sentences", "closers") for t in lexicon[key]]
    filled = [re.sub(r"\{[^}]*\}", lambda m: words[len(m.group()) % len(words)], t) for t in templates]
    return templates + filled + [" ".join(filled)]


def test_lexicon_sentences_have_tiktokens_tokens(pair) -> None:
    sentences = lexicon_sentences()
    assert len(sentences) > 20
    for text in sentences:
        check_same(*pair, text)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_token_bytes_are_tiktokens(pair, data: st.DataObject) -> None:
    native, reference = pair
    token = data.draw(st.integers(0, native.vocab_size - 1))
    assert native.token_bytes(token) == reference.decode_single_token_bytes(token)


def test_every_token_of_the_file_is_there(pair) -> None:
    native, reference = pair
    assert native.vocab_size == len(reference._mergeable_ranks)
    sample = list(reference._mergeable_ranks.items())[::97]
    assert all(native.token_bytes(rank) == token for token, rank in sample)


def test_unknown_token_ids_raise_key_error_as_tiktoken(pair) -> None:
    native, reference = pair
    special = reference.eot_token  # a special token: not in the ranks file
    with pytest.raises(KeyError):
        native.token_bytes(special)
    with pytest.raises(KeyError):
        native.decode_bytes([1, 2, 10**9])
    with pytest.raises(KeyError):
        reference.decode_single_token_bytes(10**9)


def test_the_native_encoding_is_built_once_from_tiktokens_file_and_pattern() -> None:
    for name in ENCODINGS:
        path, pattern = encoding_source(name)
        assert pattern == get_encoding(name)._pat_str
        assert Path(path).is_file()
        assert native_encoding(name) is native_encoding(name)
        rebuilt = BpeEncoding(Path(path).read_bytes(), pattern)
        assert rebuilt.encode_ordinary("hello world") == get_encoding(name).encode_ordinary("hello world")
    with pytest.raises(ValueError, match="unsupported encoding"):
        encoding_source("p50k_base")


def test_a_malformed_ranks_file_or_pattern_is_refused() -> None:
    with pytest.raises(ValueError, match="line 1"):
        BpeEncoding(b"not-base64!! x\n", r"\S+")
    with pytest.raises(ValueError, match="0x00"):
        BpeEncoding(b"YQ== 0\n", r"\S+")
    ranks = b"".join(b"%s %d\n" % (base64.b64encode(bytes([b])), b) for b in range(256))
    with pytest.raises(ValueError, match="pattern"):
        BpeEncoding(ranks, "(")
    assert BpeEncoding(ranks, r"\S+|\s+").encode_ordinary("ab c") == [97, 98, 32, 99]
    with pytest.raises(FileNotFoundError):
        BpeEncoding.from_path("/nonexistent/ranks.tiktoken", r"\S+")
