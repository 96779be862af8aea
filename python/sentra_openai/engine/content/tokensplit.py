"""Cut text on token boundaries, the way streamed deltas and logprobs entries are cut.

A BPE token can end in the middle of a multi-byte UTF-8 character (emoji, CJK, accents). A streamed delta must
be valid text, so such a token is merged with the following token(s) until the bytes complete a character.
The pieces always concatenate back to exactly the input.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

# An answer is encoded by several steps (its length, its cut at max_tokens, its usage, its pieces): the last few
# texts' token ids are kept, so each is encoded once. Texts are at most a few thousand tokens, so this stays small.
_RECENT_TEXTS = 64
# Token bytes by token id, per encoding, and apart from them the text of ASCII tokens: answers reuse a few thousand
# tokens (the lexicon's words), so most lookups hit; at most this many entries (~1.5 MB) per encoding in each.
_TOKEN_BYTES_CACHE = 16384


@lru_cache(maxsize=_RECENT_TEXTS)
def token_ids(encoding: Any, text: str) -> tuple[int, ...]:
    """``encoding.encode_ordinary(text)``: text that merely looks like a special token (<|endoftext|>) is ordinary
    output text. Remembered for the last few texts (see _RECENT_TEXTS)."""
    return tuple(encoding.encode_ordinary(text))


@lru_cache(maxsize=8)  # one per encoding
def _token_bytes(encoding: Any) -> Callable[[int], bytes]:
    """``encoding.decode_single_token_bytes``, memoised (see _TOKEN_BYTES_CACHE)."""
    return lru_cache(maxsize=_TOKEN_BYTES_CACHE)(encoding.decode_single_token_bytes)


@lru_cache(maxsize=8)  # one per encoding
def _ascii_token_text(encoding: Any) -> Callable[[int], str]:
    """The text of one token of ASCII text, memoised like its bytes (see _TOKEN_BYTES_CACHE): a hit is one C call."""
    token_bytes = encoding.decode_single_token_bytes
    return lru_cache(maxsize=_TOKEN_BYTES_CACHE)(lambda token: token_bytes(token).decode("ascii"))


def _groups(encoding: Any, text: str) -> list[tuple[bytes, int]]:
    """(bytes, number of tokens) per piece: each token's bytes, merged forward until they decode."""
    token_bytes = map(_token_bytes(encoding), token_ids(encoding, text))
    groups: list[tuple[bytes, int]] = []
    pending = b""
    pending_count = 0
    for chunk in token_bytes:
        if pending_count:
            pending += chunk
            pending_count += 1
        elif chunk[-1] < 0x80:  # fast path: starts on a boundary (nothing pending) and ends in ASCII
            groups.append((chunk, 1))
            continue
        else:
            pending, pending_count = chunk, 1
        if _ends_on_char_boundary(pending):
            groups.append((pending, pending_count))
            pending, pending_count = b"", 0
    if pending_count:  # unreachable for valid text; kept so no byte is ever dropped
        groups.append((pending, pending_count))
    return groups


def _ends_on_char_boundary(data: bytes) -> bool:
    """True when the last UTF-8 sequence in ``data`` is complete (``data`` starts on a boundary)."""
    # Walk back over at most 3 continuation bytes (10xxxxxx) to the lead byte of the last sequence.
    last = len(data) - 1
    index = last
    while index >= 0 and last - index < 4 and (data[index] & 0xC0) == 0x80:
        index -= 1
    if index < 0:
        return False  # only continuation bytes: the sequence started in an earlier token
    lead = data[index]
    if lead < 0x80:
        needed = 1
    elif lead >= 0xF0:
        needed = 4
    elif lead >= 0xE0:
        needed = 3
    else:
        needed = 2
    return last - index + 1 >= needed


def token_pieces(encoding: Any, text: str) -> list[tuple[str, int]]:
    """Pieces of ``text`` with the number of tokens each one spans (1 unless a character was split)."""
    return [(chunk.decode("utf-8"), count) for chunk, count in _groups(encoding, text)]


def split_on_tokens(encoding: Any, text: str) -> list[str]:
    """``text`` cut into one piece per token where possible; ``"".join(result) == text``, no piece empty.

    ``text`` must be valid Unicode (no lone surrogates), as any decoded JSON string is.
    """
    if text.isascii():  # no token of ASCII text can split a character: one piece per token
        return list(map(_ascii_token_text(encoding), token_ids(encoding, text)))
    return [chunk.decode("utf-8") for chunk, _ in _groups(encoding, text)]


def token_pieces_with_bytes(encoding: Any, text: str) -> list[tuple[str, list[int]]]:
    """Each piece of :func:`split_on_tokens` with its UTF-8 bytes as a list of ints (logprobs ``bytes``)."""
    return [(chunk.decode("utf-8"), list(chunk)) for chunk, _ in _groups(encoding, text)]
