"""float32 values as OpenAI prints them: the shortest decimal that reads back as the same float32.

OpenAI's embeddings and logprobs are float32 numbers; its JSON shows them in their shortest round-trip form
(`0.017608326`, capture embeddings-basic), not as the longer double they widen to (`0.01760832592844963`).
A decimal of at most 9 significant digits whose double is printed by orjson in shortest form gives exactly that.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence


def shortest_one(value: float) -> float:
    """`value` as a float32, in the form `shortest` gives (for single numbers such as logprobs)."""
    return shortest((value,))[0]


def shortest(values: Sequence[float]) -> list[float]:
    """Each float32 value as the double of its shortest round-trip decimal (6 to 9 significant digits).

    Works a whole vector per step, so a 3072-dimension embedding costs a few milliseconds. Most float32 values need
    7 or 8 digits, so 7 is tried first, then 6 (if 7 was enough) or 8 and 9 (if not).
    """
    exact = array("f", values)  # the float32 values themselves
    out = list(exact)
    fits7, needs_more = _try_digits(exact, range(len(exact)), 7, out)
    _try_digits(exact, fits7, 6, out)
    _, needs9 = _try_digits(exact, needs_more, 8, out)
    for i in needs9:  # 9 significant digits always identify a float32
        out[i] = float(f"{exact[i]:.9g}")
    return out


def _try_digits(exact: array, indices: Sequence[int], digits: int, out: list[float]) -> tuple[list[int], list[int]]:
    """Writes `digits`-digit decimals where they read back as the same float32; returns (fitted, not fitted)."""
    candidates = [float(f"{exact[i]:.{digits}g}") for i in indices]
    back = array("f", candidates)  # what each candidate rounds to as a float32
    fitted: list[int] = []
    failed: list[int] = []
    for j, i in enumerate(indices):
        if back[j] == exact[i]:
            out[i] = candidates[j]
            fitted.append(i)
        else:
            failed.append(i)
    return fitted, failed


def little_endian_bytes(values: Sequence[float]) -> bytes:
    """The float32 vector as little-endian bytes (the `base64` embedding encoding, openai-wire.md §5.2)."""
    packed = array("f", values)
    if sys.byteorder != "little":
        packed.byteswap()
    return packed.tobytes()
