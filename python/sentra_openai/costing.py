"""Exact request cost: catalog price strings -> integer micro-dollars -> picodollars -> decimal USD string.

Prices in the model catalog are decimal strings of USD per 1M tokens ("2.50", "0.005") or USD per image
("0.04"). With at most 6 decimals they are whole micro-dollars, and tokens x micro-dollars-per-1M is a whole
number of picodollars, so no step rounds. The arithmetic itself is native (rust/core/src/cost.rs);
`reference.py` recomputes it with `decimal` and the tests prove both agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from . import _native

# The native arithmetic takes prices as unsigned 64-bit integers.
_MAX_MICRO = 2**64 - 1
_MAX_MICRO_DIGITS = len(str(_MAX_MICRO))


def parse_price_micro(text: str | int | Decimal) -> int:
    """"2.50" -> 2_500_000. Raises ValueError, naming the value, for anything but an exact non-negative price
    with at most 6 decimals. Floats are refused: YAML turns an unquoted 0.1 into one, and it is not exact."""
    if isinstance(text, (bool, float)) or not isinstance(text, (str, int, Decimal)):
        raise ValueError(f"price {text!r} must be a decimal string such as \"2.50\" (quote it in YAML)")
    try:
        amount = Decimal(text.strip() if isinstance(text, str) else text)
    except InvalidOperation:
        raise ValueError(f"price {text!r} is not a decimal number") from None
    if not amount.is_finite():
        raise ValueError(f"price {text!r} is not a finite number")
    sign, digits, exponent = amount.as_tuple()
    coefficient = int("".join(map(str, digits)))
    if coefficient == 0:
        return 0
    if sign:
        raise ValueError(f"price {text!r} is negative")
    # Scale by 10^6 on the digits themselves: Decimal multiplication would round past 28 digits.
    shift = int(exponent) + 6
    if shift < 0:
        divisor = 10**-shift
        if coefficient % divisor:
            raise ValueError(f"price {text!r} has more than 6 decimals")
        micro = coefficient // divisor
    elif shift > _MAX_MICRO_DIGITS:
        micro = _MAX_MICRO + 1
    else:
        micro = coefficient * 10**shift
    if micro > _MAX_MICRO:
        raise ValueError(f"price {text!r} is too large")
    return micro


@dataclass(frozen=True, slots=True)
class Prices:
    """A model's text prices in micro-dollars per 1M tokens."""

    input_micro: int
    cached_micro: int
    output_micro: int

    @classmethod
    def of(cls, input_micro: int, cached_micro: int | None, output_micro: int) -> Prices:
        """A model without a cached-input price bills cached tokens at the input price."""
        return cls(input_micro, input_micro if cached_micro is None else cached_micro, output_micro)

    @classmethod
    def from_strings(cls, input: str, cached: str | None, output: str) -> Prices:  # `input`: the catalog's name
        """From the catalog's decimal strings."""
        return cls.of(parse_price_micro(input), None if cached is None else parse_price_micro(cached),
                      parse_price_micro(output))


def cost_picodollars(prompt_tokens: int, cached_tokens: int, completion_tokens: int, prices: Prices) -> int:
    """Cost of one request; `cached_tokens` is part of `prompt_tokens` (ValueError if larger)."""
    return _native.cost_picodollars(
        prompt_tokens,
        cached_tokens,
        completion_tokens,
        prices.input_micro,
        prices.cached_micro,
        prices.output_micro,
    )


def image_cost_picodollars(n_images: int, price_micro: int) -> int:
    """Cost of `n_images` images at `price_micro` micro-dollars each."""
    return _native.image_cost_picodollars(n_images, price_micro)


def format_usd(picodollars: int) -> str:
    """Exact decimal USD with the fewest digits (the `X-Sentra-Cost-USD` header value)."""
    return _native.format_usd(picodollars)


def cost_usd(prompt_tokens: int, cached_tokens: int, completion_tokens: int, prices: Prices) -> str:
    """`format_usd(cost_picodollars(...))`, the common case of a chat or completions request."""
    return format_usd(cost_picodollars(prompt_tokens, cached_tokens, completion_tokens, prices))
