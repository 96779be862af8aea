"""Per-model latency of text generation: a heavy-tailed time to first token, a prompt-length (prefill) term, hidden
reasoning time, and a jittered token rate; every draw comes from the request's RNG.

The profile numbers live in config/models.yaml (`latency:` of each model), each calibrated there from an observed
figure of shared/reference/tokens-pricing.md §5. The model, in unscaled seconds:

    F      = exp(N(0, sigma)),  sigma = ln(ttft_p95_s / ttft_median_s) / z95     (lognormal: median 1, p95 p95/median)
    rate   = tokens_per_s * exp(N(0, tokens_per_s_jitter))                         (this request's speed)
    ttft   = (ttft_median_s + reasoning_delay_s) * F + uncached_prompt_tokens * PREFILL + hidden_tokens / rate
    token i (i = 1 .. n-1) is due at  ttft + i / rate + wobble_i,  |wobble_i| <= TOKEN_JITTER_FRACTION / rate

so the median first token comes after ttft_median_s (+ prefill, + thinking) and the median speed is tokens_per_s.
Every deadline is absolute (from the request's arrival) and multiplied by the time scale.
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass

from ...catalog import TextLatency

# z-score of the 95th percentile of a standard normal: a lognormal with median m and p95 q has sigma = ln(q/m)/z95.
_Z95 = 1.6448536269514722
# Seconds of prefill per uncached prompt token (0.1 s per 10k tokens). Calibration, tokens-pricing.md §5: gpt-4o's
# Artificial Analysis TTFT was 0.39 s in 2024 (short prompts) and 0.45-0.53 s after AA moved to a 10k-token input
# workload, i.e. 0.06-0.14 s more for ~10k more prompt tokens. Cached prefix tokens skip prefill (that is what the
# cache is for), so callers pass the uncached count.
PREFILL_SECONDS_PER_TOKEN = 1e-5
# Each token's deadline may move by up to this fraction of the mean gap (uniformly), so gaps vary without drifting:
# with 0.35 < 0.5 consecutive deadlines always stay in order.
TOKEN_JITTER_FRACTION = 0.35


@dataclass(frozen=True)
class Timing:
    ttft: float  # seconds until the first token (after time scaling)
    token_times: tuple[float, ...]  # absolute deadlines of tokens 1..n-1 after the first, from the request start
    total: float  # seconds until the last token

    @staticmethod
    @functools.lru_cache(maxsize=512)  # frozen: fast mode's timings are shared, not rebuilt per request
    def instant(n_tokens: int) -> Timing:
        return Timing(0.0, (0.0,) * max(n_tokens - 1, 0), 0.0)


def tail_factor(rng: random.Random, median: float, p95: float) -> float:
    """A lognormal multiplier with median 1 whose 95th percentile is p95 / median."""
    if median <= 0 or p95 <= median:
        return 1.0
    return math.exp(rng.gauss(0.0, math.log(p95 / median) / _Z95))


def tokens_per_second(rng: random.Random, median_rate: float, relative_jitter: float) -> float:
    """This request's generation speed: lognormal around the model's median rate."""
    return median_rate * math.exp(rng.gauss(0.0, relative_jitter))


def plan_timing(
    rng: random.Random,
    profile: TextLatency,
    *,
    prompt_tokens: int,
    output_tokens: int,
    hidden_tokens: int = 0,
    time_scale: float,
) -> Timing:
    """Deadlines of a response's visible tokens. `prompt_tokens` is the uncached part of the prompt (prefill);
    `hidden_tokens` (reasoning) are generated before the first visible token."""
    if time_scale <= 0:
        return Timing.instant(output_tokens)
    factor = tail_factor(rng, profile.ttft_median_s, profile.ttft_p95_s)
    rate = tokens_per_second(rng, profile.tokens_per_s, profile.tokens_per_s_jitter)
    gap = 1.0 / rate
    thinking = profile.reasoning_delay_s if hidden_tokens else 0.0
    # The tail factor stretches the queueing/thinking part: a slow first token is slow whatever the model does.
    ttft = (profile.ttft_median_s + thinking) * factor
    ttft += max(prompt_tokens, 0) * PREFILL_SECONDS_PER_TOKEN + hidden_tokens * gap
    times = []
    for i in range(1, output_tokens):
        wobble = (rng.random() - 0.5) * 2 * TOKEN_JITTER_FRACTION * gap
        times.append((ttft + i * gap + wobble) * time_scale)
    total = times[-1] if times else ttft * time_scale
    return Timing(ttft * time_scale, tuple(times), total)
