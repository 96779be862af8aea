"""Shared pieces of success responses: JSON bodies as OpenAI formats them, usage, cost, the admission step."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from .. import costing
from ..ratelimit import LimiterUnavailable
from .core import Call
from .errors import ApiError
from .types import Outcome

T = TypeVar("T")


def json_outcome(payload: Any, headers: dict[str, str] | None = None, delay: float = 0.0) -> Outcome:
    """OpenAI pretty-prints success bodies with a 2-space indent (openai-wire.md §2)."""
    out = {"content-type": "application/json"}
    if headers:
        out.update(headers)
    return Outcome(200, out, orjson.dumps(payload, option=orjson.OPT_INDENT_2), delay=delay)


log = logging.getLogger("sentra_openai.ratelimit")

# OpenAI has no error for this (it is our limiter's store failing, e.g. Redis down), so the body follows its 503s:
# type server_error, param and code null (openai-wire.md §2.5), with a message that says what failed.
LIMITER_UNAVAILABLE_MESSAGE = "The server is temporarily unable to apply rate limits. Please retry your request."
# A down Redis fails every request: one warning per this many seconds is enough to notice it.
LIMITER_WARNING_INTERVAL_S = 5.0


class _EveryFewSeconds:
    """Lets one event through per interval of the engine's clock and counts the ones it swallowed."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last: float | None = None
        self.suppressed = 0

    def ready(self, now: float) -> bool:
        if self.last is not None and now - self.last < self.interval:
            self.suppressed += 1
            return False
        self.last = now
        return True


_limiter_warnings = _EveryFewSeconds(LIMITER_WARNING_INTERVAL_S)


def admit(call: Call, model, requested_tokens: int, observed_tokens: Callable[[], int]) -> None:
    """Rate limiting: charges the request or raises OpenAI's 429; the x-ratelimit-* headers go on the response.

    The TPM charge is `requested_tokens` (the request's own count), or with `rate_limiting.token_charge: observed`
    OpenAI's up-front estimate, `observed_tokens()` (engine/realism/token_charge.py).

    When the limiter's store is unreachable, `rate_limiting.redis_failure_policy` decides: "open" serves the
    request unlimited (no x-ratelimit-* headers, a throttled warning in the log), "closed" answers 503.
    """
    if not call.services.rate_limits.settings.enable:  # fast mode: no buckets, so no up-front estimate to work out
        return
    observed = call.settings.rate_limiting.token_charge == "observed"
    tokens = observed_tokens() if observed else requested_tokens
    admission = _through_limiter(call, lambda key: call.services.rate_limits.admit(key, model, tokens))
    if admission is not None:
        call.response_headers.update(admission.headers)


def admit_images(call: Call, model, n: int) -> None:
    """Images per minute, with the same failure policy as `admit`."""
    _through_limiter(call, lambda key: call.services.rate_limits.admit_images(key, model, n))


def admit_gpt_image(call: Call, model, n: int, tokens: int) -> None:
    """A GPT-image model's images and tokens per minute, with the same failure policy as `admit`."""
    _through_limiter(call, lambda key: call.services.rate_limits.admit_gpt_image(key, model, n, tokens))


def _through_limiter(call: Call, charge: Callable[[str], T]) -> T | None:
    """`charge(api key)`, noting in the record which limit refused; None when the store was unreachable and the
    failure policy lets the request through."""
    try:
        return charge(call.api_key or "anonymous")
    except ApiError as exc:
        call.record.rate_limited = getattr(exc, "limit", exc.type)  # "rpm", "tpm", "rpd" or "images"
        raise
    except LimiterUnavailable as exc:
        limiter_unavailable(call, exc)
        return None


def limiter_unavailable(call: Call, exc: LimiterUnavailable) -> None:
    """Applies `rate_limiting.redis_failure_policy` to a limiter that could not be reached: returns ("open": serve
    the request without limits) or raises the 503 ("closed"). Either way a warning, at most one per few seconds."""
    policy = call.services.settings.rate_limiting.redis_failure_policy
    if _limiter_warnings.ready(call.services.clock.now()):
        skipped, _limiter_warnings.suppressed = _limiter_warnings.suppressed, 0
        log.warning(
            "rate limits not applied (policy %s: %s)%s: %s",
            policy,
            "requests are served without limits" if policy == "open" else "requests get a 503",
            f", {skipped} more failures since the last warning" if skipped else "",
            exc,
        )
    if policy == "closed":
        raise ApiError(503, LIMITER_UNAVAILABLE_MESSAGE, type="server_error") from exc


def charge_tokens(call: Call, model, prompt_tokens: int, cached_tokens: int, completion_tokens: int,
                  prices: costing.Prices | None = None) -> None:
    """The record's tokens and cost, at `prices` (a service tier's) or else the model's own."""
    pico = costing.cost_picodollars(prompt_tokens, cached_tokens, completion_tokens, prices or text_prices(model))
    record = call.record
    record.input_tokens = prompt_tokens
    record.cached_tokens = cached_tokens
    record.output_tokens = completion_tokens
    record.cost_picodollars = pico
    record.cost_usd = costing.format_usd(pico)


def text_prices(model) -> costing.Prices:
    """The catalog's prices in the costing form."""
    p = model.prices
    return _prices_of(p.input_micros, p.cached_input_micros, p.output_micros)


@functools.lru_cache(maxsize=1024)  # Prices is frozen: one per catalog price triple, not one per request
def _prices_of(input_micros: int, cached_input_micros: int | None, output_micros: int) -> costing.Prices:
    return costing.Prices.of(input_micros, cached_input_micros, output_micros)


def charge_images(call: Call, n: int, price_micro: int) -> None:
    pico = costing.image_cost_picodollars(n, price_micro)
    call.record.cost_picodollars = pico
    call.record.cost_usd = costing.format_usd(pico)


def chat_usage(prompt_tokens: int, cached_tokens: int, completion_tokens: int, reasoning_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
