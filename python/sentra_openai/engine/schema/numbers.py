"""A number for an ``integer``/``number`` schema: inside its bounds and multipleOf, realistic for its name."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from ..content.lexicon import lexicon
from .check import is_multiple, is_number
from .errors import SchemaGenerationError
from .prompt_values import PromptValues
from .value_hints import number_hint

_Window = tuple[float, float]


def number_value(schema: dict[str, Any], integer: bool, name: str | None, path: str, rng: random.Random,
                 prompt: PromptValues | None = None) -> int | float:
    """A value of ``schema`` (its type already chosen: ``integer`` or number) for a property called ``name``; a
    number the ``prompt`` states in the property's realistic range comes first."""
    low, low_open = _bound(schema, "minimum", "exclusiveMinimum", max)
    high, high_open = _bound(schema, "maximum", "exclusiveMaximum", min)
    if low is not None and high is not None and (low > high or (low == high and (low_open or high_open))):
        raise SchemaGenerationError(f"{path}: no number lies between the lower bound {low} and upper bound {high}")
    hint = (number_hint(name) if name else None) or lexicon()["default_number"]
    decimals = 0 if integer else int(hint["decimals"])
    lo, hi = _realistic_window(low, high, hint)
    windows = _windows(lo, hi, low, high)

    divisor = schema.get("multipleOf")

    def fits(value: float) -> bool:
        if low is not None and (value < low or (low_open and value == low)):
            return False
        if high is not None and (value > high or (high_open and value == high)):
            return False
        return divisor is None or is_multiple(value, divisor)

    if prompt is not None and name:
        for stated in prompt.numbers_near(name):
            if lo <= stated <= hi and fits(stated) and (not integer or stated == int(stated)):
                return int(stated) if integer else stated

    if divisor is not None:
        if not is_number(divisor) or divisor <= 0:
            raise SchemaGenerationError(f"{path}: multipleOf must be a positive number")
        try:
            value = _pick_multiple(windows, divisor, integer, fits, rng)
        except OverflowError:  # e.g. multipleOf 1e-300 with a minimum of 1e300: beyond float range
            raise SchemaGenerationError(f"{path}: no multiple of {divisor} within the bounds can be represented") from None
        if value is None:
            raise SchemaGenerationError(f"{path}: no multiple of {divisor} within the bounds")
        return value
    if integer:
        for start, end in windows:
            first, last = math.ceil(start), math.floor(end)
            first += 0 if fits(first) else 1
            last -= 0 if fits(last) else 1
            if first <= last:
                return rng.randint(first, last)
        raise SchemaGenerationError(f"{path}: no integer lies within the bounds")
    for _ in range(8):
        value: int | float = round(rng.uniform(lo, hi), decimals)
        if decimals == 0:
            value = int(value)
        if fits(value):
            return value
    # Rounding can push a draw out of a narrow or exclusive interval; its midpoint is always inside.
    for candidate in (lo / 2 + hi / 2, low / 2 + high / 2 if low is not None and high is not None else lo):
        if fits(candidate):
            return candidate
    raise SchemaGenerationError(f"{path}: no number lies within the bounds")


def _realistic_window(low: Any, high: Any, hint: dict[str, Any]) -> _Window:
    """Where to draw from: the name hint's range clipped to the bounds, or a span next to a lone bound."""
    hint_lo, hint_hi = hint["min"], hint["max"]
    span = max(hint_hi - hint_lo, 10)
    if low is not None and high is not None:
        lo, hi = max(low, hint_lo), min(high, hint_hi)
        return (lo, hi) if lo < hi else (low, high)
    if low is not None:
        return (max(low, hint_lo), hint_hi) if low < hint_hi else (low, low + span)
    if high is not None:
        return (hint_lo, min(high, hint_hi)) if high > hint_lo else (high - span, high)
    return hint_lo, hint_hi


def _windows(lo: float, hi: float, low: Any, high: Any) -> list[_Window]:
    """Where to look for a value: the realistic window, then (when they differ) everything the bounds allow."""
    windows = [(lo, hi)]
    if (low, high) != (lo, hi):
        windows.append((low if low is not None else lo, high if high is not None else hi))
    return windows


def _bound(schema: dict[str, Any], inclusive: str, exclusive: str, tighter: Any) -> tuple[Any, bool]:
    """The effective bound and whether it is exclusive (2020-12: exclusive* are numbers; booleans are ignored)."""
    value = schema.get(inclusive) if is_number(schema.get(inclusive)) else None
    open_value = schema.get(exclusive) if is_number(schema.get(exclusive)) else None
    if open_value is None:
        return value, False
    if value is None:
        return open_value, True
    # At equal values the exclusive bound is the stricter one.
    if tighter(value, open_value) == open_value:
        return open_value, True
    return value, False


def _pick_multiple(windows: list[_Window], divisor: float, integer: bool,
                   fits: Callable[[int | float], bool], rng: random.Random) -> int | float | None:
    """A multiple of ``divisor`` in the first window that has one passing ``fits``; None if none has."""
    for start, end in windows:
        k_first = math.ceil(Fraction(start) / Fraction(divisor)) - 1
        k_last = math.floor(Fraction(end) / Fraction(divisor)) + 1
        if k_first > k_last:
            continue
        candidates = [rng.randint(k_first, k_last) for _ in range(24)]
        candidates += [k_first, k_first + 1, k_first + 2, k_last, k_last - 1, k_last - 2, 0]
        for k in candidates:
            for value in _multiple_forms(k, divisor, integer):
                if fits(value):
                    return value
    return None


def _multiple_forms(k: int, divisor: float, integer: bool) -> list[int | float]:
    """k * divisor written a few ways, tidiest first (float products such as 0.30000000000000004 come last)."""
    exact = Fraction(k) * Fraction(divisor)
    if exact.denominator == 1:
        return [int(exact)]
    if integer:
        return []
    decimals = max(0, -math.floor(math.log10(divisor))) + 2
    return [round(k * divisor, decimals), k * divisor]
