"""Shared pieces of success responses: JSON bodies as OpenAI formats them, usage, cost, the admission step."""

from __future__ import annotations

from typing import Any

import orjson

from .. import costing
from .core import Call
from .errors import ApiError
from .types import Outcome


def json_outcome(payload: Any, headers: dict[str, str] | None = None, delay: float = 0.0) -> Outcome:
    """OpenAI pretty-prints success bodies with a 2-space indent (openai-wire.md §2)."""
    out = {"content-type": "application/json"}
    if headers:
        out.update(headers)
    return Outcome(200, out, orjson.dumps(payload, option=orjson.OPT_INDENT_2), delay=delay)


def admit(call: Call, model, tokens: int) -> None:
    """Rate limiting: charges the request or raises OpenAI's 429; the x-ratelimit-* headers go on the response."""
    try:
        admission = call.services.rate_limits.admit(call.api_key or "anonymous", model, tokens)
    except ApiError as exc:
        call.record.rate_limited = getattr(exc, "limit", exc.type)  # "rpm", "tpm" or "rpd"
        raise
    if admission is not None:
        call.response_headers.update(admission.headers)


def charge_tokens(call: Call, model, prompt_tokens: int, cached_tokens: int, completion_tokens: int) -> None:
    pico = costing.cost_picodollars(prompt_tokens, cached_tokens, completion_tokens, text_prices(model))
    record = call.record
    record.input_tokens = prompt_tokens
    record.cached_tokens = cached_tokens
    record.output_tokens = completion_tokens
    record.cost_picodollars = pico
    record.cost_usd = costing.format_usd(pico)


def text_prices(model) -> costing.Prices:
    """The catalog's prices in the costing form; no cached price means cached tokens bill at the input price."""
    p = model.prices
    cached = p.cached_input_micros if p.cached_input_micros is not None else p.input_micros
    return costing.Prices(p.input_micros, cached, p.output_micros)


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
