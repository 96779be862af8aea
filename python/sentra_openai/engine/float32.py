"""float32 values as OpenAI prints them: the shortest decimal that reads back as the same float32.

OpenAI's embeddings and logprobs are float32 numbers; its JSON shows them in their shortest round-trip form
(`0.017608326`, capture embeddings-basic), not as the longer double they widen to (`0.01760832592844963`).
A decimal of at most 9 significant digits whose double is printed by orjson in shortest form gives exactly that.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Sequence

_F32 = struct.Struct("<f")


def to_f32(value: float) -> float:
    """`value` rounded to the nearest float32 (as a Python float)."""
    return _F32.unpack(_F32.pack(value))[0]


def shortest_one(value: float) -> float:
    """`value` as a float32, in the form `shortest` gives (for single numbers such as logprobs)."""
    exact = to_f32(value)
    for digits in (6, 7, 8):
        candidate = float("%.*g" % (digits, exact))
        if to_f32(candidate) == exact:
            return candidate
    return float("%.9g" % exact)


def shortest(values: Sequence[float]) -> list[float]:
    """Each float32 value as the double of its shortest round-trip decimal (6 to 9 significant digits).

    Works a whole vector per precision step, so a 3072-dimension embedding costs a few milliseconds.
    """
    exact = array("f", values)  # the float32 values themselves
    out = list(exact)
    pending = range(len(exact))
    for digits in (6, 7, 8):
        candidates = [float("%.*g" % (digits, exact[i])) for i in pending]
        back = array("f", candidates)  # what each candidate rounds to as a float32
        still: list[int] = []
        for j, i in enumerate(pending):
            if back[j] == exact[i]:
                out[i] = candidates[j]
            else:
                still.append(i)
        pending = still
        if not pending:
            break
    for i in pending:  # 9 significant digits always identify a float32
        out[i] = float("%.9g" % exact[i])
    return out


def little_endian_bytes(values: Sequence[float]) -> bytes:
    """The float32 vector as little-endian bytes (the `base64` embedding encoding, openai-wire.md §5.2)."""
    packed = array("f", values)
    if sys.byteorder != "little":
        packed.byteswap()
    return packed.tobytes()
