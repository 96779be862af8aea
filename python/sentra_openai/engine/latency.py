"""Per-model latency: a heavy-tailed time to first token and a jittered token rate, drawn from the request's RNG.

The profile numbers live in config/models.yaml (latency: ...), each calibrated from an observed figure named there.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

# z-score of the 95th percentile of a standard normal: a lognormal with median m and p95 q has sigma = ln(q/m)/z95.
_Z95 = 1.6448536269514722
# How much later the first token comes per prompt token (prefill). About 0.2 s for a 10k-token prompt, in line with
# Artificial Analysis's TTFT growing from ~0.45 s (short prompts) to ~0.9 s at their 10k-token workload
# (shared/reference/tokens-pricing.md §5).
PREFILL_SECONDS_PER_TOKEN = 2e-5
# Each token's deadline may move by up to this fraction of the mean gap, so gaps vary without drifting.
TOKEN_JITTER_FRACTION = 0.35


@dataclass(frozen=True)
class Timing:
    ttft: float  # seconds until the first token (after time scaling)
    token_times: tuple[float, ...]  # absolute deadlines of tokens 1..n-1 after the first, from the request start
    total: float  # seconds until the last token

    @staticmethod
    def instant(n_tokens: int) -> "Timing":
        return Timing(0.0, (0.0,) * max(n_tokens - 1, 0), 0.0)


def lognormal_from_median_p95(rng: random.Random, median: float, p95: float) -> float:
    if median <= 0:
        return 0.0
    sigma = math.log(p95 / median) / _Z95 if p95 > median else 0.0
    return median * math.exp(rng.gauss(0.0, sigma))


def tokens_per_second(rng: random.Random, median_rate: float, relative_jitter: float) -> float:
    """This request's generation speed: lognormal around the model's median rate."""
    return median_rate * math.exp(rng.gauss(0.0, relative_jitter))


def plan_timing(
    rng: random.Random,
    profile,
    *,
    prompt_tokens: int,
    output_tokens: int,
    hidden_tokens: int = 0,
    time_scale: float,
) -> Timing:
    """Deadlines of a response's tokens. `hidden_tokens` (reasoning) are generated before the first visible token."""
    if time_scale <= 0:
        return Timing.instant(output_tokens)
    ttft = lognormal_from_median_p95(rng, profile.ttft_median_s, profile.ttft_p95_s)
    ttft += prompt_tokens * PREFILL_SECONDS_PER_TOKEN
    rate = tokens_per_second(rng, profile.tokens_per_s, profile.tokens_per_s_jitter)
    gap = 1.0 / rate
    ttft += hidden_tokens * gap + (getattr(profile, "reasoning_delay_s", 0.0) or 0.0 if hidden_tokens else 0.0)
    times = []
    for i in range(1, output_tokens):
        wobble = (rng.random() - 0.5) * 2 * TOKEN_JITTER_FRACTION * gap
        times.append((ttft + i * gap + wobble) * time_scale)
    total = times[-1] if times else ttft * time_scale
    return Timing(ttft * time_scale, tuple(times), total)
