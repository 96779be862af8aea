"""Deterministic, semantically shaped embedding vectors in plain Python (no numpy).

A text's vector is the normalised sum of one pseudo-random vector per token, so texts that share tokens point in
similar directions: the cosine of two texts grows with the share of tokens they have in common, and unrelated texts
are close to orthogonal. The same (model, tokens) always gives the same vector.

Each token's vector is the sum of two cyclic rotations of two random "master" vectors of the model, by offsets
hashed from the token id. Rotations of a random vector are nearly orthogonal to it, and two independent offsets give
dimensions² distinct token vectors. For speed the components are 16-bit unsigned numbers held in 32-bit fields of
one Python int: adding a token is a rotation (two shifts) and one big-int addition, so a 3072-dimension,
500-token input costs a few milliseconds instead of 1.5 million float operations.
"""

from __future__ import annotations

import hashlib
import math
import sys
from array import array
from collections.abc import Sequence
from functools import lru_cache

_FIELD_BITS = 32
_VALUE_BYTES = 2
# Every field sums 2 components per token, each < 2**16: 32767 tokens keep a field below 2**32, so no carry
# ever spills into the next field. Longer inputs are summed in slices of this size.
_TOKENS_PER_SLICE = 32767
_MASK64 = (1 << 64) - 1


@lru_cache(maxsize=16)
def _masters(salt: str, dims: int) -> tuple[int, int, float]:
    """The model's two random master vectors as packed ints, and the mean component value of the pair."""
    packed = []
    total = 0
    for name in ("a", "b"):
        values = hashlib.shake_256(f"{salt}\x1f{name}".encode()).digest(dims * _VALUE_BYTES)
        fields = bytearray(dims * _FIELD_BITS // 8)
        # Little-endian 16-bit values into the low half of each little-endian 32-bit field.
        fields[0::4] = values[0::2]
        fields[1::4] = values[1::2]
        packed.append(int.from_bytes(fields, "little"))
        total += sum(values[0::2]) + 256 * sum(values[1::2])
    return packed[0], packed[1], total / dims


def _offsets(token: int, salt_key: int, dims: int) -> tuple[int, int]:
    """Two rotation offsets (in fields) for a token: a 64-bit mix of its id, split in two (splitmix64 finaliser)."""
    z = (token * 0x9E3779B97F4A7C15 + salt_key) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    z ^= z >> 31
    return (z & 0xFFFFFFFF) % dims, (z >> 32) % dims


def _rotate(value: int, fields: int, width: int, mask: int) -> int:
    bits = fields * _FIELD_BITS
    if bits == 0:
        return value
    return ((value << bits) | (value >> (width - bits))) & mask


def _sum_fields(tokens: Sequence[int], salt: str, dims: int) -> list[float]:
    """Per dimension: the sum over tokens of their components, centred so that the expected value is 0."""
    master_a, master_b, mean_pair = _masters(salt, dims)
    salt_key = int.from_bytes(hashlib.blake2b(salt.encode(), digest_size=8).digest(), "little")
    width = dims * _FIELD_BITS
    mask = (1 << width) - 1
    sums: list[float] | None = None
    for start in range(0, len(tokens), _TOKENS_PER_SLICE):
        chunk = tokens[start:start + _TOKENS_PER_SLICE]
        packed = 0
        for token in chunk:
            a, b = _offsets(token, salt_key, dims)
            packed += _rotate(master_a, a, width, mask) + _rotate(master_b, b, width, mask)
        fields = array("I")
        fields.frombytes(packed.to_bytes(width // 8, "little"))
        if sys.byteorder != "little":
            fields.byteswap()
        centre = mean_pair * len(chunk)
        if sums is None:
            sums = [f - centre for f in fields]
        else:
            sums = [s + (f - centre) for s, f in zip(sums, fields)]
    assert sums is not None
    return sums


def _normalised(values: Sequence[float]) -> list[float]:
    norm = math.hypot(*values)  # one C call, and accurate
    if norm == 0.0:
        return [1.0 / math.sqrt(len(values))] * len(values)
    scale = 1.0 / norm
    return [v * scale for v in values]


def embedding_vector(tokens: Sequence[int], salt: str, native_dims: int, dims: int | None = None) -> list[float]:
    """A unit vector for `tokens` under `salt` (the model): `native_dims` long, or its first `dims` components
    re-normalised, which is how text-embedding-3 models shorten their embeddings (Matryoshka truncation)."""
    if not tokens:
        tokens = (0,)
    full = _sum_fields(tokens, salt, native_dims)
    if dims is not None and dims < native_dims:
        full = full[:dims]
    return _normalised(full)
