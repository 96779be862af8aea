"""Streamed deltas and logprobs entries are cut on token boundaries, never inside a character."""

from __future__ import annotations

import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st
from sentra_openai.engine.content.tokensplit import split_on_tokens, token_pieces, token_pieces_with_bytes
from sentra_openai.tokens import get_encoding  # offline: the encodings shipped in the package

ENCODINGS = ["o200k_base", "cl100k_base"]

# Characters that make BPE tokens end mid-character: emoji (with ZWJ and skin tones), CJK, combining marks,
# scripts with few merges, and plain ASCII around them.
TRICKY = "👍🏽👨‍👩‍👧🎉🦄日本語中文字漢한국어éèe\u0301a\u0308\u0915\u094d\u0937Ωж\u200d\ufe0f \n\t.,!?"
texts = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(TRICKY) | st.characters(max_codepoint=0x7F), max_size=60),
    st.text(alphabet=st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF) | st.sampled_from(" a"), max_size=30),
)


def char_boundary_token_ends(encoding: tiktoken.Encoding, text: str) -> int:
    """How many token ends fall between two characters: the most pieces a valid split can have."""
    data = text.encode("utf-8")
    offset, count = 0, 0
    for token in encoding.encode_ordinary(text):
        offset += len(encoding.decode_single_token_bytes(token))
        try:
            data[:offset].decode("utf-8")
        except UnicodeDecodeError:
            continue
        count += 1
    return count


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=500, deadline=None)
@given(text=texts)
def test_pieces_rebuild_the_text_and_split_only_between_characters(name: str, text: str) -> None:
    encoding = get_encoding(name)
    pieces = split_on_tokens(encoding, text)
    assert "".join(pieces) == text
    assert all(pieces)
    tokens = encoding.encode_ordinary(text)
    assert len(pieces) <= len(tokens)
    # Merging happens only where a token ends inside a character: otherwise each token is its own piece.
    assert len(pieces) == char_boundary_token_ends(encoding, text)


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=st.characters(max_codepoint=0x7F)))
def test_ascii_text_gives_exactly_one_piece_per_token(name: str, text: str) -> None:
    encoding = get_encoding(name)
    tokens = encoding.encode_ordinary(text)
    assert split_on_tokens(encoding, text) == [encoding.decode([token]) for token in tokens]


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=500, deadline=None)
@given(text=texts)
def test_piece_bytes_are_the_utf8_of_each_piece(name: str, text: str) -> None:
    encoding = get_encoding(name)
    pairs = token_pieces_with_bytes(encoding, text)
    assert [piece for piece, _ in pairs] == split_on_tokens(encoding, text)
    for piece, raw in pairs:
        assert raw == list(piece.encode("utf-8"))
        assert all(isinstance(b, int) and 0 <= b < 256 for b in raw)
    counted = token_pieces(encoding, text)
    assert sum(count for _, count in counted) == len(encoding.encode_ordinary(text))


@pytest.mark.parametrize("name", ENCODINGS)
def test_emoji_split_mid_character_is_merged(name: str) -> None:
    encoding = get_encoding(name)
    text = "Party 🦄🦄 time 👨‍👩‍👧"
    tokens = encoding.encode_ordinary(text)
    pieces = split_on_tokens(encoding, text)
    assert "".join(pieces) == text
    # These emoji take several byte-level tokens each, so fewer (valid) pieces than tokens come out.
    assert len(pieces) < len(tokens)


@pytest.mark.parametrize("name", ENCODINGS)
def test_special_token_text_is_ordinary_text(name: str) -> None:
    encoding = get_encoding(name)
    text = "before <|endoftext|> after"
    assert "".join(split_on_tokens(encoding, text)) == text
    assert split_on_tokens(encoding, "") == []
