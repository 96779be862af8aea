"""The native picodollar cost path agrees exactly with the pure-Decimal reference, and rejects bad input."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sentra_openai import _native, costing
from sentra_openai.reference import reference_cost_usd, reference_format_usd, reference_image_cost_usd

TOKENS = st.integers(min_value=0, max_value=10**9)


@st.composite
def price_strings(draw: st.DrawFn) -> str:
    """Catalog-style prices: up to 6 decimals, sometimes with trailing zeros ("2.50") or none ("10")."""
    whole = draw(st.integers(min_value=0, max_value=100_000))
    decimals = draw(st.integers(min_value=0, max_value=6))
    if decimals == 0:
        return str(whole)
    fraction = draw(st.integers(min_value=0, max_value=10**decimals - 1))
    return f"{whole}.{fraction:0{decimals}d}"


@st.composite
def token_counts(draw: st.DrawFn) -> tuple[int, int, int]:
    prompt = draw(TOKENS)
    cached = draw(st.integers(min_value=0, max_value=prompt))
    return prompt, cached, draw(TOKENS)


def exact_usd(picodollars: int) -> Decimal:
    # Built from a string: Decimal arithmetic would round to the context's 28 digits.
    return Decimal(f"{picodollars}E-12")


def assert_same_amount(picodollars: int, reference_usd: Decimal) -> None:
    assert exact_usd(picodollars) == reference_usd
    text = costing.format_usd(picodollars)
    assert text == reference_format_usd(reference_usd)
    assert Decimal(text) == reference_usd  # the header value parses back to the exact amount
    assert "e" not in text.lower()


@settings(max_examples=500, deadline=None)
@given(token_counts(), price_strings(), st.none() | price_strings(), price_strings())
def test_text_cost_matches_decimal_reference(
    tokens: tuple[int, int, int], input_price: str, cached_price: str | None, output_price: str
) -> None:
    prompt, cached, completion = tokens
    prices = costing.Prices.from_strings(input_price, cached_price, output_price)
    picodollars = costing.cost_picodollars(prompt, cached, completion, prices)
    expected = reference_cost_usd(prompt, cached, completion, input_price, cached_price, output_price)
    assert_same_amount(picodollars, expected)
    assert costing.cost_usd(prompt, cached, completion, prices) == reference_format_usd(expected)


@settings(max_examples=500, deadline=None)
@given(TOKENS, price_strings())
def test_image_cost_matches_decimal_reference(n_images: int, price: str) -> None:
    picodollars = costing.image_cost_picodollars(n_images, costing.parse_price_micro(price))
    assert_same_amount(picodollars, reference_image_cost_usd(n_images, price))


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_format_usd_matches_reference_for_any_amount(picodollars: int) -> None:
    assert_same_amount(picodollars, exact_usd(picodollars))


@settings(max_examples=500, deadline=None)
@given(price_strings())
def test_parse_price_is_the_exact_micro_amount(price: str) -> None:
    assert costing.parse_price_micro(price) == Decimal(price) * 1_000_000


@pytest.mark.parametrize(
    ("picodollars", "text"),
    [
        (0, "0"),
        (2_500_000, "0.0000025"),
        (40_000_000_000, "0.04"),
        (10**12, "1"),
        (1234567890123456, "1234.567890123456"),
    ],
)
def test_format_usd_examples(picodollars: int, text: str) -> None:
    assert costing.format_usd(picodollars) == text


def test_gpt_4o_bill() -> None:
    # gpt-4o lists $2.50 in / $1.25 cached / $10.00 out per 1M tokens (shared/reference/tokens-pricing.md §3):
    # 10_000 prompt tokens of which 2_048 cached, 300 output -> 7952*2.5 + 2048*1.25 + 300*10 = 25_440 $/1M.
    prices = costing.Prices.from_strings("2.50", "1.25", "10.00")
    assert costing.cost_usd(10_000, 2_048, 300, prices) == "0.02544"


def test_missing_cached_price_bills_cached_tokens_as_input() -> None:
    with_input_price = costing.Prices.from_strings("0.50", None, "1.50")
    assert with_input_price.cached_micro == with_input_price.input_micro == 500_000
    assert costing.cost_picodollars(1000, 1000, 0, with_input_price) == costing.cost_picodollars(
        1000, 0, 0, with_input_price
    )


@pytest.mark.parametrize("text", ["0.0000001", "2.5000001", "-1", "-0.5", "abc", "", "NaN", "inf", "1e30"])
def test_bad_prices_raise_value_error_naming_the_value(text: str) -> None:
    with pytest.raises(ValueError, match="price") as caught:
        costing.parse_price_micro(text)
    assert repr(text) in str(caught.value)


def test_float_prices_are_refused() -> None:
    # An unquoted 0.1 in YAML is a binary float, not the decimal the catalog author wrote.
    with pytest.raises(ValueError, match="quote"):
        costing.parse_price_micro(0.1)  # type: ignore[arg-type]


def test_cached_above_prompt_is_refused() -> None:
    prices = costing.Prices(1, 1, 1)
    with pytest.raises(ValueError, match="cached_tokens"):
        costing.cost_picodollars(10, 11, 0, prices)


@pytest.mark.parametrize(
    "args",
    [
        (-1, 0, 0, 1, 1, 1),
        (1, -1, 0, 1, 1, 1),
        (1, 0, -5, 1, 1, 1),
        (1, 0, 0, -1, 1, 1),
        (2**64, 0, 0, 1, 1, 1),
        (1, 0, 0, 1, 1, 2**200),
        # every product fits in 128 bits but their sum does not
        (2**64 - 1, 0, 2**64 - 1, 2**64 - 1, 0, 2**64 - 1),
    ],
)
def test_native_cost_rejects_out_of_range_input_with_value_error(args: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        _native.cost_picodollars(*args)


def test_native_image_and_format_reject_bad_input() -> None:
    with pytest.raises(ValueError):
        _native.image_cost_picodollars(-1, 40_000)
    with pytest.raises(ValueError):
        _native.image_cost_picodollars(2**64 - 1, 2**64 - 1)  # n * price * 10^6 exceeds 128 bits
    with pytest.raises(ValueError):
        _native.format_usd(-1)
    with pytest.raises(ValueError):
        _native.format_usd(2**128)
    with pytest.raises(TypeError):
        _native.cost_picodollars(1.0, 0, 0, 1, 1, 1)  # type: ignore[arg-type]
