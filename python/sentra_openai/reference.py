"""Pure-Python references of sentra-core's arithmetic: slow, obvious, exact oracles for the tests.

Each section is self-contained and written straight from the rules in design.md, with Python's
unbounded integers, so that hypothesis can compare the native code with it on any input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# --- limiter reference ---
#
# GCRA as specified in design.md "Rate limiting semantics" (and the limiter task brief):
#   e(c)  = ceil(c * P / C)                       emission interval of a cost c
#   tat'  = max(tat, now) + e(c)                  a missing bucket has tat = now
#   admit iff tat' - now <= P, for every limit of the request; then (and only then) tat := tat'
#   remaining   = clamp(floor((P - (tat_after - now)) * C / P), 0, C)
#   reset_after = max(tat_after - now, 0)
#   retry_after = 0 if the limit admits, tat' - now - P if it refuses, NEVER_NS if c > C.
# Mirrors the API shape of sentra_openai._native.NativeLimiter / NativeDecision.

U64_MAX = 2**64 - 1
NEVER_NS = U64_MAX  # retry_after_ns of a cost that can never fit


@dataclass(frozen=True)
class ReferenceDecision:
    allowed: bool
    remaining: list[int]
    reset_after_ns: list[int]
    retry_after_ns: list[int]
    too_large: list[bool]


def _u64(value: object, what: str) -> int:
    if not isinstance(value, int):
        raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    if not 0 <= value <= U64_MAX:
        raise ValueError(f"{what} must be an integer in [0, 2**64 - 1], got {value}")
    return value


def _validate(
    limits: Sequence[tuple[str, int, int]], costs: Sequence[int], now_ns: int
) -> list[tuple[str, int, int, int]]:
    """The same refusals as the native limiter: every one a ValueError (TypeError for non-ints)."""
    now_ns = _u64(now_ns, "now_ns")
    costs = [_u64(c, "cost") for c in costs]
    if len(limits) != len(costs):
        raise ValueError(f"got {len(limits)} limits but {len(costs)} costs: pass one cost per limit")
    checked: list[tuple[str, int, int, int]] = []
    seen: set[str] = set()
    for (name, capacity, period_ns), cost in zip(limits, costs):
        capacity, period_ns = _u64(capacity, "capacity"), _u64(period_ns, "period_ns")
        if capacity == 0:
            raise ValueError(f"limit {name!r}: capacity must be at least 1")
        if period_ns == 0:
            raise ValueError(f"limit {name!r}: period must be at least 1 ns")
        if now_ns + period_ns > U64_MAX:
            raise ValueError(f"limit {name!r}: now_ns + period_ns exceeds 2**64 - 1 nanoseconds")
        if name in seen:
            raise ValueError(f"limit name {name!r} appears twice in one request: names identify buckets")
        seen.add(name)
        checked.append((name, capacity, period_ns, cost))
    return checked


class ReferenceLimiter:
    """An in-memory GCRA limiter: a dict from (key, limit name) to TAT."""

    def __init__(self) -> None:
        self.tats: dict[tuple[str, str], int] = {}

    def acquire(
        self, key: str, limits: Sequence[tuple[str, int, int]], costs: Sequence[int], now_ns: int
    ) -> ReferenceDecision:
        checked = _validate(limits, costs, now_ns)
        now = now_ns
        old_tats = [self.tats.get((key, name), now) for name, _, _, _ in checked]

        admits: list[bool] = []
        too_large: list[bool] = []
        new_tats: list[int] = []
        for (_, capacity, period, cost), tat in zip(checked, old_tats):
            if cost > capacity:
                admits.append(False)
                too_large.append(True)
                new_tats.append(tat)
                continue
            emission = -(-cost * period // capacity)  # ceil division
            new_tat = max(tat, now) + emission
            admits.append(new_tat - now <= period)
            too_large.append(False)
            new_tats.append(new_tat)

        allowed = all(admits)
        if allowed:
            for (name, _, _, _), new_tat in zip(checked, new_tats):
                self.tats[(key, name)] = new_tat
        tats_after = new_tats if allowed else old_tats

        remaining, reset_after, retry_after = [], [], []
        for (_, capacity, period, _), tat_after, new_tat, admit, large in zip(
            checked, tats_after, new_tats, admits, too_large
        ):
            remaining.append(min(capacity, max(0, (period - (tat_after - now)) * capacity // period)))
            reset_after.append(max(tat_after - now, 0))
            if large:
                retry_after.append(NEVER_NS)
            elif admit:
                retry_after.append(0)
            else:
                retry_after.append(new_tat - now - period)
        return ReferenceDecision(allowed, remaining, reset_after, retry_after, too_large)

    def evict_expired(self, now_ns: int) -> int:
        """Forget buckets whose TAT is at or before now_ns; returns how many were forgotten."""
        expired = [bucket for bucket, tat in self.tats.items() if tat <= now_ns]
        for bucket in expired:
            del self.tats[bucket]
        return len(expired)


# --- end of limiter reference ---


# --- cost reference ---
# Pure-Python cost arithmetic, independent of the native picodollar code (design.md "Cost"): prices stay the
# catalog's decimal strings and USD = tokens x Decimal(price per 1M) / 1_000_000. The decimal context traps
# Inexact and Rounded, so a result is exact or an error, never silently rounded. tests/test_cost_parity.py
# checks the native path against these functions.
from decimal import Context as _Context  # noqa: E402 - imports kept inside their section
from decimal import Decimal as _Decimal  # noqa: E402
from decimal import Inexact as _Inexact  # noqa: E402
from decimal import Rounded as _Rounded  # noqa: E402
from decimal import localcontext as _localcontext  # noqa: E402

# Far more digits than any token count times any price has.
_EXACT = _Context(prec=1000, traps=[_Inexact, _Rounded])


def reference_cost_usd(
    prompt_tokens: int,
    cached_tokens: int,
    completion_tokens: int,
    input_price: str,
    cached_price: str | None,
    output_price: str,
) -> _Decimal:
    """USD for one request; prices are USD per 1M tokens; no cached price bills cached tokens as input."""
    if min(prompt_tokens, cached_tokens, completion_tokens) < 0:
        raise ValueError("token counts must be >= 0")
    if cached_tokens > prompt_tokens:
        raise ValueError(f"cached_tokens ({cached_tokens}) must not exceed prompt_tokens ({prompt_tokens})")
    with _localcontext(_EXACT):
        input_rate = _Decimal(input_price)
        cached_rate = input_rate if cached_price is None else _Decimal(cached_price)
        output_rate = _Decimal(output_price)
        per_million = (
            (prompt_tokens - cached_tokens) * input_rate + cached_tokens * cached_rate + completion_tokens * output_rate
        )
        return per_million / 1_000_000


def reference_image_cost_usd(n_images: int, price: str) -> _Decimal:
    """USD for `n_images` images at `price` USD each."""
    if n_images < 0:
        raise ValueError("n_images must be >= 0")
    with _localcontext(_EXACT):
        return n_images * _Decimal(price)


def reference_format_usd(amount: _Decimal) -> str:
    """Plain decimal notation with no trailing zeros and no exponent: "0", "0.04", "1234.5"."""
    if amount < 0:
        raise ValueError(f"amount {amount} is negative")
    if amount == 0:
        return "0"
    with _localcontext(_EXACT):
        return format(amount.normalize(), "f")


# --- end of cost reference ---
