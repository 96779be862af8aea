"""Pure-Python references of sentra-core's arithmetic: slow, obvious, exact oracles for the tests.

Each section is written straight from the rules in design.md, with Python's unbounded integers, so
that hypothesis can compare the native code with it on any input. The limiter section borrows only
its input checks (`check_request`, shared with the Redis store); its arithmetic is independent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, Inexact, Rounded, localcontext

from .ratelimit import check_request, check_u64

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

NEVER_NS = 2**64 - 1  # retry_after_ns of a cost that can never fit: the native u64 maximum


@dataclass(frozen=True)
class ReferenceDecision:
    allowed: bool
    remaining: list[int]
    reset_after_ns: list[int]
    retry_after_ns: list[int]
    too_large: list[bool]


class ReferenceLimiter:
    """An in-memory GCRA limiter: a dict from (key, limit name) to TAT."""

    def __init__(self) -> None:
        self.tats: dict[tuple[str, str], int] = {}

    def acquire(
        self, key: str, limits: Sequence[tuple[str, int, int]], costs: Sequence[int], now_ns: int
    ) -> ReferenceDecision:
        # Only the input checks are shared with the Redis store; the decision below is this module's own.
        now = check_u64(now_ns, "now_ns")
        checked = check_request(limits, costs, now)
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
# Inexact and Rounded, so a result is exact or an error, never silently rounded. tests/costing/test_cost_parity.py
# checks the native path against these functions.
# Far more digits than any token count times any price has.
_EXACT = Context(prec=1000, traps=[Inexact, Rounded])


def reference_cost_usd(
    prompt_tokens: int,
    cached_tokens: int,
    completion_tokens: int,
    input_price: str,
    cached_price: str | None,
    output_price: str,
) -> Decimal:
    """USD for one request; prices are USD per 1M tokens; no cached price bills cached tokens as input."""
    if min(prompt_tokens, cached_tokens, completion_tokens) < 0:
        raise ValueError("token counts must be >= 0")
    if cached_tokens > prompt_tokens:
        raise ValueError(f"cached_tokens ({cached_tokens}) must not exceed prompt_tokens ({prompt_tokens})")
    with localcontext(_EXACT):
        input_rate = Decimal(input_price)
        cached_rate = input_rate if cached_price is None else Decimal(cached_price)
        output_rate = Decimal(output_price)
        per_million = (
            (prompt_tokens - cached_tokens) * input_rate + cached_tokens * cached_rate + completion_tokens * output_rate
        )
        return per_million / 1_000_000


def reference_image_cost_usd(n_images: int, price: str) -> Decimal:
    """USD for `n_images` images at `price` USD each."""
    if n_images < 0:
        raise ValueError("n_images must be >= 0")
    with localcontext(_EXACT):
        return n_images * Decimal(price)


def reference_format_usd(amount: Decimal) -> str:
    """Plain decimal notation with no trailing zeros and no exponent: "0", "0.04", "1234.5"."""
    if amount < 0:
        raise ValueError(f"amount {amount} is negative")
    if amount == 0:
        return "0"
    with localcontext(_EXACT):
        return format(amount.normalize(), "f")


# --- end of cost reference ---
